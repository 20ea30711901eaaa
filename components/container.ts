/** Container: one Incus instance of the tenant, converged by one idempotent script. */
import * as pulumi from "@pulumi/pulumi";
import { remote } from "@pulumi/command";
import { ContainerSpec, TenantSpec } from "../model/types";
import { renderContainer } from "../render/container";
import { after, commandArgs, HostLink } from "./host";
import { childName, TYPES } from "./names";

export interface ContainerArgs {
  /** The validated tenant (bridge, pool, tenant name). */
  spec: TenantSpec;
  /** This container, from `spec.containers`. */
  container: ContainerSpec;
  /** How to reach the host (from Host). */
  host: HostLink;
}

/**
 * Container (`incus-tenant:incus:Container`): the command `<name>-instance` converges one
 * Incus instance. Waits on `opts.dependsOn` (the host's commands, and a migration's cutover).
 */
export class Container extends pulumi.ComponentResource {
  /** The reserved IPv4. */
  readonly ipv4: string;
  /** The command that converges the instance (dependants wait on it). */
  readonly instance: remote.Command;

  constructor(name: string, args: ContainerArgs, opts?: pulumi.ComponentResourceOptions) {
    super(TYPES.container, name, {}, opts);
    this.ipv4 = args.container.ipv4;
    this.instance = new remote.Command(
      childName.instance(name),
      commandArgs(args.host, renderContainer(args.spec, args.container)),
      { parent: this, dependsOn: after(opts) },
    );
    this.registerOutputs({ ipv4: this.ipv4 });
  }
}
