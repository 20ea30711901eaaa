/**
 * The `vault` stack section: KV v2 paths written inside the vault container, their keys
 * (generated with @pulumi/random, literal non-secret values, or Pulumi secret config keys), and
 * the VAULT_* variables of the system container's .env. Shapes (zod), cross-field problems with
 * field paths, and the derived, immutable VaultSpec.
 */
import { z } from "zod";
import type { Problem } from "./types";
import { absPath, containerName, url } from "./primitives";

/** Why a rotate token is refused (a short word: it names the rotation in preview and in keepers). */
export const ROTATE_TOKEN_MESSAGE =
  'must be a short word: 1 to 32 letters, digits, ".", "_" or "-", starting with a letter or digit ' +
  "(e.g. 2025-06)";
/** Why `rotate` is refused on a key that is not generated. */
export const ROTATE_NEEDS_GENERATE =
  "rotate applies only to a generate key (value and fromConfig keys are written whenever they differ)";
const ROTATE_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,31}$/;

/**
 * One key of a path: exactly one of generate, value, fromConfig (checked by checkVault). The
 * program never replaces a path: it reads it and writes only the keys that must change (keys the
 * stack does not list survive). A `generate` key ADOPTS the value the path already holds (the
 * RandomPassword is written only when the key is absent) unless `rotate` asks for a new one;
 * `value` and `fromConfig` keys are written when they differ from what the path holds.
 */
export const vaultKeySchema = z
  .object({
    /**
     * Generate the value with @pulumi/random (RandomPassword, kept stable by keepers). Written
     * only when the path has no value for the key: an existing value is adopted, never replaced
     * (see `rotate`).
     */
    generate: z
      .object({
        /** Length, 16 to 128 characters. */
        length: z
          .number({ invalid_type_error: "must be a number" })
          .int("must be a whole number")
          .min(16, "must be from 16 to 128")
          .max(128, "must be from 16 to 128"),
        /** Include special characters (default false: letters and digits are safe in URLs, .env files and DSNs). */
        special: z.boolean().default(false),
      })
      .strict()
      .optional(),
    /**
     * A NON-secret literal (host names, ports, URLs): it sits in plain text in the stack file;
     * `{tenant}` is substituted.
     */
    value: z
      .string()
      .regex(/^[^\n\r\0]*$/, "must be a single line")
      .optional(),
    /** Name of a Pulumi secret config key (`pulumi config set --secret <name>`). */
    fromConfig: z
      .string()
      .regex(/^([a-z0-9-]+:)?[A-Za-z][A-Za-z0-9_-]*$/, "must be a Pulumi config key like llmOpenaiKey")
      .optional(),
    /**
     * Explicit rotation of a `generate` key: a short word (e.g. `2025-06`). Setting it, or
     * changing it, replaces the RandomPassword (the token is one of its keepers) and writes the
     * new value even where the path already holds one; while the token stays the same nothing is
     * rewritten. Without it the existing value is adopted. Refused on value/fromConfig keys.
     */
    rotate: z.string().regex(ROTATE_RE, ROTATE_TOKEN_MESSAGE).optional(),
  })
  .strict();

/** One KV path (relative to the mount, e.g. gbo/tables; `{tenant}` is replaced by the tenant name). */
export const vaultPathSchema = z
  .object({
    /**
     * The keys the stack manages at this path. Other keys of the path are kept: the path is
     * read and merged (`kv patch` with check-and-set on the version read), never replaced.
     */
    keys: z.record(vaultKeySchema),
    /** Keep the secret in Vault when the path leaves the stack or the stack is destroyed. */
    keepOnDestroy: z.boolean().default(true),
  })
  .strict();

/** The `vault` section of the tenant config. */
export const vaultSectionSchema = z
  .object({
    /** Container Vault runs in; every vault command runs inside it with `incus exec`. */
    container: containerName.default("vault"),
    /** Vault address as seen from inside that container. */
    address: url.default("http://127.0.0.1:8200"),
    /** CA certificate inside the vault container (VAULT_CACERT, curl --cacert); required with an https:// address. */
    caCert: absPath.optional(),
    /**
     * File inside the vault container holding the bootstrap (root) token: a plain token file, or
     * the runbooks' init.json (its "root_token" is used); the container's own VAULT_TOKEN, when
     * set, takes its place. It is read only to create a path's scoped token (policy + token);
     * the writes themselves use the scoped tokens. No token ever appears in a command.
     */
    tokenFile: absPath.default("/opt/gbo/bin/botserver-stack/conf/vault/vault-conf/init.json"),
    /**
     * Folder inside the vault container for the scoped tokens (one 0600 file per path, policy
     * `incus-tenant-<tenant>-<path key>`); default: `incus-tenant-<tenant>` next to tokenFile.
     */
    scopedTokenDir: absPath.optional(),
    /** KV v2 mount. */
    mount: z
      .string()
      .regex(/^[A-Za-z0-9_-]+$/, "must be a mount name like secret")
      .default("secret"),
    /** Paths by name. */
    paths: z.record(vaultPathSchema).default({}),
    /** The system container's .env: only VAULT_* variables, never the token itself. */
    envFile: z
      .object({
        /** Container holding the file. */
        container: containerName.default("system"),
        /** The file. */
        path: absPath.default("/opt/gbo/bin/.env"),
        /** Non-secret VAULT_* variables (VAULT_ADDR required; e.g. VAULT_CACERT, VAULT_TOKEN_FILE). */
        variables: z.record(z.string()),
      })
      .strict()
      .optional(),
  })
  .strict();

