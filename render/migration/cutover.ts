/** Migration cutover (per container or tenant-wide) with rollback, and the source cleanup. */
import { TenantSpec } from "../../model/types";
import { MigrationContainerSpec, MigrationDataSpec, MigrationSpec } from "../../model/migration";
import { containerConfig, markLine } from "../containerConfig";
import { runningTest, ScriptPair, statusCommand } from "../snippets";
import { script, shellcheckDisable, shq } from "../shell";
import {
  containerOf,
  containerVars,
  copyWithProgress,
  MANIFEST_DIR_LINE,
  MARK_KEY,
  MOVED_KEY,
  need,
  overridesLines,
  prelude,
  rsyncLines,
  stripLines,
  treeSum,
} from "./common";

/** Why the single-quoted condition of `wait_for` is not expanded here: wait_for evals it. */
const EVALED = "wait_for evals the single-quoted condition on each try";

/**
 * Functions shared by both cutover modes, for one container: `cut_<i>` and `undo_<i>` (start the
 * source again, delete the copy). `cut_<i>`, while the source still serves: configures the
 * pre-copy like the Container component and keeps that configuration ({@link keepConfigLines});
 * then, in the downtime window: stop the source, final refresh (it resets the copy's
 * configuration to the source's), final data pass + checksums, the kept configuration back in
 * one call, the data into the container (`copy` mode), start, verify. The downtime line names
 * each step's seconds.
 */
