/**
 * Adoption of hand-written NAT and of hand-made containers on the real test bed (issue 12, NAT
 * and containers): tenant `an`, container an-proxy (198.18.2.70, the image's Caddy on :80) made
 * by hand the runbook's way, and seed 002's hand-written DNAT rules in PREROUTING: one duplicates
 * the stack's rule (tcp 8180 → an-proxy:80), one does not (tcp 8181). The real index.ts runs
 * under the engine double (tests/harness; the Pulumi engine cannot be installed here) with every
 * remote.Command over real SSH, and real packets come from the client namespace.
 *
 * - preview / plan: the approval diff names the removal of the duplicates of the stack's rule
 *   (from the spec); `plan --live` names the one live duplicate; the unrelated rule is in neither;
 * - apply without the approval hash: refused, nothing ran, nothing changed;
 * - apply with it: the duplicate is gone, the unrelated rule is byte-identical, and a probe of
 *   the forwarded port from the client namespace never misses while the apply runs;
 * - a hand-made container labelled for another tenant is refused by name and left untouched.
 */
import { ChildProcess, execFileSync, spawn, spawnSync } from "child_process";
import * as fs from "fs";
import * as path from "path";
import { runProgram, RunResult } from "../harness";
import { parseTenant } from "../../model";
import { dnatLines } from "../../render/iptables";
import { preview } from "../preview";
import {
  describeOnTestbed,
  e2eTenant,
  harnessConfig,
  host,
  iptables,
  ROOT,
  tempState,
  TestbedEnv,
} from "./testbed";

jest.setTimeout(15 * 60 * 1000);
const INDEX = path.join(ROOT, "index.ts");
const PROXY = "an-proxy";
const OTHER = "an-other";
const PROXY_IP = "198.18.2.70";
const PORT = 8180;
const UNRELATED_PORT = 8181;
const LABEL = "user.incus-tenant.tenant";
/** Seed 002's hand-written rules (iptables arguments after `-t nat -A PREROUTING`). */
const DUP_ARGS = ["-p", "tcp", "--dport", String(PORT), "-j", "DNAT", "--to-destination", `${PROXY_IP}:80`];
const UNRELATED_ARGS = [
  ...["-p", "tcp", "--dport", String(UNRELATED_PORT), "-j", "DNAT"],
  ...["--to-destination", `${PROXY_IP}:80`],
];
/** How iptables-save prints them back. */
const DUP = `-A PREROUTING -p tcp -m tcp --dport ${PORT} -j DNAT --to-destination ${PROXY_IP}:80`;
const UNRELATED =
  `-A PREROUTING -p tcp -m tcp --dport ${UNRELATED_PORT} ` + `-j DNAT --to-destination ${PROXY_IP}:80`;
const DUP_PLAN =
  `nat duplicates:\n  + remove hand-written duplicates of DNAT tcp/${PORT} → ${PROXY_IP}:80 ` +
  "(PREROUTING, any -s/-d/-i)\n";

const debug = (line: string): void => {
  if (process.env.ITN_E2E_DEBUG === "1") process.stdout.write(`adopt-nat: ${line}\n`);
};

/** Removes what this file (or the program on top of it) may have left, by exact name. */
function cleanup(): void {
  const lines = [
    ...[PROXY, OTHER].map(
      (c) =>
        `if incus info ${c} >/dev/null 2>&1; then incus config set ${c} security.protection.delete=false; ` +
        `incus delete -f ${c}; fi`,
    ),
    `while iptables -w -t nat -D PREROUTING ${DUP_ARGS.join(" ")} 2>/dev/null; do :; done`,
    `while iptables -w -t nat -D PREROUTING ${UNRELATED_ARGS.join(" ")} 2>/dev/null; do :; done`,
    `iptables-save -t nat | grep -F -- '--comment "incus-tenant:an:' | grep -v '^-A ITN-an-' | ` +
      `sed 's/^-A /-D /' | while read -r rule; do eval "iptables -w -t nat $rule"; done`,
    "for ch in ITN-an-PRE ITN-an-POST; do if iptables -t nat -L $ch -n >/dev/null 2>&1; " +
      "then iptables -w -t nat -F $ch; iptables -w -t nat -X $ch; fi; done",
    "rm -rf /etc/sysctl.d/60-incus-tenant-an.conf /var/lib/incus-tenant/rollback/an-*",
  ];
  execFileSync("bash", ["-c", lines.join("\n")]);
}

