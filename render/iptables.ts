/**
 * iptables rule text in iptables-save's canonical form, and the script that converges the
 * rules carrying one tag: it reads the live rules, and when they differ from the wanted ones it
 * deletes the old and adds the new in ONE `iptables-restore --noflush` transaction (atomic, and
 * rules of anybody else are never flushed), then persists /etc/iptables/rules.v4. Serialised by
 * a host-wide flock so concurrent commands never interleave read-modify-write; when the lock
 * cannot be taken within {@link LOCK_WAIT_S} seconds the script aborts with
 * {@link lockBusyMessage} and changes nothing (it never goes on unlocked).
 *
 * Persistence ({@link persistRules}) never writes an unconfirmed NAT change: rules.v4 is
 * `iptables-save` in which, for every rule with a pending (unconfirmed) change whose lines are
 * still the live ones (see render/firewall.ts), the rule's live lines are replaced by the lines
 * its watchdog would restore (the last confirmed ones). So whoever persists (a jump, the guard,
 * a confirmation, a watchdog), the file holds only confirmed state, and a reboot that kills a
 * watchdog comes back with the previous lines.
 */
import { ChainNames, NatRuleSpec, TenantSpec } from "../model/types";
import { heredoc, shq } from "./shell";

/** Lock file that serialises every iptables change of the program on a host. */
export const IPTABLES_LOCK = "/run/incus-tenant.iptables.lock";
/** Where the rules are persisted (restored at boot by iptables-restore.service). */
export const RULES_FILE = "/etc/iptables/rules.v4";
/** Where each NAT rule keeps its rollback state (render/firewall.ts); read by {@link persistRules}. */
export const ROLLBACK_DIR = "/var/lib/incus-tenant/rollback";
/** Seconds a script waits for {@link IPTABLES_LOCK} before it aborts. */
export const LOCK_WAIT_S = 120;

/** The message (after `incus-tenant: `) of a script that could not take the lock; `what` names it. */
export function lockBusyMessage(what: string): string {
  const why = `could not take the iptables lock ${IPTABLES_LOCK} within ${LOCK_WAIT_S} s (another change is running)`;
  return `${what}: ${why}; aborting, nothing changed`;
}

/**
 * Takes the host-wide lock on fd 9 or aborts the script (exit 1) with {@link lockBusyMessage}.
 * Needs the `log` function of `script()`.
 */
export function lockOrAbort(what: string): string {
  return `{ exec 9>${IPTABLES_LOCK} && flock -w ${LOCK_WAIT_S} 9; } || { log ${shq(lockBusyMessage(what))}; exit 1; }`;
}

/** Shell text: the live lines of a table carrying the tag held in the shell variable `$tag`. */
export function tagLinesOf(table: "nat" | "filter"): string {
  return `iptables-save -t ${table} | grep -F -- "--comment \\"$tag\\"" || true`;
}

/**
 * Shell text, run under the lock: writes rules.v4 atomically (mode 0640) from iptables-save,
 * with every pending NAT change still live replaced by its saved previous lines (module comment).
 * Exits 1 when the file cannot be written. Uses the variables _p, _d, _id, _tag and tmp.
 */
export function persistRules(): string {
  // In the nat table: drop the rule's live lines, print the saved ones just before COMMIT.
  const subst = [
    "'/^\\*/ { t = $0 }",
    't == "*nat" && /^-A / && index($0, c) { next }',
    't == "*nat" && $0 == "COMMIT" { while ((getline l < f) > 0) print l }',
    "{ print }'",
  ].join(" ");
  return [
    `mkdir -p ${shq(RULES_FILE.replace(/\/[^/]+$/, ""))}`,
    `tmp=$(mktemp ${shq(`${RULES_FILE}.XXXXXX`)})`,
    `iptables-save > "$tmp" || { rm -f "$tmp"; exit 1; }`,
    `for _p in ${ROLLBACK_DIR}/*/pending; do`,
    `  [ -f "$_p" ] || continue`,
    `  _d=\${_p%/pending}; _id=$(cat "$_p"); _tag=$(cat "$_d/tag" 2>/dev/null || true)`,
    `  { [ -n "$_tag" ] && [ -f "$_d/$_id.old" ] && [ -f "$_d/$_id.new" ]; } || continue`,
    `  [ "$(grep -F -- "--comment \\"$_tag\\"" "$tmp" || true)" = "$(cat "$_d/$_id.new")" ] || continue`,
    `  { awk -v c="--comment \\"$_tag\\"" -v f="$_d/$_id.old" ${subst} ` +
      `"$tmp" > "$tmp.s" && mv -f "$tmp.s" "$tmp"; } \\`,
    '    || { rm -f "$tmp" "$tmp.s"; exit 1; }',
    "done",
    `{ chmod 0640 "$tmp" && mv -f "$tmp" ${shq(RULES_FILE)}; } || { rm -f "$tmp"; exit 1; }`,
  ].join("\n");
}

/** The comment tag of one NAT rule. */
export function natTag(tenant: string, rule: NatRuleSpec): string {
  return `incus-tenant:${tenant}:${rule.key}`;
}

/** `-m comment` in iptables-save form. */
const comment = (tag: string): string => `-m comment --comment "${tag}"`;

/**
 * The DNAT lines of one rule (one per allowed source), in iptables-save canonical order. Each
 * matches the destination `-d host.publicAddress` (seed 002's forwards are for the host's public
 * address; the model requires one whenever NAT rules exist), in iptables-save's `/32` form.
 */
