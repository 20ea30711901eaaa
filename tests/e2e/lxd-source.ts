/**
 * LXD source containers for the migration end-to-end files and `bench:migration`: a running
 * container of the test bed's image with data files under /srv/data and an HTTP service (socat,
 * a systemd unit started at boot) answering on port 80 with its name and data id, one per line.
 */
import { execFileSync, spawnSync } from "child_process";
import * as fs from "fs";
import { readStackTenant } from "../../model/stackfile";
import { harnessConfig } from "./testbed";

/** Runs a bash line on this host; returns stdout, throws with stderr on failure. */
export const sh = (line: string): string =>
  execFileSync("bash", ["-c", line], {
    encoding: "utf8",
    stdio: ["ignore", "pipe", "pipe"],
    maxBuffer: 64 * 1024 * 1024,
  });

/** True when a bash line exits 0. */
export const shOk = (line: string): boolean =>
  spawnSync("bash", ["-c", line], { stdio: "ignore" }).status === 0;

/** Content checksum of a tree (same recipe as the migration's verification); `prefix` runs it elsewhere. */
export const treeSum = (prefix: string, dir: string): string =>
  sh(
    `${prefix} sh -c 'cd ${dir} && find . -type f -print0 | LC_ALL=C sort -z | xargs -0r sha256sum | sha256sum ` +
      `| cut -d" " -f1'`,
  ).trim();

/** LXD status of a container ("RUNNING", "STOPPED"), or "" when it does not exist. */
export const lxcStatus = (name: string): string =>
  (
    spawnSync("bash", ["-c", `lxc list ^${name}$ --format csv -c s`], { encoding: "utf8" }).stdout ?? ""
  ).trim();

/** Options of {@link makeSource}. */
export interface SourceOptions {
  /** A host directory mounted into the container (an LXD disk device named "data"). */
  disk?: { source: string; path: string };
  /** An LXD proxy device named "web" with this listen address, connecting to port 80. */
  proxyListen?: string;
  /** Size of the random blob under /srv/data, in MiB (default 8). */
  dataMB?: number;
}

/** Creates and starts one LXD source container on the test bed's LXD bridge. */
export function makeSource(name: string, o: SourceOptions = {}): void {
  sh(`lxc init itn-bookworm ${name} -s itn-pool -n itnlxdbr0 -q`);
  if (o.disk) sh(`lxc config device add ${name} data disk source=${o.disk.source} path=${o.disk.path} -q`);
  if (o.proxyListen)
    sh(`lxc config device add ${name} web proxy listen=${o.proxyListen} connect=tcp:127.0.0.1:80 -q`);
  sh(`lxc start ${name}`);
  const unit =
    "[Unit]\nDescription=itn migration test service\nAfter=network.target\n[Service]\n" +
    "ExecStart=/usr/bin/socat TCP-LISTEN:80,fork,reuseaddr " +
    `SYSTEM:"echo HTTP/1.0 200 OK; echo; echo ${name}; cat /srv/data/id"\n` +
    "Restart=always\n[Install]\nWantedBy=multi-user.target\n";
  for (
    let i = 0;
    i < 60 &&
    !shOk(`lxc exec ${name} -- systemctl is-system-running 2>/dev/null | grep -Eq 'running|degraded'`);
    i++
  )
    sh("sleep 1");
  sh(
    `lxc exec ${name} -- sh -c 'mkdir -p /srv/data && head -c ${o.dataMB ?? 8}M /dev/urandom > /srv/data/blob ` +
      `&& echo ${name}-data > /srv/data/id && for i in $(seq 100); do echo "$i" > /srv/data/n$i; done'`,
  );
  execFileSync("lxc", ["exec", name, "--", "sh", "-c", "cat > /etc/systemd/system/itn-http.service"], {
    input: unit,
  });
  sh(`lxc exec ${name} -- systemctl disable --now caddy.service -q`); // the image's Caddy holds port 80
  sh(`lxc exec ${name} -- systemctl enable --now itn-http.service -q`);
}

/** What differs between the migration tenants of the e2e files and the bench. */
export interface MigrationTenantOptions {
  /** Tenant (and stack) name. */
  name: string;
  /** Destination containers (their raw stack entries: ipv4, devices...); each serves on port 80. */
  containers: Record<string, Record<string, unknown>>;
  /** External NAT port per container, forwarded to its port 80. */
  ports: Record<string, number>;
  /** Fields of the `migration:` section beyond the source host and containers (remote, data, parallel...). */
  migration: Record<string, unknown>;
}

/**
 * A raw tenant for migration tests on the test bed: the generated stack's host and network, the
 * given containers (ports [80]) with one NAT rule each, no services, and a migration from the
 * test bed's own LXD (127.0.0.1:8443) over its sshd, moving every given container.
 */
export function migrationTenant(env: Record<string, string>, o: MigrationTenantOptions): Record<string, any> {
  const t = readStackTenant(env.STACK_FILE) as Record<string, any>;
  t.name = o.name;
  t.containers = Object.fromEntries(Object.entries(o.containers).map(([n, c]) => [n, { ports: [80], ...c }]));
  t.nat = Object.keys(o.containers).map((n) => ({ ports: [o.ports[n]], protocol: "tcp", to: n, toPort: 80 }));
  for (const k of ["proxy", "vhosts", "dns", "vault"]) delete t[k];
  t.migration = {
    source: {
      address: env.SSH_HOST,
      port: Number(env.SSH_PORT),
      user: env.SSH_USER,
      hostKey: t.host.hostKey,
    },
    lxdAddress: "127.0.0.1:8443",
    containers: Object.keys(o.containers),
    ...o.migration,
  };
  return t;
}

/**
 * {@link harnessConfig} plus the secret `incus-tenant:migrationSourceKey` (required with a
 * migration section): the test bed's LXD host is this host, reached over the same sshd, so the
 * test bed's key doubles as the source key.
 */
export function migrationHarnessConfig(
  env: Record<string, string>,
  tenant: unknown,
): ReturnType<typeof harnessConfig> {
  const h = harnessConfig(env, tenant);
  return {
    ...h,
    config: { ...h.config, "incus-tenant:migrationSourceKey": fs.readFileSync(env.SSH_KEY, "utf8") },
    secretKeys: [...h.secretKeys, "incus-tenant:migrationSourceKey"],
  };
}

/** sha256 of LXD's server certificate as `lxc info` reports it (lower-case hex). */
export const lxdFingerprint = (): string =>
  sh("lxc info | sed -n 's/^  certificate_fingerprint: //p'").trim();
