/**
 * Scripts for Vault, run on the host: the health preflight, one write per path, and the VAULT_*
 * lines of the system container's .env (./vault/envFile). A path is never replaced: the put
 * reads it and merges the keys that must change (./vault/merge: `kv patch -cas`, or `kv put
 * -cas=0` for a new path), so keys the stack does not list survive and a generated key adopts
 * the value the path already holds. The values arrive on the command's stdin (./vault/keys
 * `vaultStdin`) and go through `incus exec` to `vault ... -` on its stdin, so no value is ever in
 * a command text; the text names each key and its policy (adopt/set/rotate), which is what
 * `pulumi preview` shows. Each path is written with its own scoped token (a policy allowing only
 * that path), created once from the bootstrap (root) token and kept 0600 in the vault container.
 */
import { VaultPathSpec, VaultSpec } from "../model/vault";
import { ScriptPair, tempNextTo } from "./snippets";
import { script, shq } from "./shell";
import { IN_CONTAINER_SH } from "./vault/envFile";
import { keyPolicy, keysComment } from "./vault/keys";
import { mergeLines } from "./vault/merge";

export { assertVaultOnly, renderVaultEnvFile } from "./vault/envFile";
export { goJsonString, keyLabel, keyPolicy, keysComment, vaultStdin } from "./vault/keys";
export type { KeyPolicy } from "./vault/keys";
export { mergeLines, noVersionMessage, REPORT_CATEGORIES, unreadableKeyMessage } from "./vault/merge";

/** The exact message a sealed Vault stops the apply with. */
export const SEALED_MESSAGE = "Vault is sealed: unseal it with 3 of 5 keys";
export const NOT_INITIALIZED_MESSAGE = "Vault is not initialized";
export const unreachableMessage = (address: string): string => `Vault is unreachable at ${address}`;

/** Where the runbooks put the vault binary inside its container (first in PATH). */
export const VAULT_BIN_DIR = "/opt/gbo/bin";

/** Why the renderer refuses an https:// Vault without a CA (the spec refuses it first, naming vault.caCert). */
export const HTTPS_WITHOUT_CA =
  "render/vault: an https:// Vault address needs caCert (its certificate is never left unchecked)";

/**
 * Host lines: ask the health endpoint inside the vault container and stop unless it answers 200.
 * https is checked against caCert (`--cacert`); plain http has nothing to check. Never `-k`.
 */
export function healthLines(v: VaultSpec): string[] {
  const url = `${v.address}/v1/sys/health?standbyok=true`;
  if (v.caCert === undefined && v.address.startsWith("https://")) throw new Error(HTTPS_WITHOUT_CA);
  const tls = v.caCert !== undefined ? ` --cacert ${shq(v.caCert)}` : "";
  return [
    `code=$(incus exec -n ${shq(v.container)} -- curl -s${tls} --max-time 10 -o /dev/null -w '%{http_code}' ` +
      `${shq(url)} || true)`,
    `case "$code" in`,
    `  200) log ${shq(`vault at ${v.address}: initialized and unsealed`)} ;;`,
    `  503) echo ${shq(SEALED_MESSAGE)} >&2; exit 1 ;;`,
    `  501) echo ${shq(NOT_INITIALIZED_MESSAGE)} >&2; exit 1 ;;`,
    `  *) log "vault health check answered \${code:-nothing}"; echo ` +
      `${shq(unreachableMessage(v.address))} >&2; exit 1 ;;`,
    "esac",
  ];
}

/** Token lifetime asked for a scoped token (the runbooks' service tokens; Vault caps it at its max TTL). */
export const SCOPED_TOKEN_TTL = "8760h";

/** Name of the policy of one path: `incus-tenant-<tenant>-<path key>`. */
export const policyName = (v: VaultSpec, p: VaultPathSpec): string => `${v.policyPrefix}-${p.key}`;

/** The scoped token file of one path inside the vault container (`<scopedTokenDir>/<path key>.token`). */
export const scopedTokenFile = (v: VaultSpec, p: VaultPathSpec): string =>
  `${v.scopedTokenDir}/${p.key}.token`;

/** The comment of a path's policy that says why the scoped token may read its own path. */
export const POLICY_READ_REASON =
  "# read: this path only, to merge (keys the stack does not list survive) and to adopt existing values";

