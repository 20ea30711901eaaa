/**
 * LXD → Incus migration in one tenant-wide window with `cleanupSource: true`, end to end on the
 * real test bed (issue 5). Two running LXD containers named with a source prefix ("old-"), one of
 * them with host data mounted from the source host, move with `cutover: tenant`. The data follows
 * seed 002's rule (issue 12): copied into the container's own filesystem (data mode `copy`, the
 * default without a disk device), not mounted:
 * - a verification failure of the second container in the window rolls that one back (source
 *   running again, no copy) while the first, already verified, stays on Incus; the error names
 *   both sets and the cleanup does not run;
 * - a re-run moves the rest, then deletes the sources and the source data (cleanupSource); the data
 *   is inside mt-b at /srv/host (equal checksums, owned by the stack's owner), with no disk device;
 * - the source host's SSH key (sent on stdin) appears in no log line, error or stored output.
 */
import * as fs from "fs";
import * as path from "path";
import { runProgram, RunResult } from "../harness";
import { parseTenant } from "../../model";
import { MOVED_KEY } from "../../render/migration";
import { client, containers, describeOnTestbed, ROOT, tempState, TestbedEnv } from "./testbed";
import {
  lxcStatus,
  makeSource,
  migrationHarnessConfig,
  migrationTenant,
  sh,
  shOk,
  treeSum,
} from "./lxd-source";

jest.setTimeout(30 * 60 * 1000);
const INDEX = path.join(ROOT, "index.ts");
const NAMES = ["mt-a", "mt-b"] as const;
const IPS: Record<string, string> = { "mt-a": "198.18.2.45", "mt-b": "198.18.2.46" };
const PORTS: Record<string, number> = { "mt-a": 9085, "mt-b": 9086 };
const SRC_DATA = "/var/tmp/itn-mt-src/mt-b";
const DST_DATA = "/var/tmp/itn-mt-dst/mt-b";
const REMOTE = "itn-mt-src";
const source = (n: string): string => `old-${n}`;

