/**
 * Generated corpus (issue 11): fast-check builds mutated stacks from Pulumi.prod.yaml's tenant.
 * Each mutator is KNOWN to make one field invalid (hostile strings with $( ` ; quotes and line
 * breaks, "-o" options, "//" "/./" ".." paths, ports 0/65536/1e6, keys whose data is cut, padded or
 * of another type, source lists covering everyone, files written over each other...). Every
 * generated stack must be refused by parseTenant (as the prod stack) with a problem whose path
 * names the mutated field. A fixed seed and a bounded count keep it fast and reproducible; a small
 * fixed sample also goes through the real plan CLI: exit 1, the field on stderr, no stack trace.
 */
import { execFile } from "child_process";
import fc from "fast-check";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { stringify } from "yaml";
import { parseTenant, SpecError } from "../../model";
import { DOC_HOST_KEY, ROOT, stackTenant } from "./fixtures";

type Tenant = Record<string, any>;

/** One generated mutation: what it does to a fresh copy of the prod tenant, and the field it breaks. */
interface Mutation {
  readonly mutator: string;
  readonly field: string;
  readonly apply: (t: Tenant) => void;
}

const SEED = 1111;
const RUNS = 300;
const STACK = "prod";

// ----------------------------------------------------------------------------------------------
// Value generators

/** Fragments no restricted field may hold: shell metacharacters, quotes, line breaks, spaces, NUL. */
const HOSTILE_BITS = [
  "$(touch /tmp/itn-pwned)",
  "`touch /tmp/itn-pwned`",
  ";reboot;",
  '"',
  "'",
  "\n",
  "\r\n",
  " ",
  "|",
  "&",
  ">",
  "\\",
  "\u0000",
  "\t",
];

/** `valid` with a hostile fragment put somewhere in it (and a little noise after). */
const hostile = (valid: string): fc.Arbitrary<string> =>
  fc
    .tuple(fc.constantFrom(...HOSTILE_BITS), fc.nat(valid.length), fc.string({ maxLength: 3 }))
    .map(([bit, at, tail]) => `${valid.slice(0, at)}${bit}${valid.slice(at)}${tail}`);

/** `valid` turned into an option ("-oProxyCommand=..." style). */
const option = (valid: string): fc.Arbitrary<string> =>
  fc.constantFrom(`-o${valid}`, "-oProxyCommand=touch /tmp/itn-pwned", `-${valid}`, "--help");

/** A restricted string field: hostile fragments or an option. */
const badName = (valid: string): fc.Arbitrary<string> => fc.oneof(hostile(valid), option(valid));

/** Absolute paths every path rule refuses: relative, "." or ".." segments, control characters. */
const badPath = (valid: string): fc.Arbitrary<string> => {
  const parts = valid.split("/").filter((p) => p !== "");
  return fc.oneof(
    fc.constant(parts.join("/")), // relative
    fc
      .tuple(fc.nat(parts.length), fc.constantFrom(".", ".."))
      .map(([at, dots]) => `/${[...parts.slice(0, at), dots, ...parts.slice(at)].join("/")}`),
    fc
      .tuple(fc.nat(valid.length - 1), fc.constantFrom("\n", "\r", "\u0000", "\t", "\u007f"))
      .map(([at, c]) => `${valid.slice(0, at + 1)}${c}${valid.slice(at + 1)}`),
  );
};

/** A path spelled with extra "//" and maybe a trailing "/": the same path once normalised. */
const unnormalised = (p: string): fc.Arbitrary<string> =>
  fc
    .tuple(fc.array(fc.boolean(), { minLength: p.length, maxLength: p.length }), fc.boolean())
    .map(([doubles, trailing]) => {
      const s = [...p].map((ch, i) => (ch === "/" && doubles[i] ? "//" : ch)).join("");
      return trailing && p !== "/" ? `${s}/` : s;
    });

const badPort = fc.oneof(
  fc.constantFrom(0, 65536, 1e6, -1, 1.5, 99999),
  fc.integer({ min: 65536, max: 2 ** 31 }),
  fc.integer({ min: -(2 ** 31), max: 0 }),
);

