/**
 * LXD → Incus migration end to end on the real test bed (issue 5): three running LXD containers
 * (one with a host disk device, one with an LXD proxy device, all with data files and an HTTP
 * service as a systemd unit) move to Incus through the real index.ts under the engine double.
 * Scenarios: lxdAddress pointing at a TLS endpoint with another certificate (a throwaway
 * `openssl s_server` this file starts on 127.0.0.1 and stops by PID) stops the migration before
 * anything moves (issue 11), as does a wrong pinned migration.lxdFingerprint; a cutover failure
 * injected at start rolls back; the copy process killed mid-copy, then a re-run completes; the
 * result runs at the configured addresses, without proxy devices, with equal checksums, and
 * answers through the NAT from the client namespace; the manifest folder is 0700, its files 0600.
 */
import { ChildProcess, spawn, spawnSync } from "child_process";
import * as fs from "fs";
import * as net from "net";
import * as os from "os";
import * as path from "path";
import { runProgram, RunResult } from "../harness";
import { parseTenant } from "../../model";
import { MARK_KEY, MOVED_KEY } from "../../render/migration";
import { client, containers, describeOnTestbed, ROOT, tempState, TestbedEnv } from "./testbed";
import {
  lxcStatus,
  lxdFingerprint,
  makeSource,
  migrationHarnessConfig,
  migrationTenant,
  sh,
  shOk,
  treeSum,
} from "./lxd-source";

jest.setTimeout(30 * 60 * 1000);
const INDEX = path.join(ROOT, "index.ts");
const NAMES = ["mig-web", "mig-db", "mig-files"] as const;
const IPS: Record<string, string> = {
  "mig-web": "198.18.2.40",
  "mig-db": "198.18.2.41",
  "mig-files": "198.18.2.42",
};
const PORTS: Record<string, number> = { "mig-web": 9080, "mig-db": 9081, "mig-files": 9082 };
const SRC_DATA = "/var/tmp/itn-mig-src/mig-files";
const DST_DATA = "/var/tmp/itn-mig-dst/mig-files";
const MISSING = "/var/tmp/itn-mig-missing";
const REMOTE = "itn-mig-src";
const MANIFEST = "/var/lib/incus-tenant/migrations/mig";
/** The remote's stored server certificate (Incus' client config of root, who runs the scripts). */
const SERVERCERT = `/root/.config/incus/servercerts/${REMOTE}.crt`;
/** sha256 of a PEM certificate file, lower-case hex without colons (as LXD prints it). */
const fpOfFile = (file: string): string =>
  sh(`openssl x509 -in ${file} -noout -fingerprint -sha256 | sed 's/.*=//; s/://g' | tr 'A-F' 'a-f'`).trim();
const freePort = (): Promise<number> =>
  new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const port = (srv.address() as net.AddressInfo).port;
      srv.close(() => resolve(port));
    });
  });

