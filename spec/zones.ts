/**
 * The `dns` stack section: the tenant's zones, served by CoreDNS in the dns container
 * (runbook 001 "DNS MANAGEMENT", runbook 002 "CoreDNS Hardening"). Shape (zod), semantic checks
 * with field paths, and the derived DnsSpec the renderers and components consume.
 */
import { isIPv6 } from "net";
import { z } from "zod";
import { parseIpv4 } from "./net";
import type { Problem } from "./types";
import { absPath, containerName, ipv4, joinPath, plainAbsPath } from "./primitives";

/** Where runbook 001 keeps the zone files inside the dns container (`/opt/gbo/data/<domain>.zone`). */
export const DEFAULT_ZONES_DIR = "/opt/gbo/data";
/** The Corefile inside the dns container (the container's conf folder of runbook 002's layout). */
export const DEFAULT_COREFILE = "/opt/gbo/conf/Corefile";
export const RECORD_TYPES = ["A", "AAAA", "CNAME", "MX", "TXT", "NS", "SRV", "CAA"] as const;
export type RecordType = (typeof RECORD_TYPES)[number];

const ttl = z
  .number({ invalid_type_error: "must be a number of seconds" })
  .int("must be a whole number")
  .min(0, "must be from 0 to 2147483647 seconds")
  .max(2147483647, "must be from 0 to 2147483647 seconds");

export const recordSchema = z
  .object({
    /** Owner name relative to the zone: "@" for the apex, else labels like "chat" or "_dmarc". */
    name: z.string(),
    /** Record type. */
    type: z.enum(RECORD_TYPES, {
      errorMap: () => ({ message: `must be one of ${RECORD_TYPES.join(", ")}` }),
    }),
    /**
     * A: IPv4; AAAA: IPv6; CNAME/MX/NS: a full host name ("@" = the apex), a trailing dot optional,
     * never a bare label (`mail` is refused: write mail.example.com); TXT: printable text;
     * SRV: "weight port target"; CAA: "flags tag value" (no control characters).
     */
    value: z.string(),
    /** TTL of this record; defaults to the section's `ttl` ($TTL). */
    ttl: ttl.optional(),
    /** Preference of MX and priority of SRV records (required for those, refused for others). */
    priority: z
      .number({ invalid_type_error: "must be a number" })
      .int("must be a whole number")
      .min(0, "must be from 0 to 65535")
      .max(65535, "must be from 0 to 65535")
      .optional(),
  })
  .strict();

export const zoneSchema = z
  .object({
    /** The zone's records (SOA and apex NS are generated from the section). */
    records: z.array(recordSchema).default([]),
  })
  .strict();

/** Zod schema of the stack key `dns`. */
export const dnsSectionSchema = z
  .object({
    /** Container that runs CoreDNS. */
    container: containerName.default("dns"),
    /** Folder of the zone files inside the container (`<zone>.zone` each); written into the Corefile. */
    zonesDir: plainAbsPath.default(DEFAULT_ZONES_DIR),
    /** Path of the Corefile inside the container. */
    corefile: absPath.default(DEFAULT_COREFILE),
    /** Default TTL ($TTL) of every zone, in seconds. */
    ttl: ttl.default(3600),
    /** Name servers of every zone (apex NS records, full host names); the first one is the SOA primary. */
    nameservers: z.array(z.string()).min(1, "must list at least one name server"),
    /** SOA contact: an e-mail address (hostmaster@example.com) or its DNS form (hostmaster.example.com). */
    hostmaster: z.string(),
    /** IPv4 addresses of secondary servers: the only ones allowed to transfer the zones (and notified). */
    secondaries: z.array(ipv4).default([]),
    /** Host script run after each zone apply (runbook 001's sync-zones.sh), e.g. /opt/gbo/bin/sync-zones.sh. */
    syncHook: absPath.optional(),
    /** The zones by name (lower-case DNS names). */
    zones: z
      .record(zoneSchema)
      .refine((zones) => Object.keys(zones).length > 0, { message: "must declare at least one zone" }),
  })
  .strict();

export type RawDnsSection = z.input<typeof dnsSectionSchema>;
export type DnsSection = z.output<typeof dnsSectionSchema>;

/** One record as it goes into the zone file. */
export interface ZoneRecordSpec {
  /** Owner relative to the zone, lower-case ("@" for the apex). */
  readonly name: string;
  /** Owner as an absolute name without the trailing dot. */
  readonly fqdn: string;
  readonly type: RecordType;
  /** Only when the record sets its own TTL. */
  readonly ttl?: number;
  /** RDATA as written in the zone file (priority first, host names absolute with a trailing dot, TXT quoted). */
  readonly data: string;
}

