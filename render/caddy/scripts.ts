/**
 * The scripts that change Caddy's files in the proxy container.
 *
 * Every change follows the runbook (seed 002): dated backup of the file being replaced, write (a
 * `mktemp` file in the same folder, then rename, so no file is ever partial and no name is
 * predictable), `caddy validate`, then `caddy reload` (a failed reload keeps the old config
 * serving). When validation or reload fails, the backup is put back (or the new file removed)
 * and the script fails with Caddy's own output. Unchanged content does nothing at all.
 * Removing a vhost restarts the unit instead (seed 002: "After removing domains from config,
 * restart Caddy (not just reload) to clear in-memory ACME state from old domains").
 *
 * A main file the program did not write (no managed header) is never rewritten: it only gets
 * one `import <sitesDir>/*.caddy` line. A vhost whose domain has a site block in the main file
 * (or a file it imports outside sitesDir) is refused, or moved into its site file on request.
 */
import type { CaddyProxySpec, CaddySpec, VhostSpec } from "../../model/vhosts";
import type { ScriptPair } from "../snippets";
import { heredoc, script, shq } from "../shell";
import {
  backupCommands,
  pruneBackupsLines,
  restoreCommand,
  tempNextTo,
  UTC_STAMP,
  wantLine,
} from "../snippets";
import { CADDY_LOCK, importLine, MANAGED_PREFIX, renderMainCaddyfile, renderVhost } from "./files";
import { SITE_SCAN_AWK, SITE_SCAN_SH } from "./scan";

/** What `undo` does after a failed write: restore the backup, or remove the new file when there was none. */
const UNDO_WRITE = restoreCommand("inc ", "file");

/**
 * Shell functions shared by every Caddy script: `inc` (run in the proxy container), `undo`
 * (`undoBody`: what puts the previous config back) and `activate` (validate, then reload — or
 * restart when `restart`, or start the unit when Caddy is not running — undoing on failure).
 * `vars` are extra shell variables set on the first line (`bak=; existed=0` for a write).
 */
function prelude(p: CaddyProxySpec, file: string, undoBody: string, vars = "", restart = false): string[] {
  const caddyArgs = `--config ${shq(p.mainFile)} --adapter caddyfile`;
  const running = restart
    ? [
        `    if ! out=$(inc systemctl restart "$svc" 2>&1); then`,
        `      undo`,
        `      if inc systemctl restart "$svc" >/dev/null 2>&1; then ` +
          `state="the previous config is back in place and serving again"; ` +
          `else state="the previous config is back in place, but $svc did not start again ` +
          `(journalctl -u $svc)"; fi`,
        `      printf '%s\\n' "$out" >&2; echo "systemctl restart $svc failed after removing $file: $state" >&2`,
        `      exit 1`,
        `    fi`,
        `    log "$file: caddy restarted (not reloaded: a removed domain's ACME state goes with it)"`,
      ]
    : [
        `    out=$(inc caddy reload ${caddyArgs} 2>&1) || fail "caddy reload failed for $file" "$out"`,
        `    log "$file: caddy reloaded"`,
      ];
  return [
    `c=${shq(p.container)}; file=${shq(file)}; svc=${shq(p.service)}${vars}`,
    `inc() { incus exec "$c" -- "$@" </dev/null; }`,
    `user=$(inc systemctl show -p User --value "$svc" 2>/dev/null || true)`,
    `as_caddy() { if [ -n "$user" ] && [ "$user" != root ]; then inc runuser -u "$user" -- "$@"; else inc "$@"; fi; }`,
    `undo() {`,
    `  ${undoBody}`,
    `}`,
    `fail() { undo; printf '%s\\n' "$2" >&2; ` +
      `echo "$1: the previous config is back in place and still serving" >&2; exit 1; }`,
    `activate() {`,
    `  out=$(as_caddy caddy validate ${caddyArgs} 2>&1) || fail "caddy validate failed for $file" "$out"`,
    `  if inc systemctl is-active --quiet "$svc"; then`,
    ...running,
    `  else`,
    `    log "caddy is not running in $c: starting $svc"`,
    `    out=$(inc systemctl start "$svc" 2>&1) || fail ` +
      `"caddy is not running in $c and 'systemctl start $svc' failed" "$out` +
      `$(printf '\\n'; inc journalctl -u "$svc" -n 20 --no-pager 2>&1 || true)"`,
    `    log "$file: caddy started"`,
    `  fi`,
    `}`,
    `exec 9>${CADDY_LOCK}`,
    `flock -w 300 9 || { echo "another Caddy change holds ${CADDY_LOCK} (waited 300s)" >&2; exit 1; }`,
  ];
}

