/**
 * The tenant's preflight (issue 12): ONE read-only host script that runs before any other
 * command of the tenant and checks that every piece each service needs is there: the storage
 * pool and the bridge, the image of each container still to be created, caddy and its systemd
 * unit in the proxy container, the DNS server binary in the dns container, and Vault (its CLI,
 * initialised, unsealed) in the vault container. Tools are checked in containers that already
 * exist (a container the apply creates is checked through its image only). Everything missing is
 * listed in one error, one line per piece (`<container>: <what is missing>: <how to fix it>`),
 * and the script exits 1 having changed nothing. The one opt-in change: with `installCaddy` (the
 * stack's `proxy.install: true`) a missing caddy is installed from the proxy container's own
 * Debian package sources, and only when nothing else is missing.
 */
import type { TenantSpec } from "../model/types";
import type { CaddySpec } from "../model/vhosts";
import type { DnsSpec } from "../model/zones";
import type { VaultSpec } from "../model/vault";
import {
  HTTPS_WITHOUT_CA,
  NOT_INITIALIZED_MESSAGE,
  SEALED_MESSAGE,
  unreachableMessage,
  VAULT_BIN_DIR,
} from "./vault";
import { script, shq, singleQuotedOnPurpose } from "./shell";
import type { ScriptPair } from "./snippets";

/** The DNS server binary checked in the dns container when the stack names none (the runbooks' CoreDNS). */
export const DEFAULT_DNS_SERVER = "coredns";

/** What the preflight checks beyond the spec's own fields. */
export interface PreflightOptions {
  /** Binary of the DNS server in the dns container (`coredns`; the test bed's stand-in is BIND's `named`). */
  readonly dnsServer: string;
  /** Install a missing caddy in the proxy container with apt-get instead of failing (`proxy.install`). */
  readonly installCaddy: boolean;
}

/** The options the stack sets: `dns.server` and `proxy.install`, else the defaults. */
export function preflightOptions(spec: TenantSpec): PreflightOptions {
  return {
    dnsServer: spec.services.dns?.server ?? DEFAULT_DNS_SERVER,
    installCaddy: spec.services.caddy?.proxy.install === true,
  };
}

/** The header of the one error (stderr) listing every missing piece. */
export const problemsHeader = (tenant: string): string =>
  `preflight of tenant ${tenant}: nothing was changed; missing:`;

/** In-container `sh -c` programs below expand their own `$1`. */
const IN_CONTAINER = singleQuotedOnPurpose("the sh -c program in the container expands $1 itself");

/** `sh -c` text: is `$1` a command in PATH (optionally also in /opt/gbo/bin, where the runbooks put binaries). */
const hasCommand = (optDir: boolean): string =>
  // `|| ...`: dash's `command -v` exits 127 for a missing name, which `incus exec` reports as an error.
  `command -v "$1" >/dev/null || ${optDir ? `[ -x ${VAULT_BIN_DIR}/"$1" ]` : "exit 1"}`;

/**
 * Lines that run `body` only when container `c` is running; a stopped container is one problem
 * (its tools cannot be checked); a missing one is left to the image check (the apply creates it).
 */
function whenRunning(c: string, what: string, body: string[]): string[] {
  return [
    `c=${shq(c)}; st=$(status "$c")`,
    `if [ -z "$st" ]; then :`,
    `elif [ "$st" != RUNNING ]; then stopped "$c" "$st" ${shq(what)}`,
    "else",
    ...body.map((l) => `  ${l}`),
    "fi",
  ];
}

/**
 * Images of the containers the apply creates (those that do not exist, migrated ones aside): each
 * image is asked for once (`incus image info` answers for a local alias and for `remote:alias`).
 */
