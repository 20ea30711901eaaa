/**
 * Vault paths: validation table with exact messages, exact renderer text, the rendered scripts run
 * for real against tests/bed/fake-vault.sh (a FAKE Vault: HashiCorp Vault cannot be installed here)
 * through a fake `incus` that runs `incus exec <c> -- cmd` locally, and VaultPath under setMocks.
 */
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as net from "net";
import * as os from "os";
import * as path from "path";
import * as pulumi from "@pulumi/pulumi";
import type { MockResourceArgs } from "@pulumi/pulumi/runtime";
import * as pulumiMocks from "@pulumi/pulumi/runtime/mocks";
import { checkVault, deriveVault, RawVaultSection, VaultSpec, vaultSectionSchema } from "../../model/vault";
import {
  HTTPS_WITHOUT_CA,
  policyName,
  policyText,
  renderVaultEnvFile,
  renderVaultPreflight,
  renderVaultPut,
  scopedTokenFile,
  SEALED_MESSAGE,
  vaultPlan,
  vaultStdin,
} from "../../render/vault";
import { remoteBash } from "../../render/shell";
import { ROOT } from "./fixtures";
import { unwrapSecrets } from "./mockRuntime";
import { stackTenant } from "./fixtures";

const problemsOf = (raw: RawVaultSection, containers?: string[]) =>
  checkVault(vaultSectionSchema.parse(raw), "vault", containers);
const one = (keys: Record<string, unknown>) =>
  ({ keys }) as RawVaultSection["paths"] extends infer P
    ? P extends Record<string, infer X>
      ? X
      : never
    : never;
const gen = { generate: { length: 32 } };

