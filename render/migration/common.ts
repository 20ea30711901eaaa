/**
 * Shared parts of the migration scripts: markers, the prelude (source key from stdin, `src`,
 * manifest directory), copy, rsync and checksum lines, per-container variables.
 */
import { ContainerSpec, TenantSpec } from "../../model/types";
import { MigrationContainerSpec, MigrationSpec } from "../../model/migration";
import { shq } from "../shell";

/** Free space wanted on the destination, as a multiple of the source usage (tenths). */
export const FREE_FACTOR_TENTHS = 12;
/** Config key marking a copy as this migration's (value `<remote>:<source>`). */
export const MARK_KEY = "user.incus-tenant.migration";
/** Config key set once a copy is cut over and verified. */
export const MOVED_KEY = "user.incus-tenant.migrated";

/** The tenant's migration section; a renderer called without one is a programming error. */
export const need = (spec: TenantSpec): MigrationSpec => {
  if (!spec.migration) throw new Error("render/migration: the tenant has no migration section");
  return spec.migration;
};
/** The destination container a migration entry fills. */
export const containerOf = (spec: TenantSpec, name: string): ContainerSpec => {
  const c = spec.containers.find((x) => x.name === name);
  if (!c) throw new Error(`render/migration: no container ${name}`);
  return c;
};

/** The message a migration without a pinned source host key stops the renderer with. */
export const NO_SOURCE_HOST_KEY =
  "render/migration: migration.source.hostKey is required " +
  "(the source host is never reached unauthenticated)";

/**
 * The line that makes the manifest directory private: the folder 0700 and every file in it 0600
 * (it holds copies of `lxc config show`, which can carry environment.* secrets). New files are
 * 0600 already (the prelude's umask 077); this also fixes a folder made by an older version.
 */
export const MANIFEST_DIR_LINE =
  `mkdir -p "$dir"; chmod 0700 "$dir"; ` +
  `find "$dir" -maxdepth 1 -type f ! -perm 0600 -exec chmod 0600 {} +`;

/** The reason single-quoted text passed to `src` is not expanded here: the source host runs it. */
export const RUNS_ON_SOURCE = "the single-quoted text runs in bash on the source host (src)";

/**
 * Prelude variables only some scripts read: each script asks for the ones it uses (a variable
 * set and never read is a shellcheck finding, SC2034). `remote` is always set.
 */
export interface PreludeUses {
  /** `tenant`: the tenant name. */
  readonly tenant?: boolean;
  /** `dir`: the manifest directory. */
  readonly dir?: boolean;
  /** `pool`: the destination storage pool (copies). */
  readonly pool?: boolean;
  /** `bridge`: the tenant bridge (nic overrides of a copy). */
  readonly bridge?: boolean;
  /** `rsync_path` and `SRC`: the data passes ({@link rsyncLines}). */
  readonly rsync?: boolean;
}

/**
 * Shared prelude: umask 077 for everything the script writes (the manifest included), the key
 * from stdin in a private temp file, the pinned source host key (required: strict checking
 * only), `src` (a command line on the source host, through sudo when needed), `SRC_SSH` for
 * rsync -e, the manifest directory, and `ops_wait` (waits for a copy the daemon still runs after
 * its client died). `uses` names the optional variables the script reads ({@link PreludeUses}).
 */
