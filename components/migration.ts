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
import { remote } from "@pulumi/command";
import { TenantSpec } from "../model/types";
import {
  renderCleanup,
  renderCutover,
  renderPrecopy,
  renderPreflight,
  renderTrust,
} from "../render/migration";
import { ScriptPair } from "../render/host";
import { after, commandArgs, HostLink } from "./host";
import { childName, migrationStep, TYPES } from "./names";

export interface MigrationArgs {
  /** The validated tenant; `spec.migration` must be set. */
  spec: TenantSpec;
  /** How to reach the destination host (from Host). */
  host: HostLink;
  /** Private key the destination host uses to reach the source host (secret). */
  sourceKey: pulumi.Input<string>;
}

/**
 * Migration (`incus-tenant:migrate:LxdToIncus`): the steps above as commands
 * `<name>-<step>`. Waits on `opts.dependsOn` (the network approval), not on the host's NAT setup.
 */
export class Migration extends pulumi.ComponentResource {
  /** Destination container name → the command after which it runs on Incus (Containers wait on it). */
  readonly movedBy: Readonly<Record<string, remote.Command>>;
  /** Checks both hosts; touches nothing. */
  readonly preflight: remote.Command;
  /** Makes the source a trusted remote of the destination (its delete undoes that). */
  readonly trust: remote.Command;
  /** Destination container name → its pre-copy. */
  readonly precopies: Readonly<Record<string, remote.Command>>;
  /** After every cutover: deletes the sources (`cleanupSource`) or checks they are stopped. */
  readonly cleanup: remote.Command;

  constructor(name: string, args: MigrationArgs, opts?: pulumi.ComponentResourceOptions) {
    super(TYPES.migration, name, {}, opts);
    const { spec } = args;
    const m = spec.migration;
    if (!m) throw new Error("Migration: the tenant has no migration section");
    const cmd = (key: string, pair: ScriptPair, dependsOn: pulumi.Resource[]): remote.Command =>
      new remote.Command(
        childName.migrationStep(name, key),
        // The key travels on stdin only; outputs are marked secret in case a tool ever echoes it.
        { ...commandArgs(args.host, pair), stdin: pulumi.secret(args.sourceKey) },
        { parent: this, dependsOn: after(opts, ...dependsOn), additionalSecretOutputs: ["stdout", "stderr"] },
      );
    this.preflight = cmd(migrationStep.preflight, renderPreflight(spec), []);
    this.trust = cmd(migrationStep.trust, renderTrust(spec), [this.preflight]);
    const precopies: Record<string, remote.Command> = {};
    m.containers.forEach((mc, i) => {
      // Lanes: the i-th pre-copy waits for the (i - parallel)-th, so at most `parallel` run at once.
      const lane = i >= m.parallel ? [precopies[m.containers[i - m.parallel].name]] : [];
      precopies[mc.name] = cmd(migrationStep.precopy(mc.name), renderPrecopy(spec, mc), [
        this.trust,
        ...lane,
      ]);
    });
    this.precopies = precopies;
    const all = Object.values(precopies);
    const movedBy: Record<string, remote.Command> = {};
    if (m.cutover === "tenant") {
      const cut = cmd(migrationStep.cutover, renderCutover(spec, m.containers), all);
      for (const mc of m.containers) movedBy[mc.name] = cut;
    } else {
      // Each container its own short window, after every pre-copy; at most `parallel` at once.
      m.containers.forEach((mc, i) => {
        const lane = i >= m.parallel ? [movedBy[m.containers[i - m.parallel].name]] : [];
        movedBy[mc.name] = cmd(migrationStep.cutoverOf(mc.name), renderCutover(spec, [mc]), [
          ...all,
          ...lane,
        ]);
      });
    }
    this.movedBy = movedBy;
    this.cleanup = cmd(migrationStep.cleanup, renderCleanup(spec), [...new Set(Object.values(movedBy))]);
    this.registerOutputs({});
  }
}
