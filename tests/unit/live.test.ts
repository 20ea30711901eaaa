/**
 * Live drift (drift/): exact drift lines of diffLive on hand-made live snapshots (in
 * sync, then one kind of drift at a time), and the real read script run locally against
 * stand-in `iptables-save` and `incus` commands, parsed back by parseLive.
 */
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { parseTenant, TenantSpec } from "../../model";
import { chainLines, dnatLines, guardLines } from "../../render/iptables";
import { renderMainCaddyfile, renderVhost } from "../../render/caddy";
import { renderCorefile, renderZone } from "../../render/zone";
import { diffLive, driftText, liveSerials, LiveState, parseLive, readScript, unifiedDiff } from "../../drift";
import { commandUrn, parseLiveArgs, repairText } from "../../scripts/live";
import { baseTenant } from "./fixtures";
import { tenantResources, TYPES, urnOf } from "../../components/names";

function tenant(): TenantSpec {
  const raw = baseTenant();
  raw.proxy = { container: "proxy", tls: { internal: true } };
  raw.vhosts = { chat: { upstream: { container: "system", port: 5858 } } };
  raw.dns = {
    container: "dns",
    nameservers: ["ns1.example.com"],
    hostmaster: "hostmaster@example.com",
    zones: {
      "example.com": {
        records: [
          { name: "@", type: "A", value: "203.0.113.10" },
          { name: "ns1", type: "A", value: "203.0.113.10" },
          { name: "chat", type: "A", value: "203.0.113.10" },
        ],
      },
    },
  };
  return parseTenant(raw);
}
const spec = tenant();
const caddy = spec.services.caddy!;
const dns = spec.services.dns!;
const zone = dns.zones[0];
const FOREIGN =
  "-A PREROUTING -p tcp -m tcp --dport 8088 -m comment --comment itn-foreign -j DNAT --to-destination 10.0.9.9:80";

/** The live state of a host that is exactly as desired (plus things of others). */
function inSync(): LiveState {
  const { jumps, masquerade } = chainLines(spec);
  return {
    nat: [
      "*nat",
      ":PREROUTING ACCEPT [0:0]",
      ":POSTROUTING ACCEPT [0:0]",
      ":ITN-acme-PRE - [0:0]",
      ":ITN-acme-POST - [0:0]",
      FOREIGN,
      ...jumps,
      ...masquerade,
      ...spec.nat.flatMap((r) => dnatLines(spec, r)),
      "COMMIT",
    ].join("\n"),
    filter: [
      "*filter",
      ":INPUT DROP [0:0]",
      ...guardLines(22),
      "-A INPUT -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT",
      "-A INPUT -j DROP",
      "COMMIT",
    ].join("\n"),
    containers: [
      ...spec.containers.map((c) => ({
        name: c.name,
        status: "Running",
        config: {
          "security.privileged": String(c.privileged),
          "security.protection.delete": String(c.protect),
          "user.incus-tenant.tenant": "acme",
        },
        devices: {
          eth0: { type: "nic", network: "incusbr0", name: "eth0", "ipv4.address": c.ipv4 },
          root: { type: "disk", path: "/", pool: "default" },
        },
        addresses: [c.ipv4],
      })),
      { name: "other", status: "Stopped", config: {}, devices: {}, addresses: [] },
    ],
    files: {
      "proxy:/etc/caddy/Caddyfile": { content: renderMainCaddyfile(caddy) },
      "proxy:/etc/caddy/sites/chat.caddy": { content: renderVhost(caddy.vhosts[0]) },
      "dns:/opt/gbo/data/example.com.zone": { content: renderZone(zone, "2026010203") },
      "dns:/opt/gbo/conf/Corefile": { content: renderCorefile(dns) },
    },
    dirs: { "proxy:/etc/caddy/sites": ["/etc/caddy/sites/chat.caddy"] },
  };
}
const edit = (f: (l: LiveState) => void): LiveState => {
  const l = inSync();
  f(l);
  return l;
};
const text = (l: LiveState) => driftText(diffLive(spec, l));
const c = (l: LiveState, name: string) => l.containers.find((x) => x.name === name)!;
const tag443 =
  "-A ITN-acme-PRE -d 203.0.113.10/32 -i eth0 -p tcp -m tcp --dport 443 " +
  '-m comment --comment "incus-tenant:acme:tcp-443" -j DNAT --to-destination';

