/**
 * model/primitives.ts: each kind of value has one rule and one message (issue 11). Table-driven:
 * for every primitive, values it accepts (with the parsed value where it normalises) and values it
 * refuses, each refused with exactly the primitive's message. The host-key table builds broken
 * keys from real ones (ssh-keygen output pasted below): wrong type word, cut-short or padded key
 * data, wrong curve, short RSA modulus.
 */
import { z } from "zod";
import * as P from "../../model/primitives";
import { coversAll, parseCidr, type Cidr } from "../../model/net";

/** Real public keys (ssh-keygen, throwaway): the type word and the base64 key data. */
const KEYS = {
  ed25519: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKHaakVe0HBymrHl9snGphnx5Bc16TjH7ZnZDvFS8hEm",
  p256:
    "ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBBRZdVeVk7HHGnr3YT67piDu" +
    "s9sJwCbBMqoOemjM6D2ffSWkwh7fGGT6Uifl3JVbqs3JHlO01Pmke09N0ChyIEE=",
  p384:
    "ecdsa-sha2-nistp384 AAAAE2VjZHNhLXNoYTItbmlzdHAzODQAAAAIbmlzdHAzODQAAABhBP5sXq+UlErymJOPQlVYAgBI" +
    "ZnOdbZ/EJt0GLzeRqsPfUD8Kfg4pyAtNymacN30R3CecybtiaUymhvef2rbOUv8r7TW6r+3mUBLiPXLUYP5N7IPqyWlm8H+0" +
    "MFRiku+Irw==",
  p521:
    "ecdsa-sha2-nistp521 AAAAE2VjZHNhLXNoYTItbmlzdHA1MjEAAAAIbmlzdHA1MjEAAACFBAErErJgoYP3mwIx4rkLpkud" +
    "DfM1i3W1fUpcJJpNMGLVfLSJowXpY5b4K9C3SFdOCw6X6y3SPCaYjl+wRM8pRn06wAEW2zkIUHZtb2UeXfod5g5YmaG7Of4m" +
    "LT2+pSvHozh9AGtn6ikYtSsDYxRqzXbHtyKF/MCvrCCR48ae26aZ8DvgLA==",
  rsa2048:
    "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQDEKhFnthNhzC4f6D/Yi5M59NRkbF0ZsJ6RLWoDItd1MdviZ+VsjhiC8K7k" +
    "FH3mVFRkNCDBJHCwUOr5Hnlyyxpf4zg+jm12oXjrAqOivnCVrXqmwuvQax0TkETXH5s3ZuzU8uwoQpPN4i//cUkbpBVS9ejy" +
    "UwZcELC1KE7sx59IDHHpNDp3YI5vRrRfq645CN+mfwqViIlEzE+jKJuLTbOBSa3oYTWR6fP4C5ThBgzbMQ72u0LsrwMMcVlG" +
    "eX8EKCZx1f6BWKfuV2/impUYA3khq82NS4qx51l5q9xv4HXqfajqgkylCfPp1SjFYJhvK3SGpjq4mKUGULvOS+RD9goL",
  rsa1024:
    "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAAAgQCsPl1hFvhFLlj3LXrY6MYLpOVwiiTgeb5vJRaKBHZA0nl0e9OeIadcfXKI" +
    "3yaT33M6b9kRW6THSq5JBTeO4MVThh8Y/Uvxvhw9O0GHtwqpfDK1CvkxpfmA5lPgfdrrOFqJ8llR09okX5pjqAmqmZeyD/ta" +
    "XonzX0alo1Tot8wWbQ==",
} as const;

const blobOf = (key: string): Buffer => Buffer.from(key.split(" ")[1], "base64");
const b64 = (b: Buffer): string => b.toString("base64");
/** SSH wire encoding of fields (uint32 length + bytes each). */
const wire = (...fields: (string | Buffer)[]): Buffer =>
  Buffer.concat(
    fields.flatMap((f) => {
      const b = typeof f === "string" ? Buffer.from(f, "latin1") : f;
      const len = Buffer.alloc(4);
      len.writeUInt32BE(b.length);
      return [len, b];
    }),
  );