function cutoverFunctions(spec: TenantSpec, mc: MigrationContainerSpec, i: number): string[] {
  const c = containerOf(spec, mc.name);
  // Configured exactly like the Container component (render/containerConfig.ts), with its hash.
  const cfg = containerConfig(spec, c);
  const health = mc.healthPorts.flatMap((p) => [
    shellcheckDisable("    ", "SC2016", EVALED),
    `    wait_for "$name answers on tcp/${p}" 'timeout 2 bash -c "</dev/tcp/$ip/${p}" 2>/dev/null'`,
  ]);
  const data = mc.data;
  return [
    `cut_${i}() {`,
    `  ${containerVars(mc, ["ref", "mark", "size"])}; ip=${shq(mc.ipv4)}`,
    `  step="checking state"`,
    `  ops_wait "$name"`,
    `  if incus info "$name" >/dev/null 2>&1 && [ "$(incus config get "$name" ${MOVED_KEY})" = true ]; then`,
    `    log "$name: already moved; checking it still serves"`,
    `    ${runningTest('"$name"')} || incus start "$name"`,
    `  else`,
    // The device overrides the pre-copy computed (saves remote calls while nothing is copied yet).
    `    if [ -s "$dir/$name.over" ]; then mapfile -t over < "$dir/$name.over"; else`,
    ...overridesLines().map((l) => `      ${l}`),
    `    fi`,
    `    touched="$touched ${i}"`,
    `    if ! incus info "$name" >/dev/null 2>&1; then step="pre-copy (no copy yet)"; ` +
      `log "$name: no pre-copy found: copying while the source keeps serving"`,
    ...copyWithProgress(false, true).map((l) => `      ${l}`),
    `    fi`,
    `    step="configuring the copy"`,
    ...stripLines(c).map((l) => `    ${l}`),
    `    incus config device remove "$name" eth0 >/dev/null 2>&1 || true`,
    `    ${cfg.nic}`,
    ...c.devices.map((d) => `    incus config device remove "$name" ${shq(d.name)} >/dev/null 2>&1 || true`),
    ...cfg.disks.map((l) => `    ${l}`),
    `    ${cfg.settings}`,
    `    ${markLine(spec, c)}`,
    ...keepConfigLines().map((l) => `    ${l}`),
    `    was_running=0; ${runningTest('"$ref"')} && was_running=1`,
    `    step="stopping the source"; t0=$(date +%s.%N); lt=$t0; laps=""`,
    `    if [ "$was_running" = 1 ]; then log "$name: stopping $ref: downtime starts"; ` +
      `incus stop "$ref" --timeout 30 || incus stop "$ref" --force; fi`,
    `    echo cutting-over > "$dir/$name.state"; lap stop`,
    `    step="final incremental copy"; log "$name: final incremental copy of $ref"`,
    ...copyWithProgress(true, false, false).map((l) => `    ${l}`),
    `    lap "final copy"`,
    ...(data
      ? [
          `    step="final data pass"`,
          ...rsyncLines(mc, "final delta pass (source stopped)").map((l) => `    ${l}`),
          `    step="data checksums"`,
          `    want_sum=$(src ${shq(treeSum(data.source))}); got_sum=$(${treeSum(data.destination)})`,
          `    [ "$want_sum" = "$got_sum" ] || { echo "$name: checksum of" ${shq(data.destination)} ` +
            `"($got_sum) differs from the source's" ${shq(data.source)} "($want_sum)" >&2; return 1; }`,
          `    log "$name: data checksums equal (sha256 of the tree $want_sum)"; lap "data pass"`,
        ]
      : []),
    `    step="configuring the copy"`,
    ...restoreConfigLines().map((l) => `    ${l}`),
    ...(data?.mode === "copy" ? copyIntoLines(data).map((l) => `    ${l}`) : []),
    `    step="starting the copy"; log "$name: starting the copy at $ip"`,
    `    incus start "$name"; lap start`,
    `    step="verifying"`,
    shellcheckDisable("    ", "SC2016", EVALED),
    `    wait_for "$name holds $ip" 'incus query "/1.0/instances/$name/state" | grep -q "\\"address\\": \\"$ip\\""'`,
    ...(data?.mode === "disk" ? ownerLines(data, c.privileged).map((l) => `    ${l}`) : []),
    ...health,
    `    ${runningTest('"$name"')} || ` + `{ echo "$name: not running after start" >&2; return 1; }`,
    `    lap verify`,
    `    ${cfg.protection}`,
    `    incus config set "$name" ${MOVED_KEY}=true`,
    `    echo moved > "$dir/$name.state"`,
    `    log "$name: serving at $ip after ` +
      `$(awk -v a="$t0" -v b="$lt" 'BEGIN { printf "%.1f", b - a }') s of downtime ($laps)"`,
    `  fi`,
    `}`,
    `undo_${i}() {`,
    `  ${containerVars(mc, ["ref", "mark"])}`,
    `  [ "$(cat "$dir/$name.state" 2>/dev/null)" = moved ] && return 0`,
    `  if incus info "$name" >/dev/null 2>&1 && [ "$(incus config get "$name" ${MARK_KEY})" = "$mark" ]; then`,
    `    incus stop "$name" --force >/dev/null 2>&1 || true; ` +
      `incus config set "$name" security.protection.delete=false >/dev/null 2>&1 || true`,
    `    incus delete --force "$name" >/dev/null 2>&1 && log "$name: partial copy removed"`,
    `  fi`,
    `  if ${runningTest('"$ref"', false, true)}; then ` +
      `incus start "$ref" && log "$name: source $ref started again"; fi`,
    `  rm -f "$dir/$name.over"; echo rolled-back > "$dir/$name.state"`,
    `}`,
  ];
}

/**
 * Keeps the configured copy's configuration in `$tmp/$name.yaml` (`incus config show` without
 * the `volatile.` keys, Incus' own): the final refresh resets the configuration to the source's,
 * and {@link restoreConfigLines} puts this one back in the downtime window in one call instead of
 * one command per setting and device.
 */
const keepConfigLines = (): string[] => [
  `incus config show "$name" | sed '/^  volatile\\./d' > "$tmp/$name.yaml"`,
];

/**
 * The kept configuration back after the final refresh, with the `volatile.` keys Incus holds now
 * (it refuses to have them deleted or changed by a user), inserted at the end of `config:` (the
 * keys are sorted; `devices:` follows), in one `incus config edit`.
 */
const restoreConfigLines = (): string[] => [
  `incus config show "$name" | sed -n '/^  volatile\\./p' > "$tmp/$name.volatile"`,
  `awk -v f="$tmp/$name.volatile" '/^devices:/ { while ((getline l < f) > 0) print l } { print }' ` +
    `"$tmp/$name.yaml" | incus config edit "$name"; lap configure`,
];

