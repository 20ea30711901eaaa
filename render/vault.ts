/**
 * Scripts for Vault, run on the host: the health preflight, one `vault kv put` per path (the
 * values arrive as a JSON object on the command's stdin and go straight through `incus exec` to
 * `vault kv put ... -`, so no value is ever in a command text), and the VAULT_* lines of the
 * system container's .env. `vault kv put PATH -` reads one JSON object from stdin (Vault's
 * parseArgsData → kv-builder: a lone "-" argument decodes stdin as JSON and merges it).
 */
import { VaultEnvFileSpec, VaultPathSpec, VaultSpec } from "../spec/vault";
import { ScriptPair } from "./host";
import { script, shq } from "./shell";

/** The exact message a sealed Vault stops the apply with. */
export const SEALED_MESSAGE = "Vault is sealed: unseal it with 3 of 5 keys";
export const NOT_INITIALIZED_MESSAGE = "Vault is not initialized";
export const unreachableMessage = (address: string): string => `Vault is unreachable at ${address}`;

/** Where the runbooks put the vault binary inside its container (first in PATH). */
export const VAULT_BIN_DIR = "/opt/gbo/bin";

/** Host lines: ask the health endpoint inside the vault container and stop unless it answers 200. */
export function healthLines(v: VaultSpec): string[] {
  const url = `${v.address}/v1/sys/health?standbyok=true`;
  const tls = v.caCert !== undefined ? `--cacert ${shq(v.caCert)}` : "-k";
  return [
    `code=$(incus exec -n ${shq(v.container)} -- curl -s ${tls} --max-time 10 -o /dev/null -w '%{http_code}' ${shq(url)} || true)`,
    `case "$code" in`,
    `  200) log ${shq(`vault at ${v.address}: initialized and unsealed`)} ;;`,
    `  503) echo ${shq(SEALED_MESSAGE)} >&2; exit 1 ;;`,
    `  501) echo ${shq(NOT_INITIALIZED_MESSAGE)} >&2; exit 1 ;;`,
    `  *) log "vault health check answered \${code:-nothing}"; echo ${shq(unreachableMessage(v.address))} >&2; exit 1 ;;`,
    "esac",
  ];
}

/**
 * Shell text run inside the vault container (sh): VAULT_ADDR/CACERT, the token from the
 * container's own environment or from tokenFile (plain token, or init.json's root_token), then `cmd`.
 */
export function inVaultShell(v: VaultSpec, cmd: string): string {
  return [
    "set -eu",
    `export VAULT_ADDR=${shq(v.address)}${v.caCert !== undefined ? ` VAULT_CACERT=${shq(v.caCert)}` : ""}`,
    `export PATH=${VAULT_BIN_DIR}:$PATH`,
    'if [ -z "${VAULT_TOKEN:-}" ]; then',
    `  t=${shq(v.tokenFile)}`,
    `  [ -r "$t" ] || { echo "no Vault token: $t is not readable in container ${v.container}" >&2; exit 1; }`,
    `  if grep -q '"root_token"' "$t"; then VAULT_TOKEN=$(sed -n 's/.*"root_token"[[:space:]]*:[[:space:]]*"\\([^"]*\\)".*/\\1/p' "$t"); else VAULT_TOKEN=$(tr -d '[:space:]' < "$t"); fi`,
    '  [ -n "$VAULT_TOKEN" ] || { echo "no Vault token in $t" >&2; exit 1; }',
    "  export VAULT_TOKEN",
    "fi",
    cmd,
  ].join("\n");
}

/** The preflight command: health only (every put repeats it, since a command only runs when its inputs change). */
export function renderVaultPreflight(v: VaultSpec): ScriptPair {
  return { create: script(`vault preflight in container ${v.container}`, healthLines(v)) };
}

/**
 * Write one path: JSON object of all its keys on stdin → `vault kv put -mount=M PATH -`.
 * Delete: `vault kv metadata delete` (every version) only when keepOnDestroy is false.
 */
