/** Scripts that prepare the host: forwarding, our NAT chains, the SSH guard, persistence. */
import { TenantSpec } from "../model/types";
import { chainLines, convergeRules, guardLines, lockOrAbort, persistRules, RULES_FILE } from "./iptables";
import { script, shq } from "./shell";
import { ScriptPair, writeFileIfChanged } from "./snippets";

/** The sysctl drop-in of a tenant. */
export const sysctlFile = (tenant: string): string => `/etc/sysctl.d/60-incus-tenant-${tenant}.conf`;

/** Re-exported for the components that import it from here (it lives in ./snippets). */
export type { ScriptPair } from "./snippets";

/** net.ipv4.ip_forward=1, now and at boot. Destroy removes the drop-in, never flips the live value. */
export function renderForwarding(spec: TenantSpec): ScriptPair {
  const file = sysctlFile(spec.name);
  return {
    create: script(`ip forwarding for tenant ${spec.name}`, [
      writeFileIfChanged(file, "net.ipv4.ip_forward = 1"),
      "sysctl -q -w net.ipv4.ip_forward=1",
      `[ "$(cat /proc/sys/net/ipv4/ip_forward)" = 1 ] || { echo 'net.ipv4.ip_forward did not turn on' >&2; exit 1; }`,
    ]),
    delete: script(`ip forwarding for tenant ${spec.name} (remove drop-in)`, [
      `rm -f ${shq(file)}`,
      `log ${shq(`${file}: removed`)}`,
    ]),
  };
}

/** Our two nat chains, the jumps into them, and MASQUERADE for the subnet. */
export function renderChains(spec: TenantSpec): ScriptPair {
  const { jumps, masquerade } = chainLines(spec);
  const chains = [spec.chains.prerouting, spec.chains.postrouting];
  const converge = (j: string[], m: string[]): string[] => [
    convergeRules({
      table: "nat",
      tag: `incus-tenant:${spec.name}:masquerade`,
      want: m,
      ensureChains: chains,
    }),
    convergeRules({ table: "nat", tag: `incus-tenant:${spec.name}:jump`, want: j, ensureChains: chains }),
  ];
  return {
    create: script(`nat chains of tenant ${spec.name}`, converge(jumps, masquerade)),
    delete: script(`nat chains of tenant ${spec.name} (remove)`, [
      ...converge([], []).reverse(),
      ...chains.map(
        (ch) =>
          `if iptables -w -t nat -L ${shq(ch)} -n >/dev/null 2>&1; then ` +
          `iptables -w -t nat -F ${shq(ch)}; iptables -w -t nat -X ${shq(ch)}; ` +
          `log ${shq(`${ch}: removed`)}; fi`,
      ),
      // Persist under the lock, without another rule's still unconfirmed change (render/iptables.ts).
      lockOrAbort(`nat chains of tenant ${spec.name}`),
      persistRules(),
      "exec 9>&-",
    ]),
  };
}

/**
 * Loopback and SSH ACCEPT as the first rules of INPUT, before any DROP. Never removed by the
 * program, not even on destroy: the runbooks' first rule is never to lock out SSH.
 */
export function renderGuard(spec: TenantSpec): ScriptPair {
  const sshRule = `--dport ${spec.host.port} -m comment --comment "incus-tenant:guard" -j ACCEPT`;
  return {
    create: script(`INPUT guard (loopback + SSH port ${spec.host.port} first)`, [
      convergeRules({
        table: "filter",
        tag: "incus-tenant:guard",
        want: guardLines(spec.host.port),
        atTop: "INPUT",
      }),
      `first_drop=$(iptables -w -S INPUT | grep -nE -- '-j (DROP|REJECT)' | head -n1 | cut -d: -f1 || true)`,
      `ssh_at=$(iptables -w -S INPUT | grep -nF -- ${shq(sshRule)} | head -n1 | cut -d: -f1)`,
      `if [ -n "$first_drop" ] && [ "$first_drop" -lt "$ssh_at" ]; then ` +
        `echo "INPUT has a DROP before the SSH guard (line $first_drop): refusing to continue" >&2; exit 1; fi`,
    ]),
  };
}

/** The boot-time restore unit of the runbook (002, firewall section). */
export const RESTORE_UNIT = `[Unit]
Description=Restore iptables rules on boot
After=network-pre.target
Before=network.target
DefaultDependencies=no

[Service]
Type=oneshot
ExecStart=/bin/bash -c "/sbin/iptables-restore < ${RULES_FILE}"
RemainAfterExit=yes

[Install]
WantedBy=multi-user.target`;

/** iptables-restore.service installed and enabled (by symlink, so it works without a running systemd). */
export function renderPersistence(): ScriptPair {
  const unit = "/etc/systemd/system/iptables-restore.service";
  return {
    create: script("iptables persistence (rules.v4 + restore unit)", [
      writeFileIfChanged(unit, `# managed by incus-tenant: restores ${RULES_FILE} at boot\n${RESTORE_UNIT}`),
      "mkdir -p /etc/systemd/system/multi-user.target.wants",
      `ln -sfn ${shq(unit)} /etc/systemd/system/multi-user.target.wants/iptables-restore.service`,
      "if [ -d /run/systemd/system ]; then systemctl daemon-reload || true; fi",
      lockOrAbort("iptables persistence"),
      `if [ ! -s ${shq(RULES_FILE)} ]; then`,
      persistRules(),
      "fi",
      "exec 9>&-",
    ]),
  };
}
