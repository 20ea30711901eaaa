/**
 * A preview of the real index.ts in its own process, under Pulumi's mock runtime (the engine
 * cannot be installed here), with a chosen "last applied" stack output for the self
 * StackReference. Nothing runs anywhere: like `pulumi preview`, it only registers resources.
 * A program error thrown inside `apply` (the network approval gate) surfaces as an unhandled
 * rejection, exactly as the Pulumi language host reports it; this process reports it as JSON:
 *   { "error": string | null, "commands": string[] }   (names of registered remote.Commands)
 * Usage: ts-node tests/preview/runner.ts <input.json>
 *   input: { stack, config: {key: value}, secretKeys: [], previousOutputs: {} }
 */
import * as fs from "fs";
import * as path from "path";

interface Input {
  stack: string;
  config: Record<string, string>;
  secretKeys: string[];
  previousOutputs: Record<string, unknown>;
}

const input = JSON.parse(fs.readFileSync(process.argv[2], "utf8")) as Input;
const commands: string[] = [];
let reported = false;
const report = (error: string | null): void => {
  if (reported) return;
  reported = true;
  process.stdout.write(`${JSON.stringify({ error, commands: [...commands].sort() })}\n`);
  process.exit(0);
};
process.on("unhandledRejection", (reason) =>
  report(reason instanceof Error ? reason.message : String(reason)),
);
process.on("uncaughtException", (e) => report(e.message));

async function main(): Promise<void> {
  const pulumi = await import("@pulumi/pulumi");
  pulumi.runtime.setAllConfig(input.config, input.secretKeys);
  await pulumi.runtime.setMocks(
    {
      newResource: (a) => {
        if (a.type === "command:remote:Command") commands.push(a.name);
        const extra = a.type === "pulumi:pulumi:StackReference" ? { outputs: input.previousOutputs } : {};
        return { id: `${a.name}-id`, state: { ...a.inputs, ...extra } };
      },
      call: (a) => a.inputs,
    },
    "incus-tenant",
    input.stack,
    true,
    "organization",
  );
  await import(path.resolve(__dirname, "../../index.ts"));
  // Let the program's registrations settle; an unapproved change rejects during this wait.
  await new Promise((resolve) => setTimeout(resolve, 1500));
  report(null);
}

main().catch((e: Error) => report(e.message));
