/**
 * DNS zones: validation with exact messages, exact renderer text, and every rendered zone through
 * the real `named-checkzone`. The host scripts are tested in zone-scripts.test.ts.
 */
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { formatPath } from "../../model";
import { MESSAGES } from "../../model/primitives";
import { checkZones, dnsSectionSchema, zoneNameProblem } from "../../model/zones";
import {
  renderCorefile,
  renderCorefileScripts,
  renderZone,
  renderZoneBody,
  renderZoneScripts,
  TODAY_COMMAND,
} from "../../render/zone";
import type { DnsSpec } from "../../model/zones";
import { base, derive, zoneA } from "./zoneFixtures";

const problems = (raw: unknown): string[] => {
  const parsed = dnsSectionSchema.safeParse(raw);
  if (!parsed.success)
    return parsed.error.issues.map((i) => `${formatPath(["dns", ...i.path])}: ${i.message}`);
  return checkZones(parsed.data).map((p) => `${p.path}: ${p.message}`);
};

const EXPECTED_ZONE =
  "; managed by incus-tenant: zone example.com (the serial is set at apply time; do not edit by hand)\n" +
  `$ORIGIN example.com.
$TTL 3600
@\tIN\tSOA\tns1.example.com. hostmaster.example.com. (
        2026112203 ; serial
        3600 ; refresh
        900 ; retry
        1209600 ; expire
        300 ; minimum
        )
@\tIN\tNS\tns1.example.com.
@\tIN\tNS\tns2.example.net.
@\tIN\tA\t203.0.113.10
@\tIN\tMX\t10 mail.example.com.
@\tIN\tTXT\t"v=spf1 mx -all"
chat\tIN\tA\t203.0.113.10
mail\tIN\tA\t203.0.113.25
ns1\tIN\tA\t203.0.113.10
`;

describe("dns section: defaults and derivation", () => {
  test("defaults follow the runbooks (zone files in /opt/gbo/data, container dns)", () => {
    const d = derive(base());
    expect([d.container, d.zonesDir, d.corefile, d.secondaries, d.syncHook]).toEqual([
      "dns",
      "/opt/gbo/data",
      "/opt/gbo/conf/Corefile",
      [],
      undefined,
    ]);
    expect(d.zones.map((z) => [z.name, z.file, z.ttl, z.primary, z.hostmaster])).toEqual([
      ["example.com", "/opt/gbo/data/example.com.zone", 3600, "ns1.example.com.", "hostmaster.example.com."],
    ]);
  });
  test("server (the program the preflight looks for) and takeOver pass through; unset by default", () => {
    expect([derive(base()).server, derive(base()).zones[0].takeOver]).toEqual([undefined, false]);
    const raw: Record<string, any> = { ...base(), server: "named" };
    raw.zones["example.com"].takeOver = true;
    expect([derive(raw).server, derive(raw).zones[0].takeOver]).toEqual(["named", true]);
  });
  test("records are sorted canonically (apex first, then name, type, data) and names lower-cased", () => {
    const raw = base();
    raw.zones["example.com"].records.push(
      { name: "Www", type: "CNAME", value: "@" },
      { name: "@", type: "CAA", value: "0 issue letsencrypt.org" },
      { name: "v6", type: "AAAA", value: "2001:DB8::1", ttl: 300 },
    );
    raw.zones["example.org"] = {
      records: [
        { name: "_sip._tcp", type: "SRV", value: "5 5060 sip.example.org.", priority: 10 },
        { name: "sip", type: "A", value: "203.0.113.30" },
      ],
    };
    const d = derive(raw);
    expect(d.zones.map((z) => z.name)).toEqual(["example.com", "example.org"]);
    expect(d.zones[0].records.map((r) => `${r.name} ${r.ttl ?? "-"} ${r.type} ${r.data}`)).toEqual([
      "@ - A 203.0.113.10",
      "@ - MX 10 mail.example.com.",
      '@ - TXT "v=spf1 mx -all"',
      '@ - CAA 0 issue "letsencrypt.org"',
      "chat - A 203.0.113.10",
      "mail - A 203.0.113.25",
      "ns1 - A 203.0.113.10",
      "v6 300 AAAA 2001:db8::1",
      "www - CNAME example.com.",
    ]);
    expect(d.zones[1].records.map((r) => r.data)).toEqual(["10 5 5060 sip.example.org.", "203.0.113.30"]);
  });
  test("hostmaster in DNS form, and dots in the e-mail local part are escaped", () => {
    expect(derive({ ...base(), hostmaster: "hostmaster.example.com" }).zones[0].hostmaster).toBe(
      "hostmaster.example.com.",
    );
    expect(derive({ ...base(), hostmaster: "dns.admin@example.com" }).zones[0].hostmaster).toBe(
      "dns\\.admin.example.com.",
    );
  });
  test("zoneNameProblem: exact names with an A, AAAA or CNAME record only", () => {
    const zoneHasName = (d: DnsSpec, n: string): boolean => zoneNameProblem(d, n) === undefined;
    const raw = base();
    raw.zones["example.com"].records.push(
      { name: "www", type: "CNAME", value: "chat.example.com" },
      { name: "_dmarc", type: "TXT", value: "v=DMARC1; p=none" },
    );
    const d = derive(raw);
    expect(
      ["chat.example.com", "CHAT.example.com.", "example.com", "www.example.com"].map((n) =>
        zoneHasName(d, n),
      ),
    ).toEqual([true, true, true, true]);
    expect(
      ["webmail.example.com", "_dmarc.example.com", "example.org", "x.chat.example.com"].map((n) =>
        zoneHasName(d, n),
      ),
    ).toEqual([false, false, false, false]);
  });
  test("zoneNameProblem follows CNAME chains inside the tenant's zones; targets elsewhere count as reachable", () => {
    const raw = base();
    raw.zones["example.com"].records.push(
      { name: "a", type: "CNAME", value: "b.example.com" },
      { name: "b", type: "CNAME", value: "chat.example.com" },
      { name: "dangling", type: "CNAME", value: "gone.example.com" },
      { name: "loop1", type: "CNAME", value: "loop2.example.com" },
      { name: "loop2", type: "CNAME", value: "loop1.example.com" },
      { name: "cdn", type: "CNAME", value: "edge.cdn.example.net" },
    );
    const d = derive(raw);
    expect(zoneNameProblem(d, "a.example.com")).toBeUndefined();
    expect(zoneNameProblem(d, "cdn.example.com")).toBeUndefined();
    expect(zoneNameProblem(d, "dangling.example.com")).toBe(
      "is a CNAME (dangling.example.com -> gone.example.com) ending at a name with no A, " +
        "AAAA or CNAME record in the tenant's zones",
    );
    expect(zoneNameProblem(d, "loop1.example.com")).toBe(
      "is a CNAME loop (loop1.example.com -> loop2.example.com -> loop1.example.com)",
    );
    expect(zoneNameProblem(d, "none.example.com")).toBe(
      "has no A, AAAA or CNAME record in the tenant's zones",
    );
  });
});

