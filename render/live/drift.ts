/**
 * The comparison of the live host (render/live/read.ts) with the desired state of a TenantSpec:
 * our nat chains and every rule tagged `incus-tenant:<tenant>:`, the INPUT guard, the tenant's
 * containers, the Caddy main file, site files and any other `*.caddy` in the sites folder, zone
 * files (serial ignored) and the Corefile. A difference is reported per resource, `+` missing
 * live (up adds it), `-` extra live, `~` changed; file diffs go from live to desired, so `+`
 * lines are what up would write.
 */
import type { TenantSpec } from "../../spec/types";
import type { ZoneSpec } from "../../spec/zones";
import { chainLines, dnatLines, guardLines } from "../iptables";
import { renderMainCaddyfile, renderVhost } from "../caddy";
import { renderCorefile, renderZoneBody, SERIAL_PLACEHOLDER } from "../zone";
import { DriftItem, fileKey, LiveState } from "./read";

const SIGN: Record<DriftItem["change"], string> = { missing: "+", extra: "-", changed: "~" };

// ---- iptables ----------------------------------------------------------------------------

/** `--comment "x"` and `--comment x` are the same rule. */
const canon = (line: string): string => line.replace(/ --comment "([^"\s\\]*)"/g, " --comment $1").trim();
const tagOf = (line: string): string | undefined => / --comment "?([^"\s]+)"?/.exec(line)?.[1];
const rulesOf = (save: string): string[] =>
  save
    .split("\n")
    .filter((l) => l.startsWith("-A "))
    .map((l) => l.trim());
const chainsOf = (save: string): Set<string> =>
  new Set(
    save
      .split("\n")
      .filter((l) => l.startsWith(":"))
      .map((l) => l.slice(1).split(" ")[0]),
  );

/** a − b as multisets (compared by `key`), in a's order. */
function minus(a: string[], b: string[], key: (x: string) => string = (x) => x): string[] {
  const left = new Map<string, number>();
  for (const x of b) left.set(key(x), (left.get(key(x)) ?? 0) + 1);
  return a.filter((x) => {
    const n = left.get(key(x)) ?? 0;
    if (n > 0) left.set(key(x), n - 1);
    return n === 0;
  });
}

/** "DNAT tcp/443 → proxy 10.0.2.10:443 from 203.0.113.64/26", or "rule <chain> <matches>". */
export function describeRule(spec: TenantSpec, line: string): string {
  const get = (re: RegExp): string | undefined => re.exec(line)?.[1];
  const [to, proto, dport, src, iface] = [
    / --to-destination (\S+)/,
    / -p (\S+)/,
    / --dport (\S+)/,
    / -s (\S+)/,
    / -i (\S+)/,
  ].map(get);
  if (/ -j DNAT( |$)/.test(line) && to && proto && dport) {
    const name = spec.containers.find((c) => c.ipv4 === to.split(":")[0])?.name;
    const on =
      iface === undefined ? " on any interface" : iface !== spec.host.externalInterface ? ` on ${iface}` : "";
    return `DNAT ${proto}/${dport} → ${name ? `${name} ` : ""}${to}${src ? ` from ${src}` : ""}${on}`;
  }
  return `rule ${line.replace(/^-A /, "").replace(/ -m comment --comment \S+/, "")}`;
}

function iptablesDrift(spec: TenantSpec, live: LiveState): DriftItem[] {
  const t = spec.name;
  const ours = [spec.chains.prerouting, spec.chains.postrouting];
  const { jumps, masquerade } = chainLines(spec);
  const want = [...jumps, ...masquerade, ...spec.nat.flatMap((r) => dnatLines(spec, r))];
  const have = rulesOf(live.nat).filter(
    (l) => ours.includes(l.split(" ")[1]) || (tagOf(l) ?? "").startsWith(`incus-tenant:${t}:`),
  );
  const keys = new Set(spec.nat.map((r) => r.key));
  const item = (line: string, change: "missing" | "extra"): DriftItem => {
    const tag = tagOf(line) ?? "";
    const key = tag.startsWith(`incus-tenant:${t}:`) ? tag.slice(`incus-tenant:${t}:`.length) : undefined;
    const details = [line];
    if (key === "jump" || key === "masquerade")
      return {
        resource: "chains",
        kind: "chains",
        change,
        text: describeRule(spec, line),
        details,
        command: `${t}-host-chains`,
      };
    if (key === undefined)
      return {
        resource: `chain ${line.split(" ")[1]}`,
        kind: "chains",
        change,
        text: `${describeRule(spec, line)} (untagged, in our chain)`,
        details,
      };
    return {
      resource: `nat ${key}`,
      kind: "nat",
      change,
      text: describeRule(spec, line),
      details,
      ...(keys.has(key) ? { command: `${t}-nat-${key}-dnat` } : {}),
    };
  };
  const declared = chainsOf(live.nat);
  const chains: DriftItem[] = ours
    .filter((c) => !declared.has(c))
    .map((c) => ({
      resource: "chains",
      kind: "chains",
      change: "missing",
      text: `chain ${c} (nat table)`,
      details: [],
      command: `${t}-host-chains`,
    }));
  return [
    ...chains,
    ...minus(want, have, canon).map((l) => item(l, "missing")),
    ...minus(have, want, canon).map((l) => item(l, "extra")),
  ];
}