/**
 * `copy` mode (seed 002): the staged tree goes into the stopped copy's own filesystem at the
 * data path, through Incus (`incus file push`, so the container's id mapping applies). It runs
 * after the final refresh, which mirrored the source's root filesystem (nothing there). The
 * staged tree is first owned by `owner` as the copy's own /etc/passwd and /etc/group number it
 * (a push keeps each file's numeric owner): the services start with their data already theirs.
 * Pushed from inside the staged folder (`.`), so its contents land at the path itself.
 */
const copyIntoLines = (d: MigrationDataSpec): string[] => [
  `step="copying the data into the container"`,
  `owner=${shq(d.owner)}; u=\${owner%%:*}; g=\${owner#*:}`,
  `id_of() { case "$2" in *[!0-9]*) incus file pull "$name/etc/$1" - | ` +
    `awk -F: -v n="$2" -v f="\${3:-3}" '$1 == n && !x { print $f; x = 1 }';; *) echo "$2";; esac; }`,
  `uid=$(id_of passwd "$u"); gid=$(id_of group "$g"); [ -n "$gid" ] || gid=$(id_of passwd "$u" 4)`,
  `[ -n "$uid" ] && [ -n "$gid" ] || { echo "$name: the owner $owner of the data is not a user` +
    ` (and group) of the copy (its /etc/passwd and /etc/group)" >&2; return 1; }`,
  `chown -R "$uid:$gid" ${shq(d.destination)}`,
  `log "$name: data copied into the container at" ${shq(d.path)} "(from" ${shq(d.destination)}"," ` +
    `"owned by $owner)"`,
  `(cd ${shq(d.destination)} && incus file push --recursive --create-dirs . "$name"${shq(d.path)}); ` +
    `lap "data into the container"`,
];

/** `disk` mode: the data's owner inside the container, set on the mounted host directory. */
const ownerLines = (d: MigrationDataSpec, privileged: boolean): string[] => [
  `owner=${shq(d.owner)}; u=\${owner%%:*}; g=\${owner#*:}`,
  `uid=$(incus exec "$name" -- id -u "$u"); ` +
    `gid=$(incus exec "$name" -- getent group "$g" | cut -d: -f3); ` +
    `gid=\${gid:-$(incus exec "$name" -- id -g "$u")}`,
  // The uid/gid shift of an unprivileged container (a privileged one maps them 1:1).
  privileged
    ? `base=0`
    : `base=$(incus config get "$name" volatile.idmap.current | ` +
      `grep -o '"Hostid":[0-9]*' | head -n1 | cut -d: -f2)`,
  `chown -R "$((base + uid)):$((base + gid))" ${shq(d.destination)}`,
  `log "$name:" ${shq(d.path)} "owned by $owner inside the container"`,
];

/**
 * Waits up to healthTimeout seconds for a condition (text, shell test), trying every 0.1 s (it
 * runs in the downtime window: a coarser poll adds its interval to the downtime).
 */
const waitFor = (m: MigrationSpec): string =>
  `wait_for() { local i; for i in $(seq ${m.healthTimeout * 10}); do eval "$2" && return 0; sleep 0.1; done; ` +
  `echo "verification failed: $1 within ${m.healthTimeout}s" >&2; return 1; }`;

/** `lap <step>`: appends "<step> <seconds since the last lap> s" to `$laps` (the downtime line). */
const LAP =
  `lap() { local t; t=$(date +%s.%N); ` +
  `laps="$laps\${laps:+, }$1 $(awk -v a="$lt" -v b="$t" 'BEGIN { printf "%.1f", b - a }') s"; lt=$t; }`;

/** Which containers are on Incus and which are not, from the manifest states. */
const summaryLines = (m: MigrationSpec): string[] => [
  `summary() { local moved="" not=""; for n in ${m.containers.map((c) => shq(c.name)).join(" ")}; do ` +
    `if [ "$(cat "$dir/$n.state" 2>/dev/null)" = moved ]; then moved="$moved $n"; else not="$not $n"; fi; done; ` +
    `echo "moved to Incus:\${moved:- none}; not moved (still on LXD):\${not:- none}"; }`,
];

