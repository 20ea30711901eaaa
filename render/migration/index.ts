/**
 * Scripts of the LXD → Incus migration (model/migration.ts). Pure text, deterministic. They all
 * run on the destination (Incus) host and read the source host's SSH key on stdin (never in the
 * command text); the source host is reached with `ssh` (versions, usage, trust, rsync) and the
 * source LXD through the `incus remote` made by the trust step (copy, stop, start).
 *
 * State lives where a re-run finds it: the copy carries `user.incus-tenant.migration=<remote>:<source>`
 * (so a half-finished run resumes with an incremental `--refresh` instead of starting over) and
 * `user.incus-tenant.migrated=true` once cut over and verified; the manifest directory on the
 * destination host (/var/lib/incus-tenant/migrations/<tenant>/) holds the source config and
 * devices, the per-container state and what was dropped from each copy.
 */
export { FREE_FACTOR_TENTHS, MARK_KEY, MOVED_KEY } from "./common";
export { renderPreflight, renderTrust } from "./preflight";
export { renderPrecopy } from "./precopy";
export { renderCleanup, renderCutover } from "./cutover";