describeOnTestbed("LXD -> Incus migration on the real test bed", (env: TestbedEnv) => {
  const tenant = migrationTenant(env, {
    name: "mig",
    containers: {
      "mig-web": { ipv4: IPS["mig-web"] },
      "mig-db": { ipv4: IPS["mig-db"] },
      "mig-files": {
        ipv4: IPS["mig-files"],
        devices: { data: { type: "disk", source: DST_DATA, path: "/srv/host" } },
      },
    },
    ports: PORTS,
    migration: {
      remote: REMOTE,
      data: { "mig-files": { source: SRC_DATA, destination: DST_DATA, owner: "root:root" } },
      parallel: 1, // one at a time: the failure scenarios below assert on exactly which container moved
      healthTimeout: 60,
      lxdFingerprint: lxdFingerprint(), // pinned: the happy path runs with the pin checked
    },
  });
  expect(parseTenant(tenant).migration?.containers.map((c) => c.source)).toEqual([...NAMES]);
  const state = tempState("migration");
  const apply = (t: unknown = tenant, log?: (l: string) => void): Promise<RunResult> =>
    runProgram({
      programPath: INDEX,
      ...migrationHarnessConfig(env, t),
      stateFile: state,
      stack: "mig",
      ...(log ? { log } : {}),
    });
  const sums: Record<string, string> = {};
  let httpsBefore = "";
  /** The impostor: a TLS endpoint on 127.0.0.1 presenting a throwaway self-signed certificate. */
  const tlsDir = fs.mkdtempSync(path.join(os.tmpdir(), "itn-mig-tls-"));
  let impostor: ChildProcess | undefined;
  let impostorPort = 0;

  beforeAll(() => {
    // What a crashed earlier run of this file may have left of its remote (same exact name only).
    spawnSync("bash", ["-c", `incus remote remove ${REMOTE} >/dev/null 2>&1; rm -f ${SERVERCERT}`]);
    httpsBefore = sh("lxc config get core.https_address").trim();
    sh(
      `mkdir -p ${SRC_DATA} && head -c 12M /dev/urandom > ${SRC_DATA}/blob && for i in $(seq 50); ` +
        `do echo "file $i" > ${SRC_DATA}/f$i; done`,
    );
    makeSource("mig-web");
    makeSource("mig-db", { proxyListen: "tcp:127.0.0.1:19081" });
    makeSource("mig-files", { disk: { source: SRC_DATA, path: "/srv/host" } });
    for (const n of NAMES) sums[n] = treeSum(`lxc exec ${n} --`, "/srv/data");
    sums.host = treeSum("", SRC_DATA);
  });

  afterAll(async () => {
    if (impostor?.pid) process.kill(impostor.pid, "SIGTERM");
    fs.rmSync(tlsDir, { recursive: true, force: true });
    const config = migrationHarnessConfig(env, tenant);
    const r = await runProgram({
      programPath: INDEX,
      ...config,
      stateFile: state,
      stack: "mig",
      destroy: true,
    });
    if (r.error) process.stdout.write(`destroy: ${r.error.message}\n`);
    for (const n of NAMES) {
      spawnSync("bash", [
        "-c",
        `incus config set ${n} security.protection.delete=false >/dev/null 2>&1; ` +
          `incus delete --force ${n} >/dev/null 2>&1; lxc delete --force ${n} >/dev/null 2>&1`,
      ]);
    }
    spawnSync("bash", [
      "-c",
      `incus remote remove ${REMOTE} >/dev/null 2>&1; rm -rf /var/tmp/itn-mig-src /var/tmp/itn-mig-dst ` +
        `${MISSING} /var/lib/incus-tenant/migrations/mig`,
    ]);
    if (httpsBefore === "") spawnSync("bash", ["-c", "lxc config unset core.https_address"]);
  });

  test("preflight names every problem and touches nothing", async () => {
    const bad = JSON.parse(JSON.stringify(tenant));
    bad.migration.sourcePrefix = "nope-";
    const r = await apply(bad);
    expect(r.error?.message).toContain("migration preflight found 3 problem(s); nothing was changed:");
    for (const n of NAMES)
      expect(r.error?.message).toContain(
        `source container nope-${n} (for ${n}) does not exist on LXD at 127.0.0.1`,
      );
    expect(r.ran.map((c) => c.name)).toEqual(expect.arrayContaining(["mig-migration-preflight"]));
    expect(r.ran.some((c) => c.name.includes("trust") || c.name.includes("precopy"))).toBe(false);
    expect(containers().filter((c) => (NAMES as readonly string[]).includes(c.name))).toEqual([]);
    expect(fs.existsSync("/var/lib/incus-tenant/migrations/mig/manifest.txt")).toBe(false);
  });

  test("lxdAddress presenting another certificate than LXD's: the trust step stops before anything moves", async () => {
    const key = `${tlsDir}/key.pem`;
    const crt = `${tlsDir}/crt.pem`;
    sh(
      "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1 -subj /CN=itn-impostor " +
        `-keyout ${key} -out ${crt} 2>/dev/null`,
    );
    impostorPort = await freePort();
    const accept = `127.0.0.1:${impostorPort}`;
    const args = ["s_server", "-accept", accept, "-cert", crt, "-key", key, "-quiet", "-www"];
    impostor = spawn("openssl", args, { stdio: "ignore" });
    const up = () => shOk(`timeout 2 openssl s_client -connect ${accept} < /dev/null > /dev/null 2>&1`);
    for (let i = 0; i < 50 && !up(); i++) sh("sleep 0.1");
    // LXD already listens (on its own 8443): the destination is pointed at the impostor instead.
    if (sh("lxc config get core.https_address").trim() === "")
      sh("lxc config set core.https_address 127.0.0.1:8443");
    const impostorFp = fpOfFile(`${tlsDir}/crt.pem`);
    const lxdFp = lxdFingerprint();
    expect(impostorFp).toMatch(/^[0-9a-f]{64}$/);
    expect(lxdFp).toMatch(/^[0-9a-f]{64}$/);
    expect(impostorFp).not.toBe(lxdFp);
    const wrong = JSON.parse(JSON.stringify(tenant));
    wrong.migration.lxdAddress = `127.0.0.1:${impostorPort}`;
    const r = await apply(wrong);
    expect(r.error?.message).toContain(
      `the certificate at 127.0.0.1:${impostorPort} (sha256 ${impostorFp}) is not the certificate ` +
        `of LXD on 127.0.0.1 (sha256 ${lxdFp}, read over SSH): the remote was not added and nothing was moved`,
    );
    const ran = r.ran.map((c) => `${c.name} ${c.exitCode}`);
    expect(ran).toEqual(expect.arrayContaining(["mig-migration-preflight 0", "mig-migration-trust 1"]));
    expect(ran.filter((c) => /precopy|cutover|cleanup|instance|nat/.test(c))).toEqual([]);
    // Nothing moved, nothing trusted: no destination instance, no remote, no stored certificate, sources running.
    for (const n of NAMES) {
      expect(shOk(`incus info ${n}`)).toBe(false);
      expect(lxcStatus(n)).toBe("RUNNING");
    }
    expect(
      sh("incus remote list --format csv")
        .split("\n")
        .map((l) => l.split(",")[0]),
    ).not.toContain(REMOTE);
    expect(fs.existsSync(SERVERCERT)).toBe(false);
    expect(sh("lxc config trust list --format csv")).not.toContain("incus-tenant-mig");
  });

  test("a wrong pinned migration.lxdFingerprint stops the trust step the same way", async () => {
    const pinned = JSON.parse(JSON.stringify(tenant));
    const bad = "00".repeat(32);
    pinned.migration.lxdFingerprint = bad;
    const r = await apply(pinned);
    expect(r.error?.message).toContain(
      `LXD on 127.0.0.1 has the certificate sha256 ${lxdFingerprint()}, ` +
        `not the pinned migration.lxdFingerprint ${bad}: the remote was not added and nothing was moved`,
    );
    expect(r.ran.some((c) => c.name.includes("precopy"))).toBe(false);
    expect(
      sh("incus remote list --format csv")
        .split("\n")
        .map((l) => l.split(",")[0]),
    ).not.toContain(REMOTE);
    for (const n of NAMES) expect(shOk(`incus info ${n}`)).toBe(false);
  });

  test("the copy process killed mid-copy fails that step only; sources keep serving", async () => {
    // Poll for the copy process from a separate process (the harness spawns ssh only after the
    // log line returns) and kill exactly that PID.
    let killer: ReturnType<typeof spawn> | undefined;
    let killed = "";
    const r = await apply(tenant, (line) => {
      if (killer || !/^create mig-migration-precopy-mig-files started/.test(line)) return;
      const poll =
        "for i in $(seq 600); do " +
        `pid=$(pgrep -f -x 'incus copy ${REMOTE}:mig-files mig-files --instance-only --stateless -s itn-pool .*' ` +
        '| head -n1); if [ -n "$pid" ]; then sleep 0.5; kill -9 "$pid" && echo "$pid"; exit 0; fi; sleep 0.05; done';
      killer = spawn("bash", ["-c", poll], { stdio: ["ignore", "pipe", "ignore"] });
      killer.stdout?.on("data", (b: Buffer) => (killed += b.toString().trim()));
    });
    expect(killed).not.toBe("");
    expect(r.error?.message).toContain("mig-migration-precopy-mig-files failed");
    // The daemons finish the interrupted copy on their own (the next run waits for it: ops_wait);
    // LXD freezes a running source for the last pass of such a copy and thaws it after. The
    // step's script now ends at once (no lingering ticker), so the source may still be in that
    // pass here: it is back RUNNING within the bound, and was never stopped.
    for (let i = 0; i < 600 && NAMES.some((n) => lxcStatus(n) !== "RUNNING"); i++) sh("sleep 0.2");
    for (const n of NAMES) expect(lxcStatus(n)).toBe("RUNNING");
    expect(r.ran.some((c) => c.name.includes("cutover"))).toBe(false);
    expect(sh("cat /var/lib/incus-tenant/migrations/mig/manifest.txt")).toContain("mig-files <- mig-files");
    // The remote holds exactly LXD's certificate (checked by the trust step after `remote add`).
    expect(fpOfFile(SERVERCERT)).toBe(lxdFingerprint());
  });

  test(
    "a cutover failure injected at the copy's start rolls back: source running again, no half copy, " +
      "error names what moved",
    async () => {
      const broken = JSON.parse(JSON.stringify(tenant));
      // The started copy never answers on tcp/81: verification after `incus start` fails.
      broken.containers["mig-web"].ports = [80, 81];
      broken.migration.healthTimeout = 10;
      const r = await apply(broken);
      expect(r.error?.message).toContain("incus-tenant: mig-web: starting the copy at 198.18.2.40");
      expect(r.error?.message).toContain("verification failed: mig-web answers on tcp/81 within 10s");
      expect(r.error?.message).toContain(
        'migration cutover of mig-web -> mig-web failed at "verifying" (exit 1); rolled back: ' +
          "sources started again, partial copies removed.",
      );
      expect(r.error?.message).toContain(
        "moved to Incus: none; not moved (still on LXD): mig-web mig-db mig-files",
      );
      expect(lxcStatus("mig-web")).toBe("RUNNING");
      expect(shOk("incus info mig-web")).toBe(false);
      // The interrupted pre-copy of mig-files was resumed; the others are pre-copied, sources still serve.
      for (const n of ["mig-db", "mig-files"]) {
        expect(sh(`incus config get ${n} ${MARK_KEY}`).trim()).toBe(`${REMOTE}:${n}`);
        expect(lxcStatus(n)).toBe("RUNNING");
      }
    },
  );

  test(
    "a re-run completes: running at the configured addresses, no proxy devices, equal checksums, " +
      "NAT answers",
    async () => {
      const again = await apply();
      expect(again.error).toBeUndefined();
      const live = containers().filter((c) => (NAMES as readonly string[]).includes(c.name));
      expect(live.map((c) => [c.name, c.status, c.ipv4, c.proxyDevices])).toEqual(
        [...NAMES].sort().map((n) => [n, "Running", [IPS[n]], []]),
      );
      for (const n of NAMES) {
        expect(lxcStatus(n)).toBe("STOPPED"); // kept, stopped and intact (cleanupSource: false)
        expect(sh(`incus config get ${n} ${MOVED_KEY}`).trim()).toBe("true");
        expect(treeSum(`incus exec ${n} --`, "/srv/data")).toBe(sums[n]);
        const out = client(env, `curl -sS -m 10 http://${env.HOST_EXT_IP}:${PORTS[n]}/`);
        expect(out.stdout).toContain(`${n}-data`);
      }
      expect(treeSum("", DST_DATA)).toBe(sums.host);
      expect(treeSum("incus exec mig-files --", "/srv/host")).toBe(sums.host);
      expect(sh("incus exec mig-files -- stat -c %U:%G /srv/host/blob").trim()).toBe("root:root");
      expect(sh("lxc config device list mig-db")).toContain("web"); // the source keeps its proxy device
      expect(sh("incus config device list mig-db")).not.toContain("web");
      expect(sh("lxc config device list mig-files")).toContain("data");
      expect(sh("incus config device get mig-files data source").trim()).toBe(DST_DATA);
      // The manifest (copies of `lxc config show`) is private: folder 0700, every file 0600.
      expect(sh(`stat -c %a ${MANIFEST}`).trim()).toBe("700");
      const modes = sh(`find ${MANIFEST} -mindepth 1 -printf '%f %y %m\\n'`).trim().split("\n");
      expect(modes.length).toBeGreaterThan(5);
      for (const l of modes) expect(l).toMatch(/^\S+ f 600$/);
    },
  );

  test("a re-run changes nothing", async () => {
    const r = await apply();
    expect(r.error).toBeUndefined();
    expect(r.ran).toEqual([]);
  });
});