type Mutate = (d: Record<string, any>) => void;
const recs = (d: Record<string, any>): Record<string, any>[] => d.zones["example.com"].records;
const LONG = `${"a".repeat(63)}.${"b".repeat(63)}.${"c".repeat(63)}.${"d".repeat(53)}`;
const INVALID: [string, Mutate, string[]][] = [
  [
    "A value not IPv4",
    (d) => (recs(d)[2].value = "203.0.113.300"),
    ['dns.zones.example.com.records[2].value: "203.0.113.300" is not an IPv4 address'],
  ],
  [
    "AAAA value not IPv6",
    (d) => recs(d).push({ name: "v6", type: "AAAA", value: "203.0.113.10" }),
    ['dns.zones.example.com.records[6].value: "203.0.113.10" is not an IPv6 address'],
  ],
  [
    "MX without priority",
    (d) => delete recs(d)[4].priority,
    ["dns.zones.example.com.records[4].priority: an MX record needs a priority (0-65535)"],
  ],
  [
    "MX to an address",
    (d) => (recs(d)[4].value = "203.0.113.25"),
    ['dns.zones.example.com.records[4].value: "203.0.113.25" is not a host name'],
  ],
  [
    "MX to a bad name",
    (d) => (recs(d)[4].value = "mail..example.com"),
    ['dns.zones.example.com.records[4].value: "mail..example.com" is not a host name: has an empty label'],
  ],
  [
    "MX target in the zone without address",
    (d) => (recs(d)[4].value = "mx.example.com"),
    [
      "dns.zones.example.com.records[4].value: mx.example.com is inside zone example.com " +
        "but has no A or AAAA record there",
    ],
  ],
  [
    "priority on an A record",
    (d) => (recs(d)[2].priority = 5),
    ["dns.zones.example.com.records[2].priority: priority is only used by MX and SRV records"],
  ],
  [
    "CNAME at the apex",
    (d) => recs(d).push({ name: "@", type: "CNAME", value: "chat.example.com" }),
    ["dns.zones.example.com.records[6].name: a CNAME record is not allowed at the zone apex (@)"],
  ],
  [
    "CNAME beside an A record",
    (d) => recs(d).push({ name: "chat", type: "CNAME", value: "www.example.org" }),
    [
      'dns.zones.example.com.records[6].name: "chat" has a CNAME record, ' +
        "so it can have no other record (records[2] is type A)",
    ],
  ],
  [
    "identical record twice (name case ignored)",
    (d) => recs(d).push({ name: "CHAT", type: "A", value: "203.0.113.10", ttl: 60 }),
    ["dns.zones.example.com.records[6]: duplicate of records[2]"],
  ],
  [
    "label of 64 characters",
    (d) => (recs(d)[2].name = "a".repeat(64)),
    [
      `dns.zones.example.com.records[2].name: "${"a".repeat(64)}" is not a valid record name: ` +
        `label "${"a".repeat(64)}" is longer than 63 characters`,
    ],
  ],
  [
    "label with a leading hyphen",
    (d) => (recs(d)[2].name = "-chat"),
    [
      'dns.zones.example.com.records[2].name: "-chat" is not a valid record name: ' +
        'label "-chat" starts or ends with a hyphen',
    ],
  ],
  [
    "label with a space",
    (d) => (recs(d)[2].name = "ch at"),
    [
      'dns.zones.example.com.records[2].name: "ch at" is not a valid record name: ' +
        'label "ch at" may only hold letters, digits, - and _',
    ],
  ],
  [
    "empty label",
    (d) => (recs(d)[2].name = "a..chat"),
    ['dns.zones.example.com.records[2].name: "a..chat" is not a valid record name: has an empty label'],
  ],
  [
    "name longer than 253 with the zone",
    (d) => (recs(d)[2].name = LONG),
    [`dns.zones.example.com.records[2].name: "${LONG}.example.com" is longer than 253 characters`],
  ],
  [
    "absolute name written out",
    (d) => (recs(d)[2].name = "chat.example.com"),
    [
      'dns.zones.example.com.records[2].name: names are relative to the zone: write "chat", not "chat.example.com"',
    ],
  ],
  [
    "zone name as record name",
    (d) => (recs(d)[2].name = "Example.com"),
    ['dns.zones.example.com.records[2].name: names are relative to the zone: write "@", not "Example.com"'],
  ],
  [
    "trailing dot on a record name",
    (d) => (recs(d)[2].name = "chat."),
    [
      'dns.zones.example.com.records[2].name: "chat." is not a valid record name: ' +
        'names are relative to the zone ("@" for the apex), drop the trailing dot',
    ],
  ],
  [
    "apex NS record",
    (d) => recs(d).push({ name: "@", type: "NS", value: "ns3.example.org" }),
    ["dns.zones.example.com.records[6].name: apex NS records come from dns.nameservers"],
  ],
  [
    "TXT with non-ASCII text",
    (d) => (recs(d)[5].value = "café"),
    ["dns.zones.example.com.records[5].value: TXT values must be printable ASCII text"],
  ],
  [
    "SRV without port",
    (d) => recs(d).push({ name: "_sip._tcp", type: "SRV", value: "5 mail.example.com", priority: 10 }),
    [
      'dns.zones.example.com.records[6].value: "5 mail.example.com" must be "<weight> <port> <target>" ' +
        'like "5 5060 sip.example.com"',
    ],
  ],
  [
    "CAA without flags",
    (d) => recs(d).push({ name: "@", type: "CAA", value: "issue letsencrypt.org" }),
    [
      'dns.zones.example.com.records[6].value: "issue letsencrypt.org" must be "<flags> <tag> <value>" ' +
        'like "0 issue \\"letsencrypt.org\\""',
    ],
  ],
  [
    "zone name with a space",
    (d) => (d.zones["exa mple.org"] = { records: [] }),
    [
      'dns.zones.exa mple.org: "exa mple.org" is not a valid zone name: ' +
        'label "exa mple" may only hold letters, digits, - and _',
    ],
  ],
  [
    "zone name in upper case",
    (d) => (d.zones["Example.org"] = { records: [] }),
    ['dns.zones.Example.org: zone names must be lower case: write "example.org"'],
  ],
  [
    "in-zone name server without address",
    (d) => (d.nameservers[0] = "ns3.example.com"),
    ["dns.nameservers[0]: ns3.example.com is inside zone example.com but has no A or AAAA record there"],
  ],
  [
    "name server not a name",
    (d) => (d.nameservers[1] = "ns2..example.net"),
    ['dns.nameservers[1]: "ns2..example.net" is not a host name: has an empty label'],
  ],
  [
    "name server listed twice",
    (d) => d.nameservers.push("NS2.example.net."),
    ["dns.nameservers[2]: duplicate of nameservers[1]"],
  ],
  [
    "hostmaster not an address",
    (d) => (d.hostmaster = "not an email"),
    [
      'dns.hostmaster: "not an email" must be an e-mail address like hostmaster@example.com ' +
        "or a DNS name like hostmaster.example.com",
    ],
  ],
  [
    "unknown record type",
    (d) => (recs(d)[0].type = "PTR"),
    ["dns.zones.example.com.records[0].type: must be one of A, AAAA, CNAME, MX, TXT, NS, SRV, CAA"],
  ],
  [
    "secondary not IPv4",
    (d) => (d.secondaries = ["198.51.100"]),
    ["dns.secondaries[0]: must be an IPv4 address like 10.0.2.10"],
  ],
  ["no name server", (d) => (d.nameservers = []), ["dns.nameservers: must list at least one name server"]],
  [
    "server not a program name",
    (d) => (d.server = "/usr/bin/coredns; rm"),
    ["dns.server: must be a program name like coredns or named"],
  ],
  [
    "takeOver not a boolean",
    (d) => (d.zones["example.com"].takeOver = "yes"),
    ["dns.zones.example.com.takeOver: must be true or false"],
  ],
  ["no zone", (d) => (d.zones = {}), ["dns.zones: must declare at least one zone"]],
  ["sync hook not absolute", (d) => (d.syncHook = "sync-zones.sh"), [`dns.syncHook: ${MESSAGES.absPath}`]],
  [
    "negative TTL",
    (d) => (recs(d)[0].ttl = -1),
    ["dns.zones.example.com.records[0].ttl: must be from 0 to 2147483647 seconds"],
  ],
];

