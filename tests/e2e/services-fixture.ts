/**
 * Fixture of tests/e2e/services.test.ts: the `svc` tenant (its own containers, addresses and
 * external ports, next to the lifecycle test's `e2e` tenant), the test-only helpers it runs in
 * the containers (HTTP responders, BIND's named standing in for CoreDNS, the fake Vault), and
 * readers of the real state (dig through the NAT, files in containers, the harness state file).
 */
import { execFileSync, spawnSync } from "child_process";
import * as fs from "fs";
import * as path from "path";
import { client, e2eTenant, host, ROOT, TestbedEnv } from "./testbed";

export const TENANT = "svc";
export const ZONE = "stage.example.com";
export const ZONE_FILE = `/opt/gbo/data/${ZONE}.zone`;
export const SITES_DIR = "/etc/caddy/sites";
/** External ports on itn-ext0 (the lifecycle test owns 80, 443 and 53). */
export const PORTS = { http: 8080, https: 8443, dns: 5353 } as const;
/** The fake Vault's state folder inside svc-vault (see tests/bed/fake-vault.sh). */
export const FAKE_VAULT_STATE = "/var/lib/fake-vault";
/** Where the svc tenant's scoped Vault tokens live in svc-vault (the default: next to tokenFile). */
export const SCOPED_TOKEN_DIR = `${FAKE_VAULT_STATE}/incus-tenant-svc`;
/** The value of the one `fromConfig` secret (a test value; it must never show up anywhere but Vault). */
export const LLM_API_KEY = "itn-test-llm-key-7f3c9a51d2e84b06";
export const MY_CONTAINERS = ["svc-proxy", "svc-dns", "svc-vault", "svc-system"] as const;

/** The HTTP responders standing in for the upstream services: container, port, name in the body. */
export const RESPONDERS = [
  { container: "svc-system", port: 8080, name: "system-8080" },
  { container: "svc-proxy", port: 8081, name: "proxy-8081" },
] as const;

/** The svc tenant: only containers and NAT (no service sections). */
export function baseTenant(env: TestbedEnv): Record<string, any> {
  const t = e2eTenant(env);
  t.name = TENANT;
  t.containers = {
    "svc-proxy": { ipv4: "198.18.2.20", ports: [80, 443, 8081] },
    "svc-dns": { ipv4: "198.18.2.21", ports: [53] },
    "svc-vault": { ipv4: "198.18.2.22", ports: [8200] },
    "svc-system": { ipv4: "198.18.2.23", privileged: true, ports: [8080] },
  };
  t.nat = [
    { ports: [PORTS.http], toPort: 80, protocol: "tcp", to: "svc-proxy" },
    { ports: [PORTS.https], toPort: 443, protocol: "tcp", to: "svc-proxy" },
    { ports: [PORTS.dns], toPort: 53, protocol: ["tcp", "udp"], to: "svc-dns" },
  ];
  return t;
}

/** The full svc tenant: proxy + vhosts, dns, vault (test-bed shapes of Pulumi.stage.yaml's sections). */
export function fullTenant(env: TestbedEnv): Record<string, any> {
  const t = baseTenant(env);
  const pub = env.HOST_EXT_IP;
  t.proxy = { container: "svc-proxy", tls: { internal: true } };
  t.vhosts = {
    chat: { upstream: { container: "svc-system", port: 8080 } },
    alm: { upstream: { container: "svc-proxy", port: 8081 } },
  };
  t.dns = {
    container: "svc-dns",
    server: "named", // BIND stands in for CoreDNS here: the preflight looks for it
    nameservers: [`ns1.${ZONE}`],
    hostmaster: "hostmaster@example.com",
    zones: {
      [ZONE]: {
        records: [
          { name: "@", type: "A", value: pub },
          { name: "ns1", type: "A", value: pub },
          { name: "mail", type: "A", value: pub },
          { name: "@", type: "MX", value: `mail.${ZONE}`, priority: 10 },
          { name: "chat", type: "A", value: pub },
          { name: "alm", type: "A", value: pub },
        ],
      },
    },
  };
  t.vault = {
    container: "svc-vault",
    address: "http://127.0.0.1:8200",
    tokenFile: `${FAKE_VAULT_STATE}/token`,
    mount: "secret",
    paths: {
      "gbo/llm": {
        keepOnDestroy: false,
        keys: {
          url: { value: "http://198.18.2.23:8081" },
          api_key: { fromConfig: "llmApiKey" },
          password: { generate: { length: 24 } },
        },
      },
      "gbo/tenants/{tenant}/infrastructure": {
        keys: {
          tables_host: { value: "198.18.2.23" },
          tables_database: { value: "{tenant}" },
          tables_password: { generate: { length: 32 } },
        },
      },
    },
    envFile: {
      container: "svc-system",
      path: "/opt/gbo/bin/.env",
      variables: { VAULT_ADDR: "http://198.18.2.22:8200" },
    },
  };
  return t;
}

