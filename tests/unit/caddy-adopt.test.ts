/**
 * Issue 12, Caddy: adopting a proxy whose main file the program did not write (seed 002's
 * /opt/gbo/conf/config under unit `proxy`). The real `caddy validate`/`adapt` prove our site
 * files work inside such a main file; the scripts run against the stand-ins of caddy-fakes.ts
 * prove the main file only ever gains one import line, and that a vhost whose domain the main
 * file already serves is refused (exact message, nothing changed) or taken over in one step.
 */
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { deriveVhosts, proxySectionSchema, vhostsSectionSchema } from "../../model/vhosts";
import type { CaddySpec, VhostSpec } from "../../model/vhosts";
import { renderCaddyMainScripts, renderVhost, renderVhostScripts } from "../../render/caddy";
import { caddyDrift } from "../../services/caddy/drift";
import { fileKey, LiveState } from "../../drift/read";
import { fakeCalls, runWithStandins, writeStandins } from "./caddy-fakes";

const made: string[] = [];
const tmp = (prefix: string) => {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), `itn-caddy-adopt-${prefix}-`));
  made.push(d);
  return d;
};
afterAll(() => made.forEach((d) => fs.rmSync(d, { recursive: true, force: true })));

/** A hand-built main file as seed 002 has it: global storage block, sites with their own tls. */
const foreignMain = (data: string) =>
  [
    "# proxy config of the pragmatismo tenant (hand-made)",
    "{",
    "\tstorage file_system {",
    `\t\troot ${data}`,
    "\t}",
    "}",
    "",
    "legacy.example.com {",
    "\ttls internal",
    "\treverse_proxy 10.0.2.30:80",
    "}",
    "",
    "chat.example.com, www.example.com {",
    "\ttls internal",
    "\treverse_proxy 10.0.2.31:5859",
    "}",
  ].join("\n");

const specFor = (root: string, tls: unknown, vhosts: unknown): CaddySpec =>
  deriveVhosts({
    proxy: proxySectionSchema.parse({
      tls,
      service: "proxy",
      mainFile: `${root}/opt/gbo/conf/config`,
      sitesDir: `${root}/etc/caddy/sites`,
    }),
    vhosts: vhostsSectionSchema.parse(vhosts),
    ips: new Map([
      ["proxy", "10.0.2.10"],
      ["system", "10.0.2.11"],
    ]),
    domainOf: (l) => `${l}.example.com`,
  })!;
const OURS = {
  alm: { upstream: { container: "system", port: 4747 } },
  meet: { upstream: { container: "system", port: 7880 } },
};
const caddy = (...args: string[]) => spawnSync("/usr/bin/caddy", args, { encoding: "utf8" });

