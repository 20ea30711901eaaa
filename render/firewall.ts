/**
 * Automatic rollback of NAT changes (the iptables-apply / Ansible iptables_state pattern): the
 * apply saves the rule's previous lines, applies the new ones atomically and arms a watchdog on
 * the host that puts the previous lines back after `confirmTimeout` seconds unless a separate,
 * NEW SSH connection confirms in time. A change that cuts SSH therefore heals itself.
 * Each rule restores only its own tagged lines, so several rules changed in one apply (and
 * rules of anybody else) never undo each other.
 *
 * Generations. Every change the apply makes to a rule's lines gets the next generation number
 * of that rule (a counter in its rollback folder); the change's id is `<generation>-<UTC stamp>`.
 * The rule's folder ({@link rollbackDir}) holds, all written under the host-wide iptables lock:
 * - `gen`: the newest generation; `tag`: the rule's comment tag (read by persistRules);
 * - `pending`: the id of the newest change while it is unconfirmed (absent otherwise);
 * - `<id>.old`: the lines its watchdog restores: the last CONFIRMED lines (a change made over an
 *   unconfirmed one carries that one's `.old` over, so a rollback never lands on unconfirmed
 *   lines); `<id>.new`: the lines the change applied;
 * - `<id>.confirmed`, `<id>.rolled-back` (UTC time), `<id>.log` (what its watchdog said).
 *
 * One lock, one critical section: the apply reads the live lines, records the generation,
 * changes the lines and arms the watchdog while holding the lock; the watchdog and the
 * confirmation decide and act under the same lock. A lock not taken within LOCK_WAIT_S seconds
 * aborts any of them with `lockBusyMessage` (render/iptables.ts), nothing changed.
 *
 * The watchdog restores only when its change is still the newest generation, still pending
 * (unconfirmed) and its lines are still the live ones; otherwise (confirmed, superseded by a
 * newer apply, changed or deleted since) it leaves the rule alone and says why in `<id>.log`.
 *
 * Persistence: the apply never writes rules.v4. The confirmation writes it (under the lock), and
 * so does the watchdog after a restore; persistRules replaces every still-pending change by its
 * `.old` lines, so rules.v4 only ever holds confirmed lines and a reboot that kills a watchdog
 * comes back without the unconfirmed change.
 *
 * Adoption: hand-written duplicates of the rule in PREROUTING (seed 002's DNAT lines, see
 * `duplicatePattern`) are never touched by the apply; the confirmation removes them, and only
 * once the rule's own lines are live and confirmed and the jump into our chain is live (ours
 * serves the traffic before theirs goes; a rollback leaves theirs serving). The network plan
 * lists that removal per rule ("nat duplicates"), so it happens only with the approval hash.
 */
import { NatRuleSpec, TenantSpec } from "../model/types";
import {
  chainLines,
  dnatLines,
  duplicatePattern,
  duplicatesText,
  lockOrAbort,
  natTag,
  persistRules,
  ROLLBACK_DIR,
  tagLinesOf,
} from "./iptables";
import { heredoc, script, shq } from "./shell";
import { UTC_STAMP } from "./snippets";

export { ROLLBACK_DIR } from "./iptables";

/** Marker the apply prints; the confirmation command reads the id from the apply's stdout. */
export const ARMED_PREFIX = "rollback armed: ";

/** The folder of one rule's rollback state on the host. */
export const rollbackDir = (spec: TenantSpec, rule: NatRuleSpec): string =>
  `${ROLLBACK_DIR}/${spec.name}-${rule.key}`;

/** The id a confirmation must name, from the apply's stdout ("none" when nothing changed). */
export function armedId(stdout: string | undefined): string {
  const m = new RegExp(`${ARMED_PREFIX}(\\d+-\\d{14})`).exec(stdout ?? "");
  return m ? m[1] : "none";
}

/** Replaces the tag's lines `$1` (shell expression) by `$2` in one iptables-restore transaction. */
const replaceLines = (from: string, to: string): string =>
  `{ echo '*nat'; [ -z "${from}" ] || printf '%s\\n' "${from}" | sed 's/^-A /-D /'; ` +
  `[ -z "${to}" ] || printf '%s\\n' "${to}"; echo COMMIT; } | iptables-restore -w --noflush`;

