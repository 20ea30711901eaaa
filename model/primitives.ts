/**
 * One rule and one message for each kind of value the stack holds (issue 11): every schema file
 * builds its fields from these, so a kind of value is accepted or refused the same way wherever it
 * appears, with the same words. Each primitive is a predicate (`isX`), its message (`MESSAGES.x`)
 * and the zod schema made of both (`x`). Absolute paths are also normalised: the parsed value is
 * the normalised path, so every check and renderer sees only normalised paths.
 */
import { z } from "zod";
import { parseCidr, parseIpv4 } from "./net";

/** The one message of each primitive (exact texts, asserted by tests/unit/primitives.test.ts). */
export const MESSAGES = {
  absPath: 'must be an absolute path (starting with "/", without "." or ".." segments or control characters)',
  plainAbsPath: 'must be an absolute path of letters, digits, . _ - and / (without "." or ".." segments)',
  port: "must be a port from 1 to 65535",
  ipv4: "must be an IPv4 address like 10.0.2.10",
  cidr: "must be an IPv4 network like 10.0.2.0/24",
  iface:
    'must be a network interface name (1-15 letters, digits, . _ -, not starting with "-", not "." or "..")',
  host: "must be an IPv4 address or a host name like incus1.example.com (no port)",
  sshHostKey: 'must be a public host key like "ssh-ed25519 AAAA..."',
  userName:
    'must be a user name (up to 32 lower-case letters, digits, "_" or "-", starting with a letter or "_")',
  containerName:
    "container name must be 1-63 letters, digits or hyphens, start with a letter and not end with a hyphen",
  dnsName: "must be a lower-case DNS name like example.com",
  dnsLabel:
    "must be a DNS label (1-63 lower-case letters, digits or hyphens, not starting or ending with a hyphen)",
  imageRef: 'must be an image reference like images:debian/12 (letters, digits, ".", "_", "/", ":", "-")',
  deviceName:
    'must be a device name (1-64 letters, digits, ".", "_" or "-", starting with a letter or digit)',
  url: "must be a URL like http://127.0.0.1:8200",
  hostPort: "must be host:port like 192.0.2.5:8443",
  remoteName:
    'must be a remote name (lower-case letters, digits, hyphens) other than Incus\'s built-in "local" and "images"',
} as const;

/** Names of the primitives. */
export type PrimitiveName = keyof typeof MESSAGES;

// ---------------------------------------------------------------------------------------------
// Paths

/** Control characters (NUL, line breaks, tabs, DEL...): never part of a path the program writes. */
const CONTROL_RE = /[\u0000-\u001f\u007f]/;

/** True when `p` is an absolute path without "." or ".." segments and without control characters. */
export function isAbsPath(p: string): boolean {
  return p.startsWith("/") && !CONTROL_RE.test(p) && !p.split("/").some((s) => s === "." || s === "..");
}

/** Like {@link isAbsPath}, and only letters, digits, . _ - and / (paths written into Caddyfiles and Corefiles). */
export function isPlainAbsPath(p: string): boolean {
  return /^\/[A-Za-z0-9_.\/-]*$/.test(p) && isAbsPath(p);
}

/** Collapses repeated "/" and drops a trailing "/" ("/" stays "/"): `//opt/` → `/opt`. */
export function normalisePath(p: string): string {
  return p.replace(/\/{2,}/g, "/").replace(/(.)\/$/, "$1");
}

/** `dir/name` for a normalised directory ("/" + "x" → "/x"). */
export function joinPath(dir: string, name: string): string {
  return `${dir === "/" ? "" : dir}/${name}`;
}

/** True when normalised path `child` is strictly below normalised path `parent`. */
export function isInside(child: string, parent: string): boolean {
  return child !== parent && (parent === "/" || child.startsWith(`${parent}/`));
}

/** True when two normalised paths are equal or one is below the other. */
export function pathsOverlap(a: string, b: string): boolean {
  return a === b || isInside(a, b) || isInside(b, a);
}

// ---------------------------------------------------------------------------------------------
// Names and addresses

const DNS_LABEL_RE = /^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/;