/** Parses one value with a primitive's schema: the output, or the exact messages. */
function run(
  schema: z.ZodTypeAny,
  value: unknown,
): { ok: true; value: unknown } | { ok: false; messages: string[] } {
  const r = schema.safeParse(value);
  return r.success
    ? { ok: true, value: r.data }
    : { ok: false, messages: r.error.issues.map((i) => i.message) };
}

/** [primitive, accepted values (input, or [input, parsed] when it normalises), refused values]. */
type Row = [P.PrimitiveName, unknown[], unknown[]];

const HOSTILE = ["$(touch /tmp/pwn)", "`id`", "a;reboot", 'a"b', "a'b", "a\nb", "a b", "a|b", "a&b"];

const TABLE: Row[] = [
  [
    "absPath",
    [
      ["/opt", "/opt"],
      ["//opt", "/opt"],
      ["/var//lib/incus/", "/var/lib/incus"],
      ["/", "/"],
      ["//", "/"],
      ["/a b/$x", "/a b/$x"],
      ["/opt/.hidden/..x", "/opt/.hidden/..x"],
    ],
    [
      "opt",
      "",
      "./opt",
      "/./opt",
      "/opt/.",
      "/opt/..",
      "/opt/../etc",
      "/opt\u0000x",
      "/opt\nrm",
      "/opt\rx",
      "/opt\tx",
      "/opt\u007f",
      5,
    ],
  ],
  [
    "plainAbsPath",
    [
      ["/etc/caddy/sites/", "/etc/caddy/sites"],
      ["/etc//caddy", "/etc/caddy"],
      ["/opt/gbo-data_1.2", "/opt/gbo-data_1.2"],
    ],
    [
      "etc/caddy",
      "/etc/caddy sites",
      "/etc/$(id)",
      "/etc/./caddy",
      "/etc/../caddy",
      "/etc/caddy\n",
      "/etc/{x}",
    ],
  ],
  ["port", [1, 22, 8443, 65535], [0, -1, 65536, 1e6, 1.5, "80"]],
  [
    "ipv4",
    ["10.0.2.10", "0.0.0.0", "255.255.255.255"],
    ["10.0.2.300", "10.0.2", "010.0.2.1", "10.0.2.1/24", " 10.0.2.1", "::1"],
  ],
  [
    "cidr",
    ["10.0.2.0/24", "0.0.0.0/0", "203.0.113.5/32"],
    ["10.0.2.1/24", "10.0.2.0/33", "10.0.2.0", "10.0.2.0/024x"],
  ],
  [
    "iface",
    ["eth0", "incusbr0", "br-1.100", "a".repeat(15)],
    [".", "..", "", "a".repeat(16), "-oeth0", "-", "eth0;rm", "eth 0", "eth0/1", "eth0:1"],
  ],
  [
    "host",
    ["203.0.113.10", "incus1.example.com", "localhost", "Incus-1.Example.COM", "127.0.0.1"],
    [
      "-oProxyCommand=touch /tmp/x",
      "-x",
      "203.0.113.10:22",
      "incus1.example.com:22",
      "10.0.2.300",
      "1.2.3",
      "[::1]",
      "::1",
      "a..b",
      "a.-b.c",
      "a-.b",
      "host.",
      "",
      "user@host",
      ...HOSTILE,
    ],
  ],
  [
    "sshHostKey",
    [KEYS.ed25519, KEYS.p256, KEYS.p384, KEYS.p521, KEYS.rsa2048],
    [
      "AAAA",
      `${KEYS.ed25519} root@host`, // a comment
      `ssh-dss ${KEYS.ed25519.split(" ")[1]}`,
      `ssh-rsa ${KEYS.ed25519.split(" ")[1]}`, // type word does not match the data
      `ecdsa-sha2-nistp256 ${KEYS.ed25519.split(" ")[1]}`,
      `ecdsa-sha2-nistp384 ${KEYS.p256.split(" ")[1]}`,
      // the curve name and point of another size
      `ecdsa-sha2-nistp384 ${b64(wire("ecdsa-sha2-nistp384", "nistp256", blobOf(KEYS.p256).subarray(-65)))}`,
      `ssh-ed25519 ${b64(blobOf(KEYS.ed25519).subarray(0, 40))}`, // cut short
      `ssh-ed25519 ${KEYS.ed25519.split(" ")[1].slice(0, 48)}`,
      `ssh-ed25519 ${b64(Buffer.concat([blobOf(KEYS.ed25519), Buffer.from([0])]))}`, // trailing byte
      `ssh-ed25519 ${b64(wire("ssh-ed25519", Buffer.alloc(31, 1)))}`,
      `ssh-ed25519 ${b64(wire("ssh-ed25519", Buffer.alloc(33, 1)))}`,
      // not an uncompressed point (0x04 first)
      `ecdsa-sha2-nistp256 ${b64(wire("ecdsa-sha2-nistp256", "nistp256", Buffer.alloc(65, 2)))}`,
      `ecdsa-sha2-nistp256 ${b64(Buffer.concat([blobOf(KEYS.p256), Buffer.from([1, 2, 3])]))}`,
      `ssh-rsa ${b64(blobOf(KEYS.rsa2048).subarray(0, 200))}`,
      KEYS.rsa1024, // modulus below 2048 bits
      `ssh-rsa ${b64(wire("ssh-rsa", Buffer.from([1, 0, 1])))}`, // no modulus
      // a negative modulus (high bit set without a leading zero)
      `ssh-rsa ${b64(wire("ssh-rsa", Buffer.from([1, 0, 1]), Buffer.from([0x80, ...Buffer.alloc(300, 1)])))}`,
      `ssh-ed25519 ${KEYS.ed25519.split(" ")[1]}=`, // not canonical base64
      `ssh-ed25519  ${KEYS.ed25519.split(" ")[1]}`,
      `ssh-ed25519 ${KEYS.ed25519.split(" ")[1]}\n`,
    ],
  ],
  [
    "userName",
    ["root", "admin", "_svc", "a-b_c1", "a".repeat(32)],
    ["Admin", "1admin", "-admin", "a".repeat(33), "", ...HOSTILE],
  ],
  [
    "containerName",
    ["proxy", "alm-ci", "a", `a${"b".repeat(62)}`],
    ["1web", "-web", "web-", "web_1", `a${"b".repeat(63)}`, "", ...HOSTILE],
  ],
  [
    "dnsName",
    ["example.com", "chat.stage.example.com"],
    ["example", "Example.com", "example.com.", "-a.example.com", "a_b.example.com", "example.c0m"],
  ],
  ["dnsLabel", ["chat", "a1", "x-y"], ["-chat", "chat-", "Chat", "a.b", "a".repeat(64), ""]],
  [
    "imageRef",
    ["images:debian/12", "local:itn-debian12", "debian/12/cloud", "a1b2c3d4e5f6", "images:ubuntu/24.04"],
    [
      "images:debian/12$(touch /tmp/x)",
      "images:debian/12`id`",
      'images:debian/12";reboot;"',
      "images:debian/12 x",
      "-images:debian/12",
      ":x",
      "",
      ...HOSTILE,
    ],
  ],
  [
    "deviceName",
    ["data", "eth1", "a.b_c-d", "0data", "a".repeat(64)],
    ["-data", ".data", "a".repeat(65), "a/b", "", 'x";reboot;"', ...HOSTILE],
  ],
  [
    "url",
    ["http://127.0.0.1:8200", "https://vault.example.com", "http://vault:8200/v1/x", "https://x:65535"],
    [
      "127.0.0.1:8200",
      "ftp://x",
      "http://127.0.0.1:65536",
      "http://127.0.0.1:1000000",
      "http://127.0.0.1:0",
      "http://-oProxy:8200",
      "http://x:8200?a=b",
      "https://10.0.2.13:8200/",
      "http://x:8200/v1/",
      "http://x:8200//v1",
      "http://u:p@x:8200",
      "http://x:8200/$(id)",
      "http://[::1]:8200",
      ...HOSTILE,
    ],
  ],
  [
    "hostPort",
    ["192.0.2.5:8443", "lxd.example.com:8443", "x:1"],
    [
      "192.0.2.5",
      "192.0.2.5:65536",
      "192.0.2.5:0",
      "-o:8443",
      "192.0.2.5:8443/x",
      "http://192.0.2.5:8443",
      ":8443",
    ],
  ],
  [
    "remoteName",
    ["lxd-source", "itn-mig-src", "localhost", "images2"],
    ["local", "images", "Lxd", "1lxd", "lxd source", "", ...HOSTILE],
  ],
];

