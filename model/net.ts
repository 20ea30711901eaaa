/** Pure IPv4 helpers used by the spec (no dependency on the host). */

/** Parses dotted-quad IPv4 into a 32-bit unsigned number, or undefined when malformed. */
export function parseIpv4(text: string): number | undefined {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(text);
  if (!m) return undefined;
  const octets = m.slice(1).map(Number);
  if (octets.some((o, i) => o > 255 || (m[i + 1].length > 1 && m[i + 1].startsWith("0")))) return undefined;
  return ((octets[0] << 24) >>> 0) + (octets[1] << 16) + (octets[2] << 8) + octets[3];
}

/** Formats a 32-bit unsigned number as dotted-quad IPv4. */
export function formatIpv4(value: number): string {
  return [24, 16, 8, 0].map((shift) => (value >>> shift) & 255).join(".");
}

/** An IPv4 network in CIDR form. */
export interface Cidr {
  readonly network: number;
  readonly prefix: number;
  readonly broadcast: number;
}

/** Parses `a.b.c.d/n`; the address must be the network address itself. */
export function parseCidr(text: string): Cidr | undefined {
  const [addr, bits, ...rest] = text.split("/");
  if (rest.length > 0 || bits === undefined || !/^\d{1,2}$/.test(bits)) return undefined;
  const prefix = Number(bits);
  const ip = parseIpv4(addr);
  if (ip === undefined || prefix > 32) return undefined;
  const mask = prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
  if ((ip & mask) >>> 0 !== ip) return undefined;
  return { network: ip, prefix, broadcast: (ip | (~mask >>> 0)) >>> 0 };
}

/** True when `ip` lies inside `cidr` (network and broadcast included). */
export function cidrContains(cidr: Cidr, ip: number): boolean {
  return ip >= cidr.network && ip <= cidr.broadcast;
}

/** True when two networks share at least one address. */
export function cidrsOverlap(a: Cidr, b: Cidr): boolean {
  return a.network <= b.broadcast && b.network <= a.broadcast;
}

/**
 * True when the networks together hold every IPv4 address (their union is 0.0.0.0/0), e.g.
 * 0.0.0.0/1 + 128.0.0.0/1: such a source list lets everyone in, like 0.0.0.0/0 itself.
 */
export function coversAll(networks: readonly Cidr[]): boolean {
  let next = 0; // the lowest address not covered yet
  for (const n of [...networks].sort((a, b) => a.network - b.network)) {
    if (n.network > next) return false;
    next = Math.max(next, n.broadcast + 1);
  }
  return next > 0xffffffff;
}
