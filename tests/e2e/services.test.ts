/**
 * Services of a tenant end to end on the real test bed (issue 4): the real index.ts runs under
 * the engine double (tests/harness) and every remote.Command runs over real SSH. Tenant `svc`
 * (containers svc-proxy/-dns/-vault/-system at 198.18.2.20-.23, NAT 8080/8443 → Caddy,
 * 5353 tcp+udp → DNS) lives next to the lifecycle test's tenant and touches nothing of it.
 *
 * Stand-ins, because the real servers cannot be installed here:
 * - DNS: CoreDNS is not installable, so the zone file DnsZone writes is served by BIND's
 *   `named` in svc-dns (a master zone whose file is that path); after each apply `rndc reload`
 *   stands in for CoreDNS' file plugin, which reloads a zone by itself when its serial grows.
 *   The Corefile is written but nothing reads it.
 * - Vault: the FAKE VAULT of tests/bed/fake-vault.sh (a TEST STAND-IN, not HashiCorp Vault): a
 *   `vault` command that records its arguments (never stdin) in calls.log and stores what
 *   `kv put` read on stdin, plus a health endpoint on 127.0.0.1:8200 that can be sealed. It keeps
 *   policies and tokens and refuses a write whose token's policies do not grant it, logging each
 *   decision (auth.log): so the tests prove each path is written by its own scoped token and the
 *   root token only wrote policies and created tokens.
 * Caddy is the real caddy 2.6 of the image (`tls internal`: the offline test bed has no ACME).
 */
import * as path from "path";
import { runProgram, RunResult } from "../harness";
import { parseTenant } from "../../model";
import { renderVhost } from "../../render/caddy";
import { renderZone } from "../../render/zone";
import { SEALED_MESSAGE } from "../../render/vault";
import {
  client,
  containers,
  describeOnTestbed,
  harnessConfig,
  host,
  ourRules,
  ROOT,
  tempState,
  TestbedEnv,
} from "./testbed";
import * as fx from "./services-fixture";

jest.setTimeout(20 * 60 * 1000);
const INDEX = path.join(ROOT, "index.ts");
const names = (r: RunResult): string[] =>
  r.ran.map((c) => `${c.op} ${c.name}${c.exitCode === 0 ? "" : ` (exit ${c.exitCode})`}`).sort();
const today = (): string => host("date", ["-u", "+%Y%m%d"]).trim();
const expectedBump = (old: string): string => String(Math.max(Number(old) + 1, Number(`${today()}00`)));