/** A deep copy to change. */
export const clone = <T>(x: T): T => JSON.parse(JSON.stringify(x)) as T;

/** Runs argv inside a container (stdin optional); throws with stderr on failure. */
export function inc(container: string, argv: string[], input?: string): string {
  return execFileSync("incus", ["exec", container, "--", ...argv], {
    encoding: "utf8",
    input: input ?? "",
    stdio: ["pipe", "pipe", "pipe"],
  });
}

/** A file's text inside a container, or undefined when it is missing. */
export function readIn(container: string, file: string): string | undefined {
  const r = spawnSync("incus", ["exec", container, "--", "cat", file], { encoding: "utf8" });
  return r.status === 0 ? r.stdout : undefined;
}

/** A tiny HTTP/1.0 responder: reads the request head, answers "<name> host=<Host header>". */
const RESPONDER =
  `#!/bin/bash
# itn e2e test responder (tests/e2e/services-fixture.ts): stands in for an upstream service.
name=$1 host=
while IFS= read -r -t 5 l; do l=\${l%$'\\r'}; [ -z "$l" ] && break; case \${l,,} in host:*) host=\${l#*: };; esac; done
body="$name host=$host"
printf 'HTTP/1.0 200 OK\\r\\nContent-Type: text/plain\\r\\nContent-Length: %s\\r\\n\\r\\n%s\\n' ` +
  `"$((\${#body} + 1))" "$body"
`;

/** Starts every responder as a transient unit (a process of a plain `incus exec` dies with the session). */
export function startResponders(): void {
  for (const r of RESPONDERS) {
    inc(
      r.container,
      ["sh", "-c", "cat > /usr/local/bin/itn-responder && chmod 0755 /usr/local/bin/itn-responder"],
      RESPONDER,
    );
    const unit = `itn-svc-responder-${r.port}`;
    spawnSync("incus", ["exec", r.container, "--", "systemctl", "stop", unit], { encoding: "utf8" });
    inc(r.container, [
      "systemd-run",
      "--unit",
      unit,
      "socat",
      `TCP-LISTEN:${r.port},fork,reuseaddr`,
      `EXEC:/usr/local/bin/itn-responder ${r.name}`,
    ]);
  }
}

/**
 * BIND's named in svc-dns stands in for CoreDNS (which cannot be installed here): a master zone
 * whose file is the one DnsZone writes. named.service is masked in the image; unmask and start.
 */
export function setUpNamed(): void {
  const conf =
    "// itn e2e (services.test.ts): BIND serves the zone file DnsZone writes (CoreDNS stand-in)\n" +
    `zone "${ZONE}" { type master; file "${ZONE_FILE}"; };\n`;
  inc("svc-dns", ["sh", "-c", "cat > /etc/bind/named.conf.local"], conf);
  inc("svc-dns", [
    "sh",
    "-c",
    "[ -s /etc/bind/rndc.key ] || { rndc-confgen -a -c /etc/bind/rndc.key && chown root:bind " +
      "/etc/bind/rndc.key && chmod 0640 /etc/bind/rndc.key; }",
  ]);
  inc("svc-dns", ["systemctl", "unmask", "named.service"]);
  inc("svc-dns", ["systemctl", "enable", "--now", "named.service"]);
}

