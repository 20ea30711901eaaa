/**
 * DNS zone and Corefile host scripts run for real with bash against a fake `incus` (a shim that
 * maps the dns container's paths into a temp folder, tests/unit/zoneFixtures.ts), so the serial
 * logic is exercised as it runs on the host; and the DnsZone components under setMocks.
 * CoreDNS itself cannot be installed here.
 */
import * as fs from "fs";
import * as path from "path";
import type { MockResourceArgs } from "@pulumi/pulumi/runtime";
import { DnsSpec, ZoneSpec } from "../../model/zones";
import { renderCorefile, renderCorefileScripts, renderZone, renderZoneScripts } from "../../render/zone";
import { BACKUPS_KEPT, remoteBash } from "../../render/shell";
import { unwrapSecrets } from "./mockRuntime";
import { base, derive, FakeHost, zoneA, zoneB } from "./zoneFixtures";

const TEST_TODAY = 'printf %s "$ITN_TODAY"';
const FILE = "/opt/gbo/data/example.com.zone";
const serialOf = (text: string | undefined): string | undefined =>
  /^ {8}(\d{10}) ; serial$/m.exec(text ?? "")?.[1];

describe("zone script run by bash against a fake incus (serial on the host)", () => {
  let host: FakeHost;
  const dns = derive(base());
  const apply = (zone: ZoneSpec, today: string, spec: DnsSpec = dns) =>
    host.run(renderZoneScripts(spec, zone, TEST_TODAY).create, today);
  beforeEach(() => (host = new FakeHost()));
  afterEach(() => host.destroy());

  test("first write: today's 00, the exact rendered file, checked by named-checkzone in the container", () => {
    const r = apply(zoneA(), "20261122");
    expect(r.stderr).toContain("incus-tenant: zone example.com: named-checkzone ok\n");
    expect(r.status).toBe(0);
    expect(host.read(FILE)).toBe(renderZone(zoneA(), "2026112200"));
    expect(host.backups("/opt/gbo/data")).toEqual([]);
    const tempName = new RegExp(
      `^file push --mode 0644 - dns${FILE.replace(/\./g, "\\.")}\\.[A-Za-z0-9]{8}$`,
    );
    expect(host.calls().filter((c) => tempName.test(c))).toHaveLength(1);
    expect(host.temps("/opt/gbo/data")).toEqual([]);
    expect(host.calls().some((c) => c.includes("pkill"))).toBe(false);
  });
  test("unchanged: same serial, nothing written, even on a later day", () => {
    apply(zoneA(), "20261122");
    const r = apply(zoneA(), "20261130");
    expect(r.status).toBe(0);
    expect(r.stderr).toContain("incus-tenant: zone example.com: unchanged (serial 2026112200)\n");
    expect(serialOf(host.read(FILE))).toBe("2026112200");
    expect(host.calls().some((c) => c.startsWith("file push"))).toBe(false);
  });
  test("change: bump; two changes on one day: NN+1; with a dated backup of the old file", () => {
    apply(zoneA(), "20261122");
    expect(apply(zoneB(), "20261122").status).toBe(0);
    expect(host.read(FILE)).toBe(renderZone(zoneB(), "2026112201"));
    expect(apply(zoneA(), "20261122").status).toBe(0);
    expect(serialOf(host.read(FILE))).toBe("2026112202");
    expect(
      host
        .backups("/opt/gbo/data")
        .map((f) => f.replace(/bak-\d{14}-/, "bak-<time>-"))
        .sort(),
    ).toEqual(["example.com.zone.bak-<time>-2026112200", "example.com.zone.bak-<time>-2026112201"]);
    const backupOf01 = host.backups("/opt/gbo/data").find((f) => f.endsWith("-2026112201"))!;
    expect(host.read(`/opt/gbo/data/${backupOf01}`)).toBe(renderZone(zoneB(), "2026112201"));
  });
  test(`a change keeps the newest ${BACKUPS_KEPT} backups of the zone file; unchanged re-applies remove none`, () => {
    apply(zoneA(), "20261122");
    const old = [1, 2, 3, 4, 5, 6].map((i) => `example.com.zone.bak-2020010100000${i}-202001010${i}`);
    for (const f of old) host.write(`/opt/gbo/data/${f}`, "old\n");
    expect(apply(zoneA(), "20261122").status).toBe(0);
    expect(host.backups("/opt/gbo/data").sort()).toEqual(old);
    const r = apply(zoneB(), "20261122");
    expect(r.status).toBe(0);
    expect(r.stderr).toContain(`zone example.com: 2 old backup(s) removed (the newest ${BACKUPS_KEPT} kept)`);
    const left = host.backups("/opt/gbo/data").sort();
    expect(left).toHaveLength(BACKUPS_KEPT);
    expect(left.slice(0, 4)).toEqual(old.slice(2));
    expect(left[4]).toMatch(/^example\.com\.zone\.bak-\d{14}-2026112200$/);
  });
  test("change on a later day: that day's 00", () => {
    apply(zoneA(), "20261122");
    apply(zoneB(), "20261125");
    expect(serialOf(host.read(FILE))).toBe("2026112500");
  });
  test("old serial from a later date: old + 1", () => {
    host.write(FILE, renderZone(zoneA(), "2027010105"));
    const r = apply(zoneB(), "20261122");
    expect(r.stderr).toContain(
      "serial 2027010106 written to /opt/gbo/data/example.com.zone (was 2027010105)",
    );
    expect(serialOf(host.read(FILE))).toBe("2027010106");
    expect(apply(zoneB(), "20261122").stderr).toContain("unchanged (serial 2027010106)");
  });
  test("a hand edit of the body counts as a change (and is overwritten)", () => {
    host.write(FILE, `${renderZone(zoneA(), "2026112207")}extra\tIN\tA\t192.0.2.1\n`);
    apply(zoneA(), "20261122");
    expect(host.read(FILE)).toBe(renderZone(zoneA(), "2026112208"));
  });
  test("named-checkzone refusal: old file kept, temp removed, apply fails with its message", () => {
    apply(zoneA(), "20261122");
    const broken: ZoneSpec = { ...zoneA(), nameservers: ["ns9.example.com."] };
    const r = apply(broken, "20261123");
    expect(r.status).toBe(1);
    expect(r.stderr).toContain("NS 'ns9.example.com' has no address records (A or AAAA)");
    expect(r.stderr).toContain(
      "zone example.com: named-checkzone refused the new zone file; the old one stays in place",
    );
    expect(host.read(FILE)).toBe(renderZone(zoneA(), "2026112200"));
    expect(host.temps("/opt/gbo/data")).toEqual([]);
  });
  test("the temp file has a fresh mktemp name and is removed when the push fails", () => {
    apply(zoneA(), "20261122");
    host.flag(".push-fails", "");
    const r = apply(zoneB(), "20261122");
    expect(r.status).toBe(1);
    expect(r.stderr).toContain("Error: stand-in push failed");
    const calls = (prefix: string) => host.calls().filter((c) => c.startsWith(prefix));
    expect(calls("exec dns -- mktemp ")).toEqual([`exec dns -- mktemp ${FILE}.XXXXXXXX`]);
    const temp = /^exec dns -- rm -f \/opt\/gbo\/data\/example\.com\.zone\.[A-Za-z0-9]{8}$/;
    expect(calls("exec dns -- rm -f ")).toEqual([expect.stringMatching(temp)]);
    expect(host.temps("/opt/gbo/data")).toEqual([]);
    expect(host.read(FILE)).toBe(renderZone(zoneA(), "2026112200"));
  });
  test("no named-checkzone in the container: skipped with a log line", () => {
    host.flag(".no-checkzone", "");
    const r = apply(zoneA(), "20261122");
    expect(r.stderr).toContain(
      "incus-tenant: zone example.com: named-checkzone is not installed in dns: check skipped\n",
    );
    expect(serialOf(host.read(FILE))).toBe("2026112200");
  });
  test("container not running: fails without writing", () => {
    host.flag(".stopped", "");
    const r = apply(zoneA(), "20261122");
    expect(r.status).toBe(1);
    expect(r.stderr).toContain("zone example.com: container dns is not running");
  });
  test("a broken date command stops the apply", () => {
    const r = apply(zoneA(), "2026-11-22");
    expect(r.status).toBe(1);
    expect(r.stderr).toContain("zone example.com: the date command printed '2026-11-22', not YYYYMMDD");
  });
  test("sync hook runs after the apply; its failure fails the apply", () => {
    const hook = path.join(host.root, "sync-zones.sh");
    fs.writeFileSync(
      hook,
      `#!/bin/sh\necho ran >> "${host.root}/hook.log"\nexit "$(cat "${host.root}/.hook-rc" 2>/dev/null || echo 0)"\n`,
      { mode: 0o755 },
    );
    const withHook = derive({ ...base(), syncHook: hook });
    expect(apply(zoneA(), "20261122", withHook).status).toBe(0);
    expect(fs.readFileSync(path.join(host.root, "hook.log"), "utf8")).toBe("ran\n");
    host.flag(".hook-rc", "3");
    const r = apply(zoneB(), "20261122", withHook);
    expect(r.status).toBe(1);
    expect(r.stderr).toContain(`zone example.com: the sync hook ${hook} failed (exit 3)`);
  });
});

