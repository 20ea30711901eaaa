/**
 * Adoption of existing containers (issue 12): the Container's rendered create script, run with
 * bash against a stand-in `incus` (a TEST STAND-IN: a small bash script keeping each instance's
 * config and devices as files, recording every call). An unlabelled hand-made container is
 * adopted (label set, snapshot first, devices the program never declared left alone, no
 * restart); one labelled for another tenant is refused by name before anything changes.
 */
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { parseTenant } from "../../model";
import { foreignTenantMessage, renderContainer, TENANT_LABEL } from "../../render/container";
import { containerHash } from "../../render/containerConfig";
import { baseTenant } from "./fixtures";

const spec = parseTenant(baseTenant());
const alm = spec.containers.find((c) => c.name === "alm-ci")!;

/** The stand-in: state in $ITN_STATE/<instance>/{status,address,config/<key>,devices/<dev>/<key>}. */
const FAKE_INCUS = `#!/usr/bin/env bash
set -u
S=$ITN_STATE
printf '%s\\n' "$*" >> "$S/calls"
case "$1 \${2:-}" in
  "info "*) [ -d "$S/$2" ] || { echo "Error: Instance not found" >&2; exit 1; }
    echo "Name: $2"; echo "Status: $(cat "$S/$2/status")";;
  "init "*) mkdir -p "$S/$3/config" "$S/$3/devices"; echo STOPPED > "$S/$3/status";;
  "config get") cat "$S/$3/config/$4" 2>/dev/null; echo;;
  "config set") n=$3; shift 3
    for kv in "$@"; do printf '%s' "\${kv#*=}" > "$S/$n/config/\${kv%%=*}"; done;;
  "config device")
    case "$3" in
      get) [ -f "$S/$4/devices/$5/$6" ] || { echo "Error: The device doesn't exist" >&2; exit 1; }
        cat "$S/$4/devices/$5/$6"; echo;;
      list) ls "$S/$4/devices";;
      remove) [ -d "$S/$4/devices/$5" ] || exit 1; rm -rf "$S/$4/devices/$5";;
      add) n=$4; d=$5; mkdir -p "$S/$n/devices/$d"; printf '%s' "$6" > "$S/$n/devices/$d/type"; shift 6
        for kv in "$@"; do printf '%s' "\${kv#*=}" > "$S/$n/devices/$d/\${kv%%=*}"; done;;
    esac;;
  "config show") for d in "$S/$3"/devices/*/; do [ -d "$d" ] && echo "  type: $(cat "$d/type")"; done; true;;
  "snapshot create") touch "$S/$3/snapshot-$4";;
  "query "*) n=$(echo "$2" | cut -d/ -f4); echo "{\\"address\\": \\"$(cat "$S/$n/address")\\"}";;
  "start "*|"restart "*) echo RUNNING > "$S/$2/status";;
  *) echo "stand-in incus: unexpected: $*" >&2; exit 2;;
esac
`;

