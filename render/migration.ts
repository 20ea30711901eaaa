/**
 * Scripts of the LXD → Incus migration (spec/migration.ts). Pure text, deterministic. They all
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
import { ContainerSpec, TenantSpec } from "../spec/types";
import { MigrationContainerSpec, MigrationSpec } from "../spec/migration";
import { containerHash } from "./container";
import { ScriptPair } from "./host";
import { script, shArgs, shq } from "./shell";

/** Free space wanted on the destination, as a multiple of the source usage (tenths). */
export const FREE_FACTOR_TENTHS = 12;
/** Config key marking a copy as this migration's (value `<remote>:<source>`). */
export const MARK_KEY = "user.incus-tenant.migration";
/** Config key set once a copy is cut over and verified. */
export const MOVED_KEY = "user.incus-tenant.migrated";

const need = (spec: TenantSpec): MigrationSpec => {
  if (!spec.migration) throw new Error("render/migration: the tenant has no migration section");
  return spec.migration;
};
const containerOf = (spec: TenantSpec, name: string): ContainerSpec => {
  const c = spec.containers.find((x) => x.name === name);
  if (!c) throw new Error(`render/migration: no container ${name}`);
  return c;
};

/**
 * Shared prelude: the key from stdin in a private temp file, the pinned source host key, `src`
 * (a command line on the source host, through sudo when needed), `SRC_SSH` for rsync -e, the
 * manifest directory, and `ops_wait` (waits for a copy the daemon still runs after its client died).
 */
function prelude(spec: TenantSpec, m: MigrationSpec): string[] {
  const s = m.source;
  const known = s.port === 22 ? s.address : `[${s.address}]:${s.port}`;
  const hostKey = s.hostKey !== undefined
    ? [`printf '%s\\n' ${shq(`${known} ${s.hostKey}`)} > "$tmp/known_hosts"`, `hk="-o StrictHostKeyChecking=yes -o UserKnownHostsFile=$tmp/known_hosts"`]
    : [`hk="-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null"`];
  return [
    `tenant=${shq(spec.name)}; remote=${shq(m.remote)}; dir=${shq(m.manifestDir)}; pool=${shq(spec.storagePool)}; bridge=${shq(spec.network.bridge)}`,
    `tmp=$(mktemp -d); trap 'src_close; rm -rf "$tmp"' EXIT; src_close() { :; }`,
    `umask 077; cat > "$tmp/key"; printf '\\n' >> "$tmp/key"; umask 022`,
    ...hostKey,
    // One multiplexed connection for every call to the source host in this script.
    `SRC_SSH="ssh -i $tmp/key -p ${s.port} -o BatchMode=yes -o ConnectTimeout=10 -o ServerAliveInterval=5 -o IdentitiesOnly=yes -o LogLevel=ERROR -o ControlMaster=auto -o ControlPath=$tmp/cm -o ControlPersist=120 $hk"`,
    `src() { $SRC_SSH ${shq(`${s.user}@${s.address}`)} "${s.sudo ? "sudo -n " : ""}bash -c $(printf '%q' "$1")"; }`,
    `src_close() { [ -S "$tmp/cm" ] && $SRC_SSH -O exit ${shq(`${s.user}@${s.address}`)} >/dev/null 2>&1 || true; }`,
    `rsync_path=${shq(s.sudo ? "sudo -n rsync" : "rsync")}`,
    `ops_wait() { local i; for i in $(seq 1800); do incus query "/1.0/operations?recursion=1" 2>/dev/null | grep -q "\\"/1.0/instances/$1\\"" || return 0; [ $((i % 15)) = 1 ] && log "$1: waiting for a copy the daemon is still running (an earlier run was interrupted)"; sleep 1; done; echo "$1: an earlier copy is still running after 30 minutes" >&2; return 1; }`,
    `human() { numfmt --to=iec --suffix=B "$1" 2>/dev/null || echo "$1 bytes"; }`,
  ];
}

