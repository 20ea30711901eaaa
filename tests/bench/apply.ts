/**
 * `npm run bench:apply` (issue 14; root, test bed up): applies a prod-shaped tenant of 15
 * containers (Pulumi.prod.yaml's containers, NAT, vhosts, zones and Vault paths, re-addressed to
 * the test bed and prefixed `ba-`) and prints ONE JSON line on stdout (progress on stderr):
 * {"engine","containers","commands","peakSsh","longestChain","firstApplyS","bareLoopS","applyRatio",
 *  "noopS","emptyNoopS","noopRatio","oneVhostS","oneVhostCommands"}.
 * - ENGINE: the real Pulumi engine cannot be built here (issue 10: its language host and providers
 *   are not served), so the program runs under the engine double (tests/harness), which runs each
 *   remote.Command as its own `ssh` as soon as its dependencies are done, as the engine does. The
 *   JSON says so in `engine`.
 * - bareLoopS: the same containers created by a plain sequential loop of `incus init` / device
 *   add / `incus start`, the runbook's way, in the same run; applyRatio = firstApplyS / bareLoopS.
 * - emptyNoopS: a no-op run of an empty program on the same engine; noopRatio = noopS / emptyNoopS.
 * - oneVhostS / oneVhostCommands: the same tenant with one vhost's upstream port changed.
 * - longestChain: the longest dependency chain of remote commands (each one SSH handshake).
 * The vault container is made beforehand (with the fake Vault, a TEST STAND-IN) in both runs, so
 * both create 14 containers. Everything made is removed at the end, also on failure.
 */