const SCHEMAS: Record<P.PrimitiveName, z.ZodTypeAny> = {
  absPath: P.absPath,
  plainAbsPath: P.plainAbsPath,
  port: P.port,
  ipv4: P.ipv4,
  cidr: P.cidr,
  iface: P.iface,
  host: P.host,
  sshHostKey: P.sshHostKey,
  userName: P.userName,
  containerName: P.containerName,
  dnsName: P.dnsName,
  dnsLabel: P.dnsLabel,
  imageRef: P.imageRef,
  deviceName: P.deviceName,
  url: P.url,
  hostPort: P.hostPort,
  remoteName: P.remoteName,
};

describe("every primitive has a table and exactly one message", () => {
  test("the table covers every primitive", () =>
    expect(TABLE.map((r) => r[0]).sort()).toEqual(Object.keys(P.MESSAGES).sort()));
  test("the messages are all different", () =>
    expect(new Set(Object.values(P.MESSAGES)).size).toBe(Object.keys(P.MESSAGES).length));
});

describe.each(TABLE)("%s", (name, good, bad) => {
  const schema = SCHEMAS[name];
  const accepted = good.map((g) => (Array.isArray(g) ? g : [g, g]) as [unknown, unknown]);
  test.each(accepted.map(([input, output]) => [JSON.stringify(input), input, output]))(
    "accepts %s",
    (_s, input, output) => {
      expect(run(schema, input)).toEqual({ ok: true, value: output });
    },
  );
  test.each(bad.map((v) => [JSON.stringify(v), v]))("refuses %s with its one message", (_s, value) => {
    const r = run(schema, value);
    if (typeof value !== "string" && name !== "port")
      expect(r).toEqual({ ok: false, messages: [expect.stringMatching(/^Expected string, received /)] });
    else if (typeof value !== "number" && name === "port")
      expect(r).toEqual({ ok: false, messages: ["Expected number, received string"] });
    else expect(r).toEqual({ ok: false, messages: [P.MESSAGES[name]] });
  });
});

