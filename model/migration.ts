/**
 * The `migration` stack section: move containers of the tenant from an LXD host to this Incus
 * host (runbook 002, "Container Migration (LXD to Incus)"). Shapes (zod), cross-field problems
 * with field paths, and the derived, immutable MigrationSpec.
 *
 * Every migration command runs on the destination (Incus) host. It reaches the source host over
 * SSH (key on stdin: secret config `migrationSourceKey`, required; never the host's key) for what needs
 * LXD itself (versions, usage, trust, rsync of data), and the source LXD through an `incus
 * remote` for the containers (copy, stop, start).
 *
 * Host data of a container (`data.<c>`) moves in one of two modes (./migrationData.ts): `copy`,
 * seed 002's rule and the default when no disk device of the container has `destination` as its
 * source: staged on this host (default /opt/gbo/tenants/<tenant>/<c>), then copied into the
 * container's own filesystem at `path` (default /opt/gbo), not mounted; or `disk`: `destination`
 * is the source of a disk device the stack declares (kept for stacks that mount their data).
 */
import { z } from "zod";
import type { ParsedTenant } from "./schema";
import type { Problem } from "./types";
import { host, hostPort, port, remoteName, sshHostKey, userName } from "./primitives";
import { dataModeProblems, MigrationDataSpec, migrationDataSchema, resolveData } from "./migrationData";

export type { MigrationDataMode, MigrationDataSpec } from "./migrationData";
export { DEFAULT_DATA_PATH, defaultDataDestination, migrationDataSchema } from "./migrationData";

/** The secret config key holding the source host's SSH key (required with a migration section; no default). */
export const MIGRATION_SOURCE_KEY = "migrationSourceKey";

/** Where the migration manifest lives on the destination host. */
export const MANIFEST_ROOT = "/var/lib/incus-tenant/migrations";

export const migrationSectionSchema = z
  .object({
    /** The LXD source host, reached over SSH from the destination host. */
    source: z
      .object({
        /** SSH address of the source host. */
        address: host,
        /** SSH port. */
        port: port.default(22),
        /** SSH user; `sudo -n` is used when it is not root. */
        user: userName.default("root"),
        /** Force sudo on or off (default: sudo unless user is root). */
        sudo: z.boolean().optional(),
        /** Pinned SSH host key of the source host ("ssh-ed25519 AAAA..."); required: never reached unpinned. */
        hostKey: sshHostKey,
      })
      .strict(),
    /** LXD's HTTPS address (core.https_address) as the destination reaches it; default <source.address>:8443. */
    lxdAddress: hostPort.optional(),
    /** Pinned SHA-256 fingerprint of LXD's certificate (64 hex digits, colons allowed); checked before `remote add`. */
    lxdFingerprint: z
      .string()
      .regex(
        /^([0-9A-Fa-f]{2}:?){31}[0-9A-Fa-f]{2}$/,
        "must be a SHA-256 fingerprint (64 hex digits, colons allowed)",
      )
      .optional(),
    /** Name of the `incus remote` for the source LXD (never a built-in remote: "local", "images"). */
    remote: remoteName.default("lxd-source"),
    /** Source container name = sourcePrefix + destination name (the runbook used "<tenant>-"). */
    sourcePrefix: z
      .string()
      .regex(/^([A-Za-z][A-Za-z0-9-]*)?$/, "must be letters, digits or hyphens, starting with a letter")
      .default(""),
    /** Destination names of the containers to move; each must be declared in `containers`. */
    containers: z.array(z.string()).min(1, "must list at least one container"),
    /** Host data per destination container name. */
    data: z.record(migrationDataSchema).default({}),
    /** How many pre-copies run at the same time. */
    parallel: z
      .number({ invalid_type_error: "must be a number" })
      .int("must be a whole number")
      .min(1, "must be from 1 to 8")
      .max(8, "must be from 1 to 8")
      .default(2),
    /** "per-container": one short stop/refresh/start window per container; "tenant": one window for all. */
    cutover: z
      .enum(["per-container", "tenant"], {
        errorMap: () => ({ message: 'must be "per-container" or "tenant"' }),
      })
      .default("per-container"),
    /** Delete the source containers (and their data dirs) once every container verified. */
    cleanupSource: z.boolean().default(false),
    /** Seconds a started copy may take to hold its address and answer on its ports. */
    healthTimeout: z
      .number({ invalid_type_error: "must be a number" })
      .int("must be a whole number")
      .min(5, "must be from 5 to 900")
      .max(900, "must be from 5 to 900")
      .default(90),
  })
  .strict();

export type RawMigration = z.output<typeof migrationSectionSchema>;

