/** The CoreDNS service kind: the `dns` stack section, one DnsZone per zone and the Corefile. */
import type { ServiceKind } from "../kind";
import { checkZones, deriveZones, dnsSectionSchema, DnsSpec } from "../../model/zones";
import type { Problem } from "../../model/types";
import type * as components from "../../components/dnsZone";
import { childName, componentName, TYPES } from "../../components/names";
import { renderCorefile, renderZoneBody } from "../../render/zone";
import { sortPlanItems } from "../../approval/networkPlan";
import { dnsDrift } from "./drift";

/** Its Pulumi components, loaded on the first `create`: plan, --live and verify never load the SDK. */
// eslint-disable-next-line @typescript-eslint/no-require-imports -- lazy on purpose (issue 14)
const lazy = (): typeof components => require("../../components/dnsZone") as typeof components;

const shape = {
  /** CoreDNS: zones with their records, Corefile location, secondaries. */
  dns: dnsSectionSchema.optional(),
};

export const dnsKind: ServiceKind<"dns", DnsSpec, typeof shape> = {
  key: "dns",
  shape,
  check(s, ctx) {
    if (!s.dns) return [];
    const problems: Problem[] = checkZones(s.dns);
    if (!ctx.containers.has(s.dns.container))
      problems.push({ path: "dns.container", message: `no container named "${s.dns.container}"` });
    return problems;
  },
  derive: (s) => (s.dns ? deriveZones(s.dns) : undefined),
  create(dns, { connection, sudo, parent, name, instance }) {
    lazy().createDns({ dns, connection, sudo, parent, name, dependsOn: instance(dns.container) });
    return { zones: dns.zones.map((z) => z.name) };
  },
  plan: (dns) => ({
    zones: dns.zones.map((z) => ({
      name: z.name,
      file: z.file,
      records: z.records.length,
      zoneFile: renderZoneBody(z) /* serial placeholder: the host computes it at apply time */,
    })),
    corefile: { path: dns.corefile, text: renderCorefile(dns) },
  }),
  networkPlan: (dns) =>
    Object.fromEntries(
      dns.zones.map((zone) => [
        `zone ${zone.name}`,
        sortPlanItems(
          zone.records.map((r) => ({
            key: `${r.name} ${r.type} ${r.data}`,
            text: `${r.fqdn}.${r.ttl !== undefined ? ` ${r.ttl}` : ""} ${r.type} ${r.data}`,
          })),
        ),
      ]),
    ),
  liveFiles: (dns) =>
    [...dns.zones.map((z) => z.file), dns.corefile].map((path) => ({ container: dns.container, path })),
  drift: (dns, tenant, live) => dnsDrift(tenant.name, dns, live),
  driftParents: () => ({ zone: TYPES.dnsZone, corefile: TYPES.corefile }),
  resources(dns, t, add) {
    for (const z of dns.zones) {
      const zone = add(TYPES.dnsZone, componentName.dnsZone(t, z.name), t);
      add(TYPES.command, childName.zoneFile(zone), zone);
    }
    const corefile = add(TYPES.corefile, componentName.corefile(t), t);
    add(TYPES.command, childName.corefileFile(corefile), corefile);
  },
};
