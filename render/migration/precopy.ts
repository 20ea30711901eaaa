/** Pre-copy of one container while its source keeps serving. */
import { TenantSpec } from "../../model/types";
import { MigrationContainerSpec } from "../../model/migration";
import { ScriptPair } from "../snippets";
import { script } from "../shell";
import {
  containerOf,
  containerVars,
  copyWithProgress,
  MOVED_KEY,
  need,
  overridesLines,
  prelude,
  rsyncLines,
  stripLines,
} from "./common";

/**
 * Pre-copy one container while its source keeps serving (resumes a killed copy with --refresh),
 * then the first data pass.
 */
export function renderPrecopy(spec: TenantSpec, mc: MigrationContainerSpec): ScriptPair {
  const m = need(spec);
  const c = containerOf(spec, mc.name);
  const index = m.containers.findIndex((x) => x.name === mc.name);
  const nth = `pre-copy ${index + 1} of ${m.containers.length}`;
  return {
    create: script(`migration pre-copy of ${mc.source} -> ${mc.name} (tenant ${spec.name})`, [
      ...prelude(spec, m, { dir: true, pool: true, bridge: true, rsync: mc.data !== undefined }),
      containerVars(mc, ["ref", "mark", "size"]),
      `precopy() {`,
      `  ops_wait "$name"`,
      `  if incus info "$name" >/dev/null 2>&1 && [ "$(incus config get "$name" ${MOVED_KEY})" = true ]; then ` +
        `log "$name: already moved, nothing to pre-copy"; return 0; fi`,
      ...overridesLines().map((l) => `  ${l}`),
      `  printf '%s\n' "\${over[@]}" > "$dir/$name.over"`,
      `  if incus info "$name" >/dev/null 2>&1; then`,
      `    log "$name: ${nth}: incremental refresh of the copy from an earlier run ($(human "$size") on the source)"`,
      ...copyWithProgress(true, true).map((l) => `    ${l}`),
      `  else`,
      `    log "$name: ${nth}: copying $(human "$size") from $ref while it keeps serving"`,
      ...copyWithProgress(false, true).map((l) => `    ${l}`),
      `  fi`,
      ...stripLines(c).map((l) => `  ${l}`),
      ...rsyncLines(mc, "pass 1 (source running)").map((l) => `  ${l}`),
      `  echo precopied > "$dir/$name.state"`,
      `  log "$name: pre-copied; ${m.containers.length - index - 1} container(s) after it in the list"`,
      `}`,
      `precopy`,
    ]),
  };
}