/**
 * Device overrides a copy needs from the source's local devices: nics on the tenant bridge (the
 * LXD network does not exist here) and disk devices not required (Incus may not resolve LXD's host
 * paths; they are dropped from the copy afterwards). Sets the bash array `over`.
 */
const overridesLines = (): string[] => [
  `over=()`,
  `for d in $(incus config device list "$ref" 2>/dev/null); do`,
  `  case "$(incus config device get "$ref" "$d" type)" in`,
  `    nic) if [ -n "$(incus config device get "$ref" "$d" network 2>/dev/null)" ]; then over+=(-d "$d,network=$bridge"); else over+=(-d "$d,parent=$bridge"); fi;;`,
  `    disk) [ "$d" = root ] || over+=(-d "$d,required=false");;`,
  `  esac`,
  `done`,
];

/** Devices of the copy that must go: proxy devices, nics other than eth0, disks not declared for the destination. */
const stripLines = (c: ContainerSpec): string[] => {
  const declared = c.devices.map((d) => `${d.name}=${d.source}`).join(" ");
  return [
    `dropped=""`,
    `for d in $(incus config device list "$name"); do`,
    `  t=$(incus config device get "$name" "$d" type)`,
    `  keep=0; case "$t" in nic) [ "$d" = eth0 ] && keep=1;; disk) { [ "$d" = root ] || case ${shq(` ${declared} `)} in *" $d=$(incus config device get "$name" "$d" source) "*) true;; *) false;; esac; } && keep=1;; esac`,
    `  if [ "$keep" = 0 ]; then incus config device remove "$name" "$d" >/dev/null; dropped="$dropped $d($t)"; fi`,
    `done`,
    `[ -z "$dropped" ] || { log "$name: dropped from the copy (the source keeps them):$dropped"; echo "$dropped" > "$dir/$name.dropped"; }`,
  ];
};

/** The copy command (first copy or incremental refresh), with the marker and without autostart. */
const copyLine = (refresh: boolean, stateless: boolean): string =>
  `incus copy "$ref" "$name" --instance-only${stateless ? " --stateless" : ""}${refresh ? " --refresh" : ""} -s "$pool" "\${over[@]}" -c ${MARK_KEY}="$mark" -c boot.autostart=false --quiet`;

/** Copies (or refreshes) `$ref` into `$name` while printing the daemon's progress every 10 s. */
const copyWithProgress = (refresh: boolean, stateless: boolean): string[] => [
  `( while sleep 10; do p=$(incus query "/1.0/operations?recursion=1" 2>/dev/null | grep -o "\\"fs_progress\\": \\"$name: [^\\"]*\\"" | head -n1 | cut -d'"' -f4); [ -z "$p" ] || log "$p copied of $(human "$size")"; done ) & ticker=$!`,
  `rc=0; ${copyLine(refresh, stateless)} || rc=$?`,
  `kill "$ticker" 2>/dev/null || true; wait "$ticker" 2>/dev/null || true`,
  `[ "$rc" = 0 ] || { echo "$name: incus copy from $ref failed (exit $rc)" >&2; return "$rc"; }`,
  `incus config set "$name" ${MARK_KEY}="$mark" boot.autostart=false`,
];

/** rsync of the container's host data from the source host (pull, like the runbook). */
const rsyncLines = (mc: MigrationContainerSpec, what: string): string[] => {
  if (!mc.data) return [];
  const d = mc.data;
  return [
    `mkdir -p ${shq(d.destination)}`,
    `log "$name: data ${what}: rsync ${d.source}/ from the source host -> ${d.destination}/ ($(human "$(src ${shq(`du -sb ${shq(d.source)} | cut -f1`)})"))"`,
    `rsync -aHX --numeric-ids --delete --stats --rsync-path="$rsync_path" -e "$SRC_SSH" "$SRC":${shq(`${d.source}/`)} ${shq(`${d.destination}/`)} > "$tmp/rsync.$name" || { echo "$name: rsync of ${d.source} failed" >&2; cat "$tmp/rsync.$name" >&2; return 1; }`,
    `log "$name: data ${what}: $(sed -n 's/^Total transferred file size: //p' "$tmp/rsync.$name") transferred"`,
  ];
};