/** The watchdog of one rule, run detached: args rb id timeout tag; its stderr goes to "$rb/$id.log". */
function watchdog(tag: string): string {
  return [
    "rb=$1; id=$2; t=$3; tag=$4",
    `log() { printf 'incus-tenant: %s\\n' "$*" >&2; logger -t incus-tenant "$*" 2>/dev/null || true; }`,
    'sleep "$t"',
    lockOrAbort(`${tag}: watchdog`),
    'gen=$(cat "$rb/gen" 2>/dev/null || true)',
    'if [ -e "$rb/$id.confirmed" ]; then log "$tag: watchdog $id: confirmed; nothing to do"; exit 0; fi',
    'if [ "$gen" != "${id%%-*}" ]; then',
    '  log "$tag: watchdog $id: superseded by the newer generation $gen; leaving the rule alone"; exit 0',
    "fi",
    'if [ "$(cat "$rb/pending" 2>/dev/null || true)" != "$id" ]; then',
    '  log "$tag: watchdog $id: no longer pending; leaving the rule alone"; exit 0',
    "fi",
    `cur=$(${tagLinesOf("nat")})`,
    'if [ "$cur" != "$(cat "$rb/$id.new")" ]; then',
    '  rm -f "$rb/pending"',
    '  log "$tag: watchdog $id: the rule was changed by something else since; leaving it alone"; exit 0',
    "fi",
    'old=$(cat "$rb/$id.old")',
    `${replaceLines("$cur", "$old")} || { log "$tag: watchdog $id: iptables-restore failed"; exit 1; }`,
    'rm -f "$rb/pending"',
    'date -u +%Y-%m-%dT%H:%M:%SZ > "$rb/$id.rolled-back"',
    persistRules(),
    'log "NAT change $tag rolled back: not confirmed within ${t}s"',
  ].join("\n");
}

/** Our chain exists, `want` holds the rule's wanted lines and `have` its live ones (apply and re-apply). */
function wantAndHave(spec: TenantSpec, rule: NatRuleSpec): string[] {
  const chain = shq(spec.chains.prerouting);
  return [
    `iptables -w -t nat -L ${chain} -n >/dev/null 2>&1 || iptables -w -t nat -N ${chain}`,
    `want=$(cat ${heredoc(dnatLines(spec, rule).join("\n"))}\n)`,
    `have=$(${tagLinesOf("nat")})`,
  ];
}

/**
 * Create script of a NAT rule: under the lock, converge its lines and, when they changed, record
 * the new generation and arm its watchdog (module comment). Prints the armed id, also when the
 * lines are unchanged but the newest change is still unconfirmed (this apply's confirmation
 * then confirms it). Never persists.
 */
export function armedNatCreate(spec: TenantSpec, rule: NatRuleSpec): string {
  const tag = natTag(spec.name, rule);
  const t = spec.host.confirmTimeout;
  const what = `nat rule ${rule.protocol}/${rule.port} -> ${rule.container} ${rule.destination} of tenant ${spec.name}`;
  return script(`${what} (rollback after ${t}s unless confirmed)`, [
    `rb=${shq(rollbackDir(spec, rule))}; tag=${shq(tag)}`,
    'mkdir -p "$rb"',
    lockOrAbort(tag),
    ...wantAndHave(spec, rule),
    'pending=$(cat "$rb/pending" 2>/dev/null || true)',
    // A pending change whose lines are no longer live (reboot, deleted, changed by hand) is over.
    'if [ -n "$pending" ] && [ "$have" != "$(cat "$rb/$pending.new" 2>/dev/null || true)" ]; then',
    '  rm -f "$rb/pending"; log "$tag: the unconfirmed change $pending is no longer live; forgotten"; pending=""',
    "fi",
    'if [ "$have" = "$want" ] && [ -n "$pending" ]; then',
    `  echo "${ARMED_PREFIX}$pending (still unconfirmed)"`,
    '  log "$tag: unchanged; the change $pending is still unconfirmed"',
    'elif [ "$have" = "$want" ]; then',
    '  log "$tag: unchanged"',
    "else",
    '  if [ -n "$pending" ]; then old=$(cat "$rb/$pending.old"); else old=$have; fi',
    '  gen=$(( $(cat "$rb/gen" 2>/dev/null || echo 0) + 1 ))',
    `  id="$gen-${UTC_STAMP}"`,
    '  printf \'%s\\n\' "$old" | grep . > "$rb/$id.old" || true',
    '  printf \'%s\\n\' "$want" > "$rb/$id.new"',
    '  printf \'%s\\n\' "$tag" > "$rb/tag"; echo "$gen" > "$rb/gen"',
    // Back to the last confirmed lines: nothing to roll back to, nothing to confirm.
    '  if [ "$old" = "$want" ]; then rm -f "$rb/pending"; else echo "$id" > "$rb/pending"; fi',
    `  ${replaceLines("$have", "$want")} || {`,
    '    if [ -n "$pending" ]; then echo "$pending" > "$rb/pending"; else rm -f "$rb/pending"; fi; exit 1',
    "  }",
    '  [ -z "$pending" ] || log "$tag: supersedes the unconfirmed change $pending (its watchdog stands down)"',
    '  if [ "$old" = "$want" ]; then',
    '    log "$tag: changed back to its last confirmed lines; nothing to confirm"',
    "  else",
    `    watchdog=$(cat ${heredoc(watchdog(tag), "ITN_WATCHDOG")}\n)`,
    // 9>&-: the watchdog must not inherit the lock (a flock belongs to the open file).
    `    setsid nohup bash -c "$watchdog" watchdog "$rb" "$id" ${t} "$tag" \\`,
    '      > /dev/null 2>> "$rb/$id.log" < /dev/null 9>&- &',
    `    echo "${ARMED_PREFIX}$id (${t}s)"`,
    `    log "$tag: changed; the previous lines come back in ${t}s unless a new SSH connection confirms"`,
    "  fi",
    "fi",
    "exec 9>&-",
  ]);
}