describe("vault section validation", () => {
  test(
    "the prod stack's section for the runbooks' paths is valid " +
      "and derives every global path and the tenant path",
    () => {
      const raw = stackTenant("prod").vault as RawVaultSection;
      const parsed = vaultSectionSchema.parse(raw);
      expect(checkVault(parsed, "vault", ["vault", "system"])).toEqual([]);
      const v = deriveVault(parsed, "acme");
      // Seed 000's paths (gbo/system/cloud left out on purpose: see Pulumi.prod.yaml).
      expect(v.paths.map((p) => p.path)).toEqual([
        "gbo/alm",
        "gbo/cache",
        "gbo/directory",
        "gbo/drive",
        "gbo/email",
        "gbo/encryption",
        "gbo/jwt",
        "gbo/llm",
        "gbo/meet",
        "gbo/system/app",
        "gbo/system/models",
        "gbo/system/observability",
        "gbo/system/security",
        "gbo/tables",
        "gbo/tenants/acme/infrastructure",
        "gbo/vectordb",
      ]);
      expect(
        v.paths
          .find((p) => p.path === "gbo/tenants/acme/infrastructure")
          ?.keys.find((k) => k.name === "tables_database")?.source,
      ).toEqual({ kind: "value", value: "acme" });
      expect(v.envFile?.variables).toEqual([
        ["VAULT_ADDR", "https://10.0.2.13:8200"],
        ["VAULT_CACERT", "/opt/gbo/conf/system/certificates/ca/ca.crt"],
      ]);
    },
  );

  test(
    "defaults: container vault, http://127.0.0.1:8200, mount secret, scoped tokens next to tokenFile, " +
      "keepOnDestroy true, special false, envFile system:/opt/gbo/bin/.env",
    () => {
      const v = deriveVault(
        vaultSectionSchema.parse({
          paths: { "gbo/jwt": one({ secret: gen }) },
          envFile: { variables: { VAULT_ADDR: "https://10.0.2.13:8200" } },
        }),
        "acme",
      );
      expect(v).toEqual({
        container: "vault",
        address: "http://127.0.0.1:8200",
        tokenFile: "/opt/gbo/bin/botserver-stack/conf/vault/vault-conf/init.json",
        scopedTokenDir: "/opt/gbo/bin/botserver-stack/conf/vault/vault-conf/incus-tenant-acme",
        policyPrefix: "incus-tenant-acme",
        mount: "secret",
        paths: [
          {
            path: "gbo/jwt",
            key: "gbo-jwt",
            keys: [{ name: "secret", source: { kind: "generate", length: 32, special: false } }],
            keepOnDestroy: true,
          },
        ],
        envFile: {
          container: "system",
          path: "/opt/gbo/bin/.env",
          variables: [["VAULT_ADDR", "https://10.0.2.13:8200"]],
        },
      });
    },
  );

  test("scopedTokenDir: given, it is used as is; the policy prefix names the tenant", () => {
    const paths = { "gbo/jwt": one({ secret: gen }) };
    const raw = { tokenFile: "/root/init.json", scopedTokenDir: "/etc/incus-tenant/tokens", paths };
    const v = deriveVault(vaultSectionSchema.parse(raw), "beta");
    const want = ["/root/init.json", "/etc/incus-tenant/tokens", "incus-tenant-beta"];
    expect([v.tokenFile, v.scopedTokenDir, v.policyPrefix]).toEqual(want);
    const bare = deriveVault(vaultSectionSchema.parse({ tokenFile: "/init.json" }), "beta");
    expect(bare.scopedTokenDir).toBe("/incus-tenant-beta");
  });

  const cases: [string, RawVaultSection, { path: string; message: string }[], string[] | undefined][] = [
    [
      "dot-dot segment",
      { paths: { "gbo/../x": one({ a: gen }) } },
      [{ path: "vault.paths.gbo/../x", message: 'must not contain ".."' }],
      undefined,
    ],
    [
      "leading slash",
      { paths: { "/gbo/x": one({ a: gen }) } },
      [{ path: "vault.paths./gbo/x", message: 'must not start with "/" (paths are relative to the mount)' }],
      undefined,
    ],
    [
      "trailing slash",
      { paths: { "gbo/x/": one({ a: gen }) } },
      [{ path: "vault.paths.gbo/x/", message: 'must not end with "/"' }],
      undefined,
    ],
    [
      "empty segment",
      { paths: { "gbo//x": one({ a: gen }) } },
      [{ path: "vault.paths.gbo//x", message: 'must not contain empty segments ("//")' }],
      undefined,
    ],
    [
      "empty path",
      { paths: { "": one({ a: gen }) } },
      [{ path: "vault.paths.", message: "must not be empty" }],
      undefined,
    ],
    [
      "bad characters",
      { paths: { "gbo/a b": one({ a: gen }) } },
      [
        {
          path: "vault.paths.gbo/a b",
          message: 'may only contain letters, digits, "_", ".", "-", "/" and the placeholder {tenant}',
        },
      ],
      undefined,
    ],
    [
      "several problems at once",
      { paths: { "/gbo/../": one({ a: gen }) } },
      [
        {
          path: "vault.paths./gbo/../",
          message: 'must not start with "/" (paths are relative to the mount)',
        },
        { path: "vault.paths./gbo/../", message: 'must not end with "/"' },
        { path: "vault.paths./gbo/../", message: 'must not contain ".."' },
      ],
      undefined,
    ],
    [
      "resource name clash",
      { paths: { "gbo/a-b": one({ a: gen }), "gbo/a/b": one({ a: gen }) } },
      [{ path: "vault.paths.gbo/a/b", message: 'gives the same resource name as "gbo/a-b"' }],
      undefined,
    ],
    [
      "no keys",
      { paths: { "gbo/x": one({}) } },
      [{ path: "vault.paths.gbo/x.keys", message: "must declare at least one key" }],
      undefined,
    ],
    [
      "bad key name",
      { paths: { "gbo/x": one({ "1st": gen }) } },
      [
        {
          path: "vault.paths.gbo/x.keys.1st",
          message: "key name must be letters, digits or _, not starting with a digit",
        },
      ],
      undefined,
    ],
    [
      "two sources",
      { paths: { "gbo/x": one({ a: { ...gen, value: "x" } }) } },
      [{ path: "vault.paths.gbo/x.keys.a", message: "must set exactly one of generate, value, fromConfig" }],
      undefined,
    ],
    [
      "no source",
      { paths: { "gbo/x": one({ a: {} }) } },
      [{ path: "vault.paths.gbo/x.keys.a", message: "must set exactly one of generate, value, fromConfig" }],
      undefined,
    ],
    [
      "literal secret",
      { paths: { "gbo/x": one({ smtp_password: { value: "hunter2" } }) } },
      [
        {
          path: "vault.paths.gbo/x.keys.smtp_password.value",
          message:
            "looks like a secret: use generate or fromConfig (a literal value sits in plain text in the stack file)",
        },
      ],
      undefined,
    ],
    [
      "literal access key",
      {
        paths: {
          "gbo/x": one({
            accesskey: { value: "AKEXAMPLE" },
            s3_access_key: { value: "x" },
            credentials: { value: "x" },
          }),
        },
      },
      ["accesskey", "s3_access_key", "credentials"].map((k) => ({
        path: `vault.paths.gbo/x.keys.${k}.value`,
        message:
          "looks like a secret: use generate or fromConfig (a literal value sits in plain text in the stack file)",
      })),
      undefined,
    ],
    [
      "password in a URL",
      {
        paths: {
          "gbo/x": one({
            url: { value: "postgres://gbuser:hunter2@10.0.3.12:5432/db" },
            ok: { value: "http://10.0.3.16:8081/v1?a=b@c" },
            mail: { value: "mailto:a@example.com" },
          }),
        },
      },
      [
        {
          path: "vault.paths.gbo/x.keys.url.value",
          message:
            "holds a password in a URL (user:password@): use generate or fromConfig (a literal value sits in " +
            "plain text in the stack file)",
        },
      ],
      undefined,
    ],
    [
      "private key literal",
      { paths: { "gbo/x": one({ tls: { value: "-----BEGIN OPENSSH PRIVATE KEY----- b3Bl" } }) } },
      [
        {
          path: "vault.paths.gbo/x.keys.tls.value",
          message:
            "holds a private key: use generate or fromConfig (a literal value sits in plain text in the stack file)",
        },
      ],
      undefined,
    ],
    [
      "env without VAULT_ADDR",
      { envFile: { variables: { VAULT_CACERT: "/ca.crt" } } },
      [{ path: "vault.envFile.variables", message: "must set VAULT_ADDR" }],
      undefined,
    ],
    [
      "env non-VAULT variable",
      { envFile: { variables: { VAULT_ADDR: "https://x:8200", PORT: "5858" } } },
      [
        {
          path: "vault.envFile.variables.PORT",
          message: "only VAULT_* variables are allowed in the .env file",
        },
      ],
      undefined,
    ],
    [
      "env token literal",
      { envFile: { variables: { VAULT_ADDR: "https://x:8200", VAULT_TOKEN: "s.abc" } } },
      [
        {
          path: "vault.envFile.variables.VAULT_TOKEN",
          message:
            "the token is a secret and never goes through the stack: " +
            "keep it in a file and reference that (e.g. VAULT_TOKEN_FILE)",
        },
      ],
      undefined,
    ],
    [
      "env multi-line value",
      { envFile: { variables: { VAULT_ADDR: "https://x:8200\nPORT=1" } } },
      [{ path: "vault.envFile.variables.VAULT_ADDR", message: "must be a non-empty single line" }],
      undefined,
    ],
    [
      "unknown containers",
      { container: "vlt", envFile: { container: "sys", variables: { VAULT_ADDR: "https://x:8200" } } },
      [
        { path: "vault.container", message: 'unknown container "vlt"' },
        { path: "vault.envFile.container", message: 'unknown container "sys"' },
      ],
      ["vault", "system"],
    ],
  ];
  test.each(cases)("%s", (_name, raw, expected, containers) =>
    expect(problemsOf(raw, containers)).toEqual(expected),
  );

  test("shape errors carry field paths: length out of range, unknown field, bad address", () => {
    const r = vaultSectionSchema.safeParse({
      address: "127.0.0.1:8200",
      paths: { "gbo/x": { keys: { a: { generate: { length: 8 } } }, keep: true } },
    });
    expect(r.success).toBe(false);
    const issues = r.success ? [] : r.error.issues.map((i) => [i.path.join("."), i.message]);
    expect(issues).toEqual([
      ["address", "must be a URL like http://127.0.0.1:8200"],
      ["paths.gbo/x.keys.a.generate.length", "must be from 16 to 128"],
      ["paths.gbo/x", "Unrecognized key(s) in object: 'keep'"],
    ]);
  });
});

const small = (over: Partial<RawVaultSection> = {}): VaultSpec =>
  deriveVault(
    vaultSectionSchema.parse({
      paths: {
        "gbo/tables": one({ host: { value: "10.0.2.12" }, password: gen, api: { fromConfig: "llmKey" } }),
        "gbo/tenants/{tenant}/infrastructure": {
          keepOnDestroy: false,
          keys: { host: { value: "10.0.2.12" } },
        },
      },
      ...over,
    }),
    "acme",
  );

