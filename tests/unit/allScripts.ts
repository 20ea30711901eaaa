/**
 * Every script the program runs on a host, rendered directly from a spec that reaches every
 * renderer: Pulumi.prod.yaml's tenant plus a container with a disk device, a DNS sync hook, a
 * Vault path deleted on destroy and a migration with data (two variants, so both cutover modes and
 * cleanupSource render). Shared by the injection test (its completeness test proves the list
 * equals the components' own under setMocks) and the shellcheck test.
 */
import type { TenantSpec } from "../../model/types";
import {
  renderChains,
  renderForwarding,
  renderGuard,
  renderPersistence,
  ScriptPair,
} from "../../render/host";
import { renderContainer } from "../../render/container";
import { renderNatRule } from "../../render/nat";
import { ARMED_PREFIX, armedId, natConfirm } from "../../render/firewall";
import { renderCaddyMainScripts, renderVhostScripts } from "../../render/caddy";
import { renderCorefileScripts, renderZoneScripts } from "../../render/zone";
import { renderVaultEnvFile, renderVaultPreflight, renderVaultPut } from "../../render/vault";
import {
  renderCleanup,
  renderCutover,
  renderPrecopy,
  renderPreflight,
  renderTrust,
} from "../../render/migration";
import { readScript } from "../../drift";
import { renderTenantPreflight } from "../../render/preflight";
import { verifyScript } from "../../render/verify";
import { SOURCE_HOST_KEY, stackTenant } from "./fixtures";

/** A documentation ed25519 host key (valid blob) for host.hostKey and migration.source.hostKey. */
export const HOST_KEY = SOURCE_HOST_KEY;

/** The raw base tenant: prod's tenant plus the optional parts that put more fields into scripts. */
export function baseRaw(variant: "per-container" | "tenant"): Record<string, any> {
  const t = stackTenant("prod");
  t.host.hostKey ??= HOST_KEY;
  t.containers.files = {
    ipv4: "10.0.2.42",
    ports: [80],
    devices: {
      data: { type: "disk", source: "/opt/gbo/tenants/acme/files", path: "/opt/gbo", readonly: true },
    },
  };
  t.dns.syncHook = "/usr/local/sbin/sync-zones";
  // One Vault path deleted on destroy (its delete script differs from a kept path's).
  t.vault.paths[Object.keys(t.vault.paths)[0]].keepOnDestroy = false;
  t.migration = {
    source: {
      address: "192.0.2.5",
      hostKey: HOST_KEY,
      ...(variant === "tenant" ? { user: "admin", port: 2222 } : {}),
    },
    lxdFingerprint: "ab".repeat(32),
    sourcePrefix: "acme-",
    containers: ["files", "proxy", "tables"],
    data: {
      files: { source: "/opt/gbo/files", destination: "/opt/gbo/tenants/acme/files", owner: "gbuser:gbuser" },
    },
    cutover: variant,
    cleanupSource: variant === "tenant",
  };
  return t;
}

/** One rendered script: which renderer made it (`kind`), for what (`id`), and its text. */
export interface Rendered {
  readonly kind: string;
  readonly id: string;
  readonly text: string;
}

/**
 * Every script the Pulumi program runs for `spec`, rendered directly (create and delete of each
 * remote.Command, in the components' order). `confirmId` is the NAT apply's armed id the
 * confirmation names. The completeness test below proves this list equals the components' own.
 */
export function renderProgram(spec: TenantSpec, confirmId: string): Rendered[] {
  const out: Rendered[] = [];
  const add = (kind: string, of: string, pair: ScriptPair): void => {
    const id = of === "" ? kind : `${kind} ${of}`;
    out.push({ kind: `${kind} create`, id: `${id} create`, text: pair.create });
    if (pair.delete !== undefined)
      out.push({ kind: `${kind} delete`, id: `${id} delete`, text: pair.delete });
  };
  add("tenant preflight", "", renderTenantPreflight(spec));
  add("host guard", "", renderGuard(spec));
  add("host forwarding", "", renderForwarding(spec));
  add("host chains", "", renderChains(spec));
  add("host persistence", "", renderPersistence());
  for (const c of spec.containers)
    add(`container${c.devices.length > 0 ? " (disks)" : ""}`, c.name, renderContainer(spec, c));
  for (const r of spec.nat) {
    add("nat dnat", r.key, renderNatRule(spec, r));
    add("nat confirm", r.key, { create: natConfirm(spec, r, confirmId) });
  }
  const { caddy, dns, vault } = spec.services;
  if (caddy) {
    add("caddy main", "", renderCaddyMainScripts(caddy));
    for (const v of caddy.vhosts) add("caddy vhost", v.key, renderVhostScripts(caddy, v));
  }
  if (dns) {
    for (const z of dns.zones) add("dns zone", z.name, renderZoneScripts(dns, z));
    add("dns corefile", "", renderCorefileScripts(dns));
  }
  if (vault) {
    add("vault preflight", "", renderVaultPreflight(vault));
    for (const p of vault.paths)
      add(`vault put${p.keepOnDestroy ? " (kept on destroy)" : ""}`, p.key, renderVaultPut(vault, p));
    if (vault.envFile) add("vault env", "", renderVaultEnvFile(vault));
  }
  const m = spec.migration;
  if (m) {
    add("migration preflight", "", renderPreflight(spec));
    add("migration trust", "", renderTrust(spec));
    for (const mc of m.containers)
      add(`migration precopy${mc.data ? " (data)" : ""}`, mc.name, renderPrecopy(spec, mc));
    if (m.cutover === "tenant") add("migration cutover (tenant)", "", renderCutover(spec, m.containers));
    else
      for (const mc of m.containers)
        add(`migration cutover${mc.data ? " (data)" : ""}`, mc.name, renderCutover(spec, [mc]));
    add("migration cleanup", "", renderCleanup(spec));
  }
  return out;
}

/** Every script run on a host for `spec`: the program's, and the read-only ones of `plan --live` and `verify`. */
export function renderEverything(spec: TenantSpec, confirmId: string): Rendered[] {
  return [
    ...renderProgram(spec, confirmId),
    { kind: "plan --live read", id: "plan --live read", text: readScript(spec) },
    // The preflight's opt-in install branch and another DNS server (stack fields proxy.install, dns.server).
    {
      kind: "tenant preflight (install caddy)",
      id: "tenant preflight (install caddy)",
      text: renderTenantPreflight(spec, { dnsServer: "named", installCaddy: true }).create,
    },
    { kind: "verify read", id: "verify read", text: verifyScript(spec) },
  ];
}

/** An id the confirmation accepts (whatever format render/firewall.ts's armedId reads). */
export const CONFIRM_ID =
  ["20250102030405-4711", "4711-20250102030405", "20250102030405"].find(
    (c) => armedId(`${ARMED_PREFIX}${c} (30s)`) === c,
  ) ?? "none";
