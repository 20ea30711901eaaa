/**
 * Post-apply verification (`npm run verify`, issue 12): ONE read-only host script that gathers
 * what the checks need, and the pure evaluation of its output into one entry per check:
 * - vhost: the NAT rule from the public address reaches the proxy's 443, and the vhost answers
 *   there with its own name (SNI and Host header: `curl --resolve <domain>:443:<proxy ip>`);
 *   the host cannot send through its own DNAT (the rules match packets arriving on the external
 *   interface), so it checks the rule and asks its target;
 * - zone: the dns container answers the zone's SOA with the serial of the zone file
 *   (`dig` from the host at the container's address, `host` when there is no dig);
 * - vault: the health endpoint answers 200 (initialised and unsealed);
 * - port: each declared port of each container listens inside it (TCP LISTEN or a bound UDP
 *   socket in its /proc/net, so no tool is needed in the container).
 * Each section prints `@@itn-verify <head> <rc> <stdout> <stderr>` (base64, so no content can
 * forge a marker).
 */
import type { TenantSpec } from "../model/types";
import { NOT_INITIALIZED_MESSAGE, SEALED_MESSAGE, unreachableMessage } from "./vault";
import { managedHeader, shq, singleQuotedOnPurpose } from "./shell";

/** One verification result. */
export interface VerifyCheck {
  /** What kind of check: vhost, zone, vault, port. */
  readonly check: "vhost" | "zone" | "vault" | "port";
  /** What it checked: a domain, a zone, the vault container, `<container>:<port>`. */
  readonly target: string;
  readonly ok: boolean;
  /** What was seen (or why it failed). */
  readonly detail: string;
}

type Head =
  | { kind: "nat" }
  | { kind: "vhost"; domain: string }
  | { kind: "zonefile" | "soa"; zone: string }
  | { kind: "vault" }
  | { kind: "ports"; container: string };

const MARK = "@@itn-verify";
const b64 = (s: string): string => Buffer.from(s, "utf8").toString("base64");
const unb64 = (s: string): string => Buffer.from(s, "base64").toString("utf8");

/** The port Caddy serves every site on (TLS). */
export const HTTPS_PORT = 443;

/** The host script (bash, read-only; always exits 0 once started: failures are in the sections). */
export function verifyScript(spec: TenantSpec): string {
  const sec = (head: Head, cmd: string): string => `sec ${b64(JSON.stringify(head))} ${cmd}`;
  const { caddy, dns, vault } = spec.services;
  const lines: string[] = [];
  if (caddy) {
    lines.push(sec({ kind: "nat" }, "iptables-save -t nat"));
    const k = caddy.proxy.tls.kind === "internal" ? " -k" : "";
    for (const v of caddy.vhosts) {
      const resolve = `${v.domain}:${HTTPS_PORT}:${caddy.proxy.ip}`;
      lines.push(
        sec(
          { kind: "vhost", domain: v.domain },
          `curl -s${k} --max-time 10 -o /dev/null -w '%{http_code}' --resolve ${shq(resolve)} ` +
            `${shq(`https://${v.domain}/`)}`,
        ),
      );
    }
  }
  if (dns) {
    const ip = spec.containers.find((c) => c.name === dns.container)?.ipv4 ?? "";
    for (const z of dns.zones) {
      lines.push(sec({ kind: "zonefile", zone: z.name }, `catf ${shq(dns.container)} ${shq(z.file)}`));
      lines.push(sec({ kind: "soa", zone: z.name }, `soa ${shq(ip)} ${shq(z.name)}`));
    }
  }
  if (vault) {
    const tls = vault.caCert !== undefined ? ` --cacert ${shq(vault.caCert)}` : "";
    lines.push(
      sec(
        { kind: "vault" },
        `incus exec -n ${shq(vault.container)} -- curl -s${tls} --max-time 10 -o /dev/null ` +
          `-w '%{http_code}' ${shq(`${vault.address}/v1/sys/health?standbyok=true`)}`,
      ),
    );
  }
  for (const c of spec.containers)
    if (c.ports.length > 0) lines.push(sec({ kind: "ports", container: c.name }, `sockets ${shq(c.name)}`));
  return [
    managedHeader(`verification of tenant ${spec.name} (read-only)`),
    "set -uo pipefail",
    `err=$(mktemp); trap 'rm -f "$err"' EXIT`,
    `sec() { local head=$1 out rc=0; shift; out=$("$@" </dev/null 2>"$err" | base64 -w0) || rc=$?; ` +
      `printf '${MARK} %s %s %s %s\\n' "$head" "$rc" "$out" "$(head -c 4000 "$err" | base64 -w0)"; }`,
    singleQuotedOnPurpose("the sh -c program in the container expands $1 (the path) itself"),
    `catf() { incus exec -n "$1" -- sh -c 'if [ -e "$1" ]; then cat -- "$1"; else exit 3; fi' sh "$2"; }`,
    'soa() { if command -v dig >/dev/null; then dig +short +time=3 +tries=2 @"$1" "$2" SOA; ' +
      `elif command -v host >/dev/null; then host -W 3 -t SOA "$2" "$1" | sed -n 's/.* has SOA record //p'; ` +
      "else echo 'neither dig nor host on the host (apt-get install bind9-dnsutils)' >&2; return 127; fi; }",
    singleQuotedOnPurpose("the sh -c program in the container expands $f itself"),
    `sockets() { incus exec -n "$1" -- sh -c ` +
      `'for f in tcp tcp6 udp udp6; do echo "# $f"; cat "/proc/net/$f" 2>/dev/null; done'; }`,
    ...lines,
    `echo ${MARK}-end`,
  ].join("\n");
}