/** The write of `$want` to "$file" through a fresh temp file (`copyMode`: keep the old file's mode/owner). */
const writeTempLines = (source: string, copyMode: boolean): string[] => [
  // A fresh temp name (mktemp, in the file's folder: the rename is atomic), removed if the write fails.
  tempNextTo("inc ", "file"),
  `if ! { ${copyMode ? 'inc cp -p "$file" "$tmp"' : 'inc chmod 0644 "$tmp"'} && ${source} | ` +
    `incus exec "$c" -- tee "$tmp" >/dev/null && inc mv -f "$tmp" "$file"; }; then inc rm -f "$tmp"; ` +
    `echo "$file: could not write it in container $c" >&2; exit 1; fi`,
];

/** Options of {@link applyFile}. */
interface ApplyOptions {
  /** Folders to create next to the file's own. */
  ensureDirs?: string[];
  /** Lines after the container check, before anything is read or changed. */
  prepare?: string[];
  /** Lines after the write, before validate + reload (part of the same undoable step). */
  beforeActivate?: string[];
  /** A shell condition that must also hold for unchanged content to end the script (no reload). */
  unchangedOnlyIf?: string;
}

/** Converges one file in the proxy container to `content`, then validates and reloads. */
function applyFile(
  p: CaddyProxySpec,
  file: string,
  content: string,
  o: ApplyOptions,
  undoBody = UNDO_WRITE,
  vars = "",
): string[] {
  const dir = file.replace(/\/[^/]+$/, "") || "/";
  const dirs = [...new Set([dir, ...(o.ensureDirs ?? [])])].map(shq).join(" ");
  const unchanged = o.unchangedOnlyIf === undefined ? "" : ` && ${o.unchangedOnlyIf}`;
  return [
    ...prelude(p, file, undoBody, `; bak=; existed=0${vars}`),
    `inc true || { echo "container $c is not running (incus exec failed): cannot change $file" >&2; exit 1; }`,
    ...(o.prepare ?? []),
    wantLine(content.replace(/\n$/, "")),
    `if inc test -f "$file"; then existed=1; fi`,
    `if [ "$existed" = 1 ] && [ "$(inc cat "$file")" = "$want" ]${unchanged}; then ` +
      `log "$file: unchanged"; exit 0; fi`,
    `inc mkdir -p ${dirs}`,
    `if [ "$existed" = 1 ]; then ${[...backupCommands("inc ", "file"), 'log "$file: backup $bak"'].join("; ")}; fi`,
    ...writeTempLines(`printf '%s\\n' "$want"`, false),
    `log "$file: written"`,
    ...(o.beforeActivate ?? []),
    `activate`,
    ...pruneBackupsLines("inc", '"$file"', "$file"),
  ];
}

/**
 * The storage root exists and belongs to the unit's user (Debian's caddy.service runs as
 * `caddy`; a root-owned root would make certificate storage fail). `caddy validate` runs as
 * that user too, so the files it creates (e.g. the local CA of `tls internal`) stay usable.
 */
function storageLines(p: CaddyProxySpec): string[] {
  return [
    `inc mkdir -p ${shq(p.dataRoot)}`,
    `if [ -n "$user" ] && [ "$user" != root ]; then inc chown "$user:" ${shq(p.dataRoot)}; fi`,
  ];
}