function guardDrift(spec: TenantSpec, live: LiveState): DriftItem[] {
  const want = guardLines(spec.host.port);
  const input = rulesOf(live.filter).filter((l) => l.startsWith("-A INPUT "));
  const have = input.filter((l) => tagOf(l) === "incus-tenant:guard");
  const base = { resource: "guard", kind: "guard" as const, command: `${spec.name}-host-guard` };
  const text = (l: string): string =>
    l.includes(" -i lo ")
      ? "guard: INPUT accepts loopback"
      : `guard: INPUT ${describeRule(spec, l).replace(/^rule INPUT /, "")}`;
  const items: DriftItem[] = [
    ...minus(want, have, canon).map((l): DriftItem => ({
      ...base,
      change: "missing",
      text: text(l),
      details: [l],
    })),
    ...minus(have, want, canon).map((l): DriftItem => ({
      ...base,
      change: "extra",
      text: text(l),
      details: [l],
    })),
  ];
  if (
    items.length === 0 &&
    input.slice(0, want.length).map(canon).join("\n") !== want.map(canon).join("\n")
  ) {
    items.push({
      ...base,
      change: "changed",
      text: "guard: not the first rules of INPUT",
      details: input.slice(0, want.length + 1),
    });
  }
  return items;
}

// ---- containers -----------------------------------------------------------------------------

function containerDrift(spec: TenantSpec, live: LiveState): DriftItem[] {
  const items: DriftItem[] = [];
  const byName = new Map(live.containers.map((c) => [c.name, c]));
  for (const c of spec.containers) {
    const l = byName.get(c.name);
    const base = {
      resource: `container ${c.name}`,
      kind: "container" as const,
      command: `${spec.name}-${c.name}-instance`,
    };
    if (!l) {
      items.push({ ...base, change: "missing", text: `container ${c.name} ${c.ipv4}`, details: [] });
      continue;
    }
    const diffs: string[] = [];
    const ne = (what: string, want: string, got: string | undefined): void => {
      if (want !== (got ?? "(none)")) diffs.push(`${what} ${want} != live ${got ?? "(none)"}`);
    };
    ne("status", "Running", l.status);
    const eth0 = l.devices.eth0;
    if (eth0?.type !== "nic") diffs.push("eth0 nic missing live");
    else {
      ne("eth0 network", spec.network.bridge, eth0.network);
      ne("ipv4", c.ipv4, eth0["ipv4.address"]);
    }
    if (l.status === "Running" && !l.addresses.includes(c.ipv4))
      diffs.push(`ipv4 ${c.ipv4} not held live (eth0 has ${l.addresses.join(", ") || "no address"})`);
    ne("privileged", String(c.privileged), l.config["security.privileged"] ?? "false");
    ne("protection", String(c.protect), l.config["security.protection.delete"] ?? "false");
    for (const [name, d] of Object.entries(l.devices))
      if (d.type === "proxy")
        diffs.push(`proxy device ${name} present live (NAT rules replace proxy devices)`);
    for (const d of c.devices) {
      const ld = l.devices[d.name];
      if (ld?.type !== "disk") diffs.push(`disk ${d.name} missing live`);
      else
        for (const [k, v] of [
          ["source", d.source],
          ["path", d.path],
          ["readonly", String(d.readonly)],
        ] as const)
          ne(`disk ${d.name} ${k}`, v, ld[k] ?? (k === "readonly" ? "false" : undefined));
    }
    for (const [name, d] of Object.entries(l.devices))
      if (d.type === "disk" && name !== "root" && !c.devices.some((x) => x.name === name))
        diffs.push(`disk ${name} present live (not in the stack)`);
    if (diffs.length > 0)
      items.push({
        ...base,
        change: "changed",
        text: `container ${c.name}: ${diffs.length === 1 ? diffs[0] : `${diffs.length} differences`}`,
        details: diffs.length > 1 ? diffs : [],
      });
  }
  for (const l of live.containers) {
    if (
      l.config["user.incus-tenant.tenant"] === spec.name &&
      !spec.containers.some((c) => c.name === l.name)
    ) {
      items.push({
        resource: `container ${l.name}`,
        kind: "container",
        change: "extra",
        text: `container ${l.name} (labelled for tenant ${spec.name}, not in the stack)`,
        details: [],
      });
    }
  }
  return items;
}

