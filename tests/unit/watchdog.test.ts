/**
 * The NAT rollback watchdog for real (render/firewall.ts): the apply, confirmation and watchdog
 * scripts as rendered, run with bash as root in a private network AND mount namespace whose
 * /run, /etc/iptables and /var/lib/incus-tenant are fresh tmpfs mounts, so the host's rules,
 * lock, rules.v4 and rollback state are never touched. confirmTimeout is set below the spec's
 * minimum (5 s) by deriving the spec object, and the lock wait is shortened in the script text
 * (the only edit made to a rendered script here), so the whole file takes about 25 s.
 */
import { ChildProcess, spawn, spawnSync } from "child_process";
import * as fs from "fs";
import { parseTenant } from "../../model";
import { NatRuleSpec, TenantSpec } from "../../model/types";
import { armedId, armedNatCreate, natConfirm, ROLLBACK_DIR } from "../../render/firewall";
import { dnatLines, IPTABLES_LOCK, lockBusyMessage, LOCK_WAIT_S, RULES_FILE } from "../../render/iptables";
import { renderChains } from "../../render/host";
import { baseTenant } from "./fixtures";

jest.setTimeout(60_000);

/** Seconds before an unconfirmed change is rolled back in these tests (below the spec minimum). */
const T = 2;
const base = parseTenant(baseTenant());
const rule0 = base.nat.find((r) => r.key === "tcp-443")!;
const TAG = "incus-tenant:acme:tcp-443";
const DIR = `${ROLLBACK_DIR}/acme-tcp-443`;

/** The tenant with rule tcp-443 pointing at `port` of the proxy, rolled back after `t` seconds. */
function at(port: number, t = T): { spec: TenantSpec; rule: NatRuleSpec } {
  const rule: NatRuleSpec = {
    ...rule0,
    destinationPort: port,
    destination: `${rule0.destinationIp}:${port}`,
  };
  const spec: TenantSpec = {
    ...base,
    host: { ...base.host, confirmTimeout: t },
    nat: base.nat.map((r) => (r.key === rule.key ? rule : r)),
  };
  return { spec, rule };
}
const lineTo = (port: number): string => dnatLines(at(port).spec, at(port).rule)[0];
const sleep = (seconds: number): Promise<void> => new Promise((r) => setTimeout(r, seconds * 1000));

/** Why this file cannot run here, or undefined. */
function unavailable(): string | undefined {
  if (process.getuid?.() !== 0) return "not root: namespaces need root";
  for (const tool of ["unshare", "nsenter", "iptables-restore", "flock", "setsid"]) {
    if (spawnSync("sh", ["-c", `command -v ${tool}`]).status !== 0) return `${tool} missing`;
  }
  for (const dir of ["/etc/iptables", "/var/lib"])
    if (!fs.existsSync(dir)) return `${dir} missing (tmpfs mount point)`;
  return undefined;
}

/** A private network + mount namespace kept alive by one holder process (started and stopped by PID). */
class PrivateHost {
  private constructor(
    private readonly holder: ChildProcess,
    private readonly mntNs: string,
  ) {}

  static async start(): Promise<PrivateHost> {
    // /var/lib/incus-tenant may not exist on this machine: then the tmpfs goes over /var/lib.
    const state = fs.existsSync("/var/lib/incus-tenant") ? "/var/lib/incus-tenant" : "/var/lib";
    const mounts = `for d in /run /etc/iptables ${state}; do mount -t tmpfs itn-unit "$d"; done`;
    const setup = `set -e; ${mounts}; echo ready; exec sleep 600`;
    const holder = spawn("unshare", ["--net", "--mount", "--propagation", "private", "bash", "-c", setup], {
      stdio: ["ignore", "pipe", "pipe"],
    });
    await new Promise<void>((resolve, reject) => {
      let err = "";
      holder.stderr.on("data", (d: Buffer) => (err += d.toString()));
      holder.stdout.on("data", (d: Buffer) => d.toString().includes("ready") && resolve());
      holder.on("exit", (code) => reject(new Error(`namespace holder exited ${code}: ${err}`)));
    });
    return new PrivateHost(holder, fs.readlinkSync(`/proc/${holder.pid}/ns/mnt`));
  }

