/**
 * Secret config keys a tenant needs besides its tenant section (service kinds' `fromConfig`
 * values, the migration key).
 */
import { TenantSpec } from "./types";
import { MIGRATION_SOURCE_KEY } from "./migration";
import { usedKinds } from "../services/registry";

/** One secret config key the stack needs: the stack path that names it, and why when not obvious. */
export interface RequiredSecret {
  readonly key: string;
  readonly field: string;
  /** What the secret is for, printed when it is missing. */
  readonly why?: string;
  /** The value is a file's content (a key): the command reads it from stdin. */
  readonly fromFile?: boolean;
}

/** The migration source host's own SSH key: the host's key is never sent to, or written for, another host. */
export const MIGRATION_SECRET: RequiredSecret = {
  key: MIGRATION_SOURCE_KEY,
  field: "migration.source",
  why: "the SSH key this host uses to reach the LXD source host; the host's own key is never sent there",
  fromFile: true,
};

/** Every secret config key the stack refers to (service kinds' `fromConfig` values, the migration key). */
export function requiredSecretKeys(spec: TenantSpec): RequiredSecret[] {
  const fromServices = usedKinds(spec).flatMap(({ kind, service }) => kind.secretKeys?.(service) ?? []);
  return [...fromServices, ...(spec.migration ? [MIGRATION_SECRET] : [])];
}

/** The one message for missing secrets: each field, why, and the command that sets it. */
export function missingSecretsMessage(missing: readonly RequiredSecret[], project = "incus-tenant"): string {
  const line = (m: RequiredSecret): string =>
    `  - ${m.field}: secret "${project}:${m.key}" is not set${m.why !== undefined ? ` (${m.why})` : ""}: ` +
    `pulumi config set --secret ${project}:${m.key}${m.fromFile === true ? " < KEYFILE" : ""}`;
  return `missing secret config (${missing.length}):\n${missing.map(line).join("\n")}`;
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
  if (missing.length > 0) throw new Error(missingSecretsMessage(missing, project));
}