const HEALTH = (addr: string) => [
  `code=$(incus exec -n vault -- curl -s --max-time 10 -o /dev/null -w '%{http_code}' ` +
    `'${addr}/v1/sys/health?standbyok=true' || true)`,
  `case "$code" in`,
  `  200) log 'vault at ${addr}: initialized and unsealed' ;;`,
  `  503) echo 'Vault is sealed: unseal it with 3 of 5 keys' >&2; exit 1 ;;`,
  `  501) echo 'Vault is not initialized' >&2; exit 1 ;;`,
  `  *) log "vault health check answered \${code:-nothing}"; echo 'Vault is unreachable at ${addr}' >&2; exit 1 ;;`,
  "esac",
];
const HEAD = (what: string) => [
  `# managed by incus-tenant: ${what}`,
  "set -euo pipefail",
  `log() { printf 'incus-tenant: %s\\n' "$*" >&2; }`,
];
const DIR = "/opt/gbo/bin/botserver-stack/conf/vault/vault-conf/incus-tenant-acme";
const INNER_HEAD = [
  "set -eu",
  "export VAULT_ADDR=http://127.0.0.1:8200",
  'export PATH="/opt/gbo/bin:$PATH"',
  "umask 077",
];
const READ_REASON =
  "# read: this path only, to merge (keys the stack does not list survive) and to adopt existing values";
const TABLES_POLICY = [
  "# managed by incus-tenant: writes of secret/gbo/tables",
  READ_REASON,
  'path "secret/data/gbo/tables" { capabilities = ["create", "read", "patch"] }',
].join("\n");
const INFRA_POLICY = [
  "# managed by incus-tenant: writes of secret/gbo/tenants/acme/infrastructure",
  READ_REASON,
  'path "secret/data/gbo/tenants/acme/infrastructure" { capabilities = ["create", "read", "patch"] }',
  'path "secret/metadata/gbo/tenants/acme/infrastructure" { capabilities = ["delete"] }',
].join("\n");
/** The scoped-token lines of one path (key = resource key, where = mount/path). */
const SCOPED = (key: string, where: string, policy: string) => [
  `w=${DIR}/${key}.token; pol=incus-tenant-acme-${key}; want=${q(policy)}`,
  "boot=${VAULT_TOKEN:-}; unset VAULT_TOKEN",
  `if [ -s "$w" ] && [ "$(cat "$w.policy" 2>/dev/null)" = "$want" ] && ` +
    `VAULT_TOKEN=$(cat "$w") vault token lookup >/dev/null 2>&1 < /dev/null; then :; else`,
  '  if [ -z "$boot" ]; then',
  "    t=/opt/gbo/bin/botserver-stack/conf/vault/vault-conf/init.json",
  `    [ -r "$t" ] || { echo "no Vault token: $t is not readable in container" vault >&2; exit 1; }`,
  `    if grep -q '"root_token"' "$t"; then ` +
    `boot=$(sed -n 's/.*"root_token"[[:space:]]*:[[:space:]]*"\\([^"]*\\)".*/\\1/p' "$t"); ` +
    `else boot=$(tr -d '[:space:]' < "$t"); fi`,
  '    [ -n "$boot" ] || { echo "no Vault token in $t" >&2; exit 1; }',
  "  fi",
  `  printf '%s\\n' "$want" | VAULT_TOKEN=$boot vault policy write "$pol" - >/dev/null`,
  `  new=$(VAULT_TOKEN=$boot vault token create -orphan -policy="$pol" -ttl=8760h ` +
    `-display-name="$pol" -field=token < /dev/null)`,
  `  mkdir -p ${DIR}; chmod 0700 ${DIR}`,
  `  f=$(mktemp "$w.XXXXXX"); printf '%s\\n' "$new" > "$f"; chmod 0600 "$f"; mv -f "$f" "$w"`,
  `  f=$(mktemp "$w.XXXXXX"); printf '%s\\n' "$want" > "$f"; chmod 0600 "$f"; mv -f "$f" "$w.policy"`,
  `  echo 'incus-tenant: vault: scoped token for ${where} created (policy incus-tenant-acme-${key})' >&2`,
  "fi",
  'boot=; VAULT_TOKEN=$(cat "$w"); export VAULT_TOKEN',
];
/** The merge lines of one path (render/vault/merge.ts), exact; `decides` are its per-key lines. */
const MERGE = (mount: string, kvPath: string, decides: string[]) => {
  const loc = `-mount=${mount} ${kvPath}`;
  const where = `${mount}/${kvPath}`;
  return [
    "in=$(cat)",
    "ver=0",
    `if out=$(vault kv get -format=json ${loc} 2>&1 < /dev/null); then`,
    `  ver=$(printf '%s\\n' "$out" | sed -n 's/^ *"version": \\([0-9][0-9]*\\),\\{0,1\\}$/\\1/p' | tail -n 1)`,
    `  [ -n "$ver" ] || { echo 'incus-tenant: vault: ${where}: Vault answered without a version; ` +
      `nothing written' >&2; exit 1; }`,
    "else",
    `  case $out in *"No value found at "*) ;; *) printf '%s\\n' "$out" >&2; exit 1 ;; esac`,
    "fi",
    "out=",
    "pick=; created=; changed=; rotated=; adopted=; unchanged=",
    "have() {",
    '  cur=; [ "$ver" != 0 ] || return 1',
    `  rc=0; cur=$(vault kv get -format=json -field="$1" ${loc} 2>/dev/null < /dev/null) || rc=$?`,
    "  case $rc in 0) return 0 ;; 1) cur=; return 1 ;; esac",
    `  vault kv get -format=json -field="$1" ${loc} < /dev/null > /dev/null || true`,
    `  echo 'incus-tenant: vault: ${where}: could not read key' "$1" >&2; exit 1`,
    "}",
    `want() { printf '%s\\n' "$in" | sed -n "s/^\\"$1\\"://p"; }`,
    "decide() {",
    '  if have "$1"; then',
    '    if [ "$2" = adopt ]; then adopted="$adopted $1"; return 0; fi',
    '    if [ "$cur" = "$(want "$1")" ]; then cur=; unchanged="$unchanged $1"; return 0; fi',
    '    cur=; if [ "$2" = rotate ]; then rotated="$rotated $1"; else changed="$changed $1"; fi',
    '  else created="$created $1"; fi',
    '  pick="$pick|$1"',
    "}",
    ...decides,
    "sum=",
    `for c in created changed rotated adopted unchanged; do eval "l=\\$$c"; [ -z "$l" ] || sum="$sum; $c:$l"; done`,
    'if [ -z "$pick" ]; then',
    `  echo 'incus-tenant: vault: ${where}: nothing to write ('"\${sum#; })" >&2`,
    "else",
    `  data=$(printf '%s\\n' "$in" | grep -E "^\\"(\${pick#|})\\":" | paste -sd, -)`,
    `  if [ "$ver" = 0 ]; then printf '{%s}\\n' "$data" | vault kv put -cas=0 ${loc} - > /dev/null`,
    `  else printf '{%s}\\n' "$data" | vault kv patch -method=patch -cas="$ver" ${loc} - > /dev/null; fi`,
    `  data=; echo 'incus-tenant: vault: ${where} written ('"\${sum#; })" >&2`,
    "fi",
  ];
};
const REVOKE = (key: string, where: string) => [
  `w=${DIR}/${key}.token`,
  'if [ -s "$w" ]; then',
  `  if VAULT_TOKEN=$(cat "$w") vault token revoke -self >/dev/null 2>&1 < /dev/null; then rm -f "$w" "$w.policy"; ` +
    `echo 'incus-tenant: vault: scoped token for ${where} revoked' >&2;`,
  `  else echo "incus-tenant: warning: could not revoke the scoped token in $w (kept; it expires by itself)" >&2; fi`,
  "fi",
];
const GONE =
  "if ! incus info vault >/dev/null 2>&1; then log 'vault: container vault is gone, nothing to delete'; exit 0; fi";
