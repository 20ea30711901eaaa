/**
 * Caddy: spec sections, exact rendered files, the real `caddy validate`/`adapt`/`fmt` on every
 * rendered file, the apply/delete scripts run locally against a stand-in `incus` (runs
 * `incus exec <c> -- cmd` as `cmd` on this machine) plus stand-in `caddy`/`systemctl` that fail
 * on demand, and the components under Pulumi's mock runtime.
 */
import { spawnSync } from "child_process";
import { MESSAGES } from "../../model/primitives";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import * as pulumi from "@pulumi/pulumi";
import type { MockResourceArgs } from "@pulumi/pulumi/runtime";
import { formatPath } from "../../model";
import {
  CaddySpec,
  checkVhosts,
  deriveVhosts,
  proxySectionSchema,
  VhostSpec,
  vhostsSectionSchema,
} from "../../model/vhosts";
import {
  renderCaddyMainScripts,
  renderMainCaddyfile,
  renderVhost,
  renderVhostScripts,
} from "../../render/caddy";
import { BACKUPS_KEPT, remoteBash } from "../../render/shell";
import { createCaddy } from "../../components/caddy";
import { fakeCalls, runWithStandins, writeStandins } from "./caddy-fakes";

const CADDY = "/usr/bin/caddy";
const containers = new Map<string, number[]>([
  ["proxy", [80, 443]],
  ["system", [5858, 5859]],
  ["alm", [4747]],
  ["directory", [9000]],
  ["webmail", [80]],
]);
const ips = new Map([
  ["proxy", "10.0.2.10"],
  ["system", "10.0.2.11"],
  ["alm", "10.0.2.18"],
  ["directory", "10.0.2.15"],
  ["webmail", "10.0.2.21"],
]);
const domainOf = (label: string) => `${label}.example.com`;
const rawVhosts = {
  webmail: { upstream: { container: "webmail", port: 80 } },
  chat: { upstream: { container: "system", port: 5858 } },
  alm: { upstream: { container: "alm", port: 4747 } },
  login: { upstream: { container: "directory", port: 9000 } },
  legacy: { domain: "mail.example.org", upstream: { container: "webmail", port: 80 }, servedElsewhere: true },
};
const derive = (tls: unknown, vhosts: unknown = rawVhosts): CaddySpec =>
  deriveVhosts({
    proxy: proxySectionSchema.parse({ tls }),
    vhosts: vhostsSectionSchema.parse(vhosts),
    ips,
    domainOf,
  })!;
const prod = derive({ acmeEmail: "admin@example.com" });
const testbed = derive({ internal: true });
const made: string[] = [];
const tmp = (prefix: string) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `itn-caddy-${prefix}-`));
  made.push(dir);
  return dir;
};
afterAll(() => made.forEach((dir) => fs.rmSync(dir, { recursive: true, force: true })));
const zodProblems = (r: {
  success: boolean;
  error?: { issues: { path: (string | number)[]; message: string }[] };
}) => (r.error?.issues ?? []).map((i) => ({ path: formatPath(i.path), message: i.message }));

