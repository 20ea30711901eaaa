/**
 * Stack sections for the tenant's services: `proxy` + `vhosts` (Caddy), `dns` (zones), `vault`.
 * Owned by the services work (issue 4). Wired into spec/schema.ts, spec/rules.ts and
 * spec/index.ts through the three exports below; keep their names and signatures.
 */
import { z } from "zod";
import type { ParsedTenant } from "./schema";
import type { Problem } from "./types";

/** Zod shapes of the optional service sections (merged into the tenant schema). */
export const servicesShape = {
  /** Caddy reverse proxy (placeholder until implemented). */
  proxy: z.unknown().optional(),
  vhosts: z.unknown().optional(),
  dns: z.unknown().optional(),
  vault: z.unknown().optional(),
};

/** Derived, immutable service description (part of TenantSpec as `services`). */
export interface ServicesSpec {
  readonly placeholder?: true;
}

/** Cross-field rules of the service sections. */
export function checkServices(_t: ParsedTenant): Problem[] {
  return [];
}

/** Derivation, called only when there are no problems. */
export function deriveServices(_t: ParsedTenant): ServicesSpec {
  return {};
}
