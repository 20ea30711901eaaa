/**
 * Creates the service components of a tenant (Caddy vhosts, DNS zones, Vault paths) as
 * children of the Tenant. Owned by the services work (issue 4); Tenant calls only this.
 */
import * as pulumi from "@pulumi/pulumi";
import { types } from "@pulumi/command";
import { TenantSpec } from "../spec/types";
import { Container } from "./container";

export interface ServicesArgs {
  /** The validated tenant. */
  spec: TenantSpec;
  /** SSH connection to the host. */
  connection: types.input.remote.ConnectionArgs;
  /** Run through sudo. */
  sudo: boolean;
  /** The tenant's containers by name (services run inside them; wait on `.instance`). */
  containers: Readonly<Record<string, Container>>;
  /** The Tenant (parent of every service component). */
  parent: pulumi.ComponentResource;
  /** Prefix of child names (the tenant's name). */
  name: string;
}

/** Service outputs the program exports (plain ones must hold no secret). */
export interface ServicesOutputs {
  readonly outputs: Record<string, pulumi.Input<unknown>>;
}

export function createServices(_args: ServicesArgs): ServicesOutputs {
  return { outputs: {} };
}