/**
 * The policy of one path: only its KV v2 data and, when the path is deleted with the stack
 * (keepOnDestroy false), its metadata (delete). On the data: `create` (a new path: `kv put
 * -cas=0`), `patch` (an existing path: `kv patch`, a server-side merge) and `read` (the merge
 * must know which keys the path holds, to adopt existing values and to skip unchanged ones: the
 * token reads only the path it may already overwrite). No `update`: the token cannot replace the
 * path, so it cannot drop keys. Nothing else: no list, no other path.
 */
export function policyText(v: VaultSpec, p: VaultPathSpec): string {
  return [
    `# managed by incus-tenant: writes of ${v.mount}/${p.path}`,
    POLICY_READ_REASON,
    `path ${JSON.stringify(`${v.mount}/data/${p.path}`)} { capabilities = ["create", "read", "patch"] }`,
    ...(p.keepOnDestroy
      ? []
      : [`path ${JSON.stringify(`${v.mount}/metadata/${p.path}`)} { capabilities = ["delete"] }`]),
  ].join("\n");
}

/** Common start of every shell text run inside the vault container: strict, VAULT_ADDR/CACERT, PATH, umask 077. */
const vaultShellHead = (v: VaultSpec): string[] => [
  "set -eu",
  `export VAULT_ADDR=${shq(v.address)}${v.caCert !== undefined ? ` VAULT_CACERT=${shq(v.caCert)}` : ""}`,
  `export PATH="${VAULT_BIN_DIR}:$PATH"`,
  "umask 077",
];

/** Writes "$<valueVar>" to `target` (shell text) 0600, through a temp file "$f" next to "$w" and a rename. */
const privateWrite = (valueVar: string, target: string): string =>
  `${tempNextTo("", "w", 6, "f")}; printf '%s\\n' "$${valueVar}" > "$f"; chmod 0600 "$f"; mv -f "$f" ${target}`;

/**
 * Lines (sh, inside the vault container) that leave the path's scoped token in `VAULT_TOKEN`: the
 * token file is used when it is valid (`vault token lookup`) and was made for the current policy
 * text; otherwise, and only then, the bootstrap token (the container's VAULT_TOKEN, else
 * tokenFile: plain, or init.json's root_token) writes the policy and creates a new orphan token
 * with only that policy, stored 0600 under scopedTokenDir. Nothing here reads the command's
 * stdin (it carries the values for `kv put`); no token is ever an argument. (`token lookup` and
 * `token revoke -self` are allowed to every token by Vault's built-in default policy.)
 */
export function scopedTokenLines(v: VaultSpec, p: VaultPathSpec): string[] {
  const where = `${v.mount}/${p.path}`;
  return [
    `w=${shq(scopedTokenFile(v, p))}; pol=${shq(policyName(v, p))}; want=${shq(policyText(v, p))}`,
    "boot=${VAULT_TOKEN:-}; unset VAULT_TOKEN",
    'if [ -s "$w" ] && [ "$(cat "$w.policy" 2>/dev/null)" = "$want" ] && ' +
      'VAULT_TOKEN=$(cat "$w") vault token lookup >/dev/null 2>&1 < /dev/null; then :; else',
    '  if [ -z "$boot" ]; then',
    `    t=${shq(v.tokenFile)}`,
    `    [ -r "$t" ] || { echo "no Vault token: $t is not readable in container" ${shq(v.container)} >&2; exit 1; }`,
    `    if grep -q '"root_token"' "$t"; then ` +
      `boot=$(sed -n 's/.*"root_token"[[:space:]]*:[[:space:]]*"\\([^"]*\\)".*/\\1/p' "$t"); ` +
      `else boot=$(tr -d '[:space:]' < "$t"); fi`,
    '    [ -n "$boot" ] || { echo "no Vault token in $t" >&2; exit 1; }',
    "  fi",
    `  printf '%s\\n' "$want" | VAULT_TOKEN=$boot vault policy write "$pol" - >/dev/null`,
    `  new=$(VAULT_TOKEN=$boot vault token create -orphan -policy="$pol" -ttl=${SCOPED_TOKEN_TTL} ` +
      `-display-name="$pol" -field=token < /dev/null)`,
    `  mkdir -p ${shq(v.scopedTokenDir)}; chmod 0700 ${shq(v.scopedTokenDir)}`,
    `  ${privateWrite("new", '"$w"')}`,
    `  ${privateWrite("want", '"$w.policy"')}`,
    `  echo ${shq(`incus-tenant: vault: scoped token for ${where} created (policy ${policyName(v, p)})`)} >&2`,
    "fi",
    'boot=; VAULT_TOKEN=$(cat "$w"); export VAULT_TOKEN',
  ];
}

