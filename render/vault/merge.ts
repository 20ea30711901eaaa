/**
 * The write of one Vault path, run inside the vault container after its scoped token is in
 * VAULT_TOKEN: never a replacement. It reads the path (`kv get -format=json`: its version, and
 * per key `-field=KEY` whether it holds a value and which), decides per key (adopt / set /
 * rotate, see ./keys), and writes only the keys that must change: `kv put -cas=0` when the path
 * does not exist yet, else `kv patch -method=patch -cas=<version read>`, a server-side merge
 * that keeps every key the stack does not list and fails if the path changed since it was read.
 * The values come from the command's stdin (./keys `vaultStdin`) and reach `vault` on its
 * stdin through builtins (`printf`) and pipes only; the log names keys, never values.
 */
import type { VaultPathSpec, VaultSpec } from "../../model/vault";
import { shq } from "../shell";
import { keyPolicy } from "./keys";

/** The per-key categories the put reports by name (in this order). */
export const REPORT_CATEGORIES = ["created", "changed", "rotated", "adopted", "unchanged"] as const;

/** The message of a path that Vault read without a version (an answer the script cannot trust). */
export const noVersionMessage = (where: string): string =>
  `incus-tenant: vault: ${where}: Vault answered without a version; nothing written`;

/** The message of a key that could not be read (Vault's own error is printed just before). */
export const unreadableKeyMessage = (where: string): string =>
  `incus-tenant: vault: ${where}: could not read key`;

/**
 * Shell lines (sh, inside the vault container) that merge the stack's keys into the path. Each
 * key name is validated by the model (letters, digits, _), so it is a plain word here.
 */
export function mergeLines(v: VaultSpec, p: VaultPathSpec): string[] {
  const where = `${v.mount}/${p.path}`;
  const loc = `-mount=${shq(v.mount)} ${shq(p.path)}`;
  return [
    "in=$(cat)",
    "ver=0",
    `if out=$(vault kv get -format=json ${loc} 2>&1 < /dev/null); then`,
    `  ver=$(printf '%s\\n' "$out" | sed -n 's/^ *"version": \\([0-9][0-9]*\\),\\{0,1\\}$/\\1/p' | tail -n 1)`,
    `  [ -n "$ver" ] || { echo ${shq(noVersionMessage(where))} >&2; exit 1; }`,
    "else",
    `  case $out in *"No value found at "*) ;; *) printf '%s\\n' "$out" >&2; exit 1 ;; esac`,
    "fi",
    "out=",
    `pick=; ${REPORT_CATEGORIES.map((c) => `${c}=`).join("; ")}`,
    "have() {",
    '  cur=; [ "$ver" != 0 ] || return 1',
    `  rc=0; cur=$(vault kv get -format=json -field="$1" ${loc} 2>/dev/null < /dev/null) || rc=$?`,
    "  case $rc in 0) return 0 ;; 1) cur=; return 1 ;; esac",
    `  vault kv get -format=json -field="$1" ${loc} < /dev/null > /dev/null || true`,
    `  echo ${shq(unreadableKeyMessage(where))} "$1" >&2; exit 1`,
    "}",
    `want() { printf '%s\\n' "$in" | sed -n "s/^\\"$1\\"://p"; }`,
    "decide() {",
    '  if have "$1"; then',
    '    if [ "$2" = adopt ]; then adopted="$adopted $1"; return 0; fi',
    '    if [ "$cur" = "$(want "$1")" ]; then cur=; unchanged="$unchanged $1"; return 0; fi',
    '    cur=; if [ "$2" = rotate ]; then rotated="$rotated $1"; else changed="$changed $1"; fi',
    '  else created="$created $1"; fi',
    '  pick="$pick|$1"',
    "}",
    ...p.keys.map((k) => `decide ${shq(k.name)} ${keyPolicy(k)}`),
    "sum=",
    `for c in ${REPORT_CATEGORIES.join(" ")}; do eval "l=\\$$c"; [ -z "$l" ] || sum="$sum; $c:$l"; done`,
    'if [ -z "$pick" ]; then',
    `  echo ${shq(`incus-tenant: vault: ${where}: nothing to write (`)}"\${sum#; })" >&2`,
    "else",
    `  data=$(printf '%s\\n' "$in" | grep -E "^\\"(\${pick#|})\\":" | paste -sd, -)`,
    `  if [ "$ver" = 0 ]; then printf '{%s}\\n' "$data" | vault kv put -cas=0 ${loc} - > /dev/null`,
    `  else printf '{%s}\\n' "$data" | vault kv patch -method=patch -cas="$ver" ${loc} - > /dev/null; fi`,
    `  data=; echo ${shq(`incus-tenant: vault: ${where} written (`)}"\${sum#; })" >&2`,
    "fi",
  ];
}