const ED_BLOB = Buffer.from(DOC_HOST_KEY.split(" ")[1], "base64");
/** Host keys that look right but are not: another type word, data cut or padded, a header byte changed, a comment. */
const badHostKey = fc.oneof(
  fc
    .constantFrom("ssh-rsa", "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384", "ecdsa-sha2-nistp521", "ssh-dss")
    .map((type) => `${type} ${ED_BLOB.toString("base64")}`),
  fc
    .integer({ min: 0, max: ED_BLOB.length - 1 })
    .map((n) => `ssh-ed25519 ${ED_BLOB.subarray(0, n).toString("base64")}`),
  fc
    .uint8Array({ minLength: 1, maxLength: 16 })
    .map((extra) => `ssh-ed25519 ${Buffer.concat([ED_BLOB, Buffer.from(extra)]).toString("base64")}`),
  fc.tuple(fc.integer({ min: 0, max: 14 }), fc.integer({ min: 1, max: 255 })).map(([at, delta]) => {
    const b = Buffer.from(ED_BLOB);
    b[at] = (b[at] + delta) % 256; // a byte of the length or the type string: never the same key
    return `ssh-ed25519 ${b.toString("base64")}`;
  }),
  fc.string({ minLength: 1, maxLength: 12 }).map((comment) => `${DOC_HOST_KEY} ${comment}`),
  fc.constantFrom("AAAA", "ssh-ed25519", `ssh-ed25519  ${ED_BLOB.toString("base64")}`, ""),
);

/** A list of networks whose union is 0.0.0.0/0: 0.0.0.0/0 split at random, shuffled, maybe with extra narrower ones. */
const coveringSources = fc
  .tuple(
    fc.array(fc.nat(), { minLength: 1, maxLength: 10 }),
    fc.array(fc.constantFrom("10.0.0.0/8", "203.0.113.64/26", "192.0.2.0/24"), { maxLength: 2 }),
    fc.nat(),
  )
  .map(([splits, extra, order]) => {
    let nets: [number, number][] = [[0, 0]]; // [network, prefix]
    for (const pick of splits) {
      const i = pick % nets.length;
      const [net, prefix] = nets[i];
      if (prefix >= 24) continue;
      const half = 2 ** (31 - prefix);
      nets = [...nets.slice(0, i), [net, prefix + 1], [net + half, prefix + 1], ...nets.slice(i + 1)];
    }
    const text = nets.map(
      ([n, p]) => `${[24, 16, 8, 0].map((s) => Math.floor(n / 2 ** s) % 256).join(".")}/${p}`,
    );
    const all = [...text, ...extra];
    return all
      .map((s, i) => [s, (i * 7919 + order) % 104729] as const)
      .sort((a, b) => a[1] - b[1])
      .map(([s]) => s);
  });

// ----------------------------------------------------------------------------------------------
// The mutators: each generates mutations of one field, all known to be invalid.

const PROD = stackTenant("prod");
const CONTAINERS = Object.keys(PROD.containers).sort();
const TOKEN_FILE = PROD.vault.tokenFile as string;
const ZONE = "example.com";
/** How many records the prod zone has: a pushed record is the next index. */
const PROD_RECORDS = (PROD.dns.zones[ZONE].records as unknown[]).length;
/** A valid migration section to break (the prod stack has none). */
const migration = (): Tenant => ({
  source: { address: "192.0.2.5", hostKey: DOC_HOST_KEY },
  containers: ["llm"],
  data: { llm: { source: "/opt/gbo/tenants/acme/llm", destination: "/opt/gbo/tenants/acme/llm" } },
});
const withMigration = (t: Tenant): Tenant => {
  t.containers.llm.devices = {
    data: { type: "disk", source: "/opt/gbo/tenants/acme/llm", path: "/opt/gbo/data" },
  };
  t.migration = migration();
  return t.migration;
};

/** A mutator: a name and a generator of mutations. */
type Mutator = readonly [string, fc.Arbitrary<Omit<Mutation, "mutator">>];

/** Sets `field` (a dotted path through the tenant) to each generated value. */
const setField = (
  field: string,
  values: fc.Arbitrary<unknown>,
  before?: (t: Tenant) => void,
): fc.Arbitrary<Omit<Mutation, "mutator">> =>
  values.map((v) => ({
    field,
    apply: (t: Tenant) => {
      before?.(t);
      const keys = field.split(".");
      const last = keys.pop() as string;
      const obj = keys.reduce((o, k) => o[k], t);
      obj[last] = v;
    },
  }));