/** Content checksum of a directory tree (names + contents, sorted): same text on both hosts. */
const treeSum = (dir: string): string => `cd ${shq(dir)} && find . -type f -print0 | LC_ALL=C sort -z | xargs -0r sha256sum | sha256sum | cut -d" " -f1`;

function containerVars(_m: MigrationSpec, mc: MigrationContainerSpec): string {
  return `name=${shq(mc.name)}; source=${shq(mc.source)}; ref="$remote:$source"; mark="$remote:$source"; size=$(cat "$dir/$name.usage" 2>/dev/null || echo 0)`;
}

/** One problem per line, all reported, nothing touched: versions, sources, destination names, disk space. */
export function renderPreflight(spec: TenantSpec): ScriptPair {
  const m = need(spec);
  const s = m.source;
  const body: string[] = [
    ...prelude(spec, m),
    `problems=(); problem() { problems+=("$1"); }`,
    `incus_version=$(incus version 2>/dev/null | sed -n 's/^Server version: //p' || true)`,
    `[ -n "$incus_version" ] || problem "the Incus daemon on this host is not reachable (incus version)"`,
    `rc=0; src 'lxc version' > "$tmp/lxd.version" 2>"$tmp/ssh.err" || rc=$?; lxd_version=$(sed -n 's/^Server version: //p' "$tmp/lxd.version")`,
    `if [ "$rc" = 255 ]; then problem "the source host ${s.user}@${s.address}:${s.port} is not reachable over SSH: $(tr '\\n' ' ' < "$tmp/ssh.err")"`,
    `elif [ -z "$lxd_version" ]; then problem "the LXD daemon on ${s.address} is not reachable (lxc version)"; fi`,
    `log "preflight: Incus \${incus_version:-?} on this host, LXD \${lxd_version:-?} on ${s.address}; ${m.containers.length} container(s) to move"`,
    `declare -A want=(); declare -A have=(); declare -A where=(); declare -A usages=()`,
    `account() { local p=$1 bytes=$2 dev; while [ ! -e "$p" ]; do p=$(dirname "$p"); done; dev=$(stat -c %d "$p"); want[$dev]=$(( \${want[$dev]:-0} + bytes )); have[$dev]=$(df -B1 --output=avail "$p" | tail -n1 | tr -d ' '); where[$dev]=$p; }`,
    `pool_dir=$(incus storage get "$pool" source 2>/dev/null || true); [ -n "$pool_dir" ] || problem "storage pool $pool does not exist on this host"`,
    `total=0; resumed=0`,
  ];
  for (const mc of m.containers) {
    body.push(
      containerVars(m, mc),
      // One call per container: its config (existence, profiles, the manifest) and its disk usage.
      `usage=0; if [ -n "$lxd_version" ] && ! src ${shq(`lxc config show ${shq(mc.source)} && echo '#usage' && { d=/var/lib/lxd/containers/${mc.source}; [ -e "$d" ] || d=/var/snap/lxd/common/lxd/containers/${mc.source}; du -sxb "$d/" 2>/dev/null | cut -f1; }`)} > "$tmp/$name.show" 2>/dev/null; then problem "source container $source (for $name) does not exist on LXD at ${s.address}"`,
      `elif [ -n "$lxd_version" ]; then`,
      `  usage=$(sed -n '/^#usage$/{n;p}' "$tmp/$name.show"); usage=\${usage:-0}; usages[$name]=$usage; sed -i '/^#usage$/,$d' "$tmp/$name.show"`,
      `  for p in $(sed -n '/^profiles:/,/^[a-z]/s/^- //p' "$tmp/$name.show"); do incus profile show "$p" >/dev/null 2>&1 || problem "source container $source uses profile $p, which does not exist on this host"; done`,
      `fi`,
      `if incus info "$name" >/dev/null 2>&1; then`,
      `  got=$(incus config get "$name" ${MARK_KEY})`,
      `  if [ "$got" != "$mark" ]; then problem "destination name $name is taken by an instance that is not this migration's copy (${MARK_KEY}=\${got:-unset})"`,
      `  elif [ "$(incus config get "$name" ${MOVED_KEY})" = true ]; then log "$name: already moved and verified"; usage=0; resumed=$((resumed + 1))`,
      `  else log "$name: holds this migration's copy from an earlier run: resuming"; resumed=$((resumed + 1)); fi`,
      `fi`,
      `[ -z "$pool_dir" ] || account "$pool_dir" "$usage"`,
      `total=$((total + usage))`,
    );
    if (mc.data) {
      body.push(
        `if [ -n "$lxd_version" ]; then`,
        `  if ! src ${shq(`test -d ${shq(mc.data.source)}`)}; then problem "data directory ${mc.data.source} of $name does not exist on the source host"; else`,
        `    dbytes=$(src ${shq(`du -sb ${shq(mc.data.source)} | cut -f1`)}); account ${shq(mc.data.destination)} "$dbytes"; total=$((total + dbytes)); fi`,
        `fi`,
      );
    }
  }
  body.push(
    `for dev in "\${!want[@]}"; do`,
    `  needed=$(( want[$dev] * ${FREE_FACTOR_TENTHS} / 10 ))`,
    `  [ "\${have[$dev]}" -ge "$needed" ] || problem "not enough free disk on this host at \${where[$dev]}: $(human "\${have[$dev]}") free, $(human "$needed") needed (1.2 x the source usage $(human "\${want[$dev]}"))"`,
    `done`,
    `if [ \${#problems[@]} -gt 0 ]; then`,
    `  printf 'migration preflight found %d problem(s); nothing was changed:\\n' "\${#problems[@]}" >&2`,
    `  printf '  - %s\\n' "\${problems[@]}" >&2`,
    `  exit 1`,
    `fi`,
    `mkdir -p "$dir"`,
    `{ echo "tenant: $tenant"; echo "source: ${s.user}@${s.address}:${s.port} (LXD $lxd_version)"; echo "destination: $(hostname) (Incus $incus_version)"; echo "remote: $remote"; echo "containers:"; } > "$dir/manifest.txt.new"`,
  );
  for (const mc of m.containers) {
    body.push(
      containerVars(m, mc),
      `if [ "$(incus config get "$name" ${MOVED_KEY} 2>/dev/null)" != true ]; then`,
      `  cp "$tmp/$name.show" "$dir/$name.source.yaml"`,
      `  echo "\${usages[$name]:-0}" > "$dir/$name.usage"`,
      `  [ -f "$dir/$name.state" ] || echo new > "$dir/$name.state"`,
      `fi`,
      `devs=$(sed -n '/^devices:/,/^[a-z]/{/^  [^ ]/{s/^  \\(.*\\):$/\\1/;p}}' "$dir/$name.source.yaml" | tr '\\n' ' ')`,
      `echo "  - $name <- $source: $(human "$(cat "$dir/$name.usage")") root disk, devices: \${devs:-none}, state: $(cat "$dir/$name.state")" >> "$dir/manifest.txt.new"`,
    );
  }
  body.push(
    `mv -f "$dir/manifest.txt.new" "$dir/manifest.txt"`,
    `log "preflight ok: $(human "$total") to move, $resumed of ${m.containers.length} container(s) resumed; manifest in $dir"`,
  );
  return { create: script(`migration preflight of tenant ${spec.name}`, body) };
}

