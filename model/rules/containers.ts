/** Rules over containers: names, devices (disks and their sources) and the CI runner. */
import type { Problem } from "../types";
import { isContainerName, MESSAGES, pathsOverlap } from "../primitives";
import type { Check } from "./check";

/** The CI runner container: never privileged, never given another container's disk. */
export const CI_CONTAINER = "alm-ci";

/** Container names are valid and unique, case folded. */
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

/** Devices are host-path disks with a container path; no proxy devices, no reserved names. */
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

/** The CI runner is unprivileged and mounts no other container's data nor host system paths. */
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
