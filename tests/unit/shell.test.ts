import { spawnSync } from "child_process";
import { heredoc, managedHeader, remoteBash, script, shArgs, shq } from "../../render/shell";

/** Runs `printf '%s\0' <words>` through a real bash and returns the words it saw. */
const bashWords = (words: string): string[] => {
  const r = spawnSync("bash", ["-c", `printf '%s\\0' ${words}`], { encoding: "utf8" });
  return r.stdout.split("\0").slice(0, -1);
};

describe("shq", () => {
  test.each([
    ["plain", "plain"],
    ["/opt/gbo/conf", "/opt/gbo/conf"],
    ["", "''"],
    ["a b", "'a b'"],
    ["it's", "'it'\\''s'"],
    ["$(reboot)", "'$(reboot)'"],
    ["`id`;rm -rf /", "'`id`;rm -rf /'"],
    [443, "443"],
  ])("%p -> %s", (input, quoted) => expect(shq(input)).toBe(quoted));

  test("real bash gets every hostile value back verbatim", () => {
    const hostile = [
      "a b",
      "it's",
      "$(touch /tmp/pwned-itn)",
      "`id`",
      "x\ny",
      "*",
      "-n",
      "\\",
      '"q"',
      "€",
      "'",
    ];
    expect(bashWords(shArgs(...hostile))).toEqual(hostile);
  });

  test("NUL bytes are refused", () => expect(() => shq("a\0b")).toThrow("shq: NUL byte in a shell argument"));
});

describe("script helpers", () => {
  test("remoteBash runs through sudo -n only when asked, and the script survives quoting", () => {
    const text = script("demo", ['echo "it\'s $((1+1))"']);
    expect(remoteBash(text, true).startsWith("sudo -n bash -c '# managed by incus-tenant: demo")).toBe(true);
    const r = spawnSync("sh", ["-c", remoteBash(text, false)], { encoding: "utf8" });
    expect(r.stdout).toBe("it's 2\n");
  });
  test("heredoc passes text literally and refuses its own delimiter", () => {
    const r = spawnSync("bash", ["-c", `cat ${heredoc("$HOME `id` 'x'")}`], { encoding: "utf8" });
    expect(r.stdout).toBe("$HOME `id` 'x'\n");
    expect(() => heredoc("a\nITN_EOF\nb")).toThrow("heredoc: body contains the delimiter ITN_EOF");
  });
});

describe("managedHeader", () => {
  test("control characters are escaped: the header stays one comment line, whatever `what` holds", () => {
    expect(managedHeader("a\nb\r\tc\x01\x7f", ";")).toBe("; managed by incus-tenant: a\\nb\\r\\tc\\x01\\x7f");
    const text = script("tenant x\necho INJECTED\r\necho AGAIN", ["echo ok"]);
    expect(spawnSync("bash", ["-c", text], { encoding: "utf8" }).stdout).toBe("ok\n");
    expect(text.split("\n")[0]).toBe("# managed by incus-tenant: tenant x\\necho INJECTED\\r\\necho AGAIN");
  });
});
