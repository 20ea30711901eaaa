/**
 * npm run plan -- --stack <name> [--stack-file FILE] --live [--json] [--ssh-key FILE]
 * Reads the host over ONE SSH connection (drift/'s read-only script) and prints what
 * differs between the live host and the stack, per resource. Exit 0 in sync, 2 on drift,
 * 1 on error (bad config, no key, SSH failure, unreadable iptables/incus).
 *
 * SSH: key from --ssh-key FILE or $INCUS_TENANT_SSH_KEY (a path), copied into a private temp
 * folder (mode 0600, removed afterwards, never printed); the host key is pinned from the
 * stack's host.hostKey through a temp known_hosts (a stack without it is refused).
 */
import { spawn } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { parseTenant } from "../model";
import { PROJECT, readStackTenant, stackFilePath } from "../model/stackfile";
import type { TenantSpec } from "../model/types";
import { diffLive, DriftItem, driftText, liveSerials, parseLive, readCommand } from "../drift";
import { TYPES, urnOf } from "../components/names";
import { ALL_KINDS } from "../services/registry";
import { PROJECT_ROOT, staleBuild } from "./compiled";

const USAGE = "usage: npm run plan -- --stack <name> [--stack-file FILE] --live [--json] [--ssh-key FILE]";
/** Seconds the whole read may take. */
export const READ_TIMEOUT_S = 120;

export interface LiveArgs {
  stack: string;
  stackFile?: string;
  json: boolean;
  /** Path of the private key (--ssh-key, else $INCUS_TENANT_SSH_KEY). */
  sshKey?: string;
}

/**
 * The command line of a read-only host CLI (`plan --live`, `verify`): --stack, --stack-file,
 * --json, --ssh-key (else $INCUS_TENANT_SSH_KEY) and the flags in `ignored`; or an error naming
 * the bad argument, with `usage`.
 */
export function parseHostCliArgs(
  argv: string[],
  env: NodeJS.ProcessEnv,
  usage: string,
  ignored: readonly string[] = [],
): LiveArgs {
  let stack: string | undefined;
  let stackFile: string | undefined;
  let sshKey: string | undefined = env.INCUS_TENANT_SSH_KEY || undefined;
  let json = false;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === "--json") json = true;
    else if (ignored.includes(arg)) continue;
    else if (arg === "--stack" || arg === "--stack-file" || arg === "--ssh-key") {
      const value = argv[++i];
      if (value === undefined || value.startsWith("--")) throw new Error(`${arg} needs a value\n${usage}`);
      if (arg === "--stack") stack = value;
      else if (arg === "--stack-file") stackFile = value;
      else sshKey = value;
    } else throw new Error(`unknown argument ${arg}\n${usage}`);
  }
  if (stack === undefined) throw new Error(`--stack is required\n${usage}`);
  if (!/^[A-Za-z0-9_.-]+$/.test(stack)) throw new Error(`--stack: invalid stack name "${stack}"`);
  return { stack, stackFile, json, ...(sshKey !== undefined ? { sshKey } : {}) };
}

/** `plan --live`'s command line (the `--live` flag itself is accepted and ignored). */
export const parseLiveArgs = (argv: string[], env: NodeJS.ProcessEnv = process.env): LiveArgs =>
  parseHostCliArgs(argv, env, USAGE, ["--live"]);

