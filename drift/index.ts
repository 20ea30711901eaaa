/**
 * Live drift: the read-only script `plan --live` runs on the host (one SSH command), the parser
 * of its output, and the comparison of the live host with the desired state of a TenantSpec.
 *
 * The script prints one line per section: `@@itn-live <head> <rc> <stdout> <stderr>`, head =
 * base64 of a JSON description, stdout/stderr base64 (so no file content can forge a marker).
 * Compared: our nat chains and every rule tagged `incus-tenant:<tenant>:`, the INPUT guard,
 * the tenant's containers (`incus list --format json`), the Caddy main file, site files and
 * any other `*.caddy` in the sites folder, zone files (serial ignored) and the Corefile.
 * A difference is reported per resource, `+` missing live (up adds it), `-` extra live,
 * `~` changed; file diffs go from live to desired, so `+` lines are what up would write.
 */
export type { DriftItem, LiveContainer, LiveFile, LiveState } from "./read";
export { parseLive, readCommand, readScript } from "./read";
export { describeRule, diffLive, driftText, liveSerials, unifiedDiff, zoneSerial } from "./drift";
