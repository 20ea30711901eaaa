import { parseTenant, SpecError } from "../../spec";
import { formatPath } from "../../spec";
import { tenantFromStackYaml } from "../../spec/stackfile";
import { baseTenant, stackTenant } from "./fixtures";

type Mutate = (t: Record<string, any>) => void;

/** [description, mutation, exact problem lines] */
const INVALID: [string, Mutate, string[]][] = [
  ["environment not prod/stage", (t) => (t.environment = "dev"), ['environment: must be "prod" or "stage"']],
  ["tenant name upper-case", (t) => (t.name = "Acme"), ["name: must be 1-16 lower-case letters, digits or hyphens, starting with a letter"]],
  ["missing domain", (t) => delete t.domain, ["domain: is required"]],
  ["domain not a DNS name", (t) => (t.domain = "example"), ["domain: must be a lower-case DNS name like example.com"]],
  ["unknown top-level field", (t) => (t.contaners = {}), ['(root): unknown field "contaners"']],
  ["unknown container field", (t) => (t.containers.proxy.privilged = true), ['containers.proxy: unknown field "privilged"']],
  ["container name starts with digit", (t) => (t.containers["1web"] = { ipv4: "10.0.2.30" }), ["containers.1web: container name must be 1-63 letters, digits or hyphens, start with a letter and not end with a hyphen"]],
  ["container name starts with hyphen", (t) => (t.containers["-web"] = { ipv4: "10.0.2.30" }), ["containers.-web: container name must be 1-63 letters, digits or hyphens, start with a letter and not end with a hyphen"]],
  ["container name with underscore", (t) => (t.containers.web_1 = { ipv4: "10.0.2.30" }), ["containers.web_1: container name must be 1-63 letters, digits or hyphens, start with a letter and not end with a hyphen"]],
  ["container name of 64 chars", (t) => (t.containers["a".repeat(64)] = { ipv4: "10.0.2.30" }), [`containers.${"a".repeat(64)}: container name must be 1-63 letters, digits or hyphens, start with a letter and not end with a hyphen`]],
  ["duplicate container name (case)", (t) => (t.containers.Proxy = { ipv4: "10.0.2.30" }), ['containers.Proxy: duplicate container name (same as "proxy")']],
  ["malformed IPv4", (t) => (t.containers.proxy.ipv4 = "10.0.2.300"), ["containers.proxy.ipv4: must be an IPv4 address like 10.0.2.10"]],
  ["IPv4 outside subnet", (t) => (t.containers.proxy.ipv4 = "10.0.3.10"), ["containers.proxy.ipv4: 10.0.3.10 is outside the subnet 10.0.2.0/24"]],
  ["IPv4 is network address", (t) => (t.containers.proxy.ipv4 = "10.0.2.0"), ["containers.proxy.ipv4: 10.0.2.0 is the network address of 10.0.2.0/24"]],
  ["IPv4 is gateway", (t) => (t.containers.proxy.ipv4 = "10.0.2.1"), ["containers.proxy.ipv4: 10.0.2.1 is the gateway address of 10.0.2.0/24"]],
  ["IPv4 is broadcast", (t) => (t.containers.proxy.ipv4 = "10.0.2.255"), ["containers.proxy.ipv4: 10.0.2.255 is the broadcast address of 10.0.2.0/24"]],
  ["IPv4 is custom gateway", (t) => { t.network.gateway = "10.0.2.254"; t.containers.proxy.ipv4 = "10.0.2.254"; }, ["containers.proxy.ipv4: 10.0.2.254 is the gateway address of 10.0.2.0/24"]],
  ["duplicate IPv4", (t) => (t.containers.tables.ipv4 = "10.0.2.10"), ['containers.tables.ipv4: 10.0.2.10 is already used by container "proxy"']],
  ["subnet not a network address", (t) => (t.network.subnet = "10.0.2.1/24"), ["network.subnet: must be an IPv4 network like 10.0.2.0/24"]],
  ["gateway outside subnet", (t) => (t.network.gateway = "10.9.9.1"), ["network.gateway: 10.9.9.1 is not a host address of 10.0.2.0/24"]],
  ["port 0", (t) => (t.containers.proxy.ports = [0]), ["containers.proxy.ports[0]: must be a port from 1 to 65535"]],
  ["port 65536 in nat", (t) => (t.nat[0].ports = [65536]), ["nat[0].ports[0]: must be a port from 1 to 65535"]],
  ["port not a number", (t) => (t.nat[0].ports = ["80"]), ["nat[0].ports[0]: must be a number, got string"]],
  ["NAT to unknown container", (t) => (t.nat[0].to = "prxy"), ['nat[0].to: unknown container "prxy"']],
  ["NAT port not exposed", (t) => (t.nat[0].ports = [80, 8443]), ['nat[0].ports[1]: container "proxy" does not expose port 8443']],
  ["two rules for one port+protocol", (t) => t.nat.push({ ports: [443], protocol: "tcp", to: "proxy" }), ["nat[2].ports[0]: tcp/443 is already forwarded by nat[0]"]],
  ["udp and tcp on one port are fine, twice udp is not", (t) => t.nat.push({ ports: [53], protocol: "udp", to: "dns" }), ["nat[2].ports[0]: udp/53 is already forwarded by nat[1]"]],
  ["bad protocol", (t) => (t.nat[0].protocol = "sctp"), ['nat[0].protocol: must be "tcp", "udp" or a list of them']],
  ["DNAT of the SSH port", (t) => { t.containers.proxy.ports.push(22); t.nat[0].ports.push(22); }, ["nat[0].ports[2]: port 22 is the host's SSH port and must never be forwarded"]],
  ["DNAT of a custom SSH port", (t) => { t.host.port = 2222; t.containers.proxy.ports.push(2222); t.nat.push({ ports: [2222], to: "proxy" }); }, ["nat[2].ports[0]: port 2222 is the host's SSH port and must never be forwarded"]],
  ["sensitive port public without opt-in", (t) => t.nat.push({ ports: [5432], to: "tables" }), ["nat[2].ports[0]: port 5432 exposes an internal service: list allowed sources or set public: true"]],
  ["sensitive destination via toPort", (t) => { t.containers.drive = { ipv4: "10.0.2.14", ports: [9100] }; t.nat.push({ ports: [19000], toPort: 9100, to: "drive" }); }, ["nat[2].ports[0]: port 19000 exposes an internal service: list allowed sources or set public: true"]],
  ["sources 0.0.0.0/0 is still public", (t) => t.nat.push({ ports: [5432], to: "tables", sources: ["0.0.0.0/0"] }), ["nat[2].ports[0]: port 5432 exposes an internal service: list allowed sources or set public: true"]],
  ["public and sources together", (t) => t.nat.push({ ports: [5432], to: "tables", sources: ["203.0.113.0/24"], public: true }), ["nat[2].public: public: true contradicts sources: choose one"]],
  ["bad source CIDR", (t) => t.nat.push({ ports: [5432], to: "tables", sources: ["203.0.113.1/24"] }), ["nat[2].sources[0]: must be an IPv4 network like 10.0.2.0/24"]],
  ["toPort with two ports", (t) => (t.nat[0].toPort = 80), ["nat[0].toPort: toPort needs exactly one external port"]],
  ["empty ports", (t) => (t.nat[0].ports = []), ["nat[0].ports: must list at least one port"]],
  ["alm-ci privileged", (t) => (t.containers["alm-ci"].privileged = true), ["containers.alm-ci.privileged: the CI runner must not be privileged"]],
  ["alm-ci mounts system's data", (t) => (t.containers["alm-ci"].devices = { deploy: { type: "disk", source: "/opt/gbo/tenants/acme/system", path: "/mnt/system" } }), ['containers.alm-ci.devices.deploy.source: the CI runner must not mount another container\'s data ("system"): deploy over SSH instead']],
  ["alm-ci shares another container's disk source", (t) => { t.containers.tables.devices = { data: { type: "disk", source: "/srv/pg", path: "/var/lib/postgresql" } }; t.containers["alm-ci"].devices = { pg: { type: "disk", source: "/srv/pg/backups", path: "/backups" } }; }, ['containers.alm-ci.devices.pg.source: the CI runner must not mount another container\'s data ("tables"): deploy over SSH instead']],
  ["proxy device declared", (t) => (t.containers.proxy.devices = { http: { type: "proxy", listen: "tcp:0.0.0.0:80", connect: "tcp:127.0.0.1:80" } }), ["containers.proxy.devices.http: Incus proxy devices are not allowed (they conflict with the NAT rules): declare a nat rule instead"]],
  ["unsupported device type", (t) => (t.containers.proxy.devices = { gpu0: { type: "gpu" } }), ['containers.proxy.devices.gpu0.type: unsupported device type "gpu" (only "disk")']],
  ["disk device field typo (would mount read-write)", (t) => (t.containers.proxy.devices = { data: { type: "disk", source: "/srv/x", path: "/x", readonyl: true } }), ['containers.proxy.devices.data.readonyl: unknown field "readonyl" (a disk device takes type, source, path, readonly)']],
  ["alm-ci mounts the Incus data", (t) => (t.containers["alm-ci"].devices = { all: { type: "disk", source: "/var/lib/incus", path: "/mnt/incus" } }), ["containers.alm-ci.devices.all.source: the CI runner must not mount host system paths (/var/lib/incus overlaps /var/lib/incus): use a dedicated folder"]],
  ["alm-ci mounts the host root", (t) => (t.containers["alm-ci"].devices = { all: { type: "disk", source: "/", path: "/mnt/host" } }), ["containers.alm-ci.devices.all.source: the CI runner must not mount host system paths (/ overlaps /): use a dedicated folder"]],
  ["disk without path", (t) => (t.containers.proxy.devices = { data: { type: "disk", source: "/srv/x" } }), ["containers.proxy.devices.data.path: a disk device needs a path inside the container"]],
  ["disk source relative", (t) => (t.containers.proxy.devices = { data: { type: "disk", source: "srv/x", path: "/x" } }), ["containers.proxy.devices.data.source: must be an absolute path"]],
  ["disk path with ..", (t) => (t.containers.proxy.devices = { data: { type: "disk", source: "/srv/x", path: "/opt/../etc" } }), ["containers.proxy.devices.data.path: must not contain '..'"]],
  ["reserved device name", (t) => (t.containers.proxy.devices = { eth0: { type: "disk", source: "/srv/x", path: "/x" } }), ['containers.proxy.devices.eth0: device name "eth0" is reserved for the program']],
  ["bad external interface", (t) => (t.host.externalInterface = "eth0; rm -rf /"), ["host.externalInterface: must be a network interface name (1-15 letters, digits, . _ -)"]],
  ["bad host key", (t) => (t.host.hostKey = "AAAA"), ['host.hostKey: must be a public host key like "ssh-ed25519 AAAA..."']],
  ["host name without publicAddress", (t) => (t.host.address = "incus1.example.com"), ["host.publicAddress: required when host.address is a host name and nat rules exist"]],
  ["no containers", (t) => (t.containers = {}), ["containers: must declare at least one container"]],
  ["containers not a mapping", (t) => (t.containers = ["proxy"]), ["containers: must be a mapping, got array"]],
];

