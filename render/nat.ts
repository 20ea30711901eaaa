/** Scripts of one NAT rule: converge its tagged DNAT line(s) in our chain; delete removes only them. */
import { NatRuleSpec, TenantSpec } from "../spec/types";
import { ScriptPair } from "./host";
import { convergeRules, dnatLines, natTag } from "./iptables";
import { script } from "./shell";

/** The readable one-line form used in outputs and plans: "tcp/443 -> proxy 10.0.2.10:443 (from any)". */
export function natLine(rule: NatRuleSpec): string {
  return `${rule.protocol}/${rule.port} -> ${rule.container} ${rule.destination} (from ${rule.sources.length > 0 ? rule.sources.join(", ") : "any"})`;
}

export function renderNatRule(spec: TenantSpec, rule: NatRuleSpec): ScriptPair {
  const tag = natTag(spec.name, rule);
  const chains = [spec.chains.prerouting];
  return {
    create: script(`nat rule ${natLine(rule)} of tenant ${spec.name}`, [convergeRules({ table: "nat", tag, want: dnatLines(spec, rule), ensureChains: chains })]),
    delete: script(`nat rule ${rule.key} of tenant ${spec.name} (remove)`, [convergeRules({ table: "nat", tag, want: [] })]),
  };
}