/**
 * A main file that exists and does not start with the managed header belongs to the operator:
 * it keeps every byte; only the import line of the sites folder is appended when absent.
 */
function foreignMainLines(p: CaddyProxySpec): string[] {
  const line = importLine(p);
  return [
    `line=${shq(line)}`,
    `if inc test -f "$file" && ! { first=$(inc head -n 1 "$file") && case "$first" in ` +
      `${shq(MANAGED_PREFIX)}*) true ;; *) false ;; esac; }; then`,
    `  n=$(inc sed -e 's/^[[:space:]]*//' -e 's/[[:space:]]*$//' "$file" | grep -cxF -- "$line" || true)`,
    `  if [ "$n" = 1 ]; then log "$file: not written by incus-tenant, left as it is (it imports the sites)"; ` +
      "exit 0; fi",
    `  if [ "$n" != 0 ]; then echo "$file: not written by incus-tenant, and it has $n lines '$line': ` +
      `leave exactly one (Caddy would load every site twice)" >&2; exit 1; fi`,
    `  inc mkdir -p ${shq(p.sitesDir)}`,
    `  ${[...backupCommands("inc ", "file"), 'log "$file: backup $bak"'].join("; ")}`,
    ...writeTempLines(
      `{ inc cat "$file"; if [ -n "$(inc tail -c 1 "$file")" ]; then echo; fi; printf '%s\\n' "$line"; }`,
      true,
    ).map((l) => `  ${l}`),
    `  log "$file: not written by incus-tenant: only the line '$line' appended"`,
    `  activate`,
    ...pruneBackupsLines("inc", '"$file"', "$file").map((l) => `  ${l}`),
    `  exit 0`,
    `fi`,
  ];
}

/**
 * The proxy's main file: written when missing or the program's own, else only the import line
 * is ensured. No delete: destroying the tenant must not leave Caddy without a config.
 */
export function renderCaddyMainScripts(caddy: CaddySpec): ScriptPair {
  const p = caddy.proxy;
  return {
    create: script(
      `caddy main file ${p.mainFile} in container ${p.container}`,
      applyFile(p, p.mainFile, renderMainCaddyfile(caddy), {
        ensureDirs: [p.sitesDir],
        prepare: [...foreignMainLines(p), ...storageLines(p)],
      }),
    ),
  };
}

/** The stack field that moves an existing site block (named in the refusal). */
export const takeOverField = (v: VhostSpec): string => `vhosts.${v.key}.takeOver`;

/**
 * Lines that look for other site blocks of the vhost's domain (main file and its imports outside
 * sitesDir) into "$found" (`site<TAB>file<TAB>start<TAB>end<TAB>addresses` lines). Without
 * takeOver a block found refuses the vhost, naming both places and the field, before any change.
 */
function scanLines(p: CaddyProxySpec, v: VhostSpec): string[] {
  const refusal = [
    `vhost ${v.key} (${v.domain}): already served by the site block at `,
    `; the stack would serve it from ${v.file}. Set ${takeOverField(v)}: true to move it there ` +
      "(the block is removed from its file, with a dated backup, in the same validated reload), " +
      "or take the vhost out of the stack. Nothing was changed.",
  ];
  return [
    `scan_sh=$(cat ${heredoc(SITE_SCAN_SH.replace(/\n$/, ""), "ITN_SCAN_SH")}\n)`,
    `scan_awk=$(cat ${heredoc(SITE_SCAN_AWK.replace(/\n$/, ""), "ITN_SCAN_AWK")}\n)`,
    `found=$(inc sh -c "$scan_sh" scan ${shq(p.mainFile)} ${shq(p.sitesDir)} ${shq(v.domain)} "$scan_awk") || ` +
      `{ echo ${shq(`${v.domain}: cannot look for other site blocks in ${p.mainFile} and its imports`)} >&2; ` +
      "exit 1; }",
    ...(v.takeOver
      ? [
          `if [ -n "$found" ]; then while IFS=$'\\t' read -r _ f s e a; do ` +
            `log "$f:$s-$e: site block ($a) to be moved to $file"; done <<<"$found"; fi`,
        ]
      : [
          `if [ -n "$found" ]; then`,
          `  where=; while IFS=$'\\t' read -r _ f s _ a; do where+="\${where:+; }$f:$s ($a)"; done <<<"$found"`,
          `  printf '%s\\n' ${shq(refusal[0])}"$where"${shq(refusal[1])} >&2`,
          `  exit 1`,
          `fi`,
        ]),
  ];
}

