/** Migration preflight (nothing touched, every problem named) and the idempotent trust step. */
import { TenantSpec } from "../../model/types";
import { ScriptPair } from "../snippets";
import { script, shellcheckDisable, shq } from "../shell";
import { MigrationSpec } from "../../model/migration";
import {
  containerVars,
  FREE_FACTOR_TENTHS,
  MANIFEST_DIR_LINE,
  MARK_KEY,
  MOVED_KEY,
  need,
  prelude,
  RUNS_ON_SOURCE,
} from "./common";

/**
 * One problem per line, all reported, nothing touched: versions, sources, destination names, disk
 * space. `problem` joins its arguments with spaces (like `log`), so values are separate words.
 */
export function renderPreflight(spec: TenantSpec): ScriptPair {
  const m = need(spec);
  const s = m.source;
  const login = shq(`${s.user}@${s.address}:${s.port}`);
  const address = shq(s.address);
  const body: string[] = [
    ...prelude(spec, m, { tenant: true, dir: true, pool: true }),
    `problems=(); problem() { problems+=("$*"); }`,
    `incus_version=$(incus version 2>/dev/null | sed -n 's/^Server version: //p' || true)`,
    `[ -n "$incus_version" ] || problem "the Incus daemon on this host is not reachable (incus version)"`,
    `rc=0; src 'lxc version' > "$tmp/lxd.version" 2>"$tmp/ssh.err" || rc=$?; ` +
      `lxd_version=$(sed -n 's/^Server version: //p' "$tmp/lxd.version")`,
    `if [ "$rc" = 255 ]; then problem "the source host" ${login} ` +
      `"is not reachable over SSH: $(tr '\\n' ' ' < "$tmp/ssh.err")"`,
    `elif [ -z "$lxd_version" ]; then problem "the LXD daemon on" ${address} "is not reachable (lxc version)"; fi`,
    `log "preflight: Incus \${incus_version:-?} on this host, LXD \${lxd_version:-?} on" ` +
      `${address}"; ${m.containers.length} container(s) to move"`,
    `declare -A want=(); declare -A have=(); declare -A where=(); declare -A usages=()`,
    `account() { local p=$1 bytes=$2 dev; while [ ! -e "$p" ]; do p=$(dirname "$p"); done; ` +
      `dev=$(stat -c %d "$p"); want[$dev]=$(( \${want[$dev]:-0} + bytes )); ` +
      `have[$dev]=$(df -B1 --output=avail "$p" | tail -n1 | tr -d ' '); where[$dev]=$p; }`,
    `pool_dir=$(incus storage get "$pool" source 2>/dev/null || true); ` +
      `[ -n "$pool_dir" ] || problem "storage pool $pool does not exist on this host"`,
    // One listing each of the instances and profiles here, rather than one call per container.
    `instances=" $(incus list --format csv -c n 2>/dev/null | tr '\\n' ' ' || true) "; ` +
      `profiles=" $(incus profile list --format csv -c n 2>/dev/null | tr '\\n' ' ' || true) "`,
    `exists() { case "$instances" in *" $1 "*) return 0;; esac; return 1; }`,
    `total=0; resumed=0`,
  ];
  for (const mc of m.containers) {
    // One call per container: its config (existence, profiles, the manifest) and its disk usage.
    const show =
      `lxc config show ${shq(mc.source)} && echo '#usage' && ` +
      `{ d=/var/lib/lxd/containers/${shq(mc.source)}; ` +
      `[ -e "$d" ] || d=/var/snap/lxd/common/lxd/containers/${shq(mc.source)}; ` +
      `du -sxb "$d/" 2>/dev/null | cut -f1; }`;
    body.push(
      containerVars(mc, ["mark"]),
      `usage=0`,
      shellcheckDisable("", "SC2016", RUNS_ON_SOURCE),
      `if [ -n "$lxd_version" ] && ! src ${shq(show)} > "$tmp/$name.show" 2>/dev/null; ` +
        `then problem "source container $source (for $name) does not exist on LXD at" ${address}`,
      `elif [ -n "$lxd_version" ]; then`,
      `  usage=$(sed -n '/^#usage$/{n;p}' "$tmp/$name.show"); usage=\${usage:-0}; usages[$name]=$usage; ` +
        `sed -i '/^#usage$/,$d' "$tmp/$name.show"`,
      shellcheckDisable(
        "  ",
        "SC2013",
        "profile names are single words; a for loop keeps stdin from the body",
      ),
      `  for p in $(sed -n '/^profiles:/,/^[a-z]/s/^- //p' "$tmp/$name.show"); do ` +
        `case "$profiles" in *" $p "*) ;; *) ` +
        `problem "source container $source uses profile $p, which does not exist on this host";; esac; done`,
      `fi`,
      `if exists "$name"; then`,
      `  got=$(incus config get "$name" ${MARK_KEY})`,
      `  if [ "$got" != "$mark" ]; then problem "destination name $name is taken by an instance ` +
        `that is not this migration's copy (${MARK_KEY}=\${got:-unset})"`,
      `  elif [ "$(incus config get "$name" ${MOVED_KEY})" = true ]; then ` +
        `log "$name: already moved and verified"; usage=0; resumed=$((resumed + 1))`,
      `  else log "$name: holds this migration's copy from an earlier run: resuming"; ` +
        `resumed=$((resumed + 1)); fi`,
      `fi`,
      `[ -z "$pool_dir" ] || account "$pool_dir" "$usage"`,
      `total=$((total + usage))`,
    );
    if (mc.data) {
      body.push(
        `if [ -n "$lxd_version" ]; then`,
        `  if ! src ${shq(`test -d ${shq(mc.data.source)}`)}; then ` +
          `problem "data directory" ${shq(mc.data.source)} "of $name does not exist on the source host"; else`,
        `    dbytes=$(src ${shq(`du -sb ${shq(mc.data.source)} | cut -f1`)}); ` +
          `account ${shq(mc.data.destination)} "$dbytes"; total=$((total + dbytes)); fi`,
        `fi`,
      );
    }
  }
  body.push(
    `for dev in "\${!want[@]}"; do`,
    `  needed=$(( want[$dev] * ${FREE_FACTOR_TENTHS} / 10 ))`,
    `  [ "\${have[$dev]}" -ge "$needed" ] || problem "not enough free disk on this host at \${where[$dev]}: ` +
      `$(human "\${have[$dev]}") free, $(human "$needed") needed ` +
      `(1.2 x the source usage $(human "\${want[$dev]}"))"`,
    `done`,
    `if [ \${#problems[@]} -gt 0 ]; then`,
    `  printf 'migration preflight found %d problem(s); nothing was changed:\\n' "\${#problems[@]}" >&2`,
    `  printf '  - %s\\n' "\${problems[@]}" >&2`,
    `  exit 1`,
    `fi`,
    MANIFEST_DIR_LINE,
    `{ echo "tenant: $tenant"; echo "source:" ${login} "(LXD $lxd_version)"; ` +
      `echo "destination: $(hostname) (Incus $incus_version)"; echo "remote: $remote"; echo "containers:"; } ` +
      `> "$dir/manifest.txt.new"`,
  );
  for (const mc of m.containers) {
    body.push(
      containerVars(mc, []),
      `if ! exists "$name" || [ "$(incus config get "$name" ${MOVED_KEY} 2>/dev/null)" != true ]; then`,
      `  cp "$tmp/$name.show" "$dir/$name.source.yaml"`,
      `  echo "\${usages[$name]:-0}" > "$dir/$name.usage"`,
      `  [ -f "$dir/$name.state" ] || echo new > "$dir/$name.state"`,
      `fi`,
      `devs=$(sed -n '/^devices:/,/^[a-z]/{/^  [^ ]/{s/^  \\(.*\\):$/\\1/;p}}' "$dir/$name.source.yaml" ` +
        `| tr '\\n' ' ')`,
      `echo "  - $name <- $source: $(human "$(cat "$dir/$name.usage")") root disk, ` +
        `devices: \${devs:-none}, state: $(cat "$dir/$name.state")" >> "$dir/manifest.txt.new"`,
    );
  }
  body.push(
    `mv -f "$dir/manifest.txt.new" "$dir/manifest.txt"`,
    `log "preflight ok: $(human "$total") to move, $resumed of ${m.containers.length} container(s) resumed; ` +
      `manifest in $dir"`,
  );
  return { create: script(`migration preflight of tenant ${spec.name}`, body) };
}

