/**
 * Cross-field rules of the runbooks, as pure checks over the parsed (shape-valid) config.
 * Each returns problems with field paths; none throws.
 */
import { ParsedTenant } from "./schema";
import { cidrContains, formatIpv4, parseCidr, parseIpv4 } from "./net";
import { Problem } from "./types";
import { checkServices } from "./services";
import { checkMigration } from "./migration";
import { trimSlash } from "./paths";

/** Ports of internal services: exposing them needs `sources` or an explicit `public: true`. */
export const SENSITIVE_PORTS: readonly number[] = [3306, 4747, 5432, 6333, 6379, 8200, 9000, 9100];

/** The CI runner container: never privileged, never given another container's disk. */
export const CI_CONTAINER = "alm-ci";

const NAME_RE = /^[A-Za-z][A-Za-z0-9-]{0,62}$/;

type Check = (t: ParsedTenant) => Problem[];

export const checkContainerNames: Check = (t) => {
  const problems: Problem[] = [];
  const seen = new Map<string, string>();
  for (const name of Object.keys(t.containers)) {
    if (!NAME_RE.test(name) || name.endsWith("-")) {
      problems.push({ path: `containers.${name}`, message: "container name must be 1-63 letters, digits or hyphens, start with a letter and not end with a hyphen" });
    }
    const folded = name.toLowerCase();
    const first = seen.get(folded);
    if (first !== undefined) problems.push({ path: `containers.${name}`, message: `duplicate container name (same as "${first}")` });
    else seen.set(folded, name);
  }
  return problems;
};

export const checkAddresses: Check = (t) => {
  const problems: Problem[] = [];
  const subnet = parseCidr(t.network.subnet);
  if (!subnet) return problems;
  const gatewayText = t.network.gateway ?? formatIpv4(subnet.network + 1);
  const gateway = parseIpv4(gatewayText) as number;
  if (t.network.gateway !== undefined && (!cidrContains(subnet, gateway) || gateway === subnet.network || gateway === subnet.broadcast)) {
    problems.push({ path: "network.gateway", message: `${gatewayText} is not a host address of ${t.network.subnet}` });
  }
  const owners = new Map<number, string>();
  for (const [name, c] of Object.entries(t.containers)) {
    const path = `containers.${name}.ipv4`;
    const ip = parseIpv4(c.ipv4) as number;
    if (!cidrContains(subnet, ip)) problems.push({ path, message: `${c.ipv4} is outside the subnet ${t.network.subnet}` });
    else if (ip === subnet.network) problems.push({ path, message: `${c.ipv4} is the network address of ${t.network.subnet}` });
    else if (ip === subnet.broadcast) problems.push({ path, message: `${c.ipv4} is the broadcast address of ${t.network.subnet}` });
    else if (ip === gateway) problems.push({ path, message: `${c.ipv4} is the gateway address of ${t.network.subnet}` });
    const owner = owners.get(ip);
    if (owner !== undefined) problems.push({ path, message: `${c.ipv4} is already used by container "${owner}"` });
    else owners.set(ip, name);
  }
  return problems;
};

const DISK_KEYS = ["type", "source", "path", "readonly"];

/** Host paths the CI runner may never mount: the host itself, the daemons' data, secrets, kernel interfaces. */
export const HOST_SYSTEM_PATHS = ["/", "/etc", "/root", "/home", "/boot", "/proc", "/sys", "/dev", "/run", "/var/run", "/var/lib/incus", "/var/lib/lxd", "/var/snap"];

export const checkDevices: Check = (t) => {
  const problems: Problem[] = [];
  for (const [name, c] of Object.entries(t.containers)) {
    for (const [dev, d] of Object.entries(c.devices)) {
      const path = `containers.${name}.devices.${dev}`;
      if (d.type === "proxy") {
        problems.push({ path, message: "Incus proxy devices are not allowed (they conflict with the NAT rules): declare a nat rule instead" });
      } else if (d.type !== "disk") {
        problems.push({ path: `${path}.type`, message: `unsupported device type "${d.type}" (only "disk")` });
      } else {
        if (d.source === undefined) problems.push({ path: `${path}.source`, message: "a disk device needs a host source path" });
        if (d.path === undefined) problems.push({ path: `${path}.path`, message: "a disk device needs a path inside the container" });
        // The schema lets unknown keys through (for the proxy-device message); a typo on a disk
        // (readonyl: true) must not silently mount read-write.
        for (const key of Object.keys(d).filter((k) => !DISK_KEYS.includes(k))) {
          problems.push({ path: `${path}.${key}`, message: `unknown field "${key}" (a disk device takes ${DISK_KEYS.join(", ")})` });
        }
      }
      if (dev === "eth0" || dev === "root") problems.push({ path, message: `device name "${dev}" is reserved for the program` });
    }
  }
  return problems;
};

