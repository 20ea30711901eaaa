/**
 * The converge script of one Incus container (used for both create and update) and its delete.
 * The desired config is summarised by a hash stored in the instance (`user.incus-tenant.hash`):
 * when it matches, nothing is changed and no snapshot is taken, so re-runs are no-ops; when it
 * differs on an existing container and the change restarts it or touches its devices, a
 * `pre-change-<UTC time on the host>` snapshot comes first (settings and labels alone take none).
 */
import { ContainerSpec, TenantSpec } from "../model/types";
import { containerConfig, containerHash, markLine } from "./containerConfig";
import { script, shq } from "./shell";
import { runningTest, ScriptPair, statusCommand, UTC_STAMP } from "./snippets";

export { containerHash } from "./containerConfig";

/** The instance key naming the tenant a container belongs to (set by the configuration). */
export const TENANT_LABEL = "user.incus-tenant.tenant";

/** Seconds to wait for a started container to hold its reserved address. */
export const ADDRESS_TIMEOUT_S = 120;

/** The shell test "disk device d of $name is exactly as declared". */
function diskSame(d: ContainerSpec["devices"][number]): string {
  const get = (key: string): string =>
    `"$(incus config device get "$name" ${shq(d.name)} ${key} 2>/dev/null || true)"`;
  return [
    `[ ${get("type")} = disk ]`,
    `[ ${get("source")} = ${shq(d.source)} ]`,
    `[ ${get("path")} = ${shq(d.path)} ]`,
    `[ ${get("readonly")} = ${d.readonly} ]`,
  ].join(" && ");
}

/** Each declared disk device, replaced (with a log line) unless it is already as declared. */
function diskLines(c: ContainerSpec, adds: readonly string[]): string[] {
  return c.devices.flatMap((d, i) => {
    const same = diskSame(d);
    return [
      `if ! { ${same}; }; then`,
      `  incus config device remove "$name" ${shq(d.name)} >/dev/null 2>&1 || true`,
      `  ${adds[i]}`,
      `  log "$name: disk" ${shq(d.name)} "->" ${shq(d.path)}`,
      "fi",
    ];
  });
}

/**
 * Shell text for an existing instance "$name", before anything changes: an instance labelled
 * (`user.incus-tenant.tenant`) for another tenant is refused by name ({@link foreignTenantMessage});
 * an unlabelled one is adopted (the configuration sets the label; devices the program never
 * declared are left alone).
 */
export function tenantLabelCheck(spec: TenantSpec): string[] {
  return [
    `owner=$(incus config get "$name" ${TENANT_LABEL})`,
    `if [ -n "$owner" ] && [ "$owner" != ${shq(spec.name)} ]; then`,
    // printf with the values as arguments: neither the label read from Incus nor the tenant name is shell text.
    `  printf ${shq(`${foreignTenantMessage("%s", "%s", "%s")}\\n`)} "$name" "$owner" ${shq(spec.name)} >&2; exit 1`,
    "fi",
    `[ -n "$owner" ] || log "$name: adopting the existing container into tenant" ${shq(spec.name)}`,
  ];
}

/**
 * The refusal of a container labelled for another tenant, e.g. `container alm belongs to tenant
 * "other" (user.incus-tenant.tenant): refusing to adopt it into "acme"`. The script prints it with
 * printf, the container, the label and the tenant name as arguments (never as shell text).
 */
export function foreignTenantMessage(name: string, owner: string, tenant: string): string {
  return (
    `container ${name} belongs to tenant "${owner}" (${TENANT_LABEL}): ` +
    `refusing to adopt it into "${tenant}"`
  );
}

