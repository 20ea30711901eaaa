/**
 * Stack sections for the tenant's services, from the service kinds of services/registry.ts
 * (Caddy `proxy` + `vhosts`, CoreDNS `dns`, `vault`, ...), plus the cross-kind rule that a
 * vhost's domain must resolve in the tenant's own zones (a dead domain breaks ACME for every site).
 */
import type { ParsedTenant } from "./schema";
import type { Problem } from "./types";
import { vhostDomain } from "./vhosts";
import { checkZones, deriveZones, NO_ADDRESS_RECORD, zoneNameProblem } from "./zones";
import { ALL_KINDS, SERVICE_KINDS, ServicesShape, ServicesSpec } from "../services/registry";
import type { ServiceContext } from "../services/kind";

export type { ServicesSpec } from "../services/registry";

/** Zod shapes of the optional service sections of every kind (merged into the tenant schema). */
export const servicesShape = Object.assign({}, ...SERVICE_KINDS.map((k) => k.shape)) as ServicesShape;

/** The zone suffix of the public names: `example.com` in prod, `stage.example.com` in stage (the one rule). */
export const zoneSuffixOf = (t: Pick<ParsedTenant, "environment" | "domain">): string =>
  t.environment === "prod" ? t.domain : `stage.${t.domain}`;

function contextOf(t: ParsedTenant): ServiceContext {
  return {
    tenant: t.name,
    containers: new Map(Object.entries(t.containers).map(([name, c]) => [name, c] as const)),
    domainOf: (label) => `${label}.${zoneSuffixOf(t)}`,
  };
}

/** Cross-kind rule: a vhost's domain resolves in the tenant's zones (or the vhost is served elsewhere). */
function checkVhostDomains(t: ParsedTenant, ctx: ServiceContext, problems: readonly Problem[]): Problem[] {
  const out: Problem[] = [];
  const dnsOk = t.dns !== undefined && ctx.containers.has(t.dns.container) && checkZones(t.dns).length === 0;
  const dns = t.dns && dnsOk ? deriveZones(t.dns) : undefined;
  for (const [label, v] of Object.entries(t.vhosts ?? {})) {
    if (v.servedElsewhere) continue;
    if (problems.some((p) => p.path === `vhosts.${label}.domain`)) continue; // already refused for its form
    const domain = vhostDomain(label, v, ctx.domainOf);
    if (t.dns && !dns) continue; // the zones have problems of their own; do not pile on
    const why = dns ? zoneNameProblem(dns, domain) : NO_ADDRESS_RECORD;
    if (why !== undefined) {
      out.push({
        path: `vhosts.${label}.domain`,
        message:
          `${domain} ${why} (a dead domain breaks TLS for every site): ` +
          "add a record or set servedElsewhere: true",
      });
    }
  }
  return out;
}

/** Rules of every kind's sections, then the cross-kind ones. */
export function checkServices(t: ParsedTenant): Problem[] {
  const ctx = contextOf(t);
  const problems = ALL_KINDS.flatMap((k) => k.check(t, ctx));
  return [...problems, ...checkVhostDomains(t, ctx, problems)];
}

/** Derivation, called only when there are no problems. */
export function deriveServices(t: ParsedTenant): ServicesSpec {
  const ctx = contextOf(t);
  const services: Record<string, unknown> = {};
  for (const k of ALL_KINDS) {
    const s = k.derive(t, ctx);
    if (s !== undefined) services[k.key] = s;
  }
  return services;
}
