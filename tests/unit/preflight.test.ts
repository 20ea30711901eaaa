/**
 * The tenant preflight (render/preflight.ts) run for real under bash, with a stand-in `incus`
 * that plays a host from files (containers and their status, pool, bridge, images, the tools and
 * units in each container, Vault's health code) and logs every call: exact error text, exit code,
 * and that the script only reads unless the opt-in install runs.
 */
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { parseTenant } from "../../model";
import type { TenantSpec } from "../../model/types";
import { preflightOptions, renderTenantPreflight } from "../../render/preflight";
import { baseTenant } from "./fixtures";

/** The stand-in incus: state under $BED (see {@link Host}); every call appended to $BED/calls. */
const INCUS = String.raw`#!/bin/bash
printf 'incus %s\n' "$*" >> "$BED/calls"
case "$1 $2" in
  "list --format") cat "$BED/list";;
  "storage show") [ -e "$BED/pool-$3" ];;
  "network show") [ -e "$BED/net-$3" ];;
  "image info") [ -e "$BED/image-${"$"}{3//[:\/]/_}" ];;
  "exec -n")
    c=$3; shift 4
    d="$BED/c/$c"
    case "$1" in
      sh)
        case "$3" in
          *apt-get*) echo "apt-get install caddy" >> "$BED/changes"
                     [ -e "$BED/apt-ok" ] || { echo 'E: no network'; exit 100; }
                     touch "$d/bin-caddy" "$d/unit-caddy"; echo installed;;
          *) [ -e "$d/bin-$5" ];;
        esac;;
      systemctl) [ -e "$d/unit-$4" ];;
      curl) if [ -e "$d/health" ]; then printf %s "$(cat "$d/health")"; else exit 7; fi;;
      *) exit 99;;
    esac;;
  *) echo "unexpected incus $*" >&2; exit 98;;
esac
`;

/** What the stand-in host holds. */
interface Host {
  /** name → Incus status (RUNNING, STOPPED). */
  containers: Record<string, string>;
  pool?: boolean;
  bridge?: boolean;
  images?: string[];
  /** container → tools present (`caddy`, `coredns`, `vault`) and units (`unit-<name>`). */
  has?: Record<string, string[]>;
  /** Vault's health code, or undefined for no answer. */
  health?: string;
  /** apt-get install succeeds. */
  aptOk?: boolean;
}

function run(spec: TenantSpec, host: Host, text = renderTenantPreflight(spec).create) {
  const bed = fs.mkdtempSync(path.join(os.tmpdir(), "itn-preflight-"));
  try {
    fs.mkdirSync(path.join(bed, "bin"));
    fs.writeFileSync(path.join(bed, "bin", "incus"), INCUS, { mode: 0o755 });
    const list = Object.entries(host.containers).map(([n, s]) => `${n},${s}\n`);
    fs.writeFileSync(path.join(bed, "list"), list.join(""));
    fs.writeFileSync(path.join(bed, "calls"), "");
    if (host.pool !== false) fs.writeFileSync(path.join(bed, `pool-${spec.storagePool}`), "");
    if (host.bridge !== false) fs.writeFileSync(path.join(bed, `net-${spec.network.bridge}`), "");
    for (const i of host.images ?? [])
      fs.writeFileSync(path.join(bed, `image-${i.replace(/[:/]/g, "_")}`), "");
    for (const [c, tools] of Object.entries(host.has ?? {})) {
      fs.mkdirSync(path.join(bed, "c", c), { recursive: true });
      for (const t of tools)
        fs.writeFileSync(path.join(bed, "c", c, t.startsWith("unit-") ? t : `bin-${t}`), "");
    }
    if (host.health !== undefined) {
      fs.mkdirSync(path.join(bed, "c", "vault"), { recursive: true });
      fs.writeFileSync(path.join(bed, "c", "vault", "health"), host.health);
    }
    if (host.aptOk) fs.writeFileSync(path.join(bed, "apt-ok"), "");
    const r = spawnSync("bash", ["-c", text], {
      env: { PATH: `${bed}/bin:/usr/bin:/bin`, BED: bed, HOME: bed, LC_ALL: "C" },
      encoding: "utf8",
    });
    const read = (f: string): string =>
      fs.existsSync(path.join(bed, f)) ? fs.readFileSync(path.join(bed, f), "utf8") : "";
    return {
      status: r.status,
      stderr: r.stderr,
      calls: read("calls").split("\n").filter(Boolean),
      changes: read("changes"),
    };
  } finally {
    fs.rmSync(bed, { recursive: true, force: true });
  }
}

