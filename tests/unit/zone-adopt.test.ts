/**
 * Adopting a hand-written zone file (issue 12): the zone script run by bash against the fake
 * `incus` of tests/unit/zoneFixtures.ts. The serial continues from the live one whatever the
 * file's layout, and a file the program did not write is replaced only when nothing the stack
 * does not list would be lost, or with the zone's `takeOver: true`.
 */
import { renderZone, renderZoneScripts } from "../../render/zone";
import type { DnsSpec } from "../../model/zones";
import { base, derive, FakeHost } from "./zoneFixtures";

const TEST_TODAY = 'printf %s "$ITN_TODAY"';
const FILE = "/opt/gbo/data/example.com.zone";
const DIR = "/opt/gbo/data";

/** The base stack's records, laid out by hand the runbook's way, plus what `extra` adds. */
const handWritten = (serial: string, extra = ""): string =>
  "$TTL 1h\n$ORIGIN example.com.\n" +
  `@\tIN\tSOA\tns1 hostmaster (\n\t\t${serial}\t; Serial\n\t\t3h 15m 2w 5m )\n` +
  "\tIN\tNS\tns1\n\tIN\tNS\tns2.example.net.\n\tIN\tA\t203.0.113.10\n\tIN\tMX\t10 mail\n" +
  '\tIN\tTXT\t"v=spf1 mx -all"\nns1\tIN\tA\t203.0.113.10\nchat\tIN\tA\t203.0.113.10\n' +
  `mail\tIN\tA\t203.0.113.25\n${extra}`;
const LEGACY = "legacy\tIN\tA\t192.0.2.7 ; an old box the stack does not list\n";

const refusal = (lost: string[]): string =>
  "zone example.com: /opt/gbo/data/example.com.zone in container dns was not written by incus-tenant; " +
  "replacing it would lose:\n" +
  lost.map((l) => `  ${l}\n`).join("") +
  "Nothing was changed. Add those records to dns.zones.example.com.records, or set " +
  "dns.zones.example.com.takeOver: true to replace the file and drop them (a dated backup is kept).\n";

describe("zone script: a live zone file the program did not write", () => {
  let host: FakeHost;
  const dns = derive(base());
  const takeOver = (() => {
    const raw = base();
    raw.zones["example.com"].takeOver = true;
    return derive(raw);
  })();
  const apply = (spec: DnsSpec, today = "20261122") =>
    host.run(renderZoneScripts(spec, spec.zones[0], TEST_TODAY).create, today);
  beforeEach(() => {
    host = new FakeHost();
    host.write("/opt/gbo/data/.keep", "");
  });
  afterEach(() => host.destroy());

  test("a record the stack does not list: refused, naming it and the takeOver field; file untouched", () => {
    const live = handWritten("2025063007", LEGACY);
    host.write(FILE, live);
    const r = apply(dns);
    expect(r.status).toBe(1);
    expect(r.stderr.replace(/^incus-tenant: .*\n/gm, "")).toBe(refusal(["legacy.example.com. A 192.0.2.7"]));
    expect(host.read(FILE)).toBe(live);
    expect(host.backups(DIR)).toEqual([]);
    expect(host.temps(DIR)).toEqual([]);
    expect(host.calls().filter((c) => c.startsWith("file push") || / -- (mv|cp|mktemp) /.test(c))).toEqual(
      [],
    );
  });
  test("several records, in any layout, each listed once; $INCLUDE counts as a loss too", () => {
    host.write(
      FILE,
      handWritten(
        "7",
        "old 300 in cname Chat\nOLD.example.com. IN CNAME chat.example.com.\n" +
          '_dmarc TXT "v=DMARC1; p=none"\n@ IN NS ns9.example.org.\n$INCLUDE /etc/bind/extra.zone\n',
      ),
    );
    const r = apply(dns);
    expect(r.status).toBe(1);
    expect(r.stderr.replace(/^incus-tenant: .*\n/gm, "")).toBe(
      refusal([
        "old.example.com. CNAME chat.example.com.",
        '_dmarc.example.com. TXT "v=DMARC1; p=none"',
        "example.com. NS ns9.example.org.",
        "$INCLUDE /etc/bind/extra.zone",
      ]),
    );
  });
  test("takeOver: replaced with a backup, serial = today's 00 when larger than live + 1; re-apply is a no-op", () => {
    host.write(FILE, handWritten("2025063007", LEGACY));
    const r = apply(takeOver);
    expect(r.status).toBe(0);
    expect(r.stderr).toContain(
      "incus-tenant: zone example.com: takeOver: replacing /opt/gbo/data/example.com.zone, " +
        "which incus-tenant did not write\n" +
        "incus-tenant: zone example.com: takeOver drops legacy.example.com. A 192.0.2.7\n",
    );
    expect(r.stderr).toContain(
      "serial 2026112200 written to /opt/gbo/data/example.com.zone (was 2025063007)",
    );
    expect(host.read(FILE)).toBe(renderZone(takeOver.zones[0], "2026112200"));
    const backups = host.backups(DIR);
    expect(backups).toEqual([expect.stringMatching(/^example\.com\.zone\.bak-\d{14}-2025063007$/)]);
    expect(host.read(`${DIR}/${backups[0]}`)).toBe(handWritten("2025063007", LEGACY));
    const again = apply(takeOver, "20261130");
    expect(again.status).toBe(0);
    expect(again.stderr).toContain("incus-tenant: zone example.com: unchanged (serial 2026112200)\n");
    expect(host.read(FILE)).toBe(renderZone(takeOver.zones[0], "2026112200"));
  });
  test("takeOver: a live serial past today's continues at live + 1", () => {
    host.write(FILE, handWritten("2027010105", LEGACY));
    expect(apply(takeOver).status).toBe(0);
    expect(host.read(FILE)).toBe(renderZone(takeOver.zones[0], "2027010106"));
  });
  test("every record in the stack: replaced without takeOver, the serial continues (live + 1)", () => {
    host.write(FILE, handWritten("2026112205"));
    const r = apply(dns);
    expect(r.status).toBe(0);
    expect(r.stderr).toContain(
      "incus-tenant: zone example.com: /opt/gbo/data/example.com.zone was not written by incus-tenant; " +
        "every record in it is in the stack: replacing it\n",
    );
    expect(host.read(FILE)).toBe(renderZone(dns.zones[0], "2026112206"));
    expect(host.backups(DIR)).toEqual([expect.stringMatching(/-2026112205$/)]);
  });
  test("no SOA serial to continue from: refused without takeOver; with it, today's 00", () => {
    const live = handWritten("2026112205").replace(/^@\tIN\tSOA[^)]*\)\n/m, "");
    host.write(FILE, live);
    const r = apply(dns);
    expect(r.status).toBe(1);
    expect(r.stderr.replace(/^incus-tenant: .*\n/gm, "")).toBe(
      refusal(["its SOA serial (none found: the new serial could not continue from it)"]),
    );
    expect(host.read(FILE)).toBe(live);
    const t = apply(takeOver);
    expect(t.stderr).toContain(
      "incus-tenant: zone example.com: takeOver: /opt/gbo/data/example.com.zone has no readable SOA serial\n",
    );
    expect(host.read(FILE)).toBe(renderZone(takeOver.zones[0], "2026112200"));
  });
  test("a file the program wrote keeps today's behaviour: a hand-added record is overwritten", () => {
    host.write(FILE, `${renderZone(dns.zones[0], "2026112207")}${LEGACY}`);
    expect(apply(dns).status).toBe(0);
    expect(host.read(FILE)).toBe(renderZone(dns.zones[0], "2026112208"));
  });
});