const q = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;
/** The directive line above every `incus exec ... sh -c TEXT` (TEXT is the container's sh program). */
const SC2016 =
  "# shellcheck disable=SC2016 # the text is a program for sh -c in the container, which expands it";

describe("vault renderers (exact text)", () => {
  const v = small();
  test("preflight: health endpoint in the vault container (plain http: no -k, nothing to skip), exact messages", () => {
    expect(renderVaultPreflight(v)).toEqual({
      create: [...HEAD("vault preflight in container vault"), ...HEALTH("http://127.0.0.1:8200")].join("\n"),
    });
  });

  test("policy of a path: its data (create, read, patch), its metadata (delete) only when deleted with it", () => {
    expect(policyText(v, v.paths[0])).toBe(TABLES_POLICY);
    expect(policyText(v, v.paths[1])).toBe(INFRA_POLICY);
    expect([policyName(v, v.paths[0]), scopedTokenFile(v, v.paths[0])]).toEqual([
      "incus-tenant-acme-gbo-tables",
      `${DIR}/gbo-tables.token`,
    ]);
  });

  test("put: keys and policies named, health, the path's scoped token, merge (never replace); delete revokes", () => {
    const inner = [
      ...INNER_HEAD,
      ...SCOPED("gbo-tables", "secret/gbo/tables", TABLES_POLICY),
      ...MERGE("secret", "gbo/tables", ["decide api set", "decide host set", "decide password adopt"]),
    ].join("\n");
    expect(renderVaultPut(v, v.paths[0])).toEqual({
      create: [
        ...HEAD("vault path secret/gbo/tables (values on stdin)"),
        "# keys (values on stdin only): api=set host=set password=adopt",
        ...HEALTH("http://127.0.0.1:8200"),
        SC2016,
        `incus exec -T vault -- sh -c ${q(inner)}`,
      ].join("\n"),
      delete: [
        ...HEAD("vault path secret/gbo/tables (delete)"),
        "log 'vault: secret/gbo/tables kept (keepOnDestroy is true)'",
        GONE,
        SC2016,
        `incus exec -n vault -- sh -c ${q([...INNER_HEAD, ...REVOKE("gbo-tables", "secret/gbo/tables")].join("\n"))}`,
      ].join("\n"),
    });
  });

  test("delete, keepOnDestroy false: container gone is fine, else health, kv metadata delete, revoke", () => {
    const p = v.paths[1];
    const where = "secret/gbo/tenants/acme/infrastructure";
    const inner = [
      ...INNER_HEAD,
      ...SCOPED("gbo-tenants-acme-infrastructure", where, INFRA_POLICY),
      `vault kv metadata delete -mount=secret gbo/tenants/acme/infrastructure >/dev/null`,
      ...REVOKE("gbo-tenants-acme-infrastructure", where),
    ].join("\n");
    expect(renderVaultPut(v, p).delete).toBe(
      [
        ...HEAD("vault path secret/gbo/tenants/acme/infrastructure (delete)"),
        GONE,
        ...HEALTH("http://127.0.0.1:8200"),
        SC2016,
        `incus exec -n vault -- sh -c ${q(inner)}`,
        "log 'vault: secret/gbo/tenants/acme/infrastructure deleted with all its versions'",
      ].join("\n"),
    );
  });

  test("https: curl --cacert (never -k), VAULT_CACERT for the CLI; https without caCert refused", () => {
    const w = small({ address: "https://127.0.0.1:8200", caCert: "/opt/gbo/conf/vault/ca.crt" });
    const text = renderVaultPut(w, w.paths[0]).create;
    expect(text.split("\n")[4]).toBe(
      "code=$(incus exec -n vault -- curl -s --cacert /opt/gbo/conf/vault/ca.crt --max-time 10 -o /dev/null " +
        "-w '%{http_code}' 'https://127.0.0.1:8200/v1/sys/health?standbyok=true' || true)",
    );
    expect(text).toContain(
      "export VAULT_ADDR=https://127.0.0.1:8200 VAULT_CACERT=/opt/gbo/conf/vault/ca.crt\n",
    );
    expect(text).not.toContain(" -k ");
    const bare: VaultSpec = { ...small(), address: "https://127.0.0.1:8200" };
    expect(() => renderVaultPreflight(bare)).toThrow(HTTPS_WITHOUT_CA);
    expect(HTTPS_WITHOUT_CA).toBe(
      "render/vault: an https:// Vault address needs caCert (its certificate is never left unchecked)",
    );
  });

  test("env file renderer refuses any non-VAULT_* or secret variable", () => {
    const bad = (variables: [string, string][]): VaultSpec => ({
      ...small(),
      envFile: { container: "system", path: "/opt/gbo/bin/.env", variables },
    });
    expect(() =>
      renderVaultEnvFile(
        bad([
          ["VAULT_ADDR", "x"],
          ["PORT", "5858"],
        ]),
      ),
    ).toThrow("refusing to write PORT to /opt/gbo/bin/.env: only non-secret VAULT_* variables go there");
    expect(() => renderVaultEnvFile(bad([["VAULT_TOKEN", "s.x"]]))).toThrow(
      "refusing to write VAULT_TOKEN to /opt/gbo/bin/.env: only non-secret VAULT_* variables go there",
    );
    expect(() => renderVaultEnvFile(bad([["VAULT_ADDR", "a\nPORT=1"]]))).toThrow(
      "refusing to write VAULT_ADDR to /opt/gbo/bin/.env: the value must be a non-empty single line",
    );
  });

  test("plan part: paths and key names with their source kind, never a value", () => {
    expect(vaultPlan(small())).toEqual({
      container: "vault",
      address: "http://127.0.0.1:8200",
      mount: "secret",
      paths: [
        {
          path: "gbo/tables",
          keepOnDestroy: true,
          keys: [
            { name: "api", from: "config", policy: "set" },
            { name: "host", from: "value", policy: "set" },
            { name: "password", from: "generate", policy: "adopt" },
          ],
        },
        {
          path: "gbo/tenants/acme/infrastructure",
          keepOnDestroy: false,
          keys: [{ name: "host", from: "value", policy: "set" }],
        },
      ],
    });
  });
});

