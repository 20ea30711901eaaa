/**
 * A throwaway stand-in bed for the Vault unit tests: tests/bed/fake-vault.sh (a FAKE Vault:
 * HashiCorp Vault cannot be installed here) installed under a temp root, and a fake `incus` that
 * runs `incus exec <c> -- cmd` locally in a clean environment, so rendered scripts run for real.
 */
import { spawnSync, SpawnSyncReturns } from "child_process";
import * as fs from "fs";
import * as net from "net";
import * as os from "os";
import * as path from "path";
import { remoteBash } from "../../render/shell";
import { ROOT } from "./fixtures";

const FAKE_INCUS =
  `#!/usr/bin/env bash
# fake incus for unit tests: "incus exec [-n|-T] <c> -- cmd..." runs cmd locally in a clean env
set -euo pipefail
{ printf '%q ' "$@"; printf '\\n'; } >> "$SHIM_LOG"
case $1 in
  info) [[ " $SHIM_CONTAINERS " == *" $2 "* ]]; exit ;;
  exec) shift ;;
  *) echo "fake incus: unsupported: $*" >&2; exit 1 ;;
esac
while [[ $1 == -* ]]; do case $1 in -n) exec </dev/null ;; -T) ;; ` +
  `*) echo "fake incus: unsupported flag $1" >&2; exit 1 ;; esac; shift; done
c=$1; shift
[[ " $SHIM_CONTAINERS " == *" $c "* ]] || { echo "Error: Instance not found" >&2; exit 1; }
[ "$1" = -- ] && shift
exec env -i PATH="$SHIM_PATH" HOME=/root LC_ALL=C "$@"
`;

/** The fake Vault script. */
export const FAKE_VAULT = path.join(ROOT, "tests/bed/fake-vault.sh");

const freePort = (): Promise<number> =>
  new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });

/** One bed: temp root, fake Vault with its health endpoint on a free port, fake incus. */
export interface VaultBed {
  tmp: string;
  state: string;
  port: number;
  /** Runs a rendered host script (bash, as the remote command would) with `input` on stdin. */
  run(text: string, input?: string): SpawnSyncReturns<string>;
  /** Runs the fake `vault` CLI with the root token (or `token`), `input` on stdin. */
  vault(args: string[], input?: string, token?: string): SpawnSyncReturns<string>;
  /** The data at mount/path through `vault kv get -format=json` (root token), or undefined. */
  data(mount: string, kvPath: string): { data: Record<string, string>; version: number } | undefined;
  /** Lines of the fake's argument log / authorization log. */
  calls(): string[];
  auth(): string[];
  rootToken(): string;
  stop(): void;
}

/** Installs the bed; `containers` are the names the fake incus knows. */
export async function makeVaultBed(containers = "vault system"): Promise<VaultBed> {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "itn-vault-adopt-"));
  const state = path.join(tmp, "var/lib/fake-vault");
  const port = await freePort();
  const inst = spawnSync("bash", [FAKE_VAULT, "install", "--root", tmp, "--port", String(port)], {
    encoding: "utf8",
  });
  if (inst.status !== 0) throw new Error(`fake vault install failed: ${inst.stderr}`);
  fs.mkdirSync(path.join(tmp, "shim"));
  fs.writeFileSync(path.join(tmp, "shim/incus"), FAKE_INCUS, { mode: 0o755 });
  const env = {
    HOME: tmp,
    PATH: `${path.join(tmp, "shim")}:/usr/bin:/bin`,
    SHIM_LOG: path.join(tmp, "shim.log"),
    SHIM_CONTAINERS: containers,
    SHIM_PATH: `${path.join(tmp, "usr/local/bin")}:/usr/bin:/bin`,
  };
  const lines = (f: string): string[] =>
    fs
      .readFileSync(path.join(state, f), "utf8")
      .split("\n")
      .filter((l) => l !== "");
  const rootToken = (): string => fs.readFileSync(path.join(state, "token"), "utf8").trim();
  const vault = (args: string[], input = "", token?: string): SpawnSyncReturns<string> =>
    spawnSync(path.join(tmp, "usr/local/bin/vault"), args, {
      env: { PATH: "/usr/bin:/bin", VAULT_TOKEN: token ?? rootToken() },
      input,
      encoding: "utf8",
    });
  return {
    tmp,
    state,
    port,
    run: (text, input = "") =>
      spawnSync("sh", ["-c", remoteBash(text, false)], { input, env, encoding: "utf8" }),
    vault,
    data(mount, kvPath) {
      const r = vault(["kv", "get", "-format=json", `-mount=${mount}`, kvPath]);
      if (r.status !== 0) return undefined;
      const j = JSON.parse(r.stdout) as {
        data: { data: Record<string, string>; metadata: { version: number } };
      };
      return { data: j.data.data, version: j.data.metadata.version };
    },
    calls: () => lines("calls.log"),
    auth: () => lines("auth.log"),
    rootToken,
    stop() {
      spawnSync("bash", [FAKE_VAULT, "stop", "--root", tmp]);
      fs.rmSync(tmp, { recursive: true, force: true });
    },
  };
}
