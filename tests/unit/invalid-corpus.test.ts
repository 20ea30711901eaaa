/**
 * The bad-input corpus (issue 6, item 5): tests/fixtures/invalid/*.yaml are full stack files,
 * each Pulumi.stage.yaml with ONE deliberate mistake. Every file starts with
 *
 *   # expect: <the problem line exactly as printed, without the "  - " bullet>
 *
 * e.g. `# expect: nat[0].to: unknown container "prxy"`. The expected line is everything after
 * "# expect: " up to the end of the first line. Two kinds of files:
 *   - spec files: the tenant is readable and parseTenant must report exactly ONE problem, that line
 *     (so a file that fails for an unintended reason, or for more than one, fails here);
 *   - YAML files (the line starts with "invalid YAML: "): the stack file itself is refused by
 *     model/stackfile.ts (duplicate keys), before any tenant exists.
 *
 * Each file is checked three ways: (a) readStackTenant + parseTenant, (b) the plan CLI exits 1,
 * prints nothing on stdout and the same line on stderr (in-process `main` for every file, a real
 * compiled `npm run plan` process for a sample), (c) the real index.ts under setMocks with the
 * file's raw tenant registers no resource and its error names the field (spec files only: with a
 * duplicate-key file there is no raw tenant to hand to the program, the Pulumi engine reads the
 * stack file itself).
 */
import { execFile } from "child_process";
import * as fs from "fs";
import * as path from "path";
import { parseTenant, SpecError } from "../../model";
import { readStackTenant } from "../../model/stackfile";
import { main as planMain } from "../../scripts/plan";
import { ROOT } from "./fixtures";
import { runIndex } from "./mockRuntime";

const DIR = path.join(ROOT, "tests/fixtures/invalid");
const EXPECT_PREFIX = "# expect: ";
const YAML_PREFIX = "invalid YAML: ";

interface Fixture {
  name: string;
  file: string;
  /** The expected problem line; undefined when the first line is not an `# expect:` line. */
  expect: string | undefined;
  kind: "spec" | "yaml";
}

function loadCorpus(): Fixture[] {
  return fs
    .readdirSync(DIR)
    .filter((f) => f.endsWith(".yaml"))
    .sort()
    .map((f) => {
      const file = path.join(DIR, f);
      const first = fs.readFileSync(file, "utf8").split("\n", 1)[0];
      const expect =
        first.startsWith(EXPECT_PREFIX) && first.length > EXPECT_PREFIX.length
          ? first.slice(EXPECT_PREFIX.length)
          : undefined;
      return {
        name: f.replace(/\.yaml$/, ""),
        file,
        expect,
        kind: expect?.startsWith(YAML_PREFIX) ? "yaml" : "spec",
      };
    });
}

const CORPUS = loadCorpus();
const SPEC_FILES = CORPUS.filter((c) => c.kind === "spec");

/** The whole message a spec file must produce: one problem, the expected line. */
const specMessage = (expect: string): string => `invalid tenant config (1 problem):\n  - ${expect}`;

/** Runs parsing the way the plan CLI and the e2e harness do; returns what was thrown. */
function parseFile(file: string): unknown {
  try {
    parseTenant(readStackTenant(file));
  } catch (e) {
    return e;
  }
  return undefined;
}

/** Runs the plan CLI's main in-process, capturing stdout and stderr. */
function planInProcess(args: string[]): { code: number; stdout: string; stderr: string } {
  let stdout = "";
  let stderr = "";
  const out = jest
    .spyOn(process.stdout, "write")
    .mockImplementation((chunk: string | Uint8Array) => ((stdout += String(chunk)), true));
  const err = jest
    .spyOn(process.stderr, "write")
    .mockImplementation((chunk: string | Uint8Array) => ((stderr += String(chunk)), true));
  try {
    const code = planMain(args);
    return { code, stdout, stderr };
  } finally {
    out.mockRestore();
    err.mockRestore();
  }
}

