/**
 * Adoption of a running, hand-built tenant (issue 12, acceptance): the tenant of
 * tests/e2e/runbook-tenant.ts, built the runbooks' way without the program, then the first
 * preview and `up` of a stack describing it, on the real test bed (the engine double runs the real
 * index.ts; every command runs over real SSH):
 * - preview (`plan --live`, and an apply without the approval, which runs nothing) shows the
 *   adoption and names no secret;
 * - `up` with the approval: a prober in the client namespace hits every vhost through the NAT the
 *   whole time and never misses; every Vault value and unknown key is unchanged; the unknown
 *   vhosts are still served and the main file only gained one import line; the zone serial is
 *   live + 1 (its content changed); hand-written duplicate DNAT rules are gone, the unrelated one
 *   is byte-identical; the .env is byte-identical; the containers carry the tenant's label;
 * - a second `up` runs nothing; `npm run verify` exits 0, and 1 naming the check when an
 *   upstream stops.
 * Stand-ins (named in the fixture): BIND's named for CoreDNS, tests/bed/fake-vault.sh for Vault.
 */
import { ChildProcess, spawn, spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { stringify } from "yaml";
import { runProgram, RunResult } from "../harness";
import { preview } from "../preview";
import {
  client,
  describeOnTestbed,
  e2eTenant,
  harnessConfig,
  host,
  iptables,
  ROOT,
  tempState,
} from "./testbed";
import type { TestbedEnv } from "./testbed";
import * as hb from "./runbook-tenant";
import { inc, readIn } from "./services-fixture";

jest.setTimeout(20 * 60 * 1000);
const INDEX = path.join(ROOT, "index.ts");
const SITES = "/opt/gbo/conf/sites";
const KNOWN = { chat: `chat.${hb.ZONE}`, system: `system.${hb.ZONE}` } as const;
const SECRETS = {
  llmOpenaiKey: hb.VAULT_BEFORE["gbo/llm"].openai_key,
  llmAnthropicKey: hb.VAULT_BEFORE["gbo/llm"].anthropic_key,
};
const names = (r: RunResult): string[] =>
  r.ran.map((c) => `${c.op} ${c.name}${c.exitCode === 0 ? "" : ` (exit ${c.exitCode})`}`).sort();

/** The stack describing the hand-built tenant (what an operator writes before the first `up`). */
function stackTenant(env: TestbedEnv): Record<string, any> {
  const t = e2eTenant(env);
  const pub = env.HOST_EXT_IP;
  const ip = hb.CONTAINERS;
  t.name = hb.TENANT;
  t.containers = {
    "hb-proxy": { ipv4: ip["hb-proxy"], ports: [80, 443] },
    "hb-dns": { ipv4: ip["hb-dns"], ports: [53] },
    "hb-vault": { ipv4: ip["hb-vault"], ports: [8200] },
    "hb-system": { ipv4: ip["hb-system"], privileged: true, ports: [5858, 5859, 8081] },
  };
  t.nat = [
    { ports: [hb.PORTS.http], toPort: 80, protocol: "tcp", to: "hb-proxy" },
    { ports: [hb.PORTS.https], toPort: 443, protocol: "tcp", to: "hb-proxy" },
    { ports: [hb.PORTS.dns], toPort: 53, protocol: "udp", to: "hb-dns" },
  ];
  t.proxy = {
    container: "hb-proxy",
    service: "proxy",
    mainFile: hb.MAIN_FILE,
    sitesDir: SITES,
    tls: { internal: true },
  };
  t.vhosts = {
    chat: { domain: KNOWN.chat, upstream: { container: "hb-system", port: 5859 } },
    system: { domain: KNOWN.system, upstream: { container: "hb-system", port: 5858 } },
  };
  t.dns = {
    container: "hb-dns",
    server: "named", // BIND stands in for CoreDNS
    nameservers: [`ns1.${hb.ZONE}`],
    hostmaster: "hostmaster@example.com",
    zones: {
      [hb.ZONE]: {
        records: [
          { name: "@", type: "A", value: pub },
          { name: "ns1", type: "A", value: pub },
          { name: "legacy", type: "A", value: pub },
          { name: "old", type: "A", value: pub },
          { name: "chat", type: "A", value: pub },
          { name: "system", type: "A", value: pub },
        ],
      },
    },
  };
  const tables = hb.VAULT_BEFORE["gbo/tables"];
  t.vault = {
    container: "hb-vault",
    address: "http://127.0.0.1:8200",
    tokenFile: `${hb.FAKE_VAULT_STATE}/token`,
    paths: {
      "gbo/tables": {
        keys: {
          host: { value: tables.host },
          port: { value: tables.port },
          database: { value: tables.database },
          username: { value: tables.username },
          password: { generate: { length: 32 } },
        },
      },
      "gbo/llm": {
        keys: {
          url: { value: hb.VAULT_BEFORE["gbo/llm"].url },
          model: { value: hb.VAULT_BEFORE["gbo/llm"].model },
          openai_key: { fromConfig: "llmOpenaiKey" },
          anthropic_key: { fromConfig: "llmAnthropicKey" },
        },
      },
    },
    envFile: {
      container: "hb-system",
      path: hb.ENV_FILE,
      variables: { VAULT_ADDR: `http://${ip["hb-vault"]}:8200` },
    },
  };
  return t;
}

/** Prober in the client namespace: every vhost through the NAT in turn until stopped (one retry, as a browser). */
class Prober {
  private readonly dir = fs.mkdtempSync(path.join(os.tmpdir(), "itn-e2e-hb-probe-"));
  private readonly proc: ChildProcess;
  constructor(env: TestbedEnv, domains: string[]) {
    fs.writeFileSync(path.join(this.dir, "targets"), `${domains.join("\n")}\n`);
    const loop =
      `cd "$1"; get() { curl -sk -m 3 -o /dev/null -w '%{http_code}' ` +
      `--resolve "$d:${hb.PORTS.https}:${env.HOST_EXT_IP}" ` +
      `"https://$d:${hb.PORTS.https}/" 2>/dev/null; }; ` +
      'while [ ! -e stop ]; do while read -r d; do c=$(get); [ "$c" = 200 ] && { echo "ok $d"; continue; }; ' +
      'c2=$(get); if [ "$c2" = 200 ]; then w=retried; else w=miss; fi; echo "$w $d $c $(date +%T.%N)"; ' +
      "done < targets; done >> log";
    this.proc = spawn("ip", ["netns", "exec", env.NETNS, "bash", "-c", loop, "prober", this.dir], {
      stdio: "ignore",
    });
  }
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

describeOnTestbed("adopting a hand-built tenant: first preview and up lose nothing (issue 12)", (env) => {
  const tenant = stackTenant(env);
  const state = tempState("adopt-tenant");
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "itn-e2e-hb-"));
  const stackFile = path.join(dir, "Pulumi.hb.yaml");
  const logs: string[] = [];
  const apply = async (): Promise<RunResult> => {
    const h = harnessConfig(env, tenant);
    const secretConfig = Object.fromEntries(
      Object.entries(SECRETS).map(([k, v]) => [`incus-tenant:${k}`, v]),
    );
    return runProgram({
      programPath: INDEX,
      config: { ...h.config, ...secretConfig },
      secretKeys: [...h.secretKeys, ...Object.keys(secretConfig)],
      configFor: h.configFor,
      stateFile: state,
      stack: hb.TENANT,
      log: (l) => {
        logs.push(l);
        if (process.env.ITN_E2E_VERBOSE === "1") process.stderr.write(`${l}\n`);
      },
    });
  };
  const cli = (name: string, args: string[]) =>
    spawnSync(
      "sh",
      [
        path.join(ROOT, "scripts", "run-compiled.sh"),
        name,
        "--stack",
        hb.TENANT,
        "--stack-file",
        stackFile,
        ...args,
      ],
      {
        encoding: "utf8",
        env: { ...process.env, INCUS_TENANT_SSH_KEY: env.SSH_KEY },
      },
    );
  const everySecret = [
    ...Object.values(SECRETS),
    hb.VAULT_BEFORE["gbo/tables"].password,
    (readIn("hb-vault", `${hb.FAKE_VAULT_STATE}/token`) ?? "unset").trim(),
  ];
  let before = "";
  let handNat: string[] = [];

  beforeAll(() => {
    if (process.env.ITN_E2E_VERBOSE === "1")
      process.stderr.write("adopt-tenant: building the hand-made tenant\n");
    fs.writeFileSync(stackFile, stringify({ config: { "incus-tenant:tenant": tenant } }));
    hb.buildRunbookTenant(env);
    before = hb.fullListing();
    handNat = iptables("nat").filter((l) => l.startsWith("-A PREROUTING") && l.includes("DNAT"));
  });

  afterAll(async () => {
    await runProgram({
      programPath: INDEX,
      ...harnessConfig(env, tenant),
      stateFile: state,
      stack: hb.TENANT,
      destroy: true,
    });
    hb.removeRunbookTenant(env);
    fs.rmSync(dir, { recursive: true, force: true });
  });

  test("preview: plan --live shows the adoption, names no secret; unapproved, nothing changes", () => {
    const live = cli("plan", ["--live"]);
    const out = `${live.stdout}${live.stderr}`;
    expect(out).toContain("hand-written duplicate");
    for (const s of everySecret) expect(out).not.toContain(s);
    // The program without the approval, in its own process like `pulumi preview` (tests/preview: the
    // engine double cannot finish a program whose approval gate throws): refused with the diff.
    const { config, secretKeys } = harnessConfig(env, tenant);
    const secretConfig = Object.fromEntries(
      Object.entries(SECRETS).map(([k, v]) => [`incus-tenant:${k}`, v]),
    );
    const r = preview({
      stack: hb.TENANT,
      config: { ...config, ...secretConfig },
      secretKeys: [...secretKeys, ...Object.keys(secretConfig)],
      previousOutputs: {},
    });
    expect(r.commands).toEqual([]);
    expect(r.error).toContain("network change not approved");
    expect(r.error).toContain(`remove hand-written duplicates of DNAT tcp/${hb.PORTS.http}`);
    for (const s of everySecret) expect(r.error).not.toContain(s);
    expect(hb.fullListing()).toBe(before);
  });

  test("up with the approval: no probe misses, nothing hand-made lost", async () => {
    const prober = new Prober(env, [...hb.UNKNOWN_VHOSTS]);
    const r = await apply();
    const p = await prober.stop();
    process.stdout.write(
      `adopt-tenant: first up ran ${r.ran.length} commands; probes ${p.probes}, ` +
        `misses ${p.misses.length}, answered on retry ${p.retried.length}\n${[...p.misses, ...p.retried].join("\n")}\n`,
    );
    expect(r.error).toBeUndefined();
    expect(p.probes).toBeGreaterThan(20);
    expect(p.misses).toEqual([]);

    // Vault: every value and every unknown key as before.
    for (const [kvPath, data] of Object.entries(hb.VAULT_BEFORE))
      expect(hb.vaultObject(kvPath)).toEqual(data);
    // Caddy: the main file only gained the import line; unknown and new vhosts answer.
    expect(hb.mainFile()).toBe(`${hb.HAND_MAIN}import ${SITES}/*.caddy\n`);
    for (const d of [...hb.UNKNOWN_VHOSTS, KNOWN.chat, KNOWN.system]) {
      const got = client(
        env,
        `curl -sk -m 5 --resolve ${d}:${hb.PORTS.https}:${env.HOST_EXT_IP} https://${d}:${hb.PORTS.https}/`,
      );
      expect({ d, status: got.status }).toEqual({ d, status: 0 });
    }
    // DNS: the serial continues from the live one (content changed: + chat, system).
    inc("hb-dns", ["rndc", "reload"]);
    const serial = String(Number(hb.LIVE_SERIAL) + 1);
    let soa = "";
    for (let i = 0; i < 40 && !soa.includes(serial); i++) {
      soa = client(env, `dig @${env.HOST_EXT_IP} -p ${hb.PORTS.dns} +short ${hb.ZONE} SOA`).stdout;
      await new Promise((res) => setTimeout(res, 250));
    }
    expect(soa.split(" ")[2]).toBe(serial);
    // NAT: the duplicates are gone, the unrelated hand-written rule is byte-identical.
    const nat = iptables("nat").filter((l) => l.startsWith("-A PREROUTING") && l.includes("DNAT"));
    const unrelated = handNat.filter((l) => l.includes(`--dport ${hb.PORTS.unrelated} `));
    expect(unrelated).toHaveLength(1);
    expect(nat.filter((l) => !l.includes("incus-tenant"))).toEqual(unrelated);
    // .env byte-identical; containers labelled.
    expect(readIn("hb-system", hb.ENV_FILE)).toBe(hb.HAND_ENV);
    for (const c of Object.keys(hb.CONTAINERS))
      expect(host("incus", ["config", "get", c, "user.incus-tenant.tenant"]).trim()).toBe(hb.TENANT);
    for (const s of everySecret) expect(logs.join("\n")).not.toContain(s);
  });

  test("a second up runs nothing", async () => {
    const r = await apply();
    expect(r.error).toBeUndefined();
    expect(names(r)).toEqual([]);
  });

  test("npm run verify: exit 0; exit 1 naming the check when an upstream stops", () => {
    const ok = cli("verify", ["--json"]);
    process.stdout.write(`adopt-tenant: verify --json exit ${ok.status}\n${ok.stdout}${ok.stderr}\n`);
    expect({ status: ok.status, stderr: ok.stderr }).toEqual({ status: 0, stderr: "" });
    const doc = JSON.parse(ok.stdout) as {
      ok: boolean;
      checks: { check: string; target: string; ok: boolean }[];
    };
    expect(doc.ok).toBe(true);
    expect(doc.checks.map((c) => c.check)).toEqual(
      expect.arrayContaining(["vhost", "zone", "vault", "port"]),
    );
    inc("hb-system", ["systemctl", "stop", "itn-hb-5859"]);
    try {
      const bad = cli("verify", []);
      expect(bad.status).toBe(1);
      expect(bad.stdout).toContain(KNOWN.chat);
    } finally {
      inc("hb-system", ["systemctl", "reset-failed", "itn-hb-5859"]);
      inc("hb-system", [
        "systemd-run",
        "--unit",
        "itn-hb-5859",
        "socat",
        "TCP-LISTEN:5859,fork,reuseaddr",
        "EXEC:/usr/local/bin/itn-responder botui",
      ]);
    }
  });
});
