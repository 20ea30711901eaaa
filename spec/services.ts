/**
 * Stack sections for the tenant's services: `proxy` + `vhosts` (Caddy, spec/vhosts.ts), `dns`
 * (CoreDNS zones, spec/zones/) and `vault` (spec/vault.ts), plus the cross-section rule that a
 * vhost's domain must resolve in the tenant's own zones (a dead domain breaks ACME for every site).
 */
import type { ParsedTenant } from "./schema";
import type { Problem } from "./types";
import {
  CaddySpec,
  checkVhosts,
  deriveVhosts,
  proxySectionSchema,
  vhostDomain,
  vhostsSectionSchema,
} from "./vhosts";
import {
  checkZones,
  deriveZones,
  dnsSectionSchema,
  DnsSpec,
  NO_ADDRESS_RECORD,
  zoneNameProblem,
} from "./zones";
import { checkVault, deriveVault, vaultSectionSchema, VaultSpec } from "./vault";

/** Zod shapes of the optional service sections (merged into the tenant schema). */
export const servicesShape = {
  /** Caddy reverse proxy: container, TLS, file locations. */
  proxy: proxySectionSchema.optional(),
  /** Caddy sites by label (chat → chat.<zone suffix>). */
  vhosts: vhostsSectionSchema.optional(),
  /** CoreDNS: zones with their records, Corefile location, secondaries. */
  dns: dnsSectionSchema.optional(),
  /** Vault KV paths and where each value comes from (never literal secrets). */
  vault: vaultSectionSchema.optional(),
};

/** Derived, immutable service description (part of TenantSpec as `services`). */
export interface ServicesSpec {
  readonly caddy?: CaddySpec;
  readonly dns?: DnsSpec;
  readonly vault?: VaultSpec;
}

const zoneSuffixOf = (t: ParsedTenant): string => (t.environment === "prod" ? t.domain : `stage.${t.domain}`);
const domainOfFor =
  (t: ParsedTenant) =>
  (label: string): string =>
    `${label}.${zoneSuffixOf(t)}`;

/** Cross-field rules of the service sections. */
export function checkServices(t: ParsedTenant): Problem[] {
  const containers = new Map(Object.entries(t.containers).map(([name, c]) => [name, c.ports] as const));
  const domainOf = domainOfFor(t);
  const problems: Problem[] = [...checkVhosts({ proxy: t.proxy, vhosts: t.vhosts, containers, domainOf })];
  let dns: DnsSpec | undefined;
  if (t.dns) {
    const dnsProblems = checkZones(t.dns);
    if (!containers.has(t.dns.container))
      dnsProblems.push({ path: "dns.container", message: `no container named "${t.dns.container}"` });
    problems.push(...dnsProblems);
    if (dnsProblems.length === 0) dns = deriveZones(t.dns);
  }
  if (t.vault) problems.push(...checkVault(t.vault, "vault", [...containers.keys()]));
  for (const [label, v] of Object.entries(t.vhosts ?? {})) {
    if (v.servedElsewhere) continue;
    if (problems.some((p) => p.path === `vhosts.${label}.domain`)) continue; // already refused for its form
    const domain = vhostDomain(label, v, domainOf);
    if (t.dns && !dns) continue; // the zones have problems of their own; do not pile on
    const why = dns ? zoneNameProblem(dns, domain) : NO_ADDRESS_RECORD;
    if (why !== undefined) {
      problems.push({
        path: `vhosts.${label}.domain`,
        message:
          `${domain} ${why} (a dead domain breaks TLS for every site): ` +
          "add a record or set servedElsewhere: true",
      });
    }
  }
  return problems;
}

/** Derivation, called only when there are no problems. */
export function deriveServices(t: ParsedTenant): ServicesSpec {
  const ips = new Map(Object.entries(t.containers).map(([name, c]) => [name, c.ipv4] as const));
  const caddy = deriveVhosts({ proxy: t.proxy, vhosts: t.vhosts, ips, domainOf: domainOfFor(t) });
  return {
    ...(caddy ? { caddy } : {}),
    ...(t.dns ? { dns: deriveZones(t.dns) } : {}),
    ...(t.vault ? { vault: deriveVault(t.vault, t.name) } : {}),
  };
}
