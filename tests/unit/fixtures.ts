/** Small valid tenant used as the base of mutation tests. */
import * as path from "path";
import { readStackTenant } from "../../model/stackfile";

export const ROOT = path.resolve(__dirname, "../..");

/** The documentation host key pinned by Pulumi.prod.yaml and Pulumi.stage.yaml (a throwaway key; prod requires one). */
export const DOC_HOST_KEY =
  "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIA0SfBPFxbYAph/RZIKnsbutUYssfeeRAp3KfaMXLxQO";

export function baseTenant(): Record<string, any> {
  return {
    name: "acme",
    environment: "prod",
    domain: "example.com",
    host: {
      address: "203.0.113.10",
      port: 22,
      user: "admin",
      hostKey: DOC_HOST_KEY,
      externalInterface: "eth0",
    },
    network: { bridge: "incusbr0", subnet: "10.0.2.0/24" },
    containers: {
      proxy: { ipv4: "10.0.2.10", ports: [80, 443] },
      system: { ipv4: "10.0.2.11", privileged: true, ports: [5858] },
      tables: { ipv4: "10.0.2.12", ports: [5432] },
      dns: { ipv4: "10.0.2.22", ports: [53] },
      "alm-ci": { ipv4: "10.0.2.19" },
    },
    nat: [
      { ports: [80, 443], protocol: "tcp", to: "proxy" },
      { ports: [53], protocol: ["tcp", "udp"], to: "dns" },
    ],
  };
}

/** The raw tenant of a committed stack file. */
export function stackTenant(stack: "prod" | "stage"): Record<string, any> {
  return readStackTenant(path.join(ROOT, `Pulumi.${stack}.yaml`)) as Record<string, any>;
}

/** A documentation ed25519 key (valid blob) for migration sources (and hosts where any valid key does). */
export const SOURCE_HOST_KEY =
  "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIH9SAhCChO7say0J6jqQmnjplHi220VVqX0s3GxYGCCm";

/**
 * baseTenant plus a `files` container with a data disk, and a migration (prefix `acme-`) of the
 * listed containers; `withData` also syncs the files container's host data.
 */
export function migratingTenant(containers: readonly string[], withData: boolean): Record<string, any> {
  const t = baseTenant();
  t.containers.files = {
    ipv4: "10.0.2.42",
    ports: [80],
    devices: { data: { type: "disk", source: "/opt/gbo/tenants/acme/files", path: "/opt/gbo" } },
  };
  t.migration = {
    source: { address: "192.0.2.5", hostKey: SOURCE_HOST_KEY },
    sourcePrefix: "acme-",
    containers: [...containers],
    ...(withData
      ? {
          data: {
            files: {
              source: "/opt/gbo/files",
              destination: "/opt/gbo/tenants/acme/files",
              owner: "gbuser:gbuser",
            },
          },
        }
      : {}),
  };
  return t;
}
