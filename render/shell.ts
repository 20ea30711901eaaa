/**
 * The one shell-quoting helper and the script wrapper every remote command goes through.
 * No untrusted value is ever concatenated into shell text without `shq`.
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

/** Header line every rendered file and script starts with. */
export function managedHeader(what: string, comment = "#"): string {
  return `${comment} managed by incus-tenant: ${what}`;
}

/** A heredoc that passes `body` literally (quoted delimiter, so no expansion). */
export function heredoc(body: string, delimiter = "ITN_EOF"): string {
  if (body.split("\n").includes(delimiter)) throw new Error(`heredoc: body contains the delimiter ${delimiter}`);
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
