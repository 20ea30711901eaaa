/**
 * The tenant's network plan (NAT rules, host firewall guard, vhosts, zone records) as readable
 * lines, the diff between the last applied plan and the desired one, its short hash (what an
 * operator approves, octoDNS `--checksum` style) and the mass-change counts (octoDNS' safety
 * threshold). Pure: the program feeds it the previous plan read through a self StackReference.
 */
import { createHash } from "crypto";
import { TenantSpec } from "../model/types";
import { duplicatesText, guardLines } from "../render/iptables";
import { usedKinds } from "../services/registry";

/** One reviewed item: `key` identifies it across plans, `text` is what is applied. */
export interface PlanItem {
  readonly key: string;
  readonly text: string;
}

/** category ("nat", "guard", "vhosts", "zone <name>") → items sorted by key. */
export type NetworkPlan = Readonly<Record<string, readonly PlanItem[]>>;

/** A category of at least this many items is subject to the mass-change threshold. */
export const MASS_CHANGE_MIN_ITEMS = 10;
/** More than this fraction of existing items deleted or changed is a mass change. */
export const MASS_CHANGE_FRACTION = 0.3;

/** Items sorted by key. */
export const sortPlanItems = (items: PlanItem[]): PlanItem[] =>
  [...items].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));

/**
 * The desired network plan of a tenant. Category "nat duplicates" is the adoption step of each
 * NAT rule, described from the spec (the plan is computed at preview, without the host): the
 * rule's confirmation removes the live hand-written PREROUTING rules matching that description
 * (render/iptables.ts `duplicatePattern`), so they go only with the approval of this plan.
 */
export function networkPlan(spec: TenantSpec): NetworkPlan {
  const plan: Record<string, PlanItem[]> = {
    nat: sortPlanItems(
      spec.nat.map((r) => ({
        key: `${r.protocol}/${r.port}`,
        text:
          `DNAT ${r.protocol}/${r.port} → ${r.container} ${r.destination}` +
          `${r.sources.length > 0 ? ` from ${r.sources.join(",")}` : ""} to ${spec.host.publicAddress}` +
          ` on ${spec.host.externalInterface}`,
      })),
    ),
    "nat duplicates": sortPlanItems(
      spec.nat.map((r) => ({ key: `${r.protocol}/${r.port}`, text: `remove ${duplicatesText(r)}` })),
    ),
    guard: guardLines(spec.host.port).map((line, i) => ({ key: `INPUT#${i + 1}`, text: line })),
  };
  for (const { kind, service } of usedKinds(spec)) Object.assign(plan, kind.networkPlan?.(service));
  return plan;
}

/** Mass-change count of one category. */
export interface MassChange {
  readonly category: string;
  /** Items in the last applied plan. */
  readonly existing: number;
  /** Of those, deleted or changed. */
  readonly touched: number;
  /** True when the category is big enough and the touched fraction exceeds the threshold. */
  readonly exceeds: boolean;
}

export interface PlanDiff {
  /** Readable lines: `+ added`, `- removed`, `~ old => new`, grouped by category. Empty = no change. */
  readonly lines: readonly string[];
  /** 12 hex chars of sha256 over the lines: what `incus-tenant:approveNetworkPlan` must equal. */
  readonly hash: string;
  readonly mass: readonly MassChange[];
}

/** Parses a previous plan from stack outputs; anything malformed counts as "nothing applied". */
export function asNetworkPlan(value: unknown): NetworkPlan {
  if (value === null || typeof value !== "object" || Array.isArray(value)) return {};
  const out: Record<string, PlanItem[]> = {};
  for (const [category, items] of Object.entries(value as Record<string, unknown>)) {
    if (!Array.isArray(items)) continue;
    out[category] = items.filter(
      (i): i is PlanItem =>
        i !== null &&
        typeof i === "object" &&
        typeof (i as PlanItem).key === "string" &&
        typeof (i as PlanItem).text === "string",
    );
  }
  return out;
}

/** The diff from `previous` (last applied; {} for a first apply) to `next`. */
export function diffNetworkPlans(previous: NetworkPlan, next: NetworkPlan): PlanDiff {
  const lines: string[] = [];
  const mass: MassChange[] = [];
  const categories = [...new Set([...Object.keys(previous), ...Object.keys(next)])].sort();
  for (const category of categories) {
    const before = new Map((previous[category] ?? []).map((i) => [i.key, i.text]));
    const after = new Map((next[category] ?? []).map((i) => [i.key, i.text]));
    const keys = [...new Set([...before.keys(), ...after.keys()])].sort();
    const changes: string[] = [];
    let touched = 0;
    for (const key of keys) {
      const b = before.get(key);
      const a = after.get(key);
      if (b === a) continue;
      if (b === undefined) changes.push(`+ ${a}`);
      else if (a === undefined) {
        changes.push(`- ${b}`);
        touched++;
      } else {
        changes.push(`~ ${b} => ${a}`);
        touched++;
      }
    }
    if (changes.length > 0) lines.push(`${category}:`, ...changes.map((c) => `  ${c}`));
    const existing = before.size;
    mass.push({
      category,
      existing,
      touched,
      exceeds: existing >= MASS_CHANGE_MIN_ITEMS && touched / existing > MASS_CHANGE_FRACTION,
    });
  }
  const hash =
    lines.length === 0 ? "" : createHash("sha256").update(lines.join("\n")).digest("hex").slice(0, 12);
  return { lines, hash, mass };
}

/**
 * Why the network must not be changed, or undefined when it may: a non-empty diff needs
 * `approve` equal to its hash, and a mass change also needs `allowMassChange`.
 */
export function approvalProblem(
  diff: PlanDiff,
  approve: string | undefined,
  allowMassChange: boolean,
): string | undefined {
  if (diff.lines.length === 0) return undefined;
  const shown = `network plan diff (hash ${diff.hash}):\n${diff.lines.join("\n")}`;
  const heavy = diff.mass.filter((m) => m.exceeds);
  if (heavy.length > 0 && !allowMassChange) {
    const what = heavy.map((m) => `${m.category}: ${m.touched} of ${m.existing}`).join(", ");
    return (
      `${shown}\nmass change refused (${what} deleted or changed, more than ${MASS_CHANGE_FRACTION * 100}%): ` +
      `set incus-tenant:allowMassChange true if this is intended`
    );
  }
  if (approve === diff.hash) return undefined;
  const why =
    approve === undefined || approve === ""
      ? "not approved"
      : `approval ${approve} is stale (it does not match this diff)`;
  return (
    `${shown}\nnetwork change ${why}: review the diff above, then ` +
    `pulumi config set incus-tenant:approveNetworkPlan ${diff.hash}`
  );
}
