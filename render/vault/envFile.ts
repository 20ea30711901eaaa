/**
 * The VAULT_* lines of the .env in the system container (the runbooks' rule: only VAULT_*
 * variables there, never the token through the stack). The file is edited in place: each of our
 * variables replaces its own line where it stands, a missing one is appended, every other line
 * (the operator's VAULT_TOKEN, a foreign variable, comments) stays where it is.
 */
import type { VaultEnvFileSpec, VaultSpec } from "../../model/vault";
import { backupCommands, ScriptPair, tempNextTo } from "../snippets";
import { script, shq, singleQuotedOnPurpose } from "../shell";

/** Directive above an `incus exec ... sh -c TEXT`: TEXT is expanded by the container's sh. */
export const IN_CONTAINER_SH = singleQuotedOnPurpose(
  "the text is a program for sh -c in the container, which expands it",
);

/** Throws unless every variable is a non-secret VAULT_* one (the runbooks' .env rule). */
export function assertVaultOnly(env: VaultEnvFileSpec): void {
  for (const [name, value] of env.variables) {
    if (!/^VAULT_[A-Z0-9_]+$/.test(name) || name === "VAULT_TOKEN")
      throw new Error(`refusing to write ${name} to ${env.path}: only non-secret VAULT_* variables go there`);
    if (value === "" || /[\n\r\0]/.test(value))
      throw new Error(`refusing to write ${name} to ${env.path}: the value must be a non-empty single line`);
  }
}

/**
 * awk program: the file with each of our `NAME=` lines replaced in place by the wanted line (a
 * repeated one is dropped), then the wanted lines the file did not have, in the stack's order.
 * The wanted lines come in ENVIRON["W"] (awk -v would interpret backslashes).
 */
const MERGE_AWK = [
  'BEGIN { n = split(ENVIRON["W"], w, "\\n"); for (i = 1; i <= n; i++) { k = w[i]; sub(/=.*/, "", k); ' +
    "val[k] = w[i]; ord[i] = k } }",
  '{ k = $0; if (k ~ /^[A-Za-z_][A-Za-z0-9_]*=/) { sub(/=.*/, "", k); ' +
    "if (k in val) { if (!(k in done)) { print val[k]; done[k] = 1 }; next } } print }",
  "END { for (i = 1; i <= n; i++) if (!(ord[i] in done)) print val[ord[i]] }",
].join("\n");

/**
 * The VAULT_* lines of the .env in the system container: our variables replace their own lines
 * in place (order kept), missing ones are appended, every other line stays; a dated backup
 * before a change; mode 0600. Other, non-VAULT variables are reported by name only, never by
 * value.
 */
export function renderVaultEnvFile(v: VaultSpec): ScriptPair {
  const env = v.envFile;
  if (env === undefined) throw new Error("renderVaultEnvFile: the vault section has no envFile");
  assertVaultOnly(env);
  const want = env.variables.map(([n, val]) => `${n}=${val}`).join("\n");
  const dir = env.path.replace(/\/[^/]+$/, "") || "/";
  const inner = [
    "set -eu",
    `f=${shq(env.path)}; want=${shq(want)}`,
    `if [ -f "$f" ]; then new=$(W=$want awk ${shq(MERGE_AWK)} "$f"); else new=$want; fi`,
    `foreign=$( { [ ! -f "$f" ] || sed -n 's/^\\([A-Za-z_][A-Za-z0-9_]*\\)=.*/\\1/p' "$f"; } ` +
      `| grep -v '^VAULT_' | tr '\\n' ' ' || true)`,
    `[ -z "$foreign" ] || echo ` +
      `"incus-tenant: warning: $f also holds non-VAULT variables (only VAULT_* belong there): $foreign" >&2`,
    `if [ -f "$f" ] && [ "$(cat "$f")" = "$new" ]; then echo "incus-tenant: $f: unchanged" >&2; exit 0; fi`,
    `mkdir -p ${shq(dir)}`,
    `if [ -f "$f" ]; then ${backupCommands("", "f", "b").join("; ")}; echo "incus-tenant: $f: backup $b" >&2; fi`,
    `${tempNextTo("", "f", 6)}; [ ! -f "$f" ] || chown --reference="$f" "$tmp"; chmod 0600 "$tmp"`,
    `printf '%s\\n' "$new" > "$tmp"; mv -f "$tmp" "$f"`,
    `echo "incus-tenant: $f: VAULT_* variables written ("${shq(env.variables.map(([n]) => n).join(" "))}")" >&2`,
  ].join("\n");
  return {
    create: script(`VAULT_* variables of ${env.path} in container ${env.container}`, [
      IN_CONTAINER_SH,
      `incus exec -n ${shq(env.container)} -- sh -c ${shq(inner)}`,
    ]),
  };
}
