/**
 * Host: the one typed SSH connection of a tenant, and the host-level state every other
 * component relies on (ip forwarding, our NAT chains, the SSH guard, persistence).
 */
import * as pulumi from "@pulumi/pulumi";
import { remote, types } from "@pulumi/command";
import { HostSpec, TenantSpec } from "../model/types";
import { renderChains, renderForwarding, renderGuard, renderPersistence, ScriptPair } from "../render/host";
import { remoteBash } from "../render/shell";
import { childName, HOST_COMMANDS, HostCommand, TYPES } from "./names";

/** How every component reaches the host: the pinned SSH connection and whether to use sudo. */
export interface HostLink {
  /** SSH connection to the host (from Host). */
  connection: types.input.remote.ConnectionArgs;
  /** Run commands through sudo. */
  sudo: boolean;
}

/**
 * The one way components are ordered: a component gets what it waits for in
 * `opts.dependsOn`, and each of its children gets that list plus its own predecessors inside
 * the component (`more`).
 */
export function after(
  opts: pulumi.ComponentResourceOptions | undefined,
  ...more: pulumi.Resource[]
): pulumi.ResourceOptions["dependsOn"] {
  const d = opts?.dependsOn;
  if (d === undefined) return more;
  if (more.length === 0) return d;
  type Deps = pulumi.Resource | pulumi.Input<pulumi.Resource>[];
  const list = (x: Deps): pulumi.Input<pulumi.Resource>[] =>
    Array.isArray(x) ? [...x, ...more] : [x, ...more];
  if (Array.isArray(d)) return list(d);
  if (pulumi.Resource.isInstance(d)) return list(d);
  if (pulumi.Output.isInstance(d)) return (d as pulumi.Output<Deps>).apply(list);
  const later: Promise<pulumi.Input<pulumi.Resource>[]> = (d as Promise<Deps>).then(list);
  return later;
}

export interface HostArgs {
  /** The validated tenant (host connection, chains, subnet). */
  spec: TenantSpec;
  /** Private key of `spec.host.user` (secret). */
  privateKey: pulumi.Input<string>;
}

/** The connection every remote.Command of the tenant uses. */
export function connectionOf(
  host: HostSpec,
  privateKey: pulumi.Input<string>,
): types.input.remote.ConnectionArgs {
  return {
    host: host.address,
    port: host.port,
    user: host.user,
    privateKey: pulumi.secret(privateKey),
    ...(host.hostKey !== undefined ? { hostKey: host.hostKey } : {}),
    dialErrorLimit: 3,
    perDialTimeout: 15,
  };
}

/**
 * Common inputs of every command: the script in the command text (never secrets; those go on
 * stdin), no `update` (the provider then re-runs the idempotent create script with the new
 * inputs), and no environment (it needs AcceptEnv on sshd).
 */
export function commandArgs(link: HostLink, pair: ScriptPair): remote.CommandArgs {
  return {
    connection: link.connection,
    create: remoteBash(pair.create, link.sudo),
    ...(pair.delete !== undefined ? { delete: remoteBash(pair.delete, link.sudo) } : {}),
    addPreviousOutputInEnv: false,
  };
}

/**
 * Host (`incus-tenant:host:Host`): owns the tenant's SSH link and the host-level commands
 * `-guard`, then `-forwarding` and `-chains`, then `-persistence`. Waits on `opts.dependsOn`
 * (the network approval).
 */
export class Host extends pulumi.ComponentResource {
  /** Connection for the tenant's commands. */
  readonly connection: types.input.remote.ConnectionArgs;
  /** Run commands through sudo. */
  readonly sudo: boolean;
  /** Connection and sudo together: what every other component gets as `host`. */
  readonly link: HostLink;
  /** Commands later components must wait for (chains exist, guard in place). */
  readonly ready: pulumi.Resource[];

  constructor(name: string, args: HostArgs, opts?: pulumi.ComponentResourceOptions) {
    super(TYPES.host, name, {}, opts);
    const { spec } = args;
    this.connection = connectionOf(spec.host, args.privateKey);
    this.sudo = spec.host.sudo;
    this.link = { connection: this.connection, sudo: this.sudo };
    const cmd = (key: HostCommand, pair: ScriptPair, ...previous: pulumi.Resource[]): remote.Command =>
      new remote.Command(childName.hostCommand(name, key), commandArgs(this.link, pair), {
        parent: this,
        dependsOn: after(opts, ...previous),
      });
    const [guardKey, forwardingKey, chainsKey, persistenceKey] = HOST_COMMANDS;
    const guard = cmd(guardKey, renderGuard(spec));
    const forwarding = cmd(forwardingKey, renderForwarding(spec), guard);
    const chains = cmd(chainsKey, renderChains(spec), guard);
    const persistence = cmd(persistenceKey, renderPersistence(), chains);
    this.ready = [guard, forwarding, chains, persistence];
    this.registerOutputs({});
  }
}
