/** Runs tests/preview/runner.ts in a child process (see there). */
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";

export interface PreviewResult {
  error: string | null;
  commands: string[];
}

export function preview(input: {
  stack: string;
  config: Record<string, string>;
  secretKeys?: string[];
  previousOutputs?: Record<string, unknown>;
}): PreviewResult {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "itn-preview-"));
  const file = path.join(dir, "input.json");
  fs.writeFileSync(file, JSON.stringify({ secretKeys: [], previousOutputs: {}, ...input }), { mode: 0o600 });
  const root = path.resolve(__dirname, "../..");
  const r = spawnSync(
    process.execPath,
    [
      path.join(root, "node_modules/ts-node/dist/bin.js"),
      "--transpile-only",
      "-P",
      path.join(root, "tsconfig.json"),
      path.join(__dirname, "runner.ts"),
      file,
    ],
    {
      encoding: "utf8",
      cwd: root,
      timeout: 120000,
    },
  );
  fs.rmSync(dir, { recursive: true, force: true });
  const line = r.stdout.trim().split("\n").pop() ?? "";
  try {
    return JSON.parse(line) as PreviewResult;
  } catch {
    throw new Error(`preview runner failed (exit ${r.status}): ${r.stderr}`);
  }
}