describe("spec: proxy and vhosts sections", () => {
  test("defaults", () => {
    expect(proxySectionSchema.parse({ tls: { internal: true } })).toEqual({
      container: "proxy",
      install: false,
      tls: { internal: true },
      sitesDir: "/etc/caddy/sites",
      mainFile: "/etc/caddy/Caddyfile",
      service: "caddy",
    });
    expect(vhostsSectionSchema.parse({ chat: { upstream: { container: "system", port: 5858 } } })).toEqual({
      chat: { upstream: { container: "system", port: 5858 }, servedElsewhere: false, takeOver: false },
    });
  });
  test.each([
    [{ tls: {} }, [{ path: "tls", message: "must set exactly one of acmeEmail or internal: true" }]],
    [
      { tls: { acmeEmail: "a@example.com", internal: true } },
      [{ path: "tls", message: "must set exactly one of acmeEmail or internal: true" }],
    ],
    [
      { tls: { acmeEmail: "nobody" } },
      [{ path: "tls.acmeEmail", message: "must be an e-mail address like admin@example.com" }],
    ],
    [{ tls: { internal: false } }, [{ path: "tls.internal", message: "must be true (or leave it out)" }]],
    [
      { tls: { internal: true }, sitesDir: "etc/caddy" },
      [{ path: "sitesDir", message: MESSAGES.plainAbsPath }],
    ],
    [
      { tls: { internal: true }, mainFile: "/etc/../Caddyfile" },
      [{ path: "mainFile", message: MESSAGES.plainAbsPath }],
    ],
  ])("proxy %j is refused", (raw, expected) =>
    expect(zodProblems(proxySectionSchema.safeParse(raw))).toEqual(expected),
  );
  test("vhost shape problems", () => {
    expect(
      zodProblems(
        vhostsSectionSchema.safeParse({ chat: { upstream: { container: "system", port: 70000 }, tls: 1 } }),
      ),
    ).toEqual([
      { path: "chat.upstream.port", message: "must be a port from 1 to 65535" },
      { path: "chat", message: "Unrecognized key(s) in object: 'tls'" },
    ]);
  });

  const check = (proxy: unknown, vhosts: unknown) =>
    checkVhosts({
      proxy: proxy === undefined ? undefined : proxySectionSchema.parse(proxy),
      vhosts: vhostsSectionSchema.parse(vhosts),
      containers,
      domainOf,
    });
  test("a valid config has no problems", () =>
    expect(check({ tls: { internal: true } }, rawVhosts)).toEqual([]));
  test.each([
    [
      "unknown proxy container",
      { container: "prxy", tls: { internal: true } },
      {},
      [{ path: "proxy.container", message: 'no container named "prxy"' }],
    ],
    [
      "vhosts without proxy",
      undefined,
      { chat: rawVhosts.chat },
      [{ path: "proxy", message: "is required when vhosts are declared" }],
    ],
    [
      "unknown upstream",
      { tls: { internal: true } },
      { chat: { upstream: { container: "sytem", port: 5858 } } },
      [{ path: "vhosts.chat.upstream.container", message: 'no container named "sytem"' }],
    ],
    [
      "port not exposed",
      { tls: { internal: true } },
      { chat: { upstream: { container: "system", port: 8080 } } },
      [{ path: "vhosts.chat.upstream.port", message: 'container "system" does not expose port 8080' }],
    ],
    [
      "bad domain",
      { tls: { internal: true } },
      { chat: { domain: "Chat..example.com", upstream: { container: "system", port: 5858 } } },
      [
        {
          path: "vhosts.chat.domain",
          message:
            '"Chat..example.com" is not a valid DNS name (lower-case labels separated by dots, like chat.example.com)',
        },
      ],
    ],
    [
      "duplicate domain",
      { tls: { internal: true } },
      {
        chat: rawVhosts.chat,
        app: { domain: "chat.example.com", upstream: { container: "system", port: 5859 } },
      },
      [{ path: "vhosts.app.domain", message: 'chat.example.com is already served by vhost "chat"' }],
    ],
    [
      "bad label",
      { tls: { internal: true } },
      { Chat_1: rawVhosts.chat },
      [
        {
          path: "vhosts.Chat_1",
          message:
            "vhost name must be a DNS label (1-63 lower-case letters, digits or hyphens, " +
            "not starting or ending with a hyphen)",
        },
      ],
    ],
  ])("%s", (_what, proxy, vhosts, expected) => expect(check(proxy, vhosts)).toEqual(expected));

  test("derived spec: proxy IP, TLS, sorted vhosts with upstream IPs and files", () => {
    expect(prod.proxy).toEqual({
      container: "proxy",
      install: false,
      ip: "10.0.2.10",
      tls: { kind: "acme", email: "admin@example.com" },
      sitesDir: "/etc/caddy/sites",
      mainFile: "/etc/caddy/Caddyfile",
      dataRoot: "/opt/gbo/data/caddy",
      service: "caddy",
    });
    expect(testbed.proxy.tls).toEqual({ kind: "internal" });
    expect(prod.vhosts.map((v) => v.key)).toEqual(["alm", "chat", "legacy", "login", "webmail"]);
    expect(prod.vhosts[1]).toEqual({
      key: "chat",
      domain: "chat.example.com",
      upstreamContainer: "system",
      upstreamIp: "10.0.2.11",
      upstreamPort: 5858,
      servedElsewhere: false,
      takeOver: false,
      tls: { kind: "acme", email: "admin@example.com" },
      file: "/etc/caddy/sites/chat.caddy",
    });
    expect(prod.vhosts[2]).toMatchObject({ domain: "mail.example.org", servedElsewhere: true });
    expect(deriveVhosts({ proxy: undefined, vhosts: undefined, ips, domainOf })).toBeUndefined();
  });
});

