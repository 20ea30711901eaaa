/**
 * A tenant built BY HAND, the runbooks' way (seeds 000-002), without the program: the starting
 * point of the adoption test (issue 12). Tenant `hb`, containers hb-proxy/-dns/-vault/-system at
 * 198.18.2.40-.43, external ports 9080/9443 (Caddy) and 5354 (DNS) on the test bed's public
 * address. What it builds, each as a runbook would:
 * - containers from the test-bed image with a reserved eth0 address (`incus config device
 *   override`-style), no `user.incus-tenant.*` key;
 * - hb-proxy: Caddy under a unit named `proxy` serving /opt/gbo/conf/config (seed 002's main file,
 *   storage root /opt/gbo/data/caddy) with vhosts the stack does not know;
 * - hb-dns: BIND's named (CoreDNS stand-in) serving a hand-written zone with an existing serial;
 * - hb-vault: the fake Vault (TEST STAND-IN, tests/bed/fake-vault.sh) holding values for the
 *   stack's paths plus keys the stack does not list, written with `vault kv put` and the root token;
 * - hb-system: HTTP responders (stand-ins for botserver/botui) and a hand-written .env with
 *   VAULT_* lines and one foreign variable;
 * - hand-written DNAT rules in PREROUTING as in 002: one duplicates a stack rule, one does not.
 */
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as path from "path";
import { host, ROOT, TestbedEnv } from "./testbed";
import { inc, readIn } from "./services-fixture";

export const TENANT = "hb";
export const CONTAINERS = {
  "hb-proxy": "198.18.2.40",
  "hb-dns": "198.18.2.41",
  "hb-vault": "198.18.2.42",
  "hb-system": "198.18.2.43",
} as const;
export type HbContainer = keyof typeof CONTAINERS;
export const PORTS = { http: 9080, https: 9443, dns: 5354, unrelated: 9099 } as const;
export const ZONE = "hb.example.com";
export const ZONE_FILE = `/opt/gbo/data/${ZONE}.zone`;
export const MAIN_FILE = "/opt/gbo/conf/config";
export const LIVE_SERIAL = "2030010105";
export const ENV_FILE = "/opt/gbo/bin/.env";
export const FAKE_VAULT_STATE = "/var/lib/fake-vault";
/** Vhosts only the hand-written main file serves (the stack never names them). */
export const UNKNOWN_VHOSTS = [`legacy.${ZONE}`, `old.${ZONE}`] as const;
/** Responders in hb-system: port → name in the body. */
export const RESPONDERS = { 5858: "botserver", 5859: "botui", 8081: "legacy" } as const;

/** What the fake Vault holds before adoption: the stack's keys and keys the stack does not list. */
export const VAULT_BEFORE: Record<string, Record<string, string>> = {
  "gbo/tables": {
    host: "198.18.2.43",
    port: "5432",
    database: "botserver",
    username: "gbuser",
    password: "hb-test-pg-password-0a1b2c3d4e5f6a7b",
    replica_host: "198.18.2.44",
  },
  "gbo/llm": {
    url: "http://198.18.2.43:8081",
    model: "hb-test-model",
    openai_key: "hb-test-openai-key-99aa88bb77cc66dd",
    anthropic_key: "hb-test-anthropic-key-11ee22ff33aa44bb",
  },
};

/** The hand-written zone (seed 001's layout: parenthesised SOA, comments, $TTL). */
export const HAND_ZONE = `$ORIGIN ${ZONE}.
$TTL 3600
@   IN SOA ns1.${ZONE}. hostmaster.example.com. (
        ${LIVE_SERIAL} ; serial, bumped by hand
        7200       ; refresh
        3600       ; retry
        1209600    ; expire
        3600 )     ; minimum
    IN NS  ns1.${ZONE}.
ns1 IN A   198.19.0.1
@   IN A   198.19.0.1
legacy IN A 198.19.0.1
old IN A   198.19.0.1
`;

/** The hand-written Caddy main file: the global storage block of 002 and two vhosts. */
export const HAND_MAIN = `{
\tstorage file_system {
\t\troot /opt/gbo/data/caddy
\t}
}

${UNKNOWN_VHOSTS[0]} {
\ttls internal
\treverse_proxy ${CONTAINERS["hb-system"]}:8081
}

${UNKNOWN_VHOSTS[1]} {
\ttls internal
\trespond "old site" 200
}
`;

export const HAND_ENV = `VAULT_ADDR=http://${CONTAINERS["hb-vault"]}:8200
VAULT_CACERT=/opt/gbo/conf/system/certificates/ca/ca.crt
RUST_LOG=info
`;

