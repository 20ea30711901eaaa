/**
 * The raw stack config schema (zod). Shapes and per-field formats only; rules that relate
 * fields to each other live in model/rules/. Objects are strict so a typo is an error.
 */
import { z } from "zod";
import { servicesShape } from "./services";
import { migrationSectionSchema } from "./migration";
import {
  absPath,
  cidr,
  deviceName,
  dnsLabel,
  dnsName,
  host,
  iface,
  imageRef,
  ipv4,
  port,
  sshHostKey,
  userName,
} from "./primitives";

const protocol = z.enum(["tcp", "udp"], { errorMap: () => ({ message: 'must be "tcp" or "udp"' }) });

/** One device of a container. Only `disk` is supported; `proxy` parses so it can be refused by name. */
export const deviceSchema = z
  .object({
    /** Device type: "disk" (proxy devices are refused: NAT rules replace them). */
    type: z.string(),
    /** Host path (disk), normalised. */
    source: absPath.optional(),
    /** Path inside the container (disk), normalised. */
    path: absPath.optional(),
    /** Mount read-only (disk). */
    readonly: z.boolean().optional(),
  })
  .passthrough();

export const containerSchema = z
  .object({
    /** Reserved IPv4 inside the tenant subnet (DHCP reservation on the eth0 nic). */
    ipv4,
    /** Image to create the container from; defaults to the tenant's `image`. */
    image: imageRef.optional(),
    /** security.privileged (only `system` needs it). */
    privileged: z.boolean().default(false),
    /** security.protection.delete; defaults to true in prod, false in stage. */
    protect: z.boolean().optional(),
    /** TCP/UDP ports the container's services listen on (NAT and health checks use them). */
    ports: z.array(port).default([]),
    /** Extra devices by Incus device name (disk only). */
    devices: z.record(deviceName, deviceSchema).default({}),
  })
  .strict();

export const natSchema = z
  .object({
    /** External ports on the host's external interface. */
    ports: z.array(port).min(1, "must list at least one port"),
    /** "tcp", "udp" or both. */
    protocol: z
      .union([protocol, z.array(protocol).min(1, "must list at least one protocol")], {
        errorMap: () => ({ message: 'must be "tcp", "udp" or a list of them' }),
      })
      .default("tcp"),
    /** Target container name. */
    to: z.string(),
    /** Port inside the container when it differs from the external one (single-port rules only). */
    toPort: port.optional(),
    /** Source networks allowed to use the rule; absent means any source. */
    sources: z.array(cidr).min(1, "must list at least one network, or be left out").optional(),
    /** Explicit opt-in to expose an internal (sensitive) port to any source. */
    public: z.boolean().optional(),
  })
  .strict();

export const tenantSchema = z
  .object({
    /** Tenant name: lower-case, 1-16 chars; names the iptables chains (ITN-<name>-...). */
    name: z
      .string()
      .regex(
        /^[a-z][a-z0-9-]{0,15}$/,
        "must be 1-16 lower-case letters, digits or hyphens, starting with a letter",
      ),
    /** "prod" or "stage": derives the public names (chat.<domain> vs chat.stage.<domain>). */
    environment: z.enum(["prod", "stage"], { errorMap: () => ({ message: 'must be "prod" or "stage"' }) }),
    /** The tenant's base domain (example.com). */
    domain: dnsName,
    /** Labels of the public names derived from environment + domain. */
    hostnames: z.array(dnsLabel).default(["chat", "system", "alm", "login"]),
    /** The Incus host, reached over SSH. */
    host: z
      .object({
        /** SSH address of the host. */
        address: host,
        /** SSH port; never DNATed, always allowed by the INPUT guard. */
        port: port.default(22),
        /** SSH user; commands run through `sudo -n` when it is not root. */
        user: userName.default("root"),
        /** Force sudo on or off (default: sudo unless user is root). */
        sudo: z.boolean().optional(),
        /** Pinned SSH host key ("ssh-ed25519 AAAA..."); required in prod (model/rules/network.ts checkHost). */
        hostKey: sshHostKey.optional(),
        /** The host's public interface: every DNAT rule is bound to it with -i. */
        externalInterface: iface,
        /** Public IPv4 the NAT rules answer on (defaults to address when that is an IPv4). */
        publicAddress: ipv4.optional(),
        /**
         * Seconds a NAT change stays in force without a confirmation over a NEW SSH connection;
         * then the host restores the previous rules by itself (iptables-apply pattern).
         */
        confirmTimeout: z
          .number({ invalid_type_error: "must be a number of seconds" })
          .int("must be a whole number of seconds")
          .min(5, "must be from 5 to 600 seconds")
          .max(600, "must be from 5 to 600 seconds")
          .default(30),
      })
      .strict(),
    /** The tenant bridge (must exist on the host) and its subnet. */
    network: z
      .object({
        /** Incus managed bridge name. */
        bridge: iface,
        /** Subnet of the bridge, e.g. 10.0.2.0/24. */
        subnet: cidr,
        /** Bridge address; defaults to the first address of the subnet. */
        gateway: ipv4.optional(),
      })
      .strict(),
    /** Incus storage pool for the containers' root disks. */
    storagePool: z
      .string()
      .regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/, "must be a storage pool name")
      .default("default"),
    /** Default image for containers. */
    image: imageRef.default("images:debian/12"),
    /** The containers, by name. */
    containers: z
      .record(containerSchema)
      .refine((c) => Object.keys(c).length > 0, { message: "must declare at least one container" }),
    /** NAT rules: external port(s) → container. */
    nat: z.array(natSchema).default([]),
    /** Caddy, DNS and Vault sections (model/services.ts). */
    ...servicesShape,
    /** Move containers from an LXD host to this one (model/migration.ts). */
    migration: migrationSectionSchema.optional(),
  })
  .strict();

export type RawTenant = z.input<typeof tenantSchema>;
export type ParsedTenant = z.output<typeof tenantSchema>;
