/**
 * `npm run bench:migration` (issue 5): on the test bed, an LXD tenant of 3 running containers
 * with at least 1.5 GB of data is migrated to Incus twice on the same data in the same run:
 * once with the runbook's procedure (stop all, plain `incus copy` of each, configure, start) and
 * once with the program (the real index.ts through the engine double). A prober in the client
 * namespace measures each container's downtime: from the last answer of the source (its LXD
 * address) to the first answer of the copy through the host's NAT. `copyOnlyS` is the time of
 * the runbook's plain `incus copy` of the stopped containers. Prints ONE JSON line on stdout;
 * progress goes to stderr. Cleans up everything it made, also on failure.
 */
import { ChildProcess, execFileSync, spawn, spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { renderTrust } from "../../render/migration";
import { armedId, natConfirm } from "../../render/firewall";
import { renderChains, renderForwarding, renderGuard } from "../../render/host";
import { renderNatRule } from "../../render/nat";
import { asNetworkPlan, diffNetworkPlans, networkPlan } from "../../approval/networkPlan";
import { remoteBash } from "../../render/shell";
import { parseTenant } from "../../model";
import { runProgram, SshExecutor } from "../harness";
import { makeSource, migrationTenant } from "../e2e/lxd-source";
import { CommandClock, cutoverLaps } from "./migration-phases";

// The engine double isolates module registries with jest.isolateModules; one program run per
// process needs no isolation. (Both globals are read only when the program runs, so the imports
// above may load first.)
(globalThis as unknown as { jest: unknown }).jest = { isolateModules: (f: () => void) => f() };
// stdout carries exactly one JSON line: Pulumi's log (console.log) goes to stderr.
console.log = (...args: unknown[]) => void process.stderr.write(`${args.map(String).join(" ")}\n`);

const ROOT = path.resolve(__dirname, "../..");
const env: Record<string, string> = Object.fromEntries(
  fs
    .readFileSync(path.join(ROOT, ".testbed", "env"), "utf8")
    .split("\n")
    .filter((l) => /^[A-Z_]+=/.test(l))
    .map((l) => [l.slice(0, l.indexOf("=")), l.slice(l.indexOf("=") + 1)]),
);
const NAMES = ["mb-web", "mb-db", "mb-files"];
const IPS: Record<string, string> = {
  "mb-web": "198.18.2.60",
  "mb-db": "198.18.2.61",
  "mb-files": "198.18.2.62",
};
const PORTS: Record<string, number> = { "mb-web": 9180, "mb-db": 9181, "mb-files": 9182 };
const DATA_MB: Record<string, number> = { "mb-web": 600, "mb-db": 500, "mb-files": 450 };
const REMOTE = "itn-bench-src";
const STACK = "mbench";

const log = (s: string): void => void process.stderr.write(`bench: ${s}\n`);
const sh = (line: string, input?: string): string =>
  execFileSync("bash", ["-c", line], {
    encoding: "utf8",
    input,
    stdio: ["pipe", "pipe", "pipe"],
    maxBuffer: 64 * 1024 * 1024,
  });
const shOk = (line: string): boolean => spawnSync("bash", ["-c", line], { stdio: "ignore" }).status === 0;
const now = (): number => Date.now() / 1000;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function tenant(): Record<string, unknown> {
  return migrationTenant(env, {
    name: STACK,
    containers: Object.fromEntries(NAMES.map((n) => [n, { ipv4: IPS[n] }])),
    ports: PORTS,
    migration: { remote: REMOTE, parallel: 3 },
  });
}

const sourceIp = (n: string): string => sh(`lxc list ^${n}$ --format csv -c 4 | cut -d' ' -f1`).trim();

/** One probe loop per container and target (source address, NAT port), every 0.1 s. */
class Prober {
  private procs: ChildProcess[] = [];
  private readonly file: string;
  constructor(dir: string, label: string) {
    this.file = path.join(dir, `probe-${label}.log`);
  }
  start(): void {
    fs.writeFileSync(this.file, "");
    for (const n of NAMES) {
      const targets: [string, string][] = [
        ["src", `http://${sourceIp(n)}:80/`],
        ["nat", `http://${env.HOST_EXT_IP}:${PORTS[n]}/`],
      ];
      for (const [kind, url] of targets) {
        const loop =
          `while :; do if curl -s -m 0.5 ${url} | grep -qx ${n}; then r=1; else r=0; fi; ` +
          `echo "$(date +%s.%N) ${n} ${kind} $r"; sleep 0.1; done >> ${this.file}`;
        this.procs.push(spawn("ip", ["netns", "exec", env.NETNS, "bash", "-c", loop], { stdio: "ignore" }));
      }
    }
  }
  stop(): void {
    for (const p of this.procs) if (p.pid) spawnSync("bash", ["-c", `pkill -P ${p.pid}; kill ${p.pid}`]);
    this.procs = [];
  }
  /** Per container: first NAT answer minus the last source answer before it (seconds). */
  downtimes(): Record<string, number> {
    const lines = fs
      .readFileSync(this.file, "utf8")
      .split("\n")
      .filter(Boolean)
      .map((l) => l.split(" "));
    const out: Record<string, number> = {};
    for (const n of NAMES) {
      const firstNat = Math.min(
        ...lines.filter((l) => l[1] === n && l[2] === "nat" && l[3] === "1").map((l) => Number(l[0])),
      );
      const lastSrc = Math.max(
        ...lines
          .filter((l) => l[1] === n && l[2] === "src" && l[3] === "1" && Number(l[0]) <= firstNat)
          .map((l) => Number(l[0])),
      );
      if (!Number.isFinite(firstNat) || !Number.isFinite(lastSrc))
        throw new Error(`prober: no complete transition for ${n} (${this.file})`);
      out[n] = firstNat - lastSrc;
    }
    return out;
  }
  async waitAll(kind: "src" | "nat", timeoutS: number): Promise<void> {
    const t0 = now();
    while (now() - t0 < timeoutS) {
      if (
        NAMES.every((n) =>
          shOk(
            `ip netns exec ${env.NETNS} curl -s -m 1 ` +
              `${kind === "nat" ? `http://${env.HOST_EXT_IP}:${PORTS[n]}/` : `http://${sourceIp(n)}:80/`} ` +
              `| grep -qx ${n}`,
          ),
        )
      )
        return;
      await sleep(200);
    }
    const diag = sh(
      "incus list mb- -c ns4 --format csv; iptables-save -t nat | grep -i mbench || true; " +
        `for n in ${NAMES.join(" ")}; do ip netns exec ${env.NETNS} curl -sS -m 2 http://${env.HOST_EXT_IP}:` +
        `$(case $n in mb-web) echo ${PORTS["mb-web"]};; mb-db) echo ${PORTS["mb-db"]};; ` +
        `*) echo ${PORTS["mb-files"]};; esac)/ 2>&1 | head -3; done`,
    );
    throw new Error(`not every container answers on ${kind} after ${timeoutS}s:\n${diag}`);
  }
}

async function main(): Promise<void> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "itn-bench-mig-"));
  const t = tenant();
  const spec = parseTenant(t);
  const key = fs.readFileSync(env.SSH_KEY, "utf8");
  const httpsBefore = sh("lxc config get core.https_address").trim();
  const crt = path.join(os.homedir(), ".config/incus/client.crt");
  const fpOf = () =>
    fs.existsSync(crt)
      ? sh(`openssl x509 -in ${crt} -noout -fingerprint -sha256 | sed 's/.*=//; s/://g' | tr A-F a-f`).trim()
      : "";
  const trustedBefore = fpOf() !== "" && shOk(`lxc config trust show ${fpOf()}`);
  const stateFile = path.join(dir, "state.json");
  // The test bed's LXD source is reached over the same sshd: its key doubles as the source key.
  const config: Record<string, string> = {
    "incus-tenant:tenant": JSON.stringify(t),
    "incus-tenant:sshPrivateKey": key,
    "incus-tenant:migrationSourceKey": key,
    "incus-tenant:allowMassChange": "true",
  };
  try {
    config["incus-tenant:approveNetworkPlan"] = diffNetworkPlans(
      asNetworkPlan(undefined),
      networkPlan(spec),
    ).hash;
  } catch {
    // no approval value: the program's own gate reports the problem
  }
  const secretKeys = ["incus-tenant:sshPrivateKey", "incus-tenant:migrationSourceKey"];
  const program = (destroy = false, clock?: CommandClock) =>
    runProgram({
      programPath: path.join(ROOT, "index.ts"),
      config,
      secretKeys,
      stateFile,
      stack: STACK,
      destroy,
      log: (l) => {
        clock?.onLog(l);
        log(`  ${l}`);
      },
    });
  try {
    log("creating 3 LXD source containers with data and an HTTP service");
    for (const n of NAMES) makeSource(n, { dataMB: DATA_MB[n] });
    const dataBytes = NAMES.reduce(
      (s, n) => s + Number(sh(`du -sxb /var/lib/lxd/containers/${n}/ | cut -f1`)),
      0,
    );
    log(`source usage ${(dataBytes / 1e9).toFixed(2)} GB`);

    // The runbook's prerequisites (trust + remote) and the host's NAT for the new addresses.
    execFileSync("bash", ["-c", renderTrust(spec).create], {
      input: key,
      stdio: ["pipe", "ignore", "inherit"],
    });
    // Over SSH like the program (a new SSH connection confirms a NAT change, else it is rolled back).
    const ssh = new SshExecutor();
    const conn = {
      host: env.SSH_HOST,
      port: Number(env.SSH_PORT),
      user: env.SSH_USER,
      privateKey: key,
      hostKey: spec.host.hostKey,
    };
    const run = async (text: string): Promise<string> => {
      const res = await ssh.run(conn, remoteBash(text, false), undefined);
      if (res.exitCode !== 0) throw new Error(`host setup failed: ${res.stderr}`);
      return res.stdout;
    };
    for (const pair of [renderGuard(spec), renderForwarding(spec), renderChains(spec)])
      await run(pair.create);
    for (const rule of spec.nat)
      await run(natConfirm(spec, rule, armedId(await run(renderNatRule(spec, rule).create))));

    // --- runbook: stop all, copy each, add eth0 with the address, start ---
    const rb = new Prober(dir, "runbook");
    await rb.waitAll("src", 60); // sources serve (and have their addresses) before the probes start
    rb.start();
    log("runbook: stop all");
    const s0 = now();
    for (const n of NAMES) sh(`lxc stop ${n}`);
    const c0 = now();
    for (const n of NAMES)
      sh(
        `incus copy ${REMOTE}:${n} ${n} --instance-only -s itn-pool -d eth0,network=${spec.network.bridge} --quiet`,
      );
    const copyOnlyS = now() - c0;
    log(`runbook: plain incus copy of the stopped containers took ${copyOnlyS.toFixed(1)} s`);
    const st0 = now();
    for (const n of NAMES) sh(`incus config device set ${n} eth0 ipv4.address=${IPS[n]} && incus start ${n}`);
    const a0 = now();
    await rb.waitAll("nat", 180);
    const round = (x: number, d = 1) => Math.round(x * 10 ** d) / 10 ** d;
    const runbookPhases = {
      stop: round(c0 - s0),
      copy: round(copyOnlyS),
      start: round(a0 - st0),
      answer: round(now() - a0),
    };
    log(`runbook phases (s): ${JSON.stringify(runbookPhases)}`);
    await sleep(2000);
    rb.stop();
    const runbookDown = rb.downtimes();
    log(`runbook downtimes: ${JSON.stringify(runbookDown)}`);

    log("reset: remove the copies, start the sources again");
    for (const n of NAMES) sh(`incus delete --force ${n} && lxc start ${n}`);

    // --- the program ---
    const pr = new Prober(dir, "program");
    await pr.waitAll("src", 120);
    pr.start();
    await sleep(1000);
    const clock = new CommandClock();
    const p0 = now();
    const r = await program(false, clock);
    const programTotalS = now() - p0;
    if (r.error) throw r.error;
    const programPhases = clock.phases(programTotalS);
    const laps = cutoverLaps(stateFile);
    log(`program commands:\n${clock.lines().join("\n")}`);
    log(`program phases (s): ${JSON.stringify(programPhases)}`);
    log(`program cutover per container (s): ${JSON.stringify(laps)}`);
    await pr.waitAll("nat", 120);
    await sleep(2000); // let every probe loop record an answer
    pr.stop();
    const programDown = pr.downtimes();
    log(`program downtimes: ${JSON.stringify(programDown)}; total ${programTotalS.toFixed(1)} s`);

    const runbookDowntimeS = Math.max(...Object.values(runbookDown));
    const programDowntimeS = Math.max(...Object.values(programDown));
    process.stdout.write(
      `${JSON.stringify({
        dataGB: round(dataBytes / 1e9, 2),
        runbookDowntimeS: round(runbookDowntimeS),
        programDowntimeS: round(programDowntimeS),
        downtimeRatio: round(runbookDowntimeS / programDowntimeS),
        programTotalS: round(programTotalS),
        copyOnlyS: round(copyOnlyS),
        totalRatio: round(programTotalS / copyOnlyS, 2),
        runbookPhasesS: runbookPhases,
        programPhasesS: programPhases,
        cutoverS: laps,
      })}\n`,
    );
  } finally {
    log("cleanup");
    const d = await program(true);
    if (d.error) log(`destroy: ${d.error.message.split("\n")[0]}`);
    for (const n of NAMES)
      spawnSync("bash", [
        "-c",
        `incus delete --force ${n} >/dev/null 2>&1; lxc delete --force ${n} >/dev/null 2>&1`,
      ]);
    spawnSync("bash", [
      "-c",
      `incus remote remove ${REMOTE} >/dev/null 2>&1; rm -rf /var/lib/incus-tenant/migrations/${STACK}`,
    ]);
    for (const pair of [
      ...spec.nat.map((r) => renderNatRule(spec, r)),
      renderChains(spec),
      renderForwarding(spec),
    ])
      if (pair.delete) spawnSync("bash", ["-c", pair.delete], { stdio: "ignore" });
    if (!trustedBefore && fpOf() !== "")
      spawnSync("bash", ["-c", `lxc config trust remove ${fpOf()} >/dev/null 2>&1`]);
    if (httpsBefore === "") spawnSync("bash", ["-c", "lxc config unset core.https_address"]);
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((e: Error) => {
  process.stderr.write(`bench: FAILED: ${e.message}\n`);
  process.exit(1);
});