/** baseTenant plus a vault container, proxy + one vhost, dns with one zone, vault. */
function raw(): Record<string, any> {
  const t = baseTenant();
  t.containers.vault = { ipv4: "10.0.2.30", ports: [8200] };
  t.proxy = { container: "proxy", tls: { internal: true }, service: "proxy" };
  t.vhosts = { chat: { upstream: { container: "system", port: 5858 } } };
  t.dns = {
    container: "dns",
    nameservers: ["ns1.example.com"],
    hostmaster: "hostmaster@example.com",
    zones: {
      "example.com": {
        records: [
          { name: "chat", type: "A", value: "203.0.113.10" },
          { name: "ns1", type: "A", value: "203.0.113.10" },
        ],
      },
    },
  };
  t.vault = {
    container: "vault",
    address: "http://127.0.0.1:8200",
    tokenFile: "/root/.vault-token",
    mount: "secret",
    paths: { "gbo/llm": { keys: { url: { value: "http://10.0.2.11:8081" } } } },
  };
  return t;
}
const SPEC = parseTenant(raw());
const ALL_RUNNING = {
  proxy: "RUNNING",
  dns: "RUNNING",
  vault: "RUNNING",
  system: "RUNNING",
  tables: "RUNNING",
  "alm-ci": "RUNNING",
};
const COMPLETE: Host = {
  containers: ALL_RUNNING,
  has: { proxy: ["caddy", "unit-proxy"], dns: ["coredns"], vault: ["vault"] },
  health: "200",
};
/** Read-only verbs only: list, storage/network show, image info, exec of command -v, systemctl cat, curl. */
const READ_ONLY = new RegExp(
  "^incus (list --format csv -c ns|storage show \\S+|network show \\S+|image info \\S+|" +
    "exec -n \\S+ -- (sh -c .*command -v.*|systemctl cat -- \\S+|curl -s .*))$",
);