describe.each([
  ["prod (ACME e-mail)", { acmeEmail: "admin@example.com" }],
  ["test bed (tls internal)", { internal: true }],
])("real caddy: our site files inside a foreign main file, %s", (_what, tls) => {
  const root = tmp("real");
  const spec = specFor(root, tls, OURS);
  beforeAll(() => {
    fs.mkdirSync(path.dirname(spec.proxy.mainFile), { recursive: true });
    fs.mkdirSync(spec.proxy.sitesDir, { recursive: true });
    fs.writeFileSync(
      spec.proxy.mainFile,
      `${foreignMain(`${root}/data`)}\nimport ${spec.proxy.sitesDir}/*.caddy\n`,
    );
    for (const v of spec.vhosts) fs.writeFileSync(v.file, renderVhost(v));
  });
  test("caddy validate accepts it", () => {
    const r = caddy("validate", "--config", spec.proxy.mainFile, "--adapter", "caddyfile");
    expect(r.stdout).toContain("Valid configuration");
    expect(r.status).toBe(0);
  });
  test("caddy adapt: the hand-made sites and ours, each to its upstream, each with its TLS", () => {
    const r = caddy("adapt", "--config", spec.proxy.mainFile, "--adapter", "caddyfile");
    expect(r.status).toBe(0);
    const json = JSON.parse(r.stdout);
    const routes = json.apps.http.servers.srv0.routes as { match: { host: string[] }[] }[];
    const hosts = routes.map((x) => x.match[0].host.join(",")).sort();
    expect(hosts).toEqual([
      "alm.example.com",
      "chat.example.com,www.example.com",
      "legacy.example.com",
      "meet.example.com",
    ]);
    expect(JSON.stringify(routes.find((x) => x.match[0].host[0] === "meet.example.com"))).toContain(
      '"dial":"10.0.2.11:7880"',
    );
    const policies = JSON.stringify(json.apps.tls.automation.policies);
    if ("acmeEmail" in tls) expect(policies).toContain('"email":"admin@example.com"');
    expect(policies).toContain('"module":"internal"');
  });
  test("the site files of before (import tls_config) fail there: the snippet exists only in our main file", () => {
    fs.writeFileSync(
      spec.vhosts[0].file,
      renderVhost(spec.vhosts[0]).replace(/\ttls .*/, "\timport tls_config"),
    );
    const r = caddy("validate", "--config", spec.proxy.mainFile, "--adapter", "caddyfile");
    fs.writeFileSync(spec.vhosts[0].file, renderVhost(spec.vhosts[0]));
    expect(r.status).toBe(1);
    expect(r.stderr).toContain(
      `${spec.vhosts[0].file}:3 - Error during parsing: File to import not found: tls_config`,
    );
  });
});