/**
 * Trust, idempotent: LXD listens on lxdAddress, trusts this host's Incus client certificate, and
 * the remote exists once (`--protocol=incus`, the certificate accepted explicitly). The delete
 * removes the remote and undoes only what this step did (best effort: the source may be gone).
 */
export function renderTrust(spec: TenantSpec): ScriptPair {
  const m = need(spec);
  const addr = m.lxdAddress;
  const fingerprint = `fp=$(openssl x509 -in "$crt" -noout -fingerprint -sha256 | sed 's/.*=//; s/://g' | tr 'A-F' 'a-f')`;
  const crt = `crt="\${HOME:-/root}/.config/incus/client.crt"`;
  const create = script(`migration trust of tenant ${spec.name} (LXD ${addr} as remote ${m.remote})`, [
    ...prelude(spec, m),
    crt,
    `[ -f "$crt" ] || { incus remote generate-certificate >/dev/null 2>&1 || incus remote list >/dev/null; }`,
    `[ -f "$crt" ] || { echo "no Incus client certificate at $crt" >&2; exit 1; }`,
    fingerprint,
    `mkdir -p "$dir"`,
    `cur=$(src 'lxc config get core.https_address')`,
    `if [ -z "$cur" ]; then src ${shq(`lxc config set core.https_address ${addr}`)}; echo ${shq(addr)} > "$dir/https_address.set"; log "LXD now listens on ${addr}"; else log "LXD already listens on $cur"; fi`,
    `if src "lxc config trust show $fp" >/dev/null 2>&1; then log "this host's Incus client certificate is already trusted by LXD"; else`,
    `  src ${shq(`t=$(mktemp); cat > "$t"; lxc config trust add "$t" --name incus-tenant-${spec.name}; rc=$?; rm -f "$t"; exit $rc`)} < "$crt"`,
    `  echo "$fp" > "$dir/trusted.fp"; log "LXD trusts this host's Incus client certificate (\${fp:0:12})"`,
    `fi`,
    `url=$(incus remote list --format csv 2>/dev/null | sed 's/ (current)//' | awk -F, -v r="$remote" '$1 == r { print $2 }')`,
    `if [ -n "$url" ] && [ "$url" != ${shq(`https://${addr}`)} ]; then log "remote $remote pointed at $url: replacing it"; incus remote remove "$remote"; url=""; fi`,
    `if [ -z "$url" ]; then incus remote add "$remote" ${shq(addr)} --accept-certificate --protocol=incus < /dev/null >/dev/null; log "incus remote $remote -> ${addr} added"; else log "incus remote $remote -> ${addr} already there"; fi`,
    `incus list "$remote:" --format csv -c n >/dev/null || { echo "the remote $remote (${addr}) does not answer with this host's certificate" >&2; exit 1; }`,
  ]);
  const del = script(`migration trust of tenant ${spec.name} (remove)`, [
    ...prelude(spec, m),
    crt,
    `if incus remote list --format csv 2>/dev/null | sed 's/ (current)//' | cut -d, -f1 | grep -qx "$remote"; then incus remote remove "$remote"; log "incus remote $remote removed"; fi`,
    `if [ -f "$dir/trusted.fp" ]; then`,
    `  fp=$(cat "$dir/trusted.fp"); if src "lxc config trust remove $fp" >/dev/null 2>&1; then log "LXD no longer trusts \${fp:0:12}"; else log "warning: could not remove trust \${fp:0:12} on the source (already gone or unreachable)"; fi`,
    `  rm -f "$dir/trusted.fp"`,
    `fi`,
    `if [ -f "$dir/https_address.set" ]; then`,
    `  if src 'lxc config unset core.https_address' >/dev/null 2>&1; then log "LXD https address unset"; else log "warning: could not unset core.https_address on the source"; fi`,
    `  rm -f "$dir/https_address.set"`,
    `fi`,
  ]);
  return { create, delete: del };
}

