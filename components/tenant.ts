/** Tenant: wires Host → Containers → NAT rules for one validated TenantSpec. */
import * as pulumi from "@pulumi/pulumi";
import { TenantSpec } from "../model/types";
import { natLine } from "../render/nat";
import { Container } from "./container";
import { Host } from "./host";
import { NatRule } from "./natRule";
import { createServices } from "./services";
import { Migration } from "./migration";
import { MIGRATION_SECRET, missingSecretsMessage } from "../model/secrets";
import { NetworkApproval } from "./approval";
import { networkPlan, NetworkPlan } from "../approval/networkPlan";
import { componentName, TYPES } from "./names";
import { Preflight } from "./preflight";
import { after } from "./host";

export interface TenantArgs {
  /** The validated tenant (from parseTenant). */
  spec: TenantSpec;
  /** Private key for the host's SSH user (secret). */
  sshPrivateKey: pulumi.Input<string>;
  /** Secret stack config values named by Vault keys' `fromConfig` (default: none available). */
  secretConfig?: (key: string) => pulumi.Output<string>;
  /** Network approval inputs; without it (tests of single components) no gate is created. */
  approval?: { previous: pulumi.Output<unknown>; approve?: string; allowMassChange: boolean };
}

const missingSecret = (key: string): pulumi.Output<string> => {
  throw new Error(
    `vault: secret config "${key}" is not available: pulumi config set --secret incus-tenant:${key}`,
  );
};

/**
 * The migration source key, or a refusal naming `incus-tenant:migrationSourceKey` (there is no
 * default: the operator's own host key must never reach, or be written for, another host).
 */
function migrationSourceKey(
  spec: TenantSpec,
  secretConfig: TenantArgs["secretConfig"],
): pulumi.Output<string> | undefined {
  if (!spec.migration) return undefined;
  let key: pulumi.Output<string> | undefined;
  try {
    key = secretConfig?.(MIGRATION_SECRET.key);
  } catch {
    key = undefined; // requireSecret throws when the key is not set
  }
  if (key === undefined) throw new Error(missingSecretsMessage([MIGRATION_SECRET]));
  return key;
}

/**
 * Tenant (`incus-tenant:index:Tenant`): the root component. Wires the network approval, Host,
 * an optional Migration, one Container per container, one NatRule per rule and the service
 * components; every child is named by components/names.ts and ordered by `opts.dependsOn`.
 */
export class Tenant extends pulumi.ComponentResource {
  /** The host link and host-level commands. */
  readonly host: Host;
  /** The network plan this apply makes the last applied one (exported as `networkPlan`). */
  readonly networkPlan: NetworkPlan;
  /** container name → its Container. */
  readonly containers: Readonly<Record<string, Container>>;
  /** rule key → its NatRule. */
  readonly natRules: Readonly<Record<string, NatRule>>;
  /** container name → reserved IPv4 (plain: no secret in it). */
  readonly containerIps: Readonly<Record<string, string>>;
  /** The NAT table as readable lines. */
  readonly natTable: readonly string[];
  /** Outputs of the service components (see components/services.ts). */
  readonly services: Record<string, pulumi.Input<unknown>>;

  constructor(name: string, args: TenantArgs, opts?: pulumi.ComponentResourceOptions) {
    // Checked before anything (the Tenant itself included) is registered.
    const sourceKey = migrationSourceKey(args.spec, args.secretConfig);
    super(TYPES.tenant, name, {}, opts);
    const { spec } = args;
    this.networkPlan = networkPlan(spec);
    // Everything waits on the host, and the host on the approval verdict: an unapproved network
    // change fails the program before the host (or anything after it) is even registered.
    const gate: pulumi.Input<pulumi.Resource[]> = args.approval
      ? new NetworkApproval(
          componentName.approval(name),
          { plan: this.networkPlan, ...args.approval },
          { parent: this },
        ).hash.apply((): pulumi.Resource[] => [])
      : [];
    // The whole-tenant preflight (every tool each service needs) comes first: the host and the
    // migration, so every change, wait on it; a missing piece stops the apply with nothing touched.
    const preflight = new Preflight(
      componentName.preflight(name),
      { spec, privateKey: args.sshPrivateKey },
      { parent: this, dependsOn: gate },
    );
    const first = after({ dependsOn: gate }, preflight.command);
    this.host = new Host(
      componentName.host(name),
      { spec, privateKey: args.sshPrivateKey },
      { parent: this, dependsOn: first },
    );
    const link = this.host.link;
    // Migrated containers are converged by their Container only after their cutover.
    let migration: Migration | undefined;
    if (spec.migration && sourceKey !== undefined) {
      // Waits on the approval gate, not on the host's NAT setup (the preflight touches nothing).
      migration = new Migration(
        componentName.migration(name),
        { spec, host: link, sourceKey },
        { parent: this, dependsOn: first },
      );
    }
    const containers: Record<string, Container> = {};
    for (const c of spec.containers) {
      const moved = migration?.movedBy[c.name];
      containers[c.name] = new Container(
        componentName.container(name, c.name),
        { spec, container: c, host: link },
        { parent: this, dependsOn: [...this.host.ready, ...(moved ? [moved] : [])] },
      );
    }
    const natRules: Record<string, NatRule> = {};
    for (const rule of spec.nat) {
      natRules[rule.key] = new NatRule(
        componentName.natRule(name, rule.key),
        { spec, rule, host: link },
        { parent: this, dependsOn: [...this.host.ready, containers[rule.container].instance] },
      );
    }
    this.containers = containers;
    this.services = createServices({
      spec,
      ...link,
      containers,
      parent: this,
      name,
      secretConfig: args.secretConfig ?? missingSecret,
    }).outputs;
    this.natRules = natRules;
    this.containerIps = Object.fromEntries(spec.containers.map((c) => [c.name, c.ipv4]));
    this.natTable = spec.nat.map(natLine);
    this.registerOutputs({ containerIps: this.containerIps, natTable: this.natTable });
  }
}
