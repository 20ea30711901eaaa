/** The derived, immutable tenant description every renderer and component consumes. */
import type { ServicesSpec } from "./services";
import type { MigrationSpec } from "./migration";

/** How the program reaches the host. */
export interface HostSpec {
  readonly address: string;
  readonly port: number;
  readonly user: string;
  /** Prefix commands with `sudo -n` (user is not root, unless overridden). */
  readonly sudo: boolean;
  readonly hostKey?: string;
  readonly externalInterface: string;
  /** Public IPv4 the NAT answers on ("" when the address is a host name and none was given). */
  readonly publicAddress: string;
  /** Seconds before an unconfirmed NAT change is rolled back on the host. */
  readonly confirmTimeout: number;
}

/** A disk device: a host path mounted into the container. */
export interface DiskDeviceSpec {
  readonly name: string;
  readonly source: string;
  readonly path: string;
  readonly readonly: boolean;
}

/** One Incus container of the tenant. */
export interface ContainerSpec {
  readonly name: string;
  readonly ipv4: string;
  readonly image: string;
  readonly privileged: boolean;
  /** security.protection.delete */
  readonly protect: boolean;
  /** Service ports, ascending. */
  readonly ports: readonly number[];
  /** Disk devices, by name. */
  readonly devices: readonly DiskDeviceSpec[];
}

/** One DNAT rule: one external port and protocol. */
export interface NatRuleSpec {
  /** Stable key, e.g. "tcp-443": names the component and tags the iptables rule. */
  readonly key: string;
  readonly protocol: "tcp" | "udp";
  readonly port: number;
  readonly container: string;
  readonly destinationIp: string;
  readonly destinationPort: number;
  /** "10.0.2.10:443" */
  readonly destination: string;
  /** Allowed source networks; empty = any source. */
  readonly sources: readonly string[];
}

/** iptables chains the program owns (never anybody else's). */
export interface ChainNames {
  /** nat table, jumped from PREROUTING: the DNAT rules. */
  readonly prerouting: string;
  /** nat table, jumped from POSTROUTING: MASQUERADE for the subnet. */
  readonly postrouting: string;
}

export interface TenantSpec {
  readonly name: string;
  readonly environment: "prod" | "stage";
  readonly domain: string;
  /** "example.com" in prod, "stage.example.com" in stage. */
  readonly zoneSuffix: string;
  /** label → public name, e.g. chat → chat.stage.example.com */
  readonly hostnames: Readonly<Record<string, string>>;
  readonly host: HostSpec;
  readonly network: { readonly bridge: string; readonly subnet: string; readonly gateway: string };
  readonly storagePool: string;
  /** Containers sorted by name. */
  readonly containers: readonly ContainerSpec[];
  /** NAT rules sorted by protocol then port. */
  readonly nat: readonly NatRuleSpec[];
  readonly chains: ChainNames;
  /** Caddy vhosts, DNS zones and Vault paths (model/services.ts). */
  readonly services: ServicesSpec;
  /** LXD → Incus migration of some containers (model/migration.ts). */
  readonly migration?: MigrationSpec;
}

/** A problem found in the config, with the field path it concerns. */
export interface Problem {
  readonly path: string;
  readonly message: string;
}
