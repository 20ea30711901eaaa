import { parseTenant, SpecError } from "../../model";
import { formatPath } from "../../model";
import { tenantFromStackYaml } from "../../model/stackfile";
import { MESSAGES } from "../../model/primitives";
import { baseTenant, DOC_HOST_KEY, stackTenant } from "./fixtures";

type Mutate = (t: Record<string, any>) => void;

/** The message of a sensitive port whose sources together let everyone in. */
const COVERING = (port: number): string =>
  `port ${port} exposes an internal service: its sources together cover every address (like 0.0.0.0/0); ` +
  "list narrower sources, or drop sources and set public: true";
/** An ed25519 blob under another type word, and the same blob cut short. */
const ED_BLOB = DOC_HOST_KEY.split(" ")[1];
const TOKEN_FILE = "/opt/gbo/bin/botserver-stack/conf/vault/vault-conf/init.json";
/** A small dns section for the dns container of baseTenant. */
const dnsSection = (): Record<string, any> => ({
  container: "dns",
  nameservers: ["ns1.example.com"],
  hostmaster: "hostmaster@example.com",
  zones: {
    "example.com": {
      records: [
        { name: "ns1", type: "A", value: "203.0.113.10" },
        { name: "mail", type: "A", value: "203.0.113.25" },
      ],
    },
  },
});
const records = (t: Record<string, any>): Record<string, unknown>[] => t.dns.zones["example.com"].records;
/** Moves every container address from 10.0.2.x to `prefix`.x. */
const moveTo = (t: Record<string, any>, prefix: string): void => {
  for (const c of Object.values<Record<string, string>>(t.containers))
    c.ipv4 = c.ipv4.replace("10.0.2.", `${prefix}.`);
};
const MIGRATION = (): Record<string, any> => ({
  source: { address: "192.0.2.5", hostKey: DOC_HOST_KEY },
  containers: ["tables"],
});

