/**
 * The whole-tenant preflight on the real test bed (issue 12, Deliver 3): a "bare" tenant `pf`
 * of hand-made containers (caddy purged from the proxy container, no CoreDNS in the dns
 * container, the fake Vault uninitialised, one container to create from an image that does not
 * exist, a storage pool that does not exist) → the apply fails in the preflight, the first and
 * only command that runs, with one error listing every missing piece, and a full listing of the
 * host (every container's config and status, iptables, files in the containers and on the host)
 * is the same before and after.
 */
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as path from "path";
import { runProgram } from "../harness";
import {
  describeOnTestbed,
  e2eTenant,
  harnessConfig,
  host,
  iptables,
  ROOT,
  tempState,
  TestbedEnv,
} from "./testbed";
import { inc } from "./services-fixture";

jest.setTimeout(600_000);

const TENANT = "pf";
/** The hand-made containers and their reserved addresses (198.18.2.60-63 are this file's). */
const MADE = { "pf-proxy": "198.18.2.60", "pf-dns": "198.18.2.61", "pf-vault": "198.18.2.62" } as const;
/** Declared in the stack, never made: the apply would create it from a missing image. */
const TO_CREATE = "pf-new";
const ZONE = "pf.example.com";

function removeAll(): void {
  for (const c of [...Object.keys(MADE), TO_CREATE]) spawnSync("incus", ["delete", "--force", c]);
  const nat = host("iptables-save", ["-t", "nat"]).split("\n");
  for (const l of nat.filter((x) => x.startsWith("-A ") && / -j ITN-pf-(PRE|POST)( |$)/.test(x)))
    spawnSync("bash", ["-c", `iptables -w -t nat ${l.replace(/^-A /, "-D ")}`]);
  for (const chain of ["ITN-pf-PRE", "ITN-pf-POST"]) {
    spawnSync("iptables", ["-w", "-t", "nat", "-F", chain]);
    spawnSync("iptables", ["-w", "-t", "nat", "-X", chain]);
  }
  spawnSync("rm", ["-f", "/etc/sysctl.d/60-incus-tenant-pf.conf"]);
}

function launch(env: TestbedEnv, name: keyof typeof MADE): void {
  host("incus", ["init", env.IMAGE, name, "-s", env.POOL]);
  host("incus", ["config", "device", "add", name, "eth0", "nic", `network=${env.INCUS_BRIDGE}`, "name=eth0"]);
  host("incus", ["config", "device", "set", name, "eth0", `ipv4.address=${MADE[name]}`]);
  host("incus", ["start", name]);
  for (let i = 0; i < 60; i++) {
    if (host("incus", ["query", `/1.0/instances/${name}/state`]).includes(`"address": "${MADE[name]}"`))
      return;
    spawnSync("sleep", ["1"]);
  }
  throw new Error(`${name} did not get ${MADE[name]}`);
}

/** The bare tenant: no caddy, no coredns, fake Vault installed but not initialised. */
function buildBare(env: TestbedEnv): void {
  removeAll();
  for (const c of Object.keys(MADE) as (keyof typeof MADE)[]) launch(env, c);
  inc("pf-proxy", ["sh", "-c", "DEBIAN_FRONTEND=noninteractive dpkg --purge caddy >/dev/null"]);
  inc(
    "pf-vault",
    ["sh", "-c", "cat > /usr/local/sbin/fake-vault.sh"],
    fs.readFileSync(path.join(ROOT, "tests", "bed", "fake-vault.sh"), "utf8"),
  );
  inc("pf-vault", ["bash", "/usr/local/sbin/fake-vault.sh", "install"]);
  inc("pf-vault", ["rm", "-f", "/var/lib/fake-vault/token"]); // uninitialised: health answers 501
}

