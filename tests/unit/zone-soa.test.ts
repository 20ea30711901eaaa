/**
 * The zone-file reader of the zone script (render/zone/parse.ts), run as the script runs it:
 * the rendered `zparse` function under bash, with the host's awk (and with every other awk
 * installed here: mawk, gawk, BusyBox). Table-driven over real zone-file layouts; each layout is
 * first loaded by the real `named-checkzone`, whose "loaded serial" is the truth the reader must
 * match.
 */
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { zparseFunction } from "../../render/zone";
import { readZoneFile } from "../../services/dns/zoneRecords";

const dir = fs.mkdtempSync(path.join(os.tmpdir(), "itn-zone-soa-"));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

/** Runs `zparse <mode>` as the zone script defines it, on `text`, with `awk` (a command line) as awk. */
function zparse(mode: "serial" | "records", text: string, zone = "example.com", awk = "awk"): string {
  const [cmd, ...args] = awk.split(" ");
  const real = spawnSync("sh", ["-c", `command -v ${cmd}`], { encoding: "utf8" }).stdout.trim();
  const bin = path.join(dir, `bin-${cmd}`);
  if (!fs.existsSync(bin)) {
    fs.mkdirSync(bin);
    fs.writeFileSync(path.join(bin, "awk"), `#!/bin/sh\nexec ${[real, ...args].join(" ")} "$@"\n`, {
      mode: 0o755,
    });
  }
  const program = `set -euo pipefail\nzone=$1\n${zparseFunction()}\nzparse "$2"`;
  const r = spawnSync("bash", ["-c", program, "zp", zone, mode], {
    encoding: "utf8",
    input: text,
    timeout: 10000,
    env: { ...process.env, PATH: `${bin}:${process.env.PATH}` },
  });
  if (r.status !== 0) throw new Error(`zparse ${mode} failed (${r.status}): ${r.stderr}`);
  return r.stdout;
}

/** named-checkzone's verdict on `text` as zone `zone`: the serial it loaded, or its error output. */
function checkzone(text: string, zone = "example.com"): string {
  const file = path.join(dir, `${zone}.zone`);
  fs.writeFileSync(file, text);
  const r = spawnSync("named-checkzone", [zone, file], { encoding: "utf8" });
  const m = /loaded serial (\d+)/.exec(r.stdout);
  return r.status === 0 && m ? m[1] : `refused: ${r.stdout}${r.stderr}`;
}

