/**
 * Compiled runs (issue 14): scripts/compiled.ts refuses a dist/ older than its sources, the
 * compiled CLIs and the Pulumi entry use it, and the compiled plan finds the stack files at the
 * project root (not in dist/). The process tests run the real dist/ (`npm run build` first) from a
 * copy in a temp root, with a build record (dist/.sources) written here.
 */
import { execFileSync, spawnSync } from "child_process";
import * as crypto from "crypto";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { buildProblem, MANIFEST, PROJECT_ROOT, staleBuild, staleSources } from "../../scripts/compiled";
import { main as planMain } from "../../scripts/plan";
import { ROOT } from "./fixtures";

const BUILD = "run npm run build";
/** Temp roots made here (removed after all tests). */
const roots: string[] = [];
const tempRoot = (): string => {
  roots.push(fs.mkdtempSync(path.join(os.tmpdir(), "itn-compiled-")));
  return roots[roots.length - 1];
};
afterAll(() => roots.forEach((r) => fs.rmSync(r, { recursive: true, force: true })));
const sha = (text: string): string => crypto.createHash("sha256").update(text).digest("hex");

/** A temp root holding `files` and a build record of `recorded` (path → content hashed at "build"). */
function project(files: Record<string, string>, recorded: Record<string, string>): string {
  const root = tempRoot();
  for (const [f, text] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(root, f)), { recursive: true });
    fs.writeFileSync(path.join(root, f), text);
  }
  fs.mkdirSync(path.join(root, "dist"), { recursive: true });
  const lines = Object.entries(recorded).map(([f, text]) => `${sha(text)}  ${f}\n`);
  fs.writeFileSync(path.join(root, MANIFEST), lines.join(""));
  return root;
}

describe("the build record check (scripts/compiled.ts)", () => {
  test("fresh: every recorded source has the recorded content", () => {
    const root = project({ "a.ts": "a", "m/b.ts": "b" }, { "a.ts": "a", "m/b.ts": "b" });
    expect(staleSources(root)).toEqual([]);
    expect(buildProblem(root)).toBeUndefined();
  });

  test("a changed and a removed source are stale, named in the refusal", () => {
    const root = project({ "a.ts": "a2", "m/b.ts": "b" }, { "a.ts": "a", "m/b.ts": "b", "gone.ts": "g" });
    expect(staleSources(root)).toEqual(["a.ts", "gone.ts"]);
    expect(buildProblem(root)).toBe(
      `dist/ is older than its sources (a.ts, gone.ts changed since the last build): ${BUILD}`,
    );
  });

  test("more than three stale sources: three named, the rest counted", () => {
    const names = ["a.ts", "b.ts", "c.ts", "d.ts", "e.ts"];
    const root = project(
      Object.fromEntries(names.map((n) => [n, "new"])),
      Object.fromEntries(names.map((n) => [n, "old"])),
    );
    expect(buildProblem(root)).toBe(
      `dist/ is older than its sources (a.ts, b.ts, c.ts and 2 more changed since the last build): ${BUILD}`,
    );
  });

  test("no build record: refused, with what to run", () => {
    const root = tempRoot();
    expect(buildProblem(root)).toBe(`no compiled build (dist/.sources is missing): ${BUILD}`);
  });

  test("a record line that is not `sha256  path` is refused", () => {
    const root = project({}, {});
    fs.writeFileSync(path.join(root, MANIFEST), "not a hash  a.ts\n");
    expect(buildProblem(root)).toBe(`dist/.sources: unreadable line "not a hash  a.ts": ${BUILD}`);
  });

  test("the record format is sha256sum's (what scripts/build.sh writes)", () => {
    const root = project({ "a.ts": "a", "b c.ts": "x" }, {});
    fs.writeFileSync(
      path.join(root, MANIFEST),
      execFileSync("sha256sum", ["a.ts", "b c.ts"], { cwd: root, encoding: "utf8" }),
    );
    expect(staleSources(root)).toEqual([]);
    fs.writeFileSync(path.join(root, "b c.ts"), "y");
    expect(staleSources(root)).toEqual(["b c.ts"]);
  });

  test("run from the .ts (ts-node, jest) nothing is checked; the root is the project's", () => {
    expect(PROJECT_ROOT).toBe(ROOT);
    expect(staleBuild(tempRoot())).toBeUndefined();
  });
});

