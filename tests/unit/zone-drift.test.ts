/**
 * `plan --live` on a zone file the program did not write (issue 12): compared record by record
 * whatever its layout, naming each record an apply would refuse to drop and the takeOver field.
 */
import { dnsDrift, liveSerials } from "../../services/dns/drift";
import { fileKey, LiveState } from "../../drift/read";
import { renderCorefile, renderZone } from "../../render/zone";
import type { DnsSpec } from "../../model/zones";
import type { TenantSpec } from "../../model/types";
import { base, derive } from "./zoneFixtures";

const FILE = "/opt/gbo/data/example.com.zone";
const HAND =
  "$TTL 1h\n$ORIGIN example.com.\n@ IN SOA ns1 hostmaster ( 2025063007 3h 15m 2w 5m )\n" +
  "  IN NS ns1\n  IN NS ns2.example.net.\n  IN A 203.0.113.10\n  IN MX 10 mail\n" +
  '  IN TXT "v=spf1 mx -all"\nns1 IN A 203.0.113.10\nchat IN A 203.0.113.10\nmail IN A 203.0.113.25\n';

const liveWith = (dns: DnsSpec, zoneFile: string): LiveState => ({
  nat: "",
  filter: "",
  containers: [],
  dirs: {},
  files: {
    [fileKey("dns", FILE)]: { content: zoneFile },
    [fileKey("dns", dns.corefile)]: { content: renderCorefile(dns) },
  },
});
const show = (dns: DnsSpec, zoneFile: string): string[] =>
  dnsDrift("acme", dns, liveWith(dns, zoneFile)).flatMap((d) => [
    `${d.change} ${d.text}`,
    ...d.details.map((l) => `  ${l}`),
  ]);

describe("plan --live drift of a hand-written zone file", () => {
  const dns = derive(base());
  const takeOver = (() => {
    const raw = base();
    raw.zones["example.com"].takeOver = true;
    return derive(raw);
  })();

  test("records the stack does not list are named, with what up will do and the field that accepts it", () => {
    const live = `${HAND}legacy IN A 192.0.2.7 ; old\n`;
    expect(show(dns, live.replace("chat IN A 203.0.113.10\n", "")).join("\n")).toBe(
      [
        "changed zone example.com: not written by incus-tenant; 1 record(s) the stack does not list: " +
          "up refuses to replace the file until they are listed or dns.zones.example.com.takeOver is true",
        '  record "legacy.example.com. A 192.0.2.7" not in the stack',
        '  record "chat.example.com. A 203.0.113.10" missing live',
        "  live serial 2025063007",
      ].join("\n"),
    );
    expect(show(takeOver, live)).toEqual([
      "changed zone example.com: not written by incus-tenant; 1 record(s) the stack does not list: " +
        "up drops them (dns.zones.example.com.takeOver is true)",
      '  record "legacy.example.com. A 192.0.2.7" not in the stack',
      "  live serial 2025063007",
    ]);
  });
  test("every record in the stack: up replaces it; the command that converges it is named", () => {
    const items = dnsDrift("acme", dns, liveWith(dns, HAND));
    expect(items.map((d) => [d.change, d.text, d.command, d.details])).toEqual([
      [
        "changed",
        "zone example.com: not written by incus-tenant; every record in it is in the stack: up replaces it",
        "acme-zone-example-com-zone",
        ["live serial 2025063007"],
      ],
    ]);
  });
  test("no SOA serial in it", () => {
    expect(show(dns, HAND.replace(/^@ IN SOA.*\n/m, ""))[0]).toBe(
      "changed zone example.com: not written by incus-tenant; no readable SOA serial: " +
        "up refuses unless dns.zones.example.com.takeOver is true",
    );
  });
  test("liveSerials reads the SOA of any layout; a file the program wrote is unchanged in sync", () => {
    const spec = { services: { dns } } as unknown as TenantSpec;
    expect(liveSerials(spec, liveWith(dns, HAND))).toEqual({ "example.com": "2025063007" });
    expect(liveSerials(spec, liveWith(dns, renderZone(dns.zones[0], "2026010203")))).toEqual({
      "example.com": "2026010203",
    });
    expect(dnsDrift("acme", dns, liveWith(dns, renderZone(dns.zones[0], "2026010203")))).toEqual([]);
  });
});
