/**
 * The engine double (tests/harness) against small fixture programs whose commands append lines
 * to a file, run locally with LocalExecutor; plus the SshExecutor's failure format.
 */
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { LocalExecutor, RunResult, runProgram, SshExecutor } from "../harness";

jest.setTimeout(120_000);

const FIXTURES = path.join(__dirname, "..", "fixtures", "harness");
const KEY =
  "-----BEGIN OPENSSH PRIVATE KEY-----\nSECRET-KEY-MATERIAL-xyzzy\n-----END OPENSSH PRIVATE KEY-----";
const TOKEN = "tok-s3cret-plugh";
const urn = (name: string) => `urn:pulumi:unit::incus-tenant::command:remote:Command::${name}`;

interface Run {
  r: RunResult;
  /** Lines the commands appended to the fixture's file during this run. */
  written: string[];
  /** The harness's log lines. */
  log: string[];
  /** `op name reason` of each executed command. */
  ran: string[];
}

const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => fs.rmSync(d, { recursive: true, force: true })));

/** A fresh temp dir with the fixture's output file and state file, and a runner over them. */
function bed(fixture = "chain.ts") {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "itn-harness-"));
  dirs.push(dir);
  const file = path.join(dir, "out.txt");
  const stateFile = path.join(dir, "state.json");
  let seen = 0;
  const run = async (
    knobs: Record<string, string> = {},
    opts: { destroy?: boolean; ssh?: boolean } = {},
  ): Promise<Run> => {
    const log: string[] = [];
    const config: Record<string, string> = {
      "incus-tenant:file": file,
      "incus-tenant:key": KEY,
      "incus-tenant:token": TOKEN,
    };
    for (const [k, v] of Object.entries(knobs)) config[`incus-tenant:${k}`] = v;
    const r = await runProgram({
      programPath: path.join(FIXTURES, fixture),
      config,
      secretKeys: ["incus-tenant:key", "incus-tenant:token"],
      stateFile,
      stack: "unit",
      log: (l) => log.push(l),
      ...(opts.ssh ? {} : { executor: new LocalExecutor() }),
      ...(opts.destroy ? { destroy: true } : {}),
    });
    const all = fs.existsSync(file)
      ? fs
          .readFileSync(file, "utf8")
          .split("\n")
          .filter((l) => l !== "")
      : [];
    const written = all.slice(seen);
    seen = all.length;
    const text = [...log, r.error?.message ?? "", r.error?.stack ?? ""].join("\n");
    expect(text).not.toContain("SECRET-KEY-MATERIAL");
    expect(text).not.toContain(TOKEN);
    return { r, written, log, ran: r.ran.map((c) => `${c.op} ${c.name} ${c.reason}`) };
  };
  const state = (): Record<
    string,
    { type: string; inputs: Record<string, unknown>; order: number; deps: string[] }
  > => (fs.existsSync(stateFile) ? JSON.parse(fs.readFileSync(stateFile, "utf8")).resources : {});
  return { dir, file, stateFile, run, state };
}

