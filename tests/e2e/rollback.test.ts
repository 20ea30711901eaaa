/**
 * Automatic firewall rollback on the real test bed: a NAT change whose confirming SSH connection
 * cannot be made is undone by the host itself within `host.confirmTimeout`, the apply fails
 * naming the confirmation, and once SSH is back a re-apply converges (the confirmation reports
 * the rollback and re-applies over its new connection). An older change whose confirmation was
 * cut leaves a newer, confirmed change alone when its watchdog wakes up (generations, see
 * render/firewall.ts). This test runs its OWN sshd on
 * 127.0.0.1:2223 (same keys as the test bed's) and stops only that one, by PID, so other tests
 * keep their SSH.
 */
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { runProgram, RunResult } from "../harness";
import { describeOnTestbed, e2eTenant, harnessConfig, host, ROOT, tempState, TestbedEnv } from "./testbed";

jest.setTimeout(10 * 60 * 1000);
const INDEX = path.join(ROOT, "index.ts");
const PORT = 2223;
const TIMEOUT_S = 5;
/** confirmTimeout of the older/newer case: a whole second apply fits in it. */
const OLDER_TIMEOUT_S = 15;

/** Our own sshd, stopped and started by PID. */
class OwnSshd {
  private readonly dir = fs.mkdtempSync(path.join(os.tmpdir(), "itn-rb-sshd-"));
  private readonly pidFile = path.join(this.dir, "sshd.pid");
  constructor(private readonly env: TestbedEnv) {}
  start(): void {
    const r = spawnSync(
      "/usr/sbin/sshd",
      [
        "-f",
        path.join(this.env.TESTBED_DIR, "sshd_config"),
        "-o",
        `Port=${PORT}`,
        "-o",
        `PidFile=${this.pidFile}`,
        "-E",
        path.join(this.dir, "sshd.log"),
      ],
      { encoding: "utf8" },
    );
    if (r.status !== 0) throw new Error(`own sshd did not start: ${r.stderr}`);
    for (let i = 0; i < 50 && !fs.existsSync(this.pidFile); i++) spawnSync("sleep", ["0.1"]);
  }
  stop(): void {
    if (!fs.existsSync(this.pidFile)) return;
    const pid = Number(fs.readFileSync(this.pidFile, "utf8").trim());
    try {
      process.kill(pid, "SIGTERM");
    } catch {
      /* already gone */
    }
    for (let i = 0; i < 50; i++) {
      try {
        process.kill(pid, 0);
        spawnSync("sleep", ["0.1"]);
      } catch {
        break;
      }
    }
    fs.rmSync(this.pidFile, { force: true });
  }
}

