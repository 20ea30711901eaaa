/**
 * CaddyProxy owns the main Caddyfile in the proxy container; CaddyVhost owns one site file.
 * Each is one remote.Command running the idempotent scripts of render/caddy/.
 */
import * as pulumi from "@pulumi/pulumi";
import { remote } from "@pulumi/command";
import type { CaddySpec, VhostSpec } from "../model/vhosts";
import { renderCaddyMainScripts, renderVhostScripts } from "../render/caddy";
import { after, commandArgs, HostLink } from "./host";
import { childName, componentName, TYPES } from "./names";

export interface CaddyProxyArgs {
  /** The derived Caddy description (proxy container, TLS mode, files). */
  caddy: CaddySpec;
  /** How to reach the host (from Host). */
  host: HostLink;
}

/**
 * CaddyProxy (`incus-tenant:caddy:CaddyProxy`): `<name>-main` converges the main Caddyfile.
 * Waits on `opts.dependsOn` (the proxy container's instance command).
 */
export class CaddyProxy extends pulumi.ComponentResource {
  /** The command that converges the main Caddyfile (every vhost waits on it). */
  readonly main: remote.Command;
  /** The main file's path inside the container. */
  readonly mainFile: string;

  constructor(name: string, args: CaddyProxyArgs, opts?: pulumi.ComponentResourceOptions) {
    super(TYPES.caddyProxy, name, {}, opts);
    this.mainFile = args.caddy.proxy.mainFile;
    this.main = new remote.Command(
      childName.caddyMain(name),
      commandArgs(args.host, renderCaddyMainScripts(args.caddy)),
      { parent: this, dependsOn: after(opts) },
    );
    this.registerOutputs({ mainFile: this.mainFile });
  }
}

export interface CaddyVhostArgs {
  /** The derived Caddy description (the proxy part: container, files, service). */
  caddy: CaddySpec;
  /** This site, from `caddy.vhosts`. */
  vhost: VhostSpec;
  /** How to reach the host (from Host). */
  host: HostLink;
}

/**
 * CaddyVhost (`incus-tenant:caddy:CaddyVhost`): `<name>-site` converges one site file (delete
 * removes only it). Waits on `opts.dependsOn` (the proxy's main file only: sites are independent).
 */
export class CaddyVhost extends pulumi.ComponentResource {
  /** The site's public name. */
  readonly domain: string;
  /** The command that converges the site file (delete removes only it). */
  readonly site: remote.Command;

  constructor(name: string, args: CaddyVhostArgs, opts?: pulumi.ComponentResourceOptions) {
    super(TYPES.caddyVhost, name, {}, opts);
    this.domain = args.vhost.domain;
    this.site = new remote.Command(
      childName.vhostSite(name),
      commandArgs(args.host, renderVhostScripts(args.caddy, args.vhost)),
      { parent: this, dependsOn: after(opts) },
    );
    this.registerOutputs({ domain: this.domain });
  }
}

/** The wiring helper's arguments: how to reach the host (HostLink), and where the components go. */
export interface CreateCaddyArgs extends HostLink {
  /** The derived Caddy description. */
  caddy: CaddySpec;
  /** Parent of the components (the Tenant). */
  parent: pulumi.ComponentResource;
  /** The tenant's name (components are named by components/names.ts). */
  name: string;
  /** What the main file waits for (the proxy container). */
  dependsOn: pulumi.Resource[];
}

/**
 * `<tenant>-caddy` and one `<tenant>-vhost-<key>` per site. Each site waits on the main file only
 * (issue 14: no chain of vhosts, so the longest chain of handshakes does not grow with them); the
 * host-side lock (render/caddy CADDY_LOCK) still serialises their validate + reload.
 */
export function createCaddy(args: CreateCaddyArgs): { proxy: CaddyProxy; vhosts: CaddyVhost[] } {
  const { caddy, parent, name: tenant } = args;
  const host: HostLink = { connection: args.connection, sudo: args.sudo };
  const proxy = new CaddyProxy(
    componentName.caddyProxy(tenant),
    { caddy, host },
    { parent, dependsOn: args.dependsOn },
  );
  const vhosts = caddy.vhosts.map(
    (vhost) =>
      new CaddyVhost(
        componentName.caddyVhost(tenant, vhost.key),
        { caddy, vhost, host },
        { parent, dependsOn: [proxy.main] },
      ),
  );
  return { proxy, vhosts };
}