describe("runProgram with remote.Command (LocalExecutor)", () => {
  test("first run creates in dependency order; outputs, URNs, log lines", async () => {
    const b = bed();
    const { r, written, log, ran } = await b.run();
    expect(r.error).toBeUndefined();
    expect(written).toEqual(["create a 1", `create b 1 stdin=${TOKEN}`, "create c t1", "create d"]);
    expect(ran).toEqual(["create a new", "create b new", "create c new", "create d new"]);
    expect(r.ran.map((c) => [c.urn, c.exitCode])).toEqual(["a", "b", "c", "d"].map((n) => [urn(n), 0]));
    expect(r.outputs).toEqual({ bOut: "out-b\n" });
    expect(log).toHaveLength(8);
    expect(log[0]).toBe("create a started (new)");
    expect(log[1]).toMatch(/^create a ok \(exit 0, \d+ ms\)$/);
    expect(Object.keys(b.state()).sort()).toEqual(["a", "b", "c", "d"].map(urn));
    expect(["a", "b", "c", "d"].map((n) => [b.state()[urn(n)].order, b.state()[urn(n)].deps])).toEqual([
      [1, []],
      [2, [urn("a")]],
      [3, [urn("b")]],
      [4, [urn("c")]],
    ]);
    expect((fs.statSync(b.stateFile).mode & 0o777).toString(8)).toBe("600");
  });

  test("re-run with the same config runs zero commands and keeps outputs", async () => {
    const b = bed();
    await b.run();
    const again = await b.run();
    expect(again.r.error).toBeUndefined();
    expect(again.r.ran).toEqual([]);
    expect(again.written).toEqual([]);
    expect(again.log).toEqual([]);
    expect(again.r.outputs).toEqual({ bOut: "out-b\n" });
  });

  test("a changed input runs only that command: create when there is no update, else update", async () => {
    const b = bed();
    await b.run();
    const a2 = await b.run({ a: "2" });
    expect(a2.ran).toEqual(["create a inputs changed: create"]);
    expect(a2.written).toEqual(["create a 2"]);
    const b2 = await b.run({ a: "2", b: "2" });
    expect(b2.ran).toEqual(["update b inputs changed: update"]);
    expect(b2.written).toEqual([`update b 2 stdin=${TOKEN}`]);
    expect(b2.r.outputs).toEqual({ bOut: "" });
    expect((await b.run({ a: "2", b: "2" })).ran).toEqual([]);
  });

  test(
    "a trigger change replaces: create new, then delete old (with old inputs); " +
      "deleteBeforeReplace reverses",
    async () => {
      const b = bed();
      await b.run();
      const t2 = await b.run({ trigger: "t2" });
      expect(t2.ran).toEqual(["create c triggers changed", "delete c triggers changed: delete old"]);
      expect(t2.written).toEqual(["create c t2", "delete c t1"]);
      const t3 = await b.run({ trigger: "t3", dbr: "true" });
      expect(t3.ran).toEqual([
        "delete c triggers changed: delete before replace",
        "create c triggers changed",
      ]);
      expect(t3.written).toEqual(["delete c t2", "create c t3"]);
      expect((await b.run({ trigger: "t3", dbr: "true" })).ran).toEqual([]);
    },
  );

  test("a removed resource runs its delete with its old inputs", async () => {
    const b = bed();
    await b.run();
    const r = await b.run({ d: "false" });
    expect(r.r.error).toBeUndefined();
    expect(r.ran).toEqual(["delete d removed from program"]);
    expect(r.written).toEqual(["delete d"]);
    expect(Object.keys(b.state())).not.toContain(urn("d"));
    // c is removed while the config now says t9: its delete still runs with t1.
    const c = await b.run({ d: "false", tail: "false", trigger: "t9" });
    expect(c.written).toEqual(["delete c t1"]);
  });

  test("removed resources are deleted in reverse creation order", async () => {
    const b = bed();
    await b.run();
    const r = await b.run({ tail: "false" });
    expect(r.ran).toEqual(["delete d removed from program", "delete c removed from program"]);
    expect(r.written).toEqual(["delete d", "delete c t1"]);
  });

  test("a failing create yields an error, is not stored, and a re-run completes", async () => {
    const b = bed();
    const f = await b.run({ fail: "c" });
    expect(f.r.error?.message).toContain("create c failed: Process exited with status 3");
    expect(f.r.error?.message).toContain("boom-c");
    expect(f.r.ran.map((c) => [c.name, c.exitCode])).toEqual([
      ["a", 0],
      ["b", 0],
      ["c", 3],
    ]);
    expect(f.log).toContainEqual(expect.stringMatching(/^create c failed \(exit 3, \d+ ms\)$/));
    expect(f.written).toEqual(["create a 1", `create b 1 stdin=${TOKEN}`]);
    expect(Object.keys(b.state()).sort()).toEqual([urn("a"), urn("b")]);
    const again = await b.run();
    expect(again.r.error).toBeUndefined();
    expect(again.ran).toEqual(["create c new", "create d new"]);
    expect((await b.run()).ran).toEqual([]);
  });

  test("a failing update keeps the old state entry; its dependents are neither run nor deleted", async () => {
    const b = bed();
    await b.run();
    const before = b.state()[urn("b")];
    const f = await b.run({ fail: "b" });
    expect(f.r.error?.message).toContain("update b failed: Process exited with status 3");
    expect(f.ran).toEqual(["update b inputs changed: update"]);
    expect(b.state()[urn("b")]).toEqual(before);
    expect(Object.keys(b.state())).toHaveLength(4);
    expect((await b.run()).ran).toEqual([]);
  });

  test("destroy deletes everything in reverse order; a failed delete stops it and a re-run finishes", async () => {
    const b = bed();
    await b.run();
    fs.writeFileSync(`${b.file}.block-b`, "");
    const blocked = await b.run({}, { destroy: true });
    expect(blocked.r.error?.message).toContain("delete b failed: Process exited with status 4");
    expect(blocked.r.error?.message).toContain("blocked-b");
    expect(blocked.ran).toEqual(["delete d destroy", "delete c destroy", "delete b destroy"]);
    expect(Object.keys(b.state()).sort()).toEqual([urn("a"), urn("b")]);
    fs.rmSync(`${b.file}.block-b`);
    const d = await b.run({}, { destroy: true });
    expect(d.r.error).toBeUndefined();
    expect(d.ran).toEqual(["delete b destroy", "delete a destroy"]);
    expect([...blocked.written, ...d.written]).toEqual([
      "delete d",
      "delete c t1",
      "delete b 1",
      "delete a 1",
    ]);
    expect(b.state()).toEqual({});
    expect((await b.run({}, { destroy: true })).ran).toEqual([]);
  });

  test("RandomPassword is stable across runs and regenerated when its keepers change", async () => {
    const b = bed("password.ts");
    const first = await b.run();
    expect(first.r.error).toBeUndefined();
    const pw = first.r.outputs.password as string;
    expect(pw).toMatch(/^[A-Za-z0-9]{24}$/);
    expect(first.written).toEqual(["create use-pw 24"]);
    const again = await b.run();
    expect(again.r.outputs.password).toBe(pw);
    expect(again.ran).toEqual([]);
    const changed = await b.run({ keeper: "2" });
    expect(changed.r.outputs.password).not.toBe(pw);
    expect(changed.ran).toEqual(["create use-pw inputs changed: create"]);
    expect([...first.log, ...changed.log].join("\n")).not.toContain(pw);
  });
});

