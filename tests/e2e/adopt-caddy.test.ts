/**
 * Issue 12 (Caddy part) and 14 (vhosts independent) on the real test bed: a proxy built by hand
 * the seeds' way, with no program (container ac-proxy, caddy under a systemd unit named `proxy`
 * serving /opt/gbo/conf/config with vhosts the stack does not know, storage in
 * /opt/gbo/data/caddy as seed 002 says), then the real index.ts under the engine double with a
 * stack of its own vhosts (`proxy.service: proxy`, `proxy.mainFile: /opt/gbo/conf/config`).
 * A prober on the host polls every served vhost (HTTPS with its name, at the container) during
 * each apply and counts misses.
 *
 * Tenant `ac`: container ac-proxy at 198.18.2.80 (no NAT: probes go from the host to the
 * container). The upstreams of our vhosts are two plain sites of the hand-made file itself.
 */
import { ChildProcess, spawn, spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { runProgram, RunResult } from "../harness";
import { parseTenant } from "../../model";
import { renderVhost } from "../../render/caddy";
import {
  containers,
  describeOnTestbed,
  e2eTenant,
  harnessConfig,
  host,
  ROOT,
  tempState,
  TestbedEnv,
} from "./testbed";
import { inc, readIn } from "./services-fixture";

jest.setTimeout(15 * 60 * 1000);
const INDEX = path.join(ROOT, "index.ts");
const TENANT = "ac";
const PROXY = "ac-proxy";
const IP = "198.18.2.80";
const MAIN = "/opt/gbo/conf/config";
const SITES = "/etc/caddy/sites";
const D = (label: string) => `${label}.ac.example.com`;

/** The hand-built main file (seed 002's shape: storage in the global block, sites with tls). */
const HAND_CONFIG = `# proxy config of tenant ac, built by hand from the runbook (seed 002)
{
\tstorage file_system {
\t\troot /opt/gbo/data/caddy
\t}
}

${D("legacy1")} {
\ttls internal
\trespond "hand-legacy1"
}

${D("legacy2")}, ${D("www2")} {
\ttls internal
\trespond "hand-legacy2"
}

http://:8081 {
\trespond "up-8081"
}

http://:8082 {
\trespond "up-8082"
}
`;

const UNIT = `[Unit]
Description=Caddy reverse proxy of the tenant (hand-built, seed 002)
After=network-online.target

[Service]
Environment=HOME=/root
ExecStart=/usr/bin/caddy run --config ${MAIN} --adapter caddyfile
ExecReload=/usr/bin/caddy reload --config ${MAIN} --adapter caddyfile
Restart=on-failure

[Install]
WantedBy=multi-user.target
`;

/** Builds ac-proxy by hand: container, eth0 at its address, caddy under unit `proxy`. */
function buildByHand(env: TestbedEnv): void {
  host("incus", ["init", env.IMAGE, PROXY, "-s", env.POOL]);
  host("incus", [
    "config",
    "device",
    "add",
    PROXY,
    "eth0",
    "nic",
    `network=${env.INCUS_BRIDGE}`,
    "name=eth0",
    `ipv4.address=${IP}`,
  ]);
  host("incus", ["start", PROXY]);
  for (
    let i = 0;
    i < 60 &&
    !containers()
      .find((c) => c.name === PROXY)
      ?.ipv4.includes(IP);
    i++
  )
    host("sleep", ["1"]);
  inc(PROXY, ["systemctl", "disable", "--now", "caddy.service"]);
  inc(PROXY, ["mkdir", "-p", "/opt/gbo/conf", "/opt/gbo/data/caddy", "/opt/gbo/logs"]);
  inc(PROXY, ["sh", "-c", `cat > ${MAIN}`], HAND_CONFIG);
  inc(PROXY, ["sh", "-c", "cat > /etc/systemd/system/proxy.service"], UNIT);
  inc(PROXY, ["systemctl", "daemon-reload"]);
  inc(PROXY, ["systemctl", "enable", "--now", "proxy.service"]);
}

/** The stack: ac-proxy only, its own vhosts (upstreams: the hand-made file's :8081 and :8082). */
function tenant(env: TestbedEnv, extra: Record<string, unknown> = {}): Record<string, any> {
  const t = e2eTenant(env);
  t.name = TENANT;
  t.containers = { [PROXY]: { ipv4: IP, ports: [80, 443, 8081, 8082] } };
  t.nat = [];
  t.proxy = { container: PROXY, tls: { internal: true }, service: "proxy", mainFile: MAIN, sitesDir: SITES };
  t.vhosts = {
    new1: { domain: D("new1"), servedElsewhere: true, upstream: { container: PROXY, port: 8081 } },
    new2: { domain: D("new2"), servedElsewhere: true, upstream: { container: PROXY, port: 8082 } },
    ...extra,
  };
  return t;
}

/** One HTTPS GET of a vhost at the container (its name resolved to it); the body, or "" on failure. */
function get(domain: string): string {
  try {
    return host("curl", ["-sk", "-m", "3", "--resolve", `${domain}:443:${IP}`, `https://${domain}/`]).trim();
  } catch {
    return "";
  }
}

/** Polls `get` until it returns `want` (Caddy's internal certificate may take a moment). */
async function fetchSite(domain: string, want: string): Promise<string> {
  let out = "";
  for (let i = 0; i < 30; i++) {
    out = get(domain);
    if (out === want) return out;
    await new Promise((r) => setTimeout(r, 500));
  }
  return out;
}

/**
 * A prober in the background (bash on the host): every vhost in turn, as fast as curl goes,
 * until stopped; each answer is "ok" when its body is one of the accepted ones, else "miss".
 */
class Prober {
  private readonly dir = fs.mkdtempSync(path.join(os.tmpdir(), "itn-e2e-ac-probe-"));
  private readonly proc: ChildProcess;
  constructor(accept: Record<string, string[]>) {
    const lines = Object.entries(accept).map(([d, bodies]) => `${d} ${bodies.join("|")}`);
    fs.writeFileSync(path.join(this.dir, "targets"), `${lines.join("\n")}\n`);
    const loop =
      'cd "$1"; get() { curl -sk -m 3 --resolve "$d:443:' +
      IP +
      '" "https://$d/" 2>/dev/null; }; ' +
      "while [ ! -e stop ]; do while read -r d ok; do t=$(date +%s.%N); rc=0; b=$(get) || rc=$?; " +
      'case "|$ok|" in *"|$b|"*) echo "ok $d"; continue ;; esac; ' +
      // One immediate retry, as a browser does after a reset connection or an HTTP/2 GOAWAY.
      'b2=$(get) || true; case "|$ok|" in *"|$b2|"*) w=retried ;; *) w=miss ;; esac; ' +
      'echo "$w $d ${b:-(no answer)} curl=$rc at $t"; ' +
      "done < targets; done >> log";
    this.proc = spawn("bash", ["-c", loop, "prober", this.dir], { stdio: "ignore" });
  }
  /**
   * Stops the loop (after its current round) and returns the counts: `misses` failed twice in a
   * row, `retried` failed once and answered on the immediate retry.
   */
  async stop(): Promise<{ probes: number; misses: string[]; retried: string[] }> {
    fs.writeFileSync(path.join(this.dir, "stop"), "");
    const exited = new Promise((r) => this.proc.once("exit", r));
    const timer = setTimeout(() => this.proc.pid && process.kill(this.proc.pid), 20000);
    await exited;
    clearTimeout(timer);
    const log = fs.readFileSync(path.join(this.dir, "log"), "utf8").split("\n").filter(Boolean);
    fs.rmSync(this.dir, { recursive: true, force: true });
    return {
      probes: log.length,
      misses: log.filter((l) => l.startsWith("miss")),
      retried: log.filter((l) => l.startsWith("retried")),
    };
  }
}

/** Removes, by exact name, whatever tenant ac may have left (its container, chains, sysctl drop-in). */
function removeLeftovers(): void {
  spawnSync("incus", ["delete", "--force", PROXY], { encoding: "utf8" });
  const nat = host("iptables-save", ["-t", "nat"]).split("\n");
  for (const l of nat.filter((x) => x.startsWith("-A ") && / -j ITN-ac-(PRE|POST)( |$)/.test(x)))
    spawnSync("bash", ["-c", `iptables -t nat ${l.replace(/^-A /, "-D ")}`]);
  for (const chain of ["ITN-ac-PRE", "ITN-ac-POST"]) {
    spawnSync("iptables", ["-t", "nat", "-F", chain]);
    spawnSync("iptables", ["-t", "nat", "-X", chain]);
  }
  spawnSync("rm", ["-f", `/etc/sysctl.d/60-incus-tenant-${TENANT}.conf`]);
}

const names = (r: RunResult): string[] =>
  r.ran.map((c) => `${c.op} ${c.name}${c.exitCode === 0 ? "" : ` (exit ${c.exitCode})`}`).sort();
const sha = (file: string) => inc(PROXY, ["sh", "-c", `sha256sum ${file} 2>/dev/null || true`]).trim();
const siteFiles = () => inc(PROXY, ["sh", "-c", `cd ${SITES} && sha256sum -- * 2>/dev/null || true`]).trim();
const runningConfig = () => inc(PROXY, ["curl", "-s", "http://localhost:2019/config/"]);
const HAND = {
  [D("legacy1")]: ["hand-legacy1"],
  [D("legacy2")]: ["hand-legacy2"],
  [D("www2")]: ["hand-legacy2"],
};
const OURS = { [D("new1")]: ["up-8081"], [D("new2")]: ["up-8082"] };
const WITH_IMPORT = `${HAND_CONFIG}import ${SITES}/*.caddy\n`;

describeOnTestbed(
  "adopting a hand-built Caddy proxy (unit proxy, /opt/gbo/conf/config)",
  (env: TestbedEnv) => {
    const state = tempState("adopt-caddy");
    const figures: string[] = [];
    /** The harness's log lines of the current apply, each with its time (to place a miss). */
    let logs: string[] = [];
    const apply = async (t: unknown, label: string): Promise<RunResult> => {
      const s = Date.now();
      const r = await runProgram({
        programPath: INDEX,
        ...harnessConfig(env, t),
        stateFile: state,
        stack: TENANT,
        log: (l) => logs.push(`${(Date.now() / 1000).toFixed(3)} ${l.slice(0, 200)}`),
      });
      figures.push(`${label}: ${r.ran.length} commands, ${Date.now() - s} ms`);
      return r;
    };
    /** Applies `t` with the prober running on `accept`; the misses must be counted by the caller. */
    const probed = async (t: unknown, label: string, accept: Record<string, string[]>) => {
      logs = [];
      const prober = new Prober(accept);
      await new Promise((r) => setTimeout(r, 1000)); // a few rounds before the apply starts
      const r = await apply(t, label);
      const p = await prober.stop();
      figures.push(
        `${label}: ${p.probes} probes, ${p.misses.length} misses, ` +
          `${p.retried.length} answered only on the immediate retry`,
      );
      if (p.misses.length + p.retried.length > 0) figures.push(...p.misses, ...p.retried, ...logs);
      return { r, ...p, logs: [...logs] };
    };

    beforeAll(async () => {
      removeLeftovers();
      buildByHand(env);
      for (const [d, [want]] of Object.entries(HAND)) expect(await fetchSite(d, want)).toBe(want);
    });

    afterAll(async () => {
      await runProgram({
        programPath: INDEX,
        ...harnessConfig(env, tenant(env)),
        stateFile: state,
        stack: TENANT,
        destroy: true,
      });
      removeLeftovers();
      process.stdout.write(`adopt-caddy figures\n  ${figures.join("\n  ")}\n`);
    });

    test("first apply: the main file gains only the import line; hand-made vhosts never miss; ours serve", async () => {
      const { r, probes, misses, logs: lines } = await probed(tenant(env), "first apply", HAND);
      expect(r.error).toBeUndefined();
      // The Caddy part of the apply (main file, then the vhosts): from the main file's start to the
      // last vhost's end. The container's adoption before it is not Caddy's (see the report).
      const at = (re: RegExp) => lines.filter((l) => re.test(l)).map((l) => Number(l.split(" ")[0]));
      const from = Math.min(...at(/ create ac-caddy-main started/));
      const to = Math.max(...at(/ create ac-vhost-new\d-site ok/)) + 1;
      const inCaddy = misses.filter((m) => {
        const t = Number(m.split(" ").pop());
        return t >= from - 3 && t <= to; // a probe started up to 3 s (curl -m 3) before still counts
      });
      expect([from, to].every(Number.isFinite)).toBe(true);
      expect(inCaddy).toEqual([]);
      figures.push(`first apply: misses outside the Caddy commands: ${misses.length - inCaddy.length}`);
      expect(probes).toBeGreaterThan(10);
      // The rest (host chains, the container's adoption, a preflight) belongs to other tests.
      expect(names(r).filter((n) => /caddy|vhost/.test(n))).toEqual([
        "create ac-caddy-main",
        "create ac-vhost-new1-site",
        "create ac-vhost-new2-site",
      ]);
      figures.push(`first apply ran: ${names(r).join(", ")}`);
      expect(readIn(PROXY, MAIN)).toBe(WITH_IMPORT);
      const spec = parseTenant(tenant(env)).services.caddy!;
      for (const v of spec.vhosts) expect(readIn(PROXY, v.file)).toBe(renderVhost(v));
      for (const [d, [want]] of Object.entries({ ...HAND, ...OURS }))
        expect(await fetchSite(d, want)).toBe(want);
      // Issue 14: each vhost waits on the main file only, never on another vhost.
      const st = JSON.parse(fs.readFileSync(state, "utf8")) as Record<string, any>;
      const entries = (st.resources ?? st) as Record<string, { deps?: string[] }>;
      const urnOf = (n: string) => Object.keys(entries).find((u) => u.endsWith(`::${n}`))!;
      for (const v of ["new1", "new2"]) {
        const deps = entries[urnOf(`ac-vhost-${v}-site`)].deps ?? [];
        expect(deps).toContain(urnOf("ac-caddy-main"));
        expect(deps.filter((u) => u.includes("CaddyVhost"))).toEqual([]);
        figures.push(`deps of ac-vhost-${v}-site: ${deps.map((u) => u.split("::").pop()).join(", ")}`);
      }
      expect((await apply(tenant(env), "second apply")).ran).toEqual([]);
    });

    test("a stack vhost whose domain the main file serves is refused, naming both places; no change", async () => {
      const before = [sha(MAIN), siteFiles(), runningConfig()];
      const t = tenant(env, {
        legacy2: { domain: D("legacy2"), servedElsewhere: true, upstream: { container: PROXY, port: 8081 } },
      });
      const r = await apply(t, "refused vhost");
      expect(names(r)).toEqual(["create ac-vhost-legacy2-site (exit 1)"]);
      expect(r.error?.message).toContain(
        `vhost legacy2 (${D("legacy2")}): already served by the site block at ${MAIN}:13 ` +
          `(${D("legacy2")}, ${D("www2")}); the stack would serve it from ${SITES}/legacy2.caddy. ` +
          "Set vhosts.legacy2.takeOver: true to move it there (the block is removed from its file, with a " +
          "dated backup, in the same validated reload), or take the vhost out of the stack. Nothing was changed.",
      );
      expect([sha(MAIN), siteFiles(), runningConfig()]).toEqual(before);
      for (const [d, [want]] of Object.entries({ ...HAND, ...OURS })) expect(get(d)).toBe(want);
    });

    test("takeOver: the domain moves to its site file and keeps answering; www2 stays; then nothing runs", async () => {
      const legacy2 = {
        domain: D("legacy2"),
        servedElsewhere: true,
        takeOver: true,
        upstream: { container: PROXY, port: 8081 },
      };
      const t = tenant(env, { legacy2 });
      const accept = { ...HAND, ...OURS, [D("legacy2")]: ["hand-legacy2", "up-8081"] };
      const { r, misses } = await probed(t, "takeOver apply", accept);
      expect(r.error).toBeUndefined();
      expect(misses).toEqual([]);
      expect(names(r)).toEqual(["create ac-vhost-legacy2-site"]);
      expect(readIn(PROXY, MAIN)).toBe(
        WITH_IMPORT.replace(`${D("legacy2")}, ${D("www2")} {`, `${D("www2")} {`),
      );
      expect(await fetchSite(D("legacy2"), "up-8081")).toBe("up-8081");
      expect(get(D("www2"))).toBe("hand-legacy2");
      const backups = inc(PROXY, ["sh", "-c", `ls ${path.dirname(MAIN)}`])
        .split("\n")
        .filter((f) => f.startsWith("config.bak-"));
      expect(backups.length).toBe(2); // the import line's and the takeover's
      expect((await apply(t, "apply after takeOver")).ran).toEqual([]);
    });

    test("removing a vhost restarts the unit proxy (seed 002) and the others answer after it", async () => {
      const legacy2 = {
        domain: D("legacy2"),
        servedElsewhere: true,
        takeOver: true,
        upstream: { container: PROXY, port: 8081 },
      };
      const t = tenant(env, { legacy2 });
      delete t.vhosts.new2;
      const pidBefore = inc(PROXY, ["systemctl", "show", "-p", "MainPID", "--value", "proxy"]).trim();
      const { r, misses } = await probed(t, "remove vhost new2 (restart)", {
        ...HAND,
        [D("legacy2")]: ["up-8081"],
        [D("new1")]: ["up-8081"],
      });
      expect(r.error).toBeUndefined();
      expect(names(r)).toEqual(["delete ac-vhost-new2-site"]);
      expect(inc(PROXY, ["systemctl", "show", "-p", "MainPID", "--value", "proxy"]).trim()).not.toBe(
        pidBefore,
      );
      figures.push(
        `restart after a removal: ${misses.length} misses (a restart drops connections; seed 002 asks for it)`,
      );
      expect(get(D("new2"))).toBe("");
      for (const [d, [want]] of Object.entries({
        ...HAND,
        [D("new1")]: ["up-8081"],
        [D("legacy2")]: ["up-8081"],
      }))
        expect(await fetchSite(d, want)).toBe(want);
      expect(readIn(PROXY, MAIN)).toBe(
        WITH_IMPORT.replace(`${D("legacy2")}, ${D("www2")} {`, `${D("www2")} {`),
      );
    });
  },
);
