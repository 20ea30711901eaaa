/**
 * Secret config keys a tenant needs besides its tenant section (service kinds' `fromConfig`
 * values, the migration key).
 */
import { TenantSpec } from "./types";
import { MIGRATION_SOURCE_KEY } from "./migration";
import { usedKinds } from "../services/registry";

/** `{ key, field }` for every `fromConfig` value, field being the stack path that names it. */
export function requiredSecretKeys(spec: TenantSpec): { key: string; field: string }[] {
  const fromServices = usedKinds(spec).flatMap(({ kind, service }) => kind.secretKeys?.(service) ?? []);
  // The migration source has its own key: the host's key is never sent to, or written for, another host.
  const fromMigration = spec.migration ? [{ key: MIGRATION_SOURCE_KEY, field: "migration.source" }] : [];
  return [...fromServices, ...fromMigration];
}

/**
 * Checks before any resource exists that every secret the stack refers to is set, naming the
 * field and the command that sets it.
 */
export function checkSecretsPresent(
  spec: TenantSpec,
  isSet: (key: string) => boolean,
  project = "incus-tenant",
): void {
  const missing = requiredSecretKeys(spec).filter((r) => !isSet(r.key));
  if (missing.length === 0) return;
  throw new Error(
    `missing secret config (${missing.length}):\n` +
      missing
        .map(
          (m) =>
            `  - ${m.field}: secret "${project}:${m.key}" is not set: pulumi config set --secret ${project}:${m.key}`,
        )
        .join("\n"),
  );
}