describe("rendered Caddyfiles (exact text)", () => {
  test("main file, prod (ACME e-mail)", () => {
    expect(renderMainCaddyfile(prod))
      .toBe(`# managed by incus-tenant: caddy main file of container proxy (sites in /etc/caddy/sites)
{
\tstorage file_system {
\t\troot /opt/gbo/data/caddy
\t}
}

(tls_config) {
\ttls admin@example.com
}

import /etc/caddy/sites/*.caddy
`);
  });
  test("main file, test bed: tls internal", () => {
    expect(renderMainCaddyfile(testbed).split("\n").slice(7, 10)).toEqual([
      "(tls_config) {",
      "\ttls internal",
      "}",
    ]);
  });
  test("vhost from the runbook template", () => {
    expect(renderVhost(prod.vhosts[1]))
      .toBe(`# managed by incus-tenant: caddy vhost chat (chat.example.com -> system 10.0.2.11:5858)
chat.example.com {
\ttls admin@example.com
\treverse_proxy 10.0.2.11:5858 {
\t\theader_up Host {host}
\t\theader_up X-Real-IP {remote}
\t\theader_up X-Forwarded-Proto https
\t}
}
`);
  });
});

/** Main + sites in a temp dir; the import glob and storage root are rewritten into it. */
function assemble(caddy: CaddySpec, extra: Record<string, string> = {}): string {
  const dir = tmp("validate");
  const replaceOnce = (text: string, from: string, to: string) => {
    expect(text.split(from)).toHaveLength(2);
    return text.replace(from, to);
  };
  let main = renderMainCaddyfile(caddy);
  main = replaceOnce(main, `import ${caddy.proxy.sitesDir}/*.caddy`, `import ${dir}/sites/*.caddy`);
  main = replaceOnce(main, `root ${caddy.proxy.dataRoot}`, `root ${dir}/data`);
  fs.mkdirSync(`${dir}/sites`);
  fs.writeFileSync(`${dir}/Caddyfile`, main);
  for (const v of caddy.vhosts) fs.writeFileSync(`${dir}/sites/${v.key}.caddy`, renderVhost(v));
  for (const [name, text] of Object.entries(extra)) fs.writeFileSync(`${dir}/sites/${name}`, text);
  return dir;
}
const caddy = (...args: string[]) => spawnSync(CADDY, args, { encoding: "utf8" });

describe.each([
  ["prod", prod],
  ["test bed", testbed],
] as const)("real caddy on the %s files", (_name, spec) => {
  test("caddy validate accepts main + every vhost", () => {
    const r = caddy("validate", "--config", `${assemble(spec)}/Caddyfile`, "--adapter", "caddyfile");
    expect(r.stdout).toContain("Valid configuration");
    expect(r.stderr).not.toContain("not formatted");
    expect(r.status).toBe(0);
  });
  test("caddy adapt: one route per domain to its upstream, storage root, TLS issuer", () => {
    const dir = assemble(spec);
    const r = caddy("adapt", "--config", `${dir}/Caddyfile`, "--adapter", "caddyfile");
    expect(r.status).toBe(0);
    const json = JSON.parse(r.stdout);
    expect(json.storage).toEqual({ module: "file_system", root: `${dir}/data` });
    const routes = json.apps.http.servers.srv0.routes as { match: { host: string[] }[] }[];
    expect(routes.map((x) => x.match[0].host[0]).sort()).toEqual(spec.vhosts.map((v) => v.domain).sort());
    for (const v of spec.vhosts)
      expect(JSON.stringify(routes.find((x) => x.match[0].host[0] === v.domain))).toContain(
        `"dial":"${v.upstreamIp}:${v.upstreamPort}"`,
      );
    const issuers = JSON.stringify(json.apps.tls.automation.policies);
    expect(issuers).toContain(
      spec.proxy.tls.kind === "acme" ? '"email":"admin@example.com"' : '"module":"internal"',
    );
  });
  test("every file is exactly what caddy fmt prints", () => {
    const dir = assemble(spec);
    for (const f of ["Caddyfile", ...spec.vhosts.map((v) => `sites/${v.key}.caddy`)])
      expect(caddy("fmt", `${dir}/${f}`).stdout).toBe(fs.readFileSync(`${dir}/${f}`, "utf8"));
  });
});