describe("exact message texts", () => {
  test.each([
    [
      "absPath",
      'must be an absolute path (starting with "/", without "." or ".." segments or control characters)',
    ],
    [
      "plainAbsPath",
      'must be an absolute path of letters, digits, . _ - and / (without "." or ".." segments)',
    ],
    ["port", "must be a port from 1 to 65535"],
    ["ipv4", "must be an IPv4 address like 10.0.2.10"],
    ["cidr", "must be an IPv4 network like 10.0.2.0/24"],
    [
      "iface",
      'must be a network interface name (1-15 letters, digits, . _ -, not starting with "-", not "." or "..")',
    ],
    ["host", "must be an IPv4 address or a host name like incus1.example.com (no port)"],
    ["sshHostKey", 'must be a public host key like "ssh-ed25519 AAAA..."'],
    [
      "userName",
      'must be a user name (up to 32 lower-case letters, digits, "_" or "-", starting with a letter or "_")',
    ],
    [
      "containerName",
      "container name must be 1-63 letters, digits or hyphens, start with a letter and not end with a hyphen",
    ],
    ["dnsName", "must be a lower-case DNS name like example.com"],
    [
      "dnsLabel",
      "must be a DNS label (1-63 lower-case letters, digits or hyphens, not starting or ending with a hyphen)",
    ],
    [
      "imageRef",
      'must be an image reference like images:debian/12 (letters, digits, ".", "_", "/", ":", "-")',
    ],
    [
      "deviceName",
      'must be a device name (1-64 letters, digits, ".", "_" or "-", starting with a letter or digit)',
    ],
    ["url", "must be a URL like http://127.0.0.1:8200"],
    ["hostPort", "must be host:port like 192.0.2.5:8443"],
    [
      "remoteName",
      'must be a remote name (lower-case letters, digits, hyphens) other than Incus\'s built-in "local" and "images"',
    ],
  ] as [P.PrimitiveName, string][])("%s", (name, message) => expect(P.MESSAGES[name]).toBe(message));
});