export function renderVaultPut(v: VaultSpec, p: VaultPathSpec): ScriptPair {
  const where = `${v.mount}/${p.path}`;
  const names = p.keys.map((k) => k.name).join(" ");
  const exec = (cmd: string, stdin: boolean): string => `incus exec ${stdin ? "-T" : "-n"} ${shq(v.container)} -- sh -c ${shq(inVaultShell(v, cmd))}`;
  const create = script(`vault path ${where} (values on stdin)`, [
    ...healthLines(v),
    exec(`vault kv put -mount=${shq(v.mount)} ${shq(p.path)} - >/dev/null`, true),
    `log ${shq(`vault: ${where} written (keys: ${names})`)}`,
  ]);
  const del = p.keepOnDestroy
    ? script(`vault path ${where} (delete)`, [`log ${shq(`vault: ${where} kept (keepOnDestroy is true)`)}`])
    : script(`vault path ${where} (delete)`, [
        `if ! incus info ${shq(v.container)} >/dev/null 2>&1; then log ${shq(`vault: container ${v.container} is gone, nothing to delete`)}; exit 0; fi`,
        ...healthLines(v),
        exec(`vault kv metadata delete -mount=${shq(v.mount)} ${shq(p.path)} >/dev/null`, false),
        `log ${shq(`vault: ${where} deleted with all its versions`)}`,
      ]);
  return { create, delete: del };
}

/** Throws unless every variable is a non-secret VAULT_* one (the runbooks' .env rule). */
export function assertVaultOnly(env: VaultEnvFileSpec): void {
  for (const [name, value] of env.variables) {
    if (!/^VAULT_[A-Z0-9_]+$/.test(name) || name === "VAULT_TOKEN") throw new Error(`refusing to write ${name} to ${env.path}: only non-secret VAULT_* variables go there`);
    if (value === "" || /[\n\r\0]/.test(value)) throw new Error(`refusing to write ${name} to ${env.path}: the value must be a non-empty single line`);
  }
}

/**
 * The VAULT_* lines of the .env in the system container: our variables replace their old lines,
 * every other line (the operator's VAULT_TOKEN included) stays; a dated backup before a change;
 * mode 0600. Other, non-VAULT variables are reported by name only, never by value.
 */
export function renderVaultEnvFile(v: VaultSpec): ScriptPair {
  const env = v.envFile;
  if (env === undefined) throw new Error("renderVaultEnvFile: the vault section has no envFile");
  assertVaultOnly(env);
  const want = env.variables.map(([n, val]) => `${n}=${val}`).join("\n");
  const ours = `^(${env.variables.map(([n]) => n).join("|")})=`;
  const dir = env.path.replace(/\/[^/]+$/, "") || "/";
  const inner = [
    "set -eu",
    `f=${shq(env.path)}; want=${shq(want)}`,
    `if [ -f "$f" ]; then others=$(grep -Ev ${shq(ours)} "$f" || true); else others=; fi`,
    `if [ -n "$others" ]; then new=$(printf '%s\\n%s' "$others" "$want"); else new=$want; fi`,
    `foreign=$(printf '%s\\n' "$others" | sed -n 's/^\\([A-Za-z_][A-Za-z0-9_]*\\)=.*/\\1/p' | grep -v '^VAULT_' | tr '\\n' ' ' || true)`,
    `[ -z "$foreign" ] || echo "incus-tenant: warning: $f also holds non-VAULT variables (only VAULT_* belong there): $foreign" >&2`,
    `if [ -f "$f" ] && [ "$(cat "$f")" = "$new" ]; then echo "incus-tenant: $f: unchanged" >&2; exit 0; fi`,
    `mkdir -p ${shq(dir)}`,
    `if [ -f "$f" ]; then b="$f.bak-$(date -u +%Y%m%d%H%M%S)"; cp -p "$f" "$b"; echo "incus-tenant: $f: backup $b" >&2; fi`,
    `tmp=$(mktemp "$f.XXXXXX"); [ ! -f "$f" ] || chown --reference="$f" "$tmp"; chmod 0600 "$tmp"`,
    `printf '%s\\n' "$new" > "$tmp"; mv -f "$tmp" "$f"`,
    `echo "incus-tenant: $f: VAULT_* variables written (${env.variables.map(([n]) => n).join(" ")})" >&2`,
  ].join("\n");
  return {
    create: script(`VAULT_* variables of ${env.path} in container ${env.container}`, [`incus exec -n ${shq(env.container)} -- sh -c ${shq(inner)}`]),
  };
}

/** plan --json part: paths and key names with where each value comes from; never a value. */
export function vaultPlan(v: VaultSpec): Record<string, unknown> {
  return {
    container: v.container,
    address: v.address,
    mount: v.mount,
    paths: v.paths.map((p) => ({ path: p.path, keepOnDestroy: p.keepOnDestroy, keys: p.keys.map((k) => ({ name: k.name, from: k.source.kind })) })),
    ...(v.envFile !== undefined ? { envFile: { container: v.envFile.container, path: v.envFile.path, variables: v.envFile.variables.map(([n]) => n) } } : {}),
  };
}
