/**
 * Creates the service components of a tenant as children of the Tenant: Caddy (main file +
 * one CaddyVhost per site), CoreDNS (one DnsZone per zone + the Corefile) and Vault (preflight +
 * one VaultPath per path, in a Vault component). Each waits on the container it runs in.
 */
import * as pulumi from "@pulumi/pulumi";
import { TenantSpec } from "../spec/types";
import { Container } from "./container";
import { createCaddy } from "./caddy";
import { createDns } from "./dnsZone";
import { createVault, SecretConfig } from "./vaultPath";
import type { HostLink } from "./host";
import { componentName } from "./names";

/** How to reach the host (HostLink), the tenant, and where the service components go. */
export interface ServicesArgs extends HostLink {
  /** The validated tenant. */
  spec: TenantSpec;
  /** The tenant's containers by name (services run inside them; wait on `.instance`). */
  containers: Readonly<Record<string, Container>>;
  /** The Tenant (parent of every service component). */
  parent: pulumi.ComponentResource;
  /** Prefix of child names (the tenant's name). */
  name: string;
  /** Secret stack config values named by Vault keys' `fromConfig`. */
  secretConfig: SecretConfig;
}

/** Service outputs the program exports (plain ones must hold no secret). */
export interface ServicesOutputs {
  readonly outputs: Record<string, pulumi.Input<unknown>>;
}

export function createServices(args: ServicesArgs): ServicesOutputs {
  const { spec, connection, sudo, parent, name } = args;
  const { caddy, dns, vault } = spec.services;
  const instance = (container: string): pulumi.Resource[] => {
    const c = args.containers[container];
    return c ? [c.instance] : [];
  };
  const outputs: Record<string, pulumi.Input<unknown>> = {};
  if (caddy) {
    createCaddy({ caddy, connection, sudo, parent, name, dependsOn: instance(caddy.proxy.container) });
    outputs.vhosts = caddy.vhosts.map(
      (v) => `${v.domain} -> ${v.upstreamContainer} ${v.upstreamIp}:${v.upstreamPort}`,
    );
  }
  if (dns) {
    createDns({ dns, connection, sudo, parent, name, dependsOn: instance(dns.container) });
    outputs.zones = dns.zones.map((z) => z.name);
  }
  if (vault) {
    const dependsOn = [
      ...instance(vault.container),
      ...(vault.envFile ? instance(vault.envFile.container) : []),
    ];
    outputs.vault = createVault({
      vault,
      connection,
      sudo,
      parent,
      name: componentName.vault(name),
      dependsOn,
      secretConfig: args.secretConfig,
    }).outputs;
  }
  return { outputs };
}