export interface ZoneSpec {
  /** Zone name without the trailing dot. */
  readonly name: string;
  /** Path of the zone file inside the container. */
  readonly file: string;
  /** $TTL. */
  readonly ttl: number;
  /** SOA MNAME (first name server), absolute. */
  readonly primary: string;
  /** SOA RNAME, absolute. */
  readonly hostmaster: string;
  /** Apex NS targets, absolute. */
  readonly nameservers: readonly string[];
  /** Records in canonical order (owner, type, data). */
  readonly records: readonly ZoneRecordSpec[];
}

export interface DnsSpec {
  readonly container: string;
  readonly zonesDir: string;
  readonly corefile: string;
  /** Transfer (AXFR/IXFR) and NOTIFY targets. */
  readonly secondaries: readonly string[];
  readonly syncHook?: string;
  /** Zones sorted by name. */
  readonly zones: readonly ZoneSpec[];
}

/** Why `name` is not a DNS name (a trailing dot is allowed), or undefined when it is one. */
export function dnsNameError(name: string): string | undefined {
  const n = name.endsWith(".") ? name.slice(0, -1) : name;
  if (n === "") return "is empty";
  if (n.length > 253) return "is longer than 253 characters";
  for (const label of n.split(".")) {
    if (label === "") return "has an empty label";
    if (label.length > 63) return `label "${label}" is longer than 63 characters`;
    if (!/^[A-Za-z0-9_-]+$/.test(label)) return `label "${label}" may only hold letters, digits, - and _`;
    if (label.startsWith("-") || label.endsWith("-")) return `label "${label}" starts or ends with a hyphen`;
  }
  return undefined;
}

const hostError = (value: string): string | undefined => (value === "@" ? undefined : dnsNameError(value));
/** True for a single label like "mail" (with or without a trailing dot): never a full host name. */
const isBareLabel = (host: string): boolean => host !== "@" && !host.replace(/\.$/, "").includes(".");
/**
 * Targets are absolute names (a trailing dot optional). A bare label is refused rather than
 * guessed: written as is it would name the top-level "mail.", not mail.<zone>.
 */
export const bareLabelMessage = (host: string, zone: string): string =>
  `"${host}" is a bare label, not a full host name: write ${host.replace(/\.$/, "")}.${zone}`;
/** Why a record value with a control character is refused (a line break would add lines to the zone file). */
export const CONTROL_CHARACTER_MESSAGE =
  "must not contain control characters (a line break would add lines to the zone file)";
const absolute = (zone: string, host: string): string =>
  host === "@" ? `${zone}.` : `${host.replace(/\.$/, "").toLowerCase()}.`;
const fqdnOf = (zone: string, name: string): string =>
  name === "@" ? zone : `${name.toLowerCase()}.${zone}`;
const inZone = (zone: string, host: string): boolean => host === zone || host.endsWith(`.${zone}`);
const SRV_RE = /^(\d{1,5})\s+(\d{1,5})\s+(\S+)$/;
const CAA_RE = /^(\d{1,3})\s+([A-Za-z0-9]+)\s+(?:"([^"\\]*)"|([^\s"\\]+))$/;

/** Splits text into quoted strings of at most 255 characters each (RFC 1035 character-strings). */
export function txtStrings(text: string): string {
  const chunks = text.match(/[\s\S]{1,255}/g) ?? [""];
  return chunks.map((c) => `"${c.replace(/[\\"]/g, (ch) => `\\${ch}`)}"`).join(" ");
}

/** The path of a zone's file in the zones folder (normalised folder). */
export const zoneFilePath = (zonesDir: string, zone: string): string => joinPath(zonesDir, `${zone}.zone`);

/** Why `value` is wrong for `type` in `zone`, or undefined. */
function valueError(type: RecordType, value: string, zone: string): string | undefined {
  if (/[\u0000-\u001f\u007f]/.test(value)) return CONTROL_CHARACTER_MESSAGE;
  switch (type) {
    case "A":
      return parseIpv4(value) === undefined ? `"${value}" is not an IPv4 address` : undefined;
    case "AAAA":
      return isIPv6(value) ? undefined : `"${value}" is not an IPv6 address`;
    case "CNAME":
    case "MX":
    case "NS": {
      const e = hostError(value);
      if (e !== undefined || parseIpv4(value) !== undefined) {
        return `"${value}" is not a host name${e !== undefined ? `: ${e}` : ""}`;
      }
      return isBareLabel(value) ? bareLabelMessage(value, zone) : undefined;
    }
    case "TXT":
      return /^[\x20-\x7e]*$/.test(value) ? undefined : "TXT values must be printable ASCII text";
    case "SRV": {
      const m = SRV_RE.exec(value);
      if (
        !m ||
        Number(m[1]) > 65535 ||
        Number(m[2]) > 65535 ||
        (m[3] !== "." && hostError(m[3]) !== undefined)
      )
        return `"${value}" must be "<weight> <port> <target>" like "5 5060 sip.example.com"`;
      return m[3] !== "." && isBareLabel(m[3]) ? bareLabelMessage(m[3], zone) : undefined;
    }
    case "CAA": {
      const m = CAA_RE.exec(value);
      if (!m || Number(m[1]) > 255)
        return `"${value}" must be "<flags> <tag> <value>" like "0 issue \\"letsencrypt.org\\""`;
      return undefined;
    }
  }
}

