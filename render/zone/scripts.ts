/**
 * The host scripts of a zone file and of the Corefile. The SOA serial is computed ON THE HOST at
 * apply time so the Pulumi inputs stay stable (see render/zone.ts).
 */
import type { DnsSpec, ZoneSpec } from "../../model/zones";
import type { ScriptPair } from "../snippets";
import { managedHeader, script, shq } from "../shell";
import { backupCommands, moveAsideCommands, pruneBackupsLines, tempNextTo, wantLine } from "../snippets";
import { blockMarkers, INDENT, renderCorefile, renderZoneBody, SERIAL_PLACEHOLDER } from "./files";
import { zparseFunction } from "./parse";

/** The host command that prints today's UTC date as YYYYMMDD. */
export const TODAY_COMMAND = "date -u +%Y%m%d";
/** The command prefix that runs a command in the dns container "$c". */
const IN_C = 'incus exec "$c" -- ';
const SERIAL_LINE_RE = "^ {8}[0-9]{10} ; serial$";

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

/** The first words of every zone file the program writes (its managed header). */
const MANAGED_PREFIX = managedHeader("", ";");

/**
 * Lines run before a zone file is replaced: a live file the program did not write (no managed
 * header) is replaced only when every record in it is in the stack (both files read by
 * `zparse records`) and its serial could be read, or when the zone says `takeOver: true`.
 * Otherwise one message lists each record that would be lost, names the stack field that
 * accepts the loss, and the script stops before anything changed.
 */
const adoptLines = (what: string): string[] => [
  `if [ "$existed" = 1 ] && [[ "$old" != ${shq(MANAGED_PREFIX)}* ]]; then`,
  `  wanted=$(printf '%s\\n' "$want" | zparse records)`,
  `  lost=$(printf '%s\\n' "$old" | zparse records | W="$wanted" awk 'BEGIN { n = split(ENVIRON["W"], w, "\\n"); ` +
    `for (i = 1; i <= n; i++) k[w[i]] = 1 } !($0 in k) && !seen[$0]++')`,
  `  if [ -z "$lost" ] && [ -n "$old_serial" ]; then`,
  `    log "${what}: $file was not written by incus-tenant; every record in it is in the stack: replacing it"`,
  `  elif [ "$take_over" = 1 ]; then`,
  `    log "${what}: takeOver: replacing $file, which incus-tenant did not write"`,
  `    [ -n "$old_serial" ] || log "${what}: takeOver: $file has no readable SOA serial"`,
  `    while IFS= read -r r; do [ -z "$r" ] || log "${what}: takeOver drops $r"; done <<< "$lost"`,
  "  else",
  "    {",
  `      echo "${what}: $file in container $c was not written by incus-tenant; replacing it would lose:"`,
  `      [ -n "$old_serial" ] || echo "  its SOA serial (none found: the new serial could not continue from it)"`,
  `      while IFS= read -r r; do [ -z "$r" ] || echo "  $r"; done <<< "$lost"`,
  `      echo "Nothing was changed. Add those records to dns.zones.$zone.records, or set ` +
    `dns.zones.$zone.takeOver: true to replace the file and drop them (a dated backup is kept)."`,
  "    } >&2",
  "    exit 1",
  "  fi",
  "fi",
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
    `${vars}; take_over=${zone.takeOver ? 1 : 0}`,
    wantLine(body),
    runningLine(what),
    ...readLines("file"),
    zparseFunction(),
    `old_serial=$(printf '%s\\n' "$old" | zparse serial)`,
    `[[ "$old_serial" =~ ^[0-9]{1,10}$ ]] && [ $((10#$old_serial)) -le 4294967295 ] || old_serial=""`,
    `old_body=$(printf '%s\\n' "$old" | sed -E 's/${SERIAL_LINE_RE}/${INDENT}${SERIAL_PLACEHOLDER} ; serial/')`,
    `if [ -n "$old_serial" ] && [ "$old_body" = "$want" ]; then`,
    `  log "${what}: unchanged (serial $old_serial)"`,
    "else",
    ...adoptLines(what).map((l) => `  ${l}`),
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
