/**
 * The real program under Pulumi's mock runtime (the Pulumi engine and provider plugins cannot
 * be installed here): exact children and the inputs of every remote.Command.
 */
import type { MockResourceArgs } from "@pulumi/pulumi/runtime";
import { parseTenant } from "../../model";
import { renderContainer } from "../../render/container";
import { renderNatRule } from "../../render/nat";
import { remoteBash } from "../../render/shell";
import { baseTenant, DOC_HOST_KEY, stackTenant } from "./fixtures";
import { planDocument, planText } from "../../render/plan";
import { fakeGenerated, runIndex, TEST_SECRETS, unwrapSecrets } from "./mockRuntime";
import {
  childName,
  commandName,
  componentName,
  HOST_COMMANDS,
  tenantResources,
  TYPES,
} from "../../components/names";

const KEY = "-----BEGIN OPENSSH PRIVATE KEY-----\nSECRET-TEST-KEY-4711\n-----END OPENSSH PRIVATE KEY-----";
const commands = (rs: MockResourceArgs[]) => rs.filter((r) => r.type === "command:remote:Command");
const byName = (rs: MockResourceArgs[], name: string) => {
  const r = rs.find((x) => x.name === name);
  if (!r) throw new Error(`no resource ${name}`);
  return unwrapSecrets(r.inputs) as Record<string, any>;
};

/** Caddy main + one site per vhost, one zone per zone + the Corefile, Vault preflight/paths/env. */
function serviceChildren(spec: ReturnType<typeof parseTenant>): string[] {
  const { caddy, dns, vault } = spec.services;
  const [t, cmd] = ["acme", TYPES.command];
  return [
    ...(caddy
      ? [`${TYPES.caddyProxy} ${componentName.caddyProxy(t)}`, `${cmd} ${commandName.caddyMain(t)}`]
      : []),
    ...(caddy?.vhosts ?? []).flatMap((v) => [
      `${TYPES.caddyVhost} ${componentName.caddyVhost(t, v.key)}`,
      `${cmd} ${commandName.vhostSite(t, v.key)}`,
    ]),
    ...(dns
      ? [`${TYPES.corefile} ${componentName.corefile(t)}`, `${cmd} ${commandName.corefileFile(t)}`]
      : []),
    ...(dns?.zones ?? []).flatMap((z) => [
      `${TYPES.dnsZone} ${componentName.dnsZone(t, z.name)}`,
      `${cmd} ${commandName.zoneFile(t, z.name)}`,
    ]),
    ...(vault
      ? [
          `${TYPES.vault} ${componentName.vault(t)}`,
          `${cmd} ${childName.vaultPreflight(componentName.vault(t))}`,
          ...(vault.envFile ? [`${cmd} ${childName.vaultEnv(componentName.vault(t))}`] : []),
        ]
      : []),
    ...(vault?.paths ?? []).flatMap((p) => {
      const path = childName.vaultPath(componentName.vault(t), p.key);
      return [
        `${TYPES.vaultPath} ${path}`,
        `${cmd} ${childName.vaultPut(path)}`,
        ...p.keys
          .filter((k) => k.source.kind === "generate")
          .map((k) => `${TYPES.randomPassword} ${childName.generated(path, k.name)}`),
      ];
    }),
  ];
}

