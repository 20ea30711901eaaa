/** The DnsSpec derived from a checked `dns` section, and which names a browser can reach through it. */
import { absolute, cmp, fqdnOf, rnameOf } from "./names";
import { rdata, zoneFilePath } from "./records";
import type { DnsSection, DnsSpec, RecordType, ZoneRecordSpec, ZoneSpec } from "./schema";

const TYPE_ORDER: readonly RecordType[] = ["NS", "A", "AAAA", "CNAME", "MX", "SRV", "TXT", "CAA"];

/** Derivation from a section with no problems (see checkZones). */
export function deriveZones(dns: DnsSection): DnsSpec {
  const nameservers = dns.nameservers.map((ns) => absolute("", ns));
  const hostmaster = rnameOf(dns.hostmaster) as string;
  const zones = Object.keys(dns.zones)
    .sort(cmp)
    .map((zone): ZoneSpec => {
      const records = dns.zones[zone].records
        .map((r): ZoneRecordSpec => {
          const name = r.name === "@" ? "@" : r.name.toLowerCase();
          return {
            name,
            fqdn: fqdnOf(zone, name),
            type: r.type,
            ...(r.ttl !== undefined ? { ttl: r.ttl } : {}),
            data: rdata(zone, r),
          };
        })
        .sort(
          (a, b) =>
            cmp(a.name === "@" ? "" : a.name, b.name === "@" ? "" : b.name) ||
            TYPE_ORDER.indexOf(a.type) - TYPE_ORDER.indexOf(b.type) ||
            cmp(a.data, b.data),
        );
      const file = zoneFilePath(dns.zonesDir, zone);
      const takeOver = dns.zones[zone].takeOver;
      return {
        name: zone,
        file,
        ttl: dns.ttl,
        primary: nameservers[0],
        hostmaster,
        nameservers,
        records,
        takeOver,
      };
    });
  return {
    container: dns.container,
    zonesDir: dns.zonesDir,
    corefile: dns.corefile,
    secondaries: [...new Set(dns.secondaries)].sort(cmp),
    ...(dns.syncHook !== undefined ? { syncHook: dns.syncHook } : {}),
    ...(dns.server !== undefined ? { server: dns.server } : {}),
    zones,
  };
}

const indexes = new WeakMap<DnsSpec, ReadonlyMap<string, readonly ZoneRecordSpec[]>>();

/**
 * The records of every zone by owner (absolute, no trailing dot), in zone then record order; built
 * once per DnsSpec (it is immutable), so a lookup per vhost costs no scan of the records.
 */
function recordsByName(dns: DnsSpec): ReadonlyMap<string, readonly ZoneRecordSpec[]> {
  let index = indexes.get(dns);
  if (index === undefined) {
    const m = new Map<string, ZoneRecordSpec[]>();
    for (const z of dns.zones)
      for (const r of z.records) {
        const same = m.get(r.fqdn);
        if (same) same.push(r);
        else m.set(r.fqdn, [r]);
      }
    indexes.set(dns, (index = m));
  }
  return index;
}

/** Why a vhost name with no record at all is dead (see {@link zoneNameProblem}). */
export const NO_ADDRESS_RECORD = "has no A, AAAA or CNAME record in the tenant's zones";

/**
 * Whether `fqdn` is a name a browser can reach through the tenant's zones (case and a trailing dot
 * ignored): it has an A or AAAA record, or a CNAME whose chain ends in one. A chain leaving the
 * tenant's zones cannot be checked here and counts as reachable. TXT/MX-only names do not count.
 * Returns undefined when reachable, else why not.
 */
export function zoneNameProblem(dns: DnsSpec, fqdn: string): string | undefined {
  const norm = (n: string): string => n.replace(/\.$/, "").toLowerCase();
  const ours = (n: string): boolean => dns.zones.some((z) => n === z.name || n.endsWith(`.${z.name}`));
  const index = recordsByName(dns);
  const seen: string[] = [];
  let name = norm(fqdn);
  for (;;) {
    const records = index.get(name) ?? [];
    if (records.some((r) => r.type === "A" || r.type === "AAAA")) return undefined;
    const cname = records.find((r) => r.type === "CNAME");
    if (!cname) {
      return seen.length === 0
        ? NO_ADDRESS_RECORD
        : `is a CNAME (${[...seen, name].join(" -> ")}) ` +
            "ending at a name with no A, AAAA or CNAME record in the tenant's zones";
    }
    seen.push(name);
    name = norm(cname.data);
    if (seen.includes(name)) return `is a CNAME loop (${[...seen, name].join(" -> ")})`;
    if (!ours(name)) return undefined;
  }
}