describe("diffLive", () => {
  test("in sync: no drift (foreign rules and containers ignored), serial reported", () => {
    expect(diffLive(spec, inSync())).toEqual([]);
    expect(liveSerials(spec, inSync())).toEqual({ "example.com": "2026010203" });
    expect(driftText([])).toBe("");
  });

  test("unquoted comments are the same rule", () => {
    expect(
      diffLive(
        spec,
        edit((l) => (l.nat = l.nat.replace(/"(incus-tenant:[^"]+)"/g, "$1"))),
      ),
    ).toEqual([]);
  });

  test("a changed DNAT rule: + desired, - live, both on the rule's resource", () => {
    const items = diffLive(
      spec,
      edit((l) => (l.nat = l.nat.replace(`${tag443} 10.0.2.10:443`, `${tag443} 10.0.2.11:8443`))),
    );
    expect(driftText(items)).toBe(
      [
        `+ DNAT tcp/443 → proxy 10.0.2.10:443`,
        `    ${tag443} 10.0.2.10:443`,
        `- DNAT tcp/443 → system 10.0.2.11:8443`,
        `    ${tag443} 10.0.2.11:8443`,
      ].join("\n"),
    );
    expect(items.map((i) => [i.resource, i.kind, i.change, i.command])).toEqual([
      ["nat tcp-443", "nat", "missing", "acme-nat-tcp-443-dnat"],
      ["nat tcp-443", "nat", "extra", "acme-nat-tcp-443-dnat"],
    ]);
    expect(commandUrn("prod", "incus-tenant", items[0])).toBe(
      "urn:pulumi:prod::incus-tenant::incus-tenant:index:Tenant" +
        "$incus-tenant:net:NatRule$command:remote:Command::acme-nat-tcp-443-dnat",
    );
  });

  test("extra rules: untagged in our chain (no owner), and tagged with an unknown key elsewhere", () => {
    const extra = "-A ITN-acme-PRE -p tcp -m tcp --dport 8088 -j DNAT --to-destination 10.0.2.10:80";
    const stale =
      "-A PREROUTING -s 198.51.100.0/24 -i eth1 -p udp -m udp --dport 5353 " +
      '-m comment --comment "incus-tenant:acme:udp-5353" -j DNAT --to-destination 10.0.2.22:53';
    const items = diffLive(
      spec,
      edit((l) => (l.nat = l.nat.replace("COMMIT", `${extra}\n${stale}\nCOMMIT`))),
    );
    expect(driftText(items)).toBe(
      [
        `- DNAT tcp/8088 → proxy 10.0.2.10:80 to any address on any interface (untagged, in our chain)`,
        `    ${extra}`,
        `- DNAT udp/5353 → dns 10.0.2.22:53 from 198.51.100.0/24 to any address on eth1`,
        `    ${stale}`,
      ].join("\n"),
    );
    expect(items.map((i) => [i.resource, i.command])).toEqual([
      ["chain ITN-acme-PRE", undefined],
      ["nat udp-5353", undefined],
    ]);
    expect(repairText("prod", items)).toBe(
      [
        "",
        "live-only, owned by no resource (`pulumi up` leaves them; remove them by hand):",
        "  chain ITN-acme-PRE: DNAT tcp/8088 → proxy 10.0.2.10:80 to any address on any interface " +
          "(untagged, in our chain)",
        "  nat udp-5353: DNAT udp/5353 → dns 10.0.2.22:53 from 198.51.100.0/24 to any address on eth1",
      ].join("\n"),
    );
  });

  test("missing chain, jump and masquerade", () => {
    const { jumps, masquerade } = chainLines(spec);
    const l = edit(
      (x) =>
        (x.nat = x.nat
          .replace(":ITN-acme-POST - [0:0]\n", "")
          .replace(`${jumps[0]}\n`, "")
          .replace(`${masquerade[0]}\n`, "")),
    );
    expect(text(l)).toBe(
      [
        "+ chain ITN-acme-POST (nat table)",
        "+ rule PREROUTING -i eth0 -j ITN-acme-PRE",
        `    ${jumps[0]}`,
        "+ rule ITN-acme-POST -s 10.0.2.0/24 ! -d 10.0.2.0/24 -j MASQUERADE",
        `    ${masquerade[0]}`,
      ].join("\n"),
    );
    expect(new Set(diffLive(spec, l).map((i) => `${i.resource} ${i.command}`))).toEqual(
      new Set(["chains acme-host-chains"]),
    );
  });

  test("guard: a missing SSH rule, and guard rules that are no longer first", () => {
    const [lo, ssh] = guardLines(22);
    expect(text(edit((l) => (l.filter = l.filter.replace(`${ssh}\n`, ""))))).toBe(
      ["+ guard: INPUT -p tcp -m tcp --dport 22 -j ACCEPT", `    ${ssh}`].join("\n"),
    );
    const moved = edit(
      (l) =>
        (l.filter = l.filter
          .replace(`${lo}\n${ssh}\n`, "")
          .replace("-A INPUT -j DROP", `-A INPUT -s 192.0.2.1/32 -j DROP\n${lo}\n${ssh}\n-A INPUT -j DROP`)),
    );
    expect(text(moved)).toBe(
      [
        "~ guard: not the first rules of INPUT",
        "    -A INPUT -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT",
        "    -A INPUT -s 192.0.2.1/32 -j DROP",
        `    ${lo}`,
      ].join("\n"),
    );
  });

  test("containers: ipv4 changed, stopped + privileged + proxy device + disks, missing, labelled extra", () => {
    expect(
      text(
        edit(
          (l) => (
            (c(l, "proxy").devices.eth0["ipv4.address"] = "10.0.2.99"),
            (c(l, "proxy").addresses = ["10.0.2.99"])
          ),
        ),
      ),
    ).toBe(
      [
        "~ container proxy: 2 differences",
        "    ipv4 10.0.2.10 != live 10.0.2.99",
        "    ipv4 10.0.2.10 not held live (eth0 has 10.0.2.99)",
      ].join("\n"),
    );
    expect(text(edit((l) => (c(l, "proxy").devices.eth0["ipv4.address"] = "10.0.2.99")))).toBe(
      "~ container proxy: ipv4 10.0.2.10 != live 10.0.2.99",
    );
    const many = edit((l) => {
      const s = c(l, "system");
      s.status = "Stopped";
      s.addresses = [];
      s.config["security.privileged"] = "false";
      s.config["security.protection.delete"] = "false";
      s.devices.web = { type: "proxy", listen: "tcp:0.0.0.0:80", connect: "tcp:127.0.0.1:80" };
      s.devices.data = { type: "disk", source: "/srv/data", path: "/data" };
      delete c(l, "proxy").devices.eth0;
    });
    expect(text(many)).toBe(
      [
        "~ container proxy: eth0 nic missing live",
        "~ container system: 5 differences",
        "    status Running != live Stopped",
        "    privileged true != live false",
        "    protection true != live false",
        "    proxy device web present live (NAT rules replace proxy devices)",
        "    disk data present live (not in the stack)",
      ].join("\n"),
    );
    const gone = edit((l) => {
      l.containers = l.containers.filter((x) => x.name !== "tables");
      l.containers.push({
        name: "old",
        status: "Running",
        config: { "user.incus-tenant.tenant": "acme" },
        devices: {},
        addresses: [],
      });
    });
    expect(text(gone)).toBe(
      ["+ container tables 10.0.2.12", "- container old (labelled for tenant acme, not in the stack)"].join(
        "\n",
      ),
    );
    expect(diffLive(spec, gone).map((i) => i.command)).toEqual(["acme-tables-instance", undefined]);
    expect(repairText("prod", diffLive(spec, many).slice(1))).toBe(
      [
        "",
        "repair: forget the drifted commands so `pulumi up` runs their (idempotent) create scripts again:",
        "  incus config unset system user.incus-tenant.hash   " +
          "# on the host, so the container script re-applies its config",
        "  pulumi state delete --stack prod --target-dependents --yes " +
          "'urn:pulumi:prod::incus-tenant::incus-tenant:index:Tenant" +
          "$incus-tenant:incus:Container$command:remote:Command::acme-system-instance'",
        "  pulumi up --stack prod",
      ].join("\n"),
    );
  });

  test("vhost: site file edited (unified diff live → desired), missing, and an extra site file", () => {
    const file = "proxy:/etc/caddy/sites/chat.caddy";
    const edited = edit(
      (l) =>
        (l.files[file] = {
          content: renderVhost(caddy.vhosts[0])
            .replace("X-Forwarded-Proto https", "X-Forwarded-Proto http")
            .replace("\t\theader_up X-Real-IP {remote}\n", ""),
        }),
    );
    expect(text(edited)).toBe(
      [
        "~ vhost chat.example.com: site file differs",
        "    --- live /etc/caddy/sites/chat.caddy",
        "    +++ desired",
        "    @@ -6 +6,2 @@",
        "    -\t\theader_up X-Forwarded-Proto http",
        "    +\t\theader_up X-Real-IP {remote}",
        "    +\t\theader_up X-Forwarded-Proto https",
      ].join("\n"),
    );
    expect(diffLive(spec, edited).map((i) => [i.resource, i.command])).toEqual([
      ["vhost chat", "acme-vhost-chat-site"],
    ]);
    const missing = edit((l) => {
      l.files[file] = { missing: true };
      l.dirs["proxy:/etc/caddy/sites"] = ["/etc/caddy/sites/old.caddy"];
    });
    expect(text(missing)).toBe(
      [
        "+ vhost chat.example.com: site file missing live (/etc/caddy/sites/chat.caddy in proxy)",
        "- vhost file /etc/caddy/sites/old.caddy: not in the stack (the main file imports it)",
      ].join("\n"),
    );
  });

  test("caddy main file unreadable, Corefile missing", () => {
    const l = edit((x) => {
      x.files["proxy:/etc/caddy/Caddyfile"] = { error: "Error: Instance is not running" };
      x.files["dns:/opt/gbo/conf/Corefile"] = { missing: true };
    });
    expect(text(l)).toBe(
      [
        "~ caddy main file unreadable live (/etc/caddy/Caddyfile in proxy)",
        "    Error: Instance is not running",
        "+ corefile missing live (/opt/gbo/conf/Corefile in dns)",
      ].join("\n"),
    );
  });

  test("zone: body compared without the serial; changed, missing and extra records; serial line gone", () => {
    const key = "dns:/opt/gbo/data/example.com.zone";
    const body = renderZone(zone, "2026010203");
    expect(
      diffLive(
        spec,
        edit((l) => (l.files[key] = { content: renderZone(zone, "2026050599") })),
      ),
    ).toEqual([]);
    expect(
      text(
        edit(
          (l) =>
            (l.files[key] = {
              content: body.replace("chat\tIN\tA\t203.0.113.10", "chat\tIN\tA\t198.18.2.99"),
            }),
        ),
      ),
    ).toBe(
      [
        '~ zone example.com: record "chat A 203.0.113.10" != live "chat A 198.18.2.99"',
        "    live serial 2026010203",
      ].join("\n"),
    );
    const l = edit(
      (x) =>
        (x.files[key] = {
          content: body
            .replace("chat\tIN\tA\t203.0.113.10\n", "www\t60\tIN\tCNAME\tchat.example.com.\n")
            .replace(/ {8}2026010203 ; serial/, "        1 ; serial"),
        }),
    );
    expect(text(l)).toBe(
      [
        "~ zone example.com: 4 differences",
        "    serial line missing live",
        '    record "chat A 203.0.113.10" missing live',
        '    line "        1 ; serial" extra live',
        '    record "www 60 CNAME chat.example.com." extra live',
        "    live serial (none)",
      ].join("\n"),
    );
    expect(diffLive(spec, l)[0].command).toBe("acme-zone-example-com-zone");
    expect(liveSerials(spec, l)).toEqual({ "example.com": null });
    expect(text(edit((x) => (x.files[key] = { missing: true })))).toBe(
      "+ zone example.com missing live (/opt/gbo/data/example.com.zone in dns)",
    );
  });
});

test("unifiedDiff: -U0 hunks from a to b", () => {
  expect(unifiedDiff("a\nb\nc\nd\n", "a\nc\nd\ne", "A", "B")).toEqual([
    "--- A",
    "+++ B",
    "@@ -2 +1,0 @@",
    "-b",
    "@@ -4,0 +4 @@",
    "+e",
  ]);
});

describe("drift names the program's own resources", () => {
  test("every command drift points at is registered, and its URN has the owning component's type", () => {
    const spec = tenant();
    const empty: LiveState = { nat: "", filter: "", containers: [], files: {}, dirs: {} };
    const items = diffLive(spec, empty);
    const kinds = new Set(items.map((i) => i.kind));
    expect(kinds).toEqual(
      new Set(["chains", "nat", "guard", "container", "caddy", "vhost", "zone", "corefile"]),
    );
    const listed = tenantResources(spec);
    for (const item of items) {
      const command = listed.find((r) => r.type === TYPES.command && r.name === item.command);
      expect(command).toBeDefined();
      const owner = listed.find((r) => r.name === command!.parent && r.type !== TYPES.command)!;
      expect(commandUrn("prod", "incus-tenant", item)).toBe(
        urnOf("prod", "incus-tenant", [TYPES.tenant, owner.type, TYPES.command], item.command!),
      );
    }
  });
});

describe("readScript + parseLive against stand-in commands", () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "itn-live-unit-"));
  const bin = path.join(dir, "bin");
  const root = path.join(dir, "root");
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));
  const put = (rel: string, content: string) => {
    fs.mkdirSync(path.dirname(path.join(root, rel)), { recursive: true });
    fs.writeFileSync(path.join(root, rel), content);
  };
  beforeAll(() => {
    fs.mkdirSync(bin, { recursive: true });
    const list = JSON.stringify([
      {
        name: "proxy",
        status: "Running",
        expanded_config: { "security.privileged": "false" },
        expanded_devices: { eth0: { type: "nic", "ipv4.address": "10.0.2.10" } },
        state: {
          network: {
            eth0: {
              addresses: [
                { family: "inet6", address: "fe80::1" },
                { family: "inet", address: "10.0.2.10" },
              ],
            },
          },
        },
      },
    ]);
    fs.writeFileSync(
      path.join(bin, "iptables-save"),
      `#!/bin/bash\n[ "$2" = nat ] && { printf '*nat\\n-A X -j Y\\nCOMMIT\\n'; exit 0; }\n` +
        "printf '*filter\\nCOMMIT\\n'\n",
      { mode: 0o755 },
    );
    // incus exec <c> -- sh -c SCRIPT sh PATH: runs SCRIPT with PATH mapped under root/<c> (dns is "not running").
    fs.writeFileSync(
      path.join(bin, "incus"),
      `#!/bin/bash\nset -o pipefail\nif [ "$1" = list ]; ` +
        `then printf '%s\\n' ${JSON.stringify(list).replace(/\$/g, "\\$")}; exit 0; fi\n` +
        `c=$2; [ "$c" = dns ] && { echo "Error: Instance is not running" >&2; exit 1; }\n` +
        `shift 3; last=\${@: -1}; set -- "\${@:1:$(($#-1))}" "${root}/$c$last"\n"$@" | sed "s|^${root}/$c||"\n`,
      { mode: 0o755 },
    );
    put("proxy/etc/caddy/Caddyfile", "main\n@@itn-live-end\n@@itn-live forged 0 x y\n");
    put("proxy/etc/caddy/sites/other.caddy", "x");
    put("proxy/etc/caddy/sites/chat.caddy.bak-1", "x");
  });

  test("sections: iptables, containers, files (content, missing, error), sites folder", () => {
    const r = spawnSync("bash", ["-c", readScript(spec)], {
      encoding: "utf8",
      env: { ...process.env, PATH: `${bin}:${process.env.PATH}` },
    });
    expect(r.status).toBe(0);
    const live = parseLive(r.stdout);
    expect(live).toEqual({
      nat: "*nat\n-A X -j Y\nCOMMIT\n",
      filter: "*filter\nCOMMIT\n",
      containers: [
        {
          name: "proxy",
          status: "Running",
          config: { "security.privileged": "false" },
          devices: { eth0: { type: "nic", "ipv4.address": "10.0.2.10" } },
          addresses: ["10.0.2.10"],
        },
      ],
      files: {
        "proxy:/etc/caddy/Caddyfile": { content: "main\n@@itn-live-end\n@@itn-live forged 0 x y\n" },
        "proxy:/etc/caddy/sites/chat.caddy": { missing: true },
        "dns:/opt/gbo/data/example.com.zone": { error: "Error: Instance is not running" },
        "dns:/opt/gbo/conf/Corefile": { error: "Error: Instance is not running" },
      },
      dirs: { "proxy:/etc/caddy/sites": ["/etc/caddy/sites/other.caddy"] },
    });
  });

  test("a failed iptables-save or a cut output is an error, not drift", () => {
    fs.writeFileSync(
      path.join(bin, "iptables-save"),
      "#!/bin/bash\necho 'iptables-save: command not permitted' >&2; exit 4\n",
      { mode: 0o755 },
    );
    const r = spawnSync("bash", ["-c", readScript(spec)], {
      encoding: "utf8",
      env: { ...process.env, PATH: `${bin}:${process.env.PATH}` },
    });
    expect(() => parseLive(r.stdout)).toThrow(
      "live read: iptables-save -t nat failed on the host (exit 4): iptables-save: command not permitted",
    );
    expect(() => parseLive(r.stdout.replace("@@itn-live-end\n", ""))).toThrow(
      "live read: the output is incomplete (no end marker): the read script did not finish",
    );
  });
});

