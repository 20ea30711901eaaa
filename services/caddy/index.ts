/** The Caddy service kind: `proxy` + `vhosts` stack sections, CaddyProxy and CaddyVhost components. */
import type { ServiceKind } from "../kind";
import {
  CaddySpec,
  checkVhosts,
  deriveVhosts,
  proxySectionSchema,
  vhostsSectionSchema,
} from "../../model/vhosts";
import type * as components from "../../components/caddy";
import { childName, componentName, TYPES } from "../../components/names";
import { renderMainCaddyfile, renderVhost } from "../../render/caddy";
import { sortPlanItems } from "../../approval/networkPlan";
import { caddyDrift } from "./drift";

/** Its Pulumi components, loaded on the first `create`: plan, --live and verify never load the SDK. */
// eslint-disable-next-line @typescript-eslint/no-require-imports -- lazy on purpose (issue 14)
const lazy = (): typeof components => require("../../components/caddy") as typeof components;

const shape = {
  /** Caddy reverse proxy: container, TLS, file locations. */
  proxy: proxySectionSchema.optional(),
  /** Caddy sites by label (chat → chat.<zone suffix>). */
  vhosts: vhostsSectionSchema.optional(),
};

const ports = (containers: ReadonlyMap<string, { ports: readonly number[] }>): Map<string, number[]> =>
  new Map([...containers].map(([name, c]) => [name, [...c.ports]] as const));

export const caddyKind: ServiceKind<"caddy", CaddySpec, typeof shape> = {
  key: "caddy",
  shape,
  check: (s, ctx) =>
    checkVhosts({
      proxy: s.proxy,
      vhosts: s.vhosts,
      containers: ports(ctx.containers),
      domainOf: ctx.domainOf,
    }),
  derive: (s, ctx) =>
    deriveVhosts({
      proxy: s.proxy,
      vhosts: s.vhosts,
      ips: new Map([...ctx.containers].map(([name, c]) => [name, c.ipv4] as const)),
      domainOf: ctx.domainOf,
    }),
  create(caddy, { connection, sudo, parent, name, instance }) {
    lazy().createCaddy({ caddy, connection, sudo, parent, name, dependsOn: instance(caddy.proxy.container) });
    return {
      vhosts: caddy.vhosts.map(
        (v) => `${v.domain} -> ${v.upstreamContainer} ${v.upstreamIp}:${v.upstreamPort}`,
      ),
    };
  },
  plan: (caddy) => ({
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
      // Only when set, so the plan of a stack without it is unchanged.
      ...(v.takeOver ? { takeOver: true } : {}),
      caddyfile: renderVhost(v),
    })),
  }),
  networkPlan: (caddy) => ({
    vhosts: sortPlanItems(
      caddy.vhosts.map((v) => ({
        key: v.domain,
        text: `vhost ${v.domain} → ${v.upstreamContainer} ${v.upstreamIp}:${v.upstreamPort}`,
      })),
    ),
  }),
  liveFiles: (caddy) =>
    [caddy.proxy.mainFile, ...caddy.vhosts.map((v) => v.file)].map((path) => ({
      container: caddy.proxy.container,
      path,
    })),
  liveDirs: (caddy) => [{ container: caddy.proxy.container, path: caddy.proxy.sitesDir }],
  drift: (caddy, tenant, live) => caddyDrift(tenant.name, caddy, live),
  driftParents: () => ({ caddy: TYPES.caddyProxy, vhost: TYPES.caddyVhost }),
  resources(caddy, t, add) {
    const proxy = add(TYPES.caddyProxy, componentName.caddyProxy(t), t);
    add(TYPES.command, childName.caddyMain(proxy), proxy);
    for (const v of caddy.vhosts) {
      const vhost = add(TYPES.caddyVhost, componentName.caddyVhost(t, v.key), t);
      add(TYPES.command, childName.vhostSite(vhost), vhost);
    }
  },
};
