/**
 * Zone files and the Corefile of the dns container, and the host scripts that apply them.
 *
 * The SOA serial is `YYYYMMDDNN`, computed ON THE HOST at apply time so the Pulumi inputs stay
 * stable: the script reads the zone file in the container, masks its serial line and compares
 * the rest with the desired body. Same body: nothing is written and the serial stays. Otherwise
 * serial = max(old + 1, today's YYYYMMDD00). CoreDNS ignores SIGHUP (runbook 001's `pkill -HUP`
 * does nothing): its `file` plugin reloads a zone by itself when the serial grows, and SIGUSR1
 * makes it reload the Corefile.
 */
import type { DnsSpec, ZoneSpec } from "../model/zones";
import type { ScriptPair } from "./snippets";
import { managedHeader, script, shq } from "./shell";
import { backupCommands, moveAsideCommands, pruneBackupsLines, tempNextTo, wantLine } from "./snippets";

/** Stands for the serial in the body; the serial line is the only line of that shape. */
export const SERIAL_PLACEHOLDER = "@SERIAL@";
/** SOA timers (seconds): refresh, retry, expire, negative-caching minimum. */
export const SOA_TIMERS = { refresh: 3600, retry: 900, expire: 1209600, minimum: 300 } as const;
/** The host command that prints today's UTC date as YYYYMMDD. */
export const TODAY_COMMAND = "date -u +%Y%m%d";
/**
 * Query types everybody may ask (runbook 002 allows A, AAAA and MX; SOA, NS, TXT, CAA, ... are
 * needed by resolvers, mail and ACME).
 */
export const PUBLIC_QTYPES = ["A", "AAAA", "CAA", "CNAME", "MX", "NS", "SOA", "SRV", "TXT"] as const;
/** Networks allowed to ask ANY (runbook 002). */
export const INTERNAL_NETS = ["10.0.0.0/8", "127.0.0.0/8"] as const;

