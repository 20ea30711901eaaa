/**
 * shellcheck (Debian's package) on every script the program runs on a host, at every severity
 * (error, warning, info, style). The scripts are tests/unit/allScripts.ts's: both variants of the
 * shared test tenant, which reach every renderer; identical texts are checked once. Each script
 * goes to `shellcheck -s bash -f gcc -` on stdin, several at a time. So do the programs a script
 * hands to another shell, which shellcheck sees only as a quoted string: each single-quoted
 * `sh -c '…'` / `bash -c '…'` text (checked as sh or bash) and the NAT watchdog (the body of the
 * ITN_WATCHDOG heredoc, run by `bash -c "$watchdog"`).
 *
 * A finding that is wrong (text single-quoted on purpose because another shell runs it, a
 * function only called from a trap, ...) is silenced in the renderer by a comment line
 * `# shellcheck disable=SCxxxx # <reason>` directly above the one command it concerns. The
 * second test holds every directive to that form: named codes, a reason, never file-wide.
 */
import { spawn } from "child_process";
import * as os from "os";
import { parseTenant } from "../../model";
import { baseRaw, CONFIRM_ID, renderEverything } from "./allScripts";

jest.setTimeout(120_000);

/** One script to check: its text, its dialect and the ids of every rendered script with that text. */
interface Unique {
  readonly text: string;
  readonly shell: "bash" | "sh";
  readonly ids: string[];
}

/**
 * The shell word that starts at `at` in `text`, unquoted (shq's output: '…' pieces, \' and plain
 * characters), or undefined when a quote is not closed.
 */
function wordAt(text: string, at: number): string | undefined {
  let word = "";
  let i = at;
  while (i < text.length) {
    const c = text[i];
    if (c === "'") {
      const end = text.indexOf("'", i + 1);
      if (end < 0) return undefined;
      word += text.slice(i + 1, end);
      i = end + 1;
    } else if (c === "\\") {
      word += text[i + 1];
      i += 2;
    } else if (/[A-Za-z0-9_@%+=:,./-]/.test(c)) {
      word += c;
      i++;
    } else break;
  }
  return word;
}