// ---------------------------------------------------------------------------------------------
// The rendered scripts, run for real: fake incus (local exec) + tests/bed/fake-vault.sh (FAKE Vault).
// ---------------------------------------------------------------------------------------------
const FAKE_INCUS =
  `#!/usr/bin/env bash
# fake incus for unit tests: "incus exec [-n|-T] <c> -- cmd..." runs cmd locally in a clean env
set -euo pipefail
{ printf '%q ' "$@"; printf '\\n'; } >> "$SHIM_LOG"
case $1 in
  info) [[ " $SHIM_CONTAINERS " == *" $2 "* ]]; exit ;;
  exec) shift ;;
  *) echo "fake incus: unsupported: $*" >&2; exit 1 ;;
esac
while [[ $1 == -* ]]; do case $1 in -n) exec </dev/null ;; -T) ;; ` +
  `*) echo "fake incus: unsupported flag $1" >&2; exit 1 ;; esac; shift; done
c=$1; shift
[[ " $SHIM_CONTAINERS " == *" $c "* ]] || { echo "Error: Instance not found" >&2; exit 1; }
[ "$1" = -- ] && shift
exec env -i PATH="$SHIM_PATH" HOME=/root LC_ALL=C "$@"
`;

const freePort = (): Promise<number> =>
  new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });

