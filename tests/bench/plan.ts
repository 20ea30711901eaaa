/**
 * `npm run bench:plan` (issue 14, compiled runs): how long the compiled plan CLI takes against a
 * bare `node -e ''`, both measured in this one run, alternating, so the ratio holds on any machine.
 * Prints one JSON line: {"nodeMs","planMs","ratio","tsNodePlanMs","runs"} (medians, ms; ratio =
 * planMs / nodeMs; tsNodePlanMs: the same plan through `ts-node --transpile-only`, for comparison).
 *
 *   npm run build && npm run bench:plan [-- RUNS]     (RUNS default 20; the goal is ratio <= 4)
 *
 * A benchmark, not a test: it asserts no time. It fails only when a run fails (e.g. a stale dist/).
 */
import { spawnSync } from "child_process";
import * as path from "path";

const ROOT = path.resolve(__dirname, "../..");
const PLAN_ARGS = ["--stack", "prod", "--json"];

/** Wall time of one run in ms; throws with its stderr when it exits non-zero. */
function timed(cmd: string, args: string[]): number {
  const start = process.hrtime.bigint();
  const r = spawnSync(cmd, args, { cwd: ROOT, encoding: "utf8", maxBuffer: 64 * 1024 * 1024 });
  const ms = Number(process.hrtime.bigint() - start) / 1e6;
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(" ")}: exit ${r.status}\n${r.stderr}`);
  return ms;
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? s[m] : (s[m - 1] + s[m]) / 2;
};
const round = (x: number, digits = 1): number => Number(x.toFixed(digits));

function main(): void {
  const runs = Number(process.argv[2] ?? 20);
  if (!Number.isInteger(runs) || runs < 1)
    throw new Error(`RUNS must be a positive integer: ${process.argv[2]}`);
  const node = process.execPath;
  const bare = (): number => timed(node, ["-e", ""]);
  const plan = (): number => timed(node, [path.join("dist", "scripts", "plan.js"), ...PLAN_ARGS]);
  const tsNode = (): number =>
    timed(path.join(ROOT, "node_modules", ".bin", "ts-node"), [
      "--transpile-only",
      path.join("scripts", "plan.ts"),
      ...PLAN_ARGS,
    ]);
  // One of each first (disk cache, a stale build fails here), not counted.
  bare();
  plan();
  tsNode();
  const nodeMs: number[] = [];
  const planMs: number[] = [];
  const tsNodeMs: number[] = [];
  for (let i = 0; i < runs; i++) {
    nodeMs.push(bare());
    planMs.push(plan());
    // ts-node is only the comparison: one run in four (at least 3).
    if (i % 4 === 0 || i < 3) tsNodeMs.push(tsNode());
  }
  const n = median(nodeMs);
  const p = median(planMs);
  process.stdout.write(
    `${JSON.stringify({
      nodeMs: round(n),
      planMs: round(p),
      ratio: round(p / n, 2),
      tsNodePlanMs: round(median(tsNodeMs)),
      runs,
    })}\n`,
  );
}

try {
  main();
} catch (e) {
  process.stderr.write(`bench:plan: ${(e as Error).message}\n`);
  process.exitCode = 1;
}
