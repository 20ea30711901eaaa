/**
 * The one renderer of a container's configuration: the `incus config` commands that make an
 * instance (the shell variable "$name") what the stack declares. The Container script
 * (render/container.ts) runs them when the stored hash differs; the migration cutover
 * (render/migration/cutover.ts) runs them on the fresh copy. The hash both store in
 * `user.incus-tenant.hash` is computed from these lines alone, so a setting added here changes
 * it for created and migrated containers alike, and a migrated container's next Container run
 * sees a matching hash (no snapshot, no restart).
 */
import { createHash } from "crypto";
import { ContainerSpec, TenantSpec } from "../model/types";
import { shArgs, shq } from "./shell";

/** The configuration of one container, one `incus config` command each. */
export interface ContainerConfig {
  /** Privilege, autostart and the owning tenant. */
  readonly settings: string;
  /** Delete protection (the cutover sets it last, once the copy is verified). */
  readonly protection: string;
  /** The eth0 nic on the tenant bridge at the reserved address (added after removing the old one). */
  readonly nic: string;
  /** One disk device each, in declaration order (added after removing the old one). */
  readonly disks: readonly string[];
  /** The declared device names, space-separated (stored in `user.incus-tenant.devices`). */
  readonly declared: string;
}

/** The configuration commands of container `c` (the image only matters at creation: not here). */
export function containerConfig(spec: TenantSpec, c: ContainerSpec): ContainerConfig {
  const set = `incus config set "$name"`;
  return {
    settings:
      `${set} security.privileged=${c.privileged} boot.autostart=true ` +
      `user.incus-tenant.tenant=${shq(spec.name)}`,
    protection: `${set} security.protection.delete=${c.protect}`,
    nic:
      `incus config device add "$name" eth0 nic ` +
      `${shArgs(`network=${spec.network.bridge}`, "name=eth0", `ipv4.address=${c.ipv4}`)} >/dev/null`,
    disks: c.devices.map(
      (d) =>
        `incus config device add "$name" ${shq(d.name)} disk ` +
        `${shArgs(`source=${d.source}`, `path=${d.path}`, `readonly=${d.readonly}`)} >/dev/null`,
    ),
    declared: c.devices.map((d) => d.name).join(" "),
  };
}

/** Every command of {@link containerConfig}, in a fixed order: what the hash is computed from. */
export function containerConfigLines(spec: TenantSpec, c: ContainerSpec): string[] {
  const cfg = containerConfig(spec, c);
  return [cfg.settings, cfg.protection, cfg.nic, ...cfg.disks];
}

/** Short hash of the rendered configuration ({@link containerConfigLines}) and nothing else. */
export function containerHash(spec: TenantSpec, c: ContainerSpec): string {
  const text = containerConfigLines(spec, c).join("\n");
  return createHash("sha256").update(text).digest("hex").slice(0, 16);
}

/** The command that records the declared devices and the hash: the last step of a configuration. */
export function markLine(spec: TenantSpec, c: ContainerSpec): string {
  return (
    `incus config set "$name" user.incus-tenant.devices=${shq(containerConfig(spec, c).declared)} ` +
    `user.incus-tenant.hash=${containerHash(spec, c)}`
  );
}