describe.each(["prod", "stage"] as const)("stack %s under setMocks", (stack) => {
  let run: Awaited<ReturnType<typeof runIndex>>;
  const spec = parseTenant(stackTenant(stack));
  beforeAll(async () => {
    run = await runIndex(stackTenant(stack), stack, KEY);
  });

  test("the program ran without error", () => expect(run.error).toBeUndefined());

  test(
    "exact children: Tenant, Host + 4 commands, one Container per container, one NatRule per rule, " +
      "the services",
    () => {
      const names = run.resources.map((r) => `${r.type} ${r.name}`).sort();
      const expected = [
        `${TYPES.tenant} acme`,
        `${TYPES.host} ${componentName.host("acme")}`,
        ...HOST_COMMANDS.map((k) => `${TYPES.command} ${commandName.host("acme", k)}`),
        `${TYPES.preflight} ${componentName.preflight("acme")}`,
        `${TYPES.command} ${childName.preflightCheck(componentName.preflight("acme"))}`,
        ...spec.containers.flatMap((c) => [
          `${TYPES.container} ${componentName.container("acme", c.name)}`,
          `${TYPES.command} ${commandName.instance("acme", c.name)}`,
        ]),
        ...spec.nat.flatMap((r) => [
          `${TYPES.natRule} ${componentName.natRule("acme", r.key)}`,
          `${TYPES.command} ${commandName.dnat("acme", r.key)}`,
          `${TYPES.command} ${childName.confirm(componentName.natRule("acme", r.key))}`,
        ]),
        ...serviceChildren(spec),
        `${TYPES.approval} ${componentName.approval("acme")}`,
        `${TYPES.stackReference} organization/incus-tenant/${stack}`,
      ].sort();
      expect(names).toEqual(expected);
      expect(spec.containers).toHaveLength(15);
      expect(spec.nat).toHaveLength(16);
    },
  );

  test("every registered resource's type and name is one components/names.ts lists", () => {
    const listed = tenantResources(spec);
    const view = (rs: { type: string; name: string }[]) => rs.map((r) => `${r.type} ${r.name}`).sort();
    expect(view(run.resources.filter((r) => r.type !== TYPES.stackReference))).toEqual(view(listed));
    expect(new Set(view(listed)).size).toBe(listed.length);
  });

  test("every command: same pinned connection, script in create, no env, no update", () => {
    for (const c of commands(run.resources)) {
      const inputs = unwrapSecrets(c.inputs) as Record<string, any>;
      expect(inputs.connection).toEqual({
        host: stack === "prod" ? "203.0.113.10" : "203.0.113.20",
        port: 22,
        user: "admin",
        hostKey: DOC_HOST_KEY,
        privateKey: KEY,
        dialErrorLimit: 3,
        perDialTimeout: 15,
      });
      expect(inputs.create).toMatch(/^sudo -n bash -c '# managed by incus-tenant: /);
      expect(inputs.addPreviousOutputInEnv).toBe(false);
      expect(inputs.environment).toBeUndefined();
      expect(inputs.update).toBeUndefined();
    }
  });

  test("the private key is a secret and appears in no command text and no output", () => {
    for (const c of commands(run.resources)) {
      expect(c.inputs.connection["4dabf18193072939515e22adb298388d"]).toBeDefined();
      const inputs = unwrapSecrets(c.inputs) as Record<string, any>;
      for (const text of [inputs.create, inputs.delete, inputs.stdin])
        expect(String(text)).not.toContain("SECRET-TEST-KEY");
    }
    expect(JSON.stringify(run.exports)).not.toContain("SECRET-TEST-KEY");
  });

  test("container commands are exactly the rendered scripts; system privileged, others not", () => {
    for (const c of spec.containers) {
      const inputs = byName(run.resources, commandName.instance("acme", c.name));
      const pair = renderContainer(spec, c);
      expect(inputs.create).toBe(remoteBash(pair.create, true));
      expect(inputs.delete).toBe(remoteBash(pair.delete!, true));
      expect(inputs.create).toContain(`-c security.privileged=${c.name === "system"}`);
      expect(inputs.create).toContain(`-c security.protection.delete=${stack === "prod"}`);
    }
  });

  test("NAT commands: one per rule, each DNAT bound to -i eth0, exactly the rendered script", () => {
    for (const r of spec.nat) {
      const inputs = byName(run.resources, commandName.dnat("acme", r.key));
      expect(inputs.create).toBe(remoteBash(renderNatRule(spec, r).create, true));
      expect(inputs.create).toContain(`-i eth0 -p ${r.protocol} -m ${r.protocol} --dport ${r.port} `);
      expect(inputs.create).toContain(`--to-destination ${r.destination}`);
    }
  });

  test("no Incus proxy device is ever added, and the container script removes any it finds", () => {
    for (const c of commands(run.resources)) {
      expect(String(unwrapSecrets(c.inputs.create))).not.toMatch(/device add [^\n]* proxy/);
    }
    expect(byName(run.resources, "acme-proxy-instance").create).toContain(
      "= proxy ]; then incus config device remove",
    );
  });

  test("outputs: container→IP map and NAT lines, plain", () => {
    expect(run.exports.containerIps).toEqual(
      Object.fromEntries(spec.containers.map((c) => [c.name, c.ipv4])),
    );
    expect(run.exports.natTable).toContain(
      `tcp/443 -> proxy ${spec.containers.find((c) => c.name === "proxy")!.ipv4}:443 (from any)`,
    );
    expect(run.exports.environment).toBe(stack);
  });

  test(
    "no secret (config or generated) appears in any command text or plain output; " +
      "Vault puts hide their output",
    () => {
      const secrets = [
        ...Object.values(TEST_SECRETS),
        ...run.resources.filter((r) => r.type.startsWith("random:")).map((r) => fakeGenerated(r.name)),
      ];
      expect(secrets.length).toBeGreaterThan(10);
      const plain =
        JSON.stringify(run.exports) + JSON.stringify(planDocument(stack, spec)) + planText(stack, spec);
      const puts = commands(run.resources).filter((c) => c.name.endsWith("-put"));
      expect(puts).toHaveLength(spec.services.vault!.paths.length);
      for (const c of commands(run.resources)) {
        const inputs = unwrapSecrets(c.inputs) as Record<string, any>;
        for (const secret of secrets) {
          expect(String(inputs.create)).not.toContain(secret);
          expect(String(inputs.delete)).not.toContain(secret);
          expect(plain).not.toContain(secret);
        }
      }
      for (const c of puts) {
        expect(c.inputs.logging).toBe("none");
        expect(c.inputs.stdin["4dabf18193072939515e22adb298388d"]).toBeDefined(); // a secret
      }
      // The values do travel: on stdin, to the put of their path.
      const tables = unwrapSecrets(
        puts.find((c) => c.name === "acme-vault-gbo-tables-put")!.inputs,
      ) as Record<string, any>;
      // One `"name":<json string>` line per key (render/vault/keys.ts vaultStdin).
      const keysOf = (stdin: string): Record<string, string> =>
        JSON.parse(`{${stdin.trim().split("\n").join(",")}}`) as Record<string, string>;
      expect(keysOf(tables.stdin)).toEqual(
        expect.objectContaining({ password: fakeGenerated("acme-vault-gbo-tables-password"), port: "5432" }),
      );
      const llm = unwrapSecrets(puts.find((c) => c.name === "acme-vault-gbo-llm-put")!.inputs) as Record<
        string,
        any
      >;
      expect(keysOf(llm.stdin)).toEqual(
        expect.objectContaining({
          openai_key: TEST_SECRETS.llmOpenaiKey,
          anthropic_key: TEST_SECRETS.llmAnthropicKey,
        }),
      );
    },
  );

  test("a missing fromConfig secret stops the program before any resource, naming the field", async () => {
    const { directoryClientSecret: _missing, ...others } = TEST_SECRETS;
    const r = await runIndex(stackTenant(stack), stack, KEY, others);
    expect(r.error?.message).toBe(
      "missing secret config (1):\n  - vault.paths.gbo/directory.keys.client_secret.fromConfig: " +
        'secret "incus-tenant:directoryClientSecret" is not set: ' +
        "pulumi config set --secret incus-tenant:directoryClientSecret",
    );
    expect(r.resources).toEqual([]);
  });

  test("nothing changes between two runs of the same config", async () => {
    const again = await runIndex(stackTenant(stack), stack, KEY);
    const view = (rs: MockResourceArgs[]) =>
      rs.map((r) => [r.type, r.name, JSON.stringify(unwrapSecrets(r.inputs))]).sort();
    expect(view(again.resources)).toEqual(view(run.resources));
  });
});

describe("bad config", () => {
  test("is rejected before any resource is registered, naming the field", async () => {
    const raw = baseTenant();
    raw.nat[0].to = "prxy";
    const run = await runIndex(raw, "prod", KEY);
    expect(run.error?.message).toContain('nat[0].to: unknown container "prxy"');
    expect(run.resources).toEqual([]);
  });
});

describe("parents and ordering", () => {
  test("commands are children of their component; containers wait for the host, NAT for its container", async () => {
    const pulumi = await import("@pulumi/pulumi");
    await pulumi.runtime.setMocks(
      { newResource: (a) => ({ id: a.name, state: a.inputs }), call: (a) => a.inputs },
      "incus-tenant",
      "prod",
      false,
    );
    const { Tenant } = await import("../../components/tenant");
    const t = new Tenant("acme", { spec: parseTenant(baseTenant()), sshPrivateKey: KEY });
    const urn = (r: { urn: import("@pulumi/pulumi").Output<string> }) =>
      new Promise<string>((res) => r.urn.apply(res));
    expect(await urn(t.containers.proxy.instance)).toBe(
      "urn:pulumi:prod::incus-tenant::incus-tenant:incus:Container$command:remote:Command::acme-proxy-instance",
    );
    expect(await urn(t.natRules["tcp-443"].dnat)).toBe(
      "urn:pulumi:prod::incus-tenant::incus-tenant:net:NatRule$command:remote:Command::acme-nat-tcp-443-dnat",
    );
    expect(await urn(t.host)).toBe(
      "urn:pulumi:prod::incus-tenant::incus-tenant:index:Tenant$incus-tenant:host:Host::acme-host",
    );
    expect(t.host.ready).toHaveLength(4);
  });
});