function imageLines(spec: TenantSpec): string[] {
  const migrated = new Set(spec.migration?.containers.map((m) => m.name) ?? []);
  const byImage = new Map<string, string[]>();
  for (const c of spec.containers)
    if (!migrated.has(c.name)) byImage.set(c.image, [...(byImage.get(c.image) ?? []), c.name]);
  return [...byImage].flatMap(([image, names]) => {
    const [remote, ...alias] = image.split(":");
    const fix = image.includes(":")
      ? `check that its remote answers (incus image list ${remote}:) ` +
        `or copy it (incus image copy ${image} local: --alias ${alias.join(":")})`
      : `import it (incus image import FILE --alias ${image}) or set another image`;
    return [
      `absent ${names.map(shq).join(" ")}`,
      `if [ "\${#new[@]}" -gt 0 ] && ! incus image info ${shq(image)} >/dev/null 2>&1; then`,
      `  for c in "\${new[@]}"; do miss "$c" ${shq(`image ${image} to create it from is not available`)} ` +
        `${shq(fix)}; done`,
      "fi",
    ];
  });
}

/** caddy and its unit in the proxy container; a missing caddy is queued for install when asked. */
function caddyLines(caddy: CaddySpec, install: boolean): string[] {
  const { container, service } = caddy.proxy;
  const unit = [
    `if ! incus exec -n "$c" -- systemctl cat -- ${shq(service)} >/dev/null 2>&1; then miss "$c" ` +
      `${shq(`systemd unit ${service} (proxy.service) does not exist`)} ` +
      `${shq("install the unit that runs caddy, or set proxy.service to its name")}; fi`,
  ];
  const missing = install
    ? // Debian's package brings caddy.service; any other unit name must exist already.
      [`install_caddy=1${service === "caddy" || service === "caddy.service" ? "" : `; ${unit[0]}`}`]
    : [
        `miss "$c" 'caddy is not installed' ` +
          `'install it (apt-get install caddy in the container) or set proxy.install: true'`,
      ];
  return whenRunning(container, "caddy", [
    IN_CONTAINER,
    `if incus exec -n "$c" -- sh -c ${shq(hasCommand(false))} sh caddy; then`,
    ...unit.map((l) => `  ${l}`),
    "else",
    ...missing.map((l) => `  ${l}`),
    "fi",
  ]);
}

/** The DNS server binary (in PATH or /opt/gbo/bin) in the dns container. */
function dnsLines(dns: DnsSpec, server: string): string[] {
  return whenRunning(dns.container, `the DNS server (${server})`, [
    IN_CONTAINER,
    `incus exec -n "$c" -- sh -c ${shq(hasCommand(true))} sh ${shq(server)} || miss "$c" ` +
      `${shq(`the DNS server ${server} is not installed (not in PATH nor ${VAULT_BIN_DIR})`)} ` +
      `${shq(`install ${server} in the container, or set dns.server to the binary that serves the zones`)}`,
  ]);
}