describe("Corefile script and zone delete against a fake incus", () => {
  let host: FakeHost;
  const COREFILE = "/opt/gbo/conf/Corefile";
  const two = (() => {
    const raw = base();
    raw.zones["example.org"] = { records: [{ name: "@", type: "A", value: "203.0.113.30" }] };
    return derive(raw);
  })();
  beforeEach(() => (host = new FakeHost()));
  afterEach(() => host.destroy());
  const pkills = () => host.calls().filter((c) => c.includes("pkill"));

  test("Corefile: first write and change send SIGUSR1; unchanged sends nothing", () => {
    let r = host.run(renderCorefileScripts(derive(base())).create);
    expect(r.status).toBe(0);
    expect(host.read(COREFILE)).toBe(renderCorefile(derive(base())));
    expect(pkills()).toEqual(["exec dns -- pkill -USR1 -x coredns"]);
    r = host.run(renderCorefileScripts(derive(base())).create);
    expect(r.stderr).toContain("incus-tenant: /opt/gbo/conf/Corefile: unchanged\n");
    expect(pkills()).toEqual([]);
    host.run(renderCorefileScripts(two).create);
    expect(host.read(COREFILE)).toBe(renderCorefile(two));
    expect(pkills()).toEqual(["exec dns -- pkill -USR1 -x coredns"]);
    expect(host.backups("/opt/gbo/conf")).toHaveLength(1);
  });
  test("Corefile: coredns not running is logged, not an error", () => {
    host.flag(".pkill-rc", "1");
    const r = host.run(renderCorefileScripts(two).create);
    expect(r.status).toBe(0);
    expect(r.stderr).toContain(
      "coredns in dns: not signalled (not running, or no pkill): the Corefile takes effect when it starts",
    );
  });
  test(
    "zone delete: removes its server block (SIGUSR1) and its zone file; twice is fine; " +
      "gone container is fine",
    () => {
      host.run(renderCorefileScripts(two).create);
      host.run(renderZoneScripts(two, two.zones[1], TEST_TODAY).create);
      const del = renderZoneScripts(two, two.zones[1], TEST_TODAY).delete!;
      let r = host.run(del);
      expect(r.status).toBe(0);
      expect(host.read(COREFILE)).toBe(renderCorefile(derive(base())));
      expect(pkills()).toEqual(["exec dns -- pkill -USR1 -x coredns"]);
      expect(host.read("/opt/gbo/data/example.org.zone")).toBeUndefined();
      expect(host.backups("/opt/gbo/data")).toEqual([
        expect.stringMatching(/^example\.org\.zone\.bak-\d{14}$/),
      ]);
      r = host.run(del);
      expect(r.status).toBe(0);
      expect(r.stderr).toContain("incus-tenant: zone example.org: zone file already gone\n");
      expect(pkills()).toEqual([]);
      host.flag(".gone", "");
      expect(host.run(del).stderr).toContain("zone example.org: container dns is gone");
    },
  );
  test("Corefile delete: moved aside, twice is fine", () => {
    host.run(renderCorefileScripts(two).create);
    const del = renderCorefileScripts(two).delete!;
    expect(host.run(del).status).toBe(0);
    expect(host.read(COREFILE)).toBeUndefined();
    expect(host.run(del).stderr).toContain("/opt/gbo/conf/Corefile: already gone");
  });
});

