/**
 * parseTenant: raw stack config → one immutable, fully derived TenantSpec, or one SpecError
 * listing every problem with its field path. Nothing downstream re-validates.
 */
import { ZodIssue } from "zod";
import { formatIpv4, parseCidr, parseIpv4 } from "./net";
import { RULES, sourcesCoverAll } from "./rules";
import { deriveServices, zoneSuffixOf } from "./services";
import { deriveMigration } from "./migration";
import { ParsedTenant, tenantSchema } from "./schema";
import { ContainerSpec, NatRuleSpec, Problem, TenantSpec } from "./types";

export * from "./types";
export { SENSITIVE_PORTS, CI_CONTAINER } from "./rules";

/** Thrown by parseTenant: `problems` holds every problem; the message lists them one per line. */
export class SpecError extends Error {
  readonly problems: readonly Problem[];
  constructor(problems: readonly Problem[]) {
    const lines = problems.map((p) => `  - ${p.path}: ${p.message}`);
    super(
      `invalid tenant config (${problems.length} problem${problems.length === 1 ? "" : "s"}):\n${lines.join("\n")}`,
    );
    this.name = "SpecError";
    this.problems = problems;
  }
}

/** Renders a zod path like ["nat", 0, "ports", 1] as "nat[0].ports[1]". */
export function formatPath(path: readonly (string | number)[]): string {
  return path.reduce<string>(
    (acc, part) => (typeof part === "number" ? `${acc}[${part}]` : acc === "" ? part : `${acc}.${part}`),
    "",
  );
}

function issueToProblem(issue: ZodIssue): Problem {
  const path = formatPath(issue.path) || "(root)";
  if (issue.code === "unrecognized_keys")
    return {
      path,
      message: `unknown field${issue.keys.length > 1 ? "s" : ""} ${issue.keys.map((k) => `"${k}"`).join(", ")}`,
    };
  if (issue.code === "invalid_type" && issue.received === "undefined")
    return { path, message: "is required" };
  if (issue.code === "invalid_type")
    return {
      path,
      message: `must be ${
        issue.expected === "object"
          ? "a mapping"
          : issue.expected === "array"
            ? "a list"
            : `a ${issue.expected}`
      }, got ${issue.received}`,
    };
  return { path, message: issue.message };
}

function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === "object") {
    Object.values(value as Record<string, unknown>).forEach(deepFreeze);
    Object.freeze(value);
  }
  return value;
}

function deriveContainers(t: ParsedTenant): ContainerSpec[] {
  return Object.keys(t.containers)
    .sort()
    .map((name) => {
      const c = t.containers[name];
      return {
        name,
        ipv4: c.ipv4,
        image: c.image ?? t.image,
        privileged: c.privileged,
        protect: c.protect ?? t.environment === "prod",
        ports: [...new Set(c.ports)].sort((a, b) => a - b),
        devices: Object.keys(c.devices)
          .sort()
          .map((dev) => ({
            name: dev,
            source: c.devices[dev].source as string,
            path: c.devices[dev].path as string,
            readonly: c.devices[dev].readonly ?? false,
          })),
      };
    });
}

function deriveNat(t: ParsedTenant): NatRuleSpec[] {
  const rules = t.nat.flatMap((rule) => {
    const protocols = [...new Set(Array.isArray(rule.protocol) ? rule.protocol : [rule.protocol])];
    const ip = t.containers[rule.to].ipv4;
    return protocols.flatMap((protocol) =>
      rule.ports.map((port) => {
        const destinationPort = rule.toPort ?? port;
        // Sources that together cover every address (0.0.0.0/0, or 0.0.0.0/1 + 128.0.0.0/1...) mean any
        // source; on a sensitive port such a rule was refused, so here it is a public one.
        const sources = sourcesCoverAll(rule.sources ?? []) ? [] : (rule.sources ?? []);
        return {
          key: `${protocol}-${port}`,
          protocol,
          port,
          container: rule.to,
          destinationIp: ip,
          destinationPort,
          destination: `${ip}:${destinationPort}`,
          sources: [...new Set(sources)].sort(),
        };
      }),
    );
  });
  return rules.sort((a, b) => a.protocol.localeCompare(b.protocol) || a.port - b.port);
}

/** What parseTenant knows besides the tenant itself. */
export interface ParseOptions {
  /** The Pulumi stack name: a stack named "prod" or "stage" must have that environment. */
  readonly stack?: string;
}

/** The stacks whose name fixes the environment. */
const ENVIRONMENT_STACKS: readonly string[] = ["prod", "stage"];

/** A stack named prod or stage whose environment says the other. */
function stackProblems(t: ParsedTenant, stack: string | undefined): Problem[] {
  if (stack === undefined || !ENVIRONMENT_STACKS.includes(stack) || stack === t.environment) return [];
  const message = `is "${t.environment}" but the stack is "${stack}": a ${stack} stack must say environment: ${stack}`;
  return [{ path: "environment", message }];
}

/** Validates and derives. Throws SpecError with every problem (shape problems first, then rules). */
export function parseTenant(raw: unknown, options: ParseOptions = {}): TenantSpec {
  const parsed = tenantSchema.safeParse(raw);
  if (!parsed.success) throw new SpecError(parsed.error.issues.map(issueToProblem));
  const t = parsed.data;
  const problems = [...stackProblems(t, options.stack), ...RULES.flatMap((rule) => rule(t))];
  if (problems.length > 0) throw new SpecError(problems);

  const subnet = parseCidr(t.network.subnet)!;
  const zoneSuffix = zoneSuffixOf(t);
  const hostnames = Object.fromEntries(
    [...new Set(t.hostnames)].sort().map((label) => [label, `${label}.${zoneSuffix}`]),
  );
  const spec: TenantSpec = {
    name: t.name,
    environment: t.environment,
    domain: t.domain,
    zoneSuffix,
    hostnames,
    host: {
      address: t.host.address,
      port: t.host.port,
      user: t.host.user,
      sudo: t.host.sudo ?? t.host.user !== "root",
      ...(t.host.hostKey !== undefined ? { hostKey: t.host.hostKey } : {}),
      externalInterface: t.host.externalInterface,
      publicAddress: t.host.publicAddress ?? (parseIpv4(t.host.address) !== undefined ? t.host.address : ""),
      confirmTimeout: t.host.confirmTimeout,
    },
    network: {
      bridge: t.network.bridge,
      subnet: t.network.subnet,
      gateway: t.network.gateway ?? formatIpv4(subnet.network + 1),
    },
    storagePool: t.storagePool,
    containers: deriveContainers(t),
    nat: deriveNat(t),
    chains: { prerouting: `ITN-${t.name}-PRE`, postrouting: `ITN-${t.name}-POST` },
    services: deriveServices(t),
  };
  const migration = deriveMigration(t);
  if (migration) (spec as { migration?: typeof migration }).migration = migration;
  return deepFreeze(spec);
}