describeOnTestbed(
  "services on the real test bed: Caddy vhosts, DNS zone (served by BIND), Vault paths (fake Vault)",
  (env: TestbedEnv) => {
    const full = fx.fullTenant(env);
    const state = tempState("services");
    /** Every harness `log` line and every console line the program printed, all runs. */
    const logs: string[] = [];
    const times: string[] = [];
    const t0 = Date.now();
    const apply = async (t: unknown, label: string): Promise<RunResult> => {
      const h = harnessConfig(env, t);
      const s = Date.now();
      // The program's own log lines (pulumi.log under mocks goes to the console) are checked too.
      const spies = (["log", "info", "warn", "error"] as const).map((m) => jest.spyOn(console, m));
      const r = await runProgram({
        programPath: INDEX,
        ...h,
        config: { ...h.config, "incus-tenant:llmApiKey": fx.LLM_API_KEY },
        secretKeys: [...h.secretKeys, "incus-tenant:llmApiKey"],
        stateFile: state,
        stack: "svc",
        log: (l) => logs.push(l),
      });
      for (const spy of spies) {
        for (const args of spy.mock.calls) logs.push(args.map(String).join(" "));
        spy.mockRestore();
      }
      times.push(`${label}: ${r.ran.length} commands, ${Date.now() - s} ms`);
      return r;
    };
    const destroy = () =>
      runProgram({
        programPath: INDEX,
        ...harnessConfig(env, full),
        stateFile: state,
        stack: "svc",
        destroy: true,
        log: (l) => logs.push(l),
      });
    const mine = () => containers().filter((c) => (fx.MY_CONTAINERS as readonly string[]).includes(c.name));
    const svcRules = () =>
      ourRules().filter((l) => l.includes("incus-tenant:svc:") || l.includes("ITN-svc-"));
    let destroyed = false;
    let serial1 = "";
    let withLogin: Record<string, any> = full;
    /** The image's own /etc/caddy/Caddyfile (Debian's), before the services apply. */
    let imageCaddyfile = "";

    beforeAll(async () => {
      fx.removeLeftovers(); // a crashed earlier run of this file: same exact names only
      // Containers and NAT first (no service sections), so the stand-ins can be set up in them.
      const r = await apply(fx.baseTenant(env), "containers + NAT");
      if (r.error) throw r.error;
      fx.startResponders();
      fx.setUpNamed();
      fx.installFakeVault();
      imageCaddyfile = fx.readIn("svc-proxy", "/etc/caddy/Caddyfile") ?? "";
    });

    afterAll(async () => {
      if (!destroyed) await destroy();
      fx.removeLeftovers();
      process.stdout.write(
        `services e2e wall time ${Math.round((Date.now() - t0) / 1000)} s\n  ${times.join("\n  ")}\n`,
      );
    });

    test(
      "(1) apply: Caddy serves each vhost by Host through the NAT, dig returns every record, exact kv puts, " +
        "no secret anywhere",
      async () => {
        const r = await apply(full, "apply services");
        expect(r.error).toBeUndefined();
        expect(names(r)).toEqual(
          [
            // The tenant preflight's checks grow with the service sections (caddy, named, vault).
            "create svc-preflight-check",
            "create svc-caddy-main",
            "create svc-vhost-alm-site",
            "create svc-vhost-chat-site",
            "create svc-zone-stage-example-com-zone",
            "create svc-corefile-corefile",
            "create svc-vault-preflight",
            "create svc-vault-gbo-llm-put",
            "create svc-vault-gbo-tenants-svc-infrastructure-put",
            "create svc-vault-env",
          ].sort(),
        );
        const spec = parseTenant(full);
        const caddy = spec.services.caddy!;

        // Caddy: the files are exactly the rendered ones, and each site answers by Host header.
        // The image's Caddyfile was not written by the program: never rewritten, one import line added.
        expect(imageCaddyfile).toContain(":80 {");
        expect(fx.readIn("svc-proxy", caddy.proxy.mainFile)).toBe(
          `${imageCaddyfile}${imageCaddyfile.endsWith("\n") ? "" : "\n"}import ${fx.SITES_DIR}/*.caddy\n`,
        );
        expect(Object.keys(fx.sitesFiles()).sort()).toEqual(["alm.caddy", "chat.caddy"]);
        for (const v of caddy.vhosts) expect(fx.readIn("svc-proxy", v.file)).toBe(renderVhost(v));
        expect(await fx.fetchSite(env, `chat.${fx.ZONE}`)).toBe(`system-8080 host=chat.${fx.ZONE}`);
        expect(await fx.fetchSite(env, `alm.${fx.ZONE}`)).toBe(`proxy-8081 host=alm.${fx.ZONE}`);
        const redirect = client(
          env,
          "curl -s -m 5 -o /dev/null -w '%{http_code} %{redirect_url}' " +
            `-H 'Host: chat.${fx.ZONE}' http://${env.HOST_EXT_IP}:${fx.PORTS.http}/`,
        ).stdout;
        expect(redirect).toBe(`308 https://chat.${fx.ZONE}/`);

        // DNS: named serves the file DnsZone wrote; every record and the YYYYMMDD00 serial.
        fx.reloadNamed();
        serial1 = await fx.servedSerial(env, (s) => s === `${today()}00`);
        expect(serial1).toBe(`${today()}00`);
        expect(fx.fileSerial()).toBe(serial1);
        const zone = spec.services.dns!.zones[0];
        expect(fx.readIn("svc-dns", zone.file)).toBe(renderZone(zone, serial1));
        const pub = [env.HOST_EXT_IP];
        for (const n of [fx.ZONE, `ns1.${fx.ZONE}`, `mail.${fx.ZONE}`, `chat.${fx.ZONE}`, `alm.${fx.ZONE}`])
          expect([n, fx.dig(env, n, "A")]).toEqual([n, pub]);
        expect(fx.dig(env, fx.ZONE, "MX")).toEqual([`10 mail.${fx.ZONE}.`]);
        expect(fx.dig(env, fx.ZONE, "NS", true)).toEqual([`ns1.${fx.ZONE}.`]);
        expect(fx.dig(env, fx.ZONE, "SOA")).toEqual([
          `ns1.${fx.ZONE}. hostmaster.example.com. ${serial1} 3600 900 1209600 300`,
        ]);

        // Vault (fake): per path, one policy and one scoped token made with the root token, then
        // with the scoped token one read of the path and, the path being new, one create-only
        // `kv put -cas=0 ... -`; values only on stdin, stored as sent.
        expect(fx.vaultCalls().sort()).toEqual(
          [
            "policy write incus-tenant-svc-gbo-llm - ",
            "token create -orphan -policy=incus-tenant-svc-gbo-llm -ttl=8760h " +
              "-display-name=incus-tenant-svc-gbo-llm -field=token ",
            "kv get -format=json -mount=secret gbo/llm ",
            "kv put -cas=0 -mount=secret gbo/llm - ",
            "policy write incus-tenant-svc-gbo-tenants-svc-infrastructure - ",
            "token create -orphan -policy=incus-tenant-svc-gbo-tenants-svc-infrastructure -ttl=8760h " +
              "-display-name=incus-tenant-svc-gbo-tenants-svc-infrastructure -field=token ",
            "kv get -format=json -mount=secret gbo/tenants/svc/infrastructure ",
            "kv put -cas=0 -mount=secret gbo/tenants/svc/infrastructure - ",
          ].sort(),
        );
        expect(fx.vaultAuth().sort()).toEqual(
          [
            "policy write incus-tenant-svc-gbo-llm by root",
            "token create incus-tenant-svc-gbo-llm by root",
            "read secret/data/gbo/llm by incus-tenant-svc-gbo-llm",
            "create secret/data/gbo/llm by incus-tenant-svc-gbo-llm",
            "policy write incus-tenant-svc-gbo-tenants-svc-infrastructure by root",
            "token create incus-tenant-svc-gbo-tenants-svc-infrastructure by root",
            "read secret/data/gbo/tenants/svc/infrastructure by incus-tenant-svc-gbo-tenants-svc-infrastructure",
            "create secret/data/gbo/tenants/svc/infrastructure by incus-tenant-svc-gbo-tenants-svc-infrastructure",
          ].sort(),
        );
        expect(fx.readIn("svc-vault", `${fx.FAKE_VAULT_STATE}/policies/incus-tenant-svc-gbo-llm`)).toBe(
          "# managed by incus-tenant: writes of secret/gbo/llm\n" +
            "# read: this path only, to merge (keys the stack does not list survive) and to adopt existing values\n" +
            'path "secret/data/gbo/llm" { capabilities = ["create", "read", "patch"] }\n' +
            'path "secret/metadata/gbo/llm" { capabilities = ["delete"] }\n',
        );
        const modes = fx.inc("svc-vault", [
          "sh",
          "-c",
          `stat -c '%n %a' ${fx.SCOPED_TOKEN_DIR} ${fx.SCOPED_TOKEN_DIR}/*`,
        ]);
        const files = ["gbo-llm.token", "gbo-tenants-svc-infrastructure.token"].flatMap((f) => [
          f,
          `${f}.policy`,
        ]);
        const want = [`${fx.SCOPED_TOKEN_DIR} 700`, ...files.map((f) => `${fx.SCOPED_TOKEN_DIR}/${f} 600`)];
        expect(modes.trim().split("\n")).toEqual(want);
        const tokens = fx.vaultTokens();
        expect(Object.keys(tokens).sort()).toEqual([
          "gbo-llm.token",
          "gbo-tenants-svc-infrastructure.token",
          "root",
        ]);
        // The scoped token of one path cannot write the other (the fake answers like Vault: 403).
        const put = "vault kv put -mount=secret gbo/tenants/svc/infrastructure - 2>&1";
        const withLlmToken = `VAULT_TOKEN=$(cat ${fx.SCOPED_TOKEN_DIR}/gbo-llm.token) ${put}; echo "exit $?"`;
        const cross = fx.inc("svc-vault", ["sh", "-c", withLlmToken], '{"tables_host":"evil"}');
        expect(cross).toBe("Error: Code: 403. Errors: * permission denied\nexit 2\n");
        expect(fx.vaultAuth().pop()).toBe(
          "update secret/data/gbo/tenants/svc/infrastructure DENIED for incus-tenant-svc-gbo-llm",
        );
        const gen = fx.generatedSecrets(state);
        expect(Object.keys(gen).sort()).toEqual([
          "svc-vault-gbo-llm-password",
          "svc-vault-gbo-tenants-svc-infrastructure-tables_password",
        ]);
        expect(gen["svc-vault-gbo-llm-password"]).toHaveLength(24);
        expect(gen["svc-vault-gbo-tenants-svc-infrastructure-tables_password"]).toHaveLength(32);
        expect(fx.vaultData("secret", "gbo/llm")).toBe(
          JSON.stringify({
            api_key: fx.LLM_API_KEY,
            password: gen["svc-vault-gbo-llm-password"],
            url: "http://198.18.2.23:8081",
          }),
        );
        expect(fx.vaultData("secret", "gbo/tenants/svc/infrastructure")).toBe(
          JSON.stringify({
            tables_database: "svc",
            tables_host: "198.18.2.23",
            tables_password: gen["svc-vault-gbo-tenants-svc-infrastructure-tables_password"],
          }),
        );
        expect(fx.readIn("svc-system", "/opt/gbo/bin/.env")).toBe("VAULT_ADDR=http://198.18.2.22:8200\n");
        expect(fx.inc("svc-system", ["stat", "-c", "%a", "/opt/gbo/bin/.env"]).trim()).toBe("600");

        const secrets = [fx.LLM_API_KEY, ...Object.values(gen), ...Object.values(tokens)];
        expect(secrets.every((x) => x.length >= 24)).toBe(true);
        const commands = fx.commandTexts(state);
        expect(commands.length).toBeGreaterThan(9);
        expect(logs.join("\n")).toContain("create svc-vault-gbo-llm-put ok");
        const places: [string, string][] = [
          ["fake vault calls.log (every argument)", fx.vaultCalls().join("\n")],
          ["fake vault auth.log", fx.vaultAuth().join("\n")],
          ["harness log lines and the program's console log", logs.join("\n")],
          ["plain outputs", JSON.stringify(r.outputs)],
          ...commands.map((c): [string, string] => [`command text of ${c.name}`, c.texts.join("\n")]),
          ...commands.map((c): [string, string] => [`stdout/stderr of ${c.name}`, c.output.join("\n")]),
        ];
        for (const [where, text] of places)
          for (const s of secrets)
            expect({ where, leaks: text.includes(s) }).toEqual({ where, leaks: false });
        // the outputs are there, just without values
        expect(JSON.stringify(r.outputs)).toContain("gbo/tenants/svc/infrastructure");
      },
    );

    test("(2) no-op re-apply: zero commands, same serial, same files, no Vault call", async () => {
      const sites = fx.sitesFiles();
      const calls = fx.vaultCalls();
      const r = await apply(full, "no-op re-apply");
      expect(r.error).toBeUndefined();
      expect(r.ran).toEqual([]);
      fx.reloadNamed();
      expect(await fx.servedSerial(env)).toBe(serial1);
      expect(fx.fileSerial()).toBe(serial1);
      expect(fx.sitesFiles()).toEqual(sites);
      expect(fx.vaultCalls()).toEqual(calls);
    });

    test(
      "(3) add one vhost (+ its A record): only its site and the zone run, one new file, serial +1, " +
        "other sites keep serving",
      async () => {
        withLogin = fx.clone(full);
        withLogin.vhosts.login = { upstream: { container: "svc-system", port: 8080 } };
        withLogin.dns.zones[fx.ZONE].records.push({ name: "login", type: "A", value: env.HOST_EXT_IP });
        const sites = fx.sitesFiles();
        // Six old backups of the zone file: the change keeps only the newest five backups.
        const old = [1, 2, 3, 4, 5, 6].map((i) => `${fx.ZONE_FILE}.bak-2020010100000${i}-202001010${i}`);
        fx.inc("svc-dns", ["touch", ...old]);
        const r = await apply(withLogin, "add vhost login");
        expect(r.error).toBeUndefined();
        expect(names(r)).toEqual(["create svc-vhost-login-site", "create svc-zone-stage-example-com-zone"]);
        const after = fx.sitesFiles();
        expect(Object.keys(after).filter((f) => !(f in sites))).toEqual(["login.caddy"]);
        expect(Object.fromEntries(Object.entries(after).filter(([f]) => f in sites))).toEqual(sites);
        expect(await fx.fetchSite(env, `login.${fx.ZONE}`)).toBe(`system-8080 host=login.${fx.ZONE}`);
        expect(await fx.fetchSite(env, `chat.${fx.ZONE}`)).toBe(`system-8080 host=chat.${fx.ZONE}`);
        expect(await fx.fetchSite(env, `alm.${fx.ZONE}`)).toBe(`proxy-8081 host=alm.${fx.ZONE}`);
        fx.reloadNamed();
        const want = expectedBump(serial1);
        expect(await fx.servedSerial(env, (s) => s === want)).toBe(want);
        expect(fx.fileSerial()).toBe(want);
        expect(fx.dig(env, `login.${fx.ZONE}`, "A")).toEqual([env.HOST_EXT_IP]);
        const backups = fx
          .inc("svc-dns", ["sh", "-c", `ls ${path.dirname(fx.ZONE_FILE)}`])
          .split("\n")
          .filter((f) => f.startsWith(`${fx.ZONE}.zone.bak-`))
          .sort();
        expect(backups).toHaveLength(5);
        expect(backups.slice(0, 4)).toEqual(old.slice(2).map((f) => path.basename(f)));
        expect(backups[4]).toMatch(
          new RegExp(`^${fx.ZONE.replace(/\./g, "\\.")}\\.zone\\.bak-\\d{14}-${serial1}$`),
        );
        serial1 = want;
        const again = await apply(withLogin, "no-op after add");
        expect(again.ran).toEqual([]);
      },
    );

    test(
      "(4) a vhost that fails `caddy validate` leaves the old config serving; " +
        "the apply fails with Caddy's message",
      async () => {
        // A hand-made site of the operator for legacy.stage.example.com is live; a vhost for the same
        // domain makes the merged config ambiguous, which only Caddy itself detects.
        fx.inc(
          "svc-proxy",
          ["sh", "-c", `cat > ${fx.SITES_DIR}/manual.caddy`],
          `legacy.${fx.ZONE} {\n\ttls internal\n\trespond "manual-legacy"\n}\n`,
        );
        fx.inc("svc-proxy", [
          "caddy",
          "reload",
          "--config",
          "/etc/caddy/Caddyfile",
          "--adapter",
          "caddyfile",
        ]);
        expect(await fx.fetchSite(env, `legacy.${fx.ZONE}`)).toBe("manual-legacy");
        const sites = fx.sitesFiles();
        const running = fx.caddyRunningConfig();
        try {
          const broken = fx.clone(withLogin);
          broken.vhosts.legacy = {
            domain: `legacy.${fx.ZONE}`,
            servedElsewhere: true,
            upstream: { container: "svc-system", port: 8080 },
          };
          const r = await apply(broken, "failing vhost");
          expect(names(r)).toEqual(["create svc-vhost-legacy-site (exit 1)"]);
          expect(r.error?.message).toContain(`ambiguous site definition: legacy.${fx.ZONE}`);
          expect(r.error?.message).toContain(
            `caddy validate failed for ${fx.SITES_DIR}/legacy.caddy: the previous config is back in place and ` +
              "still serving",
          );
          expect(fx.sitesFiles()).toEqual(sites);
          expect(fx.caddyRunningConfig()).toBe(running);
          expect(await fx.fetchSite(env, `legacy.${fx.ZONE}`)).toBe("manual-legacy");
          for (const [n, body] of [
            ["chat", "system-8080"],
            ["alm", "proxy-8081"],
            ["login", "system-8080"],
          ])
            expect(await fx.fetchSite(env, `${n}.${fx.ZONE}`)).toBe(`${body} host=${n}.${fx.ZONE}`);
        } finally {
          fx.inc("svc-proxy", ["rm", "-f", `${fx.SITES_DIR}/manual.caddy`]);
          fx.inc("svc-proxy", [
            "caddy",
            "reload",
            "--config",
            "/etc/caddy/Caddyfile",
            "--adapter",
            "caddyfile",
          ]);
        }
        expect((await apply(withLogin, "back to the good config")).ran).toEqual([]);
      },
    );

    test(
      "(5) sealed fake Vault: the put stops with the unseal message and writes nothing; unsealed, " +
        "it writes",
      async () => {
        const changed = fx.clone(withLogin);
        changed.vault.paths["gbo/llm"].keys.url = { value: "http://198.18.2.23:8082" };
        const calls = fx.vaultCalls();
        const stored = fx.vaultData("secret", "gbo/llm");
        fx.fakeVault("seal");
        try {
          const r = await apply(changed, "sealed vault");
          expect(names(r)).toEqual(["create svc-vault-gbo-llm-put (exit 1)"]);
          expect(r.error?.message).toContain(SEALED_MESSAGE);
          expect(SEALED_MESSAGE).toBe("Vault is sealed: unseal it with 3 of 5 keys");
          expect(fx.vaultCalls()).toEqual(calls);
          expect(fx.vaultData("secret", "gbo/llm")).toBe(stored);
        } finally {
          fx.fakeVault("unseal");
        }
        const r = await apply(changed, "unsealed vault");
        expect(r.error).toBeUndefined();
        expect(names(r)).toEqual(["create svc-vault-gbo-llm-put"]);
        // The stored scoped token reads the path and each key, then patches only what differs
        // (check-and-set on the version read); the root token is not used again.
        expect(fx.vaultCalls()).toEqual([
          ...calls,
          "token lookup ",
          "kv get -format=json -mount=secret gbo/llm ",
          ...["api_key", "password", "url"].map(
            (k) => `kv get -format=json -field=${k} -mount=secret gbo/llm `,
          ),
          "kv patch -method=patch -cas=1 -mount=secret gbo/llm - ",
        ]);
        expect(fx.vaultAuth().slice(-6)).toEqual([
          "lookup-self by incus-tenant-svc-gbo-llm",
          ...Array(4).fill("read secret/data/gbo/llm by incus-tenant-svc-gbo-llm"),
          "patch secret/data/gbo/llm by incus-tenant-svc-gbo-llm",
        ]);
        const gen = fx.generatedSecrets(state);
        expect(fx.vaultData("secret", "gbo/llm")).toBe(
          JSON.stringify({
            api_key: fx.LLM_API_KEY,
            password: gen["svc-vault-gbo-llm-password"],
            url: "http://198.18.2.23:8082",
          }),
        );
        expect(stored).toContain(gen["svc-vault-gbo-llm-password"]); // the generated value stayed stable
      },
    );

    test("(6) a keepOnDestroy: false path leaves the stack: deleted with its scoped token, then revoked", async () => {
      const without = fx.clone(withLogin);
      delete without.vault.paths["gbo/llm"];
      const r = await apply(without, "vault path removed");
      expect(r.error).toBeUndefined();
      expect(names(r)).toEqual(["delete svc-vault-gbo-llm-put"]);
      expect(fx.vaultAuth().slice(-3)).toEqual([
        "lookup-self by incus-tenant-svc-gbo-llm",
        "delete secret/metadata/gbo/llm by incus-tenant-svc-gbo-llm",
        "revoke-self by incus-tenant-svc-gbo-llm",
      ]);
      expect(fx.vaultData("secret", "gbo/llm")).toBeUndefined();
      expect(fx.readIn("svc-vault", `${fx.SCOPED_TOKEN_DIR}/gbo-llm.token`)).toBeUndefined();
      expect(fx.vaultData("secret", "gbo/tenants/svc/infrastructure")).toContain('"tables_database":"svc"');
    });

    test("(7) destroy: containers, NAT rules and chains of svc are gone", async () => {
      const r = await destroy();
      expect(r.error).toBeUndefined();
      destroyed = true;
      expect(r.ran.every((c) => c.op === "delete" && c.exitCode === 0)).toBe(true);
      expect(mine()).toEqual([]);
      expect(svcRules()).toEqual([]);
      expect(
        host("bash", ["-c", "ls /etc/sysctl.d/60-incus-tenant-svc.conf 2>/dev/null || true"]).trim(),
      ).toBe("");
    });
  },
);
