/**
 * Shell snippets every script renderer shares: the script pair, the UTC stamp, the instance
 * status, and the pieces of "write the file if changed, keep a dated backup, undo on failure,
 * prune old backups". A file is changed in one of four places (the host, the Caddy container
 * through `inc`, the dns container through `incus exec "$c" --`, a container's own `sh -c`);
 * `exec` is the command prefix that reaches it ("" where the script already runs there, else
 * ending in a space). Every file name here is a shell variable name (`file`, `corefile`, `f`),
 * never a stack value.
 */
import { BACKUPS_KEPT, heredoc, shq, singleQuotedOnPurpose } from "./shell";

/** One idempotent create script and its delete (absent = nothing to undo on destroy). */
export interface ScriptPair {
  readonly create: string;
  readonly delete?: string;
}

/** Shell expression: the host's UTC time as YYYYMMDDhhmmss (fixed width, so name order is age order). */
export const UTC_STAMP = "$(date -u +%Y%m%d%H%M%S)";

/**
 * The command printing an Incus instance's status (`RUNNING`, `STOPPED`, ...; nothing when it
 * does not exist). `instance` is shell text (`"$name"`); `quiet` drops incus's error output.
 */
export const statusCommand = (instance: string, quiet = false): string =>
  `incus info ${instance}${quiet ? " 2>/dev/null" : ""} | sed -n 's/^Status: //p'`;

/** The test `[ "<status>" = RUNNING ]` (or `!=` when `running` is false) of {@link statusCommand}. */
export const runningTest = (instance: string, running = true, quiet = false): string =>
  `[ "$(${statusCommand(instance, quiet)})" ${running ? "=" : "!="} RUNNING ]`;

/** Where a dated backup of "$<fileVar>" goes: `<bakVar>="$<fileVar>.bak-<UTC stamp><suffix>"`. */
export const backupName = (fileVar: string, bakVar = "bak", suffix = ""): string =>
  `${bakVar}="$${fileVar}.bak-${UTC_STAMP}${suffix}"`;

/**
 * The two commands of a dated backup, through `exec`: name it ({@link backupName}), then copy
 * "$<fileVar>" there with its mode and owner (`cp -p`). `bakVar` names the backup afterwards.
 */
export const backupCommands = (exec: string, fileVar: string, bakVar = "bak", suffix = ""): string[] => [
  backupName(fileVar, bakVar, suffix),
  `${exec}cp -p "$${fileVar}" "$${bakVar}"`,
];

/**
 * Undo of a failed write (after validation refused the new file): put the backup "$bak" back
 * over "$<fileVar>", or remove the new file when there was none to back up (`bak` empty).
 */
export const restoreCommand = (exec: string, fileVar: string): string =>
  `if [ -n "$bak" ]; then ${exec}cp -p "$bak" "$${fileVar}"; log "$${fileVar}: restored from $bak"; ` +
  `else ${exec}rm -f "$${fileVar}"; log "$${fileVar}: new file removed"; fi`;

/** The two commands that move "$<fileVar>" aside to a dated backup "$bak" (a delete that stays undoable). */
export const moveAsideCommands = (exec: string, fileVar: string): string[] => [
  backupName(fileVar),
  `${exec}mv -f "$${fileVar}" "$bak"`,
];

/** `tmp=$(<exec>mktemp "$<fileVar>.XXXX…")`: a fresh temp name next to the file (the rename is atomic). */
export const tempNextTo = (exec: string, fileVar: string, xs = 8, tmpVar = "tmp"): string =>
  `${tmpVar}=$(${exec}mktemp "$${fileVar}.${"X".repeat(xs)}")`;

/** `want=$(cat <<'ITN_EOF' … )`: the desired content in "$want", passed literally (a quoted heredoc). */
export const wantLine = (content: string): string => `want=$(cat ${heredoc(content)}\n)`;

/**
 * Lines that write `content` to the host file `file` only when it differs (a `mktemp` file in the
 * same folder, then rename), logging what happened. Host files have no backup: the stack renders
 * the whole of them.
 */
export function writeFileIfChanged(file: string, content: string, mode = "0644"): string {
  return [
    wantLine(content),
    `if [ -f ${shq(file)} ] && [ "$(cat ${shq(file)})" = "$want" ]; then log ${shq(`${file}: unchanged`)}; else`,
    `  mkdir -p ${shq(file.replace(/\/[^/]+$/, "") || "/")}`,
    `  tmp=$(mktemp ${shq(`${file}.XXXXXX`)}); ` +
      `printf '%s\\n' "$want" > "$tmp"; chmod ${mode} "$tmp"; mv -f "$tmp" ${shq(file)}`,
    `  log ${shq(`${file}: written`)}`,
    "fi",
  ].join("\n");
}

/**
 * Lines that delete all but the newest {@link BACKUPS_KEPT} backups of the file named by the
 * shell expression `fileExpr` (stamps are fixed-width UTC times, so name order is age order),
 * running through `exec` (e.g. `incus exec "$c" --`). It never fails the script. `what` is
 * shell text inside double quotes (a variable like `$file`), never a stack value.
 */
export function pruneBackupsLines(exec: string, fileExpr: string, what: string): string[] {
  // Every existing "$1".bak-* (an unmatched glob stays literal and is skipped), newest first.
  const inner =
    'for b in "$1".bak-*; do [ ! -e "$b" ] || printf "%s\\n" "$b"; done | LC_ALL=C sort -r | ' +
    'tail -n +$(($2 + 1)) | while IFS= read -r b; do rm -f -- "$b" && echo "$b"; done | wc -l';
  return [
    singleQuotedOnPurpose("the sh -c program expands $1 (file) and $2 (count) itself"),
    `pruned=$(${exec} sh -c ${shq(inner)} prune ${fileExpr} ${BACKUPS_KEPT} 2>/dev/null || echo 0); ` +
      `[ "$pruned" = 0 ] || log "${what}: $pruned old backup(s) removed (the newest ${BACKUPS_KEPT} kept)"`,
  ];
}