describe("parseTenant rejects bad input with exact, field-named messages", () => {
  test("the table is large enough", () => expect(INVALID.length).toBeGreaterThanOrEqual(25));
  test("0.0.0.0/0 among sources means any source, never a narrower rule", () => {
    const raw = baseTenant();
    raw.containers.proxy.ports = [80, 443, 8080];
    raw.nat.push({ ports: [8080], protocol: "tcp", to: "proxy", sources: ["203.0.113.64/26", "0.0.0.0/0"] });
    expect(parseTenant(raw).nat.find((r) => r.key === "tcp-8080")?.sources).toEqual([]);
  });

  test.each(INVALID)("%s", (_what, mutate, expected) => {
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
    expect(() => parseTenant({ ...raw, environment: "prod" })).toThrow("invalid tenant config (1 problem):\n  - containers.proxy.ipv4: 10.9.9.9 is outside the subnet 10.0.2.0/24");
    raw.environment = "prod";
    raw.nat[0].to = "nope";
    expect(() => parseTenant(raw)).toThrow(/^invalid tenant config \(2 problems\):\n {2}- containers\.proxy\.ipv4: .*\n {2}- nat\[0\]\.to: unknown container "nope"$/);
  });
});

describe("parseTenant derives one immutable spec", () => {
  test("prod stack: 15 containers, names without stage, system privileged and prod protection", () => {
    const spec = parseTenant(stackTenant("prod"));
    expect(spec.containers.map((c) => c.name)).toEqual(["alm", "alm-ci", "directory", "dns", "drive", "email", "llm", "meet", "proxy", "system", "table-editor", "tables", "vault", "vectordb", "webmail"]);
    expect(spec.hostnames).toEqual({ alm: "alm.example.com", chat: "chat.example.com", login: "login.example.com", system: "system.example.com" });
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
    expect(spec.nat.map((r) => `${r.key}>${r.container}:${r.destinationPort}${r.sources.length ? ` ${r.sources.join(",")}` : ""}`)).toEqual([
      "tcp-25>email:25", "tcp-53>dns:53", "tcp-80>proxy:80", "tcp-110>email:110", "tcp-143>email:143", "tcp-443>proxy:443",
      "tcp-465>email:465", "tcp-587>email:587", "tcp-993>email:993", "tcp-995>email:995", "tcp-4190>email:4190",
      "tcp-4747>alm:4747 203.0.113.64/26", "tcp-5432>tables:5432 203.0.113.64/26", "tcp-8200>vault:8200 203.0.113.64/26",
      "tcp-9000>drive:9100 203.0.113.64/26", "udp-53>dns:53",
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

describe("stack files", () => {
  test("duplicate YAML keys are an error, not a silent override", () => {
    const text = "config:\n  incus-tenant:tenant:\n    containers:\n      proxy: {ipv4: 10.0.2.10}\n      proxy: {ipv4: 10.0.2.11}\n";
    expect(() => tenantFromStackYaml(text, "Pulumi.x.yaml")).toThrow(/^Pulumi\.x\.yaml: invalid YAML: Map keys must be unique/);
  });
  test("a stack file without the tenant key names the key", () => {
    expect(() => tenantFromStackYaml("config: {}\n", "f.yaml")).toThrow('f.yaml: config key "incus-tenant:tenant" is missing');
  });
  test("formatPath", () => expect(formatPath(["nat", 0, "ports", 1])).toBe("nat[0].ports[1]"));
});