/** The programs `text` hands to another shell: `sh -c '…'`, `bash -c '…'`, the watchdog heredoc. */
function programsIn(text: string): { text: string; shell: "bash" | "sh"; what: string }[] {
  const found: { text: string; shell: "bash" | "sh"; what: string }[] = [];
  for (const m of text.matchAll(/\b(sh|bash) -c (?=')/g)) {
    const program = wordAt(text, (m.index ?? 0) + m[0].length);
    if (program !== undefined)
      found.push({ text: program, shell: m[1] as "bash" | "sh", what: `${m[1]} -c` });
  }
  for (const m of text.matchAll(/<<'ITN_WATCHDOG'\n([\s\S]*?)\nITN_WATCHDOG\n/g))
    found.push({ text: m[1], shell: "bash", what: "watchdog" });
  return found;
}

/**
 * Every script of both variants and every program inside one, identical texts merged (ids
 * prefixed by their variant; a program's id is its script's and what runs it).
 */
function uniqueScripts(): Unique[] {
  const byText = new Map<string, Unique>();
  const add = (text: string, shell: "bash" | "sh", id: string): void => {
    const u = byText.get(text) ?? { text, shell, ids: [] };
    u.ids.push(id);
    byText.set(text, u);
  };
  for (const variant of ["per-container", "tenant"] as const)
    for (const r of renderEverything(parseTenant(baseRaw(variant)), CONFIRM_ID)) {
      add(r.text, "bash", `${variant} ${r.id}`);
      for (const p of programsIn(r.text)) add(p.text, p.shell, `${variant} ${r.id} (${p.what})`);
    }
  return [...byText.values()];
}

/** Runs shellcheck on `text` (stdin) as `shell`; resolves to its exit code and output. */
function shellcheck(
  text: string,
  shell: "bash" | "sh",
): Promise<{ rc: number | null; out: string; err: string }> {
  return new Promise((resolve, reject) => {
    const p = spawn("shellcheck", ["-s", shell, "-f", "gcc", "-"], { stdio: ["pipe", "pipe", "pipe"] });
    let out = "";
    let err = "";
    p.stdout.on("data", (d: Buffer) => (out += d.toString("utf8")));
    p.stderr.on("data", (d: Buffer) => (err += d.toString("utf8")));
    p.on("error", reject);
    p.on("close", (rc) => resolve({ rc, out, err }));
    p.stdin.end(text);
  });
}

/**
 * The findings of one script, one string each: `<id>:<line>:<column>: <level>: <message> [SCxxxx]`
 * followed by the offending line. A shellcheck that fails to run (exit other than 0 or 1) is a
 * finding too.
 */
async function findingsOf(s: Unique): Promise<string[]> {
  const { rc, out, err } = await shellcheck(s.text, s.shell);
  const id = s.ids.length > 1 ? `${s.ids[0]} (+${s.ids.length - 1} identical)` : s.ids[0];
  if (rc !== 0 && rc !== 1) return [`${id}: shellcheck exited ${rc}: ${err.trim()}`];
  const lines = s.text.split("\n");
  return out
    .split("\n")
    .filter((l) => l !== "")
    .map((l) => {
      const m = /^-:(\d+):(\d+): (.*)$/.exec(l);
      if (!m) return `${id}: ${l}`;
      return `${id}:${m[1]}:${m[2]}: ${m[3]}\n    ${lines[Number(m[1]) - 1]?.trim() ?? ""}`;
    });
}

/** The findings of every script, checked in parallel batches of one per core (at least 2). */
async function findingsOfAll(scripts: Unique[]): Promise<string[]> {
  const batch = Math.max(2, os.cpus().length);
  const all: string[] = [];
  for (let i = 0; i < scripts.length; i += batch)
    for (const f of await Promise.all(scripts.slice(i, i + batch).map(findingsOf))) all.push(...f);
  return all;
}

describe("shellcheck on every rendered script", () => {
  const scripts = uniqueScripts();

  it("the checker reports a planted finding, with the script's id, line and code", async () => {
    const planted: Unique = {
      text: "set -eu\nunused=1\necho hi",
      shell: "bash",
      ids: ["planted a", "planted b"],
    };
    expect(await findingsOfAll([planted])).toEqual([
      "planted a (+1 identical):2:1: warning: unused appears unused. " +
        "Verify use (or export if used externally). [SC2034]\n    unused=1",
    ]);
  });

  it("finds the programs inside scripts: sh -c texts and the watchdog", () => {
    const ids = scripts.flatMap((s) => s.ids);
    expect(ids).toContain("per-container nat dnat tcp-443 create (watchdog)");
    expect(ids).toContain("per-container plan --live read (sh -c)");
    expect(programsIn(`x; sh -c 'a "$1"'\\''b'\\' c; bash -c "$w"`)).toEqual([
      { text: `a "$1"'b'`, shell: "sh", what: "sh -c" },
    ]);
  });

  it("every script has no finding at any severity", async () => {
    expect(scripts.length).toBeGreaterThan(100);
    const findings = await findingsOfAll(scripts);
    // Thrown as text, so the report shows each finding and its line as they are (no JSON escapes).
    if (findings.length > 0) throw new Error(`${findings.length} finding(s):\n${findings.join("\n")}`);
  });

  it("every shellcheck directive names codes and a reason, for one command only (never file-wide)", () => {
    const bad: string[] = [];
    for (const s of scripts) {
      const lines = s.text.split("\n");
      const firstCommand = lines.findIndex((l) => l.trim() !== "" && !l.trim().startsWith("#"));
      lines.forEach((l, i) => {
        if (!/^\s*#\s*shellcheck\b/.test(l)) return;
        const form = /^\s*# shellcheck disable=SC\d{4}(,SC\d{4})* # \S.*$/.test(l);
        const next = lines[i + 1]?.trim() ?? "";
        if (!form || i < firstCommand || next === "" || next.startsWith("#"))
          bad.push(`${s.ids[0]}:${i + 1}: ${l.trim()}`);
      });
    }
    expect(bad).toEqual([]);
  });
});
