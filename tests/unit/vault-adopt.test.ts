/**
 * Issue 12 (adopt a running tenant, nothing lost), Vault part: the rotate field (exact
 * messages), the put's text (key names and policies, never a value), and the rendered put run
 * for real against the FAKE Vault (tests/bed/fake-vault.sh) holding hand-written values and keys
 * the stack does not list: merge (never replace), adopt, set, rotate, check-and-set, nothing
 * written twice. The .env edit in place is run for real on a hand-written file.
 */
import * as fs from "fs";
import * as path from "path";
import {
  checkVault,
  deriveVault,
  RawVaultSection,
  ROTATE_NEEDS_GENERATE,
  ROTATE_TOKEN_MESSAGE,
  VaultSpec,
  vaultSectionSchema,
} from "../../model/vault";
import {
  goJsonString,
  policyText,
  renderVaultEnvFile,
  renderVaultPut,
  scopedTokenFile,
  vaultPlan,
  vaultStdin,
} from "../../render/vault";
import { stackTenant } from "./fixtures";
import { makeVaultBed, VaultBed } from "./vault-bed";

const gen = { generate: { length: 32 } };
const spec = (raw: RawVaultSection, tenant = "acme"): VaultSpec =>
  deriveVault(vaultSectionSchema.parse(raw), tenant);

describe("rotate: schema and rules (exact messages)", () => {
  test("the messages", () => {
    expect(ROTATE_TOKEN_MESSAGE).toBe(
      'must be a short word: 1 to 32 letters, digits, ".", "_" or "-", starting with a letter or digit (e.g. 2025-06)',
    );
    expect(ROTATE_NEEDS_GENERATE).toBe(
      "rotate applies only to a generate key (value and fromConfig keys are written whenever they differ)",
    );
  });

  test.each([["two words"], [""], ["-r1"], ["a".repeat(33)], ["r1;reboot"], ["r\n1"]])(
    "rotate %j is refused with the exact message at its field path",
    (token) => {
      const r = vaultSectionSchema.safeParse({
        paths: { "gbo/x": { keys: { a: { ...gen, rotate: token } } } },
      });
      expect(r.success).toBe(false);
      expect(r.success ? [] : r.error.issues.map((i) => [i.path.join("."), i.message])).toEqual([
        ["paths.gbo/x.keys.a.rotate", ROTATE_TOKEN_MESSAGE],
      ]);
    },
  );

  test.each([["2025-06"], ["r1"], ["A.b_c-9"], ["x".repeat(32)]])("rotate %j is accepted", (token) => {
    const raw = { paths: { "gbo/x": { keys: { a: { ...gen, rotate: token } } } } };
    expect(checkVault(vaultSectionSchema.parse(raw))).toEqual([]);
    expect(spec(raw).paths[0].keys[0].source).toEqual({
      kind: "generate",
      length: 32,
      special: false,
      rotate: token,
    });
  });

  test("rotate on a value or fromConfig key is refused, naming the field", () => {
    const raw = {
      paths: {
        "gbo/x": { keys: { url: { value: "http://x", rotate: "r1" }, k: { fromConfig: "k", rotate: "r1" } } },
      },
    };
    expect(checkVault(vaultSectionSchema.parse(raw))).toEqual([
      { path: "vault.paths.gbo/x.keys.url.rotate", message: ROTATE_NEEDS_GENERATE },
      { path: "vault.paths.gbo/x.keys.k.rotate", message: ROTATE_NEEDS_GENERATE },
    ]);
  });

  test("without rotate the derived source has no rotate field (keepers of existing stacks stay the same)", () => {
    expect(spec({ paths: { "gbo/x": { keys: { a: gen } } } }).paths[0].keys[0].source).toEqual({
      kind: "generate",
      length: 32,
      special: false,
    });
  });
});