describe("the compiled entry points (dist/, from npm run build)", () => {
  const dist = path.join(ROOT, "dist");
  let root = "";
  const run = (script: string, args: string[]): { code: number | null; stdout: string; stderr: string } => {
    const r = spawnSync(process.execPath, [path.join(root, "dist", "scripts", script), ...args], {
      cwd: os.tmpdir(),
      encoding: "utf8",
      timeout: 60_000,
    });
    return { code: r.status, stdout: r.stdout, stderr: r.stderr };
  };
  const record = (recorded: Record<string, string>): void =>
    fs.writeFileSync(
      path.join(root, MANIFEST),
      Object.entries(recorded)
        .map(([f, text]) => `${sha(text)}  ${f}\n`)
        .join(""),
    );

  beforeAll(() => {
    if (!fs.existsSync(path.join(dist, "scripts", "plan.js")))
      throw new Error(`no ${dist}/scripts/plan.js: ${BUILD} first`);
    root = tempRoot();
    fs.cpSync(dist, path.join(root, "dist"), { recursive: true });
    fs.symlinkSync(path.join(ROOT, "node_modules"), path.join(root, "node_modules"));
    fs.copyFileSync(path.join(ROOT, "Pulumi.prod.yaml"), path.join(root, "Pulumi.prod.yaml"));
    fs.writeFileSync(path.join(root, "a.ts"), "now");
  });

  test("the dist/ under test was built from the current sources", () => {
    expect(buildProblem(ROOT)).toBeUndefined();
  });

  test("fresh: plan finds Pulumi.prod.yaml at the project root (not in dist/), as the .ts does", () => {
    record({ "a.ts": "now" });
    const out: string[] = [];
    const spy = jest.spyOn(process.stdout, "write").mockImplementation((s) => out.push(String(s)) > 0);
    try {
      expect(planMain(["--stack", "prod", "--json"])).toBe(0);
    } finally {
      spy.mockRestore();
    }
    expect(run("plan.js", ["--stack", "prod", "--json"])).toEqual({
      code: 0,
      stdout: out.join(""),
      stderr: "",
    });
  });

  test("stale: plan, plan --live and live.js refuse, nothing on stdout", () => {
    record({ "a.ts": "then" });
    const why = `dist/ is older than its sources (a.ts changed since the last build): ${BUILD}`;
    expect(run("plan.js", ["--stack", "prod"])).toEqual({ code: 1, stdout: "", stderr: `plan: ${why}\n` });
    expect(run("plan.js", ["--stack", "prod", "--live"])).toEqual({
      code: 1,
      stdout: "",
      stderr: `plan: ${why}\n`,
    });
    expect(run("live.js", ["--stack", "prod"])).toEqual({
      code: 1,
      stdout: "",
      stderr: `plan --live: ${why}\n`,
    });
  });

  test("stale: the Pulumi entry (program.js) refuses before the program runs", () => {
    record({ "a.ts": "then" });
    const r = run("program.js", []);
    expect(r.code).not.toBe(0);
    // The refusal, not the program's own failure outside an engine ("Program run without the Pulumi engine").
    expect(r.stderr).toContain(
      `RunError: dist/ is older than its sources (a.ts changed since the last build): ${BUILD}`,
    );
    expect(r.stderr).not.toContain("Pulumi engine");
  });

  test.each(["plan", "live"])(
    "%s.js loads no Pulumi SDK module (the SDK alone costs several node starts)",
    (cli) => {
      const loaded = execFileSync(
        process.execPath,
        [
          "-e",
          `require(${JSON.stringify(path.join(dist, "scripts", `${cli}.js`))});` +
            'console.log(Object.keys(require.cache).filter((m) => m.includes("/node_modules/@pulumi/")).length)',
        ],
        { encoding: "utf8" },
      );
      expect(loaded).toBe("0\n");
    },
  );

  test("no build: npm run plan (scripts/run-compiled.sh) says what to run", () => {
    const r = spawnSync("sh", [path.join(ROOT, "scripts", "run-compiled.sh"), "nothing"], {
      encoding: "utf8",
    });
    expect({ code: r.status, stdout: r.stdout, stderr: r.stderr }).toEqual({
      code: 1,
      stdout: "",
      stderr: `nothing: no compiled build (dist/scripts/nothing.js): ${BUILD}\n`,
    });
  });
});