/** One section of the output. */
interface Section {
  readonly head: Head;
  readonly rc: number;
  readonly out: string;
  /** The first lines of stderr, joined with " / ". */
  readonly err: string;
}

/** Parses the script's output; throws when it was cut short. */
export function parseVerify(text: string): Section[] {
  if (!text.split("\n").includes(`${MARK}-end`))
    throw new Error("verify: the output is incomplete (no end marker): the read script did not finish");
  return text
    .split("\n")
    .filter((l) => l.startsWith(`${MARK} `))
    .map((line) => {
      const [, head, rc, out = "", err = ""] = line.split(" ");
      return {
        head: JSON.parse(unb64(head)) as Head,
        rc: Number(rc),
        out: unb64(out),
        err: unb64(err).trim().split("\n").slice(0, 3).join(" / "),
      };
    });
}

/** The SOA serial of a zone file's text (comments dropped, parentheses joined), or undefined. */
export function zoneFileSerial(text: string): string | undefined {
  const words = text
    .split("\n")
    .map((l) => l.replace(/;.*$/, ""))
    .join(" ")
    .replace(/[()]/g, " ")
    .split(/\s+/)
    .filter((w) => w !== "");
  const i = words.findIndex((w) => w.toUpperCase() === "SOA");
  const serial = i < 0 ? undefined : words[i + 3];
  return serial !== undefined && /^\d+$/.test(serial) ? serial : undefined;
}

/** Ports listening in /proc/net text (`# tcp` ... sections): TCP in state LISTEN (0A), UDP bound (07). */
export function listeningPorts(text: string): { tcp: Set<number>; udp: Set<number> } {
  const out = { tcp: new Set<number>(), udp: new Set<number>() };
  let proto: "tcp" | "udp" | undefined;
  for (const line of text.split("\n")) {
    const m = /^# (tcp|udp)6?$/.exec(line);
    if (m) proto = m[1] as "tcp" | "udp";
    const f = line.trim().split(/\s+/);
    const local = /^[0-9A-F]+:([0-9A-F]{4})$/i.exec(f[1] ?? "");
    if (!proto || !local || !/^\d+:$/.test(f[0])) continue;
    if (f[3] === (proto === "tcp" ? "0A" : "07")) out[proto].add(parseInt(local[1], 16));
  }
  return out;
}

const failed = (s: Section | undefined, what: string): string | undefined =>
  s === undefined
    ? `${what}: not read`
    : s.rc !== 0
      ? `${what} failed (exit ${s.rc})${s.err !== "" ? `: ${s.err}` : ""}`
      : undefined;