const INDENT = "        ";
/** The command prefix that runs a command in the dns container "$c". */
const IN_C = 'incus exec "$c" -- ';
const SERIAL_LINE_RE = "^ {8}[0-9]{10} ; serial$";
const COREDNS_PATH = (p: string): string =>
  /^[^\s"{}#]+$/.test(p) ? p : `"${p.replace(/(["\\])/g, "\\$1")}"`;

/** The zone file with the serial placeholder: everything but the serial (change detection compares this). */
export function renderZoneBody(zone: ZoneSpec): string {
  const t = SOA_TIMERS;
  return [
    managedHeader(`zone ${zone.name} (the serial is set at apply time; do not edit by hand)`, ";"),
    `$ORIGIN ${zone.name}.`,
    `$TTL ${zone.ttl}`,
    `@\tIN\tSOA\t${zone.primary} ${zone.hostmaster} (`,
    `${INDENT}${SERIAL_PLACEHOLDER} ; serial`,
    `${INDENT}${t.refresh} ; refresh`,
    `${INDENT}${t.retry} ; retry`,
    `${INDENT}${t.expire} ; expire`,
    `${INDENT}${t.minimum} ; minimum`,
    `${INDENT})`,
    ...zone.nameservers.map((ns) => `@\tIN\tNS\t${ns}`),
    ...zone.records.map(
      (r) => `${r.name}\t${r.ttl !== undefined ? `${r.ttl}\t` : ""}IN\t${r.type}\t${r.data}`,
    ),
    "",
  ].join("\n");
}

/** The zone file exactly as written for `serial` (YYYYMMDDNN). */
export function renderZone(zone: ZoneSpec, serial: string): string {
  if (!/^\d{10}$/.test(serial)) throw new Error(`renderZone: serial must be YYYYMMDDNN, got "${serial}"`);
  return renderZoneBody(zone).replace(
    `\n${INDENT}${SERIAL_PLACEHOLDER} ; serial\n`,
    `\n${INDENT}${serial} ; serial\n`,
  );
}

/** First and last line of a zone's server block (the zone delete cuts the block out by them). */
export const blockMarkers = (zone: string): { begin: string; end: string } => ({
  begin: `# zone ${zone}`,
  end: `# end of zone ${zone}`,
});

/** One server block: the zone file, transfers only to the secondaries, and runbook 002's acl hardening. */
export function renderCorefileBlock(dns: DnsSpec, zone: ZoneSpec): string {
  const { begin, end } = blockMarkers(zone.name);
  const secondaries = dns.secondaries.map((ip) => `${ip}/32`).join(" ");
  return [
    begin,
    `${zone.name}:53 {`,
    `    file ${COREDNS_PATH(zone.file)}`,
    ...(dns.secondaries.length > 0
      ? ["    transfer {", `        to ${dns.secondaries.join(" ")}`, "    }"]
      : []),
    "    acl {",
    ...(dns.secondaries.length > 0 ? [`        allow type AXFR IXFR net ${secondaries}`] : []),
    "        block type AXFR IXFR",
    `        allow type ANY net ${INTERNAL_NETS.join(" ")}`,
    `        allow type ${PUBLIC_QTYPES.join(" ")} net 0.0.0.0/0 ::/0`,
    "        block",
    "    }",
    "    log",
    "    errors",
    "}",
    end,
  ].join("\n");
}

/** The whole Corefile: one server block per zone. */
export function renderCorefile(dns: DnsSpec): string {
  const header = managedHeader(`CoreDNS Corefile of container ${dns.container} (one server block per zone)`);
  return [header, ...dns.zones.flatMap((z) => ["", renderCorefileBlock(dns, z)]), ""].join("\n");
}

/** Lines that set `old` (and `existed`, unless `existed` is false) from a file inside container "$c". */
const readLines = (fileVar: string, existed = true): string[] => [
  existed ? `old=""; existed=0` : `old=""`,
  `if incus exec "$c" -- test -e "$${fileVar}"; then ${existed ? "existed=1; " : ""}` +
    `old=$(incus exec "$c" -- cat "$${fileVar}"); fi`,
];

/** Lines that keep a dated copy of "$<fileVar>" in the container (date taken on the host; `suffix` is shell text). */
const backupLines = (fileVar: string, what: string, suffix = ""): string[] => {
  const [name, copy] = backupCommands(IN_C, fileVar, "bak", suffix);
  return [name, `${copy}; log "${what}: backup $bak"`];
};

/** Lines that send SIGUSR1 to coredns in the container, or log why not. */
const signalLines = (): string[] => [
  `if incus exec "$c" -- pkill -USR1 -x coredns; then log "coredns in $c: SIGUSR1 sent (reloads the Corefile)"`,
  `else log "coredns in $c: not signalled (not running, or no pkill): the Corefile takes effect when it starts"; fi`,
];

/**
 * Writes "$want" to a fresh temp file "$tmp" next to "$<fileVar>" in the container (`mktemp`: no
 * predictable name; mode 0644 like the file it replaces). The EXIT trap removes it unless the
 * caller's `mv` consumed it (see {@link moveLine}).
 */
const pushLines = (fileVar: string, content = `printf '%s\\n' "$want"`): string[] => [
  `incus exec "$c" -- mkdir -p "$(dirname "$${fileVar}")"`,
  `${tempNextTo(IN_C, fileVar)}; trap 'incus exec "$c" -- rm -f "$tmp" >/dev/null 2>&1 || true' EXIT`,
  `${content} | incus file push --mode 0644 - "$c$tmp"`,
  `incus exec "$c" -- chmod 0644 "$tmp"`,
];

/** Renames "$tmp" over "$<fileVar>" in the container and drops the temp file's EXIT trap. */
const moveLine = (fileVar: string): string => `incus exec "$c" -- mv -f "$tmp" "$${fileVar}"; trap - EXIT`;

const runningLine = (what: string): string =>
  `incus exec "$c" -- true || { echo "${what}: container $c is not running" >&2; exit 1; }`;

const hookLines = (dns: DnsSpec, what: string): string[] =>
  dns.syncHook === undefined
    ? []
    : [
        `hook=${shq(dns.syncHook)}; log "${what}: running the sync hook $hook"`,
        `"$hook" || { rc=$?; echo "${what}: the sync hook $hook failed (exit $rc)" >&2; exit 1; }`,
      ];

/**
 * Create/update and delete of one zone. `todayCommand` prints YYYYMMDD on the host; it is a
 * parameter only so the local tests can pin the date.
 */
export function renderZoneScripts(
  dns: DnsSpec,
  zone: ZoneSpec,
  todayCommand: string = TODAY_COMMAND,
): ScriptPair {
  const what = "zone $zone";
  const vars = `c=${shq(dns.container)}; zone=${shq(zone.name)}; file=${shq(zone.file)}`;
  const body = renderZoneBody(zone).replace(/\n$/, "");
  const create = script(`dns zone ${zone.name} in container ${dns.container}`, [
    vars,
    wantLine(body),
    runningLine(what),
    ...readLines("file"),
    `old_serial=$(printf '%s\\n' "$old" | sed -nE 's/^ {8}([0-9]{10}) ; serial$/\\1/p'); ` +
      `old_serial=\${old_serial%%$'\\n'*}`,
    `old_body=$(printf '%s\\n' "$old" | sed -E 's/${SERIAL_LINE_RE}/${INDENT}${SERIAL_PLACEHOLDER} ; serial/')`,
    `if [ -n "$old_serial" ] && [ "$old_body" = "$want" ]; then`,
    `  log "${what}: unchanged (serial $old_serial)"`,
    "else",
    `  today=$(${todayCommand})`,
    `  [[ "$today" =~ ^[0-9]{8}$ ]] || { ` +
      `echo "${what}: the date command printed '$today', not YYYYMMDD" >&2; exit 1; }`,
    `  serial=$((10#$today * 100))`,
    `  if [ -n "$old_serial" ] && [ $((10#$old_serial + 1)) -gt "$serial" ]; then serial=$((10#$old_serial + 1)); fi`,
    `  [ "$serial" -le 4294967295 ] || { echo "${what}: serial $serial is past the 32-bit limit" >&2; exit 1; }`,
    ...pushLines(
      "file",
      `printf '%s\\n' "$want" | sed -E "s/^${INDENT}${SERIAL_PLACEHOLDER} ; serial\\$/${INDENT}$serial ; serial/"`,
    ).map((l) => `  ${l}`),
    `  if incus exec "$c" -- sh -c 'command -v named-checkzone' >/dev/null 2>&1; then`,
    `    if ! out=$(incus exec "$c" -- named-checkzone "$zone" "$tmp" 2>&1); then`,
    `      incus exec "$c" -- rm -f "$tmp"; printf '%s\\n' "$out" >&2`,
    `      echo "${what}: named-checkzone refused the new zone file; the old one stays in place" >&2; exit 1`,
    "    fi",
    `    log "${what}: named-checkzone ok"`,
    `  else log "${what}: named-checkzone is not installed in $c: check skipped"; fi`,
    '  if [ "$existed" = 1 ]; then',
    ...backupLines("file", what, "-${old_serial:-noserial}").map((l) => `    ${l}`),
    "  fi",
    `  ${moveLine("file")}`,
    `  log "${what}: serial $serial written to $file (was \${old_serial:-none}); ` +
      `the file plugin reloads it because the serial grew"`,
    ...pruneBackupsLines('incus exec "$c" --', '"$file"', what).map((l) => `  ${l}`),
    "fi",
    ...hookLines(dns, what),
  ]);
  const { begin, end } = blockMarkers(zone.name);
  const del = script(`dns zone ${zone.name} in container ${dns.container} (delete)`, [
    `${vars}; corefile=${shq(dns.corefile)}`,
    `if ! incus info "$c" >/dev/null 2>&1; then log "${what}: container $c is gone"; exit 0; fi`,
    runningLine(what),
    ...readLines("corefile", false),
    `if printf '%s\\n' "$old" | grep -xF ${shq(begin)} >/dev/null; then`,
    `  want=$(printf '%s\\n' "$old" | awk -v b=${shq(begin)} -v e=${shq(end)} ` +
      `'$0 == b { skip = 1; next } skip && $0 == e { skip = 0; next } !skip')`,
    ...backupLines("corefile", "Corefile").map((l) => `  ${l}`),
    ...pushLines("corefile").map((l) => `  ${l}`),
    `  ${moveLine("corefile")}; log "${what}: server block removed from $corefile"`,
    ...signalLines().map((l) => `  ${l}`),
    "fi",
    `if incus exec "$c" -- test -e "$file"; then`,
    `  ${moveAsideCommands(IN_C, "file").join("; ")}; log "${what}: zone file removed (kept as $bak)"`,
    `else log "${what}: zone file already gone"; fi`,
    ...hookLines(dns, what),
  ]);
  return { create, delete: del };
}

/** Create/update (SIGUSR1 only when the file changed) and delete of the Corefile. */
export function renderCorefileScripts(dns: DnsSpec): ScriptPair {
  const vars = `c=${shq(dns.container)}; corefile=${shq(dns.corefile)}`;
  const create = script(`CoreDNS Corefile in container ${dns.container}`, [
    vars,
    wantLine(renderCorefile(dns).replace(/\n$/, "")),
    runningLine("Corefile"),
    ...readLines("corefile"),
    `if [ "$existed" = 1 ] && [ "$old" = "$want" ]; then log "$corefile: unchanged"; else`,
    ...pushLines("corefile").map((l) => `  ${l}`),
    `  if [ "$existed" = 1 ]; then ${backupLines("corefile", "Corefile").join("; ")}; fi`,
    `  ${moveLine("corefile")}; log "$corefile: written"`,
    ...signalLines().map((l) => `  ${l}`),
    "fi",
  ]);
  const del = script(`CoreDNS Corefile in container ${dns.container} (delete)`, [
    vars,
    `if ! incus info "$c" >/dev/null 2>&1; then log "Corefile: container $c is gone"; exit 0; fi`,
    runningLine("Corefile"),
    `if incus exec "$c" -- test -e "$corefile"; then`,
    `  ${moveAsideCommands(IN_C, "corefile").join("; ")}; ` +
      `log "$corefile: removed (kept as $bak); CoreDNS keeps its loaded config until restarted"`,
    `else log "$corefile: already gone"; fi`,
  ]);
  return { create, delete: del };
}