describe("scripts on a foreign main file (stand-in incus/systemctl, real caddy validate)", () => {
  let fake: string;
  let root: string;
  let spec: CaddySpec;
  let original: string;
  const main = () => fs.readFileSync(spec.proxy.mainFile, "utf8");
  const conf = () => fs.readdirSync(path.dirname(spec.proxy.mainFile)).sort();
  const run = (text: string) => runWithStandins(fake, text);
  const vhost = (key: string, extra: Partial<VhostSpec> = {}): VhostSpec => ({
    ...spec.vhosts[0],
    key,
    domain: `${key}.example.com`,
    file: `${spec.proxy.sitesDir}/${key}.caddy`,
    ...extra,
  });

  beforeEach(() => {
    fake = tmp("fake");
    root = `${fake}/root`;
    writeStandins(fake);
    fs.writeFileSync(`${fake}/running`, "");
    spec = specFor(root, { internal: true }, OURS);
    original = `${foreignMain(`${fake}/data`)}\n`;
    fs.mkdirSync(path.dirname(spec.proxy.mainFile), { recursive: true });
    fs.writeFileSync(spec.proxy.mainFile, original, { mode: 0o640 });
  });

  test("main: only the import line is appended (backup, validate, reload of unit proxy); again: nothing", () => {
    const r = run(renderCaddyMainScripts(spec).create);
    expect([r.status, fakeCalls(fake)]).toEqual([
      0,
      ["caddy validate", "systemctl is-active --quiet proxy", "caddy reload"],
    ]);
    expect(main()).toBe(`${original}import ${spec.proxy.sitesDir}/*.caddy\n`);
    expect(fs.statSync(spec.proxy.mainFile).mode & 0o777).toBe(0o640);
    const backups = conf().filter((f) => f.startsWith("config.bak-"));
    expect(backups).toEqual([expect.stringMatching(/^config\.bak-\d{14}$/)]);
    expect(fs.readFileSync(`${path.dirname(spec.proxy.mainFile)}/${backups[0]}`, "utf8")).toBe(original);
    expect(r.stderr).toContain(
      `${spec.proxy.mainFile}: not written by incus-tenant: ` +
        `only the line 'import ${spec.proxy.sitesDir}/*.caddy' appended`,
    );
    const again = run(renderCaddyMainScripts(spec).create);
    expect([again.status, fakeCalls(fake)]).toEqual([0, []]);
    expect(again.stderr).toContain(
      `${spec.proxy.mainFile}: not written by incus-tenant, left as it is (it imports the sites)`,
    );
    expect(main()).toBe(`${original}import ${spec.proxy.sitesDir}/*.caddy\n`);
  });

  test("main without a final newline: one is added before the import line, nothing else changes", () => {
    fs.writeFileSync(spec.proxy.mainFile, original.replace(/\n$/, ""));
    expect(run(renderCaddyMainScripts(spec).create).status).toBe(0);
    expect(main()).toBe(`${original}import ${spec.proxy.sitesDir}/*.caddy\n`);
  });

  test("main with the import line twice: refused, file untouched", () => {
    const twice = `${original}import ${spec.proxy.sitesDir}/*.caddy\n  import ${spec.proxy.sitesDir}/*.caddy\t\n`;
    fs.writeFileSync(spec.proxy.mainFile, twice);
    const r = run(renderCaddyMainScripts(spec).create);
    expect(r.status).toBe(1);
    expect(r.stderr).toContain(
      `${spec.proxy.mainFile}: not written by incus-tenant, and it has 2 lines ` +
        `'import ${spec.proxy.sitesDir}/*.caddy': ` +
        "leave exactly one (Caddy would load every site twice)",
    );
    expect([main(), conf(), fakeCalls(fake)]).toEqual([twice, ["config"], []]);
  });

  test.each(["validate", "reload"])("main: a failed %s puts the original back byte for byte", (step) => {
    fs.writeFileSync(`${fake}/fail-${step}`, "");
    const r = run(renderCaddyMainScripts(spec).create);
    expect(r.status).toBe(1);
    expect(r.stderr).toContain(
      `caddy ${step} failed for ${spec.proxy.mainFile}: the previous config is back`,
    );
    expect(main()).toBe(original);
  });

  test("a main file of ours (managed header) is still rewritten whole, as before", () => {
    fs.writeFileSync(spec.proxy.mainFile, "# managed by incus-tenant: caddy main file (old)\n{\n}\n");
    expect(run(renderCaddyMainScripts(spec).create).status).toBe(0);
    expect(main()).toContain("(tls_config) {");
  });

  describe("a vhost whose domain the main file serves", () => {
    beforeEach(() => expect(run(renderCaddyMainScripts(spec).create).status).toBe(0));
    const chat = () => vhost("chat");

    test("refused by default: both places and the field named, nothing changed, nothing run", () => {
      const before = main();
      const r = run(renderVhostScripts(spec, chat()).create);
      expect(r.status).toBe(1);
      expect(r.stderr.trim().split("\n").pop()).toBe(
        `vhost chat (chat.example.com): already served by the site block at ${spec.proxy.mainFile}:13 ` +
          `(chat.example.com, www.example.com); the stack would serve it from ${chat().file}. ` +
          "Set vhosts.chat.takeOver: true to move it there (the block is removed from its file, with a " +
          "dated backup, in the same validated reload), or take the vhost out of the stack. Nothing was changed.",
      );
      expect([main(), fs.existsSync(chat().file), fakeCalls(fake)]).toEqual([before, false, []]);
    });

    test("a vhost of another domain is not refused", () => {
      expect(run(renderVhostScripts(spec, vhost("alm")).create).status).toBe(0);
      expect(fakeCalls(fake)).toEqual([
        "caddy validate",
        "systemctl is-active --quiet proxy",
        "caddy reload",
      ]);
    });

    test("takeOver: the domain leaves its block (www stays), our file is added, one validate + one reload", () => {
      const before = main();
      const r = run(renderVhostScripts(spec, vhost("chat", { takeOver: true })).create);
      expect(r.status).toBe(0);
      expect(fakeCalls(fake)).toEqual([
        "caddy validate",
        "systemctl is-active --quiet proxy",
        "caddy reload",
      ]);
      expect(main()).toBe(before.replace("chat.example.com, www.example.com {", "www.example.com {"));
      expect(fs.readFileSync(chat().file, "utf8")).toBe(renderVhost(chat()));
      const backups = conf().filter((f) => f.startsWith("config.bak-"));
      expect(
        backups.map((b) => fs.readFileSync(`${path.dirname(spec.proxy.mainFile)}/${b}`, "utf8")),
      ).toContain(before);
      expect(r.stderr).toContain(
        `${spec.proxy.mainFile}: site block of chat.example.com removed (backup ${spec.proxy.mainFile}.bak-`,
      );
    });

    test("takeOver of a block of only that domain removes the block whole", () => {
      const r = run(renderVhostScripts(spec, vhost("legacy", { takeOver: true })).create);
      expect(r.status).toBe(0);
      expect(main()).toBe(
        original.replace("legacy.example.com {\n\ttls internal\n\treverse_proxy 10.0.2.30:80\n}\n", "") +
          `import ${spec.proxy.sitesDir}/*.caddy\n`,
      );
    });

    test.each(["validate", "reload"])(
      "takeOver whose %s fails: main file and sites back as they were",
      (step) => {
        const before = main();
        fs.writeFileSync(`${fake}/fail-${step}`, "");
        const r = run(renderVhostScripts(spec, vhost("chat", { takeOver: true })).create);
        expect(r.status).toBe(1);
        expect(r.stderr).toContain(`${spec.proxy.mainFile}: restored from ${spec.proxy.mainFile}.bak-`);
        expect(r.stderr).toContain(
          `caddy ${step} failed for ${chat().file}: the previous config is back in place`,
        );
        expect([main(), fs.existsSync(chat().file)]).toEqual([before, false]);
      },
    );
  });
});