/** Why the confirmation keeps the hand-written duplicates (logged). */
const KEPT_WHY = "this rule's own lines or its jump are not live and confirmed yet";

/**
 * Shell text, run by the confirmation under the lock: removes the live hand-written duplicates
 * of the rule (`duplicatePattern`, read with `iptables -S PREROUTING`) in one iptables-restore
 * transaction and persists, but only once the rule's own lines are live and confirmed (nothing
 * pending) and the jump into our chain is live, so the same traffic is DNATed by ours before
 * the duplicate goes, and a watchdog rollback never lands on a host with neither. Logs each
 * removed line; keeps them (and says why) otherwise.
 */
function removeDuplicates(spec: TenantSpec, rule: NatRuleSpec): string[] {
  const what = duplicatesText(rule);
  return [
    `dups=$(iptables -w -t nat -S PREROUTING | grep -E -x -- ${shq(duplicatePattern(rule))} || true)`,
    'if [ -n "$dups" ]; then',
    `  want=$(cat ${heredoc(dnatLines(spec, rule).join("\n"))}\n)`,
    `  have=$(${tagLinesOf("nat")})`,
    '  if [ "$have" != "$want" ] || [ -s "$rb/pending" ] || ' +
      `! iptables-save -t nat | grep -q -x -F -- ${shq(chainLines(spec).jumps[0])}; then`,
    `    log "$tag:" ${shq(`kept the ${what}: ${KEPT_WHY}`)}`,
    "  else",
    `    { echo '*nat'; printf '%s\\n' "$dups" | sed 's/^-A /-D /'; echo COMMIT; } \\`,
    "      | iptables-restore -w --noflush \\",
    `      || { log "$tag:" ${shq(`could not remove the ${what}`)}; exit 1; }`,
    `    printf '%s\\n' "$dups" | while IFS= read -r d; do ` +
      'log "$tag: removed the hand-written duplicate: $d"; done',
    ...persistRules()
      .split("\n")
      .map((l) => `    ${l}`),
    "  fi",
    "fi",
  ];
}

/**
 * The confirmation, run over its own (new) SSH connection after the apply, under the lock. It
 * confirms its change when that change is still the pending one, and persists rules.v4. If the
 * watchdog already rolled it back (and nothing newer happened), it says so and re-applies the
 * rule: this connection proves SSH works. A change superseded by a newer one is left alone.
 */
export function natConfirm(spec: TenantSpec, rule: NatRuleSpec, id: string): string {
  const tag = natTag(spec.name, rule);
  const t = spec.host.confirmTimeout;
  return script(`confirm nat rule ${rule.key} of tenant ${spec.name}`, [
    `rb=${shq(rollbackDir(spec, rule))}; id=${shq(id)}; tag=${shq(tag)}`,
    // Same lock as the apply and the watchdog: it either restored already, or never will.
    lockOrAbort(`${tag}: confirm`),
    'pending=$(cat "$rb/pending" 2>/dev/null || true); gen=$(cat "$rb/gen" 2>/dev/null || true)',
    'if [ "$id" = none ]; then',
    '  log "$tag: nothing to confirm"',
    'elif [ -e "$rb/$id.confirmed" ]; then',
    '  log "$tag: the change $id is already confirmed"',
    // Its own change: pending, or rolled back with nothing newer since (then re-applied).
    'elif [ "$pending" = "$id" ] || \\',
    '  { [ -z "$pending" ] && [ "$gen" = "${id%%-*}" ] && [ -e "$rb/$id.rolled-back" ]; }; then',
    '  if [ -e "$rb/$id.rolled-back" ]; then',
    `    echo "$tag: the change had been rolled back at $(cat "$rb/$id.rolled-back") (no confirmation within ${t}s);` +
      ' re-applying it over this new SSH connection" >&2',
    "  fi",
    ...wantAndHave(spec, rule).map((line) => `  ${line}`),
    '  if [ "$have" != "$want" ]; then',
    '    [ -e "$rb/$id.rolled-back" ] ||',
    '      log "$tag: the change $id is no longer live; re-applying it over this new SSH connection"',
    `    ${replaceLines("$have", "$want")}`,
    "  fi",
    '  rm -f "$rb/pending"; touch "$rb/$id.confirmed"',
    ...persistRules()
      .split("\n")
      .map((l) => `  ${l}`),
    '  log "$tag: confirmed over a new SSH connection"',
    "else",
    '  log "$tag: the change $id is no longer pending (newest generation: ${gen:-none}); nothing to confirm"',
    "fi",
    ...removeDuplicates(spec, rule),
    // Old per-change files, never those of the pending change nor gen/tag/pending.
    "find \"$rb\" -maxdepth 1 -type f -name '[0-9]*-[0-9]*.*' \\",
    '  ! -name "$(cat "$rb/pending" 2>/dev/null || echo none).*" -mmin +1440 -delete 2>/dev/null || true',
    "exec 9>&-",
  ]);
}