/** RDATA of a valid record. */
function rdata(zone: string, r: DnsSection["zones"][string]["records"][number]): string {
  switch (r.type) {
    case "CNAME":
    case "NS":
      return absolute(zone, r.value);
    case "MX":
      return `${r.priority} ${absolute(zone, r.value)}`;
    case "SRV": {
      const [, weight, port, target] = SRV_RE.exec(r.value) as RegExpExecArray;
      return `${r.priority} ${Number(weight)} ${Number(port)} ${target === "." ? "." : absolute(zone, target)}`;
    }
    case "CAA": {
      const [, flags, tag, quoted, bare] = CAA_RE.exec(r.value) as RegExpExecArray;
      return `${Number(flags)} ${tag.toLowerCase()} "${quoted ?? bare}"`;
    }
    case "TXT":
      return txtStrings(r.value);
    case "AAAA":
      return r.value.toLowerCase();
    case "A":
      return r.value;
  }
}

/** The target host (absolute, no trailing dot) a record needs an address for, when it has one. */
function targetOf(data: string, type: RecordType): string | undefined {
  const host = type === "MX" ? data.split(" ")[1] : type === "SRV" ? data.split(" ")[3] : undefined;
  return host === undefined || host === "." ? undefined : host.slice(0, -1);
}

/** SOA RNAME from an e-mail address or a DNS name (dots in the local part are escaped). */
function rnameOf(hostmaster: string): string | undefined {
  const at = hostmaster.indexOf("@");
  if (at < 0)
    return dnsNameError(hostmaster) === undefined && hostmaster.replace(/\.$/, "").includes(".")
      ? `${hostmaster.replace(/\.$/, "").toLowerCase()}.`
      : undefined;
  const [local, domain] = [hostmaster.slice(0, at), hostmaster.slice(at + 1)];
  if (
    !/^[A-Za-z0-9_+-]+(\.[A-Za-z0-9_+-]+)*$/.test(local) ||
    local.length > 63 ||
    dnsNameError(domain) !== undefined
  )
    return undefined;
  return `${local.replace(/\./g, "\\.")}.${domain.replace(/\.$/, "").toLowerCase()}.`;
}