/** The end of every message of the certificate check: the failure left nothing half done. */
export const NOTHING_MOVED = "the remote was not added and nothing was moved";

/**
 * Lines that check the certificate LXD presents at lxdAddress before anything trusts it: LXD's own
 * certificate fingerprint is read over the pinned SSH connection (`lxc info`), must equal the
 * pinned `migration.lxdFingerprint` when one is set (`pin`), and must equal the certificate
 * presented at lxdAddress (`openssl s_client`). Sets `lxd_addr`, `src_host`, `lxd_fp` and `fp_of`
 * (sha256 of a PEM on stdin, lower-case hex without colons). Any mismatch stops the script before
 * the remote exists.
 */
function certCheckLines(m: MigrationSpec): string[] {
  const pin = m.lxdFingerprint;
  /** `{ echo "<why>: <NOTHING_MOVED>" >&2; exit 1; }`; `why` is double-quoted shell text. */
  const stop = (why: string): string => `{ echo "${why}: ${NOTHING_MOVED}" >&2; exit 1; }`;
  return [
    `lxd_addr=${shq(m.lxdAddress)}; src_host=${shq(m.source.address)}` +
      (pin !== undefined ? `; pin=${shq(pin)}` : ""),
    `fp_of() { openssl x509 -noout -fingerprint -sha256 2>/dev/null | sed 's/.*=//; s/://g' | tr 'A-F' 'a-f'; }`,
    `lxd_fp=$(src 'lxc info' 2>/dev/null | sed -n 's/^  certificate_fingerprint: //p' | head -n1 || true)`,
    `[ -n "$lxd_fp" ] || ` +
      stop("could not read the certificate fingerprint of LXD on $src_host over SSH (lxc info)"),
    ...(pin !== undefined
      ? [
          `[ "$lxd_fp" = "$pin" ] || ` +
            stop(
              "LXD on $src_host has the certificate sha256 $lxd_fp, not the pinned migration.lxdFingerprint $pin",
            ),
        ]
      : []),
    `seen_fp=$(timeout 15 openssl s_client -connect "$lxd_addr" < /dev/null 2>/dev/null | fp_of || true)`,
    `[ -n "$seen_fp" ] || ${stop("no TLS certificate could be read at $lxd_addr (openssl s_client)")}`,
    `[ "$seen_fp" = "$lxd_fp" ] || ` +
      stop(
        "the certificate at $lxd_addr (sha256 $seen_fp) is not the certificate of LXD on $src_host " +
          "(sha256 $lxd_fp, read over SSH)",
      ),
    `log "LXD at $lxd_addr presents its own certificate (sha256 \${lxd_fp:0:16}..., read over SSH)"`,
  ];
}

