/**
 * The comparison of the live host (drift/read.ts) with the desired state of a TenantSpec:
 * our nat chains and every rule tagged `incus-tenant:<tenant>:`, the INPUT guard, the tenant's
 * containers, the Caddy main file, site files and any other `*.caddy` in the sites folder, zone
 * files (serial ignored) and the Corefile. A difference is reported per resource, `+` missing
 * live (up adds it), `-` extra live, `~` changed; file diffs go from live to desired, so `+`
 * lines are what up would write.
 */
import type { TenantSpec } from "../model/types";
import { containerDrift } from "./containerDrift";
import { guardDrift, iptablesDrift } from "./firewallDrift";
import type { DriftItem, LiveState } from "./read";
import { usedKinds } from "../services/registry";

export { describeRule } from "./firewallDrift";
export { liveSerials, zoneSerial } from "../services/dns/drift";
export { unifiedDiff } from "./textDiff";

const SIGN: Record<DriftItem["change"], string> = { missing: "+", extra: "-", changed: "~" };

/**
 * Every difference, in a stable order: host chains, NAT, guard, containers, then each service
 * kind (Caddy, zones, Corefile, ...).
 */
export function diffLive(spec: TenantSpec, live: LiveState): DriftItem[] {
  return [
    ...iptablesDrift(spec, live),
    ...guardDrift(spec, live),
    ...containerDrift(spec, live),
    ...usedKinds(spec).flatMap(({ kind, service }) => kind.drift?.(service, spec, live) ?? []),
  ];
}

/** Readable form: `<sign> <text>`, details indented by four spaces. */
export function driftText(items: readonly DriftItem[]): string {
  return items
    .map((i) => [`${SIGN[i.change]} ${i.text}`, ...i.details.map((d) => `    ${d}`)].join("\n"))
    .join("\n");
}
