/** Rules over the tenant network (subnet, bridge, gateway, addresses) and the host. */
import { Cidr, cidrContains, cidrsOverlap, formatIpv4, parseCidr, parseIpv4 } from "../net";
import type { Problem } from "../types";
import type { Check } from "./check";

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

/** Container addresses are distinct host addresses of the subnet, not the gateway's. */
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

/** A prod stack pins the host key; a host name needs host.publicAddress when nat rules exist. */
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