describeOnTestbed("NAT change rollback on the real test bed", (env: TestbedEnv) => {
  const tenant = e2eTenant(env);
  tenant.name = "rb";
  tenant.host.port = PORT;
  tenant.host.confirmTimeout = TIMEOUT_S;
  tenant.containers = { "rb-web": { ipv4: "198.18.2.60", ports: [80, 81] } };
  tenant.nat = [{ ports: [6080], toPort: 80, protocol: "tcp", to: "rb-web" }];
  const moved = JSON.parse(JSON.stringify(tenant));
  moved.nat[0].toPort = 81;
  const state = tempState("rollback");
  const sshd = new OwnSshd(env);
  const apply = (t: unknown, log?: (line: string) => void): Promise<RunResult> =>
    runProgram({
      programPath: INDEX,
      ...harnessConfig(env, t),
      stateFile: state,
      stack: "e2e-rb",
      ...(log ? { log } : {}),
    });
  const liveDnat = (): string[] =>
    host("iptables-save", ["-t", "nat"])
      .split("\n")
      .filter((l) => l.startsWith("-A ITN-rb-PRE "));
  const to = (port: number) => [
    `-A ITN-rb-PRE -d ${env.HOST_EXT_IP}/32 -i ${env.EXT_IF} -p tcp -m tcp --dport 6080 ` +
      `-m comment --comment "incus-tenant:rb:tcp-6080" -j DNAT --to-destination 198.18.2.60:${port}`,
  ];
  const waitFor = async (want: string[], seconds: number): Promise<number> => {
    const t0 = Date.now();
    while (Date.now() - t0 < seconds * 1000) {
      if (JSON.stringify(liveDnat()) === JSON.stringify(want)) return (Date.now() - t0) / 1000;
      await new Promise((r) => setTimeout(r, 250));
    }
    return -1;
  };

  beforeAll(() => sshd.start());
  afterAll(async () => {
    sshd.stop();
    sshd.start();
    await runProgram({
      programPath: INDEX,
      ...harnessConfig(env, tenant),
      stateFile: state,
      stack: "e2e-rb",
      destroy: true,
    });
    sshd.stop();
    spawnSync("bash", [
      "-c",
      "incus delete --force rb-web 2>/dev/null; rm -rf /var/lib/incus-tenant/rollback/rb-*",
    ]);
  });

  test("apply: the rule is in place and confirmed", async () => {
    const r = await apply(tenant);
    expect(r.error).toBeUndefined();
    expect(r.ran.map((c) => `${c.op} ${c.name}`)).toEqual(
      expect.arrayContaining(["create rb-nat-tcp-6080-dnat", "create rb-nat-tcp-6080-confirm"]),
    );
    expect(liveDnat()).toEqual(to(80));
    // Confirmed: it stays after the timeout.
    await new Promise((res) => setTimeout(res, (TIMEOUT_S + 3) * 1000));
    expect(liveDnat()).toEqual(to(80));
  });

  test("sshd gone before the confirmation: the apply fails, the host restores the previous rule in time", async () => {
    let cut = false;
    let appliedAt = 0;
    const r = await apply(moved, (line) => {
      if (!cut && /^create rb-nat-tcp-6080-dnat ok/.test(line)) {
        cut = true;
        appliedAt = Date.now();
        sshd.stop();
      }
    });
    expect(cut).toBe(true);
    expect(r.error?.message).toMatch(/rb-nat-tcp-6080-confirm failed: ssh to root@127\.0\.0\.1:2223 failed/);
    const back = await waitFor(to(80), TIMEOUT_S + 15);
    expect(back).toBeGreaterThanOrEqual(0);
    const afterApply = (Date.now() - appliedAt) / 1000;
    process.stdout.write(
      `rollback: previous rule back ${afterApply.toFixed(1)} s after the unconfirmed apply (timeout ${TIMEOUT_S} s)\n`,
    );
    expect(afterApply).toBeLessThan(TIMEOUT_S + 15);
    const markers = fs
      .readdirSync("/var/lib/incus-tenant/rollback/rb-tcp-6080")
      .filter((f) => f.endsWith(".rolled-back"));
    expect(markers).toHaveLength(1);
  });

  test("sshd back: a re-apply reports the rollback, re-applies over the new connection and converges", async () => {
    sshd.start();
    const r = await apply(moved);
    expect(r.error).toBeUndefined();
    expect(r.ran.map((c) => `${c.op} ${c.name}`)).toEqual(["create rb-nat-tcp-6080-confirm"]);
    const saved = JSON.parse(fs.readFileSync(state, "utf8")) as {
      resources: Record<string, { outputs: { stderr?: string } }>;
    };
    const confirm = Object.entries(saved.resources).find(([urn]) =>
      urn.endsWith("::rb-nat-tcp-6080-confirm"),
    )![1];
    expect(confirm.outputs.stderr).toMatch(
      new RegExp(
        /incus-tenant:rb:tcp-6080: the change had been rolled back at \d{4}-\d\d-\d\dT[\d:]+Z /.source +
          /\(no confirmation within 5s\); re-applying it over this new SSH connection/.source,
      ),
    );
    expect(liveDnat()).toEqual(to(81));
    await new Promise((res) => setTimeout(res, (TIMEOUT_S + 3) * 1000));
    expect(liveDnat()).toEqual(to(81));
    expect((await apply(moved)).ran).toEqual([]);
  });

  test("an older unconfirmed watchdog leaves a newer confirmed change alone", async () => {
    // Long enough for a whole second apply to land before the older watchdog wakes up.
    const slow = (port: number, sources?: string[]) => {
      const t = JSON.parse(JSON.stringify(tenant));
      t.host.confirmTimeout = OLDER_TIMEOUT_S;
      t.nat[0].toPort = port;
      if (sources) t.nat[0].sources = sources;
      return t;
    };
    const dir = "/var/lib/incus-tenant/rollback/rb-tcp-6080";
    const newerLines = [
      `-A ITN-rb-PRE -s ${env.CLIENT_IP}/32 -d ${env.HOST_EXT_IP}/32 -i ${env.EXT_IF}` +
        " -p tcp -m tcp --dport 6080" +
        ' -m comment --comment "incus-tenant:rb:tcp-6080" -j DNAT --to-destination 198.18.2.60:80',
    ];
    // The older change (back to port 80): its confirmation cannot connect, its watchdog is armed.
    let cut = false;
    let olderAt = 0;
    const older = await apply(slow(80), (line) => {
      if (!cut && /^create rb-nat-tcp-6080-dnat ok/.test(line)) {
        cut = true;
        olderAt = Date.now();
        sshd.stop();
      }
    });
    expect(cut).toBe(true);
    expect(older.error?.message).toMatch(
      /rb-nat-tcp-6080-confirm failed: ssh to root@127\.0\.0\.1:2223 failed/,
    );
    expect(liveDnat()).toEqual(to(80));
    const olderId = fs.readFileSync(path.join(dir, "pending"), "utf8").trim();
    // The newer change (port 80 from the client only), confirmed over a working connection.
    sshd.start();
    const newer = await apply(slow(80, [`${env.CLIENT_IP}/32`]));
    expect(newer.error).toBeUndefined();
    expect(newer.ran.map((c) => `${c.op} ${c.name}`)).toEqual([
      "create rb-nat-tcp-6080-dnat",
      "create rb-nat-tcp-6080-confirm",
    ]);
    const newerAfter = (Date.now() - olderAt) / 1000;
    expect(newerAfter).toBeLessThan(OLDER_TIMEOUT_S); // else this case would prove nothing
    expect(liveDnat()).toEqual(newerLines);
    // Past the older watchdog's deadline: the newer, confirmed lines are still there, everywhere.
    await new Promise((res) => setTimeout(res, (OLDER_TIMEOUT_S - newerAfter + 5) * 1000));
    expect(liveDnat()).toEqual(newerLines);
    expect(fs.existsSync(path.join(dir, `${olderId}.rolled-back`))).toBe(false);
    const gen = fs.readFileSync(path.join(dir, "gen"), "utf8").trim();
    expect(fs.readFileSync(path.join(dir, `${olderId}.log`), "utf8")).toBe(
      `incus-tenant: incus-tenant:rb:tcp-6080: watchdog ${olderId}: superseded by the newer generation ${gen};` +
        " leaving the rule alone\n",
    );
    const rulesV4 = fs.readFileSync("/etc/iptables/rules.v4", "utf8");
    expect(rulesV4.split("\n").filter((l) => l.startsWith("-A ITN-rb-PRE "))).toEqual(newerLines);
    const when = `${newerAfter.toFixed(1)} s after the older one`;
    process.stdout.write(
      `older watchdog ${olderId}: left generation ${gen} alone (newer change confirmed ${when})\n`,
    );
    expect((await apply(slow(80, [`${env.CLIENT_IP}/32`]))).ran).toEqual([]);
  });
});