export type RawVaultSection = z.input<typeof vaultSectionSchema>;
export type VaultSection = z.output<typeof vaultSectionSchema>;

/** Where a key's value comes from. */
export type VaultKeySource =
  | {
      readonly kind: "generate";
      readonly length: number;
      readonly special: boolean;
      /** The rotation token, when the stack asks for a new value (see vaultKeySchema.rotate). */
      readonly rotate?: string;
    }
  | { readonly kind: "value"; readonly value: string }
  | { readonly kind: "config"; readonly key: string };

export interface VaultKeySpec {
  readonly name: string;
  readonly source: VaultKeySource;
}

export interface VaultPathSpec {
  /** Path relative to the mount, tenant substituted: gbo/tenants/acme/infrastructure. */
  readonly path: string;
  /** Stable resource key: the path with "/" turned into "-". */
  readonly key: string;
  /** Keys sorted by name. */
  readonly keys: readonly VaultKeySpec[];
  readonly keepOnDestroy: boolean;
}

export interface VaultEnvFileSpec {
  readonly container: string;
  readonly path: string;
  /** [name, value] sorted by name; every name is VAULT_*. */
  readonly variables: readonly (readonly [string, string])[];
}

/** The derived Vault part of the tenant. */
export interface VaultSpec {
  readonly container: string;
  readonly address: string;
  readonly caCert?: string;
  readonly tokenFile: string;
  /** Folder of the scoped token files (`<key>.token`, 0600) inside the vault container. */
  readonly scopedTokenDir: string;
  /** Prefix of the per-path policy names: `incus-tenant-<tenant>`. */
  readonly policyPrefix: string;
  readonly mount: string;
  /** Paths sorted by path. */
  readonly paths: readonly VaultPathSpec[];
  readonly envFile?: VaultEnvFileSpec;
}

/** Why an https:// Vault without caCert is refused (its certificate would not be checked). */
export const VAULT_CA_REQUIRED =
  "is required when address is https:// (Vault's certificate is checked against it, never skipped)";

/** Placeholder replaced by the tenant name in path names. */
export const TENANT_PLACEHOLDER = "{tenant}";
const KEY_NAME_RE = /^[A-Za-z_][A-Za-z0-9_]*$/;
const ENV_NAME_RE = /^VAULT_[A-Z0-9_]+$/;
/** Key names that must never get a literal value. */
const SECRET_NAME_RE = /(pass|pwd|secret|token|private|credential|salt|^key$|_key$|apikey|access_?key)/i;
/** A password inside a URL ("scheme://user:password@host"). */
const URL_PASSWORD_RE = /[A-Za-z][A-Za-z0-9+.-]*:\/\/[^\s\/@:]*:[^\s\/@]+@/;
/** A PEM private key block. */
const PEM_KEY_RE = /-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----/;

/** Why a literal value must not be used for key `name` (by its name, then its content), or undefined. */
export function literalSecretProblem(name: string, value: string): string | undefined {
  const fix = "use generate or fromConfig (a literal value sits in plain text in the stack file)";
  if (SECRET_NAME_RE.test(name)) return `looks like a secret: ${fix}`;
  if (URL_PASSWORD_RE.test(value)) return `holds a password in a URL (user:password@): ${fix}`;
  if (PEM_KEY_RE.test(value)) return `holds a private key: ${fix}`;
  return undefined;
}