/** The stack: the bare containers, one to create, a pool that does not exist, every service section. */
function bareTenant(env: TestbedEnv): Record<string, any> {
  const t = e2eTenant(env);
  t.name = TENANT;
  t.storagePool = "pf-no-such-pool";
  t.containers = {
    "pf-proxy": { ipv4: MADE["pf-proxy"], ports: [80, 443] },
    "pf-dns": { ipv4: MADE["pf-dns"], ports: [53] },
    "pf-vault": { ipv4: MADE["pf-vault"], ports: [8200] },
    [TO_CREATE]: { ipv4: "198.18.2.63", ports: [8080], image: "itn-pf-no-such-image" },
  };
  t.nat = [{ ports: [9443], toPort: 443, protocol: "tcp", to: "pf-proxy" }];
  t.proxy = { container: "pf-proxy", tls: { internal: true } };
  t.vhosts = { chat: { domain: `chat.${ZONE}`, upstream: { container: TO_CREATE, port: 8080 } } };
  t.dns = {
    container: "pf-dns",
    nameservers: [`ns1.${ZONE}`],
    hostmaster: "hostmaster@example.com",
    zones: {
      [ZONE]: {
        records: [
          { name: "ns1", type: "A", value: env.HOST_EXT_IP },
          { name: "chat", type: "A", value: env.HOST_EXT_IP },
        ],
      },
    },
  };
  t.vault = {
    container: "pf-vault",
    address: "http://127.0.0.1:8200",
    tokenFile: "/var/lib/fake-vault/token",
    mount: "secret",
    paths: { "gbo/pf": { keys: { url: { value: "http://198.18.2.63:8080" } } } },
  };
  return t;
}

/** Everything the apply could change: containers (config, status, snapshots), iptables, files. */
function listing(): Record<string, string> {
  const out: Record<string, string> = {
    "incus list": host("incus", ["list", "--format", "csv", "-c", "nsS"]),
    "iptables nat": iptables("nat").join("\n"),
    "iptables filter": iptables("filter").join("\n"),
    "host files": host("sh", [
      "-c",
      "ls -la /etc/sysctl.d /etc/iptables 2>/dev/null; sha256sum /etc/iptables/rules.v4 2>/dev/null; " +
        "sysctl -n net.ipv4.ip_forward",
    ]),
  };
  for (const c of Object.keys(MADE)) {
    out[`${c} config`] = host("incus", ["config", "show", c, "--expanded"]);
    out[`${c} files`] = inc(c, [
      "sh",
      "-c",
      "find /etc /opt /usr/bin /usr/local /var/lib/fake-vault -xdev -type f 2>/dev/null | LC_ALL=C sort | " +
        "xargs -d '\\n' sha256sum 2>/dev/null; systemctl list-units --all --no-legend --plain | sort",
    ]);
  }
  return out;
}

describeOnTestbed("tenant preflight on the real test bed: a bare tenant fails before any change", (env) => {
  const state = tempState("preflight");
  beforeAll(() => buildBare(env));
  afterAll(() => {
    removeAll();
    fs.rmSync(path.dirname(state), { recursive: true, force: true });
  });

  test("the apply fails in the preflight with ONE error listing every missing piece; nothing changed", async () => {
    const tenant = bareTenant(env);
    const before = listing();
    const h = harnessConfig(env, tenant);
    const r = await runProgram({
      programPath: path.join(ROOT, "index.ts"),
      ...h,
      stateFile: state,
      stack: "pf",
    });
    // The preflight is the first command and the only one that ran.
    expect(r.ran.map((c) => `${c.op} ${c.name} (exit ${c.exitCode})`)).toEqual([
      "create pf-preflight-check (exit 1)",
    ]);
    const stderr = (r.error?.message ?? "").split("\nstderr: ")[1] ?? "";
    expect(stderr).toBe(
      [
        "preflight of tenant pf: nothing was changed; missing:",
        "  host: storage pool pf-no-such-pool does not exist: " +
          "create it (incus storage create pf-no-such-pool dir) or set storagePool",
        "  pf-new: image itn-pf-no-such-image to create it from is not available: " +
          "import it (incus image import FILE --alias itn-pf-no-such-image) or set another image",
        "  pf-proxy: caddy is not installed: " +
          "install it (apt-get install caddy in the container) or set proxy.install: true",
        "  pf-dns: the DNS server coredns is not installed (not in PATH nor /opt/gbo/bin): " +
          "install coredns in the container, or set dns.server to the binary that serves the zones",
        "  pf-vault: Vault is not initialized: initialise it (vault operator init), then unseal it",
      ].join("\n"),
    );
    expect(listing()).toEqual(before);
  });
});
