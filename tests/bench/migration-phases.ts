/**
 * Per-phase timings of `bench:migration` (issue 14): where the time of the program's migration
 * goes, read from the engine double's log lines (`create <name> started (...)` and
 * `create <name> ok (exit 0, <ms> ms)`) and from the cutover's own progress lines kept in the
 * state (`<c>: serving at <ip> after <s> s of downtime (stop ..., final copy ..., ...)`).
 */
import * as fs from "fs";

/** One remote command as the engine double ran it, in seconds since the program started. */
interface Span {
  readonly name: string;
  readonly start: number;
  end?: number;
}

/** Rounds to tenths. */
const r1 = (x: number): number => Math.round(x * 10) / 10;

/** Collects the engine's log lines with their arrival time; {@link phases} sums them up. */
export class CommandClock {
  private readonly spans: Span[] = [];
  private readonly t0 = Date.now() / 1000;

  /** The `log` callback of runProgram. */
  readonly onLog = (line: string): void => {
    const t = Date.now() / 1000 - this.t0;
    const started = /^(?:create|update|delete) (\S+) started/.exec(line);
    if (started) this.spans.push({ name: started[1], start: t });
    const done = /^(?:create|update|delete) (\S+) (?:ok|failed) \(exit -?\d+, (\d+) ms\)/.exec(line);
    if (done) {
      const s = [...this.spans].reverse().find((x) => x.name === done[1] && x.end === undefined);
      if (s) s.end = s.start + Number(done[2]) / 1000;
    }
  };

  /** Number of remote commands (= SSH connections to the destination host) started so far. */
  get commands(): number {
    return this.spans.length;
  }

  /**
   * Seconds per phase: `evaluate` (program start to the first command), `preflight`, `trust`,
   * `precopy` and `cutover` (wall time from the first start to the last end of their commands),
   * `cleanup`, and `after` (last cutover end to the program's end: containers, NAT, cleanup).
   */
  phases(totalS: number): Record<string, number> {
    const pick = (re: RegExp): Span[] => this.spans.filter((s) => re.test(s.name));
    const wall = (xs: Span[]): number =>
      xs.length === 0
        ? 0
        : Math.max(...xs.map((s) => s.end ?? s.start)) - Math.min(...xs.map((s) => s.start));
    const cut = pick(/-migration-cutover/);
    const cutEnd = cut.length ? Math.max(...cut.map((s) => s.end ?? s.start)) : 0;
    return {
      evaluate: r1(this.spans.length ? Math.min(...this.spans.map((s) => s.start)) : totalS),
      preflight: r1(wall(pick(/-migration-preflight$/))),
      trust: r1(wall(pick(/-migration-trust$/))),
      precopy: r1(wall(pick(/-migration-precopy-/))),
      cutover: r1(wall(cut)),
      cleanup: r1(wall(pick(/-migration-cleanup$/))),
      after: r1(cut.length ? totalS - cutEnd : 0),
      commands: this.spans.length,
    };
  }

  /** One line per command: `<start>s +<duration>s <name>` (progress on stderr). */
  lines(): string[] {
    return this.spans.map(
      (s) =>
        `${s.start.toFixed(1).padStart(6)}s +${((s.end ?? s.start) - s.start).toFixed(1).padStart(5)}s ${s.name}`,
    );
  }
}

/**
 * The cutover's per-container downtime lines from the stored outputs of the state file:
 * `<c>: serving at <ip> after <s> s of downtime (<step> <s> s, ...)`, parsed into
 * `{ <c>: { downtime, <step>: seconds... } }`.
 */
export function cutoverLaps(stateFile: string): Record<string, Record<string, number>> {
  const out: Record<string, Record<string, number>> = {};
  if (!fs.existsSync(stateFile)) return out;
  const text = fs.readFileSync(stateFile, "utf8");
  const re = /incus-tenant: (\S+): serving at \S+ after ([\d.]+) s of downtime(?: \(([^)]*)\))?/g;
  for (const m of text.replace(/\\n/g, "\n").matchAll(re)) {
    const laps: Record<string, number> = { downtime: Number(m[2]) };
    for (const part of (m[3] ?? "").split(", ").filter(Boolean)) {
      const p = /^(.*) ([\d.]+) s$/.exec(part);
      if (p) laps[p[1]] = Number(p[2]);
    }
    out[m[1]] = laps;
  }
  return out;
}
