/** Reads a Pulumi.<stack>.yaml without the engine (plan CLI, tests, e2e harness). */
import * as fs from "fs";
import * as path from "path";
import { parseDocument } from "yaml";

/** The project's config namespace. */
export const PROJECT = "incus-tenant";
/** The one structured config key holding the tenant. */
export const TENANT_KEY = `${PROJECT}:tenant`;

/** Default stack file of a stack name, next to Pulumi.yaml. */
export function stackFilePath(stack: string, dir: string = path.resolve(__dirname, "..")): string {
  return path.join(dir, `Pulumi.${stack}.yaml`);
}

/** Parses stack YAML text and returns the raw `incus-tenant:tenant` object (unvalidated). */
export function tenantFromStackYaml(text: string, source: string): unknown {
  const doc = parseDocument(text, { uniqueKeys: true });
  if (doc.errors.length > 0)
    throw new Error(`${source}: invalid YAML: ${doc.errors.map((e) => e.message).join("; ")}`);
  const root = doc.toJS() as { config?: Record<string, unknown> } | null;
  const tenant = root?.config?.[TENANT_KEY];
  if (tenant === undefined) throw new Error(`${source}: config key "${TENANT_KEY}" is missing`);
  return tenant;
}

/** Reads a stack file and returns the raw tenant object (unvalidated). */
export function readStackTenant(file: string): unknown {
  let text: string;
  try {
    text = fs.readFileSync(file, "utf8");
  } catch (e) {
    throw new Error(`cannot read stack file ${file}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`);
  }
  return tenantFromStackYaml(text, file);
}
