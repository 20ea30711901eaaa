/** Rules over the NAT port forwards. */
import { Cidr, coversAll, parseCidr } from "../net";
import type { Problem } from "../types";
import type { Check } from "./check";

/** Ports of internal services: exposing them needs `sources` or an explicit `public: true`. */
export const SENSITIVE_PORTS: readonly number[] = [3306, 4747, 5432, 6333, 6379, 8200, 9000, 9100];

/** True when the (shape-valid) source networks together let every address in. */
export const sourcesCoverAll = (sources: readonly string[]): boolean =>
  coversAll(sources.map((s) => parseCidr(s) as Cidr));

/**
 * Forwards reach an exposed port of a known container, never the SSH port, each port once;
 * internal services only with narrow sources or public: true.
 */
export const checkNat: Check = (t) => {
  const problems: Problem[] = [];
  const taken = new Map<string, number>();
  t.nat.forEach((rule, i) => {
    const path = `nat[${i}]`;
    const target = t.containers[rule.to];
    const protocols = Array.isArray(rule.protocol) ? rule.protocol : [rule.protocol];
    if (!target) problems.push({ path: `${path}.to`, message: `unknown container "${rule.to}"` });
    if (rule.toPort !== undefined && rule.ports.length > 1)
      problems.push({ path: `${path}.toPort`, message: "toPort needs exactly one external port" });
    if (rule.public === true && rule.sources !== undefined)
      problems.push({ path: `${path}.public`, message: "public: true contradicts sources: choose one" });
    rule.ports.forEach((port, j) => {
      const dest = rule.toPort ?? port;
      if (target && !target.ports.includes(dest))
        problems.push({
          path: `${path}.ports[${j}]`,
          message: `container "${rule.to}" does not expose port ${dest}`,
        });
      if (port === t.host.port && protocols.includes("tcp"))
        problems.push({
          path: `${path}.ports[${j}]`,
          message: `port ${port} is the host's SSH port and must never be forwarded`,
        });
      const sensitive = SENSITIVE_PORTS.includes(port) || SENSITIVE_PORTS.includes(dest);
      if (sensitive && rule.sources === undefined && rule.public !== true) {
        problems.push({
          path: `${path}.ports[${j}]`,
          message: `port ${port} exposes an internal service: list allowed sources or set public: true`,
        });
      } else if (
        sensitive &&
        rule.sources !== undefined &&
        rule.public !== true &&
        sourcesCoverAll(rule.sources)
      ) {
        problems.push({
          path: `${path}.ports[${j}]`,
          message:
            `port ${port} exposes an internal service: its sources together cover every address (like 0.0.0.0/0); ` +
            "list narrower sources, or drop sources and set public: true",
        });
      }
      for (const proto of new Set(protocols)) {
        const key = `${proto}/${port}`;
        const first = taken.get(key);
        if (first !== undefined)
          problems.push({
            path: `${path}.ports[${j}]`,
            message: `${key} is already forwarded by nat[${first}]`,
          });
        else taken.set(key, i);
      }
    });
  });
  return problems;
};