const MUTATORS: readonly Mutator[] = [
  ["tenant name", setField("name", badName("acme"))],
  ["domain", setField("domain", badName("example.com"))],
  [
    "hostname label",
    badName("chat").map((label) => ({
      field: "hostnames[0]",
      apply: (t: Tenant) => void (t.hostnames = [label, "system"]),
    })),
  ],
  ["environment of the prod stack", setField("environment", fc.constant("stage"))],
  [
    "host address",
    setField(
      "host.address",
      fc.oneof(
        badName("203.0.113.10"),
        fc.integer({ min: 1, max: 70000 }).map((p) => `203.0.113.10:${p}`),
        fc.constantFrom("incus1.example.com:22", "[::1]", "10.0.2.300"),
      ),
    ),
  ],
  ["host port", setField("host.port", badPort)],
  ["host user", setField("host.user", badName("admin"))],
  ["host key", setField("host.hostKey", badHostKey)],
  [
    "host key missing in prod",
    fc.constant({ field: "host.hostKey", apply: (t: Tenant) => void delete t.host.hostKey }),
  ],
  [
    "external interface",
    setField(
      "host.externalInterface",
      fc.oneof(badName("eth0"), fc.constantFrom(".", "..", "incusbr0", "averyveryverylongif")),
    ),
  ],
  ["public address", setField("host.publicAddress", badName("203.0.113.10"))],
  ["bridge", setField("network.bridge", fc.oneof(badName("incusbr0"), fc.constantFrom(".", "..")))],
  [
    "subnet",
    setField(
      "network.subnet",
      fc.oneof(
        fc.constant("0.0.0.0/0"),
        fc.integer({ min: 1, max: 7 }).map((p) => `0.0.0.0/${p}`),
        fc
          .tuple(fc.nat(255), fc.integer({ min: 8, max: 24 }))
          .map(([b, p]) => `127.${p >= 16 ? b : 0}.0.0/${p}`),
        fc.constantFrom(
          "10.0.2.0/31",
          "10.0.2.0/32",
          "224.0.0.0/24",
          "169.254.0.0/16",
          "10.0.2.1/24",
          "10.0.2.0/24 ",
        ),
      ),
    ),
  ],
  ["storage pool", setField("storagePool", badName("default"))],
  [
    "default image",
    setField(
      "image",
      fc.oneof(
        hostile("images:debian/12"),
        fc.constantFrom("-images:debian/12", "images:debian/12$(reboot)"),
      ),
    ),
  ],
  [
    "container image",
    fc.tuple(fc.constantFrom(...CONTAINERS), hostile("images:debian/12")).map(([c, v]) => ({
      field: `containers.${c}.image`,
      apply: (t: Tenant) => void (t.containers[c].image = v),
    })),
  ],
  [
    "container port",
    fc.tuple(fc.constantFrom(...CONTAINERS), badPort).map(([c, p]) => ({
      field: `containers.${c}.ports[0]`,
      apply: (t: Tenant) => void (t.containers[c].ports = [p]),
    })),
  ],
  [
    "container name",
    badName("web").map((name) => ({
      field: `containers.${name}`,
      apply: (t: Tenant) => void (t.containers[name] = { ipv4: "10.0.2.99" }),
    })),
  ],
  [
    "device name",
    fc
      .tuple(
        fc.constantFrom(...CONTAINERS),
        fc.oneof(badName("data"), fc.constantFrom(".data", "a".repeat(65), "x/y")),
      )
      .map(([c, dev]) => ({
        field: `containers.${c}.devices.${dev}`,
        apply: (t: Tenant) =>
          void (t.containers[c].devices = { [dev]: { type: "disk", source: "/srv/x", path: "/srv/x" } }),
      })),
  ],
  [
    "device source or path",
    fc
      .tuple(
        fc.constantFrom(...CONTAINERS),
        fc.constantFrom("source", "path"),
        badPath("/opt/gbo/tenants/acme/data"),
      )
      .map(([c, key, p]) => ({
        field: `containers.${c}.devices.data.${key}`,
        apply: (t: Tenant) =>
          void (t.containers[c].devices = {
            data: { type: "disk", source: "/srv/x", path: "/srv/x", [key]: p },
          }),
      })),
  ],
  [
    "device at the root, spelled with //",
    fc
      .tuple(
        fc.constantFrom(...CONTAINERS),
        fc.constantFrom("source", "path"),
        fc.constantFrom("/", "//", "///", "//./"),
        fc.boolean(),
      )
      .map(([c, key, p, unused]) => ({
        field: `containers.${c}.devices.data.${key}`,
        apply: (t: Tenant) =>
          void (t.containers[c].devices = {
            data: { type: "disk", source: "/srv/x", path: unused ? "/srv/x" : "/mnt/x", [key]: p },
          }),
      })),
  ],
  [
    "CI runner mounts a host system path, unnormalised",
    fc.constantFrom("/var/lib/incus", "/etc", "/var/lib/lxd/containers", "/", "/root/.ssh").chain((p) =>
      unnormalised(p).map((source) => ({
        field: `containers.alm-ci.devices.data.source`,
        apply: (t: Tenant) =>
          void (t.containers["alm-ci"].devices = { data: { type: "disk", source, path: "/mnt/x" } }),
      })),
    ),
  ],
  [
    "privileged container mounts a host system path, unnormalised",
    fc.constantFrom("/etc", "/var/lib/incus", "/boot", "/var", "/dev/sda").chain((p) =>
      unnormalised(p).map((source) => ({
        field: `containers.system.devices.data.source`,
        apply: (t: Tenant) =>
          void (t.containers.system.devices = { data: { type: "disk", source, path: "/mnt/x" } }),
      })),
    ),
  ],
  [
    "NAT port",
    fc
      .tuple(fc.nat(6), badPort)
      .map(([i, p]) => ({ field: `nat[${i}].ports[0]`, apply: (t: Tenant) => void (t.nat[i].ports = [p]) })),
  ],
  [
    "NAT target",
    fc
      .tuple(fc.nat(6), badName("proxy"))
      .map(([i, to]) => ({ field: `nat[${i}].to`, apply: (t: Tenant) => void (t.nat[i].to = to) })),
  ],
  [
    "NAT sources covering everyone on a sensitive port",
    fc.tuple(fc.integer({ min: 3, max: 6 }), coveringSources).map(([i, sources]) => ({
      field: `nat[${i}].ports[0]`,
      apply: (t: Tenant) => void (t.nat[i].sources = sources),
    })),
  ],
  [
    "NAT source not a network",
    fc.tuple(fc.integer({ min: 3, max: 6 }), badName("203.0.113.64/26")).map(([i, s]) => ({
      field: `nat[${i}].sources[0]`,
      apply: (t: Tenant) => void (t.nat[i].sources = [s]),
    })),
  ],
  [
    "Caddy sites folder",
    setField("proxy.sitesDir", fc.oneof(badPath("/etc/caddy/sites"), hostile("/etc/caddy/sites"))),
  ],
  [
    "Caddy main file",
    setField("proxy.mainFile", fc.oneof(badPath("/etc/caddy/Caddyfile"), hostile("/etc/caddy/Caddyfile"))),
  ],
  [
    "Caddy main file in the sites folder",
    setField(
      "proxy.mainFile",
      fc
        .constantFrom(
          "/opt/gbo/conf/sites",
          "/opt/gbo/conf/sites/chat.caddy",
          "/opt/gbo/conf/sites/main.caddy",
          "/opt/gbo/conf/sites/x/Caddyfile",
        )
        .chain(unnormalised),
    ),
  ],
  ["zones folder", setField("dns.zonesDir", fc.oneof(badPath("/opt/gbo/data"), hostile("/opt/gbo/data")))],
  ["Corefile", setField("dns.corefile", badPath("/opt/gbo/conf/Corefile"))],
  [
    "Corefile over a zone file",
    setField(
      "dns.corefile",
      fc
        .constantFrom(`/opt/gbo/data/${ZONE}.zone`, `/opt/gbo/data/${ZONE}.zone/Corefile`)
        .chain(unnormalised),
    ),
  ],
  ["sync hook", setField("dns.syncHook", badPath("/opt/gbo/bin/sync-zones.sh"))],
  ["dns container", setField("dns.container", badName("dns"))],
  [
    "MX target a bare label",
    fc.stringMatching(/^[a-z][a-z0-9]{0,10}\.?$/).map((label) => ({
      field: `dns.zones.${ZONE}.records[3].value`,
      apply: (t: Tenant) => void (t.dns.zones[ZONE].records[3].value = label),
    })),
  ],
  [
    "name server a bare label",
    fc.stringMatching(/^[a-z][a-z0-9]{0,10}$/).map((label) => ({
      field: "dns.nameservers[0]",
      apply: (t: Tenant) => void (t.dns.nameservers = [label]),
    })),
  ],
  [
    "TXT or CAA value with a control character",
    fc
      .tuple(
        fc.constantFrom("TXT", "CAA"),
        fc.constantFrom("\n", "\r", "\u0000", "\t", "\u001b", "\u007f"),
        fc.nat(12),
      )
      .map(([type, c, at]) => {
        const base = type === "TXT" ? "v=spf1 mx -all" : '0 issue "letsencrypt.org"';
        const value = `${base.slice(0, at)}${c}@ IN NS evil.example.net.${base.slice(at)}`;
        return {
          field: `dns.zones.${ZONE}.records[${PROD_RECORDS}].value`, // pushed after the stack's records
          apply: (t: Tenant) => void t.dns.zones[ZONE].records.push({ name: "@", type, value }),
        };
      }),
  ],
  [
    "Vault address",
    setField(
      "vault.address",
      fc.oneof(
        fc.integer({ min: 65536, max: 2 ** 31 }).map((p) => `https://127.0.0.1:${p}`),
        fc.constantFrom(
          "https://127.0.0.1:0",
          "127.0.0.1:8200",
          "https://-k:8200",
          "https://127.0.0.1:8200?x",
          "ftp://127.0.0.1",
        ),
        hostile("https://127.0.0.1:8200"),
      ),
    ),
  ],
  [
    "Vault over https without CA",
    fc.constant({ field: "vault.caCert", apply: (t: Tenant) => void delete t.vault.caCert }),
  ],
  ["Vault token file", setField("vault.tokenFile", badPath(TOKEN_FILE))],
  ["Vault CA certificate", setField("vault.caCert", badPath("/opt/gbo/conf/vault/ca.crt"))],
  ["Vault container", setField("vault.container", badName("vault"))],
  [
    "the .env file over init.json",
    unnormalised(TOKEN_FILE).map((p) => ({
      field: "vault.envFile.path",
      apply: (t: Tenant) => void (t.vault.envFile = { ...t.vault.envFile, container: "vault", path: p }),
    })),
  ],
  [
    "migration source without host key",
    fc.constant({
      field: "migration.source.hostKey",
      apply: (t: Tenant) => void delete withMigration(t).source.hostKey,
    }),
  ],
  [
    "migration source host key",
    badHostKey.map((k) => ({
      field: "migration.source.hostKey",
      apply: (t: Tenant) => void (withMigration(t).source.hostKey = k),
    })),
  ],
  [
    "migration source address",
    fc.oneof(badName("192.0.2.5"), fc.constant("192.0.2.5:22")).map((a) => ({
      field: "migration.source.address",
      apply: (t: Tenant) => void (withMigration(t).source.address = a),
    })),
  ],
  [
    "migration source user",
    badName("root").map((u) => ({
      field: "migration.source.user",
      apply: (t: Tenant) => void (withMigration(t).source.user = u),
    })),
  ],
  [
    "LXD address",
    fc
      .oneof(
        fc.integer({ min: 65536, max: 2 ** 31 }).map((p) => `192.0.2.5:${p}`),
        badName("192.0.2.5:8443"),
        fc.constantFrom("192.0.2.5", "-o:8443", "192.0.2.5:0"),
      )
      .map((a) => ({
        field: "migration.lxdAddress",
        apply: (t: Tenant) => void (withMigration(t).lxdAddress = a),
      })),
  ],
  [
    "migration remote",
    fc
      .oneof(fc.constantFrom("local", "images"), badName("lxd-source"))
      .map((r) => ({ field: "migration.remote", apply: (t: Tenant) => void (withMigration(t).remote = r) })),
  ],
  [
    "migration data source too shallow once normalised",
    fc.constantFrom("/", "/opt", "/srv", "/home").chain((p) =>
      unnormalised(p).map((source) => ({
        field: "migration.data.llm.source",
        apply: (t: Tenant) => void (withMigration(t).data.llm.source = source),
      })),
    ),
  ],
  [
    "migration data path",
    badPath("/opt/gbo/tenants/acme/llm").map((p) => ({
      field: "migration.data.llm.source",
      apply: (t: Tenant) => void (withMigration(t).data.llm.source = p),
    })),
  ],
];

