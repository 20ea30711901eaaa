/**
 * `npm run verify` (render/verify.ts, scripts/verify.ts): the read script run for real under
 * bash with stand-in iptables-save, curl, dig and incus playing a host from files; the parsed
 * checks, the table and the JSON are asserted exactly, and bad input is refused before any
 * remote command.
 */
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { parseTenant } from "../../model";
import {
  listeningPorts,
  parseVerify,
  verifyChecks,
  verifyScript,
  verifyTable,
  zoneFileSerial,
} from "../../render/verify";
import { main } from "../../scripts/verify";
import { baseTenant } from "./fixtures";

/** Stand-ins: state under $BED; every call appended to $BED/calls. */
const TOOLS: Record<string, string> = {
  "iptables-save": `cat "$BED/nat"`,
  curl:
    `for a; do case $a in https://*) d=\${a#https://}; d=\${d%/}; ` +
    `esac; done; cat "$BED/http-$d" 2>/dev/null || { printf 000; ` +
    `exit 7; }`,
  dig:
    `for a; do case $a in @*) ip=\${a#@};; esac; done; cat "$BED/soa-$ip" ` +
    `2>/dev/null || { echo ';; no servers could be reached'; exit ` +
    `9; }`,
  incus: [
    `[ "$1 $2" = "exec -n" ] || exit 98; c=$3; shift 4`,
    `case "$1" in`,
    `  curl) cat "$BED/health" 2>/dev/null || { printf 000; exit 7; };;`,
    `  sh) case "$3" in *proc/net*) cat "$BED/sockets-$c" 2>/dev/null ` +
      `|| { echo "Error: Instance is not running" >&2; exit 1; };;`,
    `      *) f="$BED/file-$c$5"; [ -e "$f" ] || exit 3; cat "$f";; esac;;`,
    `esac`,
  ].join("\n"),
};

/** A tenant with proxy + two vhosts, one zone, Vault, and ports (baseTenant's NAT: 80/443 → proxy, 53 → dns). */
function raw(): Record<string, any> {
  const t = baseTenant();
  t.containers.vault = { ipv4: "10.0.2.30", ports: [8200] };
  t.proxy = { container: "proxy", tls: { internal: true } };
  t.vhosts = {
    chat: { upstream: { container: "system", port: 5858 } },
    alm: { upstream: { container: "system", port: 5858 } },
  };
  t.dns = {
    container: "dns",
    nameservers: ["ns1.example.com"],
    hostmaster: "hostmaster@example.com",
    zones: {
      "example.com": {
        records: [
          { name: "chat", type: "A", value: "203.0.113.10" },
          { name: "alm", type: "A", value: "203.0.113.10" },
          { name: "ns1", type: "A", value: "203.0.113.10" },
        ],
      },
    },
  };
  t.vault = {
    container: "vault",
    address: "http://127.0.0.1:8200",
    tokenFile: "/root/.vault-token",
    mount: "secret",
    paths: { "gbo/llm": { keys: { url: { value: "http://10.0.2.11:8081" } } } },
  };
  t.containers.tables.ports = [];
  return t;
}
const SPEC = parseTenant(raw());

const ZONE = `$TTL 3600
@ IN SOA ns1.example.com. hostmaster.example.com. (
        2025010203 ; serial
        3600 ; refresh
        600 1209600 300 )
`;
/** /proc/net of a container: TCP LISTEN (0A) and a bound UDP socket (07) on the given ports. */
const procNet = (tcp: number[], udp: number[]): string => {
  const row = (port: number, st: string): string =>
    `   0: 00000000:${port.toString(16).toUpperCase().padStart(4, "0")} ` +
    `00000000:0000 ${st} 00000000:00000000 00:00000000 00000000  ` +
    `   0        0 1 1`;
  const head =
    "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode";
  return [
    "# tcp",
    head,
    ...tcp.map((p) => row(p, "0A")),
    // an established connection from port 5858 must not count as listening
    "   9: 0A00020B:16E2 0A00020A:C350 01 00000000:00000000 00:00000000 00000000     0        0 2 1",
    "# tcp6",
    head,
    "# udp",
    head,
    ...udp.map((p) => row(p, "07")),
    "# udp6",
    head,
  ].join("\n");
};

/** A healthy host: files the stand-ins serve. */
function healthy(): Record<string, string> {
  return {
    nat:
      "*nat\n-A PREROUTING -j ITN-acme-PRE\n" +
      '-A ITN-acme-PRE -i eth0 -p tcp -m tcp --dport 443 -m comment --comment "incus-tenant:acme:tcp-443" ' +
      "-j DNAT --to-destination 10.0.2.10:443\nCOMMIT\n",
    "http-chat.example.com": "200",
    "http-alm.example.com": "308",
    "soa-10.0.2.22": "ns1.example.com. hostmaster.example.com. 2025010203 3600 600 1209600 300\n",
    "file-dns/opt/gbo/data/example.com.zone": ZONE,
    health: "200",
    "sockets-proxy": procNet([80, 443], []),
    "sockets-system": procNet([5858], []),
    "sockets-dns": procNet([53], [53]),
    "sockets-vault": procNet([8200], []),
  };
}