  /** Runs bash text inside the namespaces. */
  run(text: string): { status: number; stdout: string; stderr: string } {
    const r = spawnSync("nsenter", ["-t", String(this.holder.pid), "-n", "-m", "--", "bash", "-c", text], {
      encoding: "utf8",
    });
    return { status: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
  }

  sh(cmd: string): string {
    const r = this.run(cmd);
    if (r.status !== 0) throw new Error(`${cmd}: exit ${r.status}: ${r.stderr}`);
    return r.stdout;
  }

  /** Holds the iptables lock from another process until release() is called. */
  async holdLock(): Promise<{ release: () => void }> {
    const cmd = `exec 9>${IPTABLES_LOCK}; flock 9; echo held; exec sleep 30`;
    const p = spawn("nsenter", ["-t", String(this.holder.pid), "-n", "-m", "--", "bash", "-c", cmd], {
      stdio: ["ignore", "pipe", "inherit"],
    });
    await new Promise<void>((resolve) =>
      p.stdout.on("data", (d: Buffer) => d.toString().includes("held") && resolve()),
    );
    return { release: () => void p.kill("SIGKILL") };
  }

  /** PIDs of the processes in our mount namespace (started by this file), except the holder. */
  private ours(): number[] {
    return fs
      .readdirSync("/proc")
      .filter((p) => /^\d+$/.test(p) && Number(p) !== this.holder.pid)
      .map(Number)
      .filter((pid) => {
        try {
          return fs.readlinkSync(`/proc/${pid}/ns/mnt`) === this.mntNs;
        } catch {
          return false;
        }
      });
  }

  /** Stops every watchdog still waiting (processes of this namespace), by PID. */
  killWatchdogs(): void {
    for (const pid of this.ours()) {
      try {
        process.kill(pid, "SIGKILL");
      } catch {
        /* already gone */
      }
    }
  }

  /** A fresh host: no watchdog, empty nat table, no rollback state, no rules.v4. */
  reset(): void {
    this.killWatchdogs();
    this.sh(`iptables -t nat -F && iptables -t nat -X && rm -rf ${ROLLBACK_DIR} ${RULES_FILE}`);
  }

  stop(): void {
    this.killWatchdogs();
    this.holder.kill("SIGKILL");
  }
}

const skip = unavailable();
if (skip) process.stdout.write(`watchdog.test: real-namespace tests skipped: ${skip}\n`);
const real = skip ? describe.skip : describe;

describe("armed id (pure)", () => {
  test("read from the apply's stdout; 'none' when nothing was armed", () => {
    expect(armedId("rollback armed: 12-20261130223201 (30s)\n")).toBe("12-20261130223201");
    expect(armedId("rollback armed: 3-20261130223201 (still unconfirmed)")).toBe("3-20261130223201");
    expect(armedId("")).toBe("none");
    expect(armedId(undefined)).toBe("none");
    expect(armedId("rollback armed: $(reboot) (30s)")).toBe("none");
  });
  test("the lock message, defined once", () => {
    expect(lockBusyMessage(TAG)).toBe(
      "incus-tenant:acme:tcp-443: could not take the iptables lock /run/incus-tenant.iptables.lock" +
        " within 120 s (another change is running); aborting, nothing changed",
    );
  });
  test("apply, confirmation and watchdog take the lock or abort; none of them goes on unlocked", () => {
    const apply = armedNatCreate(at(80).spec, at(80).rule);
    const confirm = natConfirm(at(80).spec, at(80).rule, "1-20261130223201");
    const take = (what: string) =>
      `{ exec 9>${IPTABLES_LOCK} && flock -w ${LOCK_WAIT_S} 9; } || { log '${lockBusyMessage(what)}'; exit 1; }`;
    expect(apply.split("\n").filter((l) => l.includes("flock"))).toEqual([
      take(TAG),
      take(`${TAG}: watchdog`),
    ]);
    expect(confirm.split("\n").filter((l) => l.includes("flock"))).toEqual([take(`${TAG}: confirm`)]);
    // The apply never writes rules.v4 itself; only the watchdog's restore (inside the heredoc) does.
    const applyOnly = apply.replace(/<<'ITN_WATCHDOG'[\s\S]*?\nITN_WATCHDOG\n/, "");
    expect(applyOnly).not.toContain(RULES_FILE);
    expect(confirm).toContain(`mv -f "$tmp" ${RULES_FILE}`);
  });
});

real("NAT watchdog on real iptables (private network + mount namespace)", () => {
  let host: PrivateHost;
  beforeAll(async () => (host = await PrivateHost.start()));
  afterAll(() => host?.stop());
  beforeEach(() => host.reset());

  /** Shortens the lock wait (120 s) in a rendered script; throws if the text has no lock. */
  const shortLock = (text: string): string => {
    const from = `flock -w ${LOCK_WAIT_S} 9`;
    if (!text.includes(from)) throw new Error("no lock in the script");
    return text.split(from).join("flock -w 1 9");
  };
  const apply = (port: number, t = T, edit = (s: string) => s) =>
    host.run(edit(armedNatCreate(at(port, t).spec, at(port, t).rule)));
  const confirm = (port: number, id: string, edit = (s: string) => s) =>
    host.run(edit(natConfirm(at(port).spec, at(port).rule, id)));
  const applied = (port: number, t = T): string => {
    const r = apply(port, t);
    expect(r.status).toBe(0);
    const id = armedId(r.stdout);
    expect(id).not.toBe("none");
    return id;
  };
  const confirmed = (port: number, id: string): void => {
    const r = confirm(port, id);
    expect(r.stderr).toContain(`incus-tenant: ${TAG}: confirmed over a new SSH connection\n`);
    expect(r.status).toBe(0);
  };
  const grepTag = (file: string) => `grep -F -- '--comment "${TAG}"' ${file} || true`;
  const live = (): string[] =>
    host
      .sh(`iptables-save -t nat | ${grepTag("")}`)
      .split("\n")
      .filter(Boolean);
  const persisted = (): string[] => host.sh(grepTag(RULES_FILE)).split("\n").filter(Boolean);
  const file = (name: string): string | undefined => {
    const r = host.run(`cat ${DIR}/${name}`);
    return r.status === 0 ? r.stdout : undefined;
  };
  /** Everything the scripts change (rules, rules.v4, rollback state except the watchdog logs). */
  const snapshot = (): string =>
    host.sh(
      `iptables-save -t nat | grep '^-A'; cat ${RULES_FILE}; ` +
        `cd ${DIR} && for f in $(ls | grep -v '\\.log$'); do echo "== $f"; cat "$f"; done`,
    );

  test("an older unconfirmed watchdog leaves a newer confirmed change alone", async () => {
    confirmed(80, applied(80));
    const older = applied(81);
    const newer = applied(82);
    confirmed(82, newer);
    await sleep(T + 1.5);
    expect(live()).toEqual([lineTo(82)]);
    expect(persisted()).toEqual([lineTo(82)]);
    expect(file(`${older}.rolled-back`)).toBeUndefined();
    expect(file(`${older}.log`)).toBe(
      `incus-tenant: ${TAG}: watchdog ${older}: superseded by the newer generation 3; leaving the rule alone\n`,
    );
    expect(file("gen")).toBe("3\n");
  });

  test("a newer apply supersedes the pending one; its rollback lands on the last CONFIRMED lines", async () => {
    confirmed(80, applied(80));
    const older = applied(81, T);
    const r = apply(82, T + 2);
    expect(r.stderr).toContain(
      `incus-tenant: ${TAG}: supersedes the unconfirmed change ${older} (its watchdog stands down)\n`,
    );
    const newer = armedId(r.stdout);
    expect(file(`${newer}.old`)).toBe(`${lineTo(80)}\n`);
    await sleep(T + 1);
    expect(file(`${older}.log`)).toBe(
      `incus-tenant: ${TAG}: watchdog ${older}: superseded by the newer generation 3; leaving the rule alone\n`,
    );
    expect(live()).toEqual([lineTo(82)]);
    expect(persisted()).toEqual([lineTo(80)]);
    await sleep(2.5);
    expect(live()).toEqual([lineTo(80)]);
    expect(file(`${newer}.log`)).toBe(
      `incus-tenant: NAT change ${TAG} rolled back: not confirmed within ${T + 2}s\n`,
    );
    expect(file(`${older}.rolled-back`)).toBeUndefined();
    expect(file(`${newer}.rolled-back`)).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ\n$/);
    // The superseded change's confirmation comes too late: it confirms and re-applies nothing.
    const late = confirm(81, older);
    expect(late.status).toBe(0);
    expect(late.stderr).toBe(
      `incus-tenant: ${TAG}: the change ${older} is no longer pending (newest generation: 3); nothing to confirm\n`,
    );
    expect(live()).toEqual([lineTo(80)]);
  });

  test("lock held by another process: apply, confirmation and watchdog abort, nothing changed", async () => {
    confirmed(80, applied(80));
    const r = apply(81, T, shortLock);
    const id = armedId(r.stdout);
    expect(id).not.toBe("none");
    const lock = await host.holdLock();
    try {
      const before = snapshot();
      const a = apply(82, T, shortLock);
      expect([a.status, a.stdout, a.stderr]).toEqual([1, "", `incus-tenant: ${lockBusyMessage(TAG)}\n`]);
      expect(snapshot()).toBe(before);
      const c = confirm(81, id, shortLock);
      expect([c.status, c.stdout, c.stderr]).toEqual([
        1,
        "",
        `incus-tenant: ${lockBusyMessage(`${TAG}: confirm`)}\n`,
      ]);
      expect(snapshot()).toBe(before);
      await sleep(T + 2);
      expect(file(`${id}.log`)).toBe(`incus-tenant: ${lockBusyMessage(`${TAG}: watchdog`)}\n`);
      expect(snapshot()).toBe(before);
      expect(live()).toEqual([lineTo(81)]);
      expect(file("pending")).toBe(`${id}\n`);
    } finally {
      lock.release();
    }
    confirmed(81, id);
    expect(persisted()).toEqual([lineTo(81)]);
  });

  test("an unconfirmed change never reaches rules.v4 (whoever persists); a reboot comes back confirmed", async () => {
    confirmed(80, applied(80));
    expect(persisted()).toEqual([lineTo(80)]);
    const pending = applied(81, 60);
    expect(persisted()).toEqual([lineTo(80)]);
    // Other tags persist (jumps and masquerade, another NAT rule's confirmation): this rule's
    // unconfirmed change is replaced by its confirmed lines in the file they write.
    expect(host.run(renderChains(base).create).status).toBe(0);
    expect(persisted()).toEqual([lineTo(80)]);
    const other = base.nat.find((x) => x.key === "tcp-80")!;
    const otherId = armedId(host.run(armedNatCreate(base, other)).stdout);
    expect(host.run(natConfirm(base, other, otherId)).status).toBe(0);
    const rules = host.sh(`cat ${RULES_FILE}`);
    expect(rules).toContain(`${dnatLines(base, other)[0]}\n`);
    expect(persisted()).toEqual([lineTo(80)]);
    expect(host.run(`iptables-restore --test < ${RULES_FILE}`).status).toBe(0);
    // Reboot: the watchdog dies, the boot unit restores rules.v4.
    host.killWatchdogs();
    host.sh(`iptables -t nat -F && iptables -t nat -X && iptables-restore < ${RULES_FILE}`);
    expect(live()).toEqual([lineTo(80)]);
    // The next apply forgets the change that is no longer live and arms a new one.
    const again = apply(81);
    expect(again.stderr).toContain(
      `incus-tenant: ${TAG}: the unconfirmed change ${pending} is no longer live; forgotten\n`,
    );
    const id = armedId(again.stdout);
    confirmed(81, id);
    expect(persisted()).toEqual([lineTo(81)]);
    // A restore by the watchdog writes rules.v4 itself.
    applied(82);
    host.sh(`rm ${RULES_FILE}`);
    await sleep(T + 1.5);
    expect(live()).toEqual([lineTo(81)]);
    expect(persisted()).toEqual([lineTo(81)]);
  });

  test("re-apply: no new generation, the pending id reported; back to the confirmed lines arms nothing", async () => {
    const first = applied(80);
    const same = apply(80);
    expect(same.stdout).toBe(`rollback armed: ${first} (still unconfirmed)\n`);
    expect(same.stderr).toBe(`incus-tenant: ${TAG}: unchanged; the change ${first} is still unconfirmed\n`);
    confirmed(80, first);
    const twice = confirm(80, first);
    expect(twice.stderr).toBe(`incus-tenant: ${TAG}: the change ${first} is already confirmed\n`);
    const quiet = apply(80);
    expect([quiet.status, quiet.stdout, quiet.stderr]).toEqual([0, "", `incus-tenant: ${TAG}: unchanged\n`]);
    const moved = applied(81);
    const back = apply(80);
    expect(back.stdout).toBe("");
    expect(back.stderr).toBe(
      `incus-tenant: ${TAG}: supersedes the unconfirmed change ${moved} (its watchdog stands down)\n` +
        `incus-tenant: ${TAG}: changed back to its last confirmed lines; nothing to confirm\n`,
    );
    await sleep(T + 1.5);
    expect(live()).toEqual([lineTo(80)]);
    expect(file(`${moved}.log`)).toBe(
      `incus-tenant: ${TAG}: watchdog ${moved}: superseded by the newer generation 3; leaving the rule alone\n`,
    );
    expect(file("gen")).toBe("3\n");
  });
});
