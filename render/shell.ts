/**
 * The one shell-quoting helper and the script wrapper every remote command goes through.
 *
 * Rule for every renderer: a value from the stack (or derived from it) reaches shell text only
 * (a) through `shq`/`shArgs`, as a whole word or as a single-quoted piece of one (log and echo
 * lines pass values as separate `shq` arguments: `log "$name: image" ${shq(image)}`), also
 * inside text that another shell runs later (`sh -c`, `ssh`), where it is quoted again as a
 * whole; (b) in the body of a quoted {@link heredoc}, which the shell never expands; or (c) in
 * the comment of {@link managedHeader}, whose control characters are escaped so no value can
 * end the comment line. Never inside a double-quoted string: `"…${value}…"` runs `$(…)`,
 * backticks and `x";cmd;"`. tests/unit/injection.test.ts proves it by running every rendered
 * script with hostile values in every string field of the spec.
 */

/** Quotes one value as a single POSIX shell word: 'it'\''s' style. Rejects NUL bytes. */
export function shq(value: string | number): string {
  const text = String(value);
  if (text.includes("\0")) throw new Error("shq: NUL byte in a shell argument");
  if (/^[A-Za-z0-9_@%+=:,./-]+$/.test(text)) return text;
  return `'${text.replace(/'/g, `'\\''`)}'`;
}

/** Quotes each value and joins them with spaces. */
export function shArgs(...values: (string | number)[]): string {
  return values.map(shq).join(" ");
}

/** Escapes control characters (newline, CR, ...) as `\n`, `\r`, `\xNN`: the text stays on one line. */
export function oneLine(text: string): string {
  const named: Record<string, string> = { "\n": "\\n", "\r": "\\r", "\t": "\\t" };
  return text.replace(
    /[\x00-\x1f\x7f]/g,
    (c) => named[c] ?? `\\x${c.charCodeAt(0).toString(16).padStart(2, "0")}`,
  );
}

/**
 * Header line every rendered file and script starts with. `what` may hold stack values: its
 * control characters are escaped ({@link oneLine}) so it can never end the comment line.
 */
export function managedHeader(what: string, comment = "#"): string {
  return `${comment} managed by incus-tenant: ${oneLine(what)}`;
}

/** A heredoc that passes `body` literally (quoted delimiter, so no expansion). */
export function heredoc(body: string, delimiter = "ITN_EOF"): string {
  if (body.split("\n").includes(delimiter))
    throw new Error(`heredoc: body contains the delimiter ${delimiter}`);
  return `<<'${delimiter}'\n${body}\n${delimiter}`;
}

/** A complete script: header, strict mode, a `log` function writing progress to stderr, then the body. */
export function script(what: string, body: string[]): string {
  return [
    managedHeader(what),
    "set -euo pipefail",
    `log() { printf 'incus-tenant: %s\\n' "$*" >&2; }`,
    ...body,
  ].join("\n");
}

/** The command line that runs `text` with bash on the host, through `sudo -n` when needed. */
export function remoteBash(text: string, sudo: boolean): string {
  return `${sudo ? "sudo -n " : ""}bash -c ${shq(text)}`;
}

/** How many dated backups (`<file>.bak-<UTC stamp>...`) of one file a successful change keeps. */
export const BACKUPS_KEPT = 5;

/**
 * A shellcheck directive for the command on the next line, where a finding is wrong there:
 * `# shellcheck disable=<code> # <why>`, indented like that command.
 */
export const shellcheckDisable = (indent: string, code: string, why: string): string =>
  `${indent}# shellcheck disable=${code} # ${why}`;

/**
 * The SC2016 directive for the command on the next line: its single-quoted text is a program
 * another shell runs (`sh -c`, `incus exec ... sh -c`, ssh), so its `$` must not expand here.
 * `why` says which shell runs it.
 */
export const singleQuotedOnPurpose = (why: string): string => shellcheckDisable("", "SC2016", why);