/** Lines that remove the domain's blocks from each file found (dated backup first, kept in "taken"). */
function cutLines(v: VhostSpec): string[] {
  return [
    `while IFS=$'\\t' read -r _ f _; do`,
    `  [ -n "$f" ] || continue`,
    `  for ((i = 0; i < \${#taken[@]}; i += 2)); do [ "\${taken[i]}" != "$f" ] || continue 2; done`,
    `  b="$f.bak-${UTC_STAMP}"; inc cp -p "$f" "$b"; taken+=("$f" "$b")`,
    `  t=$(inc mktemp "$f.XXXXXXXX")`,
    `  if ! { inc cp -p "$f" "$t" && inc awk -v dom=${shq(v.domain)} -v mode=cut "$scan_awk" "$f" | ` +
      `incus exec "$c" -- tee "$t" >/dev/null && inc mv -f "$t" "$f"; }; then inc rm -f "$t"; undo; ` +
      `echo "$f: could not write it in container $c" >&2; exit 1; fi`,
    `  log "$f: site block of ${v.domain} removed (backup $b); it is served from $file"`,
    `done <<<"$found"`,
  ];
}

/** Undo of a takeover: the site file as {@link UNDO_WRITE}, and every file cut back from its backup. */
const UNDO_TAKE =
  `${UNDO_WRITE}; for ((i = 0; i < \${#taken[@]}; i += 2)); do ` +
  `inc cp -p "\${taken[i+1]}" "\${taken[i]}"; log "\${taken[i]}: restored from \${taken[i+1]}"; done`;

/** One vhost's file: apply (refusing or taking over another block of its domain), and delete. */
export function renderVhostScripts(caddy: CaddySpec, vhost: VhostSpec): ScriptPair {
  const p = caddy.proxy;
  const create = script(
    `caddy vhost ${vhost.key} (${vhost.domain}) in container ${p.container}`,
    vhost.takeOver
      ? applyFile(
          p,
          vhost.file,
          renderVhost(vhost),
          {
            prepare: scanLines(p, vhost),
            beforeActivate: cutLines(vhost),
            unchangedOnlyIf: '[ -z "$found" ]',
          },
          UNDO_TAKE,
          "; taken=()",
        )
      : applyFile(p, vhost.file, renderVhost(vhost), { prepare: scanLines(p, vhost) }),
  );
  const del = script(`caddy vhost ${vhost.key} (${vhost.domain}) in container ${p.container} (delete)`, [
    // "$stamp" is set below, before `activate` (the only caller of undo) runs.
    ...prelude(p, vhost.file, 'inc mv -f "$file.bak-$stamp" "$file"; log "$file: put back"', "", true),
    `if ! incus info "$c" >/dev/null 2>&1; then log "container $c is gone: nothing to remove"; exit 0; fi`,
    `inc true || { echo "container $c is not running (incus exec failed): cannot remove $file" >&2; exit 1; }`,
    `if ! inc test -e "$file"; then log "$file: already gone"; exit 0; fi`,
    `stamp=${UTC_STAMP}`,
    `inc mv -f "$file" "$file.bak-$stamp"; log "$file: moved to $file.bak-$stamp"`,
    `activate`,
  ]);
  return { create, delete: del };
}