export function prelude(spec: TenantSpec, m: MigrationSpec, uses: PreludeUses): string[] {
  const s = m.source;
  if (s.hostKey === undefined) throw new Error(NO_SOURCE_HOST_KEY);
  const known = s.port === 22 ? s.address : `[${s.address}]:${s.port}`;
  const login = shq(`${s.user}@${s.address}`);
  const vars = [
    ...(uses.tenant ? [`tenant=${shq(spec.name)}`] : []),
    `remote=${shq(m.remote)}`,
    ...(uses.dir ? [`dir=${shq(m.manifestDir)}`] : []),
    ...(uses.pool ? [`pool=${shq(spec.storagePool)}`] : []),
    ...(uses.bridge ? [`bridge=${shq(spec.network.bridge)}`] : []),
  ];
  return [
    vars.join("; "),
    // src_close is defined right after the trap (nothing between can fail) and reads $SRC_SSH only
    // once the connection socket exists, so the trap may run before the connection is set up.
    `tmp=$(mktemp -d); trap 'src_close; rm -rf "$tmp"' EXIT`,
    `src_close() { if [ -S "$tmp/cm" ]; then $SRC_SSH -O exit ${login} >/dev/null 2>&1 || true; fi; }`,
    `umask 077; cat > "$tmp/key"; printf '\\n' >> "$tmp/key"`,
    `printf '%s\\n' ${shq(`${known} ${s.hostKey}`)} > "$tmp/known_hosts"`,
    `hk="-o StrictHostKeyChecking=yes -o UserKnownHostsFile=$tmp/known_hosts"`,
    // One multiplexed connection for every call to the source host in this script.
    `SRC_SSH="ssh -i $tmp/key -p ${s.port} -o BatchMode=yes -o ConnectTimeout=10 -o ServerAliveInterval=5 ` +
      `-o IdentitiesOnly=yes -o LogLevel=ERROR -o ControlMaster=auto -o ControlPath=$tmp/cm ` +
      `-o ControlPersist=120 $hk"`,
    `src() { $SRC_SSH ${login} "${s.sudo ? "sudo -n " : ""}bash -c $(printf '%q' "$1")"; }`,
    ...(uses.rsync ? [`rsync_path=${shq(s.sudo ? "sudo -n rsync" : "rsync")}`, `SRC=${login}`] : []),
    `ops_wait() { local i; for i in $(seq 1800); do ` +
      `incus query "/1.0/operations?recursion=1" 2>/dev/null | grep -q "\\"/1.0/instances/$1\\"" || return 0; ` +
      `[ $((i % 15)) = 1 ] && ` +
      `log "$1: waiting for a copy the daemon is still running (an earlier run was interrupted)"; ` +
      `sleep 1; done; echo "$1: an earlier copy is still running after 30 minutes" >&2; return 1; }`,
    `human() { numfmt --to=iec --suffix=B "$1" 2>/dev/null || echo "$1 bytes"; }`,
  ];
}

/**
 * Device overrides a copy needs from the source's local devices: nics on the tenant bridge (the
 * LXD network does not exist here) and disk devices not required (Incus may not resolve LXD's host
 * paths; they are dropped from the copy afterwards). Sets the bash array `over`.
 */
export const overridesLines = (): string[] => [
  `over=()`,
  `for d in $(incus config device list "$ref" 2>/dev/null); do`,
  `  case "$(incus config device get "$ref" "$d" type)" in`,
  `    nic) if [ -n "$(incus config device get "$ref" "$d" network 2>/dev/null)" ]; ` +
    `then over+=(-d "$d,network=$bridge"); else over+=(-d "$d,parent=$bridge"); fi;;`,
  `    disk) [ "$d" = root ] || over+=(-d "$d,required=false");;`,
  `  esac`,
  `done`,
];

/**
 * Devices of the copy that must go: proxy devices, nics other than eth0, disks not declared for
 * the destination (`declared` lists them as ` name=source ` words).
 */
export const stripLines = (c: ContainerSpec): string[] => {
  const declared = c.devices.map((d) => `${d.name}=${d.source}`).join(" ");
  return [
    `dropped=""; declared=${shq(` ${declared} `)}`,
    `for d in $(incus config device list "$name"); do`,
    `  t=$(incus config device get "$name" "$d" type)`,
    `  keep=0; case "$t" in nic) [ "$d" = eth0 ] && keep=1;; disk) { [ "$d" = root ] || ` +
      `case "$declared" in *" $d=$(incus config device get "$name" "$d" source) "*) true;; *) false;; esac; } ` +
      `&& keep=1;; esac`,
    `  if [ "$keep" = 0 ]; then incus config device remove "$name" "$d" >/dev/null; dropped="$dropped $d($t)"; fi`,
    `done`,
    `[ -z "$dropped" ] || { log "$name: dropped from the copy (the source keeps them):$dropped"; ` +
      `echo "$dropped" > "$dir/$name.dropped"; }`,
  ];
};

/** The copy command (first copy or incremental refresh), with the marker and without autostart. */
export const copyLine = (refresh: boolean, stateless: boolean): string =>
  `incus copy "$ref" "$name" --instance-only${stateless ? " --stateless" : ""}${refresh ? " --refresh" : ""} ` +
  `-s "$pool" "\${over[@]}" -c ${MARK_KEY}="$mark" -c boot.autostart=false --quiet`;