describe("what preview shows: key names and policies in the command text, never a value", () => {
  // The prod stack's vault section, each literal replaced by a marker, one key rotated.
  const raw = stackTenant("prod").vault as RawVaultSection & {
    paths: Record<string, { keys: Record<string, any> }>;
  };
  for (const [p, def] of Object.entries(raw.paths))
    for (const [k, key] of Object.entries(def.keys))
      if (key.value !== undefined) def.keys[k] = { value: `LITERAL-${p}-${k}`.replace(/[{}]/g, "") };
  raw.paths["gbo/jwt"].keys.secret = { generate: { length: 64 }, rotate: "2025-06" };
  const v = spec(raw);

  test("every key is named with its policy (adopt/set/rotate:<token>); no literal value in any text", () => {
    for (const p of v.paths) {
      const pair = renderVaultPut(v, p);
      const line = pair.create.split("\n")[3];
      const want = p.keys.map((k) => {
        const s = k.source;
        if (s.kind !== "generate") return `${k.name}=set`;
        return s.rotate !== undefined ? `${k.name}=rotate:${s.rotate}` : `${k.name}=adopt`;
      });
      expect(line).toBe(`# keys (values on stdin only): ${want.join(" ")}`);
      for (const k of p.keys) expect(pair.create).toContain(`decide ${k.name} `);
      for (const text of [pair.create, pair.delete ?? ""]) expect(text).not.toContain("LITERAL-");
    }
    expect(
      renderVaultPut(
        v,
        v.paths.find((p) => p.path === "gbo/jwt")!,
      ).create.split("\n")[3],
    ).toBe("# keys (values on stdin only): secret=rotate:2025-06");
    expect(
      renderVaultPut(
        v,
        v.paths.find((p) => p.path === "gbo/llm")!,
      ).create.split("\n")[3],
    ).toBe("# keys (values on stdin only): anthropic_key=set model=set openai_key=set url=set");
  });

  test("plan --json names each key's policy and rotate token, never a value", () => {
    const plan = vaultPlan(v) as { paths: { path: string; keys: unknown[] }[] };
    expect(plan.paths.find((p) => p.path === "gbo/jwt")?.keys).toEqual([
      { name: "secret", from: "generate", policy: "rotate", rotate: "2025-06" },
    ]);
    expect(plan.paths.find((p) => p.path === "gbo/tables")?.keys).toEqual([
      { name: "database", from: "value", policy: "set" },
      { name: "host", from: "value", policy: "set" },
      { name: "password", from: "generate", policy: "adopt" },
      { name: "port", from: "value", policy: "set" },
      { name: "username", from: "value", policy: "set" },
    ]);
    expect(JSON.stringify(plan)).not.toContain("LITERAL-");
  });

  test("stdin: one line per key, Go's JSON escaping (what `vault kv get -format=json -field` prints)", () => {
    expect(vaultStdin({ b: 'a"b\\c<d>&e\nf\u2028', a: "x" })).toBe(
      '"a":"x"\n"b":"a\\"b\\\\c\\u003cd\\u003e\\u0026e\\nf\\u2028"\n',
    );
    expect(goJsonString("plain-Value_1.~")).toBe('"plain-Value_1.~"');
  });
});

