/**
 * The `dns` stack section: the tenant's zones, served by CoreDNS in the dns container
 * (runbook 001 "DNS MANAGEMENT", runbook 002 "CoreDNS Hardening"). Shape (zod), semantic checks
 * with field paths, and the derived DnsSpec the renderers and components consume.
 */
export {
  DEFAULT_COREFILE,
  DEFAULT_ZONES_DIR,
  dnsSectionSchema,
  RECORD_TYPES,
  recordSchema,
  zoneSchema,
} from "./schema";
export type { DnsSection, DnsSpec, RawDnsSection, RecordType, ZoneRecordSpec, ZoneSpec } from "./schema";
export { bareLabelMessage, dnsNameError } from "./names";
export { CONTROL_CHARACTER_MESSAGE, txtStrings, zoneFilePath } from "./records";
export { checkZones } from "./check";
export { deriveZones, NO_ADDRESS_RECORD, zoneNameProblem } from "./derive";