/** Pre-copy one container while its source keeps serving (resumes a killed copy with --refresh), then the first data pass. */
export function renderPrecopy(spec: TenantSpec, mc: MigrationContainerSpec): ScriptPair {
  const m = need(spec);
  const c = containerOf(spec, mc.name);
  const index = m.containers.findIndex((x) => x.name === mc.name);
  return {
    create: script(`migration pre-copy of ${mc.source} -> ${mc.name} (tenant ${spec.name})`, [
      ...prelude(spec, m),
      containerVars(m, mc),
      `precopy() {`,
      `  ops_wait "$name"`,
      `  if incus info "$name" >/dev/null 2>&1 && [ "$(incus config get "$name" ${MOVED_KEY})" = true ]; then log "$name: already moved, nothing to pre-copy"; return 0; fi`,
      ...overridesLines().map((l) => `  ${l}`),
      `  printf '%s\n' "\${over[@]}" > "$dir/$name.over"`,
      `  if incus info "$name" >/dev/null 2>&1; then`,
      `    log "$name: pre-copy ${index + 1} of ${m.containers.length}: incremental refresh of the copy from an earlier run ($(human "$size") on the source)"`,
      ...copyWithProgress(true, true).map((l) => `    ${l}`),
      `  else`,
      `    log "$name: pre-copy ${index + 1} of ${m.containers.length}: copying $(human "$size") from $ref while it keeps serving"`,
      ...copyWithProgress(false, true).map((l) => `    ${l}`),
      `  fi`,
      ...stripLines(c).map((l) => `  ${l}`),
      ...rsyncLines(mc, "pass 1 (source running)").map((l) => `  ${l}`),
      `  echo precopied > "$dir/$name.state"`,
      `  log "$name: pre-copied; ${m.containers.length - index - 1} container(s) after it in the list"`,
      `}`,
      `SRC=${shq(`${m.source.user}@${m.source.address}`)}`,
      `precopy`,
    ]),
  };
}

