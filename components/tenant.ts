/** Tenant: wires Host → Containers → NAT rules for one validated TenantSpec. */
import * as pulumi from "@pulumi/pulumi";
import { TenantSpec } from "../spec/types";
import { natLine } from "../render/nat";
import { Container } from "./container";
import { Host } from "./host";
import { NatRule } from "./natRule";
import { createServices } from "./services";

export interface TenantArgs {
  /** The validated tenant (from parseTenant). */
  spec: TenantSpec;
  /** Private key for the host's SSH user (secret). */
  sshPrivateKey: pulumi.Input<string>;
  /** Secret stack config values named by Vault keys' `fromConfig` (default: none available). */
  secretConfig?: (key: string) => pulumi.Output<string>;
}

const missingSecret = (key: string): pulumi.Output<string> => {
  throw new Error(`vault: secret config "${key}" is not available: pulumi config set --secret incus-tenant:${key}`);
};

export class Tenant extends pulumi.ComponentResource {
  readonly host: Host;
  readonly containers: Readonly<Record<string, Container>>;
  readonly natRules: Readonly<Record<string, NatRule>>;
  /** container name → reserved IPv4 (plain: no secret in it). */
  readonly containerIps: Readonly<Record<string, string>>;
  /** The NAT table as readable lines. */
  readonly natTable: readonly string[];
  /** Outputs of the service components (see components/services.ts). */
  readonly services: Record<string, pulumi.Input<unknown>>;

  constructor(name: string, args: TenantArgs, opts?: pulumi.ComponentResourceOptions) {
    super("incus-tenant:index:Tenant", name, {}, opts);
    const { spec } = args;
    this.host = new Host(`${name}-host`, { spec, privateKey: args.sshPrivateKey }, { parent: this });
    const link = { connection: this.host.connection, sudo: this.host.sudo };
    const containers: Record<string, Container> = {};
    for (const c of spec.containers) {
      containers[c.name] = new Container(`${name}-${c.name}`, { spec, container: c, ...link }, { parent: this, dependsOn: this.host.ready });
    }
    const natRules: Record<string, NatRule> = {};
    for (const rule of spec.nat) {
      natRules[rule.key] = new NatRule(`${name}-nat-${rule.key}`, { spec, rule, ...link }, { parent: this, dependsOn: [...this.host.ready, containers[rule.container].instance] });
    }
    this.containers = containers;
    this.services = createServices({ spec, ...link, containers, parent: this, name, secretConfig: args.secretConfig ?? missingSecret }).outputs;
    this.natRules = natRules;
    this.containerIps = Object.fromEntries(spec.containers.map((c) => [c.name, c.ipv4]));
    this.natTable = spec.nat.map(natLine);
    this.registerOutputs({ containerIps: this.containerIps, natTable: this.natTable });
  }
}