/** [description, mutation, exact problem lines] */
const INVALID: [string, Mutate, string[]][] = [
  ["environment not prod/stage", (t) => (t.environment = "dev"), ['environment: must be "prod" or "stage"']],
  [
    "tenant name upper-case",
    (t) => (t.name = "Acme"),
    ["name: must be 1-16 lower-case letters, digits or hyphens, starting with a letter"],
  ],
  ["missing domain", (t) => delete t.domain, ["domain: is required"]],
  [
    "domain not a DNS name",
    (t) => (t.domain = "example"),
    ["domain: must be a lower-case DNS name like example.com"],
  ],
  ["unknown top-level field", (t) => (t.contaners = {}), ['(root): unknown field "contaners"']],
  [
    "unknown container field",
    (t) => (t.containers.proxy.privilged = true),
    ['containers.proxy: unknown field "privilged"'],
  ],
  [
    "container name starts with digit",
    (t) => (t.containers["1web"] = { ipv4: "10.0.2.30" }),
    [
      "containers.1web: container name must be 1-63 letters, digits or hyphens, " +
        "start with a letter and not end with a hyphen",
    ],
  ],
  [
    "container name starts with hyphen",
    (t) => (t.containers["-web"] = { ipv4: "10.0.2.30" }),
    [
      "containers.-web: container name must be 1-63 letters, digits or hyphens, " +
        "start with a letter and not end with a hyphen",
    ],
  ],
  [
    "container name with underscore",
    (t) => (t.containers.web_1 = { ipv4: "10.0.2.30" }),
    [
      "containers.web_1: container name must be 1-63 letters, digits or hyphens, " +
        "start with a letter and not end with a hyphen",
    ],
  ],
  [
    "container name of 64 chars",
    (t) => (t.containers["a".repeat(64)] = { ipv4: "10.0.2.30" }),
    [
      `containers.${"a".repeat(64)}: container name must be 1-63 letters, digits or hyphens, ` +
        "start with a letter and not end with a hyphen",
    ],
  ],
  [
    "duplicate container name (case)",
    (t) => (t.containers.Proxy = { ipv4: "10.0.2.30" }),
    ['containers.Proxy: duplicate container name (same as "proxy")'],
  ],
  [
    "malformed IPv4",
    (t) => (t.containers.proxy.ipv4 = "10.0.2.300"),
    ["containers.proxy.ipv4: must be an IPv4 address like 10.0.2.10"],
  ],
  [
    "IPv4 outside subnet",
    (t) => (t.containers.proxy.ipv4 = "10.0.3.10"),
    ["containers.proxy.ipv4: 10.0.3.10 is outside the subnet 10.0.2.0/24"],
  ],
  [
    "IPv4 is network address",
    (t) => (t.containers.proxy.ipv4 = "10.0.2.0"),
    ["containers.proxy.ipv4: 10.0.2.0 is the network address of 10.0.2.0/24"],
  ],
  [
    "IPv4 is gateway",
    (t) => (t.containers.proxy.ipv4 = "10.0.2.1"),
    ["containers.proxy.ipv4: 10.0.2.1 is the gateway address of 10.0.2.0/24"],
  ],
  [
    "IPv4 is broadcast",
    (t) => (t.containers.proxy.ipv4 = "10.0.2.255"),
    ["containers.proxy.ipv4: 10.0.2.255 is the broadcast address of 10.0.2.0/24"],
  ],
  [
    "IPv4 is custom gateway",
    (t) => {
      t.network.gateway = "10.0.2.254";
      t.containers.proxy.ipv4 = "10.0.2.254";
    },
    ["containers.proxy.ipv4: 10.0.2.254 is the gateway address of 10.0.2.0/24"],
  ],
  [
    "duplicate IPv4",
    (t) => (t.containers.tables.ipv4 = "10.0.2.10"),
    ['containers.tables.ipv4: 10.0.2.10 is already used by container "proxy"'],
  ],
  [
    "subnet not a network address",
    (t) => (t.network.subnet = "10.0.2.1/24"),
    ["network.subnet: must be an IPv4 network like 10.0.2.0/24"],
  ],
  [
    "gateway outside subnet",
    (t) => (t.network.gateway = "10.9.9.1"),
    ["network.gateway: 10.9.9.1 is not a host address of 10.0.2.0/24"],
  ],
  [
    "port 0",
    (t) => (t.containers.proxy.ports = [0]),
    ["containers.proxy.ports[0]: must be a port from 1 to 65535"],
  ],
  [
    "port 65536 in nat",
    (t) => (t.nat[0].ports = [65536]),
    ["nat[0].ports[0]: must be a port from 1 to 65535"],
  ],
  ["port not a number", (t) => (t.nat[0].ports = ["80"]), ["nat[0].ports[0]: must be a number, got string"]],
  ["NAT to unknown container", (t) => (t.nat[0].to = "prxy"), ['nat[0].to: unknown container "prxy"']],
  [
    "NAT port not exposed",
    (t) => (t.nat[0].ports = [80, 8443]),
    ['nat[0].ports[1]: container "proxy" does not expose port 8443'],
  ],
  [
    "two rules for one port+protocol",
    (t) => t.nat.push({ ports: [443], protocol: "tcp", to: "proxy" }),
    ["nat[2].ports[0]: tcp/443 is already forwarded by nat[0]"],
  ],
  [
    "udp and tcp on one port are fine, twice udp is not",
    (t) => t.nat.push({ ports: [53], protocol: "udp", to: "dns" }),
    ["nat[2].ports[0]: udp/53 is already forwarded by nat[1]"],
  ],
  [
    "bad protocol",
    (t) => (t.nat[0].protocol = "sctp"),
    ['nat[0].protocol: must be "tcp", "udp" or a list of them'],
  ],
  [
    "DNAT of the SSH port",
    (t) => {
      t.containers.proxy.ports.push(22);
      t.nat[0].ports.push(22);
    },
    ["nat[0].ports[2]: port 22 is the host's SSH port and must never be forwarded"],
  ],
  [
    "DNAT of a custom SSH port",
    (t) => {
      t.host.port = 2222;
      t.containers.proxy.ports.push(2222);
      t.nat.push({ ports: [2222], to: "proxy" });
    },
    ["nat[2].ports[0]: port 2222 is the host's SSH port and must never be forwarded"],
  ],
  [
    "sensitive port public without opt-in",
    (t) => t.nat.push({ ports: [5432], to: "tables" }),
    ["nat[2].ports[0]: port 5432 exposes an internal service: list allowed sources or set public: true"],
  ],
  [
    "sensitive destination via toPort",
    (t) => {
      t.containers.drive = { ipv4: "10.0.2.14", ports: [9100] };
      t.nat.push({ ports: [19000], toPort: 9100, to: "drive" });
    },
    ["nat[2].ports[0]: port 19000 exposes an internal service: list allowed sources or set public: true"],
  ],
  [
    "sources 0.0.0.0/0 is still public",
    (t) => t.nat.push({ ports: [5432], to: "tables", sources: ["0.0.0.0/0"] }),
    [`nat[2].ports[0]: ${COVERING(5432)}`],
  ],
  [
    "public and sources together",
    (t) => t.nat.push({ ports: [5432], to: "tables", sources: ["203.0.113.0/24"], public: true }),
    ["nat[2].public: public: true contradicts sources: choose one"],
  ],
  [
    "bad source CIDR",
    (t) => t.nat.push({ ports: [5432], to: "tables", sources: ["203.0.113.1/24"] }),
    ["nat[2].sources[0]: must be an IPv4 network like 10.0.2.0/24"],
  ],
  [
    "toPort with two ports",
    (t) => (t.nat[0].toPort = 80),
    ["nat[0].toPort: toPort needs exactly one external port"],
  ],
  ["empty ports", (t) => (t.nat[0].ports = []), ["nat[0].ports: must list at least one port"]],
  [
    "alm-ci privileged",
    (t) => (t.containers["alm-ci"].privileged = true),
    ["containers.alm-ci.privileged: the CI runner must not be privileged"],
  ],
  [
    "alm-ci mounts system's data",
    (t) =>
      (t.containers["alm-ci"].devices = {
        deploy: { type: "disk", source: "/opt/gbo/tenants/acme/system", path: "/mnt/system" },
      }),
    [
      "containers.alm-ci.devices.deploy.source: the CI runner must not mount another container's data " +
        '("system"): deploy over SSH instead',
    ],
  ],
  [
    "alm-ci shares another container's disk source",
    (t) => {
      t.containers.tables.devices = {
        data: { type: "disk", source: "/srv/pg", path: "/var/lib/postgresql" },
      };
      t.containers["alm-ci"].devices = { pg: { type: "disk", source: "/srv/pg/backups", path: "/backups" } };
    },
    [
      'containers.alm-ci.devices.pg.source: the CI runner must not mount another container\'s data ("tables"): ' +
        "deploy over SSH instead",
    ],
  ],
  [
    "proxy device declared",
    (t) =>
      (t.containers.proxy.devices = {
        http: { type: "proxy", listen: "tcp:0.0.0.0:80", connect: "tcp:127.0.0.1:80" },
      }),
    [
      "containers.proxy.devices.http: Incus proxy devices are not allowed (they conflict with the NAT rules): " +
        "declare a nat rule instead",
    ],
  ],
  [
    "unsupported device type",
    (t) => (t.containers.proxy.devices = { gpu0: { type: "gpu" } }),
    ['containers.proxy.devices.gpu0.type: unsupported device type "gpu" (only "disk")'],
  ],
  [
    "disk device field typo (would mount read-write)",
    (t) =>
      (t.containers.proxy.devices = { data: { type: "disk", source: "/srv/x", path: "/x", readonyl: true } }),
    [
      'containers.proxy.devices.data.readonyl: unknown field "readonyl" (a disk device takes type, source, ' +
        "path, readonly)",
    ],
  ],
  [
    "alm-ci mounts the Incus data",
    (t) =>
      (t.containers["alm-ci"].devices = {
        all: { type: "disk", source: "/var/lib/incus", path: "/mnt/incus" },
      }),
    [
      "containers.alm-ci.devices.all.source: the CI runner must not mount host system paths (/var/lib/incus " +
        "overlaps /var/lib/incus): use a dedicated folder",
    ],
  ],
  [
    "alm-ci mounts the host root",
    (t) => (t.containers["alm-ci"].devices = { all: { type: "disk", source: "/", path: "/mnt/host" } }),
    [
      "containers.alm-ci.devices.all.source: the CI runner must not mount host system paths (/ overlaps /): " +
        "use a dedicated folder",
    ],
  ],
  [
    "disk without path",
    (t) => (t.containers.proxy.devices = { data: { type: "disk", source: "/srv/x" } }),
    ["containers.proxy.devices.data.path: a disk device needs a path inside the container"],
  ],
  [
    "disk source relative",
    (t) => (t.containers.proxy.devices = { data: { type: "disk", source: "srv/x", path: "/x" } }),
    [`containers.proxy.devices.data.source: ${MESSAGES.absPath}`],
  ],
  [
    "disk path with ..",
    (t) => (t.containers.proxy.devices = { data: { type: "disk", source: "/srv/x", path: "/opt/../etc" } }),
    [`containers.proxy.devices.data.path: ${MESSAGES.absPath}`],
  ],
  [
    "reserved device name",
    (t) => (t.containers.proxy.devices = { eth0: { type: "disk", source: "/srv/x", path: "/x" } }),
    ['containers.proxy.devices.eth0: device name "eth0" is reserved for the program'],
  ],
  [
    "bad external interface",
    (t) => (t.host.externalInterface = "eth0; rm -rf /"),
    [
      'host.externalInterface: must be a network interface name (1-15 letters, digits, . _ -, not starting with "-", ' +
        'not "." or "..")',
    ],
  ],
  [
    "bad host key",
    (t) => (t.host.hostKey = "AAAA"),
    ['host.hostKey: must be a public host key like "ssh-ed25519 AAAA..."'],
  ],
  [
    "host name without publicAddress",
    (t) => (t.host.address = "incus1.example.com"),
    ["host.publicAddress: required when host.address is a host name and nat rules exist"],
  ],
  ["no containers", (t) => (t.containers = {}), ["containers: must declare at least one container"]],
  [
    "containers not a mapping",
    (t) => (t.containers = ["proxy"]),
    ["containers: must be a mapping, got array"],
  ],
];