/**
 * Trust, idempotent: LXD listens on lxdAddress, its certificate is checked ({@link certCheckLines}),
 * it trusts this host's Incus client certificate, and the remote exists once (`--protocol=incus`,
 * the certificate accepted explicitly, then the stored copy compared with LXD's: a mismatch
 * removes the remote again and fails). An existing remote is replaced when it points elsewhere
 * or stores another certificate. The delete removes the remote and undoes only what this step
 * did (best effort: the source may be gone).
 */
export function renderTrust(spec: TenantSpec): ScriptPair {
  const m = need(spec);
  const addr = m.lxdAddress;
  const fingerprint =
    `fp=$(openssl x509 -in "$crt" -noout -fingerprint -sha256 | ` + `sed 's/.*=//; s/://g' | tr 'A-F' 'a-f')`;
  const trustAdd =
    `t=$(mktemp); cat > "$t"; lxc config trust add "$t" --name ${shq(`incus-tenant-${spec.name}`)}; ` +
    `rc=$?; rm -f "$t"; exit $rc`;
  const create = script(`migration trust of tenant ${spec.name} (LXD ${addr} as remote ${m.remote})`, [
    ...prelude(spec, m, { dir: true }),
    `crt="\${HOME:-/root}/.config/incus/client.crt"`,
    `[ -f "$crt" ] || { incus remote generate-certificate >/dev/null 2>&1 || incus remote list >/dev/null; }`,
    `[ -f "$crt" ] || { echo "no Incus client certificate at $crt" >&2; exit 1; }`,
    fingerprint,
    MANIFEST_DIR_LINE,
    `cur=$(src 'lxc config get core.https_address')`,
    `if [ -z "$cur" ]; then src ${shq(`lxc config set core.https_address ${shq(addr)}`)}; ` +
      `echo ${shq(addr)} > "$dir/https_address.set"; log "LXD now listens on" ${shq(addr)}; ` +
      `else log "LXD already listens on $cur"; fi`,
    ...certCheckLines(m),
    `if src "lxc config trust show $fp" >/dev/null 2>&1; then ` +
      `log "this host's Incus client certificate is already trusted by LXD"; else`,
    shellcheckDisable("  ", "SC2016", RUNS_ON_SOURCE),
    `  src ${shq(trustAdd)} < "$crt"`,
    `  echo "$fp" > "$dir/trusted.fp"; log "LXD trusts this host's Incus client certificate (\${fp:0:12})"`,
    `fi`,
    `url=$(incus remote list --format csv 2>/dev/null | sed 's/ (current)//' | ` +
      `awk -F, -v r="$remote" '$1 == r { print $2 }')`,
    `sc="\${HOME:-/root}/.config/incus/servercerts/$remote.crt"; ` +
      `stored_fp() { if [ -f "$sc" ]; then fp_of < "$sc"; fi; }`,
    `if [ -n "$url" ] && [ "$url" != ${shq(`https://${addr}`)} ]; then ` +
      `log "remote $remote pointed at $url: replacing it"; incus remote remove "$remote"; url=""; fi`,
    `if [ -n "$url" ] && [ "$(stored_fp)" != "$lxd_fp" ]; then ` +
      `log "remote $remote stored another certificate (sha256 $(stored_fp)) than LXD's: replacing it"; ` +
      `incus remote remove "$remote"; url=""; fi`,
    `if [ -z "$url" ]; then incus remote add "$remote" ${shq(addr)} --accept-certificate --protocol=incus ` +
      `< /dev/null >/dev/null; log "incus remote $remote ->" ${shq(addr)} "added"; ` +
      `else log "incus remote $remote ->" ${shq(addr)} "already there"; fi`,
    `got_fp=$(stored_fp); [ "$got_fp" = "$lxd_fp" ] || { incus remote remove "$remote" >/dev/null 2>&1 || true; ` +
      `echo "the remote $remote stored the certificate sha256 \${got_fp:-none}, ` +
      `not LXD's sha256 $lxd_fp (read over SSH): ` +
      `the remote was removed again and nothing was moved" >&2; exit 1; }`,
    `incus list "$remote:" --format csv -c n >/dev/null || ` +
      `{ echo "the remote $remote ($lxd_addr) does not answer with this host's certificate" >&2; exit 1; }`,
  ]);
  const del = script(`migration trust of tenant ${spec.name} (remove)`, [
    ...prelude(spec, m, { dir: true }),
    `if incus remote list --format csv 2>/dev/null | sed 's/ (current)//' | cut -d, -f1 | grep -qx "$remote"; ` +
      `then incus remote remove "$remote"; log "incus remote $remote removed"; fi`,
    `if [ -f "$dir/trusted.fp" ]; then`,
    `  fp=$(cat "$dir/trusted.fp"); if src "lxc config trust remove $fp" >/dev/null 2>&1; ` +
      `then log "LXD no longer trusts \${fp:0:12}"; ` +
      `else log "warning: could not remove trust \${fp:0:12} on the source (already gone or unreachable)"; fi`,
    `  rm -f "$dir/trusted.fp"`,
    `fi`,
    `if [ -f "$dir/https_address.set" ]; then`,
    `  if src 'lxc config unset core.https_address' >/dev/null 2>&1; then log "LXD https address unset"; ` +
      `else log "warning: could not unset core.https_address on the source"; fi`,
    `  rm -f "$dir/https_address.set"`,
    `fi`,
  ]);
  return { create, delete: del };
}