describeOnTestbed("LXD -> Incus migration, tenant-wide cutover and source cleanup", (env: TestbedEnv) => {
  const tenant = migrationTenant(env, {
    name: "mt",
    containers: {
      "mt-a": { ipv4: IPS["mt-a"] },
      "mt-b": { ipv4: IPS["mt-b"] }, // no disk device: the data is copied into the container
    },
    ports: PORTS,
    migration: {
      remote: REMOTE,
      sourcePrefix: "old-",
      data: {
        "mt-b": { source: SRC_DATA, destination: DST_DATA, path: "/srv/host", owner: "daemon:daemon" },
      },
      parallel: 2,
      cutover: "tenant",
      cleanupSource: true,
      healthTimeout: 60,
    },
  });
  expect(parseTenant(tenant).migration?.containers.map((c) => c.source)).toEqual(["old-mt-a", "old-mt-b"]);
  expect(parseTenant(tenant).migration?.containers[1].data?.mode).toBe("copy");
  const state = tempState("migration-tenant");
  const lines: string[] = [];
  const apply = (t: unknown = tenant): Promise<RunResult> =>
    runProgram({
      programPath: INDEX,
      ...migrationHarnessConfig(env, t),
      stateFile: state,
      stack: "mt",
      log: (l) => lines.push(l),
    });
  const sums: Record<string, string> = {};
  let httpsBefore = "";

  beforeAll(() => {
    httpsBefore = sh("lxc config get core.https_address").trim();
    sh(
      `mkdir -p ${SRC_DATA} && head -c 4M /dev/urandom > ${SRC_DATA}/blob && for i in $(seq 20); ` +
        `do echo "file $i" > ${SRC_DATA}/f$i; done`,
    );
    makeSource(source("mt-a"));
    makeSource(source("mt-b"), { disk: { source: SRC_DATA, path: "/srv/host" } });
    for (const n of NAMES) sums[n] = treeSum(`lxc exec ${source(n)} --`, "/srv/data");
    sums.host = treeSum("", SRC_DATA);
  });

  afterAll(async () => {
    const config = migrationHarnessConfig(env, tenant);
    const r = await runProgram({
      programPath: INDEX,
      ...config,
      stateFile: state,
      stack: "mt",
      destroy: true,
    });
    if (r.error) process.stdout.write(`destroy: ${r.error.message}\n`);
    for (const n of NAMES) {
      sh(
        `incus config set ${n} security.protection.delete=false >/dev/null 2>&1; ` +
          `incus delete --force ${n} >/dev/null 2>&1; lxc delete --force ${source(n)} >/dev/null 2>&1; true`,
      );
    }
    sh(
      `incus remote remove ${REMOTE} >/dev/null 2>&1; rm -rf /var/tmp/itn-mt-src /var/tmp/itn-mt-dst ` +
        "/var/lib/incus-tenant/migrations/mt; true",
    );
    if (httpsBefore === "") sh("lxc config unset core.https_address; true");
  });

  test(
    "a failure in the tenant-wide window rolls back the failing container; the verified one stays; " +
      "no cleanup",
    async () => {
      const broken = JSON.parse(JSON.stringify(tenant));
      broken.containers["mt-b"].ports = [80, 81]; // the copy never answers on tcp/81
      broken.migration.healthTimeout = 10;
      const r = await apply(broken);
      expect(r.error?.message).toContain("verification failed: mt-b answers on tcp/81 within 10s");
      expect(r.error?.message).toContain(
        'migration cutover of 2 containers in one window failed at "verifying" (exit 1); rolled back',
      );
      expect(r.error?.message).toContain("moved to Incus: mt-a; not moved (still on LXD): mt-b");
      const names = r.ran.map((c) => c.name);
      expect(names).toEqual(
        expect.arrayContaining([
          "mt-migration-precopy-mt-a",
          "mt-migration-precopy-mt-b",
          "mt-migration-cutover",
        ]),
      );
      expect(names.some((n) => n.endsWith("-cleanup"))).toBe(false);
      expect(lxcStatus(source("mt-b"))).toBe("RUNNING");
      expect(shOk("incus info mt-b")).toBe(false);
      expect(lxcStatus(source("mt-a"))).toBe("STOPPED");
      expect(sh(`incus config get mt-a ${MOVED_KEY}`).trim()).toBe("true");
      expect(fs.existsSync(SRC_DATA)).toBe(true);
    },
  );

  test("a re-run moves the rest, then deletes the sources and their data (cleanupSource)", async () => {
    const r = await apply();
    expect(r.error).toBeUndefined();
    const names = r.ran.map((c) => c.name);
    expect(names.indexOf("mt-migration-cleanup")).toBeGreaterThan(names.indexOf("mt-migration-cutover"));
    const live = containers().filter((c) => (NAMES as readonly string[]).includes(c.name));
    expect(live.map((c) => [c.name, c.status, c.ipv4, c.proxyDevices])).toEqual(
      NAMES.map((n) => [n, "Running", [IPS[n]], []]),
    );
    for (const n of NAMES) {
      expect(lxcStatus(source(n))).toBe(""); // deleted on the source LXD
      expect(treeSum(`incus exec ${n} --`, "/srv/data")).toBe(sums[n]);
      expect(client(env, `curl -sS -m 10 http://${env.HOST_EXT_IP}:${PORTS[n]}/`).stdout).toContain(
        `${source(n)}-data`,
      );
    }
    expect(fs.existsSync(SRC_DATA)).toBe(false);
    expect(treeSum("", DST_DATA)).toBe(sums.host); // the staging copy on the host stays
    // Seed 002: copied into the container's filesystem, owned by the stack's owner, not mounted.
    expect(treeSum("incus exec mt-b --", "/srv/host")).toBe(sums.host);
    expect(
      sh("incus exec mt-b -- stat -c %U:%G /srv/host /srv/host/blob /srv/host/f7").trim().split("\n"),
    ).toEqual(["daemon:daemon", "daemon:daemon", "daemon:daemon"]);
    const devices = sh("incus config device list mt-b").trim().split("\n");
    expect(devices.filter((d) => d !== "root")).toEqual(["eth0"]);
    expect(sh("incus exec mt-b -- findmnt -n -o TARGET --target /srv/host").trim()).toBe("/");
  });

  test("a re-run changes nothing", async () => {
    const r = await apply();
    expect(r.error).toBeUndefined();
    expect(r.ran).toEqual([]);
  });

  test("the source host's key is in no log line, command text or stored output", () => {
    const body = fs
      .readFileSync(env.SSH_KEY, "utf8")
      .split("\n")
      .filter((l) => l.length > 40 && !l.startsWith("-----"));
    expect(body.length).toBeGreaterThan(0);
    // Every stored stdout/stderr and command text (the state keeps them unwrapped, as plain text).
    const texts: string[] = [];
    const walk = (v: unknown, key = ""): void => {
      if (typeof v === "string" && ["stdout", "stderr", "create", "update", "delete"].includes(key))
        texts.push(v);
      else if (v !== null && typeof v === "object") for (const [k, x] of Object.entries(v)) walk(x, k);
    };
    walk(JSON.parse(fs.readFileSync(state, "utf8")));
    const progress = texts.filter((t) => t.includes("cutover done: moved to Incus: mt-a mt-b"));
    expect(progress.length).toBe(1); // the cutover's progress lines are stored (and shown) as its output
    expect(lines.length).toBeGreaterThan(10);
    for (const l of body) {
      expect(texts.some((t) => t.includes(l))).toBe(false);
      expect(lines.some((x) => x.includes(l))).toBe(false);
    }
  });
});