/**
 * Cutover of one container (per-container mode) or of all listed containers in one window
 * (tenant mode: `mcs` = every container). On any failure, every container touched in this run
 * is rolled back (source started again, partial copy removed) and the error names what moved.
 */
export function renderCutover(spec: TenantSpec, mcs: readonly MigrationContainerSpec[]): ScriptPair {
  const m = need(spec);
  const idx = mcs.map((mc) => m.containers.findIndex((x) => x.name === mc.name));
  const what =
    mcs.length === 1 ? `${mcs[0].source} -> ${mcs[0].name}` : `${mcs.length} containers in one window`;
  const body: string[] = [
    ...prelude(spec, m, {
      dir: true,
      pool: true,
      bridge: true,
      rsync: mcs.some((mc) => mc.data !== undefined),
    }),
    MANIFEST_DIR_LINE,
    waitFor(m),
    LAP,
    ...summaryLines(m),
    `touched=""; step="start"`,
    ...mcs.flatMap((mc, k) => cutoverFunctions(spec, mc, idx[k])),
    `rollback() {`,
    `  local rc=$? failed_step=$step; trap - ERR; set +e`,
    `  log "cutover failed at: $failed_step: rolling back"`,
    `  for i in $(echo "$touched" | tr ' ' '\\n' | sort -u); do "undo_$i"; done`,
    `  echo "migration cutover of" ${shq(what)} "failed at \\"$failed_step\\" (exit $rc); ` +
      `rolled back: sources started again, partial copies removed. $(summary). Re-run to resume." >&2`,
    `  exit 1`,
    `}`,
    `trap rollback ERR; set -E`,
  ];
  if (mcs.length === 1) {
    body.push(`log "cutover ${idx[0] + 1} of ${m.containers.length}:" ${shq(what)}`, `cut_${idx[0]}`);
  } else {
    body.push(
      `log "tenant-wide cutover of ${mcs.length} containers"`,
      ...idx.map((i, k) => `log "cutover ${k + 1} of ${mcs.length}:" ${shq(mcs[k].name)}; cut_${i}`),
    );
  }
  body.push(`trap - ERR`, `log "cutover done: $(summary)"`);
  return { create: script(`migration cutover of ${what} (tenant ${spec.name})`, body) };
}

/**
 * Cleanup: with cleanupSource, deletes the source containers (and their data directories) once
 * every container is moved and verified; otherwise checks the sources are stopped and keeps them.
 */
export function renderCleanup(spec: TenantSpec): ScriptPair {
  const m = need(spec);
  const names = m.containers.map((c) => shq(c.name)).join(" ");
  const body: string[] = [
    ...prelude(spec, m, { dir: m.cleanupSource }),
    `for n in ${names}; do [ "$(incus config get "$n" ${MOVED_KEY} 2>/dev/null)" = true ] || ` +
      `{ echo "cleanup: $n is not moved and verified; the sources are kept" >&2; exit 1; }; done`,
  ];
  let left = m.containers.length;
  for (const mc of m.containers) {
    left -= 1;
    body.push(containerVars(mc, ["ref"]));
    if (m.cleanupSource) {
      body.push(
        `if incus info "$ref" >/dev/null 2>&1; then incus stop "$ref" --force >/dev/null 2>&1 || true; ` +
          `incus delete --force "$ref"; log "$source deleted on the source LXD (${left} left)"; ` +
          `else log "$source already gone from the source"; fi`,
        ...(mc.data
          ? [
              `src ${shq(`rm -rf -- ${shq(mc.data.source)}`)}; ` +
                `log "$name: source data" ${shq(mc.data.source)} "deleted"`,
            ]
          : []),
        `echo cleaned > "$dir/$name.source"`,
      );
    } else {
      body.push(
        `st=$(${statusCommand('"$ref"', true)} || true)`,
        `if [ "$st" = RUNNING ]; then ` +
          `echo "cleanup: source $ref is running again although $name is moved: stop it by hand" >&2; exit 1; fi`,
        `log "$source kept \${st:-(gone)} and intact on the source (cleanupSource: false)"`,
      );
    }
  }
  return {
    create: script(`migration cleanup of tenant ${spec.name} (cleanupSource: ${m.cleanupSource})`, body),
  };
}