/** True for 1..65535 (whole numbers). */
export const isPort = (n: number): boolean => Number.isInteger(n) && n >= 1 && n <= 65535;
/** Dotted-quad IPv4 (no leading zeros). */
export const isIpv4 = (s: string): boolean => parseIpv4(s) !== undefined;
/** a.b.c.d/n with no host bits set. */
export const isCidr = (s: string): boolean => parseCidr(s) !== undefined;
/** Linux interface name: 1-15 of letters, digits, . _ -, not an option ("-x"), and not "." or "..". */
export const isIface = (s: string): boolean =>
  /^[A-Za-z0-9_.][A-Za-z0-9_.-]{0,14}$/.test(s) && s !== "." && s !== "..";

/**
 * An IPv4 address, or a host name (letters, digits and hyphens in dot-separated labels, none
 * starting or ending with a hyphen, so never an option like `-oProxyCommand=...`); no `:port`.
 */
export function isHost(s: string): boolean {
  if (/^[0-9.]+$/.test(s)) return isIpv4(s);
  if (s.length > 253) return false;
  const labels = s.split(".");
  return labels.every((l) => DNS_LABEL_RE.test(l)) && !/^[0-9]+$/.test(labels[labels.length - 1]);
}

/** A login name: lower-case letters, digits, _ and -, starting with a letter or _, at most 32. */
export const isUserName = (s: string): boolean => /^[a-z_][a-z0-9_-]{0,31}$/.test(s);
/** An Incus instance name: 1-63 letters, digits or hyphens, starting with a letter, not ending with a hyphen. */
export const isContainerName = (s: string): boolean => /^[A-Za-z]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/.test(s);
/** A lower-case DNS name with at least two labels and an alphabetic top-level label. */
export const isDnsName = (s: string): boolean =>
  /^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$/.test(s);
/** One lower-case DNS label (vhost names, hostnames). */
export const isDnsLabel = (s: string): boolean => /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/.test(s);
/** An image reference (`images:debian/12`, an alias or a fingerprint): no shell metacharacters, no spaces. */
export const isImageRef = (s: string): boolean => /^[A-Za-z0-9][A-Za-z0-9._\/:-]{0,254}$/.test(s);
/** An Incus device name. */
export const isDeviceName = (s: string): boolean => /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/.test(s);

/**
 * `http(s)://host[:port][/path]`, host an IPv4 address or host name, port 1-65535, the path plain
 * segments without a trailing "/" (callers append "/v1/..."); no user, query or fragment.
 */
export function isUrl(s: string): boolean {
  const m = /^https?:\/\/([^\/:]+)(?::([0-9]{1,5}))?((?:\/[A-Za-z0-9._~-]+)*)$/.exec(s);
  return m !== null && isHost(m[1]) && (m[2] === undefined || isPort(Number(m[2])));
}

/** `host:port`, host an IPv4 address or host name, port 1-65535. */
export function isHostPort(s: string): boolean {
  const m = /^([^:]+):([0-9]{1,5})$/.exec(s);
  return m !== null && isHost(m[1]) && isPort(Number(m[2]));
}

/** Incus's built-in remotes: a migration remote must never be one of them. */
export const BUILTIN_REMOTES: readonly string[] = ["local", "images"];
/** An `incus remote` name of ours: lower-case, and not a built-in remote. */
export const isRemoteName = (s: string): boolean =>
  /^[a-z][a-z0-9-]{0,31}$/.test(s) && !BUILTIN_REMOTES.includes(s);

// ---------------------------------------------------------------------------------------------
// SSH host keys

/** Point sizes (uncompressed, 0x04 prefix) of the ECDSA curves OpenSSH knows. */
const ECDSA_POINT: Readonly<Record<string, number>> = { nistp256: 65, nistp384: 97, nistp521: 133 };
/** Smallest RSA modulus accepted (bits). */
export const MIN_RSA_BITS = 2048;

/** Reads the SSH wire format: uint32 length + bytes. */
class WireReader {
  private offset = 0;
  constructor(private readonly buf: Buffer) {}
  /** The next length-prefixed field, or undefined when the buffer ends first. */
  field(): Buffer | undefined {
    if (this.offset + 4 > this.buf.length) return undefined;
    const len = this.buf.readUInt32BE(this.offset);
    const start = this.offset + 4;
    if (start + len > this.buf.length) return undefined;
    this.offset = start + len;
    return this.buf.subarray(start, start + len);
  }
  get done(): boolean {
    return this.offset === this.buf.length;
  }
}

