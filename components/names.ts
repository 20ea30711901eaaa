/**
 * The one home of resource names and type tokens. Components name their children with these
 * functions, drift (drift) names the command that converges a live difference with them,
 * and `plan --live` builds the URNs it tells operators to `state delete` from them; the unit
 * tests check that every resource the program registers is one `tenantResources` lists.
 * Changing a name here renames a resource in every existing stack (a replacement): don't,
 * or add an alias.
 */
import type { TenantSpec } from "../model/types";
import { usedKinds } from "../services/registry";

/** Type tokens of every resource the program registers (one map, like pulumi-awsx). */
export const TYPES = {
  tenant: "incus-tenant:index:Tenant",
  host: "incus-tenant:host:Host",
  approval: "incus-tenant:net:NetworkApproval",
  container: "incus-tenant:incus:Container",
  natRule: "incus-tenant:net:NatRule",
  caddyProxy: "incus-tenant:caddy:CaddyProxy",
  caddyVhost: "incus-tenant:caddy:CaddyVhost",
  dnsZone: "incus-tenant:dns:DnsZone",
  corefile: "incus-tenant:dns:Corefile",
  vault: "incus-tenant:vault:Vault",
  vaultPath: "incus-tenant:vault:VaultPath",
  migration: "incus-tenant:migrate:LxdToIncus",
  preflight: "incus-tenant:host:Preflight",
  command: "command:remote:Command",
  randomPassword: "random:index/randomPassword:RandomPassword",
  stackReference: "pulumi:pulumi:StackReference",
} as const;

/** A type token of TYPES. */
export type TypeToken = (typeof TYPES)[keyof typeof TYPES];

/** The Host's commands, in creation order. */
export const HOST_COMMANDS = ["guard", "forwarding", "chains", "persistence"] as const;
/** One of the Host's commands. */
export type HostCommand = (typeof HOST_COMMANDS)[number];

/** Steps of a Migration (suffixes of its commands), in order. */
export const migrationStep = {
  preflight: "preflight",
  trust: "trust",
  precopy: (container: string): string => `precopy-${container}`,
  /** The cutover of the whole tenant (`cutover: tenant`). */
  cutover: "cutover",
  /** The cutover of one container (`cutover: container`). */
  cutoverOf: (container: string): string => `cutover-${container}`,
  cleanup: "cleanup",
} as const;

/**
 * Names of children from their component's own name (what a component constructor gets), so
 * a component never spells a suffix itself.
 */
export const childName = {
  /** A Host command: `<host>-guard`, `-forwarding`, `-chains`, `-persistence`. */
  hostCommand: (host: string, key: HostCommand): string => `${host}-${key}`,
  /** The Container's instance command. */
  instance: (container: string): string => `${container}-instance`,
  /** The NatRule's DNAT command. */
  dnat: (rule: string): string => `${rule}-dnat`,
  /** The NatRule's confirmation command (a new SSH connection). */
  confirm: (rule: string): string => `${rule}-confirm`,
  /** The CaddyProxy's main-file command. */
  caddyMain: (proxy: string): string => `${proxy}-main`,
  /** The CaddyVhost's site-file command. */
  vhostSite: (vhost: string): string => `${vhost}-site`,
  /** The DnsZone's zone-file command. */
  zoneFile: (zone: string): string => `${zone}-zone`,
  /** The Corefile's command. */
  corefileFile: (corefile: string): string => `${corefile}-corefile`,
  /** The Vault's health preflight. */
  vaultPreflight: (vault: string): string => `${vault}-preflight`,
  /** The Vault's VAULT_* lines in the system container's .env. */
  vaultEnv: (vault: string): string => `${vault}-env`,
  /** A VaultPath component below the Vault, by path key. */
  vaultPath: (vault: string, pathKey: string): string => `${vault}-${pathKey}`,
  /** The VaultPath's `vault kv put` command. */
  vaultPut: (path: string): string => `${path}-put`,
  /** The VaultPath's RandomPassword of one generated key. */
  generated: (path: string, key: string): string => `${path}-${key}`,
  /** The tenant Preflight's one command (checks every tool before any change). */
  preflightCheck: (preflight: string): string => `${preflight}-check`,
  /** A Migration step: preflight, trust, precopy-<c>, cutover, cutover-<c>, cleanup. */
  migrationStep: (migration: string, step: string): string => `${migration}-${step}`,
} as const;