/** One entry per check, from the parsed sections. */
export function verifyChecks(spec: TenantSpec, sections: readonly Section[]): VerifyCheck[] {
  const find = (p: (h: Head) => boolean): Section | undefined => sections.find((s) => p(s.head));
  const { caddy, dns, vault } = spec.services;
  const checks: VerifyCheck[] = [];
  if (caddy) {
    const nat = find((h) => h.kind === "nat");
    const target = `${caddy.proxy.ip}:${HTTPS_PORT}`;
    const rule = spec.nat.find(
      (r) =>
        r.protocol === "tcp" && r.container === caddy.proxy.container && r.destinationPort === HTTPS_PORT,
    );
    const pub = `${spec.host.publicAddress || spec.host.address}:${rule?.port ?? "?"}`;
    const natLive =
      rule !== undefined &&
      (nat?.out ?? "")
        .split("\n")
        .some(
          (l) =>
            l.startsWith(`-A ${spec.chains.prerouting} `) &&
            l.includes(`--dport ${rule.port} `) &&
            l.includes(`--to-destination ${target}`),
        );
    const natProblem =
      failed(nat, "iptables-save -t nat") ??
      (rule === undefined
        ? `no NAT rule of the stack sends tcp to ${caddy.proxy.container}:${HTTPS_PORT}`
        : natLive
          ? undefined
          : `no live DNAT rule ${pub} → ${target} in ${spec.chains.prerouting}`);
    for (const v of caddy.vhosts) {
      const s = find((h) => h.kind === "vhost" && h.domain === v.domain);
      const code = Number(s?.out ?? "0");
      const http = failed(s, "curl") ?? (code >= 200 && code < 500 ? undefined : `HTTP ${s?.out || "none"}`);
      const problem = [natProblem, http].filter((x) => x !== undefined).join("; ");
      checks.push({
        check: "vhost",
        target: v.domain,
        ok: problem === "",
        detail: problem !== "" ? `${problem} (at ${target})` : `HTTP ${code} at ${target} (DNAT from ${pub})`,
      });
    }
  }
  if (dns)
    for (const z of dns.zones) {
      const file = find((h) => h.kind === "zonefile" && h.zone === z.name);
      const soa = find((h) => h.kind === "soa" && h.zone === z.name);
      const want = file?.rc === 3 ? undefined : file?.rc === 0 ? zoneFileSerial(file.out) : undefined;
      const got = soa?.out
        .split("\n")
        .find((l) => l.trim() !== "")
        ?.trim()
        .split(/\s+/)[2];
      const problem =
        file?.rc === 3
          ? `${z.file} does not exist in ${dns.container}`
          : (failed(file, `reading ${z.file}`) ??
            (want === undefined ? `no SOA serial in ${z.file}` : undefined) ??
            failed(soa, "the SOA query") ??
            (got === undefined
              ? "no SOA answer"
              : got !== want
                ? `serves serial ${got}, the file has ${want}`
                : undefined));
      checks.push({
        check: "zone",
        target: z.name,
        ok: problem === undefined,
        detail: problem ?? `serial ${want} served by ${dns.container}`,
      });
    }
  if (vault) {
    const s = find((h) => h.kind === "vault");
    const code = s?.out.trim() ?? "";
    const detail =
      code === "200"
        ? `vault at ${vault.address}: initialized and unsealed`
        : code === "503"
          ? SEALED_MESSAGE
          : code === "501"
            ? NOT_INITIALIZED_MESSAGE
            : `${unreachableMessage(vault.address)} (health answered ${code || "nothing"})`;
    checks.push({ check: "vault", target: vault.container, ok: code === "200", detail });
  }
  for (const c of spec.containers) {
    if (c.ports.length === 0) continue;
    const s = find((h) => h.kind === "ports" && h.container === c.name);
    const problem = failed(s, `reading the sockets of ${c.name}`);
    const { tcp, udp } = listeningPorts(s?.out ?? "");
    for (const port of c.ports) {
      const protos = [tcp.has(port) ? "tcp" : "", udp.has(port) ? "udp" : ""].filter((p) => p !== "");
      checks.push({
        check: "port",
        target: `${c.name}:${port}`,
        ok: problem === undefined && protos.length > 0,
        detail:
          problem ?? (protos.length > 0 ? `listening (${protos.join(", ")})` : "not listening (tcp or udp)"),
      });
    }
  }
  return checks;
}

/** The table `npm run verify` prints, with a last line naming every failed check. */
export function verifyTable(checks: readonly VerifyCheck[]): string {
  const rows = [
    ["CHECK", "TARGET", "OK", "DETAIL"],
    ...checks.map((c) => [c.check, c.target, c.ok ? "ok" : "FAIL", c.detail]),
  ];
  const width = [0, 1, 2].map((i) => Math.max(...rows.map((r) => r[i].length)));
  const lines = rows.map((r) => r.map((cell, i) => (i < 3 ? cell.padEnd(width[i]) : cell)).join("  "));
  const bad = checks.filter((c) => !c.ok);
  const summary =
    bad.length === 0
      ? `${checks.length} check(s): all ok`
      : `${checks.length} check(s), ${bad.length} failed: ${bad.map((c) => `${c.check} ${c.target}`).join(", ")}`;
  return [...lines, summary].join("\n");
}