/** Create/update converge script and delete script of one container. */
export function renderContainer(spec: TenantSpec, c: ContainerSpec): ScriptPair {
  const cfg = containerConfig(spec, c);
  const create = script(`container ${c.name} of tenant ${spec.name}`, [
    `name=${shq(c.name)}; ip=${shq(c.ipv4)}; hash=${shq(containerHash(spec, c))}; restart=0`,
    `if incus info "$name" >/dev/null 2>&1; then existed=1`,
    ...tenantLabelCheck(spec).map((l) => `  ${l}`),
    "else",
    `  existed=0; log "$name: creating from image" ${shq(c.image)} "on pool" ${shq(spec.storagePool)}`,
    `  incus init ${shq(c.image)} "$name" -s ${shq(spec.storagePool)} ` +
      `-c security.privileged=${c.privileged} -c security.protection.delete=${c.protect} >/dev/null`,
    "fi",
    `if [ "$(incus config get "$name" user.incus-tenant.hash)" != "$hash" ]; then`,
    // Unset is false: adopting a hand-made unprivileged container must not restart it.
    `  priv=$(incus config get "$name" security.privileged); ` +
      `[ "\${priv:-false}" = ${c.privileged} ] || restart=$existed`,
    `  nic=0; if [ "$(incus config device get "$name" eth0 network 2>/dev/null || true)" != ` +
      `${shq(spec.network.bridge)} ] || ` +
      `[ "$(incus config device get "$name" eth0 ipv4.address 2>/dev/null || true)" != "$ip" ]; then nic=1; fi`,
    `  devices=0`,
    ...c.devices.map((d) => `  { ${diskSame(d)}; } || devices=1`),
    `  declared=${shq(` ${cfg.declared} `)}`,
    `  for d in $(incus config get "$name" user.incus-tenant.devices); do case "$declared" in ` +
      `*" $d "*) ;; *) devices=1;; esac; done`,
    // A snapshot before what a restart or a device change could lose; settings, protection and the
    // label alone (e.g. adopting a hand-made container) take none: a snapshot of a running
    // container on a dir pool stalls it for seconds, and these changes need no way back.
    `  if [ "$existed" = 1 ] && [ "$restart$nic$devices" != 000 ]; then snap="pre-change-${UTC_STAMP}"; ` +
      `incus snapshot create "$name" "$snap"; log "$name: snapshot $snap taken before the change"; fi`,
    `  ${cfg.settings}`,
    `  ${cfg.protection}`,
    `  if [ "$nic" = 1 ]; then`,
    `    incus config device remove "$name" eth0 >/dev/null 2>&1 || true`,
    `    ${cfg.nic}`,
    `    restart=$existed; log "$name: eth0 on" ${shq(spec.network.bridge)} "reserved at $ip"`,
    "  fi",
    ...diskLines(c, cfg.disks).map((l) => `  ${l}`),
    `  for d in $(incus config get "$name" user.incus-tenant.devices); do case "$declared" in *" $d "*) ;; ` +
      `*) incus config device remove "$name" "$d" >/dev/null 2>&1 || true; log "$name: device $d removed";; ` +
      `esac; done`,
    `  ${markLine(spec, c)}`,
    "fi",
    `for d in $(incus config device list "$name"); do`,
    `  if [ "$(incus config device get "$name" "$d" type)" = proxy ]; then ` +
      `incus config device remove "$name" "$d" >/dev/null; ` +
      `log "$name: proxy device $d removed (NAT rules replace proxy devices)"; fi`,
    "done",
    `if incus config show "$name" --expanded | grep -q '^ *type: proxy$'; then ` +
      `echo "$name: a profile gives it an Incus proxy device; ` +
      `remove it from the profile (NAT rules replace proxy devices)" >&2; exit 1; fi`,
    `status=$(${statusCommand('"$name"')})`,
    `if [ "$status" = RUNNING ] && [ "$restart" = 1 ]; then ` +
      `log "$name: restarting to apply the change"; incus restart "$name"; fi`,
    `if [ "$status" != RUNNING ]; then log "$name: starting"; incus start "$name"; fi`,
    `for _ in $(seq ${ADDRESS_TIMEOUT_S}); do ` +
      `incus query "/1.0/instances/$name/state" | grep -q "\\"address\\": \\"$ip\\"" && break; sleep 1; done`,
    `incus query "/1.0/instances/$name/state" | grep -q "\\"address\\": \\"$ip\\"" || { ` +
      `echo "$name: running but eth0 did not get $ip within ${ADDRESS_TIMEOUT_S}s ` +
      `(does the image run a DHCP client on eth0?)" >&2; exit 1; }`,
    `log "$name: running at $ip"`,
  ]);
  const del = script(`container ${c.name} of tenant ${spec.name} (delete)`, [
    `name=${shq(c.name)}`,
    `if ! incus info "$name" >/dev/null 2>&1; then log "$name: already gone"; exit 0; fi`,
    `if [ "$(incus config get "$name" security.protection.delete)" = true ]; then`,
    `  echo "refusing to delete protected container $name (security.protection.delete=true keeps its data): ` +
      `unset it by hand to really delete it" >&2; exit 1`,
    "fi",
    `if ${runningTest('"$name"')}; then ` +
      `log "$name: stopping"; incus stop "$name" --timeout 30 || incus stop "$name" --force; fi`,
    `incus delete "$name"`,
    `log "$name: deleted"`,
  ]);
  return { create, delete: del };
}
