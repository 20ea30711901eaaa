/** The zone file and the Corefile (pure text; the serial is set on the host at apply time). */
import type { DnsSpec, ZoneSpec } from "../../model/zones";
import { managedHeader } from "../shell";

/** Stands for the serial in the body; the serial line is the only line of that shape. */
export const SERIAL_PLACEHOLDER = "@SERIAL@";
/** SOA timers (seconds): refresh, retry, expire, negative-caching minimum. */
export const SOA_TIMERS = { refresh: 3600, retry: 900, expire: 1209600, minimum: 300 } as const;
/**
 * Query types everybody may ask (runbook 002 allows A, AAAA and MX; SOA, NS, TXT, CAA, ... are
 * needed by resolvers, mail and ACME).
 */
export const PUBLIC_QTYPES = ["A", "AAAA", "CAA", "CNAME", "MX", "NS", "SOA", "SRV", "TXT"] as const;
/** Networks allowed to ask ANY (runbook 002). */
export const INTERNAL_NETS = ["10.0.0.0/8", "127.0.0.0/8"] as const;

/** Indent of the SOA timer lines. */
export const INDENT = "        ";
const COREDNS_PATH = (p: string): string =>
  /^[^\s"{}#]+$/.test(p) ? p : `"${p.replace(/(["\\])/g, "\\$1")}"`;

/** The zone file with the serial placeholder: everything but the serial (change detection compares this). */
export function renderZoneBody(zone: ZoneSpec): string {
  const t = SOA_TIMERS;
  return [
    managedHeader(`zone ${zone.name} (the serial is set at apply time; do not edit by hand)`, ";"),
    `$ORIGIN ${zone.name}.`,
    `$TTL ${zone.ttl}`,
    `@\tIN\tSOA\t${zone.primary} ${zone.hostmaster} (`,
    `${INDENT}${SERIAL_PLACEHOLDER} ; serial`,
    `${INDENT}${t.refresh} ; refresh`,
    `${INDENT}${t.retry} ; retry`,
    `${INDENT}${t.expire} ; expire`,
    `${INDENT}${t.minimum} ; minimum`,
    `${INDENT})`,
    ...zone.nameservers.map((ns) => `@\tIN\tNS\t${ns}`),
    ...zone.records.map(
      (r) => `${r.name}\t${r.ttl !== undefined ? `${r.ttl}\t` : ""}IN\t${r.type}\t${r.data}`,
    ),
    "",
  ].join("\n");
}

/** The zone file exactly as written for `serial` (YYYYMMDDNN). */
export function renderZone(zone: ZoneSpec, serial: string): string {
  if (!/^\d{10}$/.test(serial)) throw new Error(`renderZone: serial must be YYYYMMDDNN, got "${serial}"`);
  return renderZoneBody(zone).replace(
    `\n${INDENT}${SERIAL_PLACEHOLDER} ; serial\n`,
    `\n${INDENT}${serial} ; serial\n`,
  );
}

/** First and last line of a zone's server block (the zone delete cuts the block out by them). */
export const blockMarkers = (zone: string): { begin: string; end: string } => ({
  begin: `# zone ${zone}`,
  end: `# end of zone ${zone}`,
});

/**
 * One server block: the zone file, transfers only to the secondaries, runbook 002's acl hardening,
 * then its `cache` and `errors`.
 */
export function renderCorefileBlock(dns: DnsSpec, zone: ZoneSpec): string {
  const { begin, end } = blockMarkers(zone.name);
  const secondaries = dns.secondaries.map((ip) => `${ip}/32`).join(" ");
  return [
    begin,
    `${zone.name}:53 {`,
    `    file ${COREDNS_PATH(zone.file)}`,
    ...(dns.secondaries.length > 0
      ? ["    transfer {", `        to ${dns.secondaries.join(" ")}`, "    }"]
      : []),
    "    acl {",
    ...(dns.secondaries.length > 0 ? [`        allow type AXFR IXFR net ${secondaries}`] : []),
    "        block type AXFR IXFR",
    `        allow type ANY net ${INTERNAL_NETS.join(" ")}`,
    `        allow type ${PUBLIC_QTYPES.join(" ")} net 0.0.0.0/0 ::/0`,
    "        block",
    "    }",
    // Runbook 002's block ends with `cache` and `errors`, and has no `log`: followed as written
    // (a query log per request is the operator's choice, not the tenant's default).
    "    cache",
    "    errors",
    "}",
    end,
  ].join("\n");
}

/** The whole Corefile: one server block per zone. */
export function renderCorefile(dns: DnsSpec): string {
  const header = managedHeader(`CoreDNS Corefile of container ${dns.container} (one server block per zone)`);
  return [header, ...dns.zones.flatMap((z) => ["", renderCorefileBlock(dns, z)]), ""].join("\n");
}