/** One container to move. */
export interface MigrationContainerSpec {
  /** Destination (Incus) name, a container of the tenant. */
  readonly name: string;
  /** Source (LXD) name: sourcePrefix + name. */
  readonly source: string;
  /** Reserved IPv4 of the destination. */
  readonly ipv4: string;
  /** TCP ports that must answer before the copy counts as serving (the container's `ports`). */
  readonly healthPorts: readonly number[];
  /** Host data synced with rsync, and where the container sees it. */
  readonly data?: MigrationDataSpec;
}

/** Derived, immutable migration description (TenantSpec.migration). */
export interface MigrationSpec {
  readonly source: {
    readonly address: string;
    readonly port: number;
    readonly user: string;
    readonly sudo: boolean;
    /** Pinned SSH host key of the source (required). */
    readonly hostKey: string;
  };
  readonly lxdAddress: string;
  /** Pinned sha256 of LXD's certificate, lower-case hex without colons (from `lxdFingerprint`). */
  readonly lxdFingerprint?: string;
  readonly remote: string;
  readonly sourcePrefix: string;
  /** In the order listed in the stack (pre-copy lanes and per-container cutovers follow it). */
  readonly containers: readonly MigrationContainerSpec[];
  readonly parallel: number;
  readonly cutover: "per-container" | "tenant";
  readonly cleanupSource: boolean;
  readonly healthTimeout: number;
  /** /var/lib/incus-tenant/migrations/<tenant> on the destination host. */
  readonly manifestDir: string;
}

/** Cross-field rules of the section (called only when the shapes are valid). */
export function checkMigration(t: ParsedTenant): Problem[] {
  const m = t.migration;
  if (!m) return [];
  const problems: Problem[] = [];
  const seen = new Map<string, number>();
  m.containers.forEach((name, i) => {
    const path = `migration.containers[${i}]`;
    if (!t.containers[name]) problems.push({ path, message: `no container named "${name}" in containers` });
    const first = seen.get(name);
    if (first !== undefined)
      problems.push({ path, message: `"${name}" is already listed at migration.containers[${first}]` });
    else seen.set(name, i);
    const source = `${m.sourcePrefix}${name}`;
    if (source.length > 63)
      problems.push({ path, message: `source name "${source}" is longer than 63 characters` });
  });
  const destinations = new Map<string, string>();
  for (const [name, d] of Object.entries(m.data)) {
    const path = `migration.data.${name}`;
    if (!seen.has(name)) {
      problems.push({ path, message: `"${name}" is not listed in migration.containers` });
      continue;
    }
    const r = resolveData(t, name, d);
    // Paths are normalised by the schema (model/primitives.ts): "//opt" arrives here as "/opt".
    if (d.source.split("/").length < 3) {
      const message = "must be at least two levels deep (it is deleted by cleanupSource)";
      problems.push({ path: `${path}.source`, message });
    }
    if (r.destination.split("/").length < 3) {
      problems.push({ path: `${path}.destination`, message: "must be at least two levels deep" });
    }
    problems.push(...dataModeProblems(t, name, d, r).map((p) => ({ ...p, path: `${path}.${p.path}` })));
    const other = destinations.get(r.destination);
    if (other !== undefined)
      problems.push({
        path: `${path}.destination`,
        message: `${r.destination} is already the destination of "${other}"`,
      });
    else destinations.set(r.destination, name);
  }
  return problems;
}

/** Derivation, called only when there are no problems. */
export function deriveMigration(t: ParsedTenant): MigrationSpec | undefined {
  const m = t.migration;
  if (!m) return undefined;
  return {
    source: {
      address: m.source.address,
      port: m.source.port,
      user: m.source.user,
      sudo: m.source.sudo ?? m.source.user !== "root",
      hostKey: m.source.hostKey,
    },
    lxdAddress: m.lxdAddress ?? `${m.source.address}:8443`,
    ...(m.lxdFingerprint !== undefined
      ? { lxdFingerprint: m.lxdFingerprint.replace(/:/g, "").toLowerCase() }
      : {}),
    remote: m.remote,
    sourcePrefix: m.sourcePrefix,
    containers: m.containers.map((name) => {
      const c = t.containers[name];
      const d = m.data[name];
      const r = d && resolveData(t, name, d);
      return {
        name,
        source: `${m.sourcePrefix}${name}`,
        ipv4: c.ipv4,
        healthPorts: [...new Set(c.ports)].sort((a, b) => a - b),
        ...(d && r && r.path !== undefined
          ? {
              data: {
                mode: r.mode,
                source: d.source,
                destination: r.destination,
                path: r.path,
                owner: d.owner,
              },
            }
          : {}),
      };
    }),
    parallel: m.parallel,
    cutover: m.cutover,
    cleanupSource: m.cleanupSource,
    healthTimeout: m.healthTimeout,
    manifestDir: `${MANIFEST_ROOT}/${t.name}`,
  };
}