// ---------------------------------------------------------------------------------------------
// The put, run for real against the FAKE Vault holding a hand-built path.
// ---------------------------------------------------------------------------------------------
describe("adoption against the FAKE vault: merge, adopt, set, rotate, nothing written twice", () => {
  let bed: VaultBed;
  let v: VaultSpec;
  const HAND = {
    host: "10.0.2.12",
    port: "5432",
    username: "gbuser",
    password: "hand-made-pg-password-1234",
    replica_host: "10.0.2.44",
    note: 'quote " backslash \\ <tag> & done',
  };
  const STACK = {
    host: "10.0.2.12",
    port: "5433",
    username: "gbuser",
    password: "GENERATED-pw-aaaaaaaaaaaaaaaaaaaa",
    app_secret: "GENERATED-app-bbbbbbbbbbbbbbbbbbbb",
    api: 'cfg <secret> & "quoted" \\ value',
  };
  const keys = {
    host: { value: "10.0.2.12" },
    port: { value: "5433" },
    username: { value: "gbuser" },
    password: gen,
    app_secret: gen,
    api: { fromConfig: "apiKey" },
  };
  const make = (over: Record<string, unknown> = {}): VaultSpec =>
    spec({
      address: `http://127.0.0.1:${bed.port}`,
      tokenFile: path.join(bed.state, "token"),
      paths: { "gbo/tables": { keys: { ...keys, ...over } } },
    });
  const put = (w: VaultSpec, values: Record<string, string>) =>
    bed.run(renderVaultPut(w, w.paths[0]).create, vaultStdin(values));
  const SCOPE = "incus-tenant-acme-gbo-tables";

  beforeAll(async () => {
    bed = await makeVaultBed();
    v = make();
    // The operator's hand-written path: the stack's keys (some with other values) and two it does not list.
    expect(bed.vault(["kv", "put", "-mount=secret", "gbo/tables", "-"], JSON.stringify(HAND)).status).toBe(0);
  });
  afterAll(() => bed.stop());

  test("first put: unknown keys and the existing generated value survive; set keys written, absent created", () => {
    const before = bed.calls().length;
    const r = put(v, STACK);
    const auth = bed.auth();
    expect(r.status).toBe(0);
    expect(r.stderr.split("\n").slice(-2)).toEqual([
      "incus-tenant: vault: secret/gbo/tables written (created: api app_secret; changed: port; adopted: password; " +
        "unchanged: host username)",
      "",
    ]);
    expect(bed.data("secret", "gbo/tables")).toEqual({
      data: {
        ...HAND,
        port: "5433",
        api: STACK.api,
        app_secret: STACK.app_secret,
        // password: adopted (the hand-made value stays); replica_host, note: not the stack's, untouched
      },
      version: 2,
    });
    expect(bed.calls().slice(before, -1)).toEqual([
      "policy write incus-tenant-acme-gbo-tables - ",
      `token create -orphan -policy=${SCOPE} -ttl=8760h -display-name=${SCOPE} -field=token `,
      "kv get -format=json -mount=secret gbo/tables ",
      ...["api", "app_secret", "host", "password", "port", "username"].map(
        (k) => `kv get -format=json -field=${k} -mount=secret gbo/tables `,
      ),
      "kv patch -method=patch -cas=1 -mount=secret gbo/tables - ",
    ]);
    expect(auth.slice(-2)).toEqual([
      `read secret/data/gbo/tables by ${SCOPE}`,
      `patch secret/data/gbo/tables by ${SCOPE}`,
    ]);
    // No value anywhere but Vault: not in the text, the log, the arguments.
    const text = renderVaultPut(v, v.paths[0]).create;
    for (const s of [...Object.values(STACK), HAND.password, HAND.note].filter(
      (x) => !/^[0-9.]+$|^gbuser$/.test(x),
    ))
      for (const where of [text, r.stdout, r.stderr, bed.calls().join("\n")]) expect(where).not.toContain(s);
  });

  test("second put with the same stack: nothing written, the version stays", () => {
    const r = put(v, STACK);
    expect(r.status).toBe(0);
    expect(r.stderr.split("\n").slice(-2)[0]).toBe(
      "incus-tenant: vault: secret/gbo/tables: nothing to write (adopted: app_secret password; " +
        "unchanged: api host port username)",
    );
    expect(bed.calls().filter((c) => / kv (put|patch) /.test(` ${c}`))).toHaveLength(2); // the seed + first put
    expect(bed.data("secret", "gbo/tables")?.version).toBe(2);
  });

  test("a new RandomPassword value without rotate is not written (adopt): the stored value stays", () => {
    const r = put(v, {
      ...STACK,
      password: "ANOTHER-generated-cccccccccccccc",
      app_secret: "ANOTHER-app-dddddddd",
    });
    expect(r.status).toBe(0);
    expect(r.stderr).toContain(
      "nothing to write (adopted: app_secret password; unchanged: api host port username)",
    );
    expect(bed.data("secret", "gbo/tables")?.data.password).toBe(HAND.password);
  });

  test("rotate: exactly the rotated key changes, once; every other key and version stays", () => {
    const w = make({ password: { ...gen, rotate: "2025-06" } });
    expect(renderVaultPut(w, w.paths[0]).create.split("\n")[3]).toBe(
      "# keys (values on stdin only): api=set app_secret=adopt host=set password=rotate:2025-06 port=set username=set",
    );
    const before = bed.data("secret", "gbo/tables");
    const rotated = { ...STACK, password: "ROTATED-pw-eeeeeeeeeeeeeeeeeeee" };
    const r = put(w, rotated);
    expect(r.status).toBe(0);
    expect(r.stderr).toContain(
      "incus-tenant: vault: secret/gbo/tables written (rotated: password; adopted: app_secret; " +
        "unchanged: api host port username)\n",
    );
    expect(bed.data("secret", "gbo/tables")).toEqual({
      data: { ...before?.data, password: rotated.password },
      version: 3,
    });
    const again = put(w, rotated);
    expect(again.stderr).toContain(
      "nothing to write (adopted: app_secret; unchanged: api host password port username)",
    );
    expect(bed.data("secret", "gbo/tables")?.version).toBe(3);
  });

  test("a path that does not exist yet is created (kv put -cas=0) with the stack's keys", () => {
    const w = spec({
      address: `http://127.0.0.1:${bed.port}`,
      tokenFile: path.join(bed.state, "token"),
      paths: { "gbo/jwt": { keys: { secret: gen } } },
    });
    const r = bed.run(
      renderVaultPut(w, w.paths[0]).create,
      vaultStdin({ secret: "NEW-jwt-secret-ffffffffffffff" }),
    );
    expect(r.status).toBe(0);
    expect(r.stderr).toContain("incus-tenant: vault: secret/gbo/jwt written (created: secret)\n");
    expect(bed.calls().slice(-2)).toEqual([
      "kv get -format=json -mount=secret gbo/jwt ",
      "kv put -cas=0 -mount=secret gbo/jwt - ",
    ]);
    expect(bed.data("secret", "gbo/jwt")).toEqual({
      data: { secret: "NEW-jwt-secret-ffffffffffffff" },
      version: 1,
    });
  });

  test("the scoped token cannot replace the path (no update) nor write with a stale version (check-and-set)", () => {
    const token = fs.readFileSync(scopedTokenFile(v, v.paths[0]), "utf8").trim();
    const replace = bed.vault(["kv", "put", "-mount=secret", "gbo/tables", "-"], '{"host":"x"}', token);
    expect(replace.status).toBe(2);
    expect(replace.stderr).toBe("Error: Code: 403. Errors: * permission denied\n");
    const stale = bed.vault(
      ["kv", "patch", "-method=patch", "-cas=1", "-mount=secret", "gbo/tables", "-"],
      '{"host":"x"}',
      token,
    );
    expect(stale.status).toBe(2);
    expect(stale.stderr.trimEnd().split("\n").pop()).toBe(
      "* check-and-set parameter did not match the current version",
    );
    expect(bed.data("secret", "gbo/tables")?.data.host).toBe("10.0.2.12");
    expect(policyText(v, v.paths[0])).toBe(
      [
        "# managed by incus-tenant: writes of secret/gbo/tables",
        "# read: this path only, to merge (keys the stack does not list survive) and to adopt existing values",
        'path "secret/data/gbo/tables" { capabilities = ["create", "read", "patch"] }',
      ].join("\n"),
    );
  });

  test("the path changed between the read and the write: the patch fails (check-and-set), nothing lost", () => {
    // A `vault` wrapper first in PATH: before the patch, someone else writes the path (a new version).
    const wrapDir = path.join(bed.tmp, "race");
    fs.mkdirSync(wrapDir, { recursive: true });
    const real = path.join(bed.tmp, "usr/local/bin/vault");
    fs.writeFileSync(
      path.join(wrapDir, "vault"),
      `#!/usr/bin/env bash\nif [ "$1 $2" = "kv patch" ]; then printf '{"other":"late"}' | ` +
        `VAULT_TOKEN=$(cat ${bed.state}/token) ${real} kv patch -mount=secret gbo/tables - >/dev/null; fi\n` +
        `exec ${real} "$@"\n`,
      { mode: 0o755 },
    );
    const text = renderVaultPut(v, v.paths[0]).create.replace(
      'export PATH="/opt/gbo/bin:$PATH"',
      `export PATH="${wrapDir}:$PATH"`,
    );
    const raced = bed.run(text, vaultStdin({ ...STACK, port: "5435" }));
    expect(raced.status).not.toBe(0);
    expect(raced.stderr).toContain("* check-and-set parameter did not match the current version");
    expect(raced.stderr).not.toContain("written (");
    const d = bed.data("secret", "gbo/tables");
    expect([d?.data.port, d?.data.other]).toEqual(["5433", "late"]);
  });
});

