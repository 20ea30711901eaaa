/**
 * Files the program writes inside containers must never be one another (or one inside another):
 * the Caddy main file and the sites folder it imports, the Corefile and the zone files, the
 * Vault `.env` file and the files Vault's commands read (token file, CA certificate). A clash
 * would overwrite one with the other, or make Caddy import its own main file.
 */
import type { ParsedTenant } from "./schema";
import type { Problem } from "./types";
import { isInside, pathsOverlap } from "./primitives";
import { siteFilePath } from "./vhosts";
import { zoneFilePath } from "./zones";

/** One file location the program owns or reads in a container. */
interface Location {
  readonly container: string;
  /** Normalised absolute path inside the container. */
  readonly path: string;
  /** The stack field the location comes from (where a clash is reported). */
  readonly field: string;
  /** How a message names it. */
  readonly what: string;
  /** The program writes it (two read-only locations never clash). */
  readonly written: boolean;
}

/**
 * Locations in reporting order: a clash is reported at the LATER one, so the generated files
 * (site and zone files, Vault's own files) come first and the single files the operator
 * places (main file, Corefile, .env) are the ones named.
 */
function locations(t: ParsedTenant): Location[] {
  const out: Location[] = [];
  const p = t.proxy;
  if (p) {
    for (const label of Object.keys(t.vhosts ?? {}).sort()) {
      out.push({
        container: p.container,
        path: siteFilePath(p.sitesDir, label),
        field: `vhosts.${label}`,
        what: `the site file of vhost "${label}"`,
        written: true,
      });
    }
  }
  const d = t.dns;
  if (d) {
    for (const zone of Object.keys(d.zones).sort()) {
      out.push({
        container: d.container,
        path: zoneFilePath(d.zonesDir, zone),
        field: `dns.zones.${zone}`,
        what: `the zone file of ${zone}`,
        written: true,
      });
    }
  }
  const v = t.vault;
  if (v) {
    out.push({
      container: v.container,
      path: v.tokenFile,
      field: "vault.tokenFile",
      what: "vault.tokenFile",
      written: false,
    });
    if (v.caCert !== undefined)
      out.push({
        container: v.container,
        path: v.caCert,
        field: "vault.caCert",
        what: "vault.caCert",
        written: false,
      });
  }
  if (p)
    out.push({
      container: p.container,
      path: p.mainFile,
      field: "proxy.mainFile",
      what: "proxy.mainFile",
      written: true,
    });
  if (d)
    out.push({
      container: d.container,
      path: d.corefile,
      field: "dns.corefile",
      what: "dns.corefile",
      written: true,
    });
  if (v?.envFile)
    out.push({
      container: v.envFile.container,
      path: v.envFile.path,
      field: "vault.envFile.path",
      what: "vault.envFile.path",
      written: true,
    });
  return out;
}

/** Problems of files that would overwrite (or import) each other. */
export function checkFiles(t: ParsedTenant): Problem[] {
  const problems: Problem[] = [];
  const p = t.proxy;
  const mainInSites = p !== undefined && pathsOverlap(p.mainFile, p.sitesDir);
  if (p && mainInSites) {
    const how =
      p.mainFile === p.sitesDir ? "is" : isInside(p.mainFile, p.sitesDir) ? "is inside" : "contains";
    problems.push({
      path: "proxy.mainFile",
      message:
        `${p.mainFile} ${how} proxy.sitesDir (${p.sitesDir}): ` +
        "Caddy would import its own main file; keep it outside the sites folder",
    });
  }
  const seen = locations(t);
  seen.forEach((a, i) => {
    if (a.field === "proxy.mainFile" && mainInSites) return; // already refused against the sites folder
    const b = seen
      .slice(0, i)
      .find((o) => o.container === a.container && (a.written || o.written) && pathsOverlap(a.path, o.path));
    if (b === undefined) return;
    const what =
      a.path === b.path
        ? `is also ${b.what}`
        : `${isInside(a.path, b.path) ? "is inside" : "contains"} ${b.what} (${b.path})`;
    problems.push({
      path: a.field,
      message: `${a.path} ${what} in container "${a.container}": one file would overwrite the other`,
    });
  });
  return problems;
}
