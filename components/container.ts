/** Container: one Incus instance of the tenant, converged by one idempotent script. */
import * as pulumi from "@pulumi/pulumi";
import { remote, types } from "@pulumi/command";
import { ContainerSpec, TenantSpec } from "../spec/types";
import { renderContainer } from "../render/container";
import { commandArgs } from "./host";

export interface ContainerArgs {
  /** The validated tenant (bridge, pool, tenant name). */
  spec: TenantSpec;
  /** This container, from `spec.containers`. */
  container: ContainerSpec;
  /** SSH connection to the host (from Host). */
  connection: types.input.remote.ConnectionArgs;
  /** Run through sudo. */
  sudo: boolean;
}

export class Container extends pulumi.ComponentResource {
  /** The reserved IPv4. */
  readonly ipv4: string;
  /** The command that converges the instance (dependants wait on it). */
  readonly instance: remote.Command;

  constructor(name: string, args: ContainerArgs, opts?: pulumi.ComponentResourceOptions) {
    super("incus-tenant:incus:Container", name, {}, opts);
    this.ipv4 = args.container.ipv4;
    this.instance = new remote.Command(
      `${name}-instance`,
      commandArgs(args.connection, renderContainer(args.spec, args.container), args.sudo),
      { parent: this },
    );
    this.registerOutputs({ ipv4: this.ipv4 });
  }
}
