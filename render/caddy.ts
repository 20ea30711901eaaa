/**
 * Caddy: the main Caddyfile (global block with the storage root, the `tls_config` snippet,
 * `import` of the sites folder), one site file per vhost, and the scripts that change them.
 *
 * Every change follows the runbook: dated backup of the file being replaced, write (a `mktemp`
 * file in the same folder, then rename, so no file is ever partial and no name is predictable),
 * `caddy validate`, then `caddy reload` (never a restart: a failed reload keeps the old config
 * serving). When validation or reload fails, the backup is put back (or the new file removed)
 * and the script fails with Caddy's own output. Unchanged content does nothing at all.
 */
import type { CaddyProxySpec, CaddySpec, VhostSpec } from "../model/vhosts";
import type { ScriptPair } from "./snippets";
import { managedHeader, script, shq } from "./shell";
import {
  backupCommands,
  pruneBackupsLines,
  restoreCommand,
  tempNextTo,
  UTC_STAMP,
  wantLine,
} from "./snippets";

/** Host-side lock serialising every Caddy change of the host (validate sees one change at a time). */
export const CADDY_LOCK = "/run/incus-tenant.caddy.lock";

/** The glob the main file imports. */
export const sitesGlob = (proxy: CaddyProxySpec): string => `${proxy.sitesDir}/*.caddy`;

/** The main Caddyfile (tab-indented: exactly what `caddy fmt` prints). */
export function renderMainCaddyfile(caddy: CaddySpec): string {
  const p = caddy.proxy;
  return [
    managedHeader(`caddy main file of container ${p.container} (sites in ${p.sitesDir})`),
    "{",
    "\tstorage file_system {",
    `\t\troot ${p.dataRoot}`,
    "\t}",
    "}",
    "",
    "(tls_config) {",
    `\ttls ${p.tls.kind === "acme" ? p.tls.email : "internal"}`,
    "}",
    "",
    `import ${sitesGlob(p)}`,
    "",
  ].join("\n");
}

/** One site file, from the runbook's template. */
export function renderVhost(vhost: VhostSpec): string {
  return [
    managedHeader(
      `caddy vhost ${vhost.key} (${vhost.domain} -> ` +
        `${vhost.upstreamContainer} ${vhost.upstreamIp}:${vhost.upstreamPort})`,
    ),
    `${vhost.domain} {`,
    "\timport tls_config",
    `\treverse_proxy ${vhost.upstreamIp}:${vhost.upstreamPort} {`,
    "\t\theader_up Host {host}",
    "\t\theader_up X-Real-IP {remote}",
    "\t\theader_up X-Forwarded-Proto https",
    "\t}",
    "}",
    "",
  ].join("\n");
}

/** What `undo` does after a failed write: restore the backup, or remove the new file when there was none. */
const UNDO_WRITE = restoreCommand("inc ", "file");

/**
 * Shell functions shared by every Caddy script: `inc` (run in the proxy container), `undo`
 * (`undoBody`: what puts the previous config back) and `activate` (validate, then reload — or
 * start the unit when Caddy is not running — undoing on failure). `vars` are extra shell
 * variables set on the first line (`bak=; existed=0` for a write).
 */
function prelude(p: CaddyProxySpec, file: string, undoBody: string, vars = ""): string[] {
  const caddyArgs = `--config ${shq(p.mainFile)} --adapter caddyfile`;
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
    `    out=$(inc caddy reload ${caddyArgs} 2>&1) || fail "caddy reload failed for $file" "$out"`,
    `    log "$file: caddy reloaded"`,
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

/** Converges one file in the proxy container to `content`, then validates and reloads. */
function applyFile(
  p: CaddyProxySpec,
  file: string,
  content: string,
  ensureDirs: string[],
  prepare: string[] = [],
): string[] {
  const dir = file.replace(/\/[^/]+$/, "") || "/";
  const dirs = [...new Set([dir, ...ensureDirs])].map(shq).join(" ");
  return [
    ...prelude(p, file, UNDO_WRITE, "; bak=; existed=0"),
    `inc true || { echo "container $c is not running (incus exec failed): cannot change $file" >&2; exit 1; }`,
    ...prepare,
    wantLine(content.replace(/\n$/, "")),
    `if inc test -f "$file"; then existed=1; fi`,
    `if [ "$existed" = 1 ] && [ "$(inc cat "$file")" = "$want" ]; then log "$file: unchanged"; exit 0; fi`,
    `inc mkdir -p ${dirs}`,
    `if [ "$existed" = 1 ]; then ${[...backupCommands("inc ", "file"), 'log "$file: backup $bak"'].join("; ")}; fi`,
    // A fresh temp name (mktemp, in the file's folder: the rename is atomic), removed if the write fails.
    tempNextTo("inc ", "file"),
    `if ! { inc chmod 0644 "$tmp" && printf '%s\\n' "$want" | incus exec "$c" -- tee "$tmp" >/dev/null && ` +
      `inc mv -f "$tmp" "$file"; }; then inc rm -f "$tmp"; ` +
      `echo "$file: could not write it in container $c" >&2; exit 1; fi`,
    `log "$file: written"`,
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

/** The proxy's main file. No delete: destroying the tenant must not leave Caddy without a config. */
export function renderCaddyMainScripts(caddy: CaddySpec): ScriptPair {
  const p = caddy.proxy;
  return {
    create: script(
      `caddy main file ${p.mainFile} in container ${p.container}`,
      applyFile(p, p.mainFile, renderMainCaddyfile(caddy), [p.sitesDir], storageLines(p)),
    ),
  };
}

/** One vhost's file: apply, and delete (removes only this file, then validate + reload). */
export function renderVhostScripts(caddy: CaddySpec, vhost: VhostSpec): ScriptPair {
  const p = caddy.proxy;
  const create = script(
    `caddy vhost ${vhost.key} (${vhost.domain}) in container ${p.container}`,
    applyFile(p, vhost.file, renderVhost(vhost), []),
  );
  const del = script(`caddy vhost ${vhost.key} (${vhost.domain}) in container ${p.container} (delete)`, [
    // "$stamp" is set below, before `activate` (the only caller of undo) runs.
    ...prelude(p, vhost.file, 'inc mv -f "$file.bak-$stamp" "$file"; log "$file: put back"'),
    `if ! incus info "$c" >/dev/null 2>&1; then log "container $c is gone: nothing to remove"; exit 0; fi`,
    `inc true || { echo "container $c is not running (incus exec failed): cannot remove $file" >&2; exit 1; }`,
    `if ! inc test -e "$file"; then log "$file: already gone"; exit 0; fi`,
    `stamp=${UTC_STAMP}`,
    `inc mv -f "$file" "$file.bak-$stamp"; log "$file: moved to $file.bak-$stamp"`,
    `activate`,
  ]);
  return { create, delete: del };
}