export function dnatLines(spec: TenantSpec, rule: NatRuleSpec): string[] {
  const sources = rule.sources.length > 0 ? rule.sources : [undefined];
  return sources.map((src) =>
    [
      `-A ${spec.chains.prerouting}`,
      ...(src !== undefined ? [`-s ${src}`] : []),
      `-d ${spec.host.publicAddress}/32`,
      `-i ${spec.host.externalInterface} -p ${rule.protocol} -m ${rule.protocol} --dport ${rule.port}`,
      comment(natTag(spec.name, rule)),
      `-j DNAT --to-destination ${rule.destination}`,
    ].join(" "),
  );
}

/**
 * Hand-written duplicates of one rule (seed 002's `iptables -t nat -A PREROUTING -p tcp --dport 80
 * -j DNAT --to-destination 10.0.2.10:80`, with or without -d/-i/-s): a PREROUTING line, in
 * `iptables -S` / iptables-save form, made of nothing but optional `-s`, `-d`, `-i`, the rule's
 * protocol and external port, and DNAT to its destination (`ip:port`, or the bare ip when the
 * port is the same). Anything else (a negation, a comment, another match: the program's own
 * rules carry its comment and live in its chains) makes it no duplicate. A POSIX ERE matched
 * against the whole line (`grep -E -x`), equally valid as a JavaScript RegExp.
 */
export function duplicatePattern(rule: NatRuleSpec): string {
  const ip = rule.destinationIp.replace(/\./g, "\\.");
  const port = rule.destinationPort === rule.port ? `(:${rule.port})?` : `:${rule.destinationPort}`;
  return (
    "-A PREROUTING( -s [0-9./]+)?( -d [0-9./]+)?( -i [^ ]+)? " +
    `-p ${rule.protocol}( -m ${rule.protocol})? --dport ${rule.port} -j DNAT --to-destination ${ip}${port}`
  );
}

/** True when an iptables-save line of the nat table is a hand-written duplicate of `rule`. */
export const isDuplicateOf = (rule: NatRuleSpec, line: string): boolean =>
  new RegExp(`^${duplicatePattern(rule)}$`).test(line.trim());

/** The network plan's (and the logs') words for the duplicates of one rule. */
export const duplicatesText = (rule: NatRuleSpec): string =>
  `hand-written duplicates of DNAT ${rule.protocol}/${rule.port} → ${rule.destination} ` +
  "(PREROUTING, any -s/-d/-i)";

/** Jumps from the built-in chains into ours, and MASQUERADE for the tenant subnet. */
export function chainLines(spec: TenantSpec): { jumps: string[]; masquerade: string[] } {
  const c: ChainNames = spec.chains;
  const tag = `incus-tenant:${spec.name}:jump`;
  const sub = spec.network.subnet;
  return {
    jumps: [
      `-A PREROUTING -i ${spec.host.externalInterface} ${comment(tag)} -j ${c.prerouting}`,
      `-A POSTROUTING ${comment(tag)} -j ${c.postrouting}`,
    ],
    masquerade: [
      `-A ${c.postrouting} -s ${sub} ! -d ${sub} ${comment(`incus-tenant:${spec.name}:masquerade`)} -j MASQUERADE`,
    ],
  };
}

/** The INPUT guard: loopback and SSH accepted before anything else, so no DROP can lock us out. */
export function guardLines(sshPort: number): string[] {
  return [
    `-A INPUT -i lo ${comment("incus-tenant:guard")} -j ACCEPT`,
    `-A INPUT -p tcp -m tcp --dport ${sshPort} ${comment("incus-tenant:guard")} -j ACCEPT`,
  ];
}

/** Options of one convergence. */
export interface ConvergeArgs {
  /** iptables table: nat or filter. */
  table: "nat" | "filter";
  /** The tag every managed line carries; only lines with it are touched. */
  tag: string;
  /** Wanted lines in iptables-save form (`-A CHAIN ...`); empty to remove them all. */
  want: string[];
  /** Chains of ours to create if missing (never flushed here). */
  ensureChains?: string[];
  /** Insert at the top of the chain (position 1..n) instead of appending; must also BE at the top. */
  atTop?: string;
}

/** Shell text converging the tagged lines of one table (see the module comment). */
export function convergeRules(a: ConvergeArgs): string {
  const ensure = (a.ensureChains ?? []).map(
    (ch) =>
      `iptables -w -t ${a.table} -L ${shq(ch)} -n >/dev/null 2>&1 || iptables -w -t ${a.table} -N ${shq(ch)}`,
  );
  const current = a.atTop
    ? `iptables-save -t ${a.table} | grep -F -- ${shq(`-A ${a.atTop} `)} ` +
      `| head -n ${a.want.length} | grep -F -- ${shq(`--comment "${a.tag}"`)} || true`
    : `iptables-save -t ${a.table} | grep -F -- ${shq(`--comment "${a.tag}"`)} || true`;
  const add = a.atTop ? `awk '{ sub(/^-A [^ ]+ /, "-I ${a.atTop} " NR " "); print }'` : "cat";
  return [
    lockOrAbort(a.tag),
    ...ensure,
    `want=$(cat ${heredoc(a.want.join("\n"))}\n)`,
    `have=$(${current})`,
    `if [ "$have" = "$want" ]; then`,
    `  log ${shq(`${a.tag}: unchanged`)}`,
    "else",
    `  old=$(iptables-save -t ${a.table} | grep -F -- ${shq(`--comment "${a.tag}"`)} || true)`,
    `  { echo '*${a.table}'; [ -z "$old" ] || printf '%s\\n' "$old" | sed 's/^-A /-D /'; ` +
      `[ -z "$want" ] || printf '%s\\n' "$want" | ${add}; echo COMMIT; } | iptables-restore -w --noflush`,
    `  log ${shq(`${a.tag}: applied`)} "$(printf '%s\\n' "$want" | grep -c . || true) rule(s)"`,
    "fi",
    persistRules(),
    "exec 9>&-",
  ].join("\n");
}
