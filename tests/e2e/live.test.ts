/**
 * `plan --live` end to end on the real test bed (issue 6, item 1): tenant `live` (containers
 * live-proxy 198.18.2.50 and live-dns 198.18.2.51, NAT tcp 7080 → live-proxy:80, one Caddy vhost,
 * zone live.example.com) is applied through the harness; the CLI runs as a child process over
 * real SSH with the test bed's key. In sync → exit 0. Hand-edit a rule, a site file and a zone
 * record → exit 2 naming exactly those three. Repair → exit 0.
 *
 * How `up` repairs drift: remote.Command has no read, so neither `pulumi refresh` nor a plain
 * `pulumi up` notices a hand edit. The operator forgets the drifted commands in the state
 * (`pulumi state delete --target-dependents <urn>`, the URNs `plan --live` prints) and runs
 * `pulumi up`, which runs their create scripts again; those converge (tag-scoped iptables
 * transaction, backup + validate + reload of the site file, zone rewritten with a higher serial).
 * This test does exactly that with the harness's state file. `pulumi up --replace` is NOT the
 * repair: it is create-before-delete, so the old instance's delete script would run after the
 * new create and remove the rule/site file again.
 */
import { execFileSync, spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { runProgram, RunResult } from "../harness";
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
const MINE = ["live-proxy", "live-dns"];
const ZONE = "live.example.com";
const ZONE_FILE = `/opt/gbo/data/${ZONE}.zone`;
const SITE = "/etc/caddy/sites/web.caddy";
const TAG = "incus-tenant:live:tcp-7080";
/** Progress lines with timestamps to $LIVE_DEBUG_LOG when set (jest buffers its own output). */
const debug = (line: string): void => {
  if (process.env.LIVE_DEBUG_LOG)
    fs.appendFileSync(process.env.LIVE_DEBUG_LOG, `${new Date().toISOString()} ${line}\n`);
};

interface CliRun {
  status: number;
  stdout: string;
  stderr: string;
}
interface DriftJson {
  inSync: boolean;
  drift: {
    resource: string;
    kind: string;
    change: string;
    text: string;
    details: string[];
    command?: string;
  }[];
  serials: Record<string, string | null>;
}

describeOnTestbed("plan --live on the real test bed", (env: TestbedEnv) => {
  const pub = env.HOST_EXT_IP;
  const tenant = e2eTenant(env);
  tenant.name = "live";
  tenant.containers = {
    "live-proxy": { ipv4: "198.18.2.50", ports: [80] },
    "live-dns": { ipv4: "198.18.2.51", ports: [53] },
  };
  tenant.nat = [{ ports: [7080], toPort: 80, protocol: "tcp", to: "live-proxy" }];
  tenant.proxy = { container: "live-proxy", tls: { internal: true } };
  tenant.vhosts = { web: { domain: `web.${ZONE}`, upstream: { container: "live-proxy", port: 80 } } };
  tenant.dns = {
    container: "live-dns",
    nameservers: [`ns1.${ZONE}`],
    hostmaster: "hostmaster@example.com",
    zones: {
      [ZONE]: {
        records: [
          { name: "@", type: "A", value: pub },
          { name: "ns1", type: "A", value: pub },
          { name: "web", type: "A", value: pub },
        ],
      },
    },
  };
  const state = tempState("live");
  const stackFile = path.join(path.dirname(state), "Pulumi.live.yaml");
  fs.writeFileSync(stackFile, `${JSON.stringify({ config: { "incus-tenant:tenant": tenant } }, null, 2)}\n`);
  const logs: string[] = [];
  const run = (destroy = false): Promise<RunResult> =>
    runProgram({
      programPath: INDEX,
      ...harnessConfig(env, tenant),
      stateFile: state,
      stack: "live",
      destroy,
      log: (l) => (logs.push(l), debug(l)),
    });

  /** The CLI as an operator runs it; retried while sshd is down (other tests stop it briefly). */
  const cli = (...extra: string[]): CliRun => {
    for (let attempt = 0; ; attempt++) {
      debug(`cli ${extra.join(" ")}`);
      const r = spawnSync(
        path.join(ROOT, "node_modules", ".bin", "ts-node"),
        [
          "--transpile-only",
          "scripts/plan.ts",
          "--stack",
          "live",
          "--stack-file",
          stackFile,
          "--live",
          ...extra,
        ],
        {
          cwd: ROOT,
          encoding: "utf8",
          timeout: 180_000,
          env: { ...process.env, INCUS_TENANT_SSH_KEY: env.SSH_KEY },
        },
      );
      const out = { status: r.status ?? -1, stdout: r.stdout ?? "", stderr: r.stderr ?? "" };
      if (out.status === 1 && /ssh to .* failed/.test(out.stderr) && attempt < 6) {
        execFileSync("sleep", ["10"]);
        continue;
      }
      return out;
    }
  };
  const json = (): { status: number; doc: DriftJson } => {
    const r = cli("--json");
    expect({ status: r.status, stderr: r.stderr }).toEqual({ status: r.status === 2 ? 2 : 0, stderr: "" });
    return { status: r.status, doc: JSON.parse(r.stdout) as DriftJson };
  };
  const zoneSerial = (): string =>
    /^ {8}(\d{10}) ; serial$/m.exec(host("incus", ["exec", "live-dns", "--", "cat", ZONE_FILE]))?.[1] ?? "";

  afterAll(async () => {
    const r = await run(true);
    if (r.error)
      process.stdout.write(`live: destroy failed (leftovers removed by name): ${r.error.message}\n`);
    // Leftovers by exact name: our two containers, our two chains and the rules tagged for tenant live.
    const leftovers = [
      ...MINE.map(
        (c) =>
          `if incus info ${c} >/dev/null 2>&1; then incus config set ${c} security.protection.delete=false; ` +
          `incus delete -f ${c}; fi`,
      ),
      `iptables-save -t nat | grep -F -- '--comment "incus-tenant:live:' | grep -v '^-A ITN-live-' | ` +
        `sed 's/^-A /-D /' | while read -r rule; do eval "iptables -t nat $rule"; done`,
      "for ch in ITN-live-PRE ITN-live-POST; do if iptables -t nat -L $ch -n >/dev/null 2>&1; " +
        "then iptables -t nat -F $ch; iptables -t nat -X $ch; fi; done",
      "rm -f /etc/sysctl.d/60-incus-tenant-live.conf",
    ];
    execFileSync("bash", ["-c", leftovers.join("\n")]);
    fs.rmSync(path.dirname(state), { recursive: true, force: true });
  });

  test("after apply the live host is in sync: exit 0, text and JSON, live serial reported", async () => {
    const r = await run();
    expect(r.error).toBeUndefined();
    const text = cli();
    expect({ status: text.status, stderr: text.stderr }).toEqual({ status: 0, stderr: "" });
    const serial = zoneSerial();
    expect(serial).toMatch(/^\d{10}$/);
    expect(text.stdout).toBe(
      `live root@127.0.0.1:${env.SSH_PORT} vs stack live (tenant live); zone ${ZONE} serial ${serial}\nin sync\n`,
    );
    const { doc } = json();
    expect(doc).toEqual({
      stack: "live",
      tenant: "live",
      inSync: true,
      drift: [],
      serials: { [ZONE]: serial },
    });
  });

  test("hand edits of a rule, a site file and a zone record: exit 2 naming exactly those three", () => {
    host("iptables", [
      "-t",
      "nat",
      "-R",
      "ITN-live-PRE",
      "1",
      "-d",
      pub,
      "-i",
      "itn-ext0",
      "-p",
      "tcp",
      "-m",
      "tcp",
      "--dport",
      "7080",
      "-m",
      "comment",
      "--comment",
      TAG,
      "-j",
      "DNAT",
      "--to-destination",
      "198.18.2.51:80",
    ]);
    host("incus", [
      "exec",
      "live-proxy",
      "--",
      "sed",
      "-i",
      "s/X-Forwarded-Proto https/X-Forwarded-Proto http/",
      SITE,
    ]);
    host("incus", [
      "exec",
      "live-dns",
      "--",
      "sed",
      "-i",
      `s/^web\\tIN\\tA\\t${pub}$/web\\tIN\\tA\\t198.18.2.99/`,
      ZONE_FILE,
    ]);
    const serial = zoneSerial();

    const { status, doc } = json();
    expect(status).toBe(2);
    expect(doc.inSync).toBe(false);
    expect([...new Set(doc.drift.map((d) => d.resource))].sort()).toEqual([
      "nat tcp-7080",
      `vhost web`,
      `zone ${ZONE}`,
    ]);
    expect(doc.drift.map((d) => [d.change, d.text, d.command])).toEqual([
      ["missing", "DNAT tcp/7080 → live-proxy 198.18.2.50:80", "live-nat-tcp-7080-dnat"],
      ["extra", "DNAT tcp/7080 → live-dns 198.18.2.51:80", "live-nat-tcp-7080-dnat"],
      ["changed", `vhost web.${ZONE}: site file differs`, "live-vhost-web-site"],
      [
        "changed",
        `zone ${ZONE}: record "web A ${pub}" != live "web A 198.18.2.99"`,
        "live-zone-live-example-com-zone",
      ],
    ]);
    expect(doc.serials).toEqual({ [ZONE]: serial });

    const text = cli();
    expect(text.status).toBe(2);
    expect(text.stdout).toContain(
      [
        "+ DNAT tcp/7080 → live-proxy 198.18.2.50:80",
        `    -A ITN-live-PRE -d ${pub}/32 -i itn-ext0 -p tcp -m tcp --dport 7080 -m comment --comment "${TAG}" ` +
          "-j DNAT --to-destination 198.18.2.50:80",
        "- DNAT tcp/7080 → live-dns 198.18.2.51:80",
        `    -A ITN-live-PRE -d ${pub}/32 -i itn-ext0 -p tcp -m tcp --dport 7080 -m comment --comment "${TAG}" ` +
          "-j DNAT --to-destination 198.18.2.51:80",
        `~ vhost web.${ZONE}: site file differs`,
        `    --- live ${SITE}`,
        "    +++ desired",
        "    @@ -7 +7 @@",
        "    -\t\theader_up X-Forwarded-Proto http",
        "    +\t\theader_up X-Forwarded-Proto https",
        `~ zone ${ZONE}: record "web A ${pub}" != live "web A 198.18.2.99"`,
        `    live serial ${serial}`,
        "",
        "4 difference(s) in 3 resource(s)",
      ].join("\n"),
    );
    expect(text.stdout).toContain(
      "pulumi state delete --stack live --target-dependents --yes " +
        "'urn:pulumi:live::incus-tenant::incus-tenant:index:Tenant" +
        "$incus-tenant:net:NatRule$command:remote:Command::live-nat-tcp-7080-dnat'",
    );
  });

  test(
    "repair: forget the drifted commands (and dependents) in state, re-run up: only they run, " +
      "then exit 0",
    async () => {
      const before = zoneSerial();
      const drifted = json().doc.drift.map((d) => d.command as string);
      const doc = JSON.parse(fs.readFileSync(state, "utf8")) as {
        resources: Record<string, { deps?: string[] }>;
      };
      // `pulumi state delete --target-dependents`: the URNs of the drifted commands and,
      // transitively, what depends on them.
      const gone = new Set(
        Object.keys(doc.resources).filter((u) => drifted.includes(u.split("::").pop() as string)),
      );
      for (let grew = true; grew;) {
        grew = false;
        for (const [u, e] of Object.entries(doc.resources))
          if (!gone.has(u) && (e.deps ?? []).some((d) => gone.has(d))) {
            gone.add(u);
            grew = true;
          }
      }
      for (const u of gone) delete doc.resources[u];
      fs.writeFileSync(state, JSON.stringify(doc, null, 2));

      const names = [...gone].map((u) => u.split("::").pop() as string).sort();
      expect(names).toEqual(
        expect.arrayContaining([
          "live-corefile-corefile",
          "live-nat-tcp-7080-dnat",
          "live-vhost-web-site",
          "live-zone-live-example-com-zone",
        ]),
      );
      const r = await run();
      expect(r.error).toBeUndefined();
      expect(r.ran.map((c) => `${c.op} ${c.name}`).sort()).toEqual(names.map((n) => `create ${n}`));
      expect(iptables("nat").filter((l) => l.includes(TAG))).toEqual([
        `-A ITN-live-PRE -d ${pub}/32 -i itn-ext0 -p tcp -m tcp --dport 7080 -m comment --comment "${TAG}" ` +
          "-j DNAT --to-destination 198.18.2.50:80",
      ]);
      expect(Number(zoneSerial())).toBeGreaterThan(Number(before));

      const text = cli();
      expect({ status: text.status, stderr: text.stderr }).toEqual({ status: 0, stderr: "" });
      expect(text.stdout).toBe(
        `live root@127.0.0.1:${env.SSH_PORT} vs stack live (tenant live); zone ${ZONE} serial ${zoneSerial()}\n` +
          "in sync\n",
      );
      expect((await run()).ran).toEqual([]);
    },
  );

  test("errors exit 1 with the reason on stderr: wrong host key, missing key, bad config", () => {
    const bad = path.join(os.tmpdir(), `itn-live-bad-${process.pid}.yaml`);
    try {
      const other = {
        ...tenant,
        host: {
          ...tenant.host,
          hostKey: fs.readFileSync(`${env.SSH_KEY}.pub`, "utf8").trim().split(" ").slice(0, 2).join(" "),
        },
      };
      fs.writeFileSync(bad, JSON.stringify({ config: { "incus-tenant:tenant": other } }));
      const r = spawnSync(
        path.join(ROOT, "node_modules", ".bin", "ts-node"),
        [
          "--transpile-only",
          "scripts/plan.ts",
          "--stack",
          "live",
          "--stack-file",
          bad,
          "--live",
          "--ssh-key",
          env.SSH_KEY,
        ],
        { cwd: ROOT, encoding: "utf8" },
      );
      expect(r.status).toBe(1);
      expect(r.stderr).toMatch(/^plan --live: ssh to root@127\.0\.0\.1:2222 failed: /);
      expect(r.stderr).toContain("Host key verification failed.");
      expect(r.stdout).toBe("");
      fs.writeFileSync(
        bad,
        JSON.stringify({
          config: {
            "incus-tenant:tenant": { ...tenant, nat: [{ ports: [7080], protocol: "tcp", to: "nowhere" }] },
          },
        }),
      );
      const r2 = spawnSync(
        path.join(ROOT, "node_modules", ".bin", "ts-node"),
        [
          "--transpile-only",
          "scripts/plan.ts",
          "--stack",
          "live",
          "--stack-file",
          bad,
          "--live",
          "--ssh-key",
          env.SSH_KEY,
        ],
        { cwd: ROOT, encoding: "utf8" },
      );
      expect([r2.status, r2.stderr]).toEqual([
        1,
        'plan --live: invalid tenant config (1 problem):\n  - nat[0].to: unknown container "nowhere"\n',
      ]);
      const r3 = spawnSync(
        path.join(ROOT, "node_modules", ".bin", "ts-node"),
        ["--transpile-only", "scripts/plan.ts", "--stack", "live", "--stack-file", stackFile, "--live"],
        { cwd: ROOT, encoding: "utf8", env: { ...process.env, INCUS_TENANT_SSH_KEY: "" } },
      );
      expect([r3.status, r3.stderr]).toEqual([
        1,
        "plan --live: no SSH key: pass --ssh-key FILE or set INCUS_TENANT_SSH_KEY to the key's path\n",
      ]);
      // The private key never shows up in any output.
      const keyBody = fs.readFileSync(env.SSH_KEY, "utf8").split("\n")[1];
      for (const out of [r, r2, r3, cli(), cli("--json")])
        expect(`${out.stdout}${out.stderr}`).not.toContain(keyBody);
    } finally {
      fs.rmSync(bad, { force: true });
    }
  });
});