test("a broken vhost, or a second site for the same domain, fails caddy validate", () => {
  const broken = renderVhost(prod.vhosts[1]).replace(
    "reverse_proxy 10.0.2.11:5858 {",
    "reverse_proxy 10.0.2.11:5858 {\n\t\tbogus_option on",
  );
  const r1 = caddy(
    "validate",
    "--config",
    `${assemble(prod, { "zz.caddy": broken.replace("chat.", "zz.") })}/Caddyfile`,
    "--adapter",
    "caddyfile",
  );
  expect(r1.status).not.toBe(0);
  expect(r1.stderr).toContain("bogus_option");
  const r2 = caddy(
    "validate",
    "--config",
    `${assemble(prod, { "dup.caddy": renderVhost(prod.vhosts[1]) })}/Caddyfile`,
    "--adapter",
    "caddyfile",
  );
  expect(r2.status).not.toBe(0);
  expect(r2.stderr).toContain("ambiguous site definition: chat.example.com");
});

describe("apply and delete scripts against stand-in incus/caddy/systemctl", () => {
  let fake: string;
  let spec: CaddySpec;
  const sites = () => fs.readdirSync(spec.proxy.sitesDir).sort();
  const calls = () => fakeCalls(fake);
  const run = (text: string) => runWithStandins(fake, text);
  const vhost = (key: string, port = 5858): VhostSpec => ({
    key,
    domain: `${key}.example.com`,
    upstreamContainer: "system",
    upstreamIp: "10.0.2.11",
    upstreamPort: port,
    servedElsewhere: false,
    takeOver: false,
    tls: { kind: "internal" },
    file: `${spec.proxy.sitesDir}/${key}.caddy`,
  });
  const apply = (v: VhostSpec) => run(renderVhostScripts(spec, v).create);

  beforeAll(() => {
    fake = tmp("fake");
    writeStandins(fake);
    const root = `${fake}/root`;
    spec = {
      proxy: {
        container: "proxy",
        ip: "10.0.2.10",
        tls: { kind: "internal" },
        sitesDir: `${root}/etc/caddy/sites`,
        mainFile: `${root}/etc/caddy/Caddyfile`,
        dataRoot: `${fake}/data`,
        service: "caddy",
        install: false,
      },
      vhosts: [],
    };
  });

  test("main file: first apply writes it (no backup), validates, starts caddy; re-apply does nothing", () => {
    const r = run(renderCaddyMainScripts(spec).create);
    expect(r.status).toBe(0);
    expect(fs.readFileSync(spec.proxy.mainFile, "utf8")).toBe(renderMainCaddyfile(spec));
    expect(fs.readdirSync(path.dirname(spec.proxy.mainFile)).sort()).toEqual(["Caddyfile", "sites"]);
    expect(fs.statSync(spec.proxy.dataRoot).isDirectory()).toBe(true);
    expect(calls()).toEqual(["caddy validate", "systemctl is-active --quiet caddy", "systemctl start caddy"]);
    const again = run(renderCaddyMainScripts(spec).create);
    expect(again.status).toBe(0);
    expect(again.stderr).toContain(`${spec.proxy.mainFile}: unchanged`);
    expect(calls()).toEqual([]);
    expect(fs.readdirSync(path.dirname(spec.proxy.mainFile)).sort()).toEqual(["Caddyfile", "sites"]);
  });

  test("vhost: add, unchanged re-apply (no backup), change (dated backup, reload)", () => {
    expect(apply(vhost("chat")).status).toBe(0);
    expect(apply(vhost("login")).status).toBe(0);
    expect(calls()).toEqual(["caddy validate", "systemctl is-active --quiet caddy", "caddy reload"]);
    expect(apply(vhost("chat")).status).toBe(0);
    expect(calls()).toEqual([]);
    expect(sites()).toEqual(["chat.caddy", "login.caddy"]);
    expect(apply(vhost("chat", 5859)).status).toBe(0);
    expect(fs.readFileSync(vhost("chat").file, "utf8")).toBe(renderVhost(vhost("chat", 5859)));
    const backups = sites().filter((f) => f.startsWith("chat.caddy.bak-"));
    expect(backups).toEqual([expect.stringMatching(/^chat\.caddy\.bak-\d{14}$/)]);
    expect(fs.readFileSync(`${spec.proxy.sitesDir}/${backups[0]}`, "utf8")).toBe(renderVhost(vhost("chat")));
  });

  test("real validation failure: a second site for chat's domain is removed again, Caddy's message on stderr", () => {
    const dup = { ...vhost("dup"), domain: "chat.example.com" };
    const r = apply(dup);
    expect(r.status).toBe(1);
    expect(r.stderr).toContain("ambiguous site definition: chat.example.com");
    expect(r.stderr).toContain(
      `caddy validate failed for ${dup.file}: the previous config is back in place and still serving`,
    );
    expect(fs.existsSync(dup.file)).toBe(false);
    expect(calls()).toEqual(["caddy validate"]);
  });

  test.each(["validate", "reload"])(
    "%s failure on a changed vhost restores the backup byte for byte",
    (step) => {
      const before = fs.readFileSync(vhost("login").file, "utf8");
      fs.writeFileSync(`${fake}/fail-${step}`, "");
      const r = apply(vhost("login", 5859));
      fs.rmSync(`${fake}/fail-${step}`);
      expect(r.status).toBe(1);
      expect(r.stderr).toContain(`Error: stand-in caddy: ${step} refused`);
      expect(r.stderr).toContain(`caddy ${step} failed for ${vhost("login").file}`);
      expect(fs.readFileSync(vhost("login").file, "utf8")).toBe(before);
    },
  );

  test(`a successful change keeps the newest ${BACKUPS_KEPT} backups of its file; a failed one removes none`, () => {
    const backups = () => sites().filter((f) => f.startsWith("login.caddy.bak-"));
    for (const f of backups()) fs.rmSync(`${spec.proxy.sitesDir}/${f}`);
    const old = [1, 2, 3, 4, 5, 6].map((i) => `login.caddy.bak-2020010100000${i}`);
    for (const f of old) fs.writeFileSync(`${spec.proxy.sitesDir}/${f}`, "old\n");
    fs.writeFileSync(`${fake}/fail-validate`, "");
    const failed = apply(vhost("login", 5860));
    fs.rmSync(`${fake}/fail-validate`);
    expect(failed.status).toBe(1);
    expect(backups()).toHaveLength(7); // the six old ones and the failed run's own
    const ok = apply(vhost("login", 5860));
    expect(ok.status).toBe(0);
    const recent = backups().filter((f) => !old.includes(f));
    expect(recent.length).toBeGreaterThanOrEqual(1);
    expect(backups()).toEqual([...old.slice(old.length - (BACKUPS_KEPT - recent.length)), ...recent]);
    expect(ok.stderr).toContain(`old backup(s) removed (the newest ${BACKUPS_KEPT} kept)`);
    expect(apply(vhost("login")).status).toBe(0); // back to the shared state of the later tests
  });

  test("main file: a failed validate puts the old main file back", () => {
    const before = fs.readFileSync(spec.proxy.mainFile, "utf8");
    fs.writeFileSync(`${fake}/fail-validate`, "");
    const r = run(
      renderCaddyMainScripts({
        ...spec,
        proxy: { ...spec.proxy, tls: { kind: "acme", email: "ops@example.com" } },
      }).create,
    );
    fs.rmSync(`${fake}/fail-validate`);
    expect(r.status).toBe(1);
    expect(r.stderr).toContain("Error: stand-in caddy: validate refused");
    expect(fs.readFileSync(spec.proxy.mainFile, "utf8")).toBe(before);
  });

  test("the new content goes through a fresh mktemp file, removed again when the write fails", () => {
    const file = vhost("login").file;
    const before = fs.readFileSync(file, "utf8");
    fs.writeFileSync(`${fake}/fail-tee`, "");
    fs.rmSync(`${fake}/mktemp.log`, { force: true });
    const r = apply(vhost("login", 5861));
    fs.rmSync(`${fake}/fail-tee`);
    expect(r.status).toBe(1);
    expect(r.stderr).toContain("tee: write error: No space left on device");
    expect(r.stderr).toContain(`${file}: could not write it in container proxy`);
    expect(fs.readFileSync(`${fake}/mktemp.log`, "utf8")).toBe(`mktemp ${file}.XXXXXXXX\n`);
    expect(fs.readFileSync(file, "utf8")).toBe(before);
    expect(sites().filter((f) => /^login\.caddy\.[A-Za-z0-9]{8}$/.test(f))).toEqual([]);
  });

  test("caddy not running and the unit fails to start: restore and say so", () => {
    fs.rmSync(`${fake}/running`);
    fs.writeFileSync(`${fake}/fail-start`, "");
    const r = apply(vhost("meet"));
    fs.rmSync(`${fake}/fail-start`);
    fs.writeFileSync(`${fake}/running`, "");
    expect(r.status).toBe(1);
    expect(r.stderr).toContain("caddy is not running in proxy and 'systemctl start caddy' failed");
    expect(r.stderr).toContain("Job for caddy.service failed.");
    expect(r.stderr).toContain("stand-in journal: caddy exited");
    expect(fs.existsSync(vhost("meet").file)).toBe(false);
  });

  test("delete removes only its file, validates, restarts (002); again, or without the container, succeeds", () => {
    const others = sites().filter((f) => f !== "chat.caddy");
    const del = renderVhostScripts(spec, vhost("chat")).delete!;
    const r = run(del);
    expect(r.status).toBe(0);
    expect(calls()).toEqual([
      "caddy validate",
      "systemctl is-active --quiet caddy",
      "systemctl restart caddy",
    ]);
    expect(r.stderr).toContain(
      `${vhost("chat").file}: caddy restarted (not reloaded: a removed domain's ACME state goes with it)`,
    );
    expect(sites().filter((f) => !f.startsWith("chat.caddy.bak-"))).toEqual(
      others.filter((f) => !f.startsWith("chat.caddy.bak-")),
    );
    expect(sites()).toContain("login.caddy");
    const again = run(del);
    expect(again.status).toBe(0);
    expect(again.stderr).toContain("chat.caddy: already gone");
    fs.writeFileSync(`${fake}/no-container`, "");
    const gone = run(renderVhostScripts(spec, vhost("login")).delete!);
    fs.rmSync(`${fake}/no-container`);
    expect(gone.status).toBe(0);
    expect(gone.stderr).toContain("container proxy is gone: nothing to remove");
    expect(sites()).toContain("login.caddy");
  });

  test("Caddy's unit runs as user caddy: storage root handed to it, validate runs as it", () => {
    fs.writeFileSync(`${fake}/user`, "caddy\n");
    const main = run(renderCaddyMainScripts(spec).create);
    expect(calls()).toEqual([`chown caddy: ${spec.proxy.dataRoot}`]);
    const site = apply(vhost("user"));
    expect(calls()).toEqual([
      "runuser -u caddy",
      "caddy validate",
      "systemctl is-active --quiet caddy",
      "caddy reload",
    ]);
    fs.rmSync(`${fake}/user`);
    expect([main.status, site.status]).toEqual([0, 0]);
  });

  test("delete on a stopped container fails clearly and keeps the file", () => {
    fs.writeFileSync(`${fake}/stopped`, "");
    const r = run(renderVhostScripts(spec, vhost("user")).delete!);
    fs.rmSync(`${fake}/stopped`);
    expect(r.status).toBe(1);
    expect(r.stderr).toContain(
      `container proxy is not running (incus exec failed): cannot remove ${vhost("user").file}`,
    );
    expect(fs.existsSync(vhost("user").file)).toBe(true);
  });

  test("delete whose validation fails puts the file back", () => {
    fs.writeFileSync(`${fake}/fail-validate`, "");
    const r = run(renderVhostScripts(spec, vhost("login")).delete!);
    fs.rmSync(`${fake}/fail-validate`);
    expect(r.status).toBe(1);
    expect(fs.readFileSync(vhost("login").file, "utf8")).toBe(renderVhost(vhost("login")));
  });

  test.each([
    ["once", "the previous config is back in place and serving again"],
    ["always", "the previous config is back in place, but caddy did not start again (journalctl -u caddy)"],
  ])("delete whose restart fails (%s) puts the file back and restarts on the old config", (how, state) => {
    const file = vhost("login").file;
    fs.writeFileSync(`${fake}/fail-restart-${how}`, "");
    const r = run(renderVhostScripts(spec, vhost("login")).delete!);
    fs.rmSync(`${fake}/fail-restart-${how}`, { force: true });
    fs.writeFileSync(`${fake}/running`, "");
    expect(r.status).toBe(1);
    expect(calls()).toEqual([
      "caddy validate",
      "systemctl is-active --quiet caddy",
      "systemctl restart caddy",
      "systemctl restart caddy",
    ]);
    expect(r.stderr).toContain("Job for caddy.service failed (restart).");
    expect(r.stderr).toContain(`systemctl restart caddy failed after removing ${file}: ${state}`);
    expect(fs.readFileSync(file, "utf8")).toBe(renderVhost(vhost("login")));
  });
});