/** Hand-written DNAT rules (002's `iptables -t nat -A PREROUTING ...`): the duplicates first. */
export const handDnat = (env: TestbedEnv): string[][] => [
  ["-i", env.EXT_IF, "-p", "tcp", "--dport", String(PORTS.http), "-j", "DNAT"].concat([
    "--to-destination",
    `${CONTAINERS["hb-proxy"]}:80`,
  ]),
  ["-i", env.EXT_IF, "-p", "tcp", "--dport", String(PORTS.https), "-j", "DNAT"].concat([
    "--to-destination",
    `${CONTAINERS["hb-proxy"]}:443`,
  ]),
  ["-i", env.EXT_IF, "-p", "udp", "--dport", String(PORTS.dns), "-j", "DNAT"].concat([
    "--to-destination",
    `${CONTAINERS["hb-dns"]}:53`,
  ]),
  ["-i", env.EXT_IF, "-p", "tcp", "--dport", String(PORTS.unrelated), "-j", "DNAT"].concat([
    "--to-destination",
    `${CONTAINERS["hb-system"]}:5858`,
  ]),
];

const PROXY_UNIT = `[Unit]
Description=Caddy (hand-made, runbook 002)
After=network-online.target
[Service]
ExecStart=/usr/bin/caddy run --environ --config ${MAIN_FILE} --adapter caddyfile
ExecReload=/usr/bin/caddy reload --config ${MAIN_FILE} --adapter caddyfile --force
Restart=on-failure
[Install]
WantedBy=multi-user.target
`;

const RESPONDER =
  `#!/bin/bash
# itn e2e responder (tests/e2e/runbook-tenant.ts): stands in for an upstream service.
name=$1 host=
while IFS= read -r -t 5 l; do l=\${l%$'\\r'}; [ -z "$l" ] && break; case \${l,,} in host:*) host=\${l#*: };; esac; done
body="$name host=$host"
printf 'HTTP/1.0 200 OK\\r\\nContent-Type: text/plain\\r\\nContent-Length: %s\\r\\n\\r\\n%s\\n' ` +
  `"$((\${#body} + 1))" "$body"
`;

const sh = (container: string, line: string, input?: string): string =>
  inc(container, ["sh", "-c", line], input);

/** Removes everything this fixture (or the program on top of it) may have left, by exact name. */
export function removeRunbookTenant(env: TestbedEnv): void {
  for (const c of Object.keys(CONTAINERS)) spawnSync("incus", ["delete", "--force", c], { encoding: "utf8" });
  for (const rule of handDnat(env)) {
    while (spawnSync("iptables", ["-w", "-t", "nat", "-D", "PREROUTING", ...rule]).status === 0);
  }
  const nat = host("iptables-save", ["-t", "nat"]).split("\n");
  for (const l of nat.filter((x) => x.startsWith("-A ") && / -j ITN-hb-(PRE|POST)( |$)/.test(x)))
    spawnSync("bash", ["-c", `iptables -w -t nat ${l.replace(/^-A /, "-D ")}`]);
  for (const chain of ["ITN-hb-PRE", "ITN-hb-POST"]) {
    spawnSync("iptables", ["-w", "-t", "nat", "-F", chain]);
    spawnSync("iptables", ["-w", "-t", "nat", "-X", chain]);
  }
  spawnSync("rm", ["-f", "/etc/sysctl.d/60-incus-tenant-hb.conf"]);
}

/** Launches one container the runbook's way and waits for its address. */
function launch(env: TestbedEnv, name: HbContainer, privileged = false): void {
  host("incus", ["init", env.IMAGE, name, "-s", env.POOL, "-c", `security.privileged=${privileged}`]);
  host("incus", ["config", "device", "add", name, "eth0", "nic", `network=${env.INCUS_BRIDGE}`, "name=eth0"]);
  host("incus", ["config", "device", "set", name, "eth0", `ipv4.address=${CONTAINERS[name]}`]);
  host("incus", ["start", name]);
  for (let i = 0; i < 60; i++) {
    const state = host("incus", ["query", `/1.0/instances/${name}/state`]);
    if (state.includes(`"address": "${CONTAINERS[name]}"`)) return;
    spawnSync("sleep", ["1"]);
  }
  throw new Error(`${name} did not get ${CONTAINERS[name]}`);
}

