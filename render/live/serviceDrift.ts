/**
 * Live drift of the service files: the Caddy main file, site files and any other `*.caddy` in
 * the sites folder, zone files (serial ignored) and the Corefile. File diffs go from live to
 * desired, so `+` lines are what up would write.
 */
import type { TenantSpec } from "../../spec/types";
import type { ZoneSpec } from "../../spec/zones";
import { renderMainCaddyfile, renderVhost } from "../caddy";
import { renderCorefile, renderZoneBody, SERIAL_PLACEHOLDER } from "../zone";
import { DriftItem, fileKey, LiveState } from "./read";
import { minus, trimEnd, unifiedDiff } from "./textDiff";
import { commandName } from "../../components/names";

interface FileCheck {
  base: Pick<DriftItem, "resource" | "kind" | "command">;
  /** e.g. "caddy main file" or "vhost chat.example.com: site file". */
  what: string;
  container: string;
  path: string;
  want: string;
}

function fileDrift(live: LiveState, f: FileCheck): DriftItem[] {
  const got = live.files[fileKey(f.container, f.path)];
  const where = `${f.path} in ${f.container}`;
  if (got === undefined || "error" in got)
    return [
      {
        ...f.base,
        change: "changed",
        text: `${f.what} unreadable live (${where})`,
        details: [got && "error" in got ? got.error : "not read"],
      },
    ];
  if ("missing" in got)
    return [{ ...f.base, change: "missing", text: `${f.what} missing live (${where})`, details: [] }];
  if (trimEnd(got.content) === trimEnd(f.want)) return [];
  return [
    {
      ...f.base,
      change: "changed",
      text: `${f.what} differs`,
      details: unifiedDiff(got.content, f.want, `live ${f.path}`, "desired"),
    },
  ];
}

const RECORD_RE = /^(\S+)\s+(?:(\d+)\s+)?IN\s+([A-Za-z]+)\s+(.*)$/;
const SERIAL_RE = /^ {8}([0-9]{10}) ; serial$/;

/** The live serial of a zone file (undefined when it has none). */
export const zoneSerial = (content: string): string | undefined =>
  content
    .split("\n")
    .map((l) => SERIAL_RE.exec(l)?.[1])
    .find((s) => s !== undefined);

function zoneDrift(spec: TenantSpec, live: LiveState, zone: ZoneSpec, container: string): DriftItem[] {
  const base = {
    resource: `zone ${zone.name}`,
    kind: "zone" as const,
    command: commandName.zoneFile(spec.name, zone.name),
  };
  const got = live.files[fileKey(container, zone.file)];
  if (got === undefined || !("content" in got))
    return fileDrift(live, { base, what: `zone ${zone.name}`, container, path: zone.file, want: "" });
  const serial = zoneSerial(got.content);
  const liveBody = trimEnd(got.content)
    .split("\n")
    .map((l) => (SERIAL_RE.test(l) ? `        ${SERIAL_PLACEHOLDER} ; serial` : l));
  const wantBody = trimEnd(renderZoneBody(zone)).split("\n");
  if (serial !== undefined && liveBody.join("\n") === wantBody.join("\n")) return [];
  const show = (l: string): string => {
    const m = RECORD_RE.exec(l);
    return m
      ? `record "${[m[1], m[2], m[3].toUpperCase(), m[4]].filter((p) => p !== undefined).join(" ")}"`
      : `line "${l}"`;
  };
  const missing = minus(wantBody, liveBody).filter(
    (l) => serial !== undefined || !l.includes(SERIAL_PLACEHOLDER),
  );
  const extra = minus(liveBody, wantBody);
  const diffs: string[] = serial === undefined ? ["serial line missing live"] : [];
  const ownerType = (l: string): string | undefined => {
    const m = RECORD_RE.exec(l);
    return m ? `${m[1]} ${m[3].toUpperCase()}` : undefined;
  };
  for (const w of missing) {
    const k = ownerType(w);
    const sameKey = (l: string): boolean => k !== undefined && ownerType(l) === k;
    const pair =
      missing.filter(sameKey).length === 1 && extra.filter(sameKey).length === 1
        ? extra.find(sameKey)
        : undefined;
    if (pair !== undefined) {
      diffs.push(`${show(w)} != live ${show(pair).replace(/^record /, "")}`);
      extra.splice(extra.indexOf(pair), 1);
    } else diffs.push(`${show(w)} missing live`);
  }
  diffs.push(...extra.filter((l) => !SERIAL_RE.test(l)).map((l) => `${show(l)} extra live`));
  if (diffs.length === 0) diffs.push("same lines in a different order");
  return [
    {
      ...base,
      change: "changed",
      text: `zone ${zone.name}: ${diffs.length === 1 ? diffs[0] : `${diffs.length} differences`}`,
      details: [...(diffs.length > 1 ? diffs : []), `live serial ${serial ?? "(none)"}`],
    },
  ];
}

/** The live serial of each zone of the tenant (null when unreadable or without a serial). */
export function liveSerials(spec: TenantSpec, live: LiveState): Record<string, string | null> {
  const dns = spec.services.dns;
  return Object.fromEntries(
    (dns?.zones ?? []).map((z) => {
      const f = live.files[fileKey(dns!.container, z.file)];
      return [z.name, (f && "content" in f ? zoneSerial(f.content) : undefined) ?? null];
    }),
  );
}

/** Service drift: Caddy main and site files, extra site files, zones and the Corefile. */
export function servicesDrift(spec: TenantSpec, live: LiveState): DriftItem[] {
  const t = spec.name;
  const items: DriftItem[] = [];
  const { caddy, dns } = spec.services;
  if (caddy) {
    const p = caddy.proxy;
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
  }
  if (dns) {
    for (const z of dns.zones) items.push(...zoneDrift(spec, live, z, dns.container));
    items.push(
      ...fileDrift(live, {
        base: { resource: "corefile", kind: "corefile", command: commandName.corefileFile(t) },
        what: "corefile",
        container: dns.container,
        path: dns.corefile,
        want: renderCorefile(dns),
      }),
    );
  }
  return items;
}
