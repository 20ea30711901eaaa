/** The plan --json keys of the services: each service kind's own (services/registry.ts). */
import { TenantSpec } from "../model/types";
import { usedKinds } from "../services/registry";

/** Extra keys merged into the plan document; never any secret value. */
export function servicesPlan(spec: TenantSpec): Record<string, unknown> {
  return Object.assign({}, ...usedKinds(spec).map(({ kind, service }) => kind.plan(service))) as Record<
    string,
    unknown
  >;
}
