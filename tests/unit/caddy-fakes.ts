/**
 * Stand-ins for the Caddy script tests (tests/unit/caddy*.test.ts): `incus` runs
 * `incus exec proxy -- cmd` as `cmd` on this machine, `caddy validate` is the real one (reload
 * is a real `caddy adapt`), `systemctl`, `tee` and `runuser` fail on demand (flag files in
 * $ITN_FAKE); every call is appended to $ITN_FAKE/calls.
 */
import { spawnSync } from "child_process";
import * as fs from "fs";
import { remoteBash } from "../../render/shell";

const CADDY = "/usr/bin/caddy";

/** Stand-in name → bash body. */
export const STANDINS: Record<string, string> = {
  incus:
    `echo "incus $1" >> "$ITN_FAKE/calls"
case "$1" in
info) [ -e "$ITN_FAKE/no-container" ] && { echo "Error: Not Found" >&2; exit 1; }; echo "Status: RUNNING";;
exec) [ -e "$ITN_FAKE/stopped" ] && { echo "Error: Instance is not running" >&2; exit 1; }; ` +
    `shift; c=$1; shift; [ "$1" = -- ] && shift; [ "$c" = proxy ] || exit 99; exec "$@";;
*) echo "stand-in incus: unsupported $*" >&2; exit 2;;
esac`,
  caddy: `echo "caddy $1" >> "$ITN_FAKE/calls"
if [ -e "$ITN_FAKE/fail-$1" ]; then echo "Error: stand-in caddy: $1 refused" >&2; exit 1; fi
case "$1" in validate) exec ${CADDY} "$@";; reload) exec ${CADDY} adapt "\${@:2}" >/dev/null;; esac`,
  systemctl:
    `echo "systemctl $*" >> "$ITN_FAKE/calls"
case "$1" in show) cat "$ITN_FAKE/user" 2>/dev/null || echo;; is-active) [ -e "$ITN_FAKE/running" ];; ` +
    `start) [ -e "$ITN_FAKE/fail-start" ] && { echo "Job for $2.service failed." >&2; exit 1; }; ` +
    `touch "$ITN_FAKE/running";; ` +
    `restart) if [ -e "$ITN_FAKE/fail-restart-once" ] || [ -e "$ITN_FAKE/fail-restart-always" ]; then ` +
    `rm -f "$ITN_FAKE/fail-restart-once" "$ITN_FAKE/running"; ` +
    `echo "Job for $2.service failed (restart)." >&2; exit 1; fi; touch "$ITN_FAKE/running";; esac`,
  journalctl: `echo "stand-in journal: caddy exited"`,
  runuser: `echo "runuser $1 $2" >> "$ITN_FAKE/calls"; exec "\${@:4}"`,
  chown: `echo "chown $*" >> "$ITN_FAKE/calls"`,
  mktemp: `echo "mktemp $*" >> "$ITN_FAKE/mktemp.log"; exec /usr/bin/mktemp "$@"`,
  tee:
    `[ -e "$ITN_FAKE/fail-tee" ] && { echo "tee: write error: No space left on device" >&2; exit 1; }; ` +
    `exec /usr/bin/tee "$@"`,
};

/** Writes every stand-in into `<fake>/bin`. */
export function writeStandins(fake: string): void {
  fs.mkdirSync(`${fake}/bin`, { recursive: true });
  for (const [name, body] of Object.entries(STANDINS))
    fs.writeFileSync(`${fake}/bin/${name}`, `#!/bin/bash\n${body}\n`, { mode: 0o755 });
}

/** The stand-in calls of the last run, without `incus` and `systemctl show` lines. */
export const fakeCalls = (fake: string): string[] =>
  (fs.existsSync(`${fake}/calls`) ? fs.readFileSync(`${fake}/calls`, "utf8").trim().split("\n") : []).filter(
    (l) => !l.startsWith("incus") && !l.startsWith("systemctl show"),
  );

/** Runs a rendered script (as the host would, without sudo) against the stand-ins of `fake`. */
export function runWithStandins(fake: string, text: string): { status: number | null; stderr: string } {
  fs.rmSync(`${fake}/calls`, { force: true });
  const r = spawnSync("bash", ["-c", remoteBash(text, false)], {
    encoding: "utf8",
    env: { ...process.env, PATH: `${fake}/bin:${process.env.PATH}`, ITN_FAKE: fake },
  });
  return { status: r.status, stderr: r.stderr };
}