describe("npm run build (scripts/build.sh) on a two-file project", () => {
  let root = "";
  const build = (): { code: number | null; stderr: string } => {
    const r = spawnSync("bash", [path.join(root, "scripts", "build.sh")], {
      encoding: "utf8",
      timeout: 120_000,
    });
    return { code: r.status, stderr: r.stderr };
  };
  const write = (f: string, text: string): void => {
    fs.mkdirSync(path.dirname(path.join(root, f)), { recursive: true });
    fs.writeFileSync(path.join(root, f), text);
  };
  const node = (f: string): string =>
    execFileSync(process.execPath, [path.join(root, f)], { encoding: "utf8" });

  beforeAll(() => {
    root = tempRoot();
    fs.symlinkSync(path.join(ROOT, "node_modules"), path.join(root, "node_modules"));
    write("scripts/build.sh", fs.readFileSync(path.join(ROOT, "scripts", "build.sh"), "utf8"));
    const options = { strict: true, module: "commonjs", target: "ES2022", types: [] };
    write("tsconfig.json", JSON.stringify({ compilerOptions: options, include: ["*.ts", "m/**/*.ts"] }));
    write(
      "tsconfig.build.json",
      JSON.stringify({
        extends: "./tsconfig.json",
        compilerOptions: { outDir: "dist", rootDir: ".", noEmitOnError: true },
      }),
    );
    write("a.ts", 'import { m } from "./m";\nconsole.log(m);\n');
    write("m.ts", 'export const m = "file";\n');
  });

  test("compiles, records exactly the sources it read, and the record is fresh", () => {
    expect(build().code).toBe(0);
    expect(node("dist/a.js")).toBe("file\n");
    const recorded = fs
      .readFileSync(path.join(root, MANIFEST), "utf8")
      .trim()
      .split("\n")
      .map((l) => l.slice(66));
    expect(recorded).toEqual(["a.ts", "m.ts", "tsconfig.build.json", "tsconfig.json"]);
    expect(buildProblem(root)).toBeUndefined();
  });

  test("a source moved into a folder: its old output is removed (it would shadow the new one)", () => {
    fs.rmSync(path.join(root, "m.ts"));
    write("m/index.ts", 'export const m = "folder";\n');
    expect(buildProblem(root)).toBe(
      `dist/ is older than its sources (m.ts changed since the last build): ${BUILD}`,
    );
    const r = build();
    expect(r.code).toBe(0);
    expect(r.stderr).toContain("build: removed dist/m.js (no m.ts)\n");
    expect(node("dist/a.js")).toBe("folder\n");
    expect(buildProblem(root)).toBeUndefined();
  });

  test("a type error: nothing emitted, no record, so compiled runs refuse", () => {
    write("a.ts", 'import { m } from "./m";\nconst n: number = m;\nconsole.log(n);\n');
    const r = build();
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(
      "build: FAILED: tsc -p tsconfig.build.json (dist/ not updated; compiled runs refuse until a build succeeds)",
    );
    expect(node("dist/a.js")).toBe("folder\n");
    expect(buildProblem(root)).toBe(`no compiled build (dist/.sources is missing): ${BUILD}`);
  });
});
