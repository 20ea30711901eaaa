/**
 * Runs rendered scripts for real inside a throwaway network namespace (root only), with the
 * host paths the scripts write (/etc/iptables/rules.v4, the lock, the NAT rollback folder)
 * redirected to a temp folder.
 */
import { execFileSync, spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { IPTABLES_LOCK, ROLLBACK_DIR, RULES_FILE } from "../../render/iptables";

/** Why real-tool tests cannot run here, or undefined when they can. */
export function netnsUnavailable(): string | undefined {
  if (process.getuid?.() !== 0) return "not root: network namespaces need root";
  const probe = spawnSync("sh", ["-c", "command -v ip && command -v iptables-restore"], { encoding: "utf8" });
  if (probe.status !== 0) return "ip or iptables-restore missing (apt-get install iproute2 iptables)";
  return undefined;
}

/** A namespace that lives for one test file. */
export class ThrowawayNetns {
  readonly name = `itn-unit-${process.pid}-${Math.floor(Math.random() * 1e6)}`;
  readonly dir = fs.mkdtempSync(path.join(os.tmpdir(), "itn-unit-"));
  constructor() {
    execFileSync("ip", ["netns", "add", this.name]);
  }
  /** Runs a rendered script with bash in the namespace; returns status and output. */
  run(script: string, stdin = ""): { status: number; stdout: string; stderr: string } {
    const text = script
      .split(RULES_FILE)
      .join(path.join(this.dir, "rules.v4"))
      .split(IPTABLES_LOCK)
      .join(path.join(this.dir, "lock"))
      .split(ROLLBACK_DIR)
      .join(path.join(this.dir, "rollback"));
    const r = spawnSync("ip", ["netns", "exec", this.name, "bash", "-c", text], {
      input: stdin,
      encoding: "utf8",
    });
    return { status: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
  }
  /** iptables-save of one table, without comments and counters. */
  save(table: "nat" | "filter"): string[] {
    const out = execFileSync("ip", ["netns", "exec", this.name, "iptables-save", "-t", table], {
      encoding: "utf8",
    });
    return out.split("\n").filter((l) => l.startsWith("-A ") || l.startsWith(":"));
  }
  sh(cmd: string): string {
    return execFileSync("ip", ["netns", "exec", this.name, "bash", "-c", cmd], { encoding: "utf8" });
  }
  persisted(): string {
    return fs.readFileSync(path.join(this.dir, "rules.v4"), "utf8");
  }
  destroy(): void {
    spawnSync("ip", ["netns", "del", this.name]);
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}