/**
 * Copies (or refreshes) `$ref` into `$name` while printing the daemon's progress every 10 s (the
 * ticker's `sleep` holds none of the script's outputs: an orphaned sleep holding them kept the SSH
 * session, and so the step, open up to 10 s after the script ended), then
 * sets the marker again (`mark`; the cutover's final refresh skips it: the kept configuration,
 * marker included, is put back right after it).
 */
export const copyWithProgress = (refresh: boolean, stateless: boolean, mark = true): string[] => [
  // The ticker is a subshell of the cutover: without `trap - ERR` it would inherit the rollback
  // trap and roll back (delete the copy being made) whenever one of its polls found nothing.
  `( trap - ERR; set +e; while sleep 10 >/dev/null 2>&1; do ` +
    `p=$(incus query "/1.0/operations?recursion=1" 2>/dev/null | ` +
    `grep -o "\\"fs_progress\\": \\"$name: [^\\"]*\\"" | head -n1 | cut -d'"' -f4); ` +
    `[ -z "$p" ] || log "$p copied of $(human "$size")"; done ) & ticker=$!`,
  `rc=0; ${copyLine(refresh, stateless)} || rc=$?`,
  `kill "$ticker" 2>/dev/null || true; wait "$ticker" 2>/dev/null || true`,
  `[ "$rc" = 0 ] || { echo "$name: incus copy from $ref failed (exit $rc)" >&2; return "$rc"; }`,
  ...(mark ? [`incus config set "$name" ${MARK_KEY}="$mark" boot.autostart=false`] : []),
];

/**
 * rsync of the container's host data from the source host (pull, like the runbook). The script's
 * prelude must set `rsync_path` and `SRC` ({@link PreludeUses}.rsync).
 */
export const rsyncLines = (mc: MigrationContainerSpec, what: string): string[] => {
  if (!mc.data) return [];
  const d = mc.data;
  return [
    // The data folder gets the usual 0755 (the script's umask 077 is for the manifest).
    `(umask 022; mkdir -p ${shq(d.destination)})`,
    `log "$name: data ${what}: rsync" ${shq(`${d.source}/`)} "from the source host ->" ${shq(`${d.destination}/`)} ` +
      `"($(human "$(src ${shq(`du -sb ${shq(d.source)} | cut -f1`)})"))"`,
    `rsync -aHX --protect-args --numeric-ids --delete --stats --rsync-path="$rsync_path" -e "$SRC_SSH" ` +
      `"$SRC":${shq(`${d.source}/`)} ${shq(`${d.destination}/`)} > "$tmp/rsync.$name" ` +
      `|| { echo "$name: rsync of" ${shq(d.source)} "failed" >&2; cat "$tmp/rsync.$name" >&2; return 1; }`,
    `log "$name: data ${what}: $(sed -n 's/^Total transferred file size: //p' "$tmp/rsync.$name") transferred"`,
  ];
};

/** Content checksum of a directory tree (names + contents, sorted): same text on both hosts. */
export const treeSum = (dir: string): string =>
  `cd ${shq(dir)} && find . -type f -print0 | LC_ALL=C sort -z | xargs -0r sha256sum | sha256sum | cut -d" " -f1`;

/** Per-container variables a script may read besides `name` and `source`. */
export type ContainerVar = "ref" | "mark" | "size";

/**
 * The line setting one container's variables: `name` and `source` always, then those in `uses`
 * (`ref` and `mark`: `<remote>:<source>`; `size`: the source usage the preflight recorded).
 */
export function containerVars(mc: MigrationContainerSpec, uses: readonly ContainerVar[]): string {
  const all: Record<ContainerVar, string> = {
    ref: `ref="$remote:$source"`,
    mark: `mark="$remote:$source"`,
    size: `size=$(cat "$dir/$name.usage" 2>/dev/null || echo 0)`,
  };
  const vars = (["ref", "mark", "size"] as const).filter((v) => uses.includes(v)).map((v) => all[v]);
  return [`name=${shq(mc.name)}`, `source=${shq(mc.source)}`, ...vars].join("; ");
}