/** Lines (sh, inside the vault container) revoking the path's scoped token and removing its file; failures warn. */
export function revokeLines(v: VaultSpec, p: VaultPathSpec): string[] {
  const where = `${v.mount}/${p.path}`;
  return [
    `w=${shq(scopedTokenFile(v, p))}`,
    'if [ -s "$w" ]; then',
    `  if VAULT_TOKEN=$(cat "$w") vault token revoke -self >/dev/null 2>&1 < /dev/null; then rm -f "$w" "$w.policy"; ` +
      `echo ${shq(`incus-tenant: vault: scoped token for ${where} revoked`)} >&2;`,
    `  else echo "incus-tenant: warning: could not revoke the scoped token in $w (kept; it expires by itself)" >&2; fi`,
    "fi",
  ];
}

/**
 * Shell text run inside the vault container (sh): the head, the path's scoped token
 * ({@link scopedTokenLines}), then `cmd`.
 */
export function inVaultShell(v: VaultSpec, p: VaultPathSpec, cmd: string): string {
  return [...vaultShellHead(v), ...scopedTokenLines(v, p), cmd].join("\n");
}

/** The preflight command: health only (every put repeats it, since a command only runs when its inputs change). */
export function renderVaultPreflight(v: VaultSpec): ScriptPair {
  return { create: script(`vault preflight in container ${v.container}`, healthLines(v)) };
}

/**
 * Write one path with its scoped token: the keys on stdin ({@link vaultStdin}) are merged into
 * the path ({@link mergeLines}); the text names each key and its policy, never a value. Delete:
 * `vault kv metadata delete` (every version) only when keepOnDestroy is false; either way the
 * path's scoped token is revoked and its file removed.
 */
export function renderVaultPut(v: VaultSpec, p: VaultPathSpec): ScriptPair {
  const where = `${v.mount}/${p.path}`;
  const exec = (text: string, stdin: boolean): string =>
    `${IN_CONTAINER_SH}\nincus exec ${stdin ? "-T" : "-n"} ${shq(v.container)} -- sh -c ${shq(text)}`;
  const gone =
    `if ! incus info ${shq(v.container)} >/dev/null 2>&1; then ` +
    `log ${shq(`vault: container ${v.container} is gone, nothing to delete`)}; exit 0; fi`;
  const create = script(`vault path ${where} (values on stdin)`, [
    keysComment(p),
    ...healthLines(v),
    exec(inVaultShell(v, p, mergeLines(v, p).join("\n")), true),
  ]);
  const metadataDelete = `vault kv metadata delete -mount=${shq(v.mount)} ${shq(p.path)} >/dev/null`;
  const del = p.keepOnDestroy
    ? script(`vault path ${where} (delete)`, [
        `log ${shq(`vault: ${where} kept (keepOnDestroy is true)`)}`,
        gone,
        exec([...vaultShellHead(v), ...revokeLines(v, p)].join("\n"), false),
      ])
    : script(`vault path ${where} (delete)`, [
        gone,
        ...healthLines(v),
        exec([inVaultShell(v, p, metadataDelete), ...revokeLines(v, p)].join("\n"), false),
        `log ${shq(`vault: ${where} deleted with all its versions`)}`,
      ]);
  return { create, delete: del };
}

/** plan --json part: paths and key names with where each value comes from and its write policy; never a value. */
export function vaultPlan(v: VaultSpec): Record<string, unknown> {
  return {
    container: v.container,
    address: v.address,
    mount: v.mount,
    paths: v.paths.map((p) => ({
      path: p.path,
      keepOnDestroy: p.keepOnDestroy,
      keys: p.keys.map((k) => ({
        name: k.name,
        from: k.source.kind,
        policy: keyPolicy(k),
        ...(k.source.kind === "generate" && k.source.rotate !== undefined ? { rotate: k.source.rotate } : {}),
      })),
    })),
    ...(v.envFile !== undefined
      ? {
          envFile: {
            container: v.envFile.container,
            path: v.envFile.path,
            variables: v.envFile.variables.map(([n]) => n),
          },
        }
      : {}),
  };
}
