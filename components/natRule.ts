/** NatRule: one external port+protocol DNATed to a container, so a preview lists every rule. */
import * as pulumi from "@pulumi/pulumi";
import { remote, types } from "@pulumi/command";
import { NatRuleSpec, TenantSpec } from "../spec/types";
import { natLine, renderNatRule } from "../render/nat";
import { commandArgs } from "./host";
import { armedId, natConfirm } from "../render/firewall";
import { remoteBash } from "../render/shell";

export interface NatRuleArgs {
  /** The validated tenant (chains, external interface). */
  spec: TenantSpec;
  /** This rule, from `spec.nat`. */
  rule: NatRuleSpec;
  /** SSH connection to the host (from Host). */
  connection: types.input.remote.ConnectionArgs;
  /** Run through sudo. */
  sudo: boolean;
}

export class NatRule extends pulumi.ComponentResource {
  /** Readable form, e.g. "tcp/443 -> proxy 10.0.2.10:443 (from any)". */
  readonly line: string;
  /** The command that converges the DNAT line(s). */
  readonly dnat: remote.Command;
  /** The confirmation over a new connection (depends on `dnat`). */
  readonly confirm: remote.Command;

  constructor(name: string, args: NatRuleArgs, opts?: pulumi.ComponentResourceOptions) {
    super("incus-tenant:net:NatRule", name, {}, opts);
    this.line = natLine(args.rule);
    this.dnat = new remote.Command(
      `${name}-dnat`,
      commandArgs(args.connection, renderNatRule(args.spec, args.rule), args.sudo),
      { parent: this },
    );
    // Its own command, hence a NEW SSH connection: confirms the change before the host's
    // watchdog restores the previous lines (render/firewall.ts).
    this.confirm = new remote.Command(
      `${name}-confirm`,
      {
        ...commandArgs(args.connection, { create: "" }, args.sudo),
        create: this.dnat.stdout.apply((out) =>
          remoteBash(natConfirm(args.spec, args.rule, armedId(out)), args.sudo),
        ),
      },
      { parent: this, dependsOn: [this.dnat] },
    );
    this.registerOutputs({ line: this.line });
  }
}
