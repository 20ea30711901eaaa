/**
 * Preflight (`incus-tenant:host:Preflight`): the tenant's one whole-tenant check before any
 * change (render/preflight.ts). Its command is the first of the chain: the Tenant makes the Host
 * (and so everything after it) and the Migration wait on it, so a missing tool stops the apply
 * with one error before anything on the host is touched.
 */
import * as pulumi from "@pulumi/pulumi";
import { remote } from "@pulumi/command";
import type { TenantSpec } from "../model/types";
import { renderTenantPreflight } from "../render/preflight";
import { after, commandArgs, connectionOf } from "./host";
import { childName, TYPES } from "./names";

export interface PreflightArgs {
  /** The validated tenant. */
  spec: TenantSpec;
  /** Private key of `spec.host.user` (secret); the connection is the Host's own (connectionOf). */
  privateKey: pulumi.Input<string>;
}

/** The tenant's preflight component: one remote.Command `<name>-check`. */
export class Preflight extends pulumi.ComponentResource {
  /** The check command: what every other change of the tenant waits on. */
  readonly command: remote.Command;

  constructor(name: string, args: PreflightArgs, opts?: pulumi.ComponentResourceOptions) {
    super(TYPES.preflight, name, {}, opts);
    this.command = new remote.Command(
      childName.preflightCheck(name),
      commandArgs(
        { connection: connectionOf(args.spec.host, args.privateKey), sudo: args.spec.host.sudo },
        renderTenantPreflight(args.spec),
      ),
      { parent: this, dependsOn: after(opts) },
    );
    this.registerOutputs({});
  }
}
