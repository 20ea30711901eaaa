/**
 * Issue 12, Vault part, end to end on the real test bed: a runbook-built Vault is adopted with
 * nothing lost. The real index.ts runs under the engine double (tests/harness); every
 * remote.Command runs over real SSH. Tenant `av` (containers av-vault 198.18.2.88 and av-system
 * 198.18.2.89, no NAT). Vault is the FAKE VAULT of tests/bed/fake-vault.sh (a TEST STAND-IN, not
 * HashiCorp Vault: KV v2 get/put/patch with check-and-set, policies enforced per capability).
 *
 * Before the first apply, an operator has written the paths by hand with the root token: the
 * stack's keys (a generated one included) and keys the stack does not list; and a .env with
 * VAULT_* lines and one foreign variable. Then: apply → every pre-existing value and unknown key
 * unchanged, absent generated keys created, .env untouched; second apply → no command, no Vault
 * call; `rotate` on one key → exactly that key changes.
 */
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as path from "path";
import { runProgram, RunResult } from "../harness";
import {
  containers,
  describeOnTestbed,
  e2eTenant,
  harnessConfig,
  host,
  ROOT,
  tempState,
  TestbedEnv,
} from "./testbed";
import { clone, commandTexts, generatedSecrets, inc, readIn } from "./services-fixture";

jest.setTimeout(15 * 60 * 1000);
const INDEX = path.join(ROOT, "index.ts");
const TENANT = "av";
const MY_CONTAINERS = ["av-vault", "av-system"] as const;
const STATE_DIR = "/var/lib/fake-vault";
const ENV_FILE = "/opt/gbo/bin/.env";
const OPENAI_KEY = "av-test-openai-key-5e6f7a8b9c0d1e2f";
/** What the operator wrote by hand (seed 000's keys, values of the test bed) before the first apply. */
const HAND: Record<string, Record<string, string>> = {
  "gbo/tables": {
    host: "198.18.2.89",
    port: "5432",
    database: "botserver",
    username: "gbuser",
    password: "av-hand-pg-password-9f8e7d6c5b4a",
    replica_host: "198.18.2.90",
  },
  "gbo/llm": {
    url: "http://198.18.2.89:8081",
    model: "av-test-model",
    openai_key: OPENAI_KEY,
    anthropic_key: "av-test-anthropic-key-0a1b2c3d4e5f",
  },
};
const HAND_ENV = "VAULT_ADDR=http://198.18.2.88:8200\nVAULT_CACERT=/opt/gbo/conf/ca.crt\nRUST_LOG=info\n";
const names = (r: RunResult): string[] =>
  r.ran.map((c) => `${c.op} ${c.name}${c.exitCode === 0 ? "" : ` (exit ${c.exitCode})`}`).sort();
/** The Vault commands that ran (other tenant-wide commands, e.g. a whole-tenant preflight, are not this file's). */
const vaultNames = (r: RunResult): string[] => names(r).filter((n) => / av-vault-/.test(n));

/** Containers only (no service sections). */
function baseTenant(env: TestbedEnv): Record<string, any> {
  const raw = e2eTenant(env);
  raw.name = TENANT;
  raw.containers = {
    "av-vault": { ipv4: "198.18.2.88", ports: [8200] },
    "av-system": { ipv4: "198.18.2.89", ports: [5858] },
  };
  raw.nat = [];
  delete raw.proxy;
  delete raw.vhosts;
  delete raw.dns;
  return raw;
}

/** The stack: seed 000's keys for gbo/tables and gbo/llm (a subset), plus gbo/jwt, absent in Vault. */
function fullTenant(env: TestbedEnv): Record<string, any> {
  const t = baseTenant(env);
  t.vault = {
    container: "av-vault",
    address: "http://127.0.0.1:8200",
    tokenFile: `${STATE_DIR}/token`,
    mount: "secret",
    paths: {
      "gbo/tables": {
        keys: {
          host: { value: "198.18.2.89" },
          port: { value: "5432" },
          database: { value: "botserver" },
          username: { value: "gbuser" },
          password: { generate: { length: 32 } },
          app_secret: { generate: { length: 24 } },
        },
      },
      "gbo/llm": {
        keys: { url: { value: "http://198.18.2.89:8081" }, openai_key: { fromConfig: "llmOpenaiKey" } },
      },
      "gbo/jwt": { keys: { secret: { generate: { length: 48 } } } },
    },
    envFile: { container: "av-system", path: ENV_FILE, variables: { VAULT_ADDR: "http://198.18.2.88:8200" } },
  };
  return t;
}

