/**
 * The read side of live drift: the read-only script `plan --live` runs on the host (one SSH
 * command) and the parser of its output. Each section prints `@@itn-live <head> <rc> <stdout>
 * <stderr>`, head = base64 of a JSON description, stdout/stderr base64 (so no file content can
 * forge a marker).
 */
import type { TenantSpec } from "../model/types";
import { managedHeader, remoteBash, shq, singleQuotedOnPurpose } from "../render/shell";
import { usedKinds } from "../services/registry";

/** One Incus instance as read live (expanded config and devices). */
export interface LiveContainer {
  /** Instance name. */
  name: string;
  /** "Running", "Stopped", ... */
  status: string;
  /** expanded_config. */
  config: Record<string, string>;
  /** expanded_devices: name → settings. */
  devices: Record<string, Record<string, string>>;
  /** IPv4 addresses eth0 holds now. */
  addresses: string[];
}

/** A file read in a container: its content, absent, or why it could not be read. */
export type LiveFile = { content: string } | { missing: true } | { error: string };

/** Everything `readScript` read, parsed. Keys of `files`/`dirs` are `<container>:<path>`. */
export interface LiveState {
  /** `iptables-save -t nat`. */
  nat: string;
  /** `iptables-save -t filter`. */
  filter: string;
  containers: LiveContainer[];
  files: Record<string, LiveFile>;
  /** `*.caddy` files of a sites folder (full paths), or why it could not be listed. */
  dirs: Record<string, string[] | { error: string }>;
}

/** One difference between live and desired. */
export interface DriftItem {
  /**
   * The managed resource: "nat tcp-443", "chains", "guard", "container proxy", "caddy main",
   * "vhost chat", "zone example.com", "corefile".
   */
  resource: string;
  /** "nat", "chains", "guard", "container", or one of a service kind's (its `driftParents` keys). */
  kind: string;
  /** missing: desired, absent live (`+`); extra: live only (`-`); changed (`~`). */
  change: "missing" | "extra" | "changed";
  /** The readable line (without the sign). */
  text: string;
  /** The raw rule, each single difference, or a unified diff (live → desired). */
  details: string[];
  /** Name of the remote.Command whose create script converges it; absent when no resource owns the live thing. */
  command?: string;
}

const MARK = "@@itn-live";
const b64 = (s: string): string => Buffer.from(s, "utf8").toString("base64");
const unb64 = (s: string): string => Buffer.from(s, "base64").toString("utf8");
export const fileKey = (container: string, path: string): string => `${container}:${path}`;

type Head =
  | { kind: "iptables"; table: "nat" | "filter" }
  | { kind: "incus" }
  | { kind: "file" | "dir"; container: string; path: string };

/** The host script (bash, read-only, always exits 0 once it started; failures are in the sections). */
export function readScript(spec: TenantSpec): string {
  const sec = (head: Head, cmd: string): string => `sec ${b64(JSON.stringify(head))} ${cmd}`;
  const used = usedKinds(spec);
  const files = used.flatMap(({ kind, service }) => kind.liveFiles?.(service) ?? []);
  const dirs = used.flatMap(({ kind, service }) => kind.liveDirs?.(service) ?? []);
  return [
    managedHeader(`live read of tenant ${spec.name} (read-only)`),
    "set -uo pipefail",
    `err=$(mktemp); trap 'rm -f "$err"' EXIT`,
    `sec() { local head=$1 out rc=0; shift; out=$("$@" </dev/null 2>"$err" | base64 -w0) || rc=$?; ` +
      `printf '${MARK} %s %s %s %s\\n' "$head" "$rc" "$out" "$(head -c 4000 "$err" | base64 -w0)"; }`,
    singleQuotedOnPurpose("the sh -c program in the container expands $1 (the path) itself"),
    `catf() { incus exec "$1" -- sh -c 'if [ -e "$1" ]; then cat -- "$1"; else exit 3; fi' sh "$2"; }`,
    singleQuotedOnPurpose("the sh -c program in the container expands $1 (the folder) and $f itself"),
    `globf() { incus exec "$1" -- sh -c ` +
      `'for f in "$1"/*.caddy; do if [ -e "$f" ]; then printf "%s\\n" "$f"; fi; done' sh "$2"; }`,
    sec({ kind: "iptables", table: "nat" }, "iptables-save -t nat"),
    sec({ kind: "iptables", table: "filter" }, "iptables-save -t filter"),
    sec({ kind: "incus" }, "incus list --format json"),
    ...files.map((f) => sec({ kind: "file", ...f }, `catf ${shq(f.container)} ${shq(f.path)}`)),
    ...dirs.map((d) => sec({ kind: "dir", ...d }, `globf ${shq(d.container)} ${shq(d.path)}`)),
    `echo ${MARK}-end`,
  ].join("\n");
}

/** The SSH command text of the read (through sudo when the tenant needs it). */
export const readCommand = (spec: TenantSpec): string => remoteBash(readScript(spec), spec.host.sudo);

/** Parses the script's output; throws when iptables or incus could not be read or the output is cut. */
export function parseLive(text: string): LiveState {
  const live: Partial<LiveState> & Pick<LiveState, "files" | "dirs"> = { files: {}, dirs: {} };
  if (!text.split("\n").includes(`${MARK}-end`))
    throw new Error("live read: the output is incomplete (no end marker): the read script did not finish");
  for (const line of text.split("\n").filter((l) => l.startsWith(`${MARK} `))) {
    const [, headText, rcText, out = "", err = ""] = line.split(" ");
    const head = JSON.parse(unb64(headText)) as Head;
    const rc = Number(rcText);
    const stderr = unb64(err).trim().split("\n").slice(0, 3).join(" / ");
    const content = unb64(out);
    const what =
      head.kind === "iptables"
        ? `iptables-save -t ${head.table}`
        : head.kind === "incus"
          ? "incus list --format json"
          : "";
    if (what !== "" && rc !== 0)
      throw new Error(`live read: ${what} failed on the host (exit ${rc}): ${stderr}`);
    if (head.kind === "iptables") live[head.table] = content;
    else if (head.kind === "incus") live.containers = parseIncusList(content);
    else if (head.kind === "file")
      live.files[fileKey(head.container, head.path)] =
        rc === 0 ? { content } : rc === 3 ? { missing: true } : { error: stderr || `exit ${rc}` };
    else
      live.dirs[fileKey(head.container, head.path)] =
        rc === 0 ? content.split("\n").filter(Boolean) : { error: stderr || `exit ${rc}` };
  }
  for (const k of ["nat", "filter", "containers"] as const)
    if (live[k] === undefined) throw new Error(`live read: no ${k} section in the output`);
  return live as LiveState;
}

type Json = Record<string, unknown>;
function parseIncusList(text: string): LiveContainer[] {
  let list: unknown;
  try {
    list = JSON.parse(text);
  } catch (e) {
    throw new Error(`live read: incus list printed invalid JSON: ${(e as Error).message}`);
  }
  if (!Array.isArray(list)) throw new Error("live read: incus list did not print a JSON list");
  return (list as Json[]).map((c) => {
    const eth0 = ((c.state as Json | null)?.network as Record<string, Json> | undefined)?.eth0;
    const addresses = ((eth0?.addresses ?? []) as Json[])
      .filter((a) => a.family === "inet")
      .map((a) => String(a.address));
    return {
      name: String(c.name),
      status: String(c.status),
      config: (c.expanded_config ?? {}) as Record<string, string>,
      devices: (c.expanded_devices ?? {}) as Record<string, Record<string, string>>,
      addresses,
    };
  });
}
