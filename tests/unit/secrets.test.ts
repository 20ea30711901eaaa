/** model/secrets.ts: every secret a stack refers to is checked before any resource, naming its field. */
import { parseTenant } from "../../model";
import {
  checkSecretsPresent,
  MIGRATION_SECRET,
  missingSecretsMessage,
  requiredSecretKeys,
} from "../../model/secrets";
import { baseTenant, SOURCE_HOST_KEY } from "./fixtures";

function migratingTenant(): Record<string, any> {
  const t = baseTenant();
  t.migration = { source: { address: "192.0.2.5", hostKey: SOURCE_HOST_KEY }, containers: ["tables"] };
  return t;
}

describe("required secrets", () => {
  it("a tenant without vault or migration needs none", () => {
    expect(requiredSecretKeys(parseTenant(baseTenant()))).toEqual([]);
  });

  it("a migration needs its own source key (never the host's)", () => {
    expect(requiredSecretKeys(parseTenant(migratingTenant()))).toEqual([
      {
        key: "migrationSourceKey",
        field: "migration.source",
        why: "the SSH key this host uses to reach the LXD source host; the host's own key is never sent there",
        fromFile: true,
      },
    ]);
  });

  it("a missing source key stops the program with the field and the command", () => {
    const spec = parseTenant(migratingTenant());
    const message =
      'missing secret config (1):\n  - migration.source: secret "incus-tenant:migrationSourceKey" is not set ' +
      "(the SSH key this host uses to reach the LXD source host; the host's own key is never sent there): " +
      "pulumi config set --secret incus-tenant:migrationSourceKey < KEYFILE";
    expect(() => checkSecretsPresent(spec, () => false)).toThrow(message);
    // The Tenant's own refusal (when built without index.ts) is the same message.
    expect(missingSecretsMessage([MIGRATION_SECRET])).toBe(message);
    expect(() => checkSecretsPresent(spec, (key) => key === "migrationSourceKey")).not.toThrow();
  });
});