test("shellcheck: the takeOver script (prod's stack has no takeOver vhost, so tests/unit/shellcheck misses it)", () => {
  const spec = specFor("/srv", { acmeEmail: "admin@example.com" }, OURS);
  const text = renderVhostScripts(spec, { ...spec.vhosts[0], takeOver: true }).create;
  const r = spawnSync("shellcheck", ["-s", "bash", "-f", "gcc", "-"], { input: text, encoding: "utf8" });
  expect(r.stdout).toBe("");
  expect(r.status).toBe(0);
});

describe("plan --live drift of a foreign main file: only its import line counts", () => {
  const spec = specFor("/srv", { internal: true }, {});
  const live = (content: string): LiveState => ({
    nat: "",
    filter: "",
    containers: [],
    files: { [fileKey("proxy", spec.proxy.mainFile)]: { content } },
    dirs: { [fileKey("proxy", spec.proxy.sitesDir)]: [] },
  });
  const item = (text: string) => ({
    resource: "caddy main",
    kind: "caddy",
    command: "acme-caddy-main",
    change: "changed",
    text,
    details: [],
  });
  test.each([
    ["one import line: no drift", `${foreignMain("/d")}\nimport /srv/etc/caddy/sites/*.caddy\n`, []],
    [
      "none: up appends it",
      `${foreignMain("/d")}\n`,
      [
        item(
          "caddy main file /srv/opt/gbo/conf/config (not written by incus-tenant): no line " +
            "'import /srv/etc/caddy/sites/*.caddy': up appends it",
        ),
      ],
    ],
    [
      "two",
      `${foreignMain("/d")}\nimport /srv/etc/caddy/sites/*.caddy\n\timport /srv/etc/caddy/sites/*.caddy\n`,
      [
        item(
          "caddy main file /srv/opt/gbo/conf/config (not written by incus-tenant): 2 lines " +
            "'import /srv/etc/caddy/sites/*.caddy': leave exactly one",
        ),
      ],
    ],
  ])("%s", (_what, content, want) => expect(caddyDrift("acme", spec, live(content))).toEqual(want));

  test("a main file of ours is still diffed whole", () => {
    const items = caddyDrift("acme", spec, live("# managed by incus-tenant: old\n"));
    expect(items.map((i) => i.text)).toEqual(["caddy main file differs"]);
  });
});