/** Semantic problems of a shape-valid `dns` section, with field paths under `pathPrefix`. */
export function checkZones(dns: DnsSection, pathPrefix = "dns"): Problem[] {
  const problems: Problem[] = [];
  const add = (path: string, message: string): void =>
    void problems.push({ path: `${pathPrefix}.${path}`, message });
  const firstZone = Object.keys(dns.zones).sort(cmp)[0] ?? "example.com";
  const nameservers = dns.nameservers.map((ns, i) => {
    const e = hostError(ns);
    if (e !== undefined || ns === "@" || parseIpv4(ns) !== undefined)
      add(`nameservers[${i}]`, `"${ns}" is not a host name${e !== undefined ? `: ${e}` : ""}`);
    else if (isBareLabel(ns)) add(`nameservers[${i}]`, bareLabelMessage(ns, firstZone));
    return e === undefined ? ns.replace(/\.$/, "").toLowerCase() : undefined;
  });
  nameservers.forEach((ns, i) => {
    const first = nameservers.indexOf(ns);
    if (ns !== undefined && first < i) add(`nameservers[${i}]`, `duplicate of nameservers[${first}]`);
  });
  if (rnameOf(dns.hostmaster) === undefined)
    add(
      "hostmaster",
      `"${dns.hostmaster}" must be an e-mail address like hostmaster@example.com or a DNS name like hostmaster.example.com`,
    );
  for (const [zone, z] of Object.entries(dns.zones)) {
    const zp = `zones.${zone}`;
    const ze = dnsNameError(zone);
    if (ze !== undefined || zone.endsWith(".")) {
      add(zp, `"${zone}" is not a valid zone name: ${ze ?? "drop the trailing dot"}`);
      continue;
    }
    if (zone !== zone.toLowerCase()) {
      add(zp, `zone names must be lower case: write "${zone.toLowerCase()}"`);
      continue;
    }
    /** Valid records: index, absolute owner, type, rdata. */
    const valid: { i: number; fqdn: string; type: RecordType; data: string }[] = [];
    z.records.forEach((r, i) => {
      const rp = `${zp}.records[${i}]`;
      let ok = true;
      const fail = (field: string, message: string): void => {
        ok = false;
        add(`${rp}.${field}`, message);
      };
      if (r.name !== "@") {
        const ne = dnsNameError(r.name);
        const lower = r.name.toLowerCase();
        if (ne !== undefined || r.name.endsWith("."))
          fail(
            "name",
            `"${r.name}" is not a valid record name: ${ne ?? 'names are relative to the zone ("@" for the apex), drop the trailing dot'}`,
          );
        else if (lower === zone || lower.endsWith(`.${zone}`))
          fail(
            "name",
            `names are relative to the zone: write "${lower === zone ? "@" : lower.slice(0, -zone.length - 1)}", not "${r.name}"`,
          );
        else if (`${r.name}.${zone}`.length > 253)
          fail("name", `"${r.name}.${zone}" is longer than 253 characters`);
      }
      if (r.name === "@" && r.type === "CNAME")
        fail("name", "a CNAME record is not allowed at the zone apex (@)");
      if (r.name === "@" && r.type === "NS")
        fail("name", `apex NS records come from ${pathPrefix}.nameservers`);
      const ve = valueError(r.type, r.value, zone);
      if (ve !== undefined) fail("value", ve);
      const wantsPriority = r.type === "MX" || r.type === "SRV";
      if (wantsPriority && r.priority === undefined)
        fail("priority", `an ${r.type} record needs a priority (0-65535)`);
      if (!wantsPriority && r.priority !== undefined)
        fail("priority", "priority is only used by MX and SRV records");
      if (ok) valid.push({ i, fqdn: fqdnOf(zone, r.name), type: r.type, data: rdata(zone, r) });
    });
    const unique: typeof valid = [];
    for (const v of valid) {
      const first = unique.find((u) => u.fqdn === v.fqdn && u.type === v.type && u.data === v.data);
      if (first) add(`${zp}.records[${v.i}]`, `duplicate of records[${first.i}]`);
      else unique.push(v);
    }
    for (const c of unique.filter((u) => u.type === "CNAME")) {
      const other = unique.find((u) => u !== c && u.fqdn === c.fqdn);
      if (other)
        add(
          `${zp}.records[${c.i}].name`,
          `"${z.records[c.i].name}" has a CNAME record, so it can have no other record (records[${other.i}] is type ${other.type})`,
        );
    }
    const hasAddress = (host: string): boolean =>
      unique.some((u) => u.fqdn === host && (u.type === "A" || u.type === "AAAA"));
    for (const u of unique) {
      const target = targetOf(u.data, u.type);
      if (target !== undefined && inZone(zone, target) && !hasAddress(target))
        add(
          `${zp}.records[${u.i}].value`,
          `${target} is inside zone ${zone} but has no A or AAAA record there`,
        );
    }
    nameservers.forEach((ns, i) => {
      if (ns !== undefined && inZone(zone, ns) && !hasAddress(ns))
        add(`nameservers[${i}]`, `${ns} is inside zone ${zone} but has no A or AAAA record there`);
    });
  }
  return problems;
}

const TYPE_ORDER: readonly RecordType[] = ["NS", "A", "AAAA", "CNAME", "MX", "SRV", "TXT", "CAA"];
const cmp = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

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
      return { name: zone, file, ttl: dns.ttl, primary: nameservers[0], hostmaster, nameservers, records };
    });
  return {
    container: dns.container,
    zonesDir: dns.zonesDir,
    corefile: dns.corefile,
    secondaries: [...new Set(dns.secondaries)].sort(cmp),
    ...(dns.syncHook !== undefined ? { syncHook: dns.syncHook } : {}),
    zones,
  };
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
  const seen: string[] = [];
  let name = norm(fqdn);
  for (;;) {
    const records = dns.zones.flatMap((z) => z.records.filter((r) => r.fqdn === name));
    if (records.some((r) => r.type === "A" || r.type === "AAAA")) return undefined;
    const cname = records.find((r) => r.type === "CNAME");
    if (!cname) {
      return seen.length === 0
        ? NO_ADDRESS_RECORD
        : `is a CNAME (${[...seen, name].join(" -> ")}) ending at a name with no A, AAAA or CNAME record in the tenant's zones`;
    }
    seen.push(name);
    name = norm(cname.data);
    if (seen.includes(name)) return `is a CNAME loop (${[...seen, name].join(" -> ")})`;
    if (!ours(name)) return undefined;
  }
}