/** The fake Vault's data at a path (root token, `vault kv get -format=json`), or undefined. */
function vaultGet(kvPath: string): { data: Record<string, string>; version: number } | undefined {
  const r = spawnSync(
    "incus",
    [
      "exec",
      "av-vault",
      "--",
      "sh",
      "-c",
      `VAULT_TOKEN=$(cat ${STATE_DIR}/token) vault kv get -format=json -mount=secret ${kvPath}`,
    ],
    { encoding: "utf8" },
  );
  if (r.status !== 0) return undefined;
  const j = JSON.parse(r.stdout) as { data: { data: Record<string, string>; metadata: { version: number } } };
  return { data: j.data.data, version: j.data.metadata.version };
}
const calls = (): string[] =>
  (readIn("av-vault", `${STATE_DIR}/calls.log`) ?? "").split("\n").filter((l) => l !== "");

function removeLeftovers(): void {
  for (const c of MY_CONTAINERS) spawnSync("incus", ["delete", "--force", c], { encoding: "utf8" });
  const nat = host("iptables-save", ["-t", "nat"]).split("\n");
  for (const l of nat.filter((x) => x.startsWith("-A ") && / -j ITN-av-(PRE|POST)( |$)/.test(x)))
    spawnSync("bash", ["-c", `iptables -t nat ${l.replace(/^-A /, "-D ")}`]);
  for (const chain of ["ITN-av-PRE", "ITN-av-POST"]) {
    spawnSync("iptables", ["-t", "nat", "-F", chain]);
    spawnSync("iptables", ["-t", "nat", "-X", chain]);
  }
  spawnSync("rm", ["-f", "/etc/sysctl.d/60-incus-tenant-av.conf"]);
}

