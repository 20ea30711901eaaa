/**
 * Cross-field rules of the runbooks, as pure checks over the parsed (shape-valid) config.
 * Each returns problems with field paths; none throws.
 */
import { ParsedTenant } from "./schema";
import { Cidr, cidrContains, cidrsOverlap, coversAll, formatIpv4, parseCidr, parseIpv4 } from "./net";
import { Problem } from "./types";
import { checkServices } from "./services";
import { checkMigration } from "./migration";
import { checkFiles } from "./files";
import { isContainerName, MESSAGES, pathsOverlap } from "./primitives";

/** Ports of internal services: exposing them needs `sources` or an explicit `public: true`. */
export const SENSITIVE_PORTS: readonly number[] = [3306, 4747, 5432, 6333, 6379, 8200, 9000, 9100];

/** The CI runner container: never privileged, never given another container's disk. */
export const CI_CONTAINER = "alm-ci";

/** A cross-field rule over the parsed config. */
export type Check = (t: ParsedTenant) => Problem[];

export const checkContainerNames: Check = (t) => {
  const problems: Problem[] = [];
  const seen = new Map<string, string>();
  for (const name of Object.keys(t.containers)) {
    if (!isContainerName(name))
      problems.push({ path: `containers.${name}`, message: MESSAGES.containerName });
    const folded = name.toLowerCase();
    const first = seen.get(folded);
    if (first !== undefined)
      problems.push({ path: `containers.${name}`, message: `duplicate container name (same as "${first}")` });
    else seen.set(folded, name);
  }
  return problems;
};

/** Networks a tenant subnet must not overlap, with what they are. */
export const RESERVED_NETWORKS: readonly (readonly [string, string])[] = [
  ["0.0.0.0/8", "this network"],
  ["127.0.0.0/8", "loopback"],
  ["169.254.0.0/16", "link-local"],
  ["224.0.0.0/4", "multicast"],
  ["240.0.0.0/4", "reserved, with the broadcast address"],
];

/** The tenant subnet is a bridge network (/8 to /30, nothing reserved); the bridge is not the external interface. */
export const checkNetwork: Check = (t) => {
  const problems: Problem[] = [];
  const subnet = parseCidr(t.network.subnet) as Cidr;
  const reserved = RESERVED_NETWORKS.find(([net]) => cidrsOverlap(subnet, parseCidr(net) as Cidr));
  if (subnet.prefix < 8 || subnet.prefix > 30) {
    problems.push({
      path: "network.subnet",
      message: `${t.network.subnet} has a prefix outside /8 to /30: a tenant bridge needs a network like 10.0.2.0/24`,
    });
  } else if (reserved !== undefined) {
    problems.push({
      path: "network.subnet",
      message:
        `${t.network.subnet} overlaps ${reserved[0]} (${reserved[1]}): ` +
        "choose a private network like 10.0.2.0/24",
    });
  }
  if (t.host.externalInterface === t.network.bridge) {
    problems.push({
      path: "host.externalInterface",
      message: `"${t.network.bridge}" is the tenant's own bridge (network.bridge): name the host's public interface`,
    });
  }
  return problems;
};

export const checkAddresses: Check = (t) => {
  const problems: Problem[] = [];
  const subnet = parseCidr(t.network.subnet);
  if (!subnet) return problems;
  const gatewayText = t.network.gateway ?? formatIpv4(subnet.network + 1);
  const gateway = parseIpv4(gatewayText) as number;
  if (
    t.network.gateway !== undefined &&
    (!cidrContains(subnet, gateway) || gateway === subnet.network || gateway === subnet.broadcast)
  ) {
    problems.push({
      path: "network.gateway",
      message: `${gatewayText} is not a host address of ${t.network.subnet}`,
    });
  }
  const owners = new Map<number, string>();
  for (const [name, c] of Object.entries(t.containers)) {
    const path = `containers.${name}.ipv4`;
    const ip = parseIpv4(c.ipv4) as number;
    if (!cidrContains(subnet, ip))
      problems.push({ path, message: `${c.ipv4} is outside the subnet ${t.network.subnet}` });
    else if (ip === subnet.network)
      problems.push({ path, message: `${c.ipv4} is the network address of ${t.network.subnet}` });
    else if (ip === subnet.broadcast)
      problems.push({ path, message: `${c.ipv4} is the broadcast address of ${t.network.subnet}` });
    else if (ip === gateway)
      problems.push({ path, message: `${c.ipv4} is the gateway address of ${t.network.subnet}` });
    const owner = owners.get(ip);
    if (owner !== undefined)
      problems.push({ path, message: `${c.ipv4} is already used by container "${owner}"` });
    else owners.set(ip, name);
  }
  return problems;
};

const DISK_KEYS = ["type", "source", "path", "readonly"];

/** Host paths the CI runner may never mount: the host itself, the daemons' data, secrets, kernel interfaces. */
export const HOST_SYSTEM_PATHS = [
  "/",
  "/etc",
  "/root",
  "/home",
  "/boot",
  "/proc",
  "/sys",
  "/dev",
  "/run",
  "/var/run",
  "/var/lib/incus",
  "/var/lib/lxd",
  "/var/snap",
];