function runScript(files: Record<string, string>): { out: string; calls: string[] } {
  const bed = fs.mkdtempSync(path.join(os.tmpdir(), "itn-verify-"));
  try {
    fs.mkdirSync(path.join(bed, "bin"));
    for (const [name, body] of Object.entries(TOOLS))
      fs.writeFileSync(
        path.join(bed, "bin", name),
        `#!/bin/bash\nprintf '%s\\n' "${name} $*" >> "$BED/calls"\n${body}\n`,
        { mode: 0o755 },
      );
    for (const [f, text] of Object.entries(files)) {
      const p = path.join(bed, f);
      fs.mkdirSync(path.dirname(p), { recursive: true });
      fs.writeFileSync(p, text);
    }
    const r = spawnSync("bash", ["-c", verifyScript(SPEC)], {
      env: { PATH: `${bed}/bin:/usr/bin:/bin`, BED: bed, HOME: bed, LC_ALL: "C" },
      encoding: "utf8",
    });
    expect(r.status).toBe(0);
    const calls = fs.readFileSync(path.join(bed, "calls"), "utf8").split("\n").filter(Boolean);
    return { out: r.stdout, calls };
  } finally {
    fs.rmSync(bed, { recursive: true, force: true });
  }
}
const checksOf = (files: Record<string, string>) => verifyChecks(SPEC, parseVerify(runScript(files).out));

