/**
 * The `dns` section's shape (zod, with its defaults) and the derived types the renderers and
 * components consume.
 */
import { z } from "zod";
import { absPath, containerName, ipv4, plainAbsPath } from "../primitives";

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
    /**
     * Adopting a zone file the program did not write (no managed header): by default the apply
     * refuses, listing each record of that file the stack does not list, and changes nothing.
     * `true` replaces the file anyway (a dated backup is kept) and drops those records.
     */
    takeOver: z.boolean({ invalid_type_error: "must be true or false" }).default(false),
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
    /**
     * The DNS server's program in the container, checked by the preflight (in PATH or /opt/gbo/bin);
     * unset: `coredns`, the runbooks' server. The test bed's stand-in is BIND's `named`.
     */
    server: z
      .string()
      .regex(/^[A-Za-z0-9][A-Za-z0-9._+-]{0,63}$/, "must be a program name like coredns or named")
      .optional(),
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
  /** Replace a live zone file the program did not write even when records of it would be lost. */
  readonly takeOver: boolean;
}

export interface DnsSpec {
  readonly container: string;
  readonly zonesDir: string;
  readonly corefile: string;
  /** Transfer (AXFR/IXFR) and NOTIFY targets. */
  readonly secondaries: readonly string[];
  readonly syncHook?: string;
  /** The DNS server's program the preflight looks for (unset: coredns). */
  readonly server?: string;
  /** Zones sorted by name. */
  readonly zones: readonly ZoneSpec[];
}
