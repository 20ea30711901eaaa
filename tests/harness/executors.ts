/**
 * Executors: how the engine double runs one command. `SshExecutor` spawns the OpenSSH client
 * (one connection per command, as @pulumi/command does); `LocalExecutor` runs the command
 * with local bash, for unit tests of the engine itself.
 */
import { spawn } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";

/** The parts of a remote.Command `connection` the harness understands. */
export interface Connection {
  host: string;
  port: number;
  user: string;
  /** Private key text (OpenSSH or PEM). Never logged. */
  privateKey: string;
  /** Pinned host public key, e.g. "ssh-ed25519 AAAA..."; unchecked when absent. */
  hostKey?: string;
}

/** What one command produced. */
export interface ExecResult {
  exitCode: number;
  stdout: string;
  stderr: string;
}

/** Runs one command text on the target of `conn`, with `stdin` piped in when given. */
export interface Executor {
  run(conn: Connection, command: string, stdin: string | undefined): Promise<ExecResult>;
}

/**
 * An error from an executor that could not run the command at all (as opposed to a command
 * that ran and exited non-zero). `exitCode` is what the transport exited with.
 */
export class ExecutorError extends Error {
  constructor(
    message: string,
    readonly exitCode: number,
  ) {
    super(message);
    this.name = "ExecutorError";
  }
}

/** Spawns `cmd args`, pipes `stdin` (or /dev/null), collects output and the exit code. */
function spawnCollect(cmd: string, args: string[], stdin: string | undefined): Promise<ExecResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: [stdin === undefined ? "ignore" : "pipe", "pipe", "pipe"] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout?.on("data", (b: Buffer) => out.push(b));
    child.stderr?.on("data", (b: Buffer) => err.push(b));
    child.on("error", reject);
    child.on("close", (code, signal) => {
      const stderr = Buffer.concat(err).toString("utf8");
      resolve({
        exitCode: code ?? 128 + (signal ? os.constants.signals[signal] : 0),
        stdout: Buffer.concat(out).toString("utf8"),
        stderr: signal ? `${stderr}killed by ${signal}\n` : stderr,
      });
    });
    if (stdin !== undefined && child.stdin) {
      child.stdin.on("error", () => undefined); // the command may exit without reading stdin (EPIPE)
      child.stdin.end(stdin);
    }
  });
}

/**
 * Runs commands over SSH with the `ssh` CLI: key in a private temp dir (mode 0600), the host
 * key pinned through a temp known_hosts when given, no user config, no agent, batch mode.
 * The command text is passed as ONE argument (the remote login shell runs it), like the
 * provider's `session.Run(command)`.
 */
export class SshExecutor implements Executor {
  async run(conn: Connection, command: string, stdin: string | undefined): Promise<ExecResult> {
    const dir = await fs.promises.mkdtemp(path.join(os.tmpdir(), "itn-ssh-"));
    try {
      const key = path.join(dir, "id");
      await fs.promises.writeFile(
        key,
        conn.privateKey.endsWith("\n") ? conn.privateKey : `${conn.privateKey}\n`,
        { mode: 0o600 },
      );
      const opts = [
        "BatchMode=yes",
        "ConnectTimeout=10",
        "ServerAliveInterval=5",
        "IdentitiesOnly=yes",
        "IdentityAgent=none",
        "LogLevel=ERROR",
        "GlobalKnownHostsFile=/dev/null",
      ];
      if (conn.hostKey !== undefined && conn.hostKey !== "") {
        const knownHosts = path.join(dir, "known_hosts");
        const name = conn.port === 22 ? conn.host : `[${conn.host}]:${conn.port}`;
        await fs.promises.writeFile(knownHosts, `${name} ${conn.hostKey.trim()}\n`, { mode: 0o600 });
        opts.push("StrictHostKeyChecking=yes", `UserKnownHostsFile=${knownHosts}`);
      } else {
        opts.push("StrictHostKeyChecking=no", "UserKnownHostsFile=/dev/null");
      }
      const args = [
        "-F",
        "/dev/null",
        "-i",
        key,
        ...opts.flatMap((o) => ["-o", o]),
        "-p",
        String(conn.port),
        "--",
        `${conn.user}@${conn.host}`,
        command,
      ];
      const r = await spawnCollect("ssh", args, stdin);
      if (r.exitCode === 255) {
        throw new ExecutorError(
          `ssh to ${conn.user}@${conn.host}:${conn.port} failed: ${r.stderr.trim()}`,
          255,
        );
      }
      return r;
    } finally {
      await fs.promises.rm(dir, { recursive: true, force: true });
    }
  }
}

/** Runs commands locally with `bash -c`; the connection is ignored. For unit tests. */
export class LocalExecutor implements Executor {
  run(_conn: Connection, command: string, stdin: string | undefined): Promise<ExecResult> {
    return spawnCollect("bash", ["-c", command], stdin);
  }
}