/** Spawns the real CLI (what `npm run plan` runs): the compiled dist/scripts/plan.js (npm run build). */
function planProcess(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      "sh",
      ["scripts/run-compiled.sh", "plan", ...args],
      { cwd: ROOT, encoding: "utf8", timeout: 120_000 },
      (error, stdout, stderr) => {
        const code = error ? (typeof error.code === "number" ? error.code : null) : 0;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

function expectPlanOutput(c: Fixture, r: { code: number | null; stdout: string; stderr: string }): void {
  expect(r.code).toBe(1);
  expect(r.stdout).toBe("");
  if (c.kind === "spec") expect(r.stderr).toBe(`plan: ${specMessage(c.expect as string)}\n`);
  else expect(r.stderr.split("\n")).toContain(`plan: ${c.file}: ${c.expect}`);
}

describe("the invalid corpus itself", () => {
  test("holds at least 40 stack files", () => expect(CORPUS.length).toBeGreaterThanOrEqual(40));
  test("every file starts with an `# expect:` line", () => {
    expect(CORPUS.filter((c) => c.expect === undefined).map((c) => c.name)).toEqual([]);
  });
  test("the stack every file is derived from (Pulumi.stage.yaml) is itself valid", () => {
    expect(() => parseTenant(readStackTenant(path.join(ROOT, "Pulumi.stage.yaml")))).not.toThrow();
  });
  test("covers every area of the rules (file name prefixes)", () => {
    const areas = [
      "name-",
      "environment-",
      "domain-",
      "hostnames-",
      "container-name-",
      "containers-",
      "ipv4-",
      "subnet-",
      "gateway-",
      "bridge-",
      "host-key-",
      "host-",
      "nat-unknown-container",
      "nat-port-not-exposed",
      "nat-protocol-",
      "nat-duplicate-",
      "nat-ssh-port-",
      "nat-sensitive-",
      "nat-public-and-sources",
      "nat-source",
      "nat-to-port-",
      "ci-privileged",
      "ci-mounts-",
      "ci-shares-",
      "device-proxy",
      "device-",
      "disk-",
      "unknown-",
      "vhost-unknown-container",
      "vhost-port-not-exposed",
      "vhost-dead-domain",
      "vhost-invalid-domain",
      "proxy-",
      "zone-cname-at-apex",
      "zone-cname-beside-",
      "zone-a-value-",
      "zone-mx-without-priority",
      "zone-record-name-",
      "dns-",
      "vault-path-dotdot",
      "vault-path-empty-segment",
      "vault-path-leading-slash",
      "vault-key-name-",
      "vault-literal-",
      "vault-env-",
      "yaml-duplicate-",
      // issue 11: hostile or mistaken values, unnormalised paths, files that overwrite each other, trust.
      "device-name-injection",
      "image-injection",
      "host-address-proxycommand",
      "host-address-with-port",
      "host-interface-is-bridge",
      "host-key-type-mismatch",
      "host-key-truncated",
      "bridge-dotdot",
      "subnet-everything",
      "subnet-loopback",
      "nat-sources-cover-everyone",
      "disk-path-double-slash-root",
      "disk-source-host-root-double-slash",
      "ci-mounts-system-path-unnormalised",
      "vault-address-port-too-big",
      "vault-https-without-ca-cert",
      "vault-env-file-is-token-file",
      "proxy-main-file-in-sites-dir",
      "dns-corefile-is-zone-file",
      "zone-mx-relative-target",
      "zone-caa-newline",
      "migration-remote-local",
      "migration-source-without-host-key",
      "migration-lxd-address-port-too-big",
    ];
    expect(areas.filter((a) => !CORPUS.some((c) => c.name.startsWith(a)))).toEqual([]);
  });
  test("only duplicate-key files are YAML-level: every other file reaches the tenant schema", () => {
    expect(CORPUS.filter((c) => c.kind === "yaml").map((c) => c.expect)).toEqual(
      CORPUS.filter((c) => c.kind === "yaml").map(() =>
        expect.stringMatching(/^invalid YAML: Map keys must be unique at line \d+, column \d+:$/),
      ),
    );
  });
});

describe.each(CORPUS.map((c) => [c.name, c] as const))("%s", (_name, c) => {
  test("(a) parsing refuses it with exactly the expected problem", () => {
    const error = parseFile(c.file);
    if (c.kind === "spec") {
      expect(error).toBeInstanceOf(SpecError);
      expect((error as SpecError).message).toBe(specMessage(c.expect as string));
    } else {
      // The stack file is refused before any tenant exists: a plain Error naming file, line and column.
      expect(error).toBeInstanceOf(Error);
      expect(error).not.toBeInstanceOf(SpecError);
      expect((error as Error).message.split("\n")).toContain(`${c.file}: ${c.expect}`);
    }
  });

  test("(b) plan --stack-file exits 1, nothing on stdout, the problem on stderr", () => {
    expectPlanOutput(c, planInProcess(["--stack", "x", "--stack-file", c.file]));
  });
});

/** A sample run through a real compiled `npm run plan` process. */
const PROCESS_SAMPLE = [
  "nat-unknown-container",
  "ipv4-duplicate",
  "vhost-dead-domain",
  "vault-literal-password",
  "zone-cname-at-apex",
  "yaml-duplicate-container",
];

describe("(b) the plan CLI as a process, for a sample", () => {
  const results = new Map<string, { code: number | null; stdout: string; stderr: string }>();
  beforeAll(async () => {
    const sample = CORPUS.filter((c) => PROCESS_SAMPLE.includes(c.name));
    const runs = await Promise.all(sample.map((c) => planProcess(["--stack", "x", "--stack-file", c.file])));
    sample.forEach((c, i) => results.set(c.name, runs[i]));
  }, 180_000);

  test("the sample files exist", () =>
    expect(
      CORPUS.filter((c) => PROCESS_SAMPLE.includes(c.name))
        .map((c) => c.name)
        .sort(),
    ).toEqual([...PROCESS_SAMPLE].sort()));
  test.each(PROCESS_SAMPLE)("%s", (name) => {
    const c = CORPUS.find((x) => x.name === name) as Fixture;
    expectPlanOutput(c, results.get(name) as { code: number | null; stdout: string; stderr: string });
  });
});

describe("(c) the program under setMocks registers nothing and names the field", () => {
  test("runs for every file but the duplicate-key ones (they never yield a raw tenant)", () => {
    expect(
      CORPUS.filter((c) => !SPEC_FILES.includes(c)).every(
        (c) => c.kind === "yaml" && c.name.startsWith("yaml-"),
      ),
    ).toBe(true);
  });
  test.each(SPEC_FILES.map((c) => [c.name, c] as const))("%s", async (_name, c) => {
    const raw = readStackTenant(c.file);
    const run = await runIndex(raw, "x");
    expect(run.resources).toEqual([]);
    expect(run.error).toBeDefined();
    // index.ts is loaded in an isolated module registry: its SpecError is another class object.
    expect(run.error?.name).toBe("SpecError");
    expect(run.error?.message).toBe(specMessage(c.expect as string));
  });
});