describeOnTestbed(
  "adopting a hand-built Vault (fake Vault): nothing lost, nothing rewritten, explicit rotation",
  (env) => {
    const full = fullTenant(env);
    const state = tempState("adopt-vault");
    const logs: string[] = [];
    let destroyed = false;
    const apply = (t: unknown): Promise<RunResult> => {
      const h = harnessConfig(env, t);
      return runProgram({
        programPath: INDEX,
        ...h,
        config: { ...h.config, "incus-tenant:llmOpenaiKey": OPENAI_KEY },
        secretKeys: [...h.secretKeys, "incus-tenant:llmOpenaiKey"],
        stateFile: state,
        stack: TENANT,
        log: (l) => logs.push(l),
      });
    };
    const destroy = () =>
      runProgram({
        programPath: INDEX,
        ...harnessConfig(env, full),
        stateFile: state,
        stack: TENANT,
        destroy: true,
      });

    beforeAll(async () => {
      removeLeftovers();
      const r = await apply(baseTenant(env));
      if (r.error) throw r.error;
      // The runbook way, by hand: the fake Vault, the values with the root token, the .env.
      inc(
        "av-vault",
        ["sh", "-c", "cat > /usr/local/sbin/fake-vault.sh"],
        fs.readFileSync(path.join(ROOT, "tests", "bed", "fake-vault.sh"), "utf8"),
      );
      inc("av-vault", ["bash", "/usr/local/sbin/fake-vault.sh", "install"]);
      for (const [kvPath, data] of Object.entries(HAND))
        inc(
          "av-vault",
          [
            "sh",
            "-c",
            `VAULT_TOKEN=$(cat ${STATE_DIR}/token) vault kv put -mount=secret ${kvPath} - >/dev/null`,
          ],
          JSON.stringify(data),
        );
      inc(
        "av-system",
        ["sh", "-c", `mkdir -p /opt/gbo/bin && cat > ${ENV_FILE} && chmod 0600 ${ENV_FILE}`],
        HAND_ENV,
      );
    });

    afterAll(async () => {
      if (!destroyed) await destroy();
      removeLeftovers();
    });

    test("first apply: every pre-existing value and unknown key unchanged; absent generated keys created", async () => {
      const r = await apply(full);
      expect(r.error).toBeUndefined();
      expect(r.ran.every((c) => c.exitCode === 0)).toBe(true);
      expect(vaultNames(r)).toEqual(
        [
          "create av-vault-preflight",
          "create av-vault-gbo-jwt-put",
          "create av-vault-gbo-llm-put",
          "create av-vault-gbo-tables-put",
          "create av-vault-env",
        ].sort(),
      );
      const gen = generatedSecrets(state);
      expect(vaultGet("gbo/tables")).toEqual({
        data: { ...HAND["gbo/tables"], app_secret: gen["av-vault-gbo-tables-app_secret"] },
        version: 2,
      });
      expect(gen["av-vault-gbo-tables-password"]).not.toBe(HAND["gbo/tables"].password); // adopted, not written
      expect(vaultGet("gbo/llm")).toEqual({ data: HAND["gbo/llm"], version: 1 }); // nothing to write
      expect(vaultGet("gbo/jwt")).toEqual({ data: { secret: gen["av-vault-gbo-jwt-secret"] }, version: 1 });
      expect(readIn("av-system", ENV_FILE)).toBe(HAND_ENV);
      // Writes: a patch with check-and-set for the existing path, a create-only put for the new one.
      // (the first two are the operator's own puts, before the apply)
      expect(
        calls()
          .filter((c) => /^kv (put|patch) /.test(c))
          .sort(),
      ).toEqual(
        [
          "kv put -mount=secret gbo/tables - ",
          "kv put -mount=secret gbo/llm - ",
          "kv put -cas=0 -mount=secret gbo/jwt - ",
          "kv patch -method=patch -cas=1 -mount=secret gbo/tables - ",
        ].sort(),
      );
      // What preview diffs (the create texts) names the keys and their policy, never a value.
      const texts = commandTexts(state);
      const tables = texts.find((c) => c.name === "av-vault-gbo-tables-put");
      expect(tables?.texts[0]).toContain(
        "# keys (values on stdin only): app_secret=adopt database=set host=set password=adopt port=set username=set",
      );
      const secrets = [
        ...Object.values(gen),
        OPENAI_KEY,
        HAND["gbo/tables"].password,
        HAND["gbo/llm"].anthropic_key,
      ];
      for (const c of texts) for (const t of c.texts) for (const s of secrets) expect(t).not.toContain(s);
      for (const s of secrets) {
        expect(calls().join("\n")).not.toContain(s);
        expect(logs.join("\n")).not.toContain(s);
      }
    });

    test("second apply: no command runs, no Vault call, same versions", async () => {
      const before = calls();
      const r = await apply(full);
      expect(r.error).toBeUndefined();
      expect(names(r)).toEqual([]);
      expect(calls()).toEqual(before);
      expect([
        vaultGet("gbo/tables")?.version,
        vaultGet("gbo/llm")?.version,
        vaultGet("gbo/jwt")?.version,
      ]).toEqual([2, 1, 1]);
    });

    test("rotate: a token on gbo/tables password changes exactly that key; again: nothing", async () => {
      const rotated = clone(full);
      rotated.vault.paths["gbo/tables"].keys.password = { generate: { length: 32 }, rotate: "r1" };
      const before = vaultGet("gbo/tables");
      const r = await apply(rotated);
      expect(r.error).toBeUndefined();
      expect(vaultNames(r)).toEqual(["create av-vault-gbo-tables-put"]);
      const gen = generatedSecrets(state);
      expect(gen["av-vault-gbo-tables-password"]).toHaveLength(32);
      expect(vaultGet("gbo/tables")).toEqual({
        data: { ...before?.data, password: gen["av-vault-gbo-tables-password"] },
        version: 3,
      });
      expect(vaultGet("gbo/llm")?.data).toEqual(HAND["gbo/llm"]);
      const text = commandTexts(state).find((c) => c.name === "av-vault-gbo-tables-put")?.texts[0] ?? "";
      expect(text).toContain("password=rotate:r1");
      expect(text).not.toContain(gen["av-vault-gbo-tables-password"]);
      const again = await apply(rotated);
      expect(names(again)).toEqual([]);
      expect(vaultGet("gbo/tables")?.version).toBe(3);
    });

    test("destroy: the paths are kept (keepOnDestroy), the containers of av are gone", async () => {
      const r = await destroy();
      expect(r.error).toBeUndefined();
      destroyed = true;
      expect(containers().filter((c) => (MY_CONTAINERS as readonly string[]).includes(c.name))).toEqual([]);
    });
  },
);