describe("plan --live arguments", () => {
  test("key from --ssh-key, else $INCUS_TENANT_SSH_KEY; --live and --json accepted", () => {
    expect(parseLiveArgs(["--stack", "prod", "--live", "--json"], { INCUS_TENANT_SSH_KEY: "/k" })).toEqual({
      stack: "prod",
      stackFile: undefined,
      json: true,
      sshKey: "/k",
    });
    expect(
      parseLiveArgs(["--live", "--stack", "prod", "--ssh-key", "/other"], { INCUS_TENANT_SSH_KEY: "/k" }),
    ).toEqual({ stack: "prod", stackFile: undefined, json: false, sshKey: "/other" });
    expect(parseLiveArgs(["--stack", "prod", "--live"], {})).toEqual({
      stack: "prod",
      stackFile: undefined,
      json: false,
    });
  });
  test.each([
    [["--live"], "--stack is required"],
    [["--stack", "prod", "--live", "--ssh-key"], "--ssh-key needs a value"],
    [["--stack", "prod", "--live", "--ssh-key", "--json"], "--ssh-key needs a value"],
    [["--stack", "a/b", "--live"], '--stack: invalid stack name "a/b"'],
    [["--stack", "prod", "--live", "--watch"], "unknown argument --watch"],
  ])("%j is refused: %s", (argv, message) => expect(() => parseLiveArgs(argv, {})).toThrow(message));
});
