/**
 * NetworkApproval: the gate every network change waits on. It diffs the desired network plan
 * against the last applied one (read through a self StackReference), logs the readable diff and
 * its hash at preview, and fails, before any network command runs, unless
 * `incus-tenant:approveNetworkPlan` equals that hash (and, for a mass change,
 * `incus-tenant:allowMassChange` is true). An unchanged network plan needs no approval.
 */
import * as pulumi from "@pulumi/pulumi";
import { approvalProblem, asNetworkPlan, diffNetworkPlans, NetworkPlan } from "../approval/networkPlan";
import { TYPES } from "./names";

export interface NetworkApprovalArgs {
  /** The desired network plan (approval/networkPlan.ts). */
  plan: NetworkPlan;
  /** The last applied plan (the stack's own `networkPlan` output), undefined before the first apply. */
  previous: pulumi.Output<unknown>;
  /** `incus-tenant:approveNetworkPlan`: the hash of the reviewed diff. */
  approve?: string;
  /** `incus-tenant:allowMassChange`. */
  allowMassChange: boolean;
}

/**
 * NetworkApproval (`incus-tenant:net:NetworkApproval`): no children; its `hash` settles only
 * when the change is approved, and the Host and Migration wait on it.
 */
export class NetworkApproval extends pulumi.ComponentResource {
  /** Hash of the approved diff ("" when the network plan did not change). */
  readonly hash: pulumi.Output<string>;

  constructor(name: string, args: NetworkApprovalArgs, opts?: pulumi.ComponentResourceOptions) {
    const verdict = args.previous.apply((previous: unknown) => {
      const diff = diffNetworkPlans(asNetworkPlan(previous), args.plan);
      const problem = approvalProblem(diff, args.approve, args.allowMassChange);
      if (problem !== undefined) throw new Error(problem);
      if (diff.lines.length > 0) {
        // The promise settles once the engine took the message; nothing waits on it (as before).
        void pulumi.log.info(`network plan diff (hash ${diff.hash}, approved):\n${diff.lines.join("\n")}`);
      }
      return diff.hash;
    });
    // The verdict is an input of the component itself, so nothing that depends on it is
    // registered (let alone run) unless the change is approved.
    super(TYPES.approval, name, { verdict }, opts);
    this.hash = verdict;
    this.registerOutputs({ hash: verdict });
  }
}