/** Message parts shared by the issue-11 rows below. */
const DEDICATED = "use a dedicated folder";
const PRIVILEGED = (source: string, system: string): string =>
  `a privileged container must not mount host system paths (${source} overlaps ${system}): ${DEDICATED}`;
const CONTROL = "must not contain control characters (a line break would add lines to the zone file)";
const CADDY_SELF = "Caddy would import its own main file; keep it outside the sites folder";
const OVERWRITE = "one file would overwrite the other";

/** Issue 11: unnormalised paths (2), values refused nowhere before (3), files over each other (4), trust (5). */
const ISSUE_11_INVALID: [string, Mutate, string[]][] = [
  // issue 11, class 2: paths are normalised, so "//" and trailing "/" cannot slip past a rule.
  [
    "disk path // is the container's root",
    (t) => (t.containers.proxy.devices = { data: { type: "disk", source: "/srv/x", path: "//" } }),
    [
      'containers.proxy.devices.data.path: must not be "/" (the container\'s root file system is its root disk)',
    ],
  ],
  [
    "disk path with a . segment",
    (t) => (t.containers.proxy.devices = { data: { type: "disk", source: "/srv/x", path: "/./opt" } }),
    [`containers.proxy.devices.data.path: ${MESSAGES.absPath}`],
  ],
  [
    "disk source with a line break",
    (t) => (t.containers.proxy.devices = { data: { type: "disk", source: "/srv/x\nrm", path: "/x" } }),
    [`containers.proxy.devices.data.source: ${MESSAGES.absPath}`],
  ],
  [
    "alm-ci mounts //var//lib/incus/",
    (t) =>
      (t.containers["alm-ci"].devices = {
        all: { type: "disk", source: "//var//lib/incus/", path: "/mnt/incus" },
      }),
    [
      "containers.alm-ci.devices.all.source: the CI runner must not mount host system paths " +
        `(/var/lib/incus overlaps /var/lib/incus): ${DEDICATED}`,
    ],
  ],
  [
    "any container mounting the host's // (root)",
    (t) => (t.containers.proxy.devices = { host: { type: "disk", source: "//", path: "/mnt/host" } }),
    ['containers.proxy.devices.host.source: must not be the host\'s root "/": use a dedicated folder'],
  ],
  [
    "privileged container mounts /etc/",
    (t) => (t.containers.system.devices = { etc: { type: "disk", source: "/etc/", path: "/mnt/etc" } }),
    [`containers.system.devices.etc.source: ${PRIVILEGED("/etc", "/etc")}`],
  ],
  [
    "privileged container mounts /var (holds /var/lib/incus)",
    (t) => (t.containers.system.devices = { v: { type: "disk", source: "/var", path: "/mnt/var" } }),
    [`containers.system.devices.v.source: ${PRIVILEGED("/var", "/var/run")}`],
  ],
  // issue 11, class 3: values refused nowhere before.
  [
    "device name with shell characters",
    (t) => (t.containers.proxy.devices = { 'x";reboot;"': { type: "disk", source: "/srv/x", path: "/x" } }),
    [`containers.proxy.devices.x";reboot;": ${MESSAGES.deviceName}`],
  ],
  [
    "device name starting with -",
    (t) => (t.containers.proxy.devices = { "-x": { type: "disk", source: "/srv/x", path: "/x" } }),
    [`containers.proxy.devices.-x: ${MESSAGES.deviceName}`],
  ],
  [
    "image with $(...)",
    (t) => (t.image = "images:debian/12$(touch /tmp/pwn)"),
    [`image: ${MESSAGES.imageRef}`],
  ],
  [
    "container image with a quote",
    (t) => (t.containers.proxy.image = 'images:debian/12";reboot;"'),
    [`containers.proxy.image: ${MESSAGES.imageRef}`],
  ],
  [
    "host address as an ssh option",
    (t) => (t.host.address = "-oProxyCommand=touch /tmp/pwn"),
    [`host.address: ${MESSAGES.host}`],
  ],
  [
    "host address with :port",
    (t) => (t.host.address = "203.0.113.10:2222"),
    [`host.address: ${MESSAGES.host}`],
  ],
  [
    "host address with a label starting with -",
    (t) => (t.host.address = "incus.-x.example.com"),
    [`host.address: ${MESSAGES.host}`],
  ],
  [
    "subnet 0.0.0.0/0",
    (t) => (t.network.subnet = "0.0.0.0/0"),
    [
      "network.subnet: 0.0.0.0/0 has a prefix outside /8 to /30: a tenant bridge needs a network like 10.0.2.0/24",
    ],
  ],
  [
    "subnet /31",
    (t) => (t.network.subnet = "10.0.2.0/31"),
    [
      "network.subnet: 10.0.2.0/31 has a prefix outside /8 to /30: a tenant bridge needs a network like 10.0.2.0/24",
      "containers.proxy.ipv4: 10.0.2.10 is outside the subnet 10.0.2.0/31",
      "containers.system.ipv4: 10.0.2.11 is outside the subnet 10.0.2.0/31",
      "containers.tables.ipv4: 10.0.2.12 is outside the subnet 10.0.2.0/31",
      "containers.dns.ipv4: 10.0.2.22 is outside the subnet 10.0.2.0/31",
      "containers.alm-ci.ipv4: 10.0.2.19 is outside the subnet 10.0.2.0/31",
    ],
  ],
  [
    "subnet inside 127.0.0.0/8",
    (t) => {
      t.network.subnet = "127.0.2.0/24";
      moveTo(t, "127.0.2");
    },
    [
      "network.subnet: 127.0.2.0/24 overlaps 127.0.0.0/8 (loopback): choose a private network like 10.0.2.0/24",
    ],
  ],
  [
    "subnet holding 127.0.0.0/8",
    (t) => {
      t.network.subnet = "96.0.0.0/3";
    },
    [
      "network.subnet: 96.0.0.0/3 has a prefix outside /8 to /30: a tenant bridge needs a network like 10.0.2.0/24",
      "containers.proxy.ipv4: 10.0.2.10 is outside the subnet 96.0.0.0/3",
      "containers.system.ipv4: 10.0.2.11 is outside the subnet 96.0.0.0/3",
      "containers.tables.ipv4: 10.0.2.12 is outside the subnet 96.0.0.0/3",
      "containers.dns.ipv4: 10.0.2.22 is outside the subnet 96.0.0.0/3",
      "containers.alm-ci.ipv4: 10.0.2.19 is outside the subnet 96.0.0.0/3",
    ],
  ],
  [
    "subnet in multicast space",
    (t) => {
      t.network.subnet = "224.0.2.0/24";
      moveTo(t, "224.0.2");
    },
    [
      "network.subnet: 224.0.2.0/24 overlaps 224.0.0.0/4 (multicast): choose a private network like 10.0.2.0/24",
    ],
  ],
  ["bridge named ..", (t) => (t.network.bridge = ".."), [`network.bridge: ${MESSAGES.iface}`]],
  ["bridge named .", (t) => (t.network.bridge = "."), [`network.bridge: ${MESSAGES.iface}`]],
  [
    "external interface is the tenant's bridge",
    (t) => (t.host.externalInterface = "incusbr0"),
    [
      `host.externalInterface: "incusbr0" is the tenant's own bridge (network.bridge): ` +
        "name the host's public interface",
    ],
  ],
  [
    "host key type does not match its data",
    (t) => (t.host.hostKey = `ssh-rsa ${ED_BLOB}`),
    [`host.hostKey: ${MESSAGES.sshHostKey}`],
  ],
  [
    "host key data truncated",
    (t) => (t.host.hostKey = `ssh-ed25519 ${ED_BLOB.slice(0, 48)}`),
    [`host.hostKey: ${MESSAGES.sshHostKey}`],
  ],
  [
    "prod without host key",
    (t) => delete t.host.hostKey,
    [
      "host.hostKey: is required in a prod stack: pin the host's key (ssh-keyscan -t ed25519 203.0.113.10), " +
        "else any machine answering there gets the secrets",
    ],
  ],
  [
    "sources that together cover everyone on a sensitive port",
    (t) => t.nat.push({ ports: [5432], to: "tables", sources: ["0.0.0.0/1", "128.0.0.0/1"] }),
    [`nat[2].ports[0]: ${COVERING(5432)}`],
  ],
  [
    "many sources covering everyone, overlapping",
    (t) =>
      t.nat.push({
        ports: [5432],
        to: "tables",
        sources: ["128.0.0.0/2", "0.0.0.0/1", "192.0.0.0/2", "10.0.0.0/8"],
      }),
    [`nat[2].ports[0]: ${COVERING(5432)}`],
  ],
  [
    "vault.address with port 65536",
    (t) => (t.vault = { container: "tables", address: "http://127.0.0.1:65536" }),
    [`vault.address: ${MESSAGES.url}`],
  ],
  [
    "vault.address with an option for a host",
    (t) => (t.vault = { container: "tables", address: "http://-k:8200" }),
    [`vault.address: ${MESSAGES.url}`],
  ],
  [
    "vault over https without caCert",
    (t) => (t.vault = { container: "tables", address: "https://127.0.0.1:8200" }),
    [
      "vault.caCert: is required when address is https:// (Vault's certificate is checked against it, never skipped)",
    ],
  ],
  [
    "lxdAddress with port 65536",
    (t) => (t.migration = { ...MIGRATION(), lxdAddress: "192.0.2.5:65536" }),
    [`migration.lxdAddress: ${MESSAGES.hostPort}`],
  ],
  [
    "migration remote named local",
    (t) => (t.migration = { ...MIGRATION(), remote: "local" }),
    [`migration.remote: ${MESSAGES.remoteName}`],
  ],
  [
    "migration remote named images",
    (t) => (t.migration = { ...MIGRATION(), remote: "images" }),
    [`migration.remote: ${MESSAGES.remoteName}`],
  ],
  [
    "migration source without host key",
    (t) => {
      t.migration = MIGRATION();
      delete t.migration.source.hostKey;
    },
    ["migration.source.hostKey: is required"],
  ],
  [
    "migration data source //opt (cleanupSource would delete /opt)",
    (t) => {
      t.containers.tables.devices = { data: { type: "disk", source: "/srv/pg", path: "/data" } };
      t.migration = { ...MIGRATION(), data: { tables: { source: "//opt/", destination: "/srv/pg" } } };
    },
    ["migration.data.tables.source: must be at least two levels deep (it is deleted by cleanupSource)"],
  ],
  [
    "relative MX target",
    (t) => {
      t.dns = dnsSection();
      records(t).push({ name: "@", type: "MX", value: "mail", priority: 10 });
    },
    [
      'dns.zones.example.com.records[2].value: "mail" is a bare label, not a full host name: write mail.example.com',
    ],
  ],
  [
    "relative CNAME target with a trailing dot",
    (t) => {
      t.dns = dnsSection();
      records(t).push({ name: "www", type: "CNAME", value: "web." });
    },
    [
      'dns.zones.example.com.records[2].value: "web." is a bare label, not a full host name: write web.example.com',
    ],
  ],
  [
    "relative SRV target",
    (t) => {
      t.dns = dnsSection();
      records(t).push({ name: "_sip._tcp", type: "SRV", value: "5 5060 sip", priority: 10 });
    },
    [
      'dns.zones.example.com.records[2].value: "sip" is a bare label, not a full host name: write sip.example.com',
    ],
  ],
  [
    "relative name server",
    (t) => {
      t.dns = dnsSection();
      t.dns.nameservers = ["ns1"];
    },
    ['dns.nameservers[0]: "ns1" is a bare label, not a full host name: write ns1.example.com'],
  ],
  [
    "CAA value with a line break",
    (t) => {
      t.dns = dnsSection();
      records(t).push({
        name: "@",
        type: "CAA",
        value: '0 issue "letsencrypt.org\n@ IN NS evil.example.net."',
      });
    },
    [`dns.zones.example.com.records[2].value: ${CONTROL}`],
  ],
  [
    "TXT value with a line break",
    (t) => {
      t.dns = dnsSection();
      records(t).push({ name: "@", type: "TXT", value: "v=spf1 -all\n@ IN A 192.0.2.66" });
    },
    [`dns.zones.example.com.records[2].value: ${CONTROL}`],
  ],
  [
    "TXT value with a tab",
    (t) => {
      t.dns = dnsSection();
      records(t).push({ name: "@", type: "TXT", value: "a\tb" });
    },
    [`dns.zones.example.com.records[2].value: ${CONTROL}`],
  ],
  // issue 11, class 4: files that would overwrite each other.
  [
    "Caddy main file inside the sites folder",
    (t) =>
      (t.proxy = { container: "proxy", tls: { internal: true }, mainFile: "/etc/caddy/sites/main.caddy" }),
    [
      `proxy.mainFile: /etc/caddy/sites/main.caddy is inside proxy.sitesDir (/etc/caddy/sites): ${CADDY_SELF}`,
    ],
  ],
  [
    "Caddy main file equal to a site file",
    (t) => {
      t.proxy = {
        container: "proxy",
        tls: { internal: true },
        sitesDir: "/etc/caddy",
        mainFile: "/etc/caddy/chat.caddy",
      };
      t.vhosts = { chat: { upstream: { container: "proxy", port: 80 }, servedElsewhere: true } };
    },
    [`proxy.mainFile: /etc/caddy/chat.caddy is inside proxy.sitesDir (/etc/caddy): ${CADDY_SELF}`],
  ],
  [
    "Caddy main file is the sites folder",
    (t) =>
      (t.proxy = {
        container: "proxy",
        tls: { internal: true },
        sitesDir: "/etc/caddy//",
        mainFile: "/etc/caddy",
      }),
    [`proxy.mainFile: /etc/caddy is proxy.sitesDir (/etc/caddy): ${CADDY_SELF}`],
  ],
  [
    "Corefile equal to a zone file",
    (t) => {
      t.dns = { ...dnsSection(), corefile: "/opt/gbo/data/example.com.zone" };
    },
    [
      "dns.corefile: /opt/gbo/data/example.com.zone is also the zone file of example.com " +
        `in container "dns": ${OVERWRITE}`,
    ],
  ],
  [
    "Corefile inside a zone file path",
    (t) => {
      t.dns = { ...dnsSection(), zonesDir: "/srv/zones/", corefile: "/srv/zones/example.com.zone/Corefile" };
    },
    [
      "dns.corefile: /srv/zones/example.com.zone/Corefile is inside the zone file of example.com " +
        `(/srv/zones/example.com.zone) in container "dns": ${OVERWRITE}`,
    ],
  ],
  [
    "vault .env file is init.json in the same container",
    (t) =>
      (t.vault = {
        container: "tables",
        envFile: {
          container: "tables",
          path: TOKEN_FILE,
          variables: { VAULT_ADDR: "http://10.0.2.12:8200" },
        },
      }),
    [`vault.envFile.path: ${TOKEN_FILE} is also vault.tokenFile in container "tables": ${OVERWRITE}`],
  ],
  [
    "vault .env file is the CA certificate",
    (t) =>
      (t.vault = {
        container: "tables",
        address: "https://127.0.0.1:8200",
        caCert: "/etc/ssl/vault.pem",
        envFile: {
          container: "tables",
          path: "/etc/ssl//vault.pem",
          variables: { VAULT_ADDR: "https://10.0.2.12:8200" },
        },
      }),
    [`vault.envFile.path: /etc/ssl/vault.pem is also vault.caCert in container "tables": ${OVERWRITE}`],
  ],
];

