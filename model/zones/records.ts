/** One record's value: the rule per type and the RDATA written into the zone file. */
import { isIPv6 } from "net";
import { parseIpv4 } from "../net";
import { joinPath } from "../primitives";
import { absolute, bareLabelMessage, hostError, isBareLabel } from "./names";
import type { DnsSection, RecordType } from "./schema";

/** Why a record value with a control character is refused (a line break would add lines to the zone file). */
export const CONTROL_CHARACTER_MESSAGE =
  "must not contain control characters (a line break would add lines to the zone file)";
/** SRV value: "weight port target". */
export const SRV_RE = /^(\d{1,5})\s+(\d{1,5})\s+(\S+)$/;
/** CAA value: "flags tag value" (the value quoted or bare). */
export const CAA_RE = /^(\d{1,3})\s+([A-Za-z0-9]+)\s+(?:"([^"\\]*)"|([^\s"\\]+))$/;

/** Splits text into quoted strings of at most 255 characters each (RFC 1035 character-strings). */
export function txtStrings(text: string): string {
  const chunks = text.match(/[\s\S]{1,255}/g) ?? [""];
  return chunks.map((c) => `"${c.replace(/[\\"]/g, (ch) => `\\${ch}`)}"`).join(" ");
}

/** The path of a zone's file in the zones folder (normalised folder). */
export const zoneFilePath = (zonesDir: string, zone: string): string => joinPath(zonesDir, `${zone}.zone`);

/** Why `value` is wrong for `type` in `zone`, or undefined. */
export function valueError(type: RecordType, value: string, zone: string): string | undefined {
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
export function rdata(zone: string, r: DnsSection["zones"][string]["records"][number]): string {
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
export function targetOf(data: string, type: RecordType): string | undefined {
  const host = type === "MX" ? data.split(" ")[1] : type === "SRV" ? data.split(" ")[3] : undefined;
  return host === undefined || host === "." ? undefined : host.slice(0, -1);
}