describe("rendered scripts against the FAKE vault (tests/bed/fake-vault.sh) through a fake incus", () => {
  const FAKE = path.join(ROOT, "tests/bed/fake-vault.sh");
  const SECRETS = { host: "10.0.2.12", password: "S3CRET-pass-4711-xyz", api: "CFG-api-key-0815-abc" };
  let tmp = "";
  let port = 0;
  let state = "";
  let env: NodeJS.ProcessEnv = {};
  let v: VaultSpec;
  const run = (text: string, input = "") =>
    spawnSync("sh", ["-c", remoteBash(text, false)], { input, env, encoding: "utf8" });
  const vault = (...args: string[]) =>
    spawnSync(path.join(tmp, "usr/local/bin/vault"), args, {
      env: { PATH: "/usr/bin:/bin", VAULT_TOKEN: fs.readFileSync(path.join(state, "token"), "utf8").trim() },
      encoding: "utf8",
    });
  const calls = () => fs.readFileSync(path.join(state, "calls.log"), "utf8");
  const shimLog = () => fs.readFileSync(path.join(tmp, "shim.log"), "utf8");
  const lastLine = (s: string) => s.trimEnd().split("\n").pop();

  beforeAll(async () => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), "itn-vault-"));
    state = path.join(tmp, "var/lib/fake-vault");
    port = await freePort();
    const inst = spawnSync("bash", [FAKE, "install", "--root", tmp, "--port", String(port)], {
      encoding: "utf8",
    });
    expect(inst.stderr).toContain("FAKE vault installed");
    expect(inst.status).toBe(0);
    fs.mkdirSync(path.join(tmp, "shim"));
    fs.writeFileSync(path.join(tmp, "shim/incus"), FAKE_INCUS, { mode: 0o755 });
    env = {
      HOME: tmp,
      PATH: `${path.join(tmp, "shim")}:/usr/bin:/bin`,
      SHIM_LOG: path.join(tmp, "shim.log"),
      SHIM_CONTAINERS: "vault system",
      SHIM_PATH: `${path.join(tmp, "usr/local/bin")}:/usr/bin:/bin`,
    };
    v = small({ address: `http://127.0.0.1:${port}`, tokenFile: path.join(state, "token") });
  });
  afterAll(() => {
    spawnSync("bash", [FAKE, "stop", "--root", tmp]);
    fs.rmSync(tmp, { recursive: true, force: true });
  });

  test("the fake's files are 0600/0700 and the health endpoint answers 200", () => {
    expect(fs.statSync(path.join(state, "token")).mode & 0o777).toBe(0o600);
    expect(fs.statSync(state).mode & 0o777).toBe(0o700);
    expect(
      spawnSync(
        "curl",
        ["-s", "-o", "/dev/null", "-w", "%{http_code}", `http://127.0.0.1:${port}/v1/sys/health`],
        { encoding: "utf8" },
      ).stdout,
    ).toBe("200");
  });

  const auth = () =>
    fs
      .readFileSync(path.join(state, "auth.log"), "utf8")
      .trimEnd()
      .split("\n")
      .filter((l) => l !== "");
  const rootToken = () => fs.readFileSync(path.join(state, "token"), "utf8").trim();
  const dir = () => path.join(state, "incus-tenant-acme");
  const scoped = (key: string) => fs.readFileSync(path.join(dir(), `${key}.token`), "utf8").trim();

  test("first put: the bootstrap token writes the policy, creates the scoped token (0600); it creates the path", () => {
    const text = renderVaultPut(v, v.paths[0]).create;
    const r = run(text, vaultStdin(SECRETS));
    expect(r.stderr).toContain(
      "incus-tenant: vault: secret/gbo/tables written (created: api host password)\n",
    );
    expect(r.stderr).toContain(
      "incus-tenant: vault: scoped token for secret/gbo/tables created (policy incus-tenant-acme-gbo-tables)",
    );
    expect(r.status).toBe(0);
    const got = JSON.parse(vault("kv", "get", "-format=json", "-mount=secret", "gbo/tables").stdout);
    expect(got.data.data).toEqual(SECRETS);
    expect(
      calls()
        .split("\n")
        .filter((l) => l !== ""),
    ).toEqual([
      "policy write incus-tenant-acme-gbo-tables - ",
      "token create -orphan -policy=incus-tenant-acme-gbo-tables -ttl=8760h " +
        "-display-name=incus-tenant-acme-gbo-tables -field=token ",
      "kv get -format=json -mount=secret gbo/tables ",
      "kv put -cas=0 -mount=secret gbo/tables - ",
      "kv get -format=json -mount=secret gbo/tables ",
    ]);
    // Only the policy write and the token creation used the root token; the read and write used the scoped one.
    expect(auth()).toEqual([
      "policy write incus-tenant-acme-gbo-tables by root",
      "token create incus-tenant-acme-gbo-tables by root",
      "read secret/data/gbo/tables by incus-tenant-acme-gbo-tables",
      "create secret/data/gbo/tables by incus-tenant-acme-gbo-tables",
      "read secret/data/gbo/tables by root",
    ]);
    expect(fs.readFileSync(path.join(state, "policies/incus-tenant-acme-gbo-tables"), "utf8")).toBe(
      `${policyText(v, v.paths[0])}\n`,
    );
    expect(fs.statSync(dir()).mode & 0o777).toBe(0o700);
    expect(fs.readdirSync(dir()).sort()).toEqual(["gbo-tables.token", "gbo-tables.token.policy"]);
    for (const f of fs.readdirSync(dir()))
      expect([f, fs.statSync(path.join(dir(), f)).mode & 0o777]).toEqual([f, 0o600]);
    expect(scoped("gbo-tables")).toMatch(/^fake-scoped-[0-9a-f]{32}$/);
    expect(fs.statSync(path.join(state, "data/secret/gbo/tables.json")).mode & 0o777).toBe(0o600);
    for (const s of [SECRETS.password, SECRETS.api, rootToken(), scoped("gbo-tables")]) {
      for (const where of [
        text,
        remoteBash(text, true),
        r.stdout,
        r.stderr,
        calls(),
        auth().join("\n"),
        shimLog(),
      ])
        expect(where).not.toContain(s);
    }
  });

  test(
    "re-running the put uses the stored scoped token only (the bootstrap token file may even be missing); " +
      "same values: it reads and writes nothing",
    () => {
      const before = auth().length;
      const off = { ...v, tokenFile: path.join(tmp, "no-such-token") }; // reading it would fail the put
      const r = run(renderVaultPut(off, off.paths[0]).create, vaultStdin(SECRETS));
      expect(r.stderr).toBe(
        "incus-tenant: vault at " +
          `${v.address}: initialized and unsealed\n` +
          "incus-tenant: vault: secret/gbo/tables: nothing to write (adopted: password; unchanged: api host)\n",
      );
      expect(r.status).toBe(0);
      const read = "read secret/data/gbo/tables by incus-tenant-acme-gbo-tables";
      expect(auth().slice(before)).toEqual([
        "lookup-self by incus-tenant-acme-gbo-tables",
        read,
        read,
        read,
        read,
      ]);
      const got = JSON.parse(vault("kv", "get", "-format=json", "-mount=secret", "gbo/tables").stdout);
      expect(got.data.data).toEqual(SECRETS);
      expect(got.data.metadata.version).toBe(1);
    },
  );

  test("a scoped token writes nothing outside its own path (the fake refuses it like Vault: 403)", () => {
    const before = auth().length;
    const r = spawnSync(
      path.join(tmp, "usr/local/bin/vault"),
      ["kv", "put", "-mount=secret", "gbo/tenants/acme/infrastructure", "-"],
      {
        env: { PATH: "/usr/bin:/bin", VAULT_TOKEN: scoped("gbo-tables") },
        input: '{"host":"evil"}',
        encoding: "utf8",
      },
    );
    expect(r.status).toBe(2);
    expect(lastLine(r.stderr)).toBe("Error: Code: 403. Errors: * permission denied");
    expect(auth().slice(before)).toEqual([
      "create secret/data/gbo/tenants/acme/infrastructure DENIED for incus-tenant-acme-gbo-tables",
    ]);
    const r2 = spawnSync(
      path.join(tmp, "usr/local/bin/vault"),
      ["kv", "metadata", "delete", "-mount=secret", "gbo/tables"],
      { env: { PATH: "/usr/bin:/bin", VAULT_TOKEN: scoped("gbo-tables") }, encoding: "utf8" },
    );
    expect(r2.status).toBe(2); // keepOnDestroy true: no delete capability either
    expect(vault("kv", "get", "-mount=secret", "gbo/tenants/acme/infrastructure").status).toBe(2);
  });

  test("the bootstrap token can come from the runbooks' init.json (root_token)", () => {
    const init = path.join(tmp, "init.json");
    fs.writeFileSync(
      init,
      `{\n  "recovery_keys_b64": [],\n  "root_token": "${rootToken()}",\n  "unseal_threshold": 3\n}\n`,
      { mode: 0o600 },
    );
    const w = { ...v, tokenFile: init };
    const r = run(renderVaultPut(w, w.paths[1]).create, vaultStdin({ host: "10.0.2.12" }));
    expect(r.stderr).toContain(
      "scoped token for secret/gbo/tenants/acme/infrastructure created " +
        "(policy incus-tenant-acme-gbo-tenants-acme-infrastructure)",
    );
    expect(r.status).toBe(0);
    expect(auth().slice(-4)).toEqual([
      "policy write incus-tenant-acme-gbo-tenants-acme-infrastructure by root",
      "token create incus-tenant-acme-gbo-tenants-acme-infrastructure by root",
      "read secret/data/gbo/tenants/acme/infrastructure by incus-tenant-acme-gbo-tenants-acme-infrastructure",
      "create secret/data/gbo/tenants/acme/infrastructure by incus-tenant-acme-gbo-tenants-acme-infrastructure",
    ]);
  });

  test("a scoped token that is no longer valid is replaced from the bootstrap token; the new one writes", () => {
    const old = scoped("gbo-tables");
    expect(
      spawnSync(path.join(tmp, "usr/local/bin/vault"), ["token", "revoke", "-self"], {
        env: { PATH: "/usr/bin:/bin", VAULT_TOKEN: old },
        encoding: "utf8",
      }).status,
    ).toBe(0);
    const r = run(renderVaultPut(v, v.paths[0]).create, vaultStdin({ ...SECRETS, host: "10.0.2.99" }));
    expect(r.stderr).toContain(
      "incus-tenant: vault: scoped token for secret/gbo/tables created (policy incus-tenant-acme-gbo-tables)",
    );
    expect(r.stderr).toContain(
      "incus-tenant: vault: secret/gbo/tables written (changed: host; adopted: password; unchanged: api)\n",
    );
    expect(r.status).toBe(0);
    expect(scoped("gbo-tables")).not.toBe(old);
    const read = "read secret/data/gbo/tables by incus-tenant-acme-gbo-tables";
    expect(auth().slice(-7)).toEqual([
      "policy write incus-tenant-acme-gbo-tables by root",
      "token create incus-tenant-acme-gbo-tables by root",
      read,
      read,
      read,
      read,
      "patch secret/data/gbo/tables by incus-tenant-acme-gbo-tables",
    ]);
    SECRETS.host = "10.0.2.99";
  });

  test("a wrong bootstrap token (no scoped token yet) fails with the fake's 403 and writes nothing", () => {
    const bad = path.join(tmp, "bad-token");
    fs.writeFileSync(bad, "nope\n", { mode: 0o600 });
    const w = { ...v, tokenFile: bad, scopedTokenDir: path.join(tmp, "other-tokens") };
    const r = run(renderVaultPut(w, w.paths[0]).create, vaultStdin({ password: "other-value-123" }));
    expect(r.status).not.toBe(0);
    expect(lastLine(r.stderr)).toBe("Error: Code: 403. Errors: * permission denied");
    expect(fs.existsSync(path.join(tmp, "other-tokens"))).toBe(false);
    expect(
      JSON.parse(vault("kv", "get", "-format=json", "-mount=secret", "gbo/tables").stdout).data.data,
    ).toEqual(SECRETS);
  });

  test("a value that is not a JSON string is refused by the fake (flat strings only); nothing written", () => {
    const r = run(
      renderVaultPut(v, v.paths[0]).create,
      `"api":1\n"host":"${SECRETS.host}"\n"password":"${SECRETS.password}"\n`,
    );
    expect(r.status).not.toBe(0);
    expect(lastLine(r.stderr)).toBe("Error: Failed to parse K=V data: expected one object of string values");
    expect(
      JSON.parse(vault("kv", "get", "-format=json", "-mount=secret", "gbo/tables").stdout).data.data,
    ).toEqual(SECRETS);
  });

  test("sealed: the put stops with the exact message and never reaches vault", () => {
    const before = calls();
    spawnSync("bash", [FAKE, "seal", "--root", tmp]);
    try {
      for (const text of [renderVaultPreflight(v).create, renderVaultPut(v, v.paths[0]).create]) {
        const r = run(text, JSON.stringify(SECRETS));
        expect(r.status).toBe(1);
        expect(lastLine(r.stderr)).toBe(SEALED_MESSAGE);
      }
    } finally {
      spawnSync("bash", [FAKE, "unseal", "--root", tmp]);
    }
    expect(calls()).toBe(before);
  });

  test("not initialized (no token) and unreachable: exact messages", () => {
    const token = path.join(state, "token");
    fs.renameSync(token, `${token}.off`);
    try {
      expect(lastLine(run(renderVaultPreflight(v).create).stderr)).toBe("Vault is not initialized");
    } finally {
      fs.renameSync(`${token}.off`, token);
    }
    const away = { ...v, address: "http://127.0.0.1:1" };
    const r = run(renderVaultPreflight(away).create);
    expect(r.status).toBe(1);
    expect(r.stderr).toBe(
      "incus-tenant: vault health check answered 000\nVault is unreachable at http://127.0.0.1:1\n",
    );
    expect(run(renderVaultPreflight(v).create).status).toBe(0);
  });

  test("delete: kept by default (token revoked); keepOnDestroy false: all versions gone; re-runs fine", () => {
    const keep = run(renderVaultPut(v, v.paths[0]).delete as string);
    expect(keep.status).toBe(0);
    expect(keep.stderr).toBe(
      "incus-tenant: vault: secret/gbo/tables kept (keepOnDestroy is true)\n" +
        "incus-tenant: vault: scoped token for secret/gbo/tables revoked\n",
    );
    expect(fs.existsSync(path.join(dir(), "gbo-tables.token"))).toBe(false);
    expect(auth().slice(-1)).toEqual(["revoke-self by incus-tenant-acme-gbo-tables"]);
    expect(vault("kv", "get", "-format=json", "-mount=secret", "gbo/tables").status).toBe(0);
    const del = renderVaultPut(v, v.paths[1]).delete as string;
    expect(vault("kv", "get", "-mount=secret", "gbo/tenants/acme/infrastructure").status).toBe(0);
    const first = run(del);
    expect(first.status).toBe(0);
    expect(auth().slice(-3)).toEqual([
      "lookup-self by incus-tenant-acme-gbo-tenants-acme-infrastructure",
      "delete secret/metadata/gbo/tenants/acme/infrastructure by incus-tenant-acme-gbo-tenants-acme-infrastructure",
      "revoke-self by incus-tenant-acme-gbo-tenants-acme-infrastructure",
    ]);
    expect(vault("kv", "get", "-mount=secret", "gbo/tenants/acme/infrastructure").status).toBe(2);
    expect(fs.existsSync(path.join(dir(), "gbo-tenants-acme-infrastructure.token"))).toBe(false);
    expect(run(del).status).toBe(0);
    expect(run(renderVaultPut(v, v.paths[0]).delete as string).status).toBe(0);
    const gone = spawnSync("sh", ["-c", remoteBash(del, false)], {
      env: { ...env, SHIM_CONTAINERS: "system" },
      encoding: "utf8",
    });
    expect(gone.status).toBe(0);
    expect(gone.stderr).toBe("incus-tenant: vault: container vault is gone, nothing to delete\n");
  });

  test(
    "env file: only our VAULT_* lines change, other lines stay, names-only warning, backup, 0600, " +
      "idempotent",
    () => {
      const file = path.join(tmp, "opt/gbo/bin/.env");
      const w: VaultSpec = {
        ...v,
        envFile: {
          container: "system",
          path: file,
          variables: [
            ["VAULT_ADDR", "https://10.0.2.13:8200"],
            ["VAULT_CACERT", "/opt/gbo/conf/system/certificates/ca/ca.crt"],
          ],
        },
      };
      const text = renderVaultEnvFile(w).create;
      const first = run(text);
      expect(first.status).toBe(0);
      expect(fs.readFileSync(file, "utf8")).toBe(
        "VAULT_ADDR=https://10.0.2.13:8200\nVAULT_CACERT=/opt/gbo/conf/system/certificates/ca/ca.crt\n",
      );
      expect(fs.statSync(file).mode & 0o777).toBe(0o600);
      fs.writeFileSync(file, "VAULT_ADDR=https://old:8200\nVAULT_TOKEN=s.operator-token-777\nPORT=5858\n");
      const second = run(text);
      expect(second.status).toBe(0);
      // In place: VAULT_ADDR keeps its line, the missing VAULT_CACERT is appended, the rest stays.
      expect(fs.readFileSync(file, "utf8")).toBe(
        "VAULT_ADDR=https://10.0.2.13:8200\nVAULT_TOKEN=s.operator-token-777\nPORT=5858\n" +
          "VAULT_CACERT=/opt/gbo/conf/system/certificates/ca/ca.crt\n",
      );
      expect(second.stderr).toContain(
        `incus-tenant: warning: ${file} also holds non-VAULT variables (only VAULT_* belong there): PORT \n`,
      );
      expect(second.stderr).not.toContain("5858");
      expect(second.stderr).not.toContain("operator-token");
      const backups = fs.readdirSync(path.dirname(file)).filter((f) => f.startsWith(".env.bak-"));
      expect(backups).toHaveLength(1);
      expect(fs.readFileSync(path.join(path.dirname(file), backups[0]), "utf8")).toBe(
        "VAULT_ADDR=https://old:8200\nVAULT_TOKEN=s.operator-token-777\nPORT=5858\n",
      );
      const third = run(text);
      expect(third.stderr).toContain(`incus-tenant: ${file}: unchanged`);
      expect(fs.readdirSync(path.dirname(file)).filter((f) => f.startsWith(".env.bak-"))).toHaveLength(1);
    },
  );
});