/**
 * Functions shared by both cutover modes, for one container: `cut_<i>` (stop source, final
 * refresh, final data pass + checksums, configure like the Container component, start, verify)
 * and `undo_<i>` (start the source again, delete the copy).
 */
function cutoverFunctions(spec: TenantSpec, m: MigrationSpec, mc: MigrationContainerSpec, i: number): string[] {
  const c = containerOf(spec, mc.name);
  const declared = c.devices.map((d) => d.name).join(" ");
  const disks = c.devices.map((d) => `    incus config device add "$name" ${shq(d.name)} disk ${shArgs(`source=${d.source}`, `path=${d.path}`, `readonly=${d.readonly}`)} >/dev/null`);
  const health = mc.healthPorts.map((p) => `    wait_for "$name answers on tcp/${p}" 'timeout 2 bash -c "</dev/tcp/$ip/${p}" 2>/dev/null'`);
  const data = mc.data;
  return [
    `cut_${i}() {`,
    `  ${containerVars(m, mc)}; ip=${shq(mc.ipv4)}`,
    `  step="checking state"`,
    `  ops_wait "$name"`,
    `  if incus info "$name" >/dev/null 2>&1 && [ "$(incus config get "$name" ${MOVED_KEY})" = true ]; then`,
    `    log "$name: already moved; checking it still serves"`,
    `    [ "$(incus info "$name" | sed -n 's/^Status: //p')" = RUNNING ] || incus start "$name"`,
    `  else`,
    // The device overrides the pre-copy computed (saves remote calls while nothing is copied yet).
    `    if [ -s "$dir/$name.over" ]; then mapfile -t over < "$dir/$name.over"; else`,
    ...overridesLines().map((l) => `      ${l}`),
    `    fi`,
    `    touched="$touched ${i}"`,
    `    if ! incus info "$name" >/dev/null 2>&1; then step="pre-copy (no copy yet)"; log "$name: no pre-copy found: copying while the source keeps serving"`,
    ...copyWithProgress(false, true).map((l) => `      ${l}`),
    `    fi`,
    `    was_running=0; [ "$(incus info "$ref" | sed -n 's/^Status: //p')" = RUNNING ] && was_running=1`,
    `    step="stopping the source"; t0=$(date +%s.%N)`,
    `    if [ "$was_running" = 1 ]; then log "$name: stopping $ref: downtime starts"; incus stop "$ref" --timeout 30 || incus stop "$ref" --force; fi`,
    `    echo cutting-over > "$dir/$name.state"`,
    `    step="final incremental copy"; log "$name: final incremental copy of $ref"`,
    ...copyWithProgress(true, false).map((l) => `    ${l}`),
    ...(data
      ? [
          `    step="final data pass"`,
          ...rsyncLines(mc, "final delta pass (source stopped)").map((l) => `    ${l}`),
          `    step="data checksums"`,
          `    want_sum=$(src ${shq(treeSum(data.source))}); got_sum=$(${treeSum(data.destination)})`,
          `    [ "$want_sum" = "$got_sum" ] || { echo "$name: checksum of ${data.destination} ($got_sum) differs from the source's ${data.source} ($want_sum)" >&2; return 1; }`,
          `    log "$name: data checksums equal (sha256 of the tree $want_sum)"`,
        ]
      : []),
    `    step="configuring the copy"`,
    ...stripLines(c).map((l) => `    ${l}`),
    `    incus config device remove "$name" eth0 >/dev/null 2>&1 || true`,
    `    incus config device add "$name" eth0 nic ${shArgs(`network=${spec.network.bridge}`, "name=eth0")} ipv4.address="$ip" >/dev/null`,
    ...c.devices.map((d) => `    incus config device remove "$name" ${shq(d.name)} >/dev/null 2>&1 || true`),
    ...disks,
    `    incus config set "$name" security.privileged=${c.privileged} boot.autostart=true user.incus-tenant.tenant="$tenant" user.incus-tenant.devices=${shq(declared)} user.incus-tenant.hash=${shq(containerHash(spec, c))}`,
    `    step="starting the copy"; log "$name: starting the copy at $ip"`,
    `    incus start "$name"`,
    `    step="verifying"`,
    `    wait_for "$name holds $ip" 'incus query "/1.0/instances/$name/state" | grep -q "\\"address\\": \\"$ip\\""'`,
    ...(data
      ? [
          `    owner=${shq(data.owner)}; u=\${owner%%:*}; g=\${owner#*:}`,
          `    uid=$(incus exec "$name" -- id -u "$u"); gid=$(incus exec "$name" -- getent group "$g" | cut -d: -f3); gid=\${gid:-$(incus exec "$name" -- id -g "$u")}`,
          `    base=0; [ ${c.privileged} = true ] || base=$(incus config get "$name" volatile.idmap.current | grep -o '"Hostid":[0-9]*' | head -n1 | cut -d: -f2)`,
          `    chown -R "$((base + uid)):$((base + gid))" ${shq(data.destination)}`,
          `    log "$name: ${data.path} owned by $owner inside the container"`,
        ]
      : []),
    ...health,
    `    [ "$(incus info "$name" | sed -n 's/^Status: //p')" = RUNNING ] || { echo "$name: not running after start" >&2; return 1; }`,
    `    incus config set "$name" security.protection.delete=${c.protect} ${MOVED_KEY}=true`,
    `    echo moved > "$dir/$name.state"`,
    `    log "$name: serving at $ip after $(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }') s of downtime"`,
    `  fi`,
    `}`,
    `undo_${i}() {`,
    `  ${containerVars(m, mc)}`,
    `  [ "$(cat "$dir/$name.state" 2>/dev/null)" = moved ] && return 0`,
    `  if incus info "$name" >/dev/null 2>&1 && [ "$(incus config get "$name" ${MARK_KEY})" = "$mark" ]; then`,
    `    incus stop "$name" --force >/dev/null 2>&1 || true; incus config set "$name" security.protection.delete=false >/dev/null 2>&1 || true`,
    `    incus delete --force "$name" >/dev/null 2>&1 && log "$name: partial copy removed"`,
    `  fi`,
    `  if [ "$(incus info "$ref" 2>/dev/null | sed -n 's/^Status: //p')" != RUNNING ]; then incus start "$ref" && log "$name: source $ref started again"; fi`,
    `  rm -f "$dir/$name.over"; echo rolled-back > "$dir/$name.state"`,
    `}`,
  ];
}

