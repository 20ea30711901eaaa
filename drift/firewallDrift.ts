/**
 * Live drift of the host firewall: our nat chains, every nat rule tagged
 * `incus-tenant:<tenant>:` (jumps, MASQUERADE, DNAT) and the INPUT guard, compared with the
 * lines the renderers (render/iptables.ts) would write.
 */
import type { TenantSpec } from "../model/types";
import { chainLines, dnatLines, guardLines, isDuplicateOf } from "../render/iptables";
import type { DriftItem, LiveState } from "./read";
import { minus } from "./textDiff";
import { commandName } from "../components/names";

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

/** "DNAT tcp/443 → proxy 10.0.2.10:443 from 203.0.113.64/26", or "rule <chain> <matches>". */
export function describeRule(spec: TenantSpec, line: string): string {
  const get = (re: RegExp): string | undefined => re.exec(line)?.[1];
  const [to, proto, dport, src, iface, dst] = [
    / --to-destination (\S+)/,
    / -p (\S+)/,
    / --dport (\S+)/,
    / -s (\S+)/,
    / -i (\S+)/,
    / -d (\S+)/,
  ].map(get);
  if (/ -j DNAT( |$)/.test(line) && to && proto && dport) {
    const name = spec.containers.find((c) => c.ipv4 === to.split(":")[0])?.name;
    const on =
      iface === undefined ? " on any interface" : iface !== spec.host.externalInterface ? ` on ${iface}` : "";
    // The public address (-d, like -i) is named only when it is not the expected one.
    const pub = `${spec.host.publicAddress}/32`;
    const at = dst === undefined ? " to any address" : dst !== pub ? ` to ${dst}` : "";
    return `DNAT ${proto}/${dport} → ${name ? `${name} ` : ""}${to}${src ? ` from ${src}` : ""}${at}${on}`;
  }
  return `rule ${line.replace(/^-A /, "").replace(/ -m comment --comment \S+/, "")}`;
}

/** NAT drift: our chains, the jumps into them, MASQUERADE and every tagged DNAT rule. */
export function iptablesDrift(spec: TenantSpec, live: LiveState): DriftItem[] {
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
        command: commandName.host(t, "chains"),
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
      ...(keys.has(key) ? { command: commandName.dnat(t, key) } : {}),
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
      command: commandName.host(t, "chains"),
    }));
  return [
    ...chains,
    ...minus(want, have, canon).map((l) => item(l, "missing")),
    ...minus(have, want, canon).map((l) => item(l, "extra")),
    ...duplicateDrift(spec, live),
  ];
}

/**
 * Hand-written duplicates of our DNAT rules live in PREROUTING (render/iptables.ts
 * `duplicatePattern`): each is extra and owned by the rule's commands (its confirmation removes
 * them once the rule's own lines are live and confirmed; re-running it is the repair).
 */
export function duplicateDrift(spec: TenantSpec, live: LiveState): DriftItem[] {
  const lines = rulesOf(live.nat).filter((l) => l.startsWith("-A PREROUTING "));
  return spec.nat.flatMap((rule) =>
    lines
      .filter((l) => isDuplicateOf(rule, l))
      .map((l): DriftItem => ({
        resource: `nat ${rule.key}`,
        kind: "nat",
        change: "extra",
        text: `${describeRule(spec, l)} (hand-written duplicate of nat ${rule.key})`,
        details: [l],
        command: commandName.dnat(spec.name, rule.key),
      })),
  );
}

/** INPUT guard drift: its lines, and whether they are still the first rules of INPUT. */
export function guardDrift(spec: TenantSpec, live: LiveState): DriftItem[] {
  const want = guardLines(spec.host.port);
  const input = rulesOf(live.filter).filter((l) => l.startsWith("-A INPUT "));
  const have = input.filter((l) => tagOf(l) === "incus-tenant:guard");
  const base = { resource: "guard", kind: "guard" as const, command: commandName.host(spec.name, "guard") };
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
