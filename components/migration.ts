/**
 * Migration: moves containers of the tenant from an LXD host to this Incus host
 * (`incus-tenant:migrate:LxdToIncus`). Children, in order: `-preflight` (fails before touching
 * anything), `-trust`, one `-precopy-<c>` per container (while the sources keep serving, at most
 * `parallel` at a time), the cutover (`-cutover-<c>` per container, after every pre-copy and at
 * most `parallel` at a time; or one `-cutover` for the whole tenant), and `-cleanup`. Every
 * command runs on the destination host and gets the source host's SSH key on stdin (secret;
 * never in the command text).
 */
import * as pulumi from "@pulumi/pulumi";
import { remote, types } from "@pulumi/command";
import { TenantSpec } from "../spec/types";
import {
  renderCleanup,
  renderCutover,
  renderPrecopy,
  renderPreflight,
  renderTrust,
} from "../render/migration";
import { ScriptPair } from "../render/host";
import { commandArgs } from "./host";

export interface MigrationArgs {
  /** The validated tenant; `spec.migration` must be set. */
  spec: TenantSpec;
  /** SSH connection to the destination host (from Host). */
  connection: types.input.remote.ConnectionArgs;
  /** Run through sudo on the destination. */
  sudo: boolean;
  /** Private key the destination host uses to reach the source host (secret). */
  sourceKey: pulumi.Input<string>;
}

export class Migration extends pulumi.ComponentResource {
  /** Destination container name → the command after which it runs on Incus (Containers wait on it). */
  readonly movedBy: Readonly<Record<string, remote.Command>>;
  readonly preflight: remote.Command;
  readonly trust: remote.Command;
  readonly precopies: Readonly<Record<string, remote.Command>>;
  readonly cleanup: remote.Command;

  constructor(name: string, args: MigrationArgs, opts?: pulumi.ComponentResourceOptions) {
    super("incus-tenant:migrate:LxdToIncus", name, {}, opts);
    const { spec } = args;
    const m = spec.migration;
    if (!m) throw new Error("Migration: the tenant has no migration section");
    const cmd = (key: string, pair: ScriptPair, dependsOn: pulumi.Resource[]): remote.Command =>
      new remote.Command(
        `${name}-${key}`,
        // The key travels on stdin only; outputs are marked secret in case a tool ever echoes it.
        { ...commandArgs(args.connection, pair, args.sudo), stdin: pulumi.secret(args.sourceKey) },
        { parent: this, dependsOn, additionalSecretOutputs: ["stdout", "stderr"] },
      );
    this.preflight = cmd("preflight", renderPreflight(spec), []);
    this.trust = cmd("trust", renderTrust(spec), [this.preflight]);
    const precopies: Record<string, remote.Command> = {};
    m.containers.forEach((mc, i) => {
      // Lanes: the i-th pre-copy waits for the (i - parallel)-th, so at most `parallel` run at once.
      const lane = i >= m.parallel ? [precopies[m.containers[i - m.parallel].name]] : [];
      precopies[mc.name] = cmd(`precopy-${mc.name}`, renderPrecopy(spec, mc), [this.trust, ...lane]);
    });
    this.precopies = precopies;
    const all = Object.values(precopies);
    const movedBy: Record<string, remote.Command> = {};
    if (m.cutover === "tenant") {
      const cut = cmd("cutover", renderCutover(spec, m.containers), all);
      for (const mc of m.containers) movedBy[mc.name] = cut;
    } else {
      // Each container its own short window, after every pre-copy; at most `parallel` at once.
      m.containers.forEach((mc, i) => {
        const lane = i >= m.parallel ? [movedBy[m.containers[i - m.parallel].name]] : [];
        movedBy[mc.name] = cmd(`cutover-${mc.name}`, renderCutover(spec, [mc]), [...all, ...lane]);
      });
    }
    this.movedBy = movedBy;
    this.cleanup = cmd("cleanup", renderCleanup(spec), [...new Set(Object.values(movedBy))]);
    this.registerOutputs({});
  }
}
