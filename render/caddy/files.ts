/**
 * Caddy's files as the program renders them: the main Caddyfile it writes when it owns the main
 * file (global block with the storage root, the `tls_config` snippet, `import` of the sites
 * folder) and one site file per vhost.
 *
 * Site files are self-sufficient: each carries its own `tls` line, so they work inside a main
 * file the program did not write (which has no `tls_config` snippet). The program's own main
 * file keeps the snippet for hand-made site files that import it.
 */
import type { CaddyProxySpec, CaddySpec, VhostSpec } from "../../model/vhosts";
import { managedHeader } from "../shell";

/** Host-side lock serialising every Caddy change of the host (validate sees one change at a time). */
export const CADDY_LOCK = "/run/incus-tenant.caddy.lock";

/** How every file the program wrote starts (render/shell.ts managedHeader): the ownership test. */
export const MANAGED_PREFIX = managedHeader("").replace(/ $/, "");

/** The glob the main file imports. */
export const sitesGlob = (proxy: CaddyProxySpec): string => `${proxy.sitesDir}/*.caddy`;

/** The one line a main file the program did not write gets (and the program's own file has). */
export const importLine = (proxy: CaddyProxySpec): string => `import ${sitesGlob(proxy)}`;

/** The main Caddyfile (tab-indented: exactly what `caddy fmt` prints). */
export function renderMainCaddyfile(caddy: CaddySpec): string {
  const p = caddy.proxy;
  return [
    managedHeader(`caddy main file of container ${p.container} (sites in ${p.sitesDir})`),
    "{",
    "\tstorage file_system {",
    `\t\troot ${p.dataRoot}`,
    "\t}",
    "}",
    "",
    "(tls_config) {",
    `\ttls ${p.tls.kind === "acme" ? p.tls.email : "internal"}`,
    "}",
    "",
    importLine(p),
    "",
  ].join("\n");
}

/** One site file, from the runbook's template (its own `tls` line instead of `import tls_config`). */
export function renderVhost(vhost: VhostSpec): string {
  return [
    managedHeader(
      `caddy vhost ${vhost.key} (${vhost.domain} -> ` +
        `${vhost.upstreamContainer} ${vhost.upstreamIp}:${vhost.upstreamPort})`,
    ),
    `${vhost.domain} {`,
    `\ttls ${vhost.tls.kind === "acme" ? vhost.tls.email : "internal"}`,
    `\treverse_proxy ${vhost.upstreamIp}:${vhost.upstreamPort} {`,
    "\t\theader_up Host {host}",
    "\t\theader_up X-Real-IP {remote}",
    "\t\theader_up X-Forwarded-Proto https",
    "\t}",
    "}",
    "",
  ].join("\n");
}