/** Waits up to healthTimeout seconds for a condition (text, shell test). */
const waitFor = (m: MigrationSpec): string =>
  `wait_for() { local i; for i in $(seq ${m.healthTimeout * 5}); do eval "$2" && return 0; sleep 0.2; done; echo "verification failed: $1 within ${m.healthTimeout}s" >&2; return 1; }`;

/** Which containers are on Incus and which are not, from the manifest states. */
const summaryLines = (m: MigrationSpec): string[] => [
  `summary() { local moved="" not=""; for n in ${m.containers.map((c) => shq(c.name)).join(" ")}; do if [ "$(cat "$dir/$n.state" 2>/dev/null)" = moved ]; then moved="$moved $n"; else not="$not $n"; fi; done; echo "moved to Incus:\${moved:- none}; not moved (still on LXD):\${not:- none}"; }`,
];

/**
 * Cutover of one container (per-container mode) or of all listed containers in one window
 * (tenant mode: `mcs` = every container). On any failure, every container touched in this run
 * is rolled back (source started again, partial copy removed) and the error names what moved.
 */
export function renderCutover(spec: TenantSpec, mcs: readonly MigrationContainerSpec[]): ScriptPair {
  const m = need(spec);
  const idx = mcs.map((mc) => m.containers.findIndex((x) => x.name === mc.name));
  const what = mcs.length === 1 ? `${mcs[0].source} -> ${mcs[0].name}` : `${mcs.length} containers in one window`;
  const body: string[] = [
    ...prelude(spec, m),
    `SRC=${shq(`${m.source.user}@${m.source.address}`)}`,
    `mkdir -p "$dir"`,
    waitFor(m),
    ...summaryLines(m),
    `touched=""; step="start"`,
    ...mcs.flatMap((mc, k) => cutoverFunctions(spec, m, mc, idx[k])),
    `rollback() {`,
    `  local rc=$? failed_step=$step; trap - ERR; set +e`,
    `  log "cutover failed at: $failed_step: rolling back"`,
    `  for i in $(echo $touched | tr ' ' '\\n' | sort -u); do "undo_$i"; done`,
    `  echo "migration cutover of ${what} failed at \\"$failed_step\\" (exit $rc); rolled back: sources started again, partial copies removed. $(summary). Re-run to resume." >&2`,
    `  exit 1`,
    `}`,
    `trap rollback ERR; set -E`,
  ];
  if (mcs.length === 1) {
    body.push(`log "cutover ${idx[0] + 1} of ${m.containers.length}: ${what}"`, `cut_${idx[0]}`);
  } else {
    body.push(`log "tenant-wide cutover of ${mcs.length} containers"`, ...idx.map((i, k) => `log "cutover ${k + 1} of ${mcs.length}: ${mcs[k].name}"; cut_${i}`));
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
    ...prelude(spec, m),
    `SRC=${shq(`${m.source.user}@${m.source.address}`)}`,
    `for n in ${names}; do [ "$(incus config get "$n" ${MOVED_KEY} 2>/dev/null)" = true ] || { echo "cleanup: $n is not moved and verified; the sources are kept" >&2; exit 1; }; done`,
  ];
  let left = m.containers.length;
  for (const mc of m.containers) {
    left -= 1;
    body.push(containerVars(m, mc));
    if (m.cleanupSource) {
      body.push(
        `if incus info "$ref" >/dev/null 2>&1; then incus stop "$ref" --force >/dev/null 2>&1 || true; incus delete --force "$ref"; log "$source deleted on the source LXD (${left} left)"; else log "$source already gone from the source"; fi`,
        ...(mc.data ? [`src ${shq(`rm -rf -- ${shq(mc.data.source)}`)}; log "$name: source data ${mc.data.source} deleted"`] : []),
        `echo cleaned > "$dir/$name.source"`,
      );
    } else {
      body.push(
        `st=$(incus info "$ref" 2>/dev/null | sed -n 's/^Status: //p' || true)`,
        `if [ "$st" = RUNNING ]; then echo "cleanup: source $ref is running again although $name is moved: stop it by hand" >&2; exit 1; fi`,
        `log "$source kept \${st:-(gone)} and intact on the source (cleanupSource: false)"`,
      );
    }
  }
  return { create: script(`migration cleanup of tenant ${spec.name} (cleanupSource: ${m.cleanupSource})`, body) };
}
