/**
 * Jest globalSetup of the unit project: the unit tests run real system tools (caddy validate,
 * named-checkzone, iptables-restore in a network namespace, socat, bash). When one is missing,
 * stop before any test with its name and the command that installs it, instead of dozens of
 * failures that print `nullnull`.
 */
const { spawnSync } = require("child_process");

/** Each tool the unit tests run, and the Debian package that provides it. */
const TOOLS = [
  ["bash", "bash"],
  ["caddy", "caddy"],
  ["named-checkzone", "bind9-utils"],
  ["iptables-restore", "iptables"],
  ["iptables-save", "iptables"],
  ["ip", "iproute2"],
  ["socat", "socat"],
  ["openssl", "openssl"],
  ["flock", "util-linux"],
  ["shellcheck", "shellcheck"],
  // The zone SOA reader runs under every awk an Incus host may have (tests/unit/zone-soa.test.ts).
  ["gawk", "gawk"],
  ["busybox", "busybox"],
];

module.exports = async function checkSystemTools() {
  const missing = TOOLS.filter(([tool]) => spawnSync("sh", ["-c", `command -v ${tool}`]).status !== 0);
  if (missing.length === 0) return;
  const packages = [...new Set(missing.map(([, pkg]) => pkg))].join(" ");
  const lines = missing.map(([tool, pkg]) => `  - ${tool} (Debian package ${pkg})`);
  throw new Error(
    `the unit tests need system tools that are missing:\n${lines.join("\n")}\n` +
      `install them with: apt-get install -y --no-install-recommends ${packages}\n` +
      "(or run the README's set-up command: scripts/setup.sh)",
  );
};
module.exports.TOOLS = TOOLS;
