/**
 * npm run plan -- --stack <name> [--stack-file FILE] [--json]   (add --live: scripts/live.ts)
 * Validates the stack file and prints what `pulumi up` would apply. No engine, no SSH, no
 * Pulumi SDK loaded. Exit 0 on success; 1 on invalid input (every problem on stderr, nothing on
 * stdout) or when run compiled from a dist/ older than its sources (scripts/compiled.ts).
 */
import { parseTenant } from "../model";
import { readStackTenant, stackFilePath } from "../model/stackfile";
import { planDocument, planText } from "../render/plan";
import { PROJECT_ROOT, staleBuild } from "./compiled";

interface PlanArgs {
  stack: string;
  stackFile?: string;
  json: boolean;
}

const USAGE = "usage: npm run plan -- --stack <name> [--stack-file FILE] [--json]";

export function parseArgs(argv: string[]): PlanArgs {
  let stack: string | undefined;
  let stackFile: string | undefined;
  let json = false;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === "--json") json = true;
    else if (arg === "--stack" || arg === "--stack-file") {
      const value = argv[++i];
      if (value === undefined || value.startsWith("--")) throw new Error(`${arg} needs a value\n${USAGE}`);
      if (arg === "--stack") stack = value;
      else stackFile = value;
    } else throw new Error(`unknown argument ${arg}\n${USAGE}`);
  }
  if (stack === undefined) throw new Error(`--stack is required\n${USAGE}`);
  if (!/^[A-Za-z0-9_.-]+$/.test(stack)) throw new Error(`--stack: invalid stack name "${stack}"`);
  return { stack, stackFile, json };
}

export function main(argv: string[]): number {
  try {
    const args = parseArgs(argv);
    const spec = parseTenant(readStackTenant(args.stackFile ?? stackFilePath(args.stack, PROJECT_ROOT)), {
      stack: args.stack,
    });
    process.stdout.write(
      args.json
        ? `${JSON.stringify(planDocument(args.stack, spec), null, 2)}\n`
        : `${planText(args.stack, spec)}\n`,
    );
    return 0;
  } catch (e) {
    process.stderr.write(`plan: ${(e as Error).message}\n`);
    return 1;
  }
}

if (require.main === module) {
  const argv = process.argv.slice(2);
  const stale = staleBuild();
  if (stale !== undefined) {
    process.stderr.write(`plan: ${stale}\n`);
    process.exitCode = 1;
  } else if (argv.includes("--live"))
    // --live reads the host over SSH (scripts/live.ts): exit 0 in sync, 2 on drift, 1 on error.
    void import("./live").then((live) => live.main(argv)).then((code) => (process.exitCode = code));
  else process.exitCode = main(argv);
}