// ---- files ----------------------------------------------------------------------------------

const trimEnd = (s: string): string => s.replace(/\n+$/, "");
const range = (start: number, count: number): string =>
  count === 0 ? `${start},0` : count === 1 ? `${start + 1}` : `${start + 1},${count}`;

/** A unified diff with no context (`diff -U0` style) from `a` to `b`. */
export function unifiedDiff(a: string, b: string, aName: string, bName: string): string[] {
  const [x, y] = [trimEnd(a).split("\n"), trimEnd(b).split("\n")];
  const [n, m] = [x.length, y.length];
  if (n * m > 4_000_000)
    return [`--- ${aName}`, `+++ ${bName}`, `(${n} vs ${m} lines: too large to diff here)`];
  const lcs = Array.from({ length: n + 1 }, () => new Int32Array(m + 1));
  for (let i = n - 1; i >= 0; i--)
    for (let j = m - 1; j >= 0; j--)
      lcs[i][j] = x[i] === y[j] ? lcs[i + 1][j + 1] + 1 : Math.max(lcs[i + 1][j], lcs[i][j + 1]);
  const out = [`--- ${aName}`, `+++ ${bName}`];
  let [i, j] = [0, 0];
  while (i < n || j < m) {
    if (i < n && j < m && x[i] === y[j]) {
      i++;
      j++;
      continue;
    }
    const [i0, j0, del, add] = [i, j, [] as string[], [] as string[]];
    while ((i < n || j < m) && !(i < n && j < m && x[i] === y[j])) {
      if (j >= m || (i < n && lcs[i + 1][j] >= lcs[i][j + 1])) del.push(x[i++]);
      else add.push(y[j++]);
    }
    out.push(
      `@@ -${range(i0, del.length)} +${range(j0, add.length)} @@`,
      ...del.map((l) => `-${l}`),
      ...add.map((l) => `+${l}`),
    );
  }
  return out;
}

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
    command: `${spec.name}-zone-${zone.name.replace(/\./g, "-")}-zone`,
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

function servicesDrift(spec: TenantSpec, live: LiveState): DriftItem[] {
  const t = spec.name;
  const items: DriftItem[] = [];
  const { caddy, dns } = spec.services;
  if (caddy) {
    const p = caddy.proxy;
    items.push(
      ...fileDrift(live, {
        base: { resource: "caddy main", kind: "caddy", command: `${t}-caddy-main` },
        what: "caddy main file",
        container: p.container,
        path: p.mainFile,
        want: renderMainCaddyfile(caddy),
      }),
    );
    for (const v of caddy.vhosts) {
      items.push(
        ...fileDrift(live, {
          base: { resource: `vhost ${v.key}`, kind: "vhost", command: `${t}-vhost-${v.key}-site` },
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
        base: { resource: "corefile", kind: "corefile", command: `${t}-corefile-corefile` },
        what: "corefile",
        container: dns.container,
        path: dns.corefile,
        want: renderCorefile(dns),
      }),
    );
  }
  return items;
}

/** Every difference, in a stable order: host chains, NAT, guard, containers, Caddy, zones, Corefile. */
export function diffLive(spec: TenantSpec, live: LiveState): DriftItem[] {
  return [
    ...iptablesDrift(spec, live),
    ...guardDrift(spec, live),
    ...containerDrift(spec, live),
    ...servicesDrift(spec, live),
  ];
}

/** Readable form: `<sign> <text>`, details indented by four spaces. */
export function driftText(items: readonly DriftItem[]): string {
  return items
    .map((i) => [`${SIGN[i.change]} ${i.text}`, ...i.details.map((d) => `    ${d}`)].join("\n"))
    .join("\n");
}
