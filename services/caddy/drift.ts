/**
 * Live drift of Caddy's files: the main file, site files and any other `*.caddy` in the sites
 * folder. File diffs go from live to desired, so `+` lines are what up would write. A main file
 * the program did not write is only checked for its one import line of the sites folder.
 */
import type { CaddySpec } from "../../model/vhosts";
import { importLine, MANAGED_PREFIX, renderMainCaddyfile, renderVhost } from "../../render/caddy";
import { DriftItem, fileKey, LiveState } from "../../drift/read";
import { fileDrift } from "../../drift/fileDrift";
import { commandName } from "../../components/names";

/** Caddy main and site files, and extra site files. */
export function caddyDrift(t: string, caddy: CaddySpec, live: LiveState): DriftItem[] {
  const items: DriftItem[] = [];
  const p = caddy.proxy;
  const main = live.files[fileKey(p.container, p.mainFile)];
  const foreign =
    main !== undefined && "content" in main && !main.content.startsWith(MANAGED_PREFIX)
      ? main.content
      : undefined;
  const imports = foreign?.split("\n").filter((l) => l.trim() === importLine(p)).length ?? 1;
  if (imports !== 1)
    items.push({
      resource: "caddy main",
      kind: "caddy",
      command: commandName.caddyMain(t),
      change: "changed",
      text:
        `caddy main file ${p.mainFile} (not written by incus-tenant): ` +
        (imports === 0
          ? `no line '${importLine(p)}': up appends it`
          : `${imports} lines '${importLine(p)}': leave exactly one`),
      details: [],
    });
  if (foreign === undefined)
    items.push(
      ...fileDrift(live, {
        base: { resource: "caddy main", kind: "caddy", command: commandName.caddyMain(t) },
        what: "caddy main file",
        container: p.container,
        path: p.mainFile,
        want: renderMainCaddyfile(caddy),
      }),
    );
  for (const v of caddy.vhosts) {
    items.push(
      ...fileDrift(live, {
        base: { resource: `vhost ${v.key}`, kind: "vhost", command: commandName.vhostSite(t, v.key) },
        what: `vhost ${v.domain}: site file`,
        container: p.container,
        path: v.file,
        want: renderVhost(v),
      }),
    );
  }
  const dir = live.dirs[fileKey(p.container, p.sitesDir)];
  if (dir !== undefined && !Array.isArray(dir))
    items.push({
      resource: "caddy sites",
      kind: "caddy",
      change: "changed",
      text: `caddy sites folder ${p.sitesDir}: cannot list it live`,
      details: [dir.error],
    });
  for (const f of Array.isArray(dir) ? dir : []) {
    if (caddy.vhosts.some((v) => v.file === f)) continue;
    const key = f.replace(/^.*\//, "").replace(/\.caddy$/, "");
    items.push({
      resource: `vhost ${key}`,
      kind: "vhost",
      change: "extra",
      text: `vhost file ${f}: not in the stack (the main file imports it)`,
      details: [],
    });
  }
  return items;
}