const MUTATIONS: fc.Arbitrary<Mutation> = fc.oneof(
  ...MUTATORS.map(([mutator, arb]) => arb.map((m) => ({ ...m, mutator }))),
);

/** True when a problem path is the field or lies below it. */
const names = (problemPath: string, field: string): boolean =>
  problemPath === field || problemPath.startsWith(`${field}.`) || problemPath.startsWith(`${field}[`);

/** The mutated prod tenant. */
const mutated = (m: Mutation): Tenant => {
  const t = structuredClone(PROD);
  m.apply(t);
  return t;
};

/** parseTenant's refusal of a tenant as the prod stack: its problems, or what else happened. */
function refusal(
  t: Tenant,
): { problems: { path: string; message: string }[] } | { accepted: true } | { thrown: unknown } {
  try {
    parseTenant(t, { stack: STACK });
    return { accepted: true };
  } catch (e) {
    return e instanceof SpecError ? { problems: [...e.problems] } : { thrown: e };
  }
}

describe("generated corpus: mutations of Pulumi.prod.yaml, each refused naming its field", () => {
  test("the prod tenant itself is valid as the prod stack", () =>
    expect(refusal(structuredClone(PROD))).toEqual({ accepted: true }));

  test(`${RUNS} generated stacks (seed ${SEED}) are all refused with a problem at the mutated field`, () => {
    const seen = new Map<string, number>();
    fc.assert(
      fc.property(MUTATIONS, (m) => {
        seen.set(m.mutator, (seen.get(m.mutator) ?? 0) + 1);
        const r = refusal(mutated(m));
        if (!("problems" in r))
          throw new Error(`${m.mutator}: not refused by a SpecError: ${JSON.stringify(r)}`);
        if (!r.problems.some((p) => names(p.path, m.field)))
          throw new Error(`${m.mutator}: no problem at ${m.field}: ${JSON.stringify(r.problems)}`);
      }),
      { seed: SEED, numRuns: RUNS, endOnFailure: true },
    );
    // The bounded run must have exercised every mutator (a new mutator makes the run larger if needed).
    expect(MUTATORS.map(([name]) => name).filter((name) => !seen.has(name))).toEqual([]);
  });
});

