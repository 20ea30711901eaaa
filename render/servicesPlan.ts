/** The plan --json keys of the services: vhosts, zones (rendered zone files and Corefile), vault. */
import { TenantSpec } from "../spec/types";
import { renderMainCaddyfile, renderVhost } from "./caddy";
import { renderCorefile, renderZoneBody } from "./zone";
import { vaultPlan } from "./vault";

/** Extra keys merged into the plan document; never any secret value. */
export function servicesPlan(spec: TenantSpec): Record<string, unknown> {
  const { caddy, dns, vault } = spec.services;
  return {
    ...(caddy
      ? {
          caddy: {
            container: caddy.proxy.container,
            mainFile: caddy.proxy.mainFile,
            caddyfile: renderMainCaddyfile(caddy),
          },
          vhosts: caddy.vhosts.map((v) => ({
            key: v.key,
            domain: v.domain,
            upstream: `${v.upstreamContainer} ${v.upstreamIp}:${v.upstreamPort}`,
            file: v.file,
            caddyfile: renderVhost(v),
          })),
        }
      : {}),
    ...(dns
      ? {
          zones: dns.zones.map((z) => ({
            name: z.name,
            file: z.file,
            records: z.records.length,
            zoneFile: renderZoneBody(z) /* serial placeholder: the host computes it at apply time */,
          })),
          corefile: { path: dns.corefile, text: renderCorefile(dns) },
        }
      : {}),
    ...(vault ? { vault: vaultPlan(vault) } : {}),
  };
}