const overlaps = (a: string, b: string): boolean => {
  const [x, y] = [a.replace(/\/+$/, ""), b.replace(/\/+$/, "")];
  return x === y || x.startsWith(`${y}/`) || y.startsWith(`${x}/`);
};

export const checkCiRunner: Check = (t) => {
  const ci = t.containers[CI_CONTAINER];
  if (!ci) return [];
  const problems: Problem[] = [];
  if (ci.privileged) problems.push({ path: `containers.${CI_CONTAINER}.privileged`, message: "the CI runner must not be privileged" });
  for (const [dev, d] of Object.entries(ci.devices)) {
    if (d.source === undefined) continue;
    const source = d.source;
    const other = Object.entries(t.containers).find(
      ([n, c]) => n !== CI_CONTAINER && (source.split("/").includes(n) || Object.values(c.devices).some((o) => o.source !== undefined && overlaps(o.source, source))),
    );
    if (other) problems.push({ path: `containers.${CI_CONTAINER}.devices.${dev}.source`, message: `the CI runner must not mount another container's data ("${other[0]}"): deploy over SSH instead` });
    const normalized = trimSlash(source);
    const system = HOST_SYSTEM_PATHS.find((p) => (p === "/" ? normalized === "/" : overlaps(p, normalized)));
    if (!other && system !== undefined) {
      problems.push({ path: `containers.${CI_CONTAINER}.devices.${dev}.source`, message: `the CI runner must not mount host system paths (${normalized} overlaps ${system}): use a dedicated folder` });
    }
  }
  return problems;
};

export const checkNat: Check = (t) => {
  const problems: Problem[] = [];
  const taken = new Map<string, number>();
  t.nat.forEach((rule, i) => {
    const path = `nat[${i}]`;
    const target = t.containers[rule.to];
    const protocols = Array.isArray(rule.protocol) ? rule.protocol : [rule.protocol];
    if (!target) problems.push({ path: `${path}.to`, message: `unknown container "${rule.to}"` });
    if (rule.toPort !== undefined && rule.ports.length > 1) problems.push({ path: `${path}.toPort`, message: "toPort needs exactly one external port" });
    if (rule.public === true && rule.sources !== undefined) problems.push({ path: `${path}.public`, message: "public: true contradicts sources: choose one" });
    rule.ports.forEach((port, j) => {
      const dest = rule.toPort ?? port;
      if (target && !target.ports.includes(dest)) problems.push({ path: `${path}.ports[${j}]`, message: `container "${rule.to}" does not expose port ${dest}` });
      if (port === t.host.port && protocols.includes("tcp")) problems.push({ path: `${path}.ports[${j}]`, message: `port ${port} is the host's SSH port and must never be forwarded` });
      const sensitive = SENSITIVE_PORTS.includes(port) || SENSITIVE_PORTS.includes(dest);
      const openToAll = rule.sources === undefined || rule.sources.includes("0.0.0.0/0");
      if (sensitive && openToAll && rule.public !== true) {
        problems.push({ path: `${path}.ports[${j}]`, message: `port ${port} exposes an internal service: list allowed sources or set public: true` });
      }
      for (const proto of new Set(protocols)) {
        const key = `${proto}/${port}`;
        const first = taken.get(key);
        if (first !== undefined) problems.push({ path: `${path}.ports[${j}]`, message: `${key} is already forwarded by nat[${first}]` });
        else taken.set(key, i);
      }
    });
  });
  return problems;
};

export const checkHost: Check = (t) => {
  const isIp = parseIpv4(t.host.address) !== undefined;
  if (t.host.publicAddress === undefined && !isIp && t.nat.length > 0) {
    return [{ path: "host.publicAddress", message: "required when host.address is a host name and nat rules exist" }];
  }
  return [];
};

/** Every cross-field rule, in reporting order. */
export const RULES: readonly Check[] = [checkContainerNames, checkAddresses, checkDevices, checkCiRunner, checkNat, checkHost, checkServices, checkMigration];
