/**
 * End-to-end lifecycle on the real test bed: the real index.ts runs under Pulumi's mock runtime
 * and every remote.Command executes over real SSH (tests/harness, the engine double: the
 * Pulumi engine cannot be installed here). Assertions read the real host: incus, iptables-save,
 * /proc, files, and real packets from the client namespace through the NAT.
 */
import { execFileSync } from "child_process";
import * as fs from "fs";
import * as path from "path";
import { runProgram, RunResult, SshExecutor } from "../harness";
import { parseTenant } from "../../model";
import { dnatLines, chainLines, guardLines, RULES_FILE } from "../../render/iptables";
import {
  renderChains,
  renderForwarding,
  renderGuard,
  renderPersistence,
  sysctlFile,
} from "../../render/host";
import { renderContainer } from "../../render/container";
import { renderNatRule } from "../../render/nat";
import { remoteBash } from "../../render/shell";
import {
  client,
  containers,
  describeOnTestbed,
  e2eTenant,
  harnessConfig,
  host,
  iptables,
  ourRules,
  ROOT,
  tempState,
  TestbedEnv,
} from "./testbed";

jest.setTimeout(15 * 60 * 1000);
const INDEX = path.join(ROOT, "index.ts");
const FOREIGN =
  "-A PREROUTING -p tcp -m tcp --dport 8088 -m comment --comment itn-e2e-foreign " +
  "-j DNAT --to-destination 198.18.2.99:80";

