/** The Vault service kind: the `vault` stack section, a Vault component with one VaultPath per path. */
import type { ServiceKind } from "../kind";
import { checkVault, deriveVault, vaultSectionSchema, VaultSpec } from "../../model/vault";
import type * as components from "../../components/vaultPath";
import { childName, componentName, TYPES } from "../../components/names";
import { vaultPlan } from "../../render/vault";

/** Its Pulumi components, loaded on the first `create`: plan, --live and verify never load the SDK. */
// eslint-disable-next-line @typescript-eslint/no-require-imports -- lazy on purpose (issue 14)
const lazy = (): typeof components => require("../../components/vaultPath") as typeof components;

const shape = {
  /** Vault KV paths and where each value comes from (never literal secrets). */
  vault: vaultSectionSchema.optional(),
};

export const vaultKind: ServiceKind<"vault", VaultSpec, typeof shape> = {
  key: "vault",
  shape,
  check: (s, ctx) => (s.vault ? checkVault(s.vault, "vault", [...ctx.containers.keys()]) : []),
  derive: (s, ctx) => (s.vault ? deriveVault(s.vault, ctx.tenant) : undefined),
  create(vault, { connection, sudo, parent, name, instance, secretConfig }) {
    const dependsOn = [
      ...instance(vault.container),
      ...(vault.envFile ? instance(vault.envFile.container) : []),
    ];
    return {
      vault: lazy().createVault({
        vault,
        connection,
        sudo,
        parent,
        name: componentName.vault(name),
        dependsOn,
        secretConfig,
      }).outputs,
    };
  },
  plan: (vault) => ({ vault: vaultPlan(vault) }),
  secretKeys: (vault) =>
    vault.paths.flatMap((p) =>
      p.keys.flatMap((k) =>
        k.source.kind === "config"
          ? [{ key: k.source.key, field: `vault.paths.${p.path}.keys.${k.name}.fromConfig` }]
          : [],
      ),
    ),
  resources(vault, t, add) {
    const v = add(TYPES.vault, componentName.vault(t), t);
    add(TYPES.command, childName.vaultPreflight(v), v);
    if (vault.envFile) add(TYPES.command, childName.vaultEnv(v), v);
    for (const p of vault.paths) {
      const path = add(TYPES.vaultPath, childName.vaultPath(v, p.key), v);
      add(TYPES.command, childName.vaultPut(path), path);
      for (const k of p.keys)
        if (k.source.kind === "generate") add(TYPES.randomPassword, childName.generated(path, k.name), path);
    }
  },
};
