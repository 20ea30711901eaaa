/**
 * npm run verify -- --stack <name> [--stack-file FILE] [--json] [--ssh-key FILE]
 * Post-apply verification (read-only) through ONE SSH connection (render/verify.ts's script):
 * each vhost answers at the NAT's target with its name, each zone's served serial is the zone
 * file's, Vault is unsealed, each container's declared ports listen. Prints a table (`--json`:
 * `{stack, tenant, ok, checks: [{check, target, ok, detail}]}`). Exit 0 when every check
 * passes, 1 when one fails or on an error (bad config is refused before any SSH, like plan).
 * SSH as `plan --live`: key from --ssh-key or $INCUS_TENANT_SSH_KEY, host key pinned.
 */
import { parseTenant } from "../model";
import { readStackTenant, stackFilePath } from "../model/stackfile";
import { remoteBash } from "../render/shell";
import { parseVerify, verifyChecks, verifyScript, verifyTable } from "../render/verify";
import { LiveArgs, parseHostCliArgs, sshRead } from "./live";
import { PROJECT_ROOT, staleBuild } from "./compiled";

const USAGE = "usage: npm run verify -- --stack <name> [--stack-file FILE] [--json] [--ssh-key FILE]";

/** The command line of verify (the same as `plan --live`'s, without `--live`). */
export type VerifyArgs = LiveArgs;

/** The command line, or an error naming the bad argument (with the usage). */
export const parseVerifyArgs = (argv: string[], env: NodeJS.ProcessEnv = process.env): VerifyArgs =>
  parseHostCliArgs(argv, env, USAGE);

/** Runs the verification; `read` runs the script on the host (tests pass a stand-in). */
export async function main(
  argv: string[],
  read: typeof sshRead = sshRead,
  out: (text: string) => void = (t) => void process.stdout.write(t),
  err: (text: string) => void = (t) => void process.stderr.write(t),
): Promise<number> {
  try {
    const args = parseVerifyArgs(argv);
    const spec = parseTenant(readStackTenant(args.stackFile ?? stackFilePath(args.stack, PROJECT_ROOT)), {
      stack: args.stack,
    });
    if (args.sshKey === undefined)
      throw new Error("no SSH key: pass --ssh-key FILE or set INCUS_TENANT_SSH_KEY to the key's path");
    const text = await read(spec, args.sshKey, remoteBash(verifyScript(spec), spec.host.sudo));
    const checks = verifyChecks(spec, parseVerify(text));
    const ok = checks.every((c) => c.ok);
    if (args.json) out(`${JSON.stringify({ stack: args.stack, tenant: spec.name, ok, checks }, null, 2)}\n`);
    else
      out(
        `verify ${spec.host.user}@${spec.host.address}:${spec.host.port}, stack ${args.stack} ` +
          `(tenant ${spec.name})\n${verifyTable(checks)}\n`,
      );
    return ok ? 0 : 1;
  } catch (e) {
    err(`verify: ${(e as Error).message}\n`);
    return 1;
  }
}

if (require.main === module) {
  // Run compiled from dist/: refuse a build older than its sources (scripts/compiled.ts).
  const stale = staleBuild();
  if (stale !== undefined) {
    process.stderr.write(`verify: ${stale}\n`);
    process.exitCode = 1;
  } else void main(process.argv.slice(2)).then((code) => (process.exitCode = code));
}