/** The vault CLI, then the health endpoint: initialised and unsealed (render/vault.ts's messages). */
function vaultLines(v: VaultSpec): string[] {
  if (v.caCert === undefined && v.address.startsWith("https://")) throw new Error(HTTPS_WITHOUT_CA);
  const tls = v.caCert !== undefined ? ` --cacert ${shq(v.caCert)}` : "";
  const url = `${v.address}/v1/sys/health?standbyok=true`;
  return whenRunning(v.container, "Vault", [
    IN_CONTAINER,
    `incus exec -n "$c" -- sh -c ${shq(`PATH="${VAULT_BIN_DIR}:$PATH"; ${hasCommand(false)}`)} sh vault || ` +
      `miss "$c" ${shq(`the vault CLI is not installed (not in ${VAULT_BIN_DIR} nor PATH)`)} ` +
      `${shq(`install it in ${VAULT_BIN_DIR}`)}`,
    `code=$(incus exec -n "$c" -- curl -s${tls} --max-time 10 -o /dev/null -w '%{http_code}' ${shq(url)} || true)`,
    `case "$code" in`,
    "  200) ;;",
    `  503) problems+=("$c: "${shq(SEALED_MESSAGE)}) ;;`,
    `  501) miss "$c" ${shq(NOT_INITIALIZED_MESSAGE)} 'initialise it (vault operator init), then unseal it' ;;`,
    `  *) miss "$c" ${shq(`${unreachableMessage(v.address)} (health answered`)}" \${code:-nothing})" ` +
      `'start Vault in the container (and install curl there)' ;;`,
    "esac",
  ]);
}

/** After every check passed: install caddy from the proxy container's own package sources, then re-check. */
function installLines(caddy: CaddySpec): string[] {
  const { container, service } = caddy.proxy;
  const apt = "apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q caddy";
  return [
    `if [ "$install_caddy" = 1 ]; then`,
    `  c=${shq(container)}; u=${shq(service)}`,
    `  log "$c: installing caddy from the container's Debian package sources (proxy.install: true)"`,
    `  out=$(incus exec -n "$c" -- sh -c ${shq(apt)} 2>&1) || ` +
      `{ printf '%s\\n' "$c: apt-get install caddy failed:" "$out" >&2; exit 1; }`,
    `  ${IN_CONTAINER}`,
    `  incus exec -n "$c" -- sh -c ${shq(hasCommand(false))} sh caddy || ` +
      `{ echo "$c: caddy is still not in PATH after apt-get install caddy" >&2; exit 1; }`,
    `  incus exec -n "$c" -- systemctl cat -- ${shq(service)} >/dev/null 2>&1 || ` +
      `{ echo "$c: systemd unit $u does not exist after apt-get install caddy" >&2; exit 1; }`,
    `  log "$c: caddy installed"`,
    "fi",
  ];
}

/** The preflight command's create script (read-only unless `installCaddy` and caddy is the only thing missing). */
export function renderTenantPreflight(
  spec: TenantSpec,
  options: PreflightOptions = preflightOptions(spec),
): ScriptPair {
  const { caddy, dns, vault } = spec.services;
  const { bridge, subnet, gateway } = spec.network;
  const prefix = subnet.split("/")[1];
  const body = [
    "command -v incus >/dev/null || " +
      "{ echo 'host: incus is not installed: install it (apt-get install incus)' >&2; exit 1; }",
    `problems=()${options.installCaddy && caddy ? "; install_caddy=0" : ""}`,
    `miss() { problems+=("$1: $2: $3"); }`,
    `stopped() { miss "$1" "it is $2, so $3 cannot be checked" "start it (incus start $1)"; }`,
    "declare -A state=()",
    "list=$(incus list --format csv -c ns) || " +
      "{ echo 'host: incus list failed: is the Incus daemon running?' >&2; exit 1; }",
    `while IFS=, read -r n s; do [ -z "$n" ] || state[$n]=$s; done <<< "$list"`,
    `status() { printf '%s' "\${state[$1]:-}"; }`,
    `absent() { new=(); for c in "$@"; do [ -n "$(status "$c")" ] || new+=("$c"); done; }`,
    `incus storage show ${shq(spec.storagePool)} >/dev/null 2>&1 || miss host ` +
      `${shq(`storage pool ${spec.storagePool} does not exist`)} ` +
      `${shq(`create it (incus storage create ${spec.storagePool} dir) or set storagePool`)}`,
    `incus network show ${shq(bridge)} >/dev/null 2>&1 || miss host ` +
      `${shq(`bridge ${bridge} does not exist`)} ` +
      `${shq(`create it (incus network create ${bridge} ipv4.address=${gateway}/${prefix}) or set network.bridge`)}`,
    ...imageLines(spec),
    ...(caddy ? caddyLines(caddy, options.installCaddy) : []),
    ...(dns ? dnsLines(dns, options.dnsServer) : []),
    ...(vault ? vaultLines(vault) : []),
    `if [ "\${#problems[@]}" -gt 0 ]; then`,
    `  { echo ${shq(problemsHeader(spec.name))}; printf '  %s\\n' "\${problems[@]}"; } >&2`,
    "  exit 1",
    "fi",
    ...(caddy && options.installCaddy ? installLines(caddy) : []),
    `log ${shq(`preflight of tenant ${spec.name}: every tool each service needs is present`)}`,
  ];
  return { create: script(`preflight of tenant ${spec.name} (reads only; lists every missing piece)`, body) };
}