import { execFileSync, spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { readStackTenant } from "../../model/stackfile";
import { parseTenant } from "../../model";
import { requiredSecretKeys } from "../../model/secrets";
import { asNetworkPlan, diffNetworkPlans, networkPlan } from "../../approval/networkPlan";
import { Connection, ExecResult, runProgram, SshExecutor } from "../harness";

// The engine double loads the program under jest.isolateModules: here, a fresh module registry
// per run (the whole require cache, @pulumi/pulumi included, as jest does).
(globalThis as unknown as { jest: unknown }).jest = {
  isolateModules: (f: () => void) => {
    for (const k of Object.keys(require.cache))
      if (!k.includes(`${path.sep}tests${path.sep}`)) delete require.cache[k];
    f();
  },
};
console.log = (...args: unknown[]) => void process.stderr.write(`${args.map(String).join(" ")}\n`);

const ROOT = path.resolve(__dirname, "../..");
const env: Record<string, string> = Object.fromEntries(
  fs
    .readFileSync(path.join(ROOT, ".testbed", "env"), "utf8")
    .split("\n")
    .filter((l) => /^[A-Z_]+=/.test(l))
    .map((l) => [l.slice(0, l.indexOf("=")), l.slice(l.indexOf("=") + 1)]),
);
const STACK = "abench";
const PREFIX = "ba-";
const FAKE_VAULT_STATE = "/var/lib/fake-vault";
const log = (s: string): void => void process.stderr.write(`bench: ${s}\n`);
const sh = (line: string, input?: string): string =>
  execFileSync("bash", ["-c", line], { encoding: "utf8", input, stdio: ["pipe", "pipe", "pipe"] });
const secs = (ms: number): number => Math.round(ms / 10) / 100;

/** Pulumi.prod.yaml's tenant on the test bed: names prefixed, 10.0.2.x → 198.18.2.(90+x), no ACME. */
export function benchTenant(): Record<string, any> {
  const prod = readStackTenant(path.join(ROOT, "Pulumi.prod.yaml")) as Record<string, any>;
  const bed = readStackTenant(env.STACK_FILE) as Record<string, any>;
  const ren = (n: string): string => `${PREFIX}${n}`;
  const text = JSON.stringify(prod).replace(/\b10\.0\.2\.(\d+)\b/g, (_m, x: string) => `198.18.2.${90 + +x}`);
  const t = JSON.parse(text.replace(/\b203\.0\.113\.10\b/g, env.HOST_EXT_IP)) as Record<string, any>;
  t.name = "abench";
  t.host = bed.host;
  t.network = bed.network;
  t.storagePool = bed.storagePool;
  t.image = bed.image;
  t.containers = Object.fromEntries(
    Object.entries(t.containers as Record<string, any>).map(([n, c]) => {
      const { image: _image, ...rest } = c as Record<string, unknown>;
      return [ren(n), { ...rest, protect: false }];
    }),
  );
  for (const r of t.nat as Record<string, any>[]) r.to = ren(r.to);
  t.proxy = { ...t.proxy, container: ren(t.proxy.container), tls: { internal: true } };
  delete t.proxy.service;
  delete t.proxy.mainFile;
  delete t.proxy.sitesDir;
  for (const v of Object.values(t.vhosts as Record<string, any>))
    v.upstream.container = ren(v.upstream.container);
  t.dns.container = ren(t.dns.container);
  t.vault = {
    ...t.vault,
    container: ren(t.vault.container),
    address: "http://127.0.0.1:8200",
    tokenFile: `${FAKE_VAULT_STATE}/token`,
  };
  delete t.vault.caCert;
  t.vault.envFile.container = ren(t.vault.envFile.container);
  t.vault.envFile.variables = { VAULT_ADDR: `http://${t.containers[ren("vault")].ipv4}:8200` };
  return t;
}

const tenant = benchTenant();
const spec = parseTenant(tenant, { stack: STACK });
const names = Object.keys(tenant.containers as object);
const vaultName = tenant.vault.container as string;
const others = names.filter((n) => n !== vaultName);

/** An SshExecutor that counts concurrent connections. */
class CountingExecutor extends SshExecutor {
  now = 0;
  peak = 0;
  total = 0;
  override async run(conn: Connection, command: string, stdin: string | undefined): Promise<ExecResult> {
    this.now++;
    this.total++;
    this.peak = Math.max(this.peak, this.now);
    try {
      return await super.run(conn, command, stdin);
    } finally {
      this.now--;
    }
  }
}

/** The stack config of `t` (secrets: SSH key and every `fromConfig` key, with bench values). */
function config(t: Record<string, any>): Record<string, string> {
  const c: Record<string, string> = {
    "incus-tenant:tenant": JSON.stringify(t),
    "incus-tenant:sshPrivateKey": fs.readFileSync(env.SSH_KEY, "utf8"),
  };
  for (const s of requiredSecretKeys(spec))
    c[`incus-tenant:${s.key}`] = `bench-secret-${s.key}-0123456789abcdef`;
  return c;
}

/** The operator's approval of the network plan of `t` against the last applied one. */
function approval(t: Record<string, any>, previous: Record<string, unknown>): Record<string, string> {
  const hash = diffNetworkPlans(
    asNetworkPlan(previous.networkPlan),
    networkPlan(parseTenant(t, { stack: STACK })),
  ).hash;
  return hash === "" ? {} : { "incus-tenant:approveNetworkPlan": hash };
}

function cleanUp(): void {
  for (const n of names) spawnSync("incus", ["delete", "--force", n], { stdio: "ignore" });
  const nat = sh("iptables-save -t nat").split("\n");
  for (const l of nat.filter((x) => x.startsWith("-A ") && / -j ITN-abench-(PRE|POST)( |$)/.test(x)))
    spawnSync("bash", ["-c", `iptables -w -t nat ${l.replace(/^-A /, "-D ")}`]);
  for (const chain of ["ITN-abench-PRE", "ITN-abench-POST"]) {
    spawnSync("iptables", ["-w", "-t", "nat", "-F", chain], { stdio: "ignore" });
    spawnSync("iptables", ["-w", "-t", "nat", "-X", chain], { stdio: "ignore" });
  }
  spawnSync("rm", ["-f", "/etc/sysctl.d/60-incus-tenant-abench.conf"]);
}

/** The vault container with the fake Vault, made by hand before both runs (not timed). */
function makeVault(): void {
  const ip = tenant.containers[vaultName].ipv4 as string;
  sh(
    `incus init ${env.IMAGE} ${vaultName} -s ${env.POOL} >/dev/null && ` +
      `incus config device add ${vaultName} eth0 nic network=${env.INCUS_BRIDGE} name=eth0 ` +
      `ipv4.address=${ip} >/dev/null && incus start ${vaultName}`,
  );
  const script = fs.readFileSync(path.join(ROOT, "tests", "bed", "fake-vault.sh"), "utf8");
  for (let i = 0; i < 30 && spawnSync("incus", ["exec", vaultName, "--", "true"]).status !== 0; i++)
    sh("sleep 0.5");
  execFileSync("incus", ["exec", vaultName, "--", "sh", "-c", "cat > /usr/local/sbin/fake-vault.sh"], {
    input: script,
  });
  sh(`incus exec ${vaultName} -- bash /usr/local/sbin/fake-vault.sh install`);
}

/** The runbook's way: one container after the other (init, eth0 with its address, start, wait). */
function bareLoop(): number {
  const lines = others.map((n) => {
    const c = tenant.containers[n] as { ipv4: string; privileged?: boolean };
    return (
      `incus init ${env.IMAGE} ${n} -s ${env.POOL} -c security.privileged=${c.privileged === true} >/dev/null; ` +
      `incus config device add ${n} eth0 nic network=${env.INCUS_BRIDGE} name=eth0 ipv4.address=${c.ipv4} ` +
      `>/dev/null; incus config set ${n} boot.autostart=true; incus start ${n}; ` +
      `for _ in $(seq 300); do incus query /1.0/instances/${n}/state | grep -q '"address": "${c.ipv4}"' && break; ` +
      `sleep 0.2; done; incus query /1.0/instances/${n}/state | grep -q '"address": "${c.ipv4}"' || ` +
      `{ echo "${n} did not get ${c.ipv4} within 60 s" >&2; exit 1; }`
    );
  });
  const t0 = Date.now();
  sh(["set -e", ...lines].join("\n"));
  return Date.now() - t0;
}

/** Longest chain of commands (each one SSH handshake) in the state's dependency graph. */
function longestChain(stateFile: string): number {
  const state = JSON.parse(fs.readFileSync(stateFile, "utf8")) as Record<string, any>;
  const entries = (state.resources ?? state) as Record<string, { type?: string; deps?: string[] }>;
  const memo = new Map<string, number>();
  const depth = (urn: string): number => {
    const e = entries[urn];
    if (e === undefined) return 0;
    if (memo.has(urn)) return memo.get(urn) as number;
    memo.set(urn, 0);
    const own = e.type === "command:remote:Command" ? 1 : 0;
    const d = own + Math.max(0, ...(e.deps ?? []).map(depth));
    memo.set(urn, d);
    return d;
  };
  return Math.max(0, ...Object.keys(entries).map(depth));
}

async function main(): Promise<void> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "itn-bench-apply-"));
  const stateFile = path.join(dir, "state.json");
  const exec = new CountingExecutor();
  const run = async (label: string, t: Record<string, any> = tenant) => {
    const before = exec.total;
    const t0 = Date.now();
    const cfg = config(t);
    const r = await runProgram({
      programPath: path.join(ROOT, "index.ts"),
      config: cfg,
      secretKeys: Object.keys(cfg).filter((k) => k !== "incus-tenant:tenant"),
      configFor: (p) => approval(t, p),
      stateFile,
      stack: STACK,
      executor: exec,
      log: (l) => log(`  ${label}: ${l}`),
    });
    if (r.error) throw new Error(`${label} failed: ${r.error.message}`);
    const s = { ms: Date.now() - t0, commands: r.ran.length, ssh: exec.total - before };
    log(`${label}: ${secs(s.ms)} s, ${s.commands} commands`);
    for (const c of r.ran) log(`  ran: ${c.op} ${c.name} (${c.reason}) ${c.ms} ms`);
    return s;
  };
  try {
    cleanUp();
    makeVault();
    log(`bare loop: ${others.length} containers, one after the other`);
    const bareMs = bareLoop();
    for (const n of others) spawnSync("incus", ["delete", "--force", n], { stdio: "ignore" });
    exec.peak = 0;
    const first = await run("first apply");
    const peakSsh = exec.peak;
    const chain = longestChain(stateFile);
    const noop = await run("no-op apply");
    const emptyFile = path.join(dir, "empty.js");
    fs.writeFileSync(emptyFile, "// an empty Pulumi program\nmodule.exports = {};\n");
    const emptyState = path.join(dir, "empty-state.json");
    const runEmpty = () =>
      runProgram({
        programPath: emptyFile,
        config: {},
        stateFile: emptyState,
        stack: "empty",
        executor: exec,
      });
    await runEmpty();
    const e0 = Date.now();
    await runEmpty();
    const emptyMs = Date.now() - e0;
    const changed = JSON.parse(JSON.stringify(tenant)) as Record<string, any>;
    changed.vhosts.chat.upstream.port = 5858;
    const one = await run("one vhost changed", changed);
    const out = {
      engine: "harness (engine double; the real engine cannot be built here: issue 10)",
      containers: names.length,
      commands: first.commands,
      peakSsh,
      longestChain: chain,
      firstApplyS: secs(first.ms),
      bareLoopS: secs(bareMs),
      applyRatio: Math.round((first.ms / bareMs) * 100) / 100,
      noopS: secs(noop.ms),
      emptyNoopS: secs(emptyMs),
      noopRatio: Math.round((noop.ms / Math.max(1, emptyMs)) * 100) / 100,
      oneVhostS: secs(one.ms),
      oneVhostCommands: one.commands,
    };
    process.stdout.write(`${JSON.stringify(out)}\n`);
  } finally {
    cleanUp();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((e: unknown) => {
  process.stderr.write(`bench:apply failed: ${e instanceof Error ? e.stack : String(e)}\n`);
  process.exit(1);
});