/** The first host system path `source` (normalised) overlaps, or undefined. */
const systemPathOf = (source: string): string | undefined =>
  HOST_SYSTEM_PATHS.find((p) => (p === "/" ? source === "/" : pathsOverlap(p, source)));

export const checkDevices: Check = (t) => {
  const problems: Problem[] = [];
  for (const [name, c] of Object.entries(t.containers)) {
    for (const [dev, d] of Object.entries(c.devices)) {
      const path = `containers.${name}.devices.${dev}`;
      if (d.type === "proxy") {
        problems.push({
          path,
          message:
            "Incus proxy devices are not allowed (they conflict with the NAT rules): declare a nat rule instead",
        });
      } else if (d.type !== "disk") {
        problems.push({ path: `${path}.type`, message: `unsupported device type "${d.type}" (only "disk")` });
      } else {
        if (d.source === undefined)
          problems.push({ path: `${path}.source`, message: "a disk device needs a host source path" });
        else if (name !== CI_CONTAINER) {
          // The CI runner has stricter rules of its own (checkCiRunner). Paths arrive normalised: "//" is "/".
          const system = systemPathOf(d.source);
          if (d.source === "/")
            problems.push({
              path: `${path}.source`,
              message: 'must not be the host\'s root "/": use a dedicated folder',
            });
          else if (c.privileged && system !== undefined) {
            problems.push({
              path: `${path}.source`,
              message:
                `a privileged container must not mount host system paths (${d.source} overlaps ${system}): ` +
                "use a dedicated folder",
            });
          }
        }
        if (d.path === undefined)
          problems.push({ path: `${path}.path`, message: "a disk device needs a path inside the container" });
        else if (d.path === "/")
          problems.push({
            path: `${path}.path`,
            message: 'must not be "/" (the container\'s root file system is its root disk)',
          });
        // The schema lets unknown keys through (for the proxy-device message); a typo on a disk
        // (readonyl: true) must not silently mount read-write.
        for (const key of Object.keys(d).filter((k) => !DISK_KEYS.includes(k))) {
          problems.push({
            path: `${path}.${key}`,
            message: `unknown field "${key}" (a disk device takes ${DISK_KEYS.join(", ")})`,
          });
        }
      }
      if (dev === "eth0" || dev === "root")
        problems.push({ path, message: `device name "${dev}" is reserved for the program` });
    }
  }
  return problems;
};

export const checkCiRunner: Check = (t) => {
  const ci = t.containers[CI_CONTAINER];
  if (!ci) return [];
  const problems: Problem[] = [];
  if (ci.privileged)
    problems.push({
      path: `containers.${CI_CONTAINER}.privileged`,
      message: "the CI runner must not be privileged",
    });
  for (const [dev, d] of Object.entries(ci.devices)) {
    if (d.source === undefined) continue;
    const source = d.source;
    const other = Object.entries(t.containers).find(
      ([n, c]) =>
        n !== CI_CONTAINER &&
        (source.split("/").includes(n) ||
          Object.values(c.devices).some((o) => o.source !== undefined && pathsOverlap(o.source, source))),
    );
    if (other)
      problems.push({
        path: `containers.${CI_CONTAINER}.devices.${dev}.source`,
        message: `the CI runner must not mount another container's data ("${other[0]}"): deploy over SSH instead`,
      });
    const system = systemPathOf(source);
    if (!other && system !== undefined) {
      problems.push({
        path: `containers.${CI_CONTAINER}.devices.${dev}.source`,
        message:
          `the CI runner must not mount host system paths (${source} overlaps ${system}): ` +
          "use a dedicated folder",
      });
    }
  }
  return problems;
};

/** True when the (shape-valid) source networks together let every address in. */
export const sourcesCoverAll = (sources: readonly string[]): boolean =>
  coversAll(sources.map((s) => parseCidr(s) as Cidr));

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

export const checkHost: Check = (t) => {
  const problems: Problem[] = [];
  if (t.environment === "prod" && t.host.hostKey === undefined) {
    problems.push({
      path: "host.hostKey",
      message:
        `is required in a prod stack: pin the host's key (ssh-keyscan -t ed25519 ${t.host.address}), ` +
        "else any machine answering there gets the secrets",
    });
  }
  const isIp = parseIpv4(t.host.address) !== undefined;
  if (t.host.publicAddress === undefined && !isIp && t.nat.length > 0) {
    problems.push({
      path: "host.publicAddress",
      message: "required when host.address is a host name and nat rules exist",
    });
  }
  return problems;
};

/** Every cross-field rule, in reporting order. */
export const RULES: readonly Check[] = [
  checkContainerNames,
  checkNetwork,
  checkAddresses,
  checkDevices,
  checkCiRunner,
  checkNat,
  checkHost,
  checkServices,
  checkFiles,
  checkMigration,
];