describe("verify", () => {
  test("a healthy tenant: every check ok, exact table", () => {
    const checks = checksOf(healthy());
    expect(verifyTable(checks)).toBe(
      [
        "CHECK  TARGET            OK  DETAIL",
        "vhost  alm.example.com   ok  HTTP 308 at 10.0.2.10:443 (DNAT from 203.0.113.10:443)",
        "vhost  chat.example.com  ok  HTTP 200 at 10.0.2.10:443 (DNAT from 203.0.113.10:443)",
        "zone   example.com       ok  serial 2025010203 served by dns",
        "vault  vault             ok  vault at http://127.0.0.1:8200: initialized and unsealed",
        "port   dns:53            ok  listening (tcp, udp)",
        "port   proxy:80          ok  listening (tcp)",
        "port   proxy:443         ok  listening (tcp)",
        "port   system:5858       ok  listening (tcp)",
        "port   vault:8200        ok  listening (tcp)",
        "9 check(s): all ok",
      ].join("\n"),
    );
  });

  test(
    "the script only reads: iptables-save, curl with --resolve to " +
      "the proxy, dig at the dns container, incus exec",
    () => {
      const { calls } = runScript(healthy());
      expect(calls).toEqual([
        "iptables-save -t nat",
        "curl -s -k --max-time 10 -o /dev/null -w %{http_code} --resolve " +
          "alm.example.com:443:10.0.2.10 https://alm.example.com/",
        "curl -s -k --max-time 10 -o /dev/null -w %{http_code} --resolve " +
          "chat.example.com:443:10.0.2.10 https://chat.example.com/",
        'incus exec -n dns -- sh -c if [ -e "$1" ]; then cat -- "$1"; else exit 3; fi ' +
          "sh /opt/gbo/data/example.com.zone",
        "dig +short +time=3 +tries=2 @10.0.2.22 example.com SOA",
        "incus exec -n vault -- curl -s --max-time 10 -o /dev/null -w " +
          "%{http_code} http://127.0.0.1:8200/v1/sys/health?standbyok=true",
        ...["dns", "proxy", "system", "vault"].map(
          (c) =>
            `incus exec -n ${c} -- sh -c for f in tcp tcp6 udp udp6; do echo ` +
            `"# $f"; cat "/proc/net/$f" 2>/dev/null; done`,
        ),
      ]);
    },
  );

  test("each failure names its check and why", () => {
    const files = healthy();
    files["http-chat.example.com"] = "502";
    files["soa-10.0.2.22"] = "ns1.example.com. hostmaster.example.com. 2025010202 3600 600 1209600 300\n";
    files.health = "503";
    files["sockets-system"] = procNet([], []);
    delete files["sockets-vault"];
    const bad = checksOf(files).filter((c) => !c.ok);
    expect(bad).toEqual([
      { check: "vhost", target: "chat.example.com", ok: false, detail: "HTTP 502 (at 10.0.2.10:443)" },
      {
        check: "zone",
        target: "example.com",
        ok: false,
        detail: "serves serial 2025010202, the file has 2025010203",
      },
      { check: "vault", target: "vault", ok: false, detail: "Vault is sealed: unseal it with 3 of 5 keys" },
      { check: "port", target: "system:5858", ok: false, detail: "not listening (tcp or udp)" },
      {
        check: "port",
        target: "vault:8200",
        ok: false,
        detail: "reading the sockets of vault failed (exit 1): Error: Instance is not running",
      },
    ]);
    expect(verifyTable(checksOf(files)).split("\n").pop()).toBe(
      "9 check(s), 5 failed: vhost chat.example.com, zone example.com, vault vault, port system:5858, port vault:8200",
    );
  });

  test("no live DNAT rule, no answer, no zone file, no DNS answer, Vault uninitialised", () => {
    const files = healthy();
    files.nat = "*nat\nCOMMIT\n";
    delete files["http-alm.example.com"];
    delete files["file-dns/opt/gbo/data/example.com.zone"];
    files.health = "501";
    const bad = checksOf(files).filter((c) => !c.ok);
    expect(bad.map((c) => `${c.check} ${c.target}: ${c.detail}`)).toEqual([
      "vhost alm.example.com: no live DNAT rule 203.0.113.10:443 → " +
        "10.0.2.10:443 in ITN-acme-PRE; curl failed (exit 7) (at 10.0.2.10:443)",
      "vhost chat.example.com: no live DNAT rule 203.0.113.10:443 → 10.0.2.10:443 in ITN-acme-PRE (at 10.0.2.10:443)",
      "zone example.com: /opt/gbo/data/example.com.zone does not exist in dns",
      "vault vault: Vault is not initialized",
    ]);
    delete files["soa-10.0.2.22"];
    files["file-dns/opt/gbo/data/example.com.zone"] = ZONE;
    expect(checksOf(files).find((c) => c.check === "zone")?.detail).toBe("the SOA query failed (exit 9)");
  });

  test("zoneFileSerial and listeningPorts", () => {
    expect(zoneFileSerial(ZONE)).toBe("2025010203");
    expect(zoneFileSerial("@ 3600 IN SOA a. b. 7 1 2 3 4\n")).toBe("7");
    expect(zoneFileSerial("; SOA 1 2 3\n@ IN A 1.2.3.4\n")).toBeUndefined();
    const p = listeningPorts(procNet([80], [53]));
    expect([...p.tcp]).toEqual([80]);
    expect([...p.udp]).toEqual([53]);
  });

  describe("the CLI", () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "itn-verify-cli-"));
    const stackFile = path.join(dir, "Pulumi.t.yaml");
    fs.writeFileSync(stackFile, `config:\n  incus-tenant:tenant: ${JSON.stringify(raw())}\n`);
    afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

    async function cli(argv: string[], files = healthy()) {
      const out: string[] = [];
      const err: string[] = [];
      let reads = 0;
      const code = await main(
        argv,
        () => {
          reads++;
          return Promise.resolve(runScript(files).out);
        },
        (t) => void out.push(t),
        (t) => void err.push(t),
      );
      return { code, out: out.join(""), err: err.join(""), reads };
    }

    test("--json: one entry per check; exit 0 when all pass, 1 when one fails", async () => {
      const ok = await cli(["--stack", "t", "--stack-file", stackFile, "--json", "--ssh-key", "/k"]);
      expect(ok.code).toBe(0);
      const doc = JSON.parse(ok.out) as {
        ok: boolean;
        checks: { check: string; target: string; ok: boolean }[];
      };
      expect(doc.ok).toBe(true);
      expect(doc.checks.map((c) => `${c.check} ${c.target}`)).toEqual([
        "vhost alm.example.com",
        "vhost chat.example.com",
        "zone example.com",
        "vault vault",
        "port dns:53",
        "port proxy:80",
        "port proxy:443",
        "port system:5858",
        "port vault:8200",
      ]);
      const files = healthy();
      files.health = "503";
      const bad = await cli(["--stack", "t", "--stack-file", stackFile, "--ssh-key", "/k"], files);
      expect(bad.code).toBe(1);
      expect(bad.out.split("\n")[0]).toBe("verify admin@203.0.113.10:22, stack t (tenant acme)");
      expect(bad.out).toContain(
        "\nvault  vault             FAIL  Vault is sealed: unseal it with 3 of 5 keys\n",
      );
      expect(bad.out.trimEnd().split("\n").pop()).toBe("9 check(s), 1 failed: vault vault");
    });

    test("bad input is refused before any remote command", async () => {
      const broken = path.join(dir, "Pulumi.bad.yaml");
      const t = raw();
      t.containers.proxy.ipv4 = "10.0.9.10";
      fs.writeFileSync(broken, `config:\n  incus-tenant:tenant: ${JSON.stringify(t)}\n`);
      const r = await cli(["--stack", "bad", "--stack-file", broken, "--ssh-key", "/k"]);
      expect(r.code).toBe(1);
      expect(r.reads).toBe(0);
      expect(r.out).toBe("");
      expect(r.err).toMatch(/^verify: invalid tenant config \(1 problem\):\n {2}- containers\.proxy\.ipv4: /);
      const noStack = await cli(["--json"]);
      expect([noStack.code, noStack.reads, noStack.err]).toEqual([
        1,
        0,
        "verify: --stack is required\nusage: npm run verify -- --stack " +
          "<name> [--stack-file FILE] [--json] [--ssh-key FILE]\n",
      ]);
      const bogus = await cli(["--stack", "t;rm", "--ssh-key", "/k"]);
      expect([bogus.code, bogus.reads, bogus.err]).toEqual([
        1,
        0,
        'verify: --stack: invalid stack name "t;rm"\n',
      ]);
    });
  });
});