describe("components under setMocks", () => {
  const CONN = { host: "203.0.113.10", port: 22, user: "admin", privateKey: "TEST-KEY-NOT-REAL" };
  async function runDns(dns: DnsSpec): Promise<MockResourceArgs[]> {
    const resources: MockResourceArgs[] = [];
    let pulumi: typeof import("@pulumi/pulumi") | undefined;
    jest.isolateModules(() => {
      // eslint-disable-next-line @typescript-eslint/no-require-imports -- fresh runtime (isolateModules)
      pulumi = require("@pulumi/pulumi") as typeof import("@pulumi/pulumi");
    });
    const p = pulumi as typeof import("@pulumi/pulumi");
    await p.runtime.setMocks(
      {
        newResource: (a) => (resources.push(a), { id: `${a.name}-id`, state: a.inputs }),
        call: (a) => a.inputs,
      },
      "incus-tenant",
      "prod",
      false,
    );
    jest.isolateModules(() => {
      // eslint-disable-next-line @typescript-eslint/no-require-imports -- loads after setMocks
      const { createDns } = require("../../components/dnsZone") as typeof import("../../components/dnsZone");
      const parent = new p.ComponentResource("test:index:Parent", "acme", {}, {});
      createDns({ dns, connection: CONN, sudo: true, parent, name: "acme", dependsOn: [] });
    });
    await p.runtime.disconnect();
    return resources;
  }
  const view = (rs: MockResourceArgs[]) =>
    rs.map((r) => [r.type, r.name, JSON.stringify(unwrapSecrets(r.inputs))]).sort();
  const two = (() => {
    const raw = base();
    raw.zones["example.org"] = { records: [{ name: "@", type: "A", value: "203.0.113.30" }] };
    return derive(raw);
  })();

  test("names, types and exact command text; identical across two runs (no date in the inputs)", async () => {
    const first = await runDns(two);
    const names = first.map((r) => `${r.type} ${r.name}`).sort();
    expect(names).toEqual(
      [
        "test:index:Parent acme",
        "incus-tenant:dns:Corefile acme-corefile",
        "command:remote:Command acme-corefile-corefile",
        "incus-tenant:dns:DnsZone acme-zone-example-com",
        "command:remote:Command acme-zone-example-com-zone",
        "incus-tenant:dns:DnsZone acme-zone-example-org",
        "command:remote:Command acme-zone-example-org-zone",
      ].sort(),
    );
    const cmd = (name: string) =>
      unwrapSecrets(first.find((r) => r.name === name)!.inputs) as Record<string, string>;
    const zonePair = renderZoneScripts(two, two.zones[0]);
    expect(cmd("acme-zone-example-com-zone").create).toBe(remoteBash(zonePair.create, true));
    expect(cmd("acme-zone-example-com-zone").delete).toBe(remoteBash(zonePair.delete!, true));
    expect(cmd("acme-corefile-corefile").create).toBe(remoteBash(renderCorefileScripts(two).create, true));
    expect(JSON.stringify(first.map((r) => r.inputs))).not.toMatch(/20\d{6}(0\d|1\d)/);
    const second = await runDns(two);
    expect(view(second)).toEqual(view(first));
  });
});
