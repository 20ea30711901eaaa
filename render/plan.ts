/** What `pulumi up` would apply, without the engine: the JSON contract and a readable text form. */
import { TenantSpec } from "../model/types";
import { natLine } from "./nat";
import { servicesPlan } from "./servicesPlan";

/** The `plan --json` document (later issues add keys). */
export interface PlanDocument {
  stack: string;
  tenant: string;
  environment: "prod" | "stage";
  subnet: string;
  hostnames: Record<string, string>;
  containers: {
    name: string;
    ipv4: string;
    privileged: boolean;
    protect: boolean;
    devices: { name: string; type: "disk"; source: string; path: string; readonly: boolean }[];
  }[];
  nat: { protocol: "tcp" | "udp"; port: number; container: string; destination: string; sources: string[] }[];
}

export function planDocument(stack: string, spec: TenantSpec): PlanDocument & Record<string, unknown> {
  return {
    stack,
    tenant: spec.name,
    environment: spec.environment,
    subnet: spec.network.subnet,
    hostnames: { ...spec.hostnames },
    containers: spec.containers.map((c) => ({
      name: c.name,
      ipv4: c.ipv4,
      privileged: c.privileged,
      protect: c.protect,
      devices: c.devices.map((d) => ({
        name: d.name,
        type: "disk" as const,
        source: d.source,
        path: d.path,
        readonly: d.readonly,
      })),
    })),
    nat: spec.nat.map((r) => ({
      protocol: r.protocol,
      port: r.port,
      container: r.container,
      destination: r.destination,
      sources: [...r.sources],
    })),
    ...servicesPlan(spec),
  };
}

/** Readable plan for operators. */
export function planText(stack: string, spec: TenantSpec): string {
  const width = Math.max(...spec.containers.map((c) => c.name.length));
  const lines = [
    `stack ${stack}: tenant ${spec.name} (${spec.environment}) ` +
      `on ${spec.host.user}@${spec.host.address}:${spec.host.port}, ` +
      `bridge ${spec.network.bridge} ${spec.network.subnet}`,
    `public names: ${Object.values(spec.hostnames).join(", ")}`,
    "",
    `containers (${spec.containers.length}):`,
    ...spec.containers.map((c) => {
      const flags = [
        c.privileged ? "privileged" : "",
        c.protect ? "protected" : "",
        ...c.devices.map((d) => `disk ${d.source} -> ${d.path}${d.readonly ? " (ro)" : ""}`),
      ].filter(Boolean);
      return (
        `  ${c.name.padEnd(width)}  ${c.ipv4.padEnd(15)}  ${c.image}` +
        `${flags.length > 0 ? `  [${flags.join(", ")}]` : ""}`
      );
    }),
    "",
    `nat on ${spec.host.externalInterface} (${spec.nat.length} rules, chain ${spec.chains.prerouting}):`,
    ...spec.nat.map((r) => `  ${natLine(r)}`),
  ];
  return lines.join("\n");
}
