/**
 * VaultPath: one KV path merged inside the vault container (never replaced: keys the stack does
 * not list survive, a generated key adopts the value the path holds). Generated values come from
 * @pulumi/random (RandomPassword with keepers {path, key}, plus {rotate} when the key has a
 * rotate token, so a new token means a new value); every value reaches `vault` on the command's
 * stdin (a secret), never in its text; the command logs nothing and its stdout/stderr are secret
 * outputs. Vault holds the health preflight, one VaultPath per path and the VAULT_* lines of the
 * system container's .env.
 */
import * as pulumi from "@pulumi/pulumi";
import * as random from "@pulumi/random";
import { remote } from "@pulumi/command";
import { VaultPathSpec, VaultSpec } from "../model/vault";
import { renderVaultEnvFile, renderVaultPreflight, renderVaultPut, vaultStdin } from "../render/vault";
import { after, commandArgs, HostLink } from "./host";
import { childName, TYPES } from "./names";

/** Returns a Pulumi secret config value by key (e.g. `(k) => cfg.requireSecret(k)`). */
export type SecretConfig = (key: string) => pulumi.Output<string>;

export interface VaultPathArgs {
  /** The derived vault section (container, address, mount, token file). */
  vault: VaultSpec;
  /** This path, from `vault.paths`. */
  path: VaultPathSpec;
  /** How to reach the host (from Host). */
  host: HostLink;
  /** Source of `fromConfig` values (secret). */
  secretConfig: SecretConfig;
}

/** Characters of generated values when `special` is true: URL-unreserved only, so DSNs and .env lines stay intact. */
export const GENERATED_SPECIALS = "-_.~";

/**
 * VaultPath (`incus-tenant:vault:VaultPath`): one RandomPassword `<name>-<key>` per generated
 * key, and `<name>-put` writing the path. Waits on `opts.dependsOn` (the Vault's preflight).
 */
export class VaultPath extends pulumi.ComponentResource {
  /** Path relative to the mount. */
  readonly path: string;
  /** Key names, sorted (never values). */
  readonly keyNames: readonly string[];
  /** The command merging the path's keys (`vault kv patch`, or `kv put -cas=0` for a new path). */
  readonly put: remote.Command;

  constructor(name: string, args: VaultPathArgs, opts?: pulumi.ComponentResourceOptions) {
    super(TYPES.vaultPath, name, {}, opts);
    const { path } = args;
    this.path = path.path;
    this.keyNames = path.keys.map((k) => k.name);
    const values: Record<string, pulumi.Input<string>> = {};
    for (const k of path.keys) {
      const s = k.source;
      if (s.kind === "generate") {
        const pw = new random.RandomPassword(
          childName.generated(name, k.name),
          {
            length: s.length,
            special: s.special,
            ...(s.special ? { overrideSpecial: GENERATED_SPECIALS } : {}),
            keepers: {
              path: path.path,
              key: k.name,
              ...(s.rotate !== undefined ? { rotate: s.rotate } : {}),
            },
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
    const stdin = pulumi.secret(pulumi.all(values).apply((o) => vaultStdin(o)));
    this.put = new remote.Command(
      childName.vaultPut(name),
      { ...commandArgs(args.host, renderVaultPut(args.vault, path)), stdin, logging: "none" },
      { parent: this, dependsOn: after(opts), additionalSecretOutputs: ["stdout", "stderr"] },
    );
    this.registerOutputs({ path: this.path, keys: this.keyNames });
  }
}

export interface VaultArgs {
  /** The derived vault section. */
  vault: VaultSpec;
  /** How to reach the host (from Host). */
  host: HostLink;
  /** Source of `fromConfig` values (secret). */
  secretConfig: SecretConfig;
  /**
   * The Tenant, when the Vault is its child: the preflight, env and VaultPaths used to hang
   * directly under it, and get an alias to that parent so existing stacks keep them.
   */
  formerParent?: pulumi.Resource;
}

/** Plain outputs: paths and key names only. */
export interface VaultOutputs {
  readonly paths: readonly { readonly path: string; readonly keys: readonly string[] }[];
}

/**
 * Vault (`incus-tenant:vault:Vault`): `<name>-preflight` (health and token), then one VaultPath
 * `<name>-<path key>` per path, and `<name>-env` (the VAULT_* lines of the system container's
 * .env, when configured). Waits on `opts.dependsOn` (the vault and system containers).
 */
export class Vault extends pulumi.ComponentResource {
  /** The health preflight every path waits on. */
  readonly preflight: remote.Command;
  /** One component per KV path. */
  readonly paths: VaultPath[];
  /** The .env command, when `vault.envFile` is set. */
  readonly envFile?: remote.Command;
  /** Plain outputs: paths and key names only. */
  readonly outputs: VaultOutputs;

  constructor(name: string, args: VaultArgs, opts?: pulumi.ComponentResourceOptions) {
    super(TYPES.vault, name, {}, opts);
    const { vault, host } = args;
    // Same names and types as before, under a new parent: the alias keeps existing stacks'
    // resources (the VaultPaths' children, RandomPasswords included, inherit it).
    const aliases = args.formerParent !== undefined ? [{ parent: args.formerParent }] : [];
    this.preflight = new remote.Command(
      childName.vaultPreflight(name),
      commandArgs(host, renderVaultPreflight(vault)),
      { parent: this, dependsOn: after(opts), aliases },
    );
    this.paths = vault.paths.map(
      (p) =>
        new VaultPath(
          childName.vaultPath(name, p.key),
          { vault, path: p, host, secretConfig: args.secretConfig },
          { parent: this, dependsOn: after(opts, this.preflight), aliases },
        ),
    );
    if (vault.envFile !== undefined)
      this.envFile = new remote.Command(
        childName.vaultEnv(name),
        commandArgs(host, renderVaultEnvFile(vault)),
        { parent: this, dependsOn: after(opts), aliases },
      );
    this.outputs = {
      paths: vault.paths.map((p) => ({ path: p.path, keys: p.keys.map((k) => k.name) })),
    };
    this.registerOutputs({ paths: this.outputs.paths });
  }
}

/** The wiring helper's arguments: how to reach the host (HostLink), and where the Vault goes. */
export interface CreateVaultArgs extends HostLink {
  /** The derived vault section. */
  vault: VaultSpec;
  /** Parent of the Vault (the Tenant; its former children get an alias to it). */
  parent: pulumi.Resource;
  /** The Vault's name, e.g. "acme-vault" (components/names.ts `componentName.vault`). */
  name: string;
  /** What must exist first (the vault and system containers' instances). */
  dependsOn: pulumi.Input<pulumi.Resource>[];
  /** Source of `fromConfig` values (secret). */
  secretConfig: SecretConfig;
}

/** The Vault component below `parent`, waiting on `dependsOn`. */
export function createVault(args: CreateVaultArgs): Vault {
  const { vault, parent, secretConfig } = args;
  return new Vault(
    args.name,
    { vault, host: { connection: args.connection, sudo: args.sudo }, secretConfig, formerParent: parent },
    { parent, dependsOn: args.dependsOn },
  );
}