/** Names of the components below the Tenant, from the tenant's name. */
export const componentName = {
  host: (tenant: string): string => `${tenant}-host`,
  approval: (tenant: string): string => `${tenant}-approval`,
  container: (tenant: string, container: string): string => `${tenant}-${container}`,
  natRule: (tenant: string, ruleKey: string): string => `${tenant}-nat-${ruleKey}`,
  caddyProxy: (tenant: string): string => `${tenant}-caddy`,
  caddyVhost: (tenant: string, vhostKey: string): string => `${tenant}-vhost-${vhostKey}`,
  /** Dots become hyphens ("example.com" -> "<tenant>-zone-example-com"). */
  dnsZone: (tenant: string, zone: string): string => `${tenant}-zone-${zone.replace(/\./g, "-")}`,
  corefile: (tenant: string): string => `${tenant}-corefile`,
  vault: (tenant: string): string => `${tenant}-vault`,
  migration: (tenant: string): string => `${tenant}-migration`,
  preflight: (tenant: string): string => `${tenant}-preflight`,
} as const;

/** Names of the commands drift points at, from the tenant's name. */
export const commandName = {
  host: (tenant: string, key: HostCommand): string => childName.hostCommand(componentName.host(tenant), key),
  instance: (tenant: string, container: string): string =>
    childName.instance(componentName.container(tenant, container)),
  dnat: (tenant: string, ruleKey: string): string => childName.dnat(componentName.natRule(tenant, ruleKey)),
  caddyMain: (tenant: string): string => childName.caddyMain(componentName.caddyProxy(tenant)),
  vhostSite: (tenant: string, vhostKey: string): string =>
    childName.vhostSite(componentName.caddyVhost(tenant, vhostKey)),
  zoneFile: (tenant: string, zone: string): string => childName.zoneFile(componentName.dnsZone(tenant, zone)),
  corefileFile: (tenant: string): string => childName.corefileFile(componentName.corefile(tenant)),
} as const;

/** One registered resource: type token, name, and the name of its parent (undefined at the root). */
export interface ResourceName {
  /** A token of TYPES, or one a service kind declares in its folder. */
  type: string;
  name: string;
  parent?: string;
}

/**
 * Every resource the program registers for `spec` (index.ts with the network approval; the
 * stack's self StackReference aside), in no particular order.
 */
export function tenantResources(spec: TenantSpec): ResourceName[] {
  const t = spec.name;
  const out: ResourceName[] = [{ type: TYPES.tenant, name: t }];
  const add = (type: string, name: string, parent: string): string => {
    out.push({ type, name, parent });
    return name;
  };
  const command = (name: string, parent: string): string => add(TYPES.command, name, parent);
  add(TYPES.approval, componentName.approval(t), t);
  const preflight = add(TYPES.preflight, componentName.preflight(t), t);
  command(childName.preflightCheck(preflight), preflight);
  const host = add(TYPES.host, componentName.host(t), t);
  for (const k of HOST_COMMANDS) command(childName.hostCommand(host, k), host);
  for (const c of spec.containers) {
    const container = add(TYPES.container, componentName.container(t, c.name), t);
    command(childName.instance(container), container);
  }
  for (const r of spec.nat) {
    const rule = add(TYPES.natRule, componentName.natRule(t, r.key), t);
    command(childName.dnat(rule), rule);
    command(childName.confirm(rule), rule);
  }
  const m = spec.migration;
  if (m) {
    const migration = add(TYPES.migration, componentName.migration(t), t);
    const steps = [
      migrationStep.preflight,
      migrationStep.trust,
      ...m.containers.map((c) => migrationStep.precopy(c.name)),
      ...(m.cutover === "tenant"
        ? [migrationStep.cutover]
        : m.containers.map((c) => migrationStep.cutoverOf(c.name))),
      migrationStep.cleanup,
    ];
    for (const s of steps) command(childName.migrationStep(migration, s), migration);
  }
  for (const { kind, service } of usedKinds(spec)) kind.resources(service, t, add);
  return out;
}

/**
 * The URN of a resource in a real stack: the type tokens of every ancestor joined by `$`
 * (`<Tenant>$<NatRule>$command:remote:Command::<name>`).
 */
export function urnOf(stack: string, project: string, types: readonly string[], name: string): string {
  return `urn:pulumi:${stack}::${project}::${types.join("$")}::${name}`;
}