describe("tenant preflight", () => {
  test("everything present: exit 0, one log line, only reads", () => {
    const r = run(SPEC, COMPLETE);
    expect(r.stderr).toBe(
      "incus-tenant: preflight of tenant acme: every tool each service needs is present\n",
    );
    expect(r.status).toBe(0);
    expect(r.calls.length).toBeGreaterThan(0);
    expect(r.calls.filter((c) => !READ_ONLY.test(c))).toEqual([]);
    // One listing for every container's status, no image asked for (every container exists).
    expect(r.calls.filter((c) => c.startsWith("incus list")).length).toBe(1);
    expect(r.calls.filter((c) => c.startsWith("incus image"))).toEqual([]);
  });

  test("a bare tenant: ONE error listing every missing piece with its fix, exit 1, nothing changed", () => {
    const r = run(SPEC, {
      containers: { proxy: "RUNNING", dns: "RUNNING", vault: "RUNNING", system: "STOPPED" },
      pool: false,
      bridge: false,
      has: { vault: ["vault"] },
      health: "501",
    });
    expect(r.status).toBe(1);
    expect(r.stderr).toBe(
      [
        "preflight of tenant acme: nothing was changed; missing:",
        "  host: storage pool default does not exist: create it (incus storage create default dir) or set storagePool",
        "  host: bridge incusbr0 does not exist: create it (incus network " +
          "create incusbr0 ipv4.address=10.0.2.1/24) or set network.bridge",
        "  alm-ci: image images:debian/12 to create it from is not available: " +
          "check that its remote answers (incus image list images:) or " +
          "copy it (incus image copy images:debian/12 local: --alias debian/12)",
        "  tables: image images:debian/12 to create it from is not available: " +
          "check that its remote answers (incus image list images:) or " +
          "copy it (incus image copy images:debian/12 local: --alias debian/12)",
        "  proxy: caddy is not installed: install it (apt-get install " +
          "caddy in the container) or set proxy.install: true",
        "  dns: the DNS server coredns is not installed (not in PATH " +
          "nor /opt/gbo/bin): install coredns in the container, or set " +
          "dns.server to the binary that serves the zones",
        "  vault: Vault is not initialized: initialise it (vault operator init), then unseal it",
        "",
      ].join("\n"),
    );
    expect(r.calls.filter((c) => !READ_ONLY.test(c))).toEqual([]);
    expect(r.changes).toBe("");
  });

  test.each([
    ["503", "  vault: Vault is sealed: unseal it with 3 of 5 keys"],
    [
      undefined,
      "  vault: Vault is unreachable at http://127.0.0.1:8200 (health " +
        "answered nothing): start Vault in the container (and install " +
        "curl there)",
    ],
    [
      "000",
      "  vault: Vault is unreachable at http://127.0.0.1:8200 (health " +
        "answered 000): start Vault in the container (and install curl " +
        "there)",
    ],
  ])("Vault health %s is named with render/vault.ts's message", (health, line) => {
    const r = run(SPEC, { ...COMPLETE, health });
    expect(r.status).toBe(1);
    expect(r.stderr).toBe(`preflight of tenant acme: nothing was changed; missing:\n${line}\n`);
  });

  test("caddy present without its unit, a stopped dns container, no vault CLI", () => {
    const r = run(SPEC, {
      containers: { ...ALL_RUNNING, dns: "STOPPED" },
      has: { proxy: ["caddy"], vault: [] },
      health: "200",
    });
    expect(r.status).toBe(1);
    expect(r.stderr).toBe(
      [
        "preflight of tenant acme: nothing was changed; missing:",
        "  proxy: systemd unit proxy (proxy.service) does not exist: " +
          "install the unit that runs caddy, or set proxy.service to its " +
          "name",
        "  dns: it is STOPPED, so the DNS server (coredns) cannot be checked: start it (incus start dns)",
        "  vault: the vault CLI is not installed (not in /opt/gbo/bin nor PATH): install it in /opt/gbo/bin",
        "",
      ].join("\n"),
    );
  });

  test("the DNS server is a parameter: the test bed's stand-in is BIND's named", () => {
    const named = renderTenantPreflight(SPEC, { dnsServer: "named", installCaddy: false }).create;
    expect(run(SPEC, COMPLETE, named).stderr).toBe(
      "preflight of tenant acme: nothing was changed; missing:\n" +
        "  dns: the DNS server named is not installed (not in PATH nor /opt/gbo/bin): " +
        "install named in the container, or set dns.server to the binary that serves the zones\n",
    );
    expect(run(SPEC, { ...COMPLETE, has: { ...COMPLETE.has, dns: ["named"] } }, named).status).toBe(0);
    expect(preflightOptions(SPEC)).toEqual({ dnsServer: "coredns", installCaddy: false });
  });

  test("containers still to be created: each image asked for once, their tools not checked", () => {
    const r = run(SPEC, { ...COMPLETE, containers: { proxy: "RUNNING" }, images: ["images:debian/12"] });
    expect(r.calls.filter((c) => c.startsWith("incus image"))).toEqual(["incus image info images:debian/12"]);
    // dns and vault do not exist yet: their tools are not checked (the apply creates them).
    expect(r.calls.filter((c) => / (dns|vault) /.test(c))).toEqual([]);
    expect(r.status).toBe(0);
  });

  describe("opt-in install (proxy.install: true)", () => {
    const install = renderTenantPreflight(SPEC, { dnsServer: "coredns", installCaddy: true }).create;
    const noCaddy: Host = { ...COMPLETE, has: { ...COMPLETE.has, proxy: ["unit-proxy"] }, aptOk: true };

    test("caddy is installed from the container's package sources when it is the only thing missing", () => {
      const r = run(SPEC, noCaddy, install);
      expect(r.changes).toBe("apt-get install caddy\n");
      expect(r.calls).toContain(
        "incus exec -n proxy -- sh -c apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q caddy",
      );
      expect(r.stderr).toBe(
        [
          "incus-tenant: proxy: installing caddy from the container's Debian package sources (proxy.install: true)",
          "incus-tenant: proxy: caddy installed",
          "incus-tenant: preflight of tenant acme: every tool each service needs is present",
          "",
        ].join("\n"),
      );
      expect(r.status).toBe(0);
    });

    test("nothing is installed while anything else is missing", () => {
      const r = run(SPEC, { ...noCaddy, health: "503" }, install);
      expect(r.changes).toBe("");
      expect(r.stderr).toBe(
        "preflight of tenant acme: nothing was changed; missing:\n  vault: " +
          "Vault is sealed: unseal it with 3 of 5 keys\n",
      );
      expect(r.status).toBe(1);
    });

    test("a failed apt-get stops with its output", () => {
      const r = run(SPEC, { ...noCaddy, aptOk: false }, install);
      expect(r.status).toBe(1);
      expect(r.stderr).toBe(
        "incus-tenant: proxy: installing caddy from the container's Debian package sources (proxy.install: true)\n" +
          "proxy: apt-get install caddy failed:\nE: no network\n",
      );
    });

    test("a unit other than caddy.service must exist before the install", () => {
      const r = run(SPEC, { ...noCaddy, has: { ...COMPLETE.has, proxy: [] } }, install);
      expect(r.changes).toBe("");
      expect(r.stderr).toBe(
        "preflight of tenant acme: nothing was changed; missing:\n" +
          "  proxy: systemd unit proxy (proxy.service) does not exist: " +
          "install the unit that runs caddy, or set proxy.service to its name\n",
      );
    });

    test("the default unit caddy comes with the Debian package", () => {
      const t = raw();
      t.proxy.service = "caddy";
      const spec = parseTenant(t);
      const text = renderTenantPreflight(spec, { dnsServer: "coredns", installCaddy: true }).create;
      const r = run(spec, { ...noCaddy, has: { ...COMPLETE.has, proxy: [] } }, text);
      expect(r.changes).toBe("apt-get install caddy\n");
      expect(r.status).toBe(0);
    });
  });
});