/** What stands in for CoreDNS' file-plugin reload after an apply. */
export function reloadNamed(): void {
  inc("svc-dns", ["rndc", "reload"]);
}

/** Installs the fake Vault (tests/bed/fake-vault.sh: a TEST STAND-IN, not HashiCorp Vault) in svc-vault. */
export function installFakeVault(): void {
  inc(
    "svc-vault",
    ["sh", "-c", "cat > /usr/local/sbin/fake-vault.sh"],
    fs.readFileSync(path.join(ROOT, "tests", "bed", "fake-vault.sh"), "utf8"),
  );
  inc("svc-vault", ["bash", "/usr/local/sbin/fake-vault.sh", "install"]);
}

export const fakeVault = (action: "seal" | "unseal"): string =>
  inc("svc-vault", ["bash", "/usr/local/sbin/fake-vault.sh", action]);

/** Lines of the fake Vault's argument log. */
export const vaultCalls = (): string[] =>
  (readIn("svc-vault", `${FAKE_VAULT_STATE}/calls.log`) ?? "").split("\n").filter((l) => l !== "");

/** Lines of the fake Vault's authorization log: "<capability> <path> by root|<policies>" (never a token). */
export const vaultAuth = (): string[] =>
  (readIn("svc-vault", `${FAKE_VAULT_STATE}/auth.log`) ?? "").split("\n").filter((l) => l !== "");

/** The fake Vault's root token and the svc tenant's scoped tokens (file name → token), to prove none leaks. */
export function vaultTokens(): Record<string, string> {
  const out: Record<string, string> = {
    root: (readIn("svc-vault", `${FAKE_VAULT_STATE}/token`) ?? "").trim(),
  };
  const listing = inc("svc-vault", ["sh", "-c", `ls ${SCOPED_TOKEN_DIR} 2>/dev/null || true`]);
  const files = listing.split("\n").filter((f) => f.endsWith(".token"));
  for (const f of files) out[f] = (readIn("svc-vault", `${SCOPED_TOKEN_DIR}/${f}`) ?? "").trim();
  return out;
}

/** What the fake Vault stored at mount/path (compact JSON as received), or undefined. */
export const vaultData = (mount: string, kvPath: string): string | undefined =>
  readIn("svc-vault", `${FAKE_VAULT_STATE}/data/${mount}/${kvPath}.json`)?.trim();

/** `dig +short` from the client namespace through the NAT (UDP unless tcp). */
export function dig(env: TestbedEnv, name: string, type: string, tcp = false): string[] {
  const r = client(
    env,
    `dig @${env.HOST_EXT_IP} -p ${PORTS.dns} ${tcp ? "+tcp " : ""}+short +tries=2 +time=3 ${name} ${type}`,
  );
  if (r.status !== 0) throw new Error(`dig ${name} ${type} failed: ${r.stdout}${r.stderr}`);
  return r.stdout
    .split("\n")
    .filter((l) => l !== "")
    .sort();
}

/** The SOA serial named serves (polls until `accept` holds, since `rndc reload` loads in the background). */
export async function servedSerial(
  env: TestbedEnv,
  accept: (serial: string) => boolean = () => true,
): Promise<string> {
  let serial = "";
  for (let i = 0; i < 40; i++) {
    serial = dig(env, ZONE, "SOA")[0]?.split(" ")[2] ?? "";
    if (serial !== "" && accept(serial)) return serial;
    await new Promise((r) => setTimeout(r, 250));
  }
  return serial;
}

/** The serial line of the zone file DnsZone wrote. */
export const fileSerial = (): string =>
  /^ {8}(\d{10}) ; serial$/m.exec(readIn("svc-dns", ZONE_FILE) ?? "")?.[1] ?? "";

