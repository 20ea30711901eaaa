/**
 * Creates the service components of a tenant as children of the Tenant, kind by kind
 * (services/registry.ts): Caddy (main file + one CaddyVhost per site), CoreDNS (one DnsZone per
 * zone + the Corefile), Vault (preflight + one VaultPath per path, in a Vault component), ...
 * Each waits on the container it runs in.
 */
import * as pulumi from "@pulumi/pulumi";
import { TenantSpec } from "../model/types";
import { Container } from "./container";
import type { SecretConfig } from "./vaultPath";
import type { HostLink } from "./host";
import { usedKinds } from "../services/registry";

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
  const { spec, connection, sudo, parent, name, secretConfig } = args;
  const instance = (container: string): pulumi.Resource[] => {
    const c = args.containers[container];
    return c ? [c.instance] : [];
  };
  const outputs: Record<string, pulumi.Input<unknown>> = {};
  for (const { kind, service } of usedKinds(spec))
    Object.assign(
      outputs,
      kind.create(service, { spec, connection, sudo, parent, name, instance, secretConfig }),
    );
  return { outputs };
}