/** Runs `command` on the tenant's host; resolves with stdout; rejects with a message naming what failed. */
export async function sshRead(spec: TenantSpec, keyFile: string, command: string): Promise<string> {
  const h = spec.host;
  if (h.hostKey === undefined)
    throw new Error(
      'host.hostKey: not set in the stack; --live pins the host key (add hostKey: "ssh-ed25519 AAAA...")',
    );
  let key: string;
  try {
    key = fs.readFileSync(keyFile, "utf8");
  } catch (e) {
    throw new Error(`--ssh-key: cannot read ${keyFile}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`);
  }
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "itn-live-"));
  try {
    fs.writeFileSync(path.join(dir, "id"), key.endsWith("\n") ? key : `${key}\n`, { mode: 0o600 });
    const name = h.port === 22 ? h.address : `[${h.address}]:${h.port}`;
    fs.writeFileSync(path.join(dir, "known_hosts"), `${name} ${h.hostKey}\n`, { mode: 0o600 });
    const opts = [
      "BatchMode=yes",
      "ConnectTimeout=10",
      "ServerAliveInterval=5",
      "IdentitiesOnly=yes",
      "IdentityAgent=none",
      "LogLevel=ERROR",
      "GlobalKnownHostsFile=/dev/null",
      "StrictHostKeyChecking=yes",
      `UserKnownHostsFile=${path.join(dir, "known_hosts")}`,
    ];
    const args = [
      "-F",
      "/dev/null",
      "-i",
      path.join(dir, "id"),
      ...opts.flatMap((o) => ["-o", o]),
      "-p",
      String(h.port),
      "--",
      `${h.user}@${h.address}`,
      command,
    ];
    const r = await new Promise<{ code: number; out: string; err: string }>((resolve, reject) => {
      const child = spawn("ssh", args, { stdio: ["ignore", "pipe", "pipe"] });
      const [out, err]: Buffer[][] = [[], []];
      const timer = setTimeout(() => child.kill("SIGKILL"), READ_TIMEOUT_S * 1000);
      child.stdout.on("data", (b: Buffer) => out.push(b));
      child.stderr.on("data", (b: Buffer) => err.push(b));
      child.on("error", (e) => (clearTimeout(timer), reject(new Error(`cannot run ssh: ${e.message}`))));
      child.on("close", (code, signal) => {
        clearTimeout(timer);
        resolve({
          code: code ?? (signal ? 124 : 1),
          out: Buffer.concat(out).toString("utf8"),
          err: Buffer.concat(err).toString("utf8").trim(),
        });
      });
    });
    const target = `${h.user}@${h.address}:${h.port}`;
    if (r.code === 255) throw new Error(`ssh to ${target} failed: ${r.err || "exit 255"}`);
    if (r.code === 124) throw new Error(`the live read on ${target} took longer than ${READ_TIMEOUT_S}s`);
    if (r.code !== 0) throw new Error(`the live read failed on ${target} (exit ${r.code}): ${r.err}`);
    return r.out;
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** Type of the component that owns a drift kind's command (a child of the Tenant). */
const PARENT_TYPE: Readonly<Record<string, string>> = {
  nat: TYPES.natRule,
  chains: TYPES.host,
  guard: TYPES.host,
  container: TYPES.container,
  ...Object.fromEntries(ALL_KINDS.flatMap((k) => Object.entries(k.driftParents?.() ?? {}))),
};
/** The Pulumi URN of the command that converges `item` (undefined when none owns it). */
export function commandUrn(stack: string, project: string, item: DriftItem): string | undefined {
  if (item.command === undefined) return undefined;
  return urnOf(stack, project, [TYPES.tenant, PARENT_TYPE[item.kind], TYPES.command], item.command);
}

/** The operator's repair hint: which converge scripts `pulumi up` must re-run, and what no resource owns. */
export function repairText(stack: string, items: readonly DriftItem[]): string {
  const urns = [
    ...new Set(items.map((i) => commandUrn(stack, PROJECT, i)).filter((u): u is string => u !== undefined)),
  ];
  const orphans = items.filter((i) => i.command === undefined).map((i) => `  ${i.resource}: ${i.text}`);
  // The container script skips its config block while user.incus-tenant.hash matches the stack.
  const rehash = [
    ...new Set(
      items
        .filter((i) => i.kind === "container" && i.change === "changed")
        .map((i) => i.resource.replace(/^container /, "")),
    ),
  ];
  return [
    ...(urns.length > 0
      ? [
          "",
          "repair: forget the drifted commands so `pulumi up` runs their (idempotent) create scripts again:",
          ...rehash.map(
            (c) =>
              `  incus config unset ${c} user.incus-tenant.hash   ` +
              "# on the host, so the container script re-applies its config",
          ),
          ...urns.map((u) => `  pulumi state delete --stack ${stack} --target-dependents --yes '${u}'`),
          `  pulumi up --stack ${stack}`,
        ]
      : []),
    ...(orphans.length > 0
      ? ["", "live-only, owned by no resource (`pulumi up` leaves them; remove them by hand):", ...orphans]
      : []),
  ].join("\n");
}

export async function main(argv: string[]): Promise<number> {
  try {
    const args = parseLiveArgs(argv);
    const spec = parseTenant(readStackTenant(args.stackFile ?? stackFilePath(args.stack, PROJECT_ROOT)), {
      stack: args.stack,
    });
    if (args.sshKey === undefined)
      throw new Error("no SSH key: pass --ssh-key FILE or set INCUS_TENANT_SSH_KEY to the key's path");
    const live = parseLive(await sshRead(spec, args.sshKey, readCommand(spec)));
    const drift = diffLive(spec, live);
    const serials = liveSerials(spec, live);
    if (args.json)
      process.stdout.write(
        `${JSON.stringify(
          { stack: args.stack, tenant: spec.name, inSync: drift.length === 0, drift, serials },
          null,
          2,
        )}\n`,
      );
    else {
      const zones = Object.entries(serials).map(([z, s]) => `zone ${z} serial ${s ?? "(none)"}`);
      const head =
        `live ${spec.host.user}@${spec.host.address}:${spec.host.port} vs stack ${args.stack} ` +
        `(tenant ${spec.name})${zones.length > 0 ? `; ${zones.join(", ")}` : ""}`;
      const resources = new Set(drift.map((d) => d.resource)).size;
      const body =
        drift.length === 0
          ? "in sync"
          : `${driftText(drift)}\n\n${drift.length} difference(s) in ${resources} resource(s)` +
            repairText(args.stack, drift);
      process.stdout.write(`${head}\n${body}\n`);
    }
    return drift.length === 0 ? 0 : 2;
  } catch (e) {
    process.stderr.write(`plan --live: ${(e as Error).message}\n`);
    return 1;
  }
}

if (require.main === module) {
  const stale = staleBuild();
  if (stale !== undefined) {
    process.stderr.write(`plan --live: ${stale}\n`);
    process.exitCode = 1;
  } else void main(process.argv.slice(2)).then((code) => (process.exitCode = code));
}