// ---------------------------------------------------------------------------------------------
// The hand-written .env (issue 12: VAULT_* lines and one foreign variable), edited in place.
// ---------------------------------------------------------------------------------------------
describe(".env: only the managed VAULT_* lines change; foreign lines and their order stay", () => {
  let bed: VaultBed;
  let file = "";
  const envSpec = (variables: [string, string][]): VaultSpec => ({
    ...spec({ paths: { "gbo/x": { keys: { a: gen } } } }),
    envFile: { container: "system", path: file, variables },
  });
  const backups = () => fs.readdirSync(path.dirname(file)).filter((f) => f.startsWith(".env.bak-"));

  beforeAll(async () => {
    bed = await makeVaultBed();
    file = path.join(bed.tmp, "opt/gbo/bin/.env");
    fs.mkdirSync(path.dirname(file), { recursive: true });
  });
  afterAll(() => bed.stop());

  test("the hand-written file of the runbooks: already right → not touched (no backup, same bytes)", () => {
    const hand = "VAULT_ADDR=http://198.18.2.42:8200\nVAULT_CACERT=/opt/gbo/conf/ca.crt\nRUST_LOG=info\n";
    fs.writeFileSync(file, hand, { mode: 0o600 });
    const r = bed.run(
      renderVaultEnvFile(
        envSpec([
          ["VAULT_ADDR", "http://198.18.2.42:8200"],
          ["VAULT_CACERT", "/opt/gbo/conf/ca.crt"],
        ]),
      ).create,
    );
    expect(r.status).toBe(0);
    expect(r.stderr).toBe(
      `incus-tenant: warning: ${file} also holds non-VAULT variables (only VAULT_* belong there): RUST_LOG \n` +
        `incus-tenant: ${file}: unchanged\n`,
    );
    expect(fs.readFileSync(file, "utf8")).toBe(hand);
    expect(backups()).toEqual([]);
  });

  test("a changed value: its line changes in place; comments, the token, foreign and unmanaged VAULT_* stay", () => {
    const hand = [
      "# written by hand (runbook 000)",
      "VAULT_ADDR=https://old:8200",
      "VAULT_TOKEN=s.operator-token-777",
      "",
      "RUST_LOG=info",
      "VAULT_SKIP_VERIFY=false",
      "VAULT_ADDR=https://duplicate:8200",
      "",
    ].join("\n");
    fs.writeFileSync(file, hand, { mode: 0o600 });
    const r = bed.run(
      renderVaultEnvFile(
        envSpec([
          ["VAULT_ADDR", "https://10.0.2.13:8200"],
          ["VAULT_CACERT", "/opt/gbo/conf/system/certificates/ca/ca.crt"],
        ]),
      ).create,
    );
    expect(r.status).toBe(0);
    expect(fs.readFileSync(file, "utf8")).toBe(
      [
        "# written by hand (runbook 000)",
        "VAULT_ADDR=https://10.0.2.13:8200",
        "VAULT_TOKEN=s.operator-token-777",
        "",
        "RUST_LOG=info",
        "VAULT_SKIP_VERIFY=false",
        "VAULT_CACERT=/opt/gbo/conf/system/certificates/ca/ca.crt",
        "",
      ].join("\n"),
    );
    expect(r.stderr).not.toContain("operator-token");
    expect(r.stderr).not.toContain("info");
    expect(backups()).toHaveLength(1);
    expect(fs.readFileSync(path.join(path.dirname(file), backups()[0]), "utf8")).toBe(hand);
    expect(fs.statSync(file).mode & 0o777).toBe(0o600);
  });

  test("a value with awk/sed metacharacters is written verbatim", () => {
    fs.writeFileSync(file, "RUST_LOG=info\nVAULT_ADDR=x\n", { mode: 0o600 });
    const odd = "https://h:8200/p?a=1&b=\\n\\1$x";
    expect(bed.run(renderVaultEnvFile(envSpec([["VAULT_ADDR", odd]])).create).status).toBe(0);
    expect(fs.readFileSync(file, "utf8")).toBe(`RUST_LOG=info\nVAULT_ADDR=${odd}\n`);
  });
});