describe("dns validation (exact messages with field paths)", () => {
  test("the base section has no problem", () => expect(problems(base())).toEqual([]));
  test.each(INVALID)("%s", (_what, mutate, expected) => {
    const raw = base();
    mutate(raw);
    expect(problems(raw)).toEqual(expected);
  });
  test("paths follow the given prefix", () => {
    const raw = base();
    recs(raw)[2].value = "nope";
    expect(checkZones(dnsSectionSchema.parse(raw), "services.dns")).toEqual([
      { path: "services.dns.zones.example.com.records[2].value", message: '"nope" is not an IPv4 address' },
    ]);
  });
  test("a TXT value longer than 255 characters is fine: it is split into strings of 255", () => {
    const raw = base();
    recs(raw)[5].value = `${"x".repeat(300)}"\\`;
    expect(problems(raw)).toEqual([]);
    expect(derive(raw).zones[0].records.find((r) => r.type === "TXT")!.data).toBe(
      `"${"x".repeat(255)}" "${"x".repeat(45)}\\"\\\\"`,
    );
  });
});

describe("renderers (exact text)", () => {
  test("zone file", () => expect(renderZone(zoneA(), "2026112203")).toBe(EXPECTED_ZONE));
  test("zone body = the file with the serial masked; bad serials are refused", () => {
    expect(renderZoneBody(zoneA())).toBe(EXPECTED_ZONE.replace("2026112203 ; serial", "@SERIAL@ ; serial"));
    expect(() => renderZone(zoneA(), "202611220")).toThrow(
      'renderZone: serial must be YYYYMMDDNN, got "202611220"',
    );
  });
  test("Corefile: one block per zone, file + transfer to secondaries only + runbook 002 acl, cache, errors", () => {
    const raw: Record<string, any> = { ...base(), secondaries: ["198.51.100.3", "198.51.100.2"] };
    raw.zones["example.org"] = { records: [{ name: "@", type: "A", value: "203.0.113.30" }] };
    expect(renderCorefile(derive(raw)))
      .toBe(`# managed by incus-tenant: CoreDNS Corefile of container dns (one server block per zone)

${["example.com", "example.org"]
  .map(
    (z) => `# zone ${z}
${z}:53 {
    file /opt/gbo/data/${z}.zone
    transfer {
        to 198.51.100.2 198.51.100.3
    }
    acl {
        allow type AXFR IXFR net 198.51.100.2/32 198.51.100.3/32
        block type AXFR IXFR
        allow type ANY net 10.0.0.0/8 127.0.0.0/8
        allow type A AAAA CAA CNAME MX NS SOA SRV TXT net 0.0.0.0/0 ::/0
        block
    }
    cache
    errors
}
# end of zone ${z}`,
  )
  .join("\n\n")}
`);
  });
  test("Corefile follows runbook 002: cache, and no query log", () => {
    const text = renderCorefile(derive(base()));
    expect(text.split("\n").filter((l) => /^ {4}(cache|log|errors)$/.test(l))).toEqual([
      "    cache",
      "    errors",
    ]);
  });
  test("Corefile without secondaries: no transfer, every AXFR/IXFR blocked", () => {
    const text = renderCorefile(derive(base()));
    expect(text).not.toContain("transfer");
    expect(text).toContain(
      "    acl {\n        block type AXFR IXFR\n        allow type ANY net 10.0.0.0/8 127.0.0.0/8\n",
    );
  });
  test("scripts: date from the host at apply time, never SIGHUP, stable text", () => {
    const pair = renderZoneScripts(derive(base()), zoneA());
    expect(TODAY_COMMAND).toBe("date -u +%Y%m%d");
    expect(pair.create).toContain("  today=$(date -u +%Y%m%d)\n");
    expect(pair.create).not.toMatch(/ITN_TODAY|HUP/);
    expect(renderCorefileScripts(derive(base())).create).toContain("pkill -USR1 -x coredns");
    expect(renderZoneScripts(derive(base()), zoneA())).toEqual(pair);
    expect(pair.create.split("\n").slice(0, 2)).toEqual([
      "# managed by incus-tenant: dns zone example.com in container dns",
      "set -euo pipefail",
    ]);
  });
});

describe("named-checkzone accepts every rendered zone", () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "itn-checkzone-"));
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));
  const rich = (): Record<string, any> => {
    const raw = base();
    recs(raw).push(
      { name: "www", type: "CNAME", value: "chat.example.com" },
      { name: "v6", type: "AAAA", value: "2001:db8::10", ttl: 300 },
      { name: "@", type: "CAA", value: '0 issue "letsencrypt.org"' },
      { name: "_sip._tcp", type: "SRV", value: "5 5060 mail.example.com", priority: 10 },
      { name: "long", type: "TXT", value: `${"k".repeat(600)} "quoted" \\ end` },
      { name: "sub", type: "NS", value: "ns.elsewhere.net" },
    );
    raw.zones["example.org"] = { records: [{ name: "@", type: "A", value: "203.0.113.30" }] };
    return raw;
  };
  /** Prod delegates stage.example.com: NS records for the subdomain and the glue A of its name server. */
  const delegating = (): Record<string, any> => {
    const raw = base();
    recs(raw).push(
      { name: "stage", type: "NS", value: "ns1.stage.example.com" },
      { name: "ns1.stage", type: "A", value: "203.0.113.20" },
    );
    return raw;
  };
  test("a delegated subdomain (NS + glue in the parent zone) is valid and rendered as such", () => {
    expect(problems(delegating())).toEqual([]);
    const lines = renderZone(derive(delegating()).zones[0], "2026112200").split("\n");
    expect(lines.filter((l) => l.startsWith("stage\t") || l.startsWith("ns1.stage\t"))).toEqual([
      "ns1.stage\tIN\tA\t203.0.113.20",
      "stage\tIN\tNS\tns1.stage.example.com.",
    ]);
  });
  // `-i local`: the glue of a delegated name is below the zone cut, which named-checkzone's
  // full integrity check treats as out of zone and resolves through the network (none here).
  test.each([
    ["base", base, []],
    ["every record type, long TXT, two zones", rich, []],
    ["stage delegated from prod: NS for the subdomain plus glue", delegating, ["-i", "local"]],
  ])("%s", (_what, make, flags) => {
    for (const zone of derive(make()).zones) {
      const file = path.join(dir, `${zone.name}.zone`);
      fs.writeFileSync(file, renderZone(zone, "2026112200"));
      const r = spawnSync("named-checkzone", [...flags, zone.name, file], { encoding: "utf8" });
      expect(`${r.stdout}${r.stderr}`).toBe(`zone ${zone.name}/IN: loaded serial 2026112200\nOK\n`);
      expect(r.status).toBe(0);
    }
  });
});