// ---------------------------------------------------------------------------------------------
// VaultPath under setMocks: what reaches the engine.
// ---------------------------------------------------------------------------------------------
describe("createVault under setMocks", () => {
  const registered: MockResourceArgs[] = [];
  const secretOutputs = new Map<string, string[]>();
  const parents = new Map<string, string>();
  const aliasParents = new Map<string, string[]>();
  let result: { outputs: unknown; paths: { keyNames: readonly string[] }[] } | undefined;
  const SIG = "4dabf18193072939515e22adb298388d";
  const byName = (n: string) => {
    const r = registered.find((x) => x.name === n);
    if (!r) throw new Error(`no resource ${n}`);
    return r;
  };

  beforeAll(async () => {
    const proto = pulumiMocks.MockMonitor.prototype as unknown as Record<string, (...a: any[]) => any>;
    const original = proto.registerResource;
    proto.registerResource = function (req: any, cb: any) {
      secretOutputs.set(req.getName(), req.getAdditionalsecretoutputsList());
      parents.set(req.getName(), req.getParent());
      aliasParents.set(
        req.getName(),
        (req.getAliasesList() as any[]).map((al) => al.getSpec()?.getParenturn() as string),
      );
      return original.call(this, req, cb);
    };
    await pulumi.runtime.setMocks(
      {
        newResource: (a: MockResourceArgs) => {
          registered.push(a);
          if (a.type === "random:index/randomPassword:RandomPassword")
            return { id: `${a.name}-id`, state: { ...a.inputs, result: `GEN-${a.name}-SECRET` } };
          return { id: `${a.name}-id`, state: a.inputs };
        },
        call: (a) => a.inputs,
      },
      "incus-tenant",
      "test",
      false,
    );
    const { createVault } = await import("../../components/vaultPath");
    class Parent extends pulumi.ComponentResource {
      constructor() {
        super("incus-tenant:index:Tenant", "acme", {});
      }
    }
    const parent = new Parent();
    const vault = small({ envFile: { variables: { VAULT_ADDR: "https://10.0.2.13:8200" } } });
    const conn = { host: "203.0.113.10", user: "admin", privateKey: pulumi.secret("KEY") };
    const res = createVault({
      vault,
      connection: conn,
      sudo: true,
      parent,
      name: "acme-vault",
      dependsOn: [],
      secretConfig: (k) => pulumi.secret(`CFG-${k}-SECRET`),
    });
    await new Promise((resolve) =>
      pulumi.all([res.preflight.urn, res.envFile!.urn, ...res.paths.map((p) => p.put.urn)]).apply(resolve),
    );
    result = res;
  });

  test("exact resources: preflight, env, one VaultPath + put per path, one RandomPassword per generated key", () => {
    expect(registered.map((r) => `${r.type} ${r.name}`).sort()).toEqual(
      [
        "incus-tenant:index:Tenant acme",
        "incus-tenant:vault:Vault acme-vault",
        "command:remote:Command acme-vault-preflight",
        "command:remote:Command acme-vault-env",
        "incus-tenant:vault:VaultPath acme-vault-gbo-tables",
        "random:index/randomPassword:RandomPassword acme-vault-gbo-tables-password",
        "command:remote:Command acme-vault-gbo-tables-put",
        "incus-tenant:vault:VaultPath acme-vault-gbo-tenants-acme-infrastructure",
        "command:remote:Command acme-vault-gbo-tenants-acme-infrastructure-put",
      ].sort(),
    );
    expect(parents.get("acme-vault-gbo-tables-password")).toMatch(
      /incus-tenant:vault:VaultPath::acme-vault-gbo-tables$/,
    );
    expect(parents.get("acme-vault-gbo-tables-put")).toMatch(
      /incus-tenant:vault:VaultPath::acme-vault-gbo-tables$/,
    );
    // Children of the Vault component, each aliased to its former parent (the Tenant).
    for (const n of ["acme-vault-preflight", "acme-vault-env", "acme-vault-gbo-tables"]) {
      expect(parents.get(n)).toMatch(/incus-tenant:vault:Vault::acme-vault$/);
      expect(aliasParents.get(n)).toEqual([expect.stringMatching(/incus-tenant:index:Tenant::acme$/)]);
    }
    expect(unwrapSecrets(byName("acme-vault-gbo-tables-password").inputs)).toEqual({
      length: 32,
      special: false,
      keepers: { path: "gbo/tables", key: "password" },
    });
  });

  test("put: secret stdin with every value, logging none, stdout/stderr secret, no triggers", () => {
    const put = byName("acme-vault-gbo-tables-put");
    expect(put.inputs.stdin[SIG]).toBeDefined();
    expect(unwrapSecrets(put.inputs.stdin)).toBe(
      '"api":"CFG-llmKey-SECRET"\n"host":"10.0.2.12"\n"password":"GEN-acme-vault-gbo-tables-password-SECRET"\n',
    );
    expect(put.inputs.logging).toBe("none");
    expect(put.inputs.triggers).toBeUndefined();
    // (the command SDK itself adds "connection")
    expect(secretOutputs.get("acme-vault-gbo-tables-put")).toEqual(
      expect.arrayContaining(["stdout", "stderr"]),
    );
    expect(secretOutputs.get("acme-vault-gbo-tenants-acme-infrastructure-put")).toEqual(
      expect.arrayContaining(["stdout", "stderr"]),
    );
    expect(secretOutputs.get("acme-vault-preflight")).not.toContain("stdout");
    const vault = small({ envFile: { variables: { VAULT_ADDR: "https://10.0.2.13:8200" } } });
    expect(put.inputs.create).toBe(remoteBash(renderVaultPut(vault, vault.paths[0]).create, true));
  });

  test("no generated or configured secret in any command text or plain output", () => {
    for (const c of registered.filter((r) => r.type === "command:remote:Command")) {
      const inputs = unwrapSecrets(c.inputs) as Record<string, unknown>;
      for (const text of [inputs.create, inputs.delete])
        expect(String(text)).not.toMatch(/GEN-|CFG-|-SECRET/);
      if (!c.name.endsWith("-put")) expect(inputs.stdin).toBeUndefined();
    }
    expect(JSON.stringify(result?.outputs)).not.toMatch(/GEN-|CFG-|SECRET/);
    expect(result?.outputs).toEqual({
      paths: [
        { path: "gbo/tables", keys: ["api", "host", "password"] },
        { path: "gbo/tenants/acme/infrastructure", keys: ["host"] },
      ],
    });
  });
});