/** A container made by hand, as seed 002 does: eth0 on the bridge at its reserved address. */
function handMade(env: TestbedEnv, name: string, ip: string, start: boolean): void {
  host("incus", ["init", env.IMAGE, name, "-s", env.POOL]);
  host("incus", ["config", "device", "add", name, "eth0", "nic"].concat([`network=${env.INCUS_BRIDGE}`]));
  host("incus", ["config", "device", "set", name, "eth0", "name=eth0", `ipv4.address=${ip}`]);
  if (!start) return;
  host("incus", ["start", name]);
  for (let i = 0; i < 90; i++) {
    if (host("incus", ["query", `/1.0/instances/${name}/state`]).includes(`"address": "${ip}"`)) return;
    execFileSync("sleep", ["1"]);
  }
  throw new Error(`${name} did not get ${ip}`);
}

/** One probe: when it started (epoch seconds), its HTTP code ("000": no answer within 5 s), its time. */
interface ProbeResult {
  at: number;
  code: string;
  seconds: number;
}

/**
 * GET http://<public>:<port>/ from the client namespace, about ten a second. A miss is no HTTP
 * 200 within 5 s (refused, reset, or no answer); each probe's time is kept to show stalls.
 */
class Probe {
  private readonly file: string;
  private readonly proc: ChildProcess;
  constructor(env: TestbedEnv, port: number, dir: string) {
    this.file = path.join(dir, `probe-${port}.log`);
    const loop =
      `while :; do t=$(date +%s.%N); c=$(curl -s -m 5 -o /dev/null -w '%{http_code} %{time_total}' ` +
      `http://${env.HOST_EXT_IP}:${port}/); echo "$t $c"; sleep 0.1; done`;
    const out = fs.openSync(this.file, "w");
    // Its own process group, stopped by that PID only.
    this.proc = spawn("ip", ["netns", "exec", env.NETNS, "bash", "-c", loop], {
      stdio: ["ignore", out, "ignore"],
      detached: true,
    });
    fs.closeSync(out);
  }
  /** Stops the loop; returns every probe. */
  stop(): ProbeResult[] {
    if (this.proc.pid !== undefined) {
      try {
        process.kill(-this.proc.pid, "SIGKILL");
      } catch {
        /* already gone */
      }
    }
    return fs
      .readFileSync(this.file, "utf8")
      .split("\n")
      .filter((l) => /^[\d.]+ \d{3} [\d.]+$/.test(l))
      .map((l) => {
        const [at, code, seconds] = l.split(" ");
        return { at: Number(at), code, seconds: Number(seconds) };
      });
  }
}

