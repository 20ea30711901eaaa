/**
 * Host: the one typed SSH connection of a tenant, and the host-level state every other
 * component relies on (ip forwarding, our NAT chains, the SSH guard, persistence).
 */
import * as pulumi from "@pulumi/pulumi";
import { remote, types } from "@pulumi/command";
import { HostSpec, TenantSpec } from "../spec/types";
import { renderChains, renderForwarding, renderGuard, renderPersistence, ScriptPair } from "../render/host";
import { remoteBash } from "../render/shell";

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
export function commandArgs(
  conn: types.input.remote.ConnectionArgs,
  pair: ScriptPair,
  sudo: boolean,
): remote.CommandArgs {
  return {
    connection: conn,
    create: remoteBash(pair.create, sudo),
    ...(pair.delete !== undefined ? { delete: remoteBash(pair.delete, sudo) } : {}),
    addPreviousOutputInEnv: false,
  };
}

export class Host extends pulumi.ComponentResource {
  /** Connection for the tenant's commands. */
  readonly connection: types.input.remote.ConnectionArgs;
  /** Run commands through sudo. */
  readonly sudo: boolean;
  /** Commands later components must wait for (chains exist, guard in place). */
  readonly ready: pulumi.Resource[];

  constructor(name: string, args: HostArgs, opts?: pulumi.ComponentResourceOptions) {
    super("incus-tenant:host:Host", name, {}, opts);
    const { spec } = args;
    this.connection = connectionOf(spec.host, args.privateKey);
    this.sudo = spec.host.sudo;
    const cmd = (key: string, pair: ScriptPair, dependsOn: pulumi.Resource[] = []): remote.Command =>
      new remote.Command(`${name}-${key}`, commandArgs(this.connection, pair, this.sudo), {
        parent: this,
        dependsOn,
      });
    const guard = cmd("guard", renderGuard(spec));
    const forwarding = cmd("forwarding", renderForwarding(spec), [guard]);
    const chains = cmd("chains", renderChains(spec), [guard]);
    const persistence = cmd("persistence", renderPersistence(), [chains]);
    this.ready = [guard, forwarding, chains, persistence];
    this.registerOutputs({});
  }
}
