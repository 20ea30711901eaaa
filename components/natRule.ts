/** NatRule: one external port+protocol DNATed to a container, so a preview lists every rule. */
import * as pulumi from "@pulumi/pulumi";
import { remote } from "@pulumi/command";
import { NatRuleSpec, TenantSpec } from "../model/types";
import { natLine, renderNatRule } from "../render/nat";
import { after, commandArgs, HostLink } from "./host";
import { armedId, natConfirm } from "../render/firewall";
import { remoteBash } from "../render/shell";
import { childName, TYPES } from "./names";

export interface NatRuleArgs {
  /** The validated tenant (chains, external interface). */
  spec: TenantSpec;
  /** This rule, from `spec.nat`. */
  rule: NatRuleSpec;
  /** How to reach the host (from Host). */
  host: HostLink;
}

/**
 * NatRule (`incus-tenant:net:NatRule`): `<name>-dnat` converges the rule's DNAT line(s), then
 * `<name>-confirm` confirms them over a new SSH connection. Waits on `opts.dependsOn` (the
 * host's commands and the target container).
 */
export class NatRule extends pulumi.ComponentResource {
  /** Readable form, e.g. "tcp/443 -> proxy 10.0.2.10:443 (from any)". */
  readonly line: string;
  /** The command that converges the DNAT line(s). */
  readonly dnat: remote.Command;
  /** The confirmation over a new connection (depends on `dnat`). */
  readonly confirm: remote.Command;

  constructor(name: string, args: NatRuleArgs, opts?: pulumi.ComponentResourceOptions) {
    super(TYPES.natRule, name, {}, opts);
    this.line = natLine(args.rule);
    this.dnat = new remote.Command(
      childName.dnat(name),
      commandArgs(args.host, renderNatRule(args.spec, args.rule)),
      { parent: this, dependsOn: after(opts) },
    );
    // Its own command, hence a NEW SSH connection: confirms the change before the host's
    // watchdog restores the previous lines (render/firewall.ts).
    this.confirm = new remote.Command(
      childName.confirm(name),
      {
        ...commandArgs(args.host, { create: "" }),
        create: this.dnat.stdout.apply((out) =>
          remoteBash(natConfirm(args.spec, args.rule, armedId(out)), args.host.sudo),
        ),
      },
      { parent: this, dependsOn: after(opts, this.dnat) },
    );
    this.registerOutputs({ line: this.line });
  }
}