describe("components under setMocks", () => {
  const resources: MockResourceArgs[] = [];
  beforeAll(() =>
    pulumi.runtime.setMocks(
      {
        newResource: (a) => (resources.push(a), { id: `${a.name}-id`, state: a.inputs }),
        call: (a) => a.inputs,
      },
      "incus-tenant",
      "prod",
      false,
    ),
  );

  test("CaddyProxy + one CaddyVhost per site, children named and parented, scripts as rendered", async () => {
    class Parent extends pulumi.ComponentResource {
      constructor() {
        super("incus-tenant:index:Tenant", "acme", {});
      }
    }
    const parent = new Parent();
    const conn = { host: "203.0.113.10", user: "admin", privateKey: "k" };
    const made = createCaddy({
      caddy: prod,
      connection: conn,
      sudo: true,
      parent,
      name: "acme",
      dependsOn: [],
    });
    const urn = (r: pulumi.Resource) => new Promise<string>((res) => r.urn.apply(res));
    expect(await urn(made.proxy.main)).toBe(
      "urn:pulumi:prod::incus-tenant::incus-tenant:caddy:CaddyProxy$command:remote:Command::acme-caddy-main",
    );
    expect(await urn(made.proxy)).toBe(
      "urn:pulumi:prod::incus-tenant::incus-tenant:index:Tenant$incus-tenant:caddy:CaddyProxy::acme-caddy",
    );
    expect(await Promise.all(made.vhosts.map((v) => urn(v.site)))).toEqual(
      prod.vhosts.map(
        (v) =>
          "urn:pulumi:prod::incus-tenant::incus-tenant:caddy:CaddyVhost" +
          `$command:remote:Command::acme-vhost-${v.key}-site`,
      ),
    );
    expect(await urn(made.vhosts[0])).toBe(
      "urn:pulumi:prod::incus-tenant::incus-tenant:index:Tenant$incus-tenant:caddy:CaddyVhost::acme-vhost-alm",
    );
    const inputs = (name: string) => resources.find((r) => r.name === name)!.inputs;
    expect(inputs("acme-caddy-main").create).toBe(remoteBash(renderCaddyMainScripts(prod).create, true));
    expect(inputs("acme-caddy-main").delete).toBeUndefined();
    for (const v of prod.vhosts) {
      const i = inputs(`acme-vhost-${v.key}-site`);
      expect(i.create).toBe(remoteBash(renderVhostScripts(prod, v).create, true));
      expect(i.create).toContain(`${v.domain} {`);
      expect(i.delete).toBe(remoteBash(renderVhostScripts(prod, v).delete!, true));
    }
  });
});