/**
 * HTTPS GET of https://<domain>:8443/ from the client namespace, via the NAT; retries while Caddy
 * gets its internal certificate.
 */
export async function fetchSite(env: TestbedEnv, domain: string, expect?: string): Promise<string> {
  let out = "";
  for (let i = 0; i < 40; i++) {
    const r = client(
      env,
      `curl -sk -m 5 --resolve ${domain}:${PORTS.https}:${env.HOST_EXT_IP} https://${domain}:${PORTS.https}/`,
    );
    out = r.stdout.trim();
    if (r.status === 0 && (expect === undefined || out === expect)) return out;
    await new Promise((res) => setTimeout(res, 500));
  }
  return out;
}

/** name → sha256 of the files in the sites folder of svc-proxy. */
export function sitesFiles(): Record<string, string> {
  const out = inc("svc-proxy", [
    "sh",
    "-c",
    `cd ${SITES_DIR} 2>/dev/null && for f in *; do [ -f "$f" ] && sha256sum "$f"; done; true`,
  ]);
  return Object.fromEntries(
    out
      .split("\n")
      .filter((l) => l !== "")
      .map((l) => {
        const [sum, name] = l.split(/\s+/);
        return [name, sum];
      }),
  );
}

/** Caddy's running config (admin API inside svc-proxy). */
export const caddyRunningConfig = (): string =>
  inc("svc-proxy", ["curl", "-s", "http://localhost:2019/config/"]);

/** Values of secrets in the harness state file: every RandomPassword result. */
export function generatedSecrets(stateFile: string): Record<string, string> {
  const state = JSON.parse(fs.readFileSync(stateFile, "utf8")) as Record<string, unknown>;
  const entries = (state.resources ?? state) as Record<
    string,
    { type?: string; outputs?: { result?: string } }
  >;
  const out: Record<string, string> = {};
  for (const [urn, e] of Object.entries(entries))
    if (e?.type === "random:index/randomPassword:RandomPassword" && typeof e.outputs?.result === "string")
      out[urn.split("::").pop() as string] = e.outputs.result;
  return out;
}

/** Every remote.Command in the state: its command texts and its recorded stdout/stderr. */
export function commandTexts(stateFile: string): { name: string; texts: string[]; output: string[] }[] {
  const state = JSON.parse(fs.readFileSync(stateFile, "utf8")) as Record<string, unknown>;
  const entries = (state.resources ?? state) as Record<
    string,
    { type?: string; inputs?: Record<string, unknown>; outputs?: Record<string, unknown> }
  >;
  return Object.entries(entries)
    .filter(([, e]) => e?.type === "command:remote:Command")
    .map(([urn, e]) => ({
      name: urn.split("::").pop() as string,
      texts: ["create", "update", "delete"]
        .map((k) => e.inputs?.[k])
        .filter((x): x is string => typeof x === "string"),
      output: ["stdout", "stderr"]
        .map((k) => e.outputs?.[k])
        .filter((x): x is string => typeof x === "string"),
    }));
}

/** Removes, by exact name, whatever the svc tenant may have left behind (containers, chains, sysctl drop-in). */
export function removeLeftovers(): void {
  for (const c of MY_CONTAINERS) spawnSync("incus", ["delete", "--force", c], { encoding: "utf8" });
  const nat = host("iptables-save", ["-t", "nat"]).split("\n");
  for (const l of nat.filter((x) => x.startsWith("-A ") && / -j ITN-svc-(PRE|POST)( |$)/.test(x)))
    spawnSync("bash", ["-c", `iptables -t nat ${l.replace(/^-A /, "-D ")}`]);
  for (const chain of ["ITN-svc-PRE", "ITN-svc-POST"]) {
    spawnSync("iptables", ["-t", "nat", "-F", chain]);
    spawnSync("iptables", ["-t", "nat", "-X", chain]);
  }
  spawnSync("rm", ["-f", "/etc/sysctl.d/60-incus-tenant-svc.conf"]);
}