describe("executors", () => {
  test("LocalExecutor: stdin, stdout, stderr, exit code", async () => {
    const r = await new LocalExecutor().run(
      { host: "", port: 0, user: "", privateKey: "" },
      "cat; echo err >&2; exit 7",
      "in\n",
    );
    expect(r).toEqual({ exitCode: 7, stdout: "in\n", stderr: "err\n" });
    expect(
      (await new LocalExecutor().run({ host: "", port: 0, user: "", privateKey: "" }, "cat", undefined))
        .stdout,
    ).toBe("");
  });

  const hasSsh = spawnSync("which", ["ssh"]).status === 0;
  if (!hasSsh) process.stdout.write("SshExecutor tests skipped: `which ssh` failed (no OpenSSH client)\n");
  const sshTest = hasSsh ? test : test.skip;

  sshTest(
    "SshExecutor: nothing listening gives `ssh to user@host:port failed: <stderr>`, temp files removed",
    async () => {
      const ours = () => fs.readdirSync(os.tmpdir()).filter((n) => n.startsWith("itn-ssh-")).length;
      const before = ours();
      const conn = { host: "127.0.0.1", port: 1, user: "nobody", privateKey: KEY };
      await expect(new SshExecutor().run(conn, "true", "x")).rejects.toThrow(
        /^ssh to nobody@127\.0\.0\.1:1 failed: .*[Cc]onnection refused/,
      );
      await expect(
        new SshExecutor().run(
          {
            ...conn,
            hostKey: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFakeFakeFakeFakeFakeFakeFakeFakeFakeFakeFake",
          },
          "true",
          undefined,
        ),
      ).rejects.toThrow(/^ssh to nobody@127\.0\.0\.1:1 failed: /);
      expect(ours()).toBe(before);
    },
  );

  sshTest(
    "runProgram's default SshExecutor: the failure names the command and ssh, never the key",
    async () => {
      const b = bed();
      const r = await b.run({ port: "1" }, { ssh: true });
      expect(r.r.error?.message).toMatch(/^create a failed: ssh to tester@127\.0\.0\.1:1 failed: /);
      expect(r.r.ran.map((c) => [c.name, c.exitCode])).toEqual([["a", 255]]);
      expect(r.log[1]).toMatch(/^create a failed \(exit 255, \d+ ms\)$/);
      expect(b.state()).toEqual({});
    },
  );
});
