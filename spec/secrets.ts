/** Secret config keys a tenant needs besides its tenant section (Vault `fromConfig` values). */
import { TenantSpec } from "./types";

/** `{ key, field }` for every `fromConfig` value, field being the stack path that names it. */
export function requiredSecretKeys(spec: TenantSpec): { key: string; field: string }[] {
  const vault = spec.services.vault;
  if (!vault) return [];
  return vault.paths.flatMap((p) =>
    p.keys.flatMap((k) => (k.source.kind === "config" ? [{ key: k.source.key, field: `vault.paths.${p.path}.keys.${k.name}.fromConfig` }] : [])),
  );
}

/**
 * Checks before any resource exists that every secret the stack refers to is set, naming the
 * field and the command that sets it.
 */
export function checkSecretsPresent(spec: TenantSpec, isSet: (key: string) => boolean, project = "incus-tenant"): void {
  const missing = requiredSecretKeys(spec).filter((r) => !isSet(r.key));
  if (missing.length === 0) return;
  throw new Error(
    `missing secret config (${missing.length}):\n` +
      missing.map((m) => `  - ${m.field}: secret "${project}:${m.key}" is not set: pulumi config set --secret ${project}:${m.key}`).join("\n"),
  );
}