/** A temp folder with the stand-in on PATH and an instance state. */
class FakeIncus {
  readonly dir = fs.mkdtempSync(path.join(os.tmpdir(), "itn-adopt-"));
  readonly state = path.join(this.dir, "state");
  constructor() {
    fs.mkdirSync(path.join(this.dir, "bin"));
    fs.mkdirSync(this.state);
    fs.writeFileSync(path.join(this.dir, "bin", "incus"), FAKE_INCUS, { mode: 0o755 });
    fs.writeFileSync(path.join(this.state, "calls"), "");
  }
  /** A hand-made running instance with the given config and devices. */
  instance(
    name: string,
    config: Record<string, string>,
    devices: Record<string, Record<string, string>>,
  ): void {
    const root = path.join(this.state, name);
    fs.mkdirSync(path.join(root, "config"), { recursive: true });
    fs.writeFileSync(path.join(root, "status"), "RUNNING\n");
    fs.writeFileSync(path.join(root, "address"), alm.ipv4);
    for (const [k, v] of Object.entries(config)) fs.writeFileSync(path.join(root, "config", k), v);
    for (const [d, kv] of Object.entries(devices)) {
      fs.mkdirSync(path.join(root, "devices", d), { recursive: true });
      for (const [k, v] of Object.entries(kv)) fs.writeFileSync(path.join(root, "devices", d, k), v);
    }
    fs.mkdirSync(path.join(root, "devices"), { recursive: true });
  }
  run(text: string): { status: number; stderr: string } {
    const r = spawnSync("bash", ["-c", text], {
      encoding: "utf8",
      env: {
        ...process.env,
        PATH: `${path.join(this.dir, "bin")}:${process.env.PATH}`,
        ITN_STATE: this.state,
      },
    });
    return { status: r.status ?? -1, stderr: r.stderr };
  }
  /** Every file of the state (config, devices, status, snapshots) with its content. */
  listing(): string {
    const out: string[] = [];
    const walk = (p: string): void => {
      for (const e of fs
        .readdirSync(p, { withFileTypes: true })
        .sort((a, b) => a.name.localeCompare(b.name))) {
        const full = path.join(p, e.name);
        if (e.isDirectory()) walk(full);
        else if (e.name !== "calls")
          out.push(`${path.relative(this.state, full)}=${fs.readFileSync(full, "utf8")}`);
      }
    };
    walk(this.state);
    return out.join("\n");
  }
  calls(): string[] {
    return fs.readFileSync(path.join(this.state, "calls"), "utf8").split("\n").filter(Boolean);
  }
  config(name: string, key: string): string | undefined {
    const f = path.join(this.state, name, "config", key);
    return fs.existsSync(f) ? fs.readFileSync(f, "utf8") : undefined;
  }
  destroy(): void {
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}

/** A hand-made alm-ci as a runbook makes it: eth0 reserved on the bridge, a data disk, no label. */
const HAND_DEVICES = {
  eth0: { type: "nic", network: "incusbr0", name: "eth0", "ipv4.address": alm.ipv4 },
  data: { type: "disk", source: "/opt/gbo/tenants/acme/alm-ci", path: "/opt/gbo" },
};

describe("container adoption (rendered script, stand-in incus)", () => {
  let incus: FakeIncus;
  beforeEach(() => (incus = new FakeIncus()));
  afterEach(() => incus.destroy());
  const create = renderContainer(spec, alm).create;

  test("the refusal message, defined once", () => {
    expect(foreignTenantMessage("alm", "other", "acme")).toBe(
      'container alm belongs to tenant "other" (user.incus-tenant.tenant): refusing to adopt it into "acme"',
    );
    expect(TENANT_LABEL).toBe("user.incus-tenant.tenant");
  });

  test("labelled for another tenant: refused by name, exit 1, nothing changed (only reads ran)", () => {
    incus.instance("alm-ci", { [TENANT_LABEL]: "other", "security.privileged": "false" }, HAND_DEVICES);
    const before = incus.listing();
    const r = incus.run(create);
    expect(r).toEqual({
      status: 1,
      stderr:
        'container alm-ci belongs to tenant "other" (user.incus-tenant.tenant): ' +
        'refusing to adopt it into "acme"\n',
    });
    expect(incus.listing()).toBe(before);
    expect(incus.calls()).toEqual(["info alm-ci", `config get alm-ci ${TENANT_LABEL}`]);
  });

  test("an owner value with shell syntax is printed, never run", () => {
    incus.instance("alm-ci", { [TENANT_LABEL]: '$(touch pwned)"`id`' }, HAND_DEVICES);
    const r = incus.run(`cd ${incus.dir} && ${create}`);
    expect(r.status).toBe(1);
    expect(r.stderr).toBe(
      'container alm-ci belongs to tenant "$(touch pwned)"`id`" (user.incus-tenant.tenant): ' +
        'refusing to adopt it into "acme"\n',
    );
    expect(fs.existsSync(path.join(incus.dir, "pwned"))).toBe(false);
  });

  test("unlabelled: adopted with the label, no snapshot (settings only), undeclared devices kept, no restart", () => {
    incus.instance("alm-ci", {}, HAND_DEVICES);
    const r = incus.run(create);
    expect(r.stderr).toBe(
      [
        "incus-tenant: alm-ci: adopting the existing container into tenant acme",
        "incus-tenant: alm-ci: running at 10.0.2.19",
        "",
      ].join("\n"),
    );
    expect(r.status).toBe(0);
    expect(incus.config("alm-ci", TENANT_LABEL)).toBe("acme");
    expect(incus.config("alm-ci", "user.incus-tenant.hash")).toBe(containerHash(spec, alm));
    expect(incus.listing()).toContain("alm-ci/devices/data/source=/opt/gbo/tenants/acme/alm-ci");
    // A snapshot of a running container stalls it on a dir pool: label and settings need none.
    expect(incus.listing()).not.toMatch(/snapshot-/);
    const changes = incus
      .calls()
      .filter((c) => /^(config set|config device (add|remove)|restart|start)/.test(c));
    expect(changes).toEqual([
      `config set alm-ci security.privileged=false boot.autostart=true ${TENANT_LABEL}=acme`,
      `config set alm-ci security.protection.delete=${alm.protect}`,
      `config set alm-ci user.incus-tenant.devices= user.incus-tenant.hash=${containerHash(spec, alm)}`,
    ]);
  });

  test("an eth0 on another address: snapshot first, then the NIC is replaced and the container restarted", () => {
    incus.instance(
      "alm-ci",
      {},
      { ...HAND_DEVICES, eth0: { ...HAND_DEVICES.eth0, "ipv4.address": "10.0.2.99" } },
    );
    const r = incus.run(create);
    expect(r.stderr.replace(/pre-change-\d{14}/g, "pre-change-T")).toContain(
      "incus-tenant: alm-ci: snapshot pre-change-T taken before the change\n",
    );
    expect(incus.listing()).toMatch(/alm-ci\/snapshot-pre-change-\d{14}=/);
  });

  test("already ours: no adoption line; a second run changes nothing", () => {
    incus.instance("alm-ci", {}, HAND_DEVICES);
    expect(incus.run(create).status).toBe(0);
    const before = incus.listing();
    const again = incus.run(create);
    expect(again).toEqual({ status: 0, stderr: "incus-tenant: alm-ci: running at 10.0.2.19\n" });
    expect(incus.listing()).toBe(before);
  });

  test("a new container is created without any label check", () => {
    const r = incus.run(
      create.replace(/for _ in \$\(seq 120\)/, "echo " + alm.ipv4 + " > $ITN_STATE/alm-ci/address; $&"),
    );
    expect(r.status).toBe(0);
    expect(incus.calls().slice(0, 2)).toEqual([
      "info alm-ci",
      "init images:debian/12 alm-ci -s default -c security.privileged=false " +
        `-c security.protection.delete=${alm.protect}`,
    ]);
    expect(incus.config("alm-ci", TENANT_LABEL)).toBe("acme");
  });
});
