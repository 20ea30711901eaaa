/**
 * The Pulumi program's entry point, compiled (Pulumi.yaml `main: dist/scripts/program.js`,
 * `typescript: false`: no ts-node, no type-check per run; `npm run build` type-checks). It refuses
 * a dist/ older than its sources (scripts/compiled.ts), then runs index.ts's program: its exports
 * are the stack outputs. The e2e harness and the mock-runtime tests load index.ts itself.
 */
import * as pulumi from "@pulumi/pulumi";
import { staleBuild } from "./compiled";

const stale = staleBuild();
// A RunError ends the program with its message alone (no stack trace), before any resource.
if (stale !== undefined) throw new pulumi.RunError(stale);

// Required after the check on purpose (an import would run the program first).
// eslint-disable-next-line @typescript-eslint/no-require-imports
export = require("../index") as Record<string, unknown>;