const GLUE = "ns1 IN A 203.0.113.10\n";
/** [layout, zone file text, its serial]. */
const LAYOUTS: [string, string, string][] = [
  [
    "the program's own layout (header, $ORIGIN, $TTL, one timer per line)",
    "; managed by incus-tenant: zone example.com (the serial is set at apply time; do not edit by hand)\n" +
      "$ORIGIN example.com.\n$TTL 3600\n@\tIN\tSOA\tns1.example.com. hostmaster.example.com. (\n" +
      "        2026112203 ; serial\n        3600 ; refresh\n        900 ; retry\n" +
      "        1209600 ; expire\n        300 ; minimum\n        )\n@\tIN\tNS\tns1.example.com.\n" +
      GLUE,
    "2026112203",
  ],
  [
    "SOA on one line, no $TTL (TTL on the record), no $ORIGIN",
    "@ 3600 IN SOA ns1.example.com. hostmaster.example.com. 2024010101 3600 900 1209600 300\n" +
      "@ 3600 IN NS ns1\n" +
      "ns1 3600 IN A 203.0.113.10\n",
    "2024010101",
  ],
  [
    "runbook style: parenthesised, a comment on every line, relative names",
    "$TTL 1h\n$ORIGIN example.com.\n" +
      "@\tIN\tSOA\tns1 hostmaster (\n\t\t2025063007\t; Serial (YYYYMMDDNN)\n" +
      "\t\t3h\t\t; Refresh\n\t\t15m\t\t; Retry\n\t\t2w\t\t; Expire\n\t\t5m )\t\t; Negative TTL\n" +
      "\tIN\tNS\tns1\n" +
      GLUE,
    "2025063007",
  ],
  [
    "comments before the SOA hold digits, parentheses and a fake serial line",
    "; example.com (serial 1999010101 was the old one) ;; (\n;        2000010100 ; serial\n" +
      "$TTL 300\n@ IN SOA ns1.example.com. hostmaster.example.com. ( ; open ( here\n" +
      "  2023120515 ; serial ) still a comment\n  7200 3600 604800 300 )\n@ IN NS ns1.example.com.\n" +
      GLUE,
    "2023120515",
  ],
  [
    "absolute owner, class before TTL, lower-case keywords",
    "$ttl 3600\nexample.com. in 86400 soa ns1.example.com. hostmaster.example.com. (\n" +
      "  2022022201 10800 3600 604800 3600 )\nexample.com. in ns ns1.example.com.\n" +
      GLUE,
    "2022022201",
  ],
  [
    "no class at all, TTL with units",
    "$TTL 1d\n@ 1D SOA ns1.example.com. hostmaster.example.com. 2021070400 1h 15m 1w 1h\n" +
      "@ NS ns1.example.com.\nns1 A 203.0.113.10\n",
    "2021070400",
  ],
  [
    "parentheses glued to the numbers, the whole SOA in them on one line",
    "$TTL 3600\n@ IN SOA ns1.example.com. hostmaster.example.com. (2020123199 3600 900 1209600 300)\n" +
      "@ IN NS ns1.example.com.\n" +
      GLUE,
    "2020123199",
  ],
  [
    "every SOA field on its own line, the names too, inside the parentheses",
    "$TTL 3600\n@ IN SOA (\n    ns1.example.com.\n    hostmaster.example.com.\n    2019111111\n" +
      "    3600\n    900\n    1209600\n    300\n    )\n@ IN NS ns1.example.com.\n" +
      GLUE,
    "2019111111",
  ],
  [
    "$ORIGIN set to the parent and the owner written relative to it",
    "$TTL 3600\n$ORIGIN com.\n" +
      "example IN SOA ns1.example.com. hostmaster.example.com. 2018010101 3600 900 1209600 300\n" +
      "example IN NS ns1.example.com.\n$ORIGIN example.com.\n" +
      GLUE,
    "2018010101",
  ],
  [
    "records and a quoted ';' and '(' in a TXT before the SOA; CRLF line ends",
    '$TTL 3600\r\nwww IN TXT "a;b (c" ; real comment\r\n' +
      "@ IN SOA ns1.example.com. hostmaster.example.com. ( 2017050505 3600 900 1209600 300 )\r\n" +
      "@ IN NS ns1.example.com.\r\n" +
      GLUE.replace("\n", "\r\n"),
    "2017050505",
  ],
  [
    "a small serial (not a date) and tabs everywhere",
    "$TTL\t3600\n@\tIN\tSOA\tns1.example.com.\thostmaster.example.com.\t(\t42\t3600\t900\t1209600\t300\t)\n" +
      "@\tIN\tNS\tns1.example.com.\nns1\tIN\tA\t203.0.113.10\n",
    "42",
  ],
  [
    "the largest serial there is",
    "$TTL 3600\n@ IN SOA ns1.example.com. hostmaster.example.com. 4294967295 3600 900 1209600 300\n" +
      "@ IN NS ns1.example.com.\n" +
      GLUE,
    "4294967295",
  ],
  [
    "blank owners after the SOA, a second $ORIGIN below the apex",
    "$ORIGIN example.com.\n$TTL 3600\nexample.com. IN SOA ns1 hostmaster 2016060601 3600 900 1209600 300\n" +
      "  IN NS ns1\n  IN MX 10 mail\n$ORIGIN sub.example.com.\nhost IN A 192.0.2.1\n" +
      "$ORIGIN example.com.\nmail IN A 203.0.113.25\n" +
      GLUE,
    "2016060601",
  ],
];

const AWKS = [
  "awk",
  ...["mawk", "gawk", "busybox awk"].filter(
    (a) => spawnSync("sh", ["-c", `command -v ${a.split(" ")[0]}`]).status === 0,
  ),
];

describe("zparse serial: the SOA serial of real zone layouts, as named-checkzone loads it", () => {
  test("every layout is a valid zone (named-checkzone loads it) and they are all different", () => {
    expect(LAYOUTS.map(([what, text]) => [what, checkzone(text)])).toEqual(
      LAYOUTS.map(([what, , serial]) => [what, serial]),
    );
    expect(new Set(LAYOUTS.map(([, t]) => t)).size).toBe(LAYOUTS.length);
  });
  test.each(
    LAYOUTS.flatMap(([what, text, serial]) =>
      AWKS.map((awk): [string, string, string, string] => [what, awk, text, serial]),
    ),
  )("%s (%s)", (_what, awk, text, serial) =>
    expect(zparse("serial", text, "example.com", awk)).toBe(`${serial}\n`),
  );
  test("no SOA: nothing printed; only the first SOA counts", () => {
    expect(zparse("serial", "www IN A 192.0.2.1\n; 2024010101 ; serial\n")).toBe("");
    expect(zparse("serial", "")).toBe("");
  });
});