describeOnTestbed("tenant lifecycle on the real test bed", (env: TestbedEnv) => {
  const tenant = e2eTenant(env);
  tenant.containers.system.protect = true; // one protected container: destroy must refuse it
  const spec = parseTenant(tenant);
  const state = tempState("lifecycle");
  const apply = async (t: unknown = tenant, log?: (l: string) => void): Promise<RunResult> =>
    runProgram({
      programPath: INDEX,
      ...harnessConfig(env, t),
      stateFile: state,
      stack: "e2e",
      ...(log ? { log } : {}),
    });
  const destroy = () =>
    runProgram({
      programPath: INDEX,
      ...harnessConfig(env, tenant),
      stateFile: state,
      stack: "e2e",
      destroy: true,
    });
  const incusNft = () => host("nft", ["list", "table", "inet", "incus"]);
  let nftBefore = "";
  // This tenant's rules only: other e2e files (other tenants) may run on the same bed.
  const mine = () => ourRules().filter((l) => l.includes("incus-tenant:e2e:") || l.includes(" ITN-e2e-"));
  let cleanState: ReturnType<typeof containers>;
  let cleanRules: string[];

  const unprotectAndDestroy = async () => {
    for (const c of containers())
      if (spec.containers.some((s) => s.name === c.name))
        host("incus", ["config", "set", c.name, "security.protection.delete=false"]);
    return destroy();
  };

  beforeAll(() => {
    host("iptables", [
      "-t",
      "nat",
      "-A",
      "PREROUTING",
      "-p",
      "tcp",
      "--dport",
      "8088",
      "-m",
      "comment",
      "--comment",
      "itn-e2e-foreign",
      "-j",
      "DNAT",
      "--to-destination",
      "198.18.2.99:80",
    ]);
    nftBefore = incusNft();
  });
  afterAll(async () => {
    await unprotectAndDestroy();
    execFileSync("bash", [
      "-c",
      "iptables -t nat -D PREROUTING -p tcp --dport 8088 -m comment --comment itn-e2e-foreign -j DNAT " +
        "--to-destination 198.18.2.99:80 || true",
    ]);
  });

  test("apply: containers running at their addresses, NAT equals the rendered rules, packets flow", async () => {
    const r = await apply();
    expect(r.error).toBeUndefined();
    // The tenant preflight, 4 host commands, the containers, NAT: apply + confirmation.
    const expectedCommands = 1 + 4 + spec.containers.length + 2 * spec.nat.length;
    expect(r.ran.filter((c) => c.op === "create")).toHaveLength(expectedCommands);
    process.stdout.write(
      `apply ran ${r.ran.length} SSH commands in ${r.ran.reduce((s, c) => s + c.ms, 0)} ms of command time\n`,
    );

    const live = containers().filter((c) => spec.containers.some((s) => s.name === c.name));
    expect(live.map((c) => [c.name, c.status, c.ipv4, c.privileged, c.protect, c.proxyDevices])).toEqual(
      spec.containers.map((c) => [c.name, "Running", [c.ipv4], String(c.privileged), String(c.protect), []]),
    );
    const nat = iptables("nat");
    // Rules for distinct ports do not depend on their order; the NatRule commands run in parallel.
    expect(nat.filter((l) => l.startsWith(`-A ${spec.chains.prerouting} `)).sort()).toEqual(
      spec.nat.flatMap((rule) => dnatLines(spec, rule)).sort(),
    );
    expect(nat).toEqual(expect.arrayContaining([...chainLines(spec).jumps, ...chainLines(spec).masquerade]));
    // The guard (loopback + SSH ACCEPT) comes before any DROP in INPUT (other tenants' guards may sit beside it).
    const input = iptables("filter").filter((l) => l.startsWith("-A INPUT"));
    const firstDrop = input.findIndex((l) => / -j (DROP|REJECT)/.test(l));
    for (const g of guardLines(Number(env.SSH_PORT))) {
      expect(input).toContain(g);
      if (firstDrop >= 0) expect(input.indexOf(g)).toBeLessThan(firstDrop);
    }
    expect(fs.readFileSync("/proc/sys/net/ipv4/ip_forward", "utf8").trim()).toBe("1");
    expect(fs.readFileSync(sysctlFile(spec.name), "utf8")).toContain("net.ipv4.ip_forward = 1");
    const norm = (text: string) =>
      text
        .split("\n")
        .filter((l) => /^(\*|:|-A )/.test(l))
        .map((l) => l.replace(/ \[\d+:\d+\]$/, ""));
    expect(norm(fs.readFileSync(RULES_FILE, "utf8"))).toEqual(norm(host("iptables-save")));

    // Real packets from "outside": HTTP 80 to Caddy's default site, 443 and UDP 53 to responders.
    // A transient unit: a process started by `incus exec` alone dies with the exec session.
    host("incus", [
      "exec",
      "proxy",
      "--",
      "systemd-run",
      "--unit",
      "itn-e2e-443",
      "socat",
      "TCP-LISTEN:443,fork,reuseaddr",
      "SYSTEM:echo HTTP/1.0 200 OK; echo; echo proxy-443",
    ]);
    const http = client(env, `curl -sS -m 10 -o /dev/null -w '%{http_code}' http://${env.HOST_EXT_IP}/`);
    expect(http.stdout).toBe("200");
    let tls = "";
    for (let i = 0; i < 20 && !tls.includes("proxy-443"); i++)
      tls = client(env, `curl -sS -m 5 http://${env.HOST_EXT_IP}:443/`).stdout;
    expect(tls).toContain("proxy-443");
    // A DNS responder in the dns container: BIND's named, masked in the test image and configured
    // there as authoritative only (recursion and DNSSEC validation off, so it never queries the
    // root servers: the egress-guard test of this file would catch it).
    host("incus", [
      "exec",
      "dns",
      "--",
      "sh",
      "-c",
      "systemctl unmask named.service && systemctl start named.service",
    ]);
    let dns = client(env, `dig @${env.HOST_EXT_IP} example.com SOA +tries=2 +time=3`);
    for (let i = 0; i < 10 && !/status: /.test(dns.stdout); i++)
      dns = client(env, `dig @${env.HOST_EXT_IP} example.com SOA +tries=2 +time=3`);
    expect(dns.stdout).toMatch(/status: (NOERROR|REFUSED|SERVFAIL|NXDOMAIN)/);
    expect(dns.stdout).toContain(`SERVER: ${env.HOST_EXT_IP}#53`);

    cleanState = containers().filter((c) => spec.containers.some((s) => s.name === c.name));
    cleanRules = mine();
  });

  test("no-op re-apply runs zero commands and changes nothing", async () => {
    const r = await apply();
    expect(r.error).toBeUndefined();
    expect(r.ran).toEqual([]);
    expect(containers().filter((c) => spec.containers.some((s) => s.name === c.name))).toEqual(cleanState);
    expect(mine()).toEqual(cleanRules);
  });

  test("idempotent scripts: every create script run twice directly leaves the same state", async () => {
    const ssh = new SshExecutor();
    const conn = {
      host: env.SSH_HOST,
      port: Number(env.SSH_PORT),
      user: env.SSH_USER,
      privateKey: fs.readFileSync(env.SSH_KEY, "utf8"),
      hostKey: spec.host.hostKey,
    };
    const creates = [
      renderGuard(spec),
      renderForwarding(spec),
      renderChains(spec),
      renderPersistence(),
      ...spec.containers.map((c) => renderContainer(spec, c)),
      ...spec.nat.map((r) => renderNatRule(spec, r)),
    ].map((p) => p.create);
    for (let round = 0; round < 2; round++) {
      for (const text of creates) {
        const r = await ssh.run(conn, remoteBash(text, false), undefined);
        expect({ exit: r.exitCode, stderr: r.exitCode === 0 ? "" : r.stderr }).toEqual({
          exit: 0,
          stderr: "",
        });
      }
      expect(containers().filter((c) => spec.containers.some((s) => s.name === c.name))).toEqual(cleanState);
      expect(mine()).toEqual(cleanRules);
    }
  });

  test("change: drop one NAT rule and change one container: only those commands run, snapshot taken", async () => {
    const changed = JSON.parse(JSON.stringify(tenant));
    changed.nat[0].ports = [80]; // drops tcp/443
    changed.containers["alm-ci"].devices = {
      scratch: { type: "disk", source: "/tmp", path: "/mnt/scratch", readonly: true },
    };
    const r = await apply(changed);
    expect(r.error).toBeUndefined();
    expect(r.ran.map((c) => `${c.op} ${c.name}`).sort()).toEqual([
      "create e2e-alm-ci-instance",
      "delete e2e-nat-tcp-443-dnat",
    ]);
    expect(mine().filter((l) => l.includes("tcp-443"))).toEqual([]);
    expect(mine()).toEqual(cleanRules.filter((l) => !l.includes("tcp-443")));
    const almCi = containers().find((c) => c.name === "alm-ci")!;
    expect(almCi.snapshots).toEqual([expect.stringMatching(/^pre-change-\d{14}$/)]);
    expect(host("incus", ["config", "device", "get", "alm-ci", "scratch", "path"]).trim()).toBe(
      "/mnt/scratch",
    );
    expect(iptables("nat")).toContain(FOREIGN);
  });

  test(
    "destroy: everything gone except the protected container, named in the error; " +
      "foreign rules untouched",
    async () => {
      const r = await destroy();
      expect(r.error?.message).toContain("refusing to delete protected container system");
      expect(containers().map((c) => c.name)).toContain("system");
      const r2 = await unprotectAndDestroy();
      expect(r2.error).toBeUndefined();
      expect(containers().filter((c) => spec.containers.some((s) => s.name === c.name))).toEqual([]);
      expect(mine()).toEqual([]);
      expect(fs.existsSync(sysctlFile(spec.name))).toBe(false);
      expect(iptables("nat")).toContain(FOREIGN);
      expect(incusNft()).toBe(nftBefore);
    },
  );

  test("SSH cut mid-apply fails clearly; after sshd is back a re-apply converges to the clean state", async () => {
    const testbed = path.join(ROOT, "tests", "bed", "testbed.sh");
    let cut = false;
    const r = await apply(tenant, (line) => {
      if (!cut && /e2e-(proxy|dns|system|alm-ci)-instance/.test(line) && /ok|done|exit 0/.test(line)) {
        cut = true;
        execFileSync("bash", [testbed, "sshd-stop"]);
      }
    });
    expect(cut).toBe(true);
    expect(r.error?.message).toMatch(/ssh to root@127\.0\.0\.1:2222 failed/);
    execFileSync("bash", [testbed, "sshd-start"]);
    const again = await apply();
    expect(again.error).toBeUndefined();
    expect(again.ran.length).toBeGreaterThan(0);
    const view = (cs: ReturnType<typeof containers>) => cs.map((c) => ({ ...c, snapshots: [] }));
    expect(view(containers().filter((c) => spec.containers.some((s) => s.name === c.name)))).toEqual(
      view(cleanState),
    );
    expect(mine()).toEqual(cleanRules);
    expect((await apply()).ran).toEqual([]);
  });
});
