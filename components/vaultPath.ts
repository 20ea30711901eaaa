/**
 * VaultPath: one KV path written inside the vault container. Generated values come from
 * @pulumi/random (RandomPassword with keepers {path, key}, so they stay stable); every value
 * reaches `vault kv put` on the command's stdin (a secret), never in its text; the command logs
 * nothing and its stdout/stderr are secret outputs. createVault adds the health preflight and
 * the VAULT_* lines of the system container's .env.
 */
import * as pulumi from "@pulumi/pulumi";
import * as random from "@pulumi/random";
import { remote, types } from "@pulumi/command";
import { VaultPathSpec, VaultSpec } from "../spec/vault";
import { renderVaultEnvFile, renderVaultPreflight, renderVaultPut } from "../render/vault";
import { commandArgs } from "./host";

/** Returns a Pulumi secret config value by key (e.g. `(k) => cfg.requireSecret(k)`). */
export type SecretConfig = (key: string) => pulumi.Output<string>;

export interface VaultPathArgs {
  /** The derived vault section (container, address, mount, token file). */
  vault: VaultSpec;
  /** This path, from `vault.paths`. */
  path: VaultPathSpec;
  /** SSH connection to the host. */
  connection: types.input.remote.ConnectionArgs;
  /** Run through sudo. */
  sudo: boolean;
  /** Source of `fromConfig` values (secret). */
  secretConfig: SecretConfig;
}

/** Characters of generated values when `special` is true: URL-unreserved only, so DSNs and .env lines stay intact. */
export const GENERATED_SPECIALS = "-_.~";

export class VaultPath extends pulumi.ComponentResource {
  /** Path relative to the mount. */
  readonly path: string;
  /** Key names, sorted (never values). */
  readonly keyNames: readonly string[];
  /** The `vault kv put` command. */
  readonly put: remote.Command;

  constructor(name: string, args: VaultPathArgs, opts?: pulumi.ComponentResourceOptions) {
    super("incus-tenant:vault:VaultPath", name, {}, opts);
    const { path } = args;
    this.path = path.path;
    this.keyNames = path.keys.map((k) => k.name);
    const values: Record<string, pulumi.Input<string>> = {};
    for (const k of path.keys) {
      const s = k.source;
      if (s.kind === "generate") {
        const pw = new random.RandomPassword(
          `${name}-${k.name}`,
          {
            length: s.length,
            special: s.special,
            ...(s.special ? { overrideSpecial: GENERATED_SPECIALS } : {}),
            keepers: { path: path.path, key: k.name },
          },
          { parent: this },
        );
        values[k.name] = pulumi.secret(pw.result);
      } else if (s.kind === "value") {
        values[k.name] = s.value;
      } else {
        values[k.name] = args.secretConfig(s.key);
      }
    }
    const stdin = pulumi.secret(
      pulumi.all(values).apply((o) =>
        JSON.stringify(
          Object.fromEntries(
            Object.keys(o)
              .sort()
              .map((n) => [n, o[n]]),
          ),
        ),
      ),
    );
    this.put = new remote.Command(
      `${name}-put`,
      {
        ...commandArgs(args.connection, renderVaultPut(args.vault, path), args.sudo),
        stdin,
        logging: "none",
      },
      { parent: this, additionalSecretOutputs: ["stdout", "stderr"] },
    );
    this.registerOutputs({ path: this.path, keys: this.keyNames });
  }
}

export interface CreateVaultArgs {
  /** The derived vault section. */
  vault: VaultSpec;
  /** SSH connection to the host. */
  connection: types.input.remote.ConnectionArgs;
  /** Run through sudo. */
  sudo: boolean;
  /** Parent of every resource created here (the Tenant). */
  parent: pulumi.Resource;
  /** Name prefix, e.g. "acme-vault": children `${name}-preflight`, `${name}-<path key>`, `${name}-env`. */
  name: string;
  /** What must exist first (the vault and system containers' instances). */
  dependsOn: pulumi.Input<pulumi.Resource>[];
  /** Source of `fromConfig` values (secret). */
  secretConfig: SecretConfig;
}

/** Plain outputs: paths and key names only. */
export interface VaultOutputs {
  readonly paths: readonly { readonly path: string; readonly keys: readonly string[] }[];
}

export function createVault(args: CreateVaultArgs): {
  preflight: remote.Command;
  paths: VaultPath[];
  envFile?: remote.Command;
  outputs: VaultOutputs;
} {
  const { vault, connection, sudo, name } = args;
  const preflight = new remote.Command(
    `${name}-preflight`,
    commandArgs(connection, renderVaultPreflight(vault), sudo),
    { parent: args.parent, dependsOn: args.dependsOn },
  );
  const paths = vault.paths.map(
    (p) =>
      new VaultPath(
        `${name}-${p.key}`,
        { vault, path: p, connection, sudo, secretConfig: args.secretConfig },
        { parent: args.parent, dependsOn: [preflight] },
      ),
  );
  const envFile =
    vault.envFile !== undefined
      ? new remote.Command(`${name}-env`, commandArgs(connection, renderVaultEnvFile(vault), sudo), {
          parent: args.parent,
          dependsOn: args.dependsOn,
        })
      : undefined;
  const outputs: VaultOutputs = {
    paths: vault.paths.map((p) => ({ path: p.path, keys: p.keys.map((k) => k.name) })),
  };
  return { preflight, paths, ...(envFile !== undefined ? { envFile } : {}), outputs };
}