describe("parseTenant rejects bad input with exact, field-named messages", () => {
  test("the table is large enough", () => expect(INVALID.length).toBeGreaterThanOrEqual(25));
  test("0.0.0.0/0 among sources means any source, never a narrower rule", () => {
    const raw = baseTenant();
    raw.containers.proxy.ports = [80, 443, 8080];
    raw.nat.push({ ports: [8080], protocol: "tcp", to: "proxy", sources: ["203.0.113.64/26", "0.0.0.0/0"] });
    expect(parseTenant(raw).nat.find((r) => r.key === "tcp-8080")?.sources).toEqual([]);
  });

  test.each([...INVALID, ...ISSUE_11_INVALID])("%s", (_what, mutate, expected) => {
    const raw = baseTenant();
    mutate(raw);
    let error: unknown;
    try {
      parseTenant(raw);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(SpecError);
    expect((error as SpecError).problems.map((p) => `${p.path}: ${p.message}`)).toEqual(expected);
  });

  test("one error lists every problem, each on its own line", () => {
    const raw = baseTenant();
    raw.environment = "qa";
    raw.containers.proxy.ipv4 = "10.9.9.9";
    expect(() => parseTenant({ ...raw, environment: "prod" })).toThrow(
      "invalid tenant config (1 problem):\n  - containers.proxy.ipv4: 10.9.9.9 is outside the subnet 10.0.2.0/24",
    );
    raw.environment = "prod";
    raw.nat[0].to = "nope";
    expect(() => parseTenant(raw)).toThrow(
      new RegExp(
        /^invalid tenant config \(2 problems\):\n {2}- containers\.proxy\.ipv4: .*\n/.source +
          / {2}- nat\[0\]\.to: unknown container "nope"$/.source,
      ),
    );
  });
});

describe("parseTenant derives one immutable spec", () => {
  test("prod stack: 15 containers, names without stage, system privileged and prod protection", () => {
    const spec = parseTenant(stackTenant("prod"));
    expect(spec.containers.map((c) => c.name)).toEqual([
      "alm",
      "alm-ci",
      "directory",
      "dns",
      "drive",
      "email",
      "llm",
      "meet",
      "proxy",
      "system",
      "table-editor",
      "tables",
      "vault",
      "vectordb",
      "webmail",
    ]);
    expect(spec.hostnames).toEqual({
      alm: "alm.example.com",
      chat: "chat.example.com",
      login: "login.example.com",
      system: "system.example.com",
    });
    expect(spec.containers.filter((c) => c.privileged).map((c) => c.name)).toEqual(["system"]);
    expect(spec.containers.every((c) => c.protect)).toBe(true);
    expect(spec.network).toEqual({ bridge: "incusbr0", subnet: "10.0.2.0/24", gateway: "10.0.2.1" });
  });

  test("stage stack: stage names derived from environment, nothing protected, 10.0.3.0/24", () => {
    const spec = parseTenant(stackTenant("stage"));
    expect(spec.hostnames.chat).toBe("chat.stage.example.com");
    expect(spec.hostnames.login).toBe("login.stage.example.com");
    expect(spec.containers.some((c) => c.protect)).toBe(false);
    expect(spec.containers.every((c) => c.ipv4.startsWith("10.0.3."))).toBe(true);
  });

  test("NAT table of the runbook, one rule per port and protocol, sorted", () => {
    const spec = parseTenant(stackTenant("prod"));
    expect(
      spec.nat.map(
        (r) =>
          `${r.key}>${r.container}:${r.destinationPort}${r.sources.length ? ` ${r.sources.join(",")}` : ""}`,
      ),
    ).toEqual([
      "tcp-25>email:25",
      "tcp-53>dns:53",
      "tcp-80>proxy:80",
      "tcp-110>email:110",
      "tcp-143>email:143",
      "tcp-443>proxy:443",
      "tcp-465>email:465",
      "tcp-587>email:587",
      "tcp-993>email:993",
      "tcp-995>email:995",
      "tcp-4190>email:4190",
      "tcp-4747>alm:4747 203.0.113.64/26",
      "tcp-5432>tables:5432 203.0.113.64/26",
      "tcp-8200>vault:8200 203.0.113.64/26",
      "tcp-9000>drive:9100 203.0.113.64/26",
      "udp-53>dns:53",
    ]);
  });

  test("the spec is deeply frozen", () => {
    const spec = parseTenant(baseTenant());
    expect(Object.isFrozen(spec)).toBe(true);
    expect(Object.isFrozen(spec.containers[0])).toBe(true);
    expect(() => ((spec.containers as unknown as unknown[]).length = 0)).toThrow(TypeError);
  });

  test("explicit public opt-in and sudo derivation", () => {
    const raw = baseTenant();
    raw.nat.push({ ports: [5432], to: "tables", public: true });
    raw.host.user = "root";
    const spec = parseTenant(raw);
    expect(spec.nat.find((r) => r.port === 5432)?.sources).toEqual([]);
    expect(spec.host.sudo).toBe(false);
    expect(parseTenant(baseTenant()).host.sudo).toBe(true);
  });
});

describe("issue 11: normalised paths, stack names, what stays allowed", () => {
  test("paths are normalised: the spec holds only //-free paths without a trailing slash", () => {
    const raw = baseTenant();
    raw.containers.proxy.devices = { data: { type: "disk", source: "//srv//x/", path: "/x//y/" } };
    expect(parseTenant(raw).containers.find((c) => c.name === "proxy")?.devices).toEqual([
      { name: "data", source: "/srv/x", path: "/x/y", readonly: false },
    ]);
  });
  test("sources covering everyone on a non-sensitive port mean any source", () => {
    const raw = baseTenant();
    raw.containers.proxy.ports = [80, 443, 8080];
    raw.nat.push({ ports: [8080], to: "proxy", sources: ["0.0.0.0/1", "128.0.0.0/1"] });
    expect(parseTenant(raw).nat.find((r) => r.key === "tcp-8080")?.sources).toEqual([]);
  });
  test("sources that leave one address out are a narrower rule", () => {
    const raw = baseTenant();
    raw.nat.push({
      ports: [5432],
      to: "tables",
      sources: [
        "0.0.0.0/1",
        "128.0.0.0/2",
        "192.0.0.0/3",
        "224.0.0.0/4",
        "240.0.0.0/5",
        "248.0.0.0/6",
        "252.0.0.0/7",
        "254.0.0.0/8",
        "255.0.0.0/9",
      ],
    });
    expect(parseTenant(raw).nat.find((r) => r.key === "tcp-5432")?.sources).toHaveLength(9);
  });
  test.each([
    [
      "prod",
      "stage",
      'environment: is "stage" but the stack is "prod": a prod stack must say environment: prod',
    ],
    [
      "stage",
      "prod",
      'environment: is "prod" but the stack is "stage": a stage stack must say environment: stage',
    ],
  ])("a stack named %s whose environment is %s is refused", (stack, environment, line) => {
    const raw = baseTenant();
    raw.environment = environment;
    let error: unknown;
    try {
      parseTenant(raw, { stack });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(SpecError);
    expect((error as SpecError).problems.map((p) => `${p.path}: ${p.message}`)).toEqual([line]);
  });
  test("other stack names take either environment; no stack name checks nothing", () => {
    for (const environment of ["prod", "stage"]) {
      const raw = { ...baseTenant(), environment };
      expect(() => parseTenant(raw, { stack: "prod-eu" })).not.toThrow();
      expect(() => parseTenant(raw)).not.toThrow();
    }
  });
  test("the committed stacks are valid under their own stack names and pin a host key", () => {
    expect(parseTenant(stackTenant("prod"), { stack: "prod" }).host.hostKey).toBe(DOC_HOST_KEY);
    expect(parseTenant(stackTenant("stage"), { stack: "stage" }).host.hostKey).toBe(DOC_HOST_KEY);
  });
  test("a stage stack may omit the host key; the .env file may share init.json's path in another container", () => {
    const raw = baseTenant();
    raw.environment = "stage";
    delete raw.host.hostKey;
    raw.vault = {
      container: "tables",
      envFile: { container: "system", path: TOKEN_FILE, variables: { VAULT_ADDR: "http://10.0.2.12:8200" } },
    };
    expect(parseTenant(raw).host.hostKey).toBeUndefined();
  });
  test('a full host name as MX target, with or without the trailing dot, and "@"', () => {
    const raw = baseTenant();
    raw.dns = dnsSection();
    records(raw).push(
      { name: "@", type: "MX", value: "mail.example.com", priority: 10 },
      { name: "@", type: "MX", value: "mail.example.com.", priority: 20 },
      { name: "www", type: "CNAME", value: "@" },
    );
    expect(
      parseTenant(raw)
        .services.dns?.zones[0].records.filter((r) => r.type !== "A")
        .map((r) => r.data),
    ).toEqual(["10 mail.example.com.", "20 mail.example.com.", "example.com."]);
  });
});

describe("stack files", () => {
  test("duplicate YAML keys are an error, not a silent override", () => {
    const text =
      "config:\n  incus-tenant:tenant:\n    containers:\n      proxy: {ipv4: 10.0.2.10}\n" +
      "      proxy: {ipv4: 10.0.2.11}\n";
    expect(() => tenantFromStackYaml(text, "Pulumi.x.yaml")).toThrow(
      /^Pulumi\.x\.yaml: invalid YAML: Map keys must be unique/,
    );
  });
  test("a stack file without the tenant key names the key", () => {
    expect(() => tenantFromStackYaml("config: {}\n", "f.yaml")).toThrow(
      'f.yaml: config key "incus-tenant:tenant" is missing',
    );
  });
  test("formatPath", () => expect(formatPath(["nat", 0, "ports", 1])).toBe("nat[0].ports[1]"));
});
