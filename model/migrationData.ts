/**
 * Host data of a container (`data.<c>`, seed 002's /opt/gbo) moves in one of two modes:
 * - `copy` (002's rule, "Data copied into each container at /opt/gbo/ — NOT disk devices"): two
 *   rsync passes from the source host into a staging directory on this host (`destination`,
 *   default 002's `/opt/gbo/tenants/<tenant>/<c>`; pass 1 while the source serves, pass 2, the
 *   delta, while it is stopped, then equal checksums), then the staged tree is copied into the
 *   copy's own filesystem at `path` (default `/opt/gbo`) before it starts, already owned by
 *   `owner` as the copy numbers it (its /etc/passwd and /etc/group), so its services start with
 *   their data. The staging directory stays (a second copy on the host, like 002's
 *   `/opt/gbo/tenants/...`); nothing mounts it. Regular files, directories and symlinks only.
 * - `disk`: the same two passes into `destination`, which is the source of a disk device the
 *   stack declares for the container (the copy mounts it at the device's path).
 * The default is `disk` when a disk device of the container has `destination` as its source
 * (the stack mounts that directory, so the data stays mounted), `copy` otherwise.
 *
 * Here: the `data.<c>` shape, its defaults, its cross-field problems (paths relative to
 * `migration.data.<c>`) and the derived MigrationDataSpec.
 */
import { z } from "zod";
import type { ParsedTenant } from "./schema";
import type { Problem } from "./types";
import { absPath } from "./primitives";

/** Where the data of a container goes by default in `copy` mode (seed 002's layout). */
export const DEFAULT_DATA_PATH = "/opt/gbo";

/** The staging directory of `copy` mode by default: 002's `/opt/gbo/tenants/<tenant>/<c>`. */
export const defaultDataDestination = (tenant: string, container: string): string =>
  `/opt/gbo/tenants/${tenant}/${container}`;

/** How host data reaches the container (see the file's header). */
export type MigrationDataMode = "copy" | "disk";

/** Host data of one container (002's /opt/gbo on the source host). */
export const migrationDataSchema = z
  .object({
    /** Directory on the source host (the source container's disk device source). */
    source: absPath,
    /**
     * Directory on the destination host: in `disk` mode the source of a disk device of the
     * container; in `copy` mode the staging copy (default `/opt/gbo/tenants/<tenant>/<c>`).
     */
    destination: absPath.optional(),
    /** `copy` (into the container's filesystem, seed 002) or `disk` (mounted); default above. */
    mode: z.enum(["copy", "disk"], { errorMap: () => ({ message: 'must be "copy" or "disk"' }) }).optional(),
    /** `copy` mode: where the data goes inside the container (default /opt/gbo). */
    path: absPath.optional(),
    /** Owner inside the container after the sync ("user:group" or "user"; names or numbers). */
    owner: z
      .string()
      .regex(/^[a-z_0-9][a-z0-9_-]*(:[a-z_0-9][a-z0-9_-]*)?$/, 'must be "user" or "user:group"')
      .default("root:root"),
  })
  .strict();

/** Host data of one container to move (see the file's header for the two modes). */
export interface MigrationDataSpec {
  /** `copy`: copied into the container's filesystem at `path`; `disk`: `destination` mounted there. */
  readonly mode: MigrationDataMode;
  /** Directory on the source host. */
  readonly source: string;
  /** Directory on this host the rsync passes fill (staging copy, or the disk device's source). */
  readonly destination: string;
  /** Where the container sees the data. */
  readonly path: string;
  /** Owner inside the container ("user" or "user:group"). */
  readonly owner: string;
}

/** One `data` entry as the schema gives it. */
type RawData = z.output<typeof migrationDataSchema>;

/** A data entry with its defaults applied (see the file's header). */
export interface ResolvedData {
  readonly mode: MigrationDataMode;
  readonly destination: string;
  /** Where the container sees the data; undefined in `disk` mode without a matching device. */
  readonly path?: string;
  /** The disk device (name) whose source is `destination`, if any. */
  readonly device?: string;
}

/** The disk devices of a container: [name, source, path]. */
const disksOf = (t: ParsedTenant, name: string): [string, string, string][] =>
  Object.entries(t.containers[name]?.devices ?? {})
    .filter(([, dev]) => dev.type === "disk")
    .map(([n, dev]) => [n, String(dev.source), String(dev.path)]);

/** Mode, host directory and container path of one data entry, defaults applied. */
export function resolveData(t: ParsedTenant, name: string, d: RawData): ResolvedData {
  const mounted = disksOf(t, name).find(([, source]) => source === d.destination);
  const mode = d.mode ?? (mounted ? "disk" : "copy");
  const destination = d.destination ?? defaultDataDestination(t.name, name);
  const path = mode === "disk" ? mounted?.[2] : (d.path ?? DEFAULT_DATA_PATH);
  return {
    mode,
    destination,
    ...(path !== undefined ? { path } : {}),
    ...(mounted ? { device: mounted[0] } : {}),
  };
}

/** Problems of one data entry's mode (paths relative to `migration.data.<c>`). */
export function dataModeProblems(t: ParsedTenant, name: string, d: RawData, r: ResolvedData): Problem[] {
  const problems: Problem[] = [];
  if (r.mode === "disk") {
    if (d.destination === undefined)
      problems.push({
        path: "destination",
        message: 'is required with mode "disk" (a disk device\'s source)',
      });
    else if (r.device === undefined)
      problems.push({
        path: "destination",
        message:
          `must be the source of a disk device of container "${name}" ` +
          `(containers.${name}.devices) so the copy mounts it`,
      });
    if (d.path !== undefined)
      problems.push({
        path: "path",
        message: 'is only used with mode "copy" (a disk device has its own path)',
      });
    return problems;
  }
  if (r.device !== undefined)
    problems.push({
      path: "destination",
      message:
        `is the source of disk device "${r.device}" of container "${name}": mode "copy" copies the data ` +
        `into the container (seed 002); remove the device, or set mode "disk" to mount it`,
    });
  const p = r.path ?? DEFAULT_DATA_PATH;
  if (p === "/") problems.push({ path: "path", message: "must not be the container's root directory" });
  const inside = (a: string, b: string): boolean => a === b || a.startsWith(`${b}/`);
  for (const [dev, , mount] of disksOf(t, name))
    if (p !== "/" && (inside(p, mount) || inside(mount, p)))
      problems.push({
        path: "path",
        message: `overlaps disk device "${dev}" mounted at ${mount}: the copied data would be hidden by the mount`,
      });
  return problems;
}
