/**
 * Automatic rollback of NAT changes (the iptables-apply / Ansible iptables_state pattern): the
 * apply saves the rule's previous lines, applies the new ones atomically and arms a watchdog on
 * the host that puts the previous lines back after `confirmTimeout` seconds unless a separate,
 * NEW SSH connection confirms in time. A change that cuts SSH therefore heals itself.
 * Each rule restores only its own tagged lines, so several rules changed in one apply (and
 * rules of anybody else) never undo each other.
 */
import { NatRuleSpec, TenantSpec } from "../spec/types";
import { convergeRules, dnatLines, IPTABLES_LOCK, natTag, RULES_FILE } from "./iptables";
import { heredoc, script, shq } from "./shell";

/** Where a rule's saved lines and markers live on the host. */
export const ROLLBACK_DIR = "/var/lib/incus-tenant/rollback";

/** Marker the apply prints; the confirmation command reads the id from the apply's stdout. */
export const ARMED_PREFIX = "rollback armed: ";

export const rollbackDir = (spec: TenantSpec, rule: NatRuleSpec): string => `${ROLLBACK_DIR}/${spec.name}-${rule.key}`;

/** The id a confirmation must name, from the apply's stdout ("none" when nothing changed). */
export function armedId(stdout: string | undefined): string {
  const m = new RegExp(`${ARMED_PREFIX}(\\d{14}-\\d+)`).exec(stdout ?? "");
  return m ? m[1] : "none";
}

/** Restores the lines saved in "$rb/$id.old" for the tag (run by the watchdog under the lock). */
const RESTORE = [
  `cur=$(iptables-save -t nat | grep -F -- "--comment \\"$tag\\"" || true)`,
  `old=$(cat "$rb/$id.old")`,
  `{ echo '*nat'; [ -z "$cur" ] || printf '%s\\n' "$cur" | sed 's/^-A /-D /'; [ -z "$old" ] || printf '%s\\n' "$old"; echo COMMIT; } | iptables-restore -w --noflush`,
  `tmp=$(mktemp ${shq(`${RULES_FILE}.XXXXXX`)}) && iptables-save > "$tmp" && chmod 0640 "$tmp" && mv -f "$tmp" ${shq(RULES_FILE)}`,
];

/** The watchdog, run detached: args rb id timeout tag. */
const WATCHDOG = [
  'rb=$1; id=$2; t=$3; tag=$4',
  'sleep "$t"',
  '[ -e "$rb/$id.confirmed" ] && exit 0',
  `exec 9>${IPTABLES_LOCK}`,
  "flock -w 120 9",
  '[ -e "$rb/$id.confirmed" ] && exit 0',
  ...RESTORE,
  'date -u +%Y-%m-%dT%H:%M:%SZ > "$rb/$id.rolled-back"',
  'logger -t incus-tenant "NAT change $tag rolled back: not confirmed within ${t}s" 2>/dev/null || true',
].join("\n");

/** Create script of a NAT rule: converge its lines and, when they changed, arm the watchdog. */
export function armedNatCreate(spec: TenantSpec, rule: NatRuleSpec): string {
  const tag = natTag(spec.name, rule);
  const t = spec.host.confirmTimeout;
  return script(`nat rule ${rule.protocol}/${rule.port} -> ${rule.container} ${rule.destination} of tenant ${spec.name} (rollback after ${t}s unless confirmed)`, [
    `rb=${shq(rollbackDir(spec, rule))}; tag=${shq(tag)}`,
    'mkdir -p "$rb"',
    `before=$(iptables-save -t nat | grep -F -- "--comment \\"$tag\\"" || true)`,
    convergeRules({ table: "nat", tag, want: dnatLines(spec, rule), ensureChains: [spec.chains.prerouting] }),
    `after=$(iptables-save -t nat | grep -F -- "--comment \\"$tag\\"" || true)`,
    'if [ "$before" != "$after" ]; then',
    '  id="$(date -u +%Y%m%d%H%M%S)-$$"',
    '  printf \'%s\\n\' "$before" | grep . > "$rb/$id.old" || true',
    `  watchdog=$(cat ${heredoc(WATCHDOG, "ITN_WATCHDOG")}\n)`,
    `  setsid nohup bash -c "$watchdog" watchdog "$rb" "$id" ${t} "$tag" > /dev/null 2>&1 < /dev/null &`,
    `  echo "${ARMED_PREFIX}$id (${t}s)"`,
    `  log "$tag: changed; the previous lines come back in ${t}s unless a new SSH connection confirms"`,
    "fi",
  ]);
}

/**
 * The confirmation, run over its own (new) SSH connection after the apply. If the watchdog
 * already fired, it says so and re-applies the rule: this connection proves SSH works.
 */
export function natConfirm(spec: TenantSpec, rule: NatRuleSpec, id: string): string {
  const tag = natTag(spec.name, rule);
  return script(`confirm nat rule ${rule.key} of tenant ${spec.name}`, [
    `rb=${shq(rollbackDir(spec, rule))}; id=${shq(id)}; tag=${shq(tag)}`,
    `if [ "$id" = none ]; then log "$tag: nothing to confirm"; exit 0; fi`,
    // Same lock as the watchdog: it either restored already, or never will.
    `exec 8>${IPTABLES_LOCK}`,
    "flock -w 120 8",
    'rolled=""; [ ! -e "$rb/$id.rolled-back" ] || rolled=$(cat "$rb/$id.rolled-back")',
    'touch "$rb/$id.confirmed"',
    "exec 8>&-",
    'if [ -n "$rolled" ]; then',
    `  echo "$tag: the change had been rolled back at $rolled (no confirmation within ${spec.host.confirmTimeout}s); re-applying it over this new SSH connection" >&2`,
    // A subshell, not indented: the converge text holds a heredoc whose terminator must start its line.
    `(\n${convergeRules({ table: "nat", tag, want: dnatLines(spec, rule), ensureChains: [spec.chains.prerouting] })}\n)`,
    "fi",
    'find "$rb" -type f -mmin +1440 -delete 2>/dev/null || true',
    'log "$tag: confirmed over a new SSH connection"',
  ]);
}
