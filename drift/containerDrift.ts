/**
 * Live drift of the tenant's containers (`incus list --format json`): status, eth0 and its
 * address, privileged/protection, proxy devices, disks; and containers labelled for the tenant
 * that the stack does not declare.
 */
import type { TenantSpec } from "../model/types";
import type { DriftItem, LiveState } from "./read";
import { commandName } from "../components/names";

/** Container drift: each declared container against its live instance, then unknown labelled ones. */
export function containerDrift(spec: TenantSpec, live: LiveState): DriftItem[] {
  const items: DriftItem[] = [];
  const byName = new Map(live.containers.map((c) => [c.name, c]));
  for (const c of spec.containers) {
    const l = byName.get(c.name);
    const base = {
      resource: `container ${c.name}`,
      kind: "container" as const,
      command: commandName.instance(spec.name, c.name),
    };
    if (!l) {
      items.push({ ...base, change: "missing", text: `container ${c.name} ${c.ipv4}`, details: [] });
      continue;
    }
    const diffs: string[] = [];
    const ne = (what: string, want: string, got: string | undefined): void => {
      if (want !== (got ?? "(none)")) diffs.push(`${what} ${want} != live ${got ?? "(none)"}`);
    };
    ne("status", "Running", l.status);
    const eth0 = l.devices.eth0;
    if (eth0?.type !== "nic") diffs.push("eth0 nic missing live");
    else {
      ne("eth0 network", spec.network.bridge, eth0.network);
      ne("ipv4", c.ipv4, eth0["ipv4.address"]);
    }
    if (l.status === "Running" && !l.addresses.includes(c.ipv4))
      diffs.push(`ipv4 ${c.ipv4} not held live (eth0 has ${l.addresses.join(", ") || "no address"})`);
    ne("privileged", String(c.privileged), l.config["security.privileged"] ?? "false");
    ne("protection", String(c.protect), l.config["security.protection.delete"] ?? "false");
    for (const [name, d] of Object.entries(l.devices))
      if (d.type === "proxy")
        diffs.push(`proxy device ${name} present live (NAT rules replace proxy devices)`);
    for (const d of c.devices) {
      const ld = l.devices[d.name];
      if (ld?.type !== "disk") diffs.push(`disk ${d.name} missing live`);
      else
        for (const [k, v] of [
          ["source", d.source],
          ["path", d.path],
          ["readonly", String(d.readonly)],
        ] as const)
          ne(`disk ${d.name} ${k}`, v, ld[k] ?? (k === "readonly" ? "false" : undefined));
    }
    for (const [name, d] of Object.entries(l.devices))
      if (d.type === "disk" && name !== "root" && !c.devices.some((x) => x.name === name))
        diffs.push(`disk ${name} present live (not in the stack)`);
    if (diffs.length > 0)
      items.push({
        ...base,
        change: "changed",
        text: `container ${c.name}: ${diffs.length === 1 ? diffs[0] : `${diffs.length} differences`}`,
        details: diffs.length > 1 ? diffs : [],
      });
  }
  for (const l of live.containers) {
    if (
      l.config["user.incus-tenant.tenant"] === spec.name &&
      !spec.containers.some((c) => c.name === l.name)
    ) {
      items.push({
        resource: `container ${l.name}`,
        kind: "container",
        change: "extra",
        text: `container ${l.name} (labelled for tenant ${spec.name}, not in the stack)`,
        details: [],
      });
    }
  }
  return items;
}