describe("zparse records: owner TYPE rdata, whatever the layout", () => {
  test("the same records written two ways read the same", () => {
    const program = LAYOUTS[0][1] + "www\tIN\tCNAME\tns1.example.com.\n@\tIN\tMX\t10 mail.example.com.\n";
    const hand =
      "$TTL 1h\n@ IN SOA ns1 hostmaster ( 7 1 1 1 1 )\n  in ns NS1\nNS1.example.com. 300 A 203.0.113.10\n" +
      "WWW CNAME ns1\n@ 60 IN MX 010 Mail\n";
    expect(zparse("records", hand)).toBe(zparse("records", program));
    expect(zparse("records", program)).toBe(
      "example.com. NS ns1.example.com.\n" +
        "ns1.example.com. A 203.0.113.10\n" +
        "www.example.com. CNAME ns1.example.com.\n" +
        "example.com. MX 10 mail.example.com.\n",
    );
  });
  test("every type the stack writes, $ORIGIN changes, quoted strings; $INCLUDE and $GENERATE as they are", () => {
    const text =
      "$ORIGIN Example.com.\n$TTL 3600\n@ IN SOA ns1 hostmaster 1 2 3 4 5\n" +
      '@ IN TXT "v=spf1 mx; -all" "two (x)"\n_dmarc IN TXT v=DMARC1\n' +
      '@ IN CAA 0 ISSUE "letsencrypt.org"\nv6 IN AAAA 2001:DB8::1\n' +
      "_sip._tcp IN SRV 10 05 5060 sip\n_x._udp IN SRV 1 1 1 .\n$ORIGIN sub\nhost A 192.0.2.1\n" +
      "stage IN NS ns1.stage.example.com.\n$INCLUDE /etc/extra.zone\n$GENERATE 1-3 h$ A 192.0.2.$\n";
    expect(zparse("records", text).split("\n")).toEqual([
      'example.com. TXT "v=spf1 mx; -all" "two (x)"',
      '_dmarc.example.com. TXT "v=DMARC1"',
      'example.com. CAA 0 issue "letsencrypt.org"',
      "v6.example.com. AAAA 2001:db8::1",
      "_sip._tcp.example.com. SRV 10 5 5060 sip.example.com.",
      "_x._udp.example.com. SRV 1 1 1 .",
      "host.sub.example.com. A 192.0.2.1",
      "stage.sub.example.com. NS ns1.stage.example.com.",
      "$INCLUDE /etc/extra.zone",
      "$GENERATE 1-3 h$ A 192.0.2.$",
      "",
    ]);
  });
});

describe("the TypeScript twin used by plan --live (services/dns/zoneRecords.ts) reads as the awk does", () => {
  const MORE =
    "$ORIGIN Example.com.\n$TTL 3600\n@ IN SOA ns1 hostmaster 1 2 3 4 5\n" +
    '@ IN TXT "v=spf1 mx; -all" "two (x)"\n_dmarc IN TXT v=DMARC1\n@ IN TXT ""\n' +
    '@ IN CAA 0 ISSUE "letsencrypt.org"\nv6 IN AAAA 2001:DB8::1\nodd IN HINFO\n' +
    "_sip._tcp IN SRV 10 05 5060 sip\n_x._udp IN SRV 1 1 1 .\n$ORIGIN sub\nhost A 192.0.2.1\n" +
    "  MX 5 mx.other.org.\n$INCLUDE /etc/extra.zone\n$GENERATE 1-3 h$ A 192.0.2.$\nopen IN TXT ( a\n";
  test.each([...LAYOUTS.map(([what, text]): [string, string] => [what, text]), ["every record kind", MORE]])(
    "%s",
    (_what, text) => {
      const ts = readZoneFile(text, "example.com");
      expect(ts.serial === undefined ? "" : `${ts.serial}\n`).toBe(zparse("serial", text));
      expect(ts.records.map((r) => `${r}\n`).join("")).toBe(zparse("records", text));
    },
  );
});