// ----------------------------------------------------------------------------------------------
// The real CLI for a small fixed sample.

/** One stack per mutator, the first value its generator gives for the seed. */
const CLI_SAMPLE = [
  "host key missing in prod",
  "host address",
  "device name",
  "NAT sources covering everyone on a sensitive port",
  "the .env file over init.json",
  "environment of the prod stack",
];

/** The real CLI, compiled, as `npm run plan` runs it (dist/ from npm run build). */
function planProcess(file: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      "sh",
      ["scripts/run-compiled.sh", "plan", "--stack", STACK, "--stack-file", file],
      { cwd: ROOT, encoding: "utf8", timeout: 120_000 },
      (error, stdout, stderr) => {
        resolve({ code: error ? (typeof error.code === "number" ? error.code : null) : 0, stdout, stderr });
      },
    );
  });
}

describe("the plan CLI (compiled, npm run plan -- --stack prod) refuses a sample of them", () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "itn-corpus-"));
  const sample = CLI_SAMPLE.map((name) => {
    const arb = (MUTATORS.find(([n]) => n === name) as Mutator)[1];
    const [m] = fc.sample(arb, { seed: SEED, numRuns: 1 });
    const file = path.join(dir, `${name.replace(/[^a-z0-9]+/gi, "-")}.yaml`);
    fs.writeFileSync(
      file,
      stringify({ config: { "incus-tenant:tenant": mutated({ ...m, mutator: name }) } }),
    );
    return { name, field: m.field, file };
  });
  const results = new Map<string, { code: number | null; stdout: string; stderr: string }>();
  beforeAll(async () => {
    const runs = await Promise.all(sample.map((s) => planProcess(s.file)));
    sample.forEach((s, i) => results.set(s.name, runs[i]));
  }, 180_000);
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  test("the sample has 6 stacks, one per named mutator", () =>
    expect(sample.map((s) => s.name)).toEqual(CLI_SAMPLE));
  test.each(CLI_SAMPLE)("%s: exit 1, nothing on stdout, the field on stderr, no stack trace", (name) => {
    const s = sample.find((x) => x.name === name) as (typeof sample)[number];
    const r = results.get(name) as { code: number | null; stdout: string; stderr: string };
    expect(r.code).toBe(1);
    expect(r.stdout).toBe("");
    expect(r.stderr).toMatch(/^plan: invalid tenant config \(\d+ problems?\):\n/);
    expect(r.stderr.split("\n").some((line) => line.startsWith(`  - ${s.field}`))).toBe(true);
    expect(r.stderr.split("\n").filter((line) => /^\s+at /.test(line))).toEqual([]);
  });
});
