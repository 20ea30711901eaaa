/**
 * CaddyProxy owns the main Caddyfile in the proxy container; CaddyVhost owns one site file.
 * Each is one remote.Command running the idempotent scripts of render/caddy.ts.
 */
import * as pulumi from "@pulumi/pulumi";
import { remote, types } from "@pulumi/command";
import type { CaddySpec, VhostSpec } from "../spec/vhosts";
import { renderCaddyMainScripts, renderVhostScripts } from "../render/caddy";
import { commandArgs } from "./host";

export interface CaddyProxyArgs {
  /** The derived Caddy description (proxy container, TLS mode, files). */
  caddy: CaddySpec;
  /** SSH connection to the host (from Host). */
  connection: types.input.remote.ConnectionArgs;
  /** Run through sudo. */
  sudo: boolean;
  /** What the main file waits for (the proxy container's instance command). */
  dependsOn?: pulumi.Input<pulumi.Resource>[];
}

export class CaddyProxy extends pulumi.ComponentResource {
  /** The command that converges the main Caddyfile (every vhost waits on it). */
  readonly main: remote.Command;
  /** The main file's path inside the container. */
  readonly mainFile: string;

  constructor(name: string, args: CaddyProxyArgs, opts?: pulumi.ComponentResourceOptions) {
    super("incus-tenant:caddy:CaddyProxy", name, {}, opts);
    this.mainFile = args.caddy.proxy.mainFile;
    this.main = new remote.Command(
      `${name}-main`,
      commandArgs(args.connection, renderCaddyMainScripts(args.caddy), args.sudo),
      { parent: this, dependsOn: args.dependsOn ?? [] },
    );
    this.registerOutputs({ mainFile: this.mainFile });
  }
}

export interface CaddyVhostArgs {
  /** The derived Caddy description (the proxy part: container, files, service). */
  caddy: CaddySpec;
  /** This site, from `caddy.vhosts`. */
  vhost: VhostSpec;
  /** SSH connection to the host (from Host). */
  connection: types.input.remote.ConnectionArgs;
  /** Run through sudo. */
  sudo: boolean;
  /** What the site waits for (the proxy's main file, and the upstream container). */
  dependsOn?: pulumi.Input<pulumi.Resource>[];
}

export class CaddyVhost extends pulumi.ComponentResource {
  /** The site's public name. */
  readonly domain: string;
  /** The command that converges the site file (delete removes only it). */
  readonly site: remote.Command;

  constructor(name: string, args: CaddyVhostArgs, opts?: pulumi.ComponentResourceOptions) {
    super("incus-tenant:caddy:CaddyVhost", name, {}, opts);
    this.domain = args.vhost.domain;
    this.site = new remote.Command(
      `${name}-site`,
      commandArgs(args.connection, renderVhostScripts(args.caddy, args.vhost), args.sudo),
      { parent: this, dependsOn: args.dependsOn ?? [] },
    );
    this.registerOutputs({ domain: this.domain });
  }
}

export interface CreateCaddyArgs {
  /** The derived Caddy description. */
  caddy: CaddySpec;
  /** SSH connection to the host. */
  connection: types.input.remote.ConnectionArgs;
  /** Run through sudo. */
  sudo: boolean;
  /** Parent of the components (the Tenant). */
  parent: pulumi.ComponentResource;
  /** Prefix of child names (the tenant's name). */
  name: string;
  /** What the main file waits for (the proxy container, the host). */
  dependsOn: pulumi.Resource[];
}

/**
 * `${name}-caddy` and one `${name}-vhost-${key}` per site. Sites wait on the main file and run
 * one after the other (few SSH connections at a time; the host lock serialises them anyway).
 */
export function createCaddy(args: CreateCaddyArgs): { proxy: CaddyProxy; vhosts: CaddyVhost[] } {
  const link = { connection: args.connection, sudo: args.sudo };
  const proxy = new CaddyProxy(
    `${args.name}-caddy`,
    { caddy: args.caddy, ...link, dependsOn: args.dependsOn },
    { parent: args.parent },
  );
  const vhosts: CaddyVhost[] = [];
  for (const vhost of args.caddy.vhosts) {
    const previous = vhosts.length > 0 ? [vhosts[vhosts.length - 1].site] : [];
    vhosts.push(
      new CaddyVhost(
        `${args.name}-vhost-${vhost.key}`,
        { caddy: args.caddy, vhost, ...link, dependsOn: [proxy.main, ...previous] },
        { parent: args.parent },
      ),
    );
  }
  return { proxy, vhosts };
}
