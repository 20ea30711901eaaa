/**
 * Live drift of CoreDNS's files: zone files (serial ignored) and the Corefile. File diffs go
 * from live to desired, so `+` lines are what up would write.
 */
import type { TenantSpec } from "../../model/types";
import type { DnsSpec, ZoneSpec } from "../../model/zones";
import { renderCorefile, renderZoneBody, SERIAL_PLACEHOLDER } from "../../render/zone";
import { DriftItem, fileKey, LiveState } from "../../drift/read";
import { fileDrift } from "../../drift/fileDrift";
import { minus, trimEnd } from "../../drift/textDiff";
import { commandName } from "../../components/names";
import { readZoneFile, recordsNotIn, writtenByProgram } from "./zoneRecords";

const RECORD_RE = /^(\S+)\s+(?:(\d+)\s+)?IN\s+([A-Za-z]+)\s+(.*)$/;
const SERIAL_RE = /^ {8}([0-9]{10}) ; serial$/;

/** The live serial of a zone file (undefined when it has none). */
export const zoneSerial = (content: string): string | undefined =>
  content
    .split("\n")
    .map((l) => SERIAL_RE.exec(l)?.[1])
    .find((s) => s !== undefined);

function zoneDrift(t: string, live: LiveState, zone: ZoneSpec, container: string): DriftItem[] {
  const base = {
    resource: `zone ${zone.name}`,
    kind: "zone" as const,
    command: commandName.zoneFile(t, zone.name),
  };
  const got = live.files[fileKey(container, zone.file)];
  if (got === undefined || !("content" in got))
    return fileDrift(live, { base, what: `zone ${zone.name}`, container, path: zone.file, want: "" });
  if (!writtenByProgram(got.content)) return [foreignZoneDrift(base, zone, got.content)];
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

/**
 * A live zone file the program did not write (adoption, issue 12): compared record by record
 * (any layout), naming the records that `up` would refuse to drop unless the zone says takeOver.
 */
function foreignZoneDrift(
  base: Pick<DriftItem, "resource" | "kind" | "command">,
  zone: ZoneSpec,
  content: string,
): DriftItem {
  const want = renderZoneBody(zone);
  const lost = recordsNotIn(content, want, zone.name);
  const missing = recordsNotIn(want, content, zone.name);
  const serial = liveSerial(content, zone.name);
  const field = `dns.zones.${zone.name}.takeOver`;
  const fate = zone.takeOver
    ? `up drops them (${field} is true)`
    : `up refuses to replace the file until they are listed or ${field} is true`;
  const head =
    lost.length > 0
      ? `${lost.length} record(s) the stack does not list: ${fate}`
      : serial === undefined
        ? `no readable SOA serial: ${zone.takeOver ? "up replaces it" : `up refuses unless ${field} is true`}`
        : "every record in it is in the stack: up replaces it";
  return {
    ...base,
    change: "changed",
    text: `zone ${zone.name}: not written by incus-tenant; ${head}`,
    details: [
      ...lost.map((r) => `record "${r}" not in the stack`),
      ...missing.map((r) => `record "${r}" missing live`),
      `live serial ${serial ?? "(none)"}`,
    ],
  };
}

/** The live serial of a zone file: the program's serial line, or the SOA of a file it did not write. */
function liveSerial(content: string, zone: string): string | undefined {
  if (writtenByProgram(content)) return zoneSerial(content);
  const s = readZoneFile(content, zone).serial;
  return s !== undefined && /^[0-9]{1,10}$/.test(s) && Number(s) <= 4294967295 ? s : undefined;
}

/** The live serial of each zone of the tenant (null when unreadable or without a serial). */
export function liveSerials(spec: TenantSpec, live: LiveState): Record<string, string | null> {
  const dns = spec.services.dns;
  return Object.fromEntries(
    (dns?.zones ?? []).map((z) => {
      const f = live.files[fileKey(dns!.container, z.file)];
      return [z.name, (f && "content" in f ? liveSerial(f.content, z.name) : undefined) ?? null];
    }),
  );
}

/** The zones and the Corefile. */
export function dnsDrift(t: string, dns: DnsSpec, live: LiveState): DriftItem[] {
  return [
    ...dns.zones.flatMap((z) => zoneDrift(t, live, z, dns.container)),
    ...fileDrift(live, {
      base: { resource: "corefile", kind: "corefile", command: commandName.corefileFile(t) },
      what: "corefile",
      container: dns.container,
      path: dns.corefile,
      want: renderCorefile(dns),
    }),
  ];
}
