/**
 * Compiled runs (issue 14). `npm run build` (scripts/build.sh) type-checks, compiles the program
 * and the CLIs into dist/ and records the sha256 of every source it compiled in dist/.sources
 * (`sha256sum` format, hashed before compiling). A compiled entry point (dist/scripts/plan.js,
 * live.js, program.js) checks that record first and refuses to run old code: a stale dist/ never
 * runs silently. Run from the .ts (ts-node, jest) nothing is checked: that is the source itself.
 */
import { createHash } from "crypto";
import * as fs from "fs";
import * as path from "path";

/** True when this module runs as compiled JS from dist/ (false under ts-node and jest). */
export const COMPILED = path.extname(__filename) === ".js";

/** The project root (Pulumi.yaml and the stack files are there), from the .ts or from dist/scripts/. */
export const PROJECT_ROOT = path.resolve(__dirname, COMPILED ? "../.." : "..");

/** The build's record of its sources (relative to the project root). */
export const MANIFEST = "dist/.sources";

const BUILD = "run npm run build";
/** How many stale files the refusal names before "and N more". */
const NAMED = 3;

/** The sources (relative paths) whose content differs from what the build compiled, or that are gone. */
export function staleSources(root: string = PROJECT_ROOT): string[] {
  let record: string;
  try {
    record = fs.readFileSync(path.join(root, MANIFEST), "utf8");
  } catch {
    throw new Error(`no compiled build (${MANIFEST} is missing): ${BUILD}`);
  }
  const stale: string[] = [];
  for (const line of record.split("\n")) {
    if (line === "") continue;
    const m = /^([0-9a-f]{64}) [ *](.+)$/.exec(line);
    if (m === null) throw new Error(`${MANIFEST}: unreadable line "${line}": ${BUILD}`);
    let body: Buffer;
    try {
      body = fs.readFileSync(path.join(root, m[2]));
    } catch {
      stale.push(m[2]);
      continue;
    }
    if (createHash("sha256").update(body).digest("hex") !== m[1]) stale.push(m[2]);
  }
  return stale;
}

/** Why the build in `root`/dist must not run (undefined when it is fresh). */
export function buildProblem(root: string = PROJECT_ROOT): string | undefined {
  let stale: string[];
  try {
    stale = staleSources(root);
  } catch (e) {
    return (e as Error).message;
  }
  if (stale.length === 0) return undefined;
  const named = stale.slice(0, NAMED).join(", ");
  const more = stale.length > NAMED ? ` and ${stale.length - NAMED} more` : "";
  return `dist/ is older than its sources (${named}${more} changed since the last build): ${BUILD}`;
}

/** {@link buildProblem} when this runs compiled from dist/; undefined when it runs from the .ts. */
export function staleBuild(root: string = PROJECT_ROOT): string | undefined {
  return COMPILED ? buildProblem(root) : undefined;
}