describe("path helpers", () => {
  test.each([
    ["//opt", "/opt"],
    ["/var//lib/incus", "/var/lib/incus"],
    ["/opt/", "/opt"],
    ["///", "/"],
    ["/", "/"],
  ])("normalisePath(%j) = %j", (input, output) => expect(P.normalisePath(input)).toBe(output));
  test("joinPath, isInside, pathsOverlap", () => {
    expect([P.joinPath("/", "x.zone"), P.joinPath("/opt/gbo/data", "x.zone")]).toEqual([
      "/x.zone",
      "/opt/gbo/data/x.zone",
    ]);
    expect([
      P.isInside("/a/b", "/a"),
      P.isInside("/a", "/a"),
      P.isInside("/ab", "/a"),
      P.isInside("/a", "/"),
    ]).toEqual([true, false, false, true]);
    expect([
      P.pathsOverlap("/a", "/a/b"),
      P.pathsOverlap("/a/b", "/a"),
      P.pathsOverlap("/a", "/a"),
      P.pathsOverlap("/a", "/ab"),
    ]).toEqual([true, true, true, false]);
  });
});

describe("coversAll: do source networks together let everyone in?", () => {
  const c = (...s: string[]): Cidr[] => s.map((x) => parseCidr(x) as Cidr);
  test.each([
    [["0.0.0.0/0"], true],
    [["0.0.0.0/1", "128.0.0.0/1"], true],
    [["128.0.0.0/1", "0.0.0.0/2", "64.0.0.0/2"], true],
    [["0.0.0.0/1", "10.0.0.0/8", "128.0.0.0/2", "192.0.0.0/2"], true],
    [["0.0.0.0/1"], false],
    [["0.0.0.0/1", "128.0.0.0/2"], false],
    [
      [
        "0.0.0.1/32",
        "0.0.0.2/31",
        "0.0.0.4/30",
        "0.0.0.8/29",
        "0.0.0.16/28",
        "0.0.0.32/27",
        "0.0.0.64/26",
        "0.0.0.128/25",
        "0.0.1.0/24",
        "0.0.2.0/23",
        "0.0.4.0/22",
        "0.0.8.0/21",
        "0.0.16.0/20",
        "0.0.32.0/19",
        "0.0.64.0/18",
        "0.0.128.0/17",
        "0.1.0.0/16",
        "0.2.0.0/15",
        "0.4.0.0/14",
        "0.8.0.0/13",
        "0.16.0.0/12",
        "0.32.0.0/11",
        "0.64.0.0/10",
        "0.128.0.0/9",
        "1.0.0.0/8",
        "2.0.0.0/7",
        "4.0.0.0/6",
        "8.0.0.0/5",
        "16.0.0.0/4",
        "32.0.0.0/3",
        "64.0.0.0/2",
        "128.0.0.0/1",
      ],
      false,
    ], // all but 0.0.0.0
    [
      [
        "255.255.255.255/32",
        "0.0.0.0/1",
        "128.0.0.0/2",
        "192.0.0.0/3",
        "224.0.0.0/4",
        "240.0.0.0/5",
        "248.0.0.0/6",
        "252.0.0.0/7",
        "254.0.0.0/8",
        "255.0.0.0/9",
      ],
      false,
    ], // 255.128.0.0-255.255.255.254 left out
    [[], false],
  ])("%j → %s", (nets, expected) => expect(coversAll(c(...nets))).toBe(expected));
});
