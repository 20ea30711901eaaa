/** DNS names in the `dns` section: validity, absolute forms, owners and the SOA contact. */

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

/** Why `value` is not a host name ("@" is the apex), or undefined. */
export const hostError = (value: string): string | undefined =>
  value === "@" ? undefined : dnsNameError(value);
/** True for a single label like "mail" (with or without a trailing dot): never a full host name. */
export const isBareLabel = (host: string): boolean => host !== "@" && !host.replace(/\.$/, "").includes(".");
/**
 * Targets are absolute names (a trailing dot optional). A bare label is refused rather than
 * guessed: written as is it would name the top-level "mail.", not mail.<zone>.
 */
export const bareLabelMessage = (host: string, zone: string): string =>
  `"${host}" is a bare label, not a full host name: write ${host.replace(/\.$/, "")}.${zone}`;
/** `host` as an absolute name with the trailing dot ("@" is the zone apex), lower case. */
export const absolute = (zone: string, host: string): string =>
  host === "@" ? `${zone}.` : `${host.replace(/\.$/, "").toLowerCase()}.`;
/** The absolute owner name (no trailing dot) of a record `name` in `zone`. */
export const fqdnOf = (zone: string, name: string): string =>
  name === "@" ? zone : `${name.toLowerCase()}.${zone}`;
/** True when `host` (absolute, no trailing dot) is `zone` or inside it. */
export const inZone = (zone: string, host: string): boolean => host === zone || host.endsWith(`.${zone}`);

/** SOA RNAME from an e-mail address or a DNS name (dots in the local part are escaped). */
export function rnameOf(hostmaster: string): string | undefined {
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

/** Code-point order of names (the sort of zones, owners and secondaries). */
export const cmp = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);
