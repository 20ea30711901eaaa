/** The plan --json keys of the services (vhosts, zones, vault): owned by the services work (issue 4). */
import { TenantSpec } from "../spec/types";

/** Extra keys merged into the plan document; never any secret value. */
export function servicesPlan(_spec: TenantSpec): Record<string, unknown> {
  return {};
}
