/** Scripts of one NAT rule: converge its tagged DNAT line(s) in our chain; delete removes only them. */
import { NatRuleSpec, TenantSpec } from "../model/types";
import { ScriptPair } from "./snippets";
import { convergeRules, natTag } from "./iptables";
import { script } from "./shell";
import { armedNatCreate } from "./firewall";

/** The readable one-line form used in outputs and plans: "tcp/443 -> proxy 10.0.2.10:443 (from any)". */
export function natLine(rule: NatRuleSpec): string {
  return (
    `${rule.protocol}/${rule.port} -> ${rule.container} ${rule.destination} ` +
    `(from ${rule.sources.length > 0 ? rule.sources.join(", ") : "any"})`
  );
}

export function renderNatRule(spec: TenantSpec, rule: NatRuleSpec): ScriptPair {
  const tag = natTag(spec.name, rule);
  return {
    create: armedNatCreate(spec, rule),
    delete: script(`nat rule ${rule.key} of tenant ${spec.name} (remove)`, [
      convergeRules({ table: "nat", tag, want: [] }),
    ]),
  };
}