/** Bits of a positive SSH mpint (two's complement, big-endian), or undefined when not positive. */
function mpintBits(b: Buffer): number | undefined {
  if (b.length === 0 || b[0] & 0x80) return undefined;
  let i = 0;
  while (i < b.length && b[i] === 0) i++;
  if (i === b.length) return undefined;
  return (b.length - i - 1) * 8 + (32 - Math.clz32(b[i]));
}

/** True when the key data, decoded, is exactly a key of type `type` (nothing missing, nothing after). */
function blobMatches(type: string, blob: Buffer): boolean {
  const r = new WireReader(blob);
  const head = r.field();
  if (head === undefined || head.toString("latin1") !== type) return false;
  if (type === "ssh-ed25519") {
    if (r.field()?.length !== 32) return false;
  } else if (type === "ssh-rsa") {
    const e = r.field();
    const n = r.field();
    if (
      e === undefined ||
      n === undefined ||
      mpintBits(e) === undefined ||
      (mpintBits(n) ?? 0) < MIN_RSA_BITS
    )
      return false;
  } else {
    const curve = type.slice("ecdsa-sha2-".length);
    const name = r.field();
    const point = r.field();
    if (
      name?.toString("latin1") !== curve ||
      point === undefined ||
      point.length !== ECDSA_POINT[curve] ||
      point[0] !== 4
    )
      return false;
  }
  return r.done;
}

/**
 * `<type> <base64>` with type ssh-ed25519, ssh-rsa or ecdsa-sha2-nistp256/384/521 (no comment),
 * the base64 canonical, and its decoded data exactly a key of that type: the type string inside
 * equals the type word; ed25519 holds 32 bytes, ECDSA the curve name and a point of the curve's
 * size, RSA an exponent and a modulus of at least 2048 bits; no trailing bytes.
 */
export function isSshHostKey(s: string): boolean {
  const m = /^(ssh-ed25519|ssh-rsa|ecdsa-sha2-nistp(?:256|384|521)) ([A-Za-z0-9+\/]+={0,2})$/.exec(s);
  if (!m || s.length > 4096 || m[2].length % 4 !== 0) return false;
  const blob = Buffer.from(m[2], "base64");
  return blob.toString("base64") === m[2] && blobMatches(m[1], blob);
}

// ---------------------------------------------------------------------------------------------
// zod schemas: the predicates above with their one message

const str = (test: (s: string) => boolean, message: string) => z.string().refine(test, { message });

/** An absolute path, normalised (see {@link normalisePath}); refuses "." and ".." segments and control characters. */
export const absPath = str(isAbsPath, MESSAGES.absPath).transform(normalisePath);
/** An absolute path of letters, digits, . _ - and / only, normalised (written into config files). */
export const plainAbsPath = str(isPlainAbsPath, MESSAGES.plainAbsPath).transform(normalisePath);
/** A TCP/UDP port, 1-65535. */
export const port = z.number().int(MESSAGES.port).min(1, MESSAGES.port).max(65535, MESSAGES.port);
/** An IPv4 address. */
export const ipv4 = str(isIpv4, MESSAGES.ipv4);
/** An IPv4 network (no host bits). */
export const cidr = str(isCidr, MESSAGES.cidr);
/** A network interface name. */
export const iface = str(isIface, MESSAGES.iface);
/** An SSH/HTTP peer: IPv4 address or host name, without port. */
export const host = str(isHost, MESSAGES.host);
/** A pinned SSH public host key whose data matches its type. */
export const sshHostKey = str(isSshHostKey, MESSAGES.sshHostKey);
/** A login user name. */
export const userName = str(isUserName, MESSAGES.userName);
/** A container (Incus instance) name. */
export const containerName = str(isContainerName, MESSAGES.containerName);
/** A lower-case DNS name. */
export const dnsName = str(isDnsName, MESSAGES.dnsName);
/** A lower-case DNS label. */
export const dnsLabel = str(isDnsLabel, MESSAGES.dnsLabel);
/** An image reference. */
export const imageRef = str(isImageRef, MESSAGES.imageRef);
/** An Incus device name (record keys of `devices`). */
export const deviceName = str(isDeviceName, MESSAGES.deviceName);
/** An http(s) URL with a valid host and port. */
export const url = str(isUrl, MESSAGES.url);
/** host:port. */
export const hostPort = str(isHostPort, MESSAGES.hostPort);
/** An `incus remote` name that is not a built-in remote. */
export const remoteName = str(isRemoteName, MESSAGES.remoteName);
