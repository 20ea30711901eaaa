/** model/secrets.ts: every secret a stack refers to is checked before any resource, naming its field. */
import { parseTenant } from "../../model";
import { checkSecretsPresent, requiredSecretKeys } from "../../model/secrets";
import { baseTenant } from "./fixtures";

const SOURCE_HOST_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIH9SAhCChO7say0J6jqQmnjplHi220VVqX0s3GxYGCCm";

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
      { key: "migrationSourceKey", field: "migration.source" },
    ]);
  });

  it("a missing source key stops the program with the field and the command", () => {
    const spec = parseTenant(migratingTenant());
    expect(() => checkSecretsPresent(spec, () => false)).toThrow(
      'missing secret config (1):\n  - migration.source: secret "incus-tenant:migrationSourceKey" is not set: ' +
        "pulumi config set --secret incus-tenant:migrationSourceKey",
    );
    expect(() => checkSecretsPresent(spec, (key) => key === "migrationSourceKey")).not.toThrow();
  });
});