export const pathKey = (path: string): string => path.replace(/[{}]/g, "").replace(/\//g, "-");

/** Problems of one path name; every applicable one. */
export function vaultPathProblems(path: string): string[] {
  const out: string[] = [];
  const plain = path.split(TENANT_PLACEHOLDER).join("t");
  if (path === "") return ["must not be empty"];
  if (path.startsWith("/")) out.push('must not start with "/" (paths are relative to the mount)');
  if (path.endsWith("/")) out.push('must not end with "/"');
  if (path.includes("//")) out.push('must not contain empty segments ("//")');
  if (path.includes("..")) out.push('must not contain ".."');
  else if (path.split("/").includes(".")) out.push('must not contain "." segments');
  if (!/^[A-Za-z0-9_.\/-]+$/.test(plain))
    out.push(
      `may only contain letters, digits, "_", ".", "-", "/" and the placeholder ${TENANT_PLACEHOLDER}`,
    );
  return out;
}

/** Cross-field problems of the vault section; `containers` (when given) are the tenant's container names. */
export function checkVault(
  vault: VaultSection,
  pathPrefix = "vault",
  containers?: readonly string[],
): Problem[] {
  const problems: Problem[] = [];
  const add = (path: string, message: string): void => void problems.push({ path, message });
  if (containers !== undefined && !containers.includes(vault.container))
    add(`${pathPrefix}.container`, `unknown container "${vault.container}"`);
  if (vault.address.startsWith("https://") && vault.caCert === undefined) {
    add(`${pathPrefix}.caCert`, VAULT_CA_REQUIRED);
  }
  const keys = new Map<string, string>();
  for (const [path, p] of Object.entries(vault.paths)) {
    const at = `${pathPrefix}.paths.${path}`;
    for (const m of vaultPathProblems(path)) add(at, m);
    const first = keys.get(pathKey(path));
    if (first !== undefined) add(at, `gives the same resource name as "${first}"`);
    else keys.set(pathKey(path), path);
    if (Object.keys(p.keys).length === 0) add(`${at}.keys`, "must declare at least one key");
    for (const [name, k] of Object.entries(p.keys)) {
      const kat = `${at}.keys.${name}`;
      if (!KEY_NAME_RE.test(name))
        add(kat, "key name must be letters, digits or _, not starting with a digit");
      const set = [k.generate, k.value, k.fromConfig].filter((x) => x !== undefined).length;
      if (set !== 1) add(kat, "must set exactly one of generate, value, fromConfig");
      else if (k.value !== undefined) {
        const why = literalSecretProblem(name, k.value);
        if (why !== undefined) add(`${kat}.value`, why);
      }
      if (k.rotate !== undefined && k.generate === undefined) add(`${kat}.rotate`, ROTATE_NEEDS_GENERATE);
    }
  }
  const env = vault.envFile;
  if (env !== undefined) {
    const at = `${pathPrefix}.envFile`;
    if (containers !== undefined && !containers.includes(env.container))
      add(`${at}.container`, `unknown container "${env.container}"`);
    if (env.variables.VAULT_ADDR === undefined) add(`${at}.variables`, "must set VAULT_ADDR");
    for (const [name, value] of Object.entries(env.variables)) {
      const vat = `${at}.variables.${name}`;
      if (name === "VAULT_TOKEN")
        add(
          vat,
          "the token is a secret and never goes through the stack: " +
            "keep it in a file and reference that (e.g. VAULT_TOKEN_FILE)",
        );
      else if (!ENV_NAME_RE.test(name)) add(vat, "only VAULT_* variables are allowed in the .env file");
      if (value === "" || /[\n\r\0]/.test(value)) add(vat, "must be a non-empty single line");
    }
  }
  return problems;
}

const sourceOf = (k: VaultSection["paths"][string]["keys"][string], tenant: string): VaultKeySource => {
  if (k.generate !== undefined)
    return {
      kind: "generate",
      length: k.generate.length,
      special: k.generate.special,
      ...(k.rotate !== undefined ? { rotate: k.rotate } : {}),
    };
  if (k.value !== undefined) return { kind: "value", value: k.value.split(TENANT_PLACEHOLDER).join(tenant) };
  return { kind: "config", key: k.fromConfig as string };
};

/** Derivation (call only when checkVault found no problem); throws on a tenant-induced path clash. */
export function deriveVault(vault: VaultSection, tenant: string): VaultSpec {
  const paths = Object.entries(vault.paths)
    .map(([raw, p]): VaultPathSpec => {
      const path = raw.split(TENANT_PLACEHOLDER).join(tenant);
      const keys = Object.keys(p.keys)
        .sort()
        .map((name) => ({ name, source: sourceOf(p.keys[name], tenant) }));
      return { path, key: pathKey(path), keys, keepOnDestroy: p.keepOnDestroy };
    })
    .sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  const seen = new Set<string>();
  for (const p of paths) {
    if (seen.has(p.key)) throw new Error(`vault: two paths give the resource name ${p.key}`);
    seen.add(p.key);
  }
  const env = vault.envFile;
  return {
    container: vault.container,
    address: vault.address,
    ...(vault.caCert !== undefined ? { caCert: vault.caCert } : {}),
    tokenFile: vault.tokenFile,
    scopedTokenDir:
      vault.scopedTokenDir ?? `${vault.tokenFile.replace(/\/[^/]*$/, "")}/incus-tenant-${tenant}`,
    policyPrefix: `incus-tenant-${tenant}`,
    mount: vault.mount,
    paths,
    ...(env !== undefined
      ? {
          envFile: {
            container: env.container,
            path: env.path,
            variables: Object.keys(env.variables)
              .sort()
              .map((n) => [n, env.variables[n]] as const),
          },
        }
      : {}),
  };
}