describeOnTestbed("adoption of hand-written NAT and hand-made containers (tenant an)", (env: TestbedEnv) => {
  const tenant = e2eTenant(env);
  tenant.name = "an";
  for (const key of ["proxy", "vhosts", "dns", "vault", "migration"]) delete tenant[key];
  tenant.containers = { [PROXY]: { ipv4: PROXY_IP, ports: [80] } };
  tenant.nat = [{ ports: [PORT], toPort: 80, protocol: "tcp", to: PROXY }];
  const spec = parseTenant(tenant);
  const state = tempState("adopt-nat");
  const dir = path.dirname(state);
  const stackFile = path.join(dir, "Pulumi.an.yaml");
  fs.writeFileSync(stackFile, `${JSON.stringify({ config: { "incus-tenant:tenant": tenant } }, null, 2)}\n`);
  const logs: string[] = [];
  /** One run (or destroy), with the approval an operator sets after reading the preview. */
  const run = (t: unknown, destroy = false): Promise<RunResult> =>
    runProgram({
      programPath: INDEX,
      ...harnessConfig(env, t),
      stateFile: state,
      stack: "an",
      destroy,
      log: (l) => (logs.push(`${(Date.now() / 1000).toFixed(3)} ${l}`), debug(l)),
    });
  const prerouting = (): string[] => iptables("nat").filter((l) => l.startsWith("-A PREROUTING "));
  const configOf = (c: string): string => host("incus", ["config", "show", c]);
  const snapshots = (c: string): string[] =>
    (JSON.parse(host("incus", ["query", `/1.0/instances/${c}/snapshots`])) as string[]).map((s) =>
      s.replace(/^.*\//, ""),
    );

  /** `plan --live` as an operator runs it (read-only, one SSH connection). */
  const planLive = (): { status: number; stdout: string; stderr: string } => {
    const r = spawnSync(
      path.join(ROOT, "node_modules", ".bin", "ts-node"),
      ["--transpile-only", "scripts/plan.ts", "--stack", "an", "--stack-file", stackFile, "--live"],
      {
        cwd: ROOT,
        encoding: "utf8",
        timeout: 180_000,
        env: { ...process.env, INCUS_TENANT_SSH_KEY: env.SSH_KEY },
      },
    );
    return { status: r.status ?? -1, stdout: r.stdout ?? "", stderr: r.stderr ?? "" };
  };

  let before: { pre: string[]; proxy: string };

  beforeAll(() => {
    cleanup();
    handMade(env, PROXY, PROXY_IP, true);
    host("iptables", ["-w", "-t", "nat", "-A", "PREROUTING", ...DUP_ARGS]);
    host("iptables", ["-w", "-t", "nat", "-A", "PREROUTING", ...UNRELATED_ARGS]);
    before = { pre: prerouting(), proxy: configOf(PROXY) };
  });

  afterAll(async () => {
    const r = await run(tenant, true);
    if (r.error)
      process.stdout.write(`adopt-nat: destroy failed (leftovers removed by name): ${r.error.message}\n`);
    cleanup();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  test("the hand-made tenant serves through the hand-written rules before adoption", () => {
    expect(before.pre).toEqual(expect.arrayContaining([DUP, UNRELATED]));
    expect(before.proxy).not.toContain(LABEL);
    for (const port of [PORT, UNRELATED_PORT]) {
      let code = "";
      for (let i = 0; i < 30 && code !== "200"; i++)
        code = execFileSync(
          "ip",
          ["netns", "exec", env.NETNS, "curl", "-s", "-m", "3", "-o", "/dev/null"].concat([
            "-w",
            "%{http_code}",
            `http://${env.HOST_EXT_IP}:${port}/`,
          ]),
          { encoding: "utf8" },
        );
      expect([port, code]).toEqual([port, "200"]);
    }
  });

  test("preview/plan: the duplicate's removal is listed (from the spec), the unrelated rule nowhere", () => {
    const live = planLive();
    expect(live.stderr).toBe("");
    expect(live.status).toBe(2);
    expect(live.stdout).toContain(
      `- DNAT tcp/${PORT} → ${PROXY} ${PROXY_IP}:80 to any address on any interface ` +
        `(hand-written duplicate of nat tcp-${PORT})\n    ${DUP}\n`,
    );
    expect(live.stdout).not.toContain(`dport ${UNRELATED_PORT}`);
    expect(live.stdout.match(/hand-written duplicate/g)).toHaveLength(1);
  });

  test("apply without the approval hash: refused with the diff before any command, nothing changed", () => {
    // The program in its own process (tests/preview: the engine double cannot finish a program
    // whose approval gate throws): a first apply, so the last applied plan is empty.
    const { config, secretKeys } = harnessConfig(env, tenant);
    const r = preview({ stack: "an", config, secretKeys, previousOutputs: {} });
    expect(r.commands).toEqual([]);
    expect(r.error).toContain(DUP_PLAN);
    expect(r.error).toContain(
      `nat:\n  + DNAT tcp/${PORT} → ${PROXY} ${PROXY_IP}:80 to ${env.HOST_EXT_IP} on ${env.EXT_IF}\n`,
    );
    expect(r.error).toContain("network change not approved");
    expect(r.error).not.toContain(String(UNRELATED_PORT));
    expect(prerouting()).toEqual(before.pre);
    expect(configOf(PROXY)).toBe(before.proxy);
  });

  test("with the approval: duplicate gone, unrelated byte-identical, the probe never misses", async () => {
    const probe = new Probe(env, PORT, dir);
    const unrelatedProbe = new Probe(env, UNRELATED_PORT, dir);
    await new Promise((r) => setTimeout(r, 1500));
    let r: RunResult;
    try {
      r = await run(tenant);
      await new Promise((res) => setTimeout(res, 1500));
    } finally {
      const probes = probe.stop();
      const unrelated = unrelatedProbe.stop();
      const slowest = (ps: ProbeResult[]): string => {
        const p = [...ps].sort((x, y) => y.seconds - x.seconds)[0];
        return p ? `${p.seconds.toFixed(3)} s (at ${p.at.toFixed(3)}, code ${p.code})` : "none";
      };
      // The timeline (probe figures and each command's start and end) for the report.
      process.stdout.write(
        `adopt-nat: ${probes.length} probes of :${PORT} (slowest ${slowest(probes)}) and ` +
          `${unrelated.length} of :${UNRELATED_PORT} (slowest ${slowest(unrelated)}) during the apply\n` +
          `${logs.map((l) => `adopt-nat:   ${l}`).join("\n")}\n`,
      );
      expect(probes.length).toBeGreaterThan(20);
      expect(probes.filter((p) => p.code !== "200")).toEqual([]);
      expect(unrelated.filter((p) => p.code !== "200")).toEqual([]);
    }
    expect(r.error).toBeUndefined();
    expect(r.ran.map((c) => c.name)).toEqual(
      expect.arrayContaining([
        `an-${PROXY}-instance`,
        `an-nat-tcp-${PORT}-dnat`,
        `an-nat-tcp-${PORT}-confirm`,
      ]),
    );
    const pre = prerouting();
    expect(pre).not.toContain(DUP);
    expect(pre.filter((l) => l.includes(`--dport ${UNRELATED_PORT} `))).toEqual([UNRELATED]);
    // Everything else in PREROUTING (other tenants', the jumps) is as it was, plus our jump.
    expect(pre.filter((l) => !l.includes("incus-tenant:an:"))).toEqual(before.pre.filter((l) => l !== DUP));
    expect(iptables("nat")).toEqual(expect.arrayContaining(dnatLines(spec, spec.nat[0])));
    const rules = fs.readFileSync("/etc/iptables/rules.v4", "utf8");
    expect(rules).not.toContain(`${DUP}\n`);
    expect(rules).toContain(`${UNRELATED}\n`);
    // The container was adopted: labelled, never restarted (the probe says so too), and no snapshot:
    // only settings changed (a snapshot of a running container stalled it ~10 s on the dir pool).
    expect(host("incus", ["config", "get", PROXY, LABEL]).trim()).toBe("an");
    expect(snapshots(PROXY)).toEqual([]);
    expect(logs.join("\n")).not.toContain("restarting to apply the change");
    // In sync now: no duplicate left live.
    const live = planLive();
    expect(live.stdout).not.toContain("hand-written duplicate");
  });

  test("second apply runs nothing", async () => {
    const r = await run(tenant);
    expect(r.error).toBeUndefined();
    expect(r.ran).toEqual([]);
  });

  test("a hand-made container labelled for another tenant: refused by name, left untouched", async () => {
    handMade(env, OTHER, "198.18.2.71", false);
    host("incus", ["config", "set", OTHER, `${LABEL}=other`]);
    const otherBefore = configOf(OTHER);
    const withOther = JSON.parse(JSON.stringify(tenant)) as Record<string, any>;
    withOther.containers[OTHER] = { ipv4: "198.18.2.71", ports: [] };
    const pre = prerouting();
    const r = await run(withOther);
    expect(r.error?.message).toContain(
      `container ${OTHER} belongs to tenant "other" (${LABEL}): refusing to adopt it into "an"`,
    );
    // Only the (read-only) whole-tenant preflight ran besides it, and nothing after it.
    expect(
      r.ran.filter((c) => !c.name.endsWith("-preflight-check")).map((c) => [c.name, c.exitCode]),
    ).toEqual([[`an-${OTHER}-instance`, 1]]);
    expect(configOf(OTHER)).toBe(otherBefore);
    expect(snapshots(OTHER)).toEqual([]);
    expect(prerouting()).toEqual(pre);
  });
});