/** Builds the whole hand-made tenant (about a minute). */
export function buildRunbookTenant(env: TestbedEnv): void {
  removeRunbookTenant(env);
  launch(env, "hb-proxy");
  launch(env, "hb-dns");
  launch(env, "hb-vault");
  launch(env, "hb-system", true);

  // hb-system: responders as transient units, and the hand-written .env.
  sh("hb-system", "cat > /usr/local/bin/itn-responder && chmod 0755 /usr/local/bin/itn-responder", RESPONDER);
  for (const [port, name] of Object.entries(RESPONDERS))
    inc(
      "hb-system",
      ["systemd-run", "--unit", `itn-hb-${port}`, "socat", `TCP-LISTEN:${port},fork,reuseaddr`].concat([
        `EXEC:/usr/local/bin/itn-responder ${name}`,
      ]),
    );
  sh("hb-system", `mkdir -p /opt/gbo/bin && cat > ${ENV_FILE}`, HAND_ENV);

  // hb-proxy: Caddy under the unit `proxy`, the image's own caddy.service stopped and disabled.
  inc("hb-proxy", ["systemctl", "disable", "--now", "caddy.service"]);
  sh(
    "hb-proxy",
    `mkdir -p /opt/gbo/conf /opt/gbo/data/caddy && chown caddy: /opt/gbo/data/caddy && cat > ${MAIN_FILE}`,
    HAND_MAIN,
  );
  sh("hb-proxy", "cat > /etc/systemd/system/proxy.service", PROXY_UNIT);
  inc("hb-proxy", ["systemctl", "daemon-reload"]);
  inc("hb-proxy", ["systemctl", "enable", "--now", "proxy.service"]);

  // hb-dns: named serving the hand-written zone.
  sh("hb-dns", `mkdir -p /opt/gbo/data && cat > ${ZONE_FILE} && chmod 0644 ${ZONE_FILE}`, HAND_ZONE);
  sh("hb-dns", "cat > /etc/bind/named.conf.local", `zone "${ZONE}" { type master; file "${ZONE_FILE}"; };\n`);
  sh(
    "hb-dns",
    "[ -s /etc/bind/rndc.key ] || { rndc-confgen -a -c /etc/bind/rndc.key && " +
      "chown root:bind /etc/bind/rndc.key && chmod 0640 /etc/bind/rndc.key; }",
  );
  inc("hb-dns", ["systemctl", "unmask", "named.service"]);
  inc("hb-dns", ["systemctl", "enable", "--now", "named.service"]);

  // hb-vault: the fake Vault, then the values as an operator would write them (root token).
  sh(
    "hb-vault",
    "cat > /usr/local/sbin/fake-vault.sh",
    fs.readFileSync(path.join(ROOT, "tests", "bed", "fake-vault.sh"), "utf8"),
  );
  inc("hb-vault", ["bash", "/usr/local/sbin/fake-vault.sh", "install"]);
  for (const [kvPath, data] of Object.entries(VAULT_BEFORE))
    sh(
      "hb-vault",
      `VAULT_TOKEN=$(cat ${FAKE_VAULT_STATE}/token) vault kv put -mount=secret ${kvPath} -`,
      JSON.stringify(data),
    );

  // Hand-written DNAT (002), plus the forwarding the bridge needs.
  for (const rule of handDnat(env)) host("iptables", ["-w", "-t", "nat", "-A", "PREROUTING", ...rule]);
}

/** The fake Vault's data at a path, as an object (undefined when absent). */
export function vaultObject(kvPath: string): Record<string, string> | undefined {
  const r = spawnSync(
    "incus",
    [
      "exec",
      "hb-vault",
      "--",
      "sh",
      "-c",
      `VAULT_TOKEN=$(cat ${FAKE_VAULT_STATE}/token) vault kv get -format=json -mount=secret ${kvPath}`,
    ],
    { encoding: "utf8" },
  );
  if (r.status !== 0) return undefined;
  return (JSON.parse(r.stdout) as { data: { data: Record<string, string> } }).data.data;
}

/** A listing of everything on the host and in the containers the adoption may touch (for before/after). */
export function fullListing(): string {
  const parts: string[] = [];
  for (const c of Object.keys(CONTAINERS)) {
    parts.push(`== ${c} config`, host("incus", ["config", "show", c]).replace(/volatile\.[^\n]*\n/g, ""));
    parts.push(
      `== ${c} files`,
      sh(c, "find /opt/gbo /etc/caddy /etc/bind -type f 2>/dev/null | sort | " + "xargs -r sha256sum"),
    );
  }
  parts.push("== nat", host("iptables-save", ["-t", "nat"]).replace(/^#.*\n|\[\d+:\d+\]/gm, ""));
  parts.push("== filter", host("iptables-save", ["-t", "filter"]).replace(/^#.*\n|\[\d+:\d+\]/gm, ""));
  return parts.join("\n");
}

/** The main file's text in hb-proxy. */
export const mainFile = (): string => readIn("hb-proxy", MAIN_FILE) ?? "";
