/**
 * Injection test that cannot be fooled by reading code (issue 11, class 1).
 *
 * Start: a valid derived TenantSpec that reaches every renderer (Pulumi.prod.yaml's tenant, a
 * container with a disk device, a DNS sync hook, a migration with data; two variants so both
 * cutover modes and cleanupSource render). Every string leaf of the derived spec is found by
 * walking the object, so a field added to the schema is covered without editing this test.
 * For each leaf and payload, the spec is deep-cloned, the hostile value set (validation is
 * bypassed on purpose: the renderers must be safe on their own), every script the tenant runs
 * is rendered (the list is proven complete against the real components under setMocks, plus
 * `plan --live`'s read script), and each script that differs from the clean render runs under
 * bash with stand-in tools first on PATH, four ways: stand-ins that succeed with plausible
 * output, or that all fail; each with the script as rendered (`set -euo pipefail`: it stops at
 * the first error) and with that line replaced by `set +e` plus an `exit` that does nothing (so
 * every line is reached). The payload's command is `touch <marker>`; no marker may appear.
 * A positive control plants an injection in each place a value can run and sees its marker.
 *
 * Safety: the stand-ins never run a real tool that changes anything; `incus exec … -- cmd`,
 * `ssh host cmd`, `sudo`, `runuser`, `setsid`, `nohup` run their command, again among the
 * stand-ins (a value that reaches a container's or the source host's shell is caught too). PATH
 * holds only the stand-ins and read-only tools; as root the scripts run as nobody in an empty
 * network namespace (no file of the machine writable, no packet leaves).
 */
import { spawn, spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import type { MockResourceArgs } from "@pulumi/pulumi/runtime";
import { parseTenant } from "../../model";
import type { TenantSpec } from "../../model/types";
import { oneLine, remoteBash, script } from "../../render/shell";
import { baseRaw, CONFIRM_ID, Rendered, renderEverything, renderProgram } from "./allScripts";
import { unwrapSecrets } from "./mockRuntime";

jest.setTimeout(300_000);

/** A string leaf of the spec: its path (`containers[3].image`) and the keys leading to it. */
interface Leaf {
  readonly path: string;
  readonly keys: readonly (string | number)[];
  readonly value: string;
}

/** Every string leaf of `v`, depth first. */
function stringLeaves(v: unknown, keys: (string | number)[] = [], p = ""): Leaf[] {
  if (typeof v === "string") return [{ path: p, keys, value: v }];
  if (Array.isArray(v)) return v.flatMap((x, i) => stringLeaves(x, [...keys, i], `${p}[${i}]`));
  if (v !== null && typeof v === "object")
    return Object.entries(v).flatMap(([k, x]) => stringLeaves(x, [...keys, k], p === "" ? k : `${p}.${k}`));
  return [];
}

/** A mutable deep copy of `spec` with `value` at `keys`. */
function withValue(spec: TenantSpec, keys: readonly (string | number)[], value: string): TenantSpec {
  const copy = structuredClone(spec) as unknown as Record<string | number, any>;
  let o = copy;
  for (const k of keys.slice(0, -1)) o = o[k];
  o[keys[keys.length - 1]] = value;
  return copy as unknown as TenantSpec;
}

/** A mutable deep copy of `spec` with every string leaf equal to `from` set to `to` (keeps references consistent). */
function withEveryValue(spec: TenantSpec, from: string, to: string): TenantSpec {
  let copy = spec;
  for (const leaf of stringLeaves(spec)) if (leaf.value === from) copy = withValue(copy, leaf.keys, to);
  return copy === spec ? structuredClone(spec) : copy;
}

/**
 * The hostile values, appended to the field's own value; `M` is the field's marker file. The
 * first two go into every field: a polyglot that leaves every shell context at once (command
 * substitution, backticks, a double-quoted string, a hand-written single-quoted string, a
 * comment or bare word by a new line), and the double-quote break-out that needs no `$(`. The
 * others, one context each, go into one leaf of each field (the one reaching fewest scripts).
 */
const PAYLOADS: readonly {
  readonly name: string;
  readonly make: (orig: string, marker: string) => string;
}[] = [
  {
    name: "$(touch M)`touch M`\";touch M;\"';touch M;'\\ntouch M",
    make: (o, m) => `${o}$(touch ${m})\`touch ${m}\`";touch ${m};"';touch ${m};'\ntouch ${m}`,
  },
  { name: 'x";touch M;"', make: (o, m) => `${o}";touch ${m};"` },
  { name: "$(touch M)", make: (o, m) => `${o}$(touch ${m})` },
  { name: "`touch M`", make: (o, m) => `${o}\`touch ${m}\`` },
  { name: "x';touch M;'", make: (o, m) => `${o}';touch ${m};'` },
  { name: "x\\ntouch M", make: (o, m) => `${o}\ntouch ${m}` },
];
/** How many of PAYLOADS every leaf gets. */
const STRONGEST = 2;
/** ITN_INJECTION_FULL=1: every payload in every leaf and every script it changes (slow: minutes). */
const FULL = process.env.ITN_INJECTION_FULL === "1";

/** Read-only tools the scripts may run for real (everything else is a stand-in or not found). */
const REAL_TOOLS = (
  "bash sh cat sed grep awk sort tr cut head tail date dirname basename wc sha256sum numfmt id hostname stat df " +
  "ls xargs env true false expr base64 od printf echo test [ uname readlink realpath cmp tac paste comm"
).split(" ");
/** Stand-ins: every tool the scripts use that could change the machine, reach the network or another shell. */
const STAND_INS = (
  "incus lxc iptables iptables-save iptables-restore ip6tables ip6tables-save ip6tables-restore ip flock ssh scp " +
  "rsync caddy systemctl journalctl vault curl wget sudo runuser su setsid nohup timeout logger openssl " +
  "named-checkzone rndc sysctl mount umount rm mv cp chmod chown chgrp mkdir rmdir ln tee touch install dd " +
  "truncate find du pkill kill killall mktemp seq sleep nc socat getent shutdown reboot coredns tar " +
  "dig host apt-get"
).split(" ");

/**
 * The one stand-in (POSIX sh, fast), linked under every name of STAND_INS. ITN_MODE=ok: exit 0
 * with plausible output; ITN_MODE=fail: exit 1 without output. `touch` creates only files under
 * ITN_MARKS (the markers), writing ITN_RUN into them so a failure names the script and mode.
 */
const STAND_IN = String.raw`#!/bin/sh
n=${"$"}{0##*/}
ok() { [ "$ITN_MODE" = ok ]; }
drain() { if [ -p /dev/stdin ]; then cat >/dev/null; fi; }
done_() { drain; if ok; then exit 0; else exit 1; fi; }
run() { "$@"; rc=$?; if ok; then exit $rc; else exit 1; fi; }
case "$n" in
  touch) for a in "$@"; do case "$a" in "$ITN_MARKS"/*) printf '%s\n' "$ITN_RUN" >> "$a";; esac; done; exit 0;;
  mktemp)
    d=; for a in "$@"; do [ "$a" = -d ] && d=1; done
    f="$ITN_WORK/tmp.$$"
    if [ -n "$d" ]; then /bin/mkdir -p "$f"; else : > "$f"; fi; echo "$f"; exit 0;;
  seq) echo 1; exit 0;;
  sleep) exit 0;;
  sudo)
    while [ $# -gt 0 ]; do
      case "$1" in -u|-g|-C|-h|-p|-U|-r|-t) shift 2;; --) shift; break;; -*) shift;; *) break;; esac
    done
    run "$@";;
  runuser|su) while [ $# -gt 0 ] && [ "$1" != -- ]; do shift; done; [ $# -gt 0 ] && shift; run "$@";;
  setsid|nohup) while [ $# -gt 0 ]; do case "$1" in -*) shift;; *) break;; esac; done; run "$@";;
  ssh)
    ctl=
    while [ $# -gt 0 ]; do
      case "$1" in -O) ctl=1; shift 2;; -[bcDEeFIiJLlmoPpQRSWw]) shift 2;; -*) shift;; *) break;; esac
    done
    [ $# -gt 0 ] && shift; [ -n "$ctl" ] && done_; [ $# -eq 0 ] && done_
    run bash -c "$*";;
  incus|lxc)
    if [ "$1" = exec ]; then while [ $# -gt 0 ] && [ "$1" != -- ]; do shift; done; [ $# -gt 0 ] && shift; run "$@"; fi
    ok || done_
    drain
    case "$1 $2" in
      "info "*) printf 'Name: c\nStatus: RUNNING\n';;
      "version "*) printf 'Client version: 6.0.0\nServer version: 6.0.0\n';;
      "query "*) printf '[{"address": "10.0.2.99", "fs_progress": "c: 1MB (1MB/s)"}]\n';;
      "config get") echo true;;
      "config show") printf 'profiles:\n- default\ndevices:\n  eth0:\n    type: nic\n';;
      "config device") case "$3" in list) printf 'eth0\nroot\ndata\n';; get) echo disk;; esac;;
      "config trust") printf 'fingerprint: abcd\n';;
      "remote list") printf 'lxd-source,https://192.0.2.9:8443,incus,tls,NO,NO,NO\n';;
      "storage get") echo /var/lib/incus/storage-pools/default;;
      "list "*) printf 'c1\n';;
      "profile show") printf 'name: default\n';;
    esac; exit 0;;
  iptables-save|ip6tables-save)
    drain; ok && printf '*nat\n:PREROUTING ACCEPT [0:0]\n-A INPUT -i lo -m comment --comment "%s" -j ACCEPT\nCOMMIT\n' \
      incus-tenant:guard
    done_;;
  systemctl) drain; ok && case "$1" in show) echo caddy;; esac; done_;;
  curl) drain; ok && printf 200; done_;;
  vault) drain; ok && echo s.token; done_;;
  openssl) drain; ok && echo 'sha256 Fingerprint=AB:AB:AB'; done_;;
  du) drain; ok && printf '4096\t.\n'; done_;;
  *) done_;;
esac
`;

/** One script to run: what it is (for the failure message) and its text. */
interface Run {
  readonly what: string;
  readonly text: string;
}

/** The temp folders of a bed: stand-ins, real tools, markers, working dir, HOME. */
interface Bed {
  readonly root: string;
  readonly marks: string;
  readonly work: string;
  readonly home: string;
  readonly path: string;
  /** The command prefix that drops privileges and the network (see makeBed). */
  readonly jail: string[];
}

function makeBed(): Bed {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), "itn-injection-"));
  fs.chmodSync(root, 0o755);
  const [stand, real, marks, work, home, scripts] = [
    "stand-ins",
    "real",
    "marks",
    "work",
    "home",
    "scripts",
  ].map((d) => path.join(root, d));
  for (const d of [stand, real, scripts]) fs.mkdirSync(d, { mode: 0o755 });
  for (const d of [marks, work, home]) {
    fs.mkdirSync(d);
    fs.chmodSync(d, 0o777);
  }
  const standIn = path.join(stand, ".stand-in");
  fs.writeFileSync(standIn, STAND_IN, { mode: 0o755 });
  for (const n of STAND_INS) fs.symlinkSync(standIn, path.join(stand, n));
  for (const n of REAL_TOOLS) {
    if (STAND_INS.includes(n)) continue;
    const where = spawnSync("sh", ["-c", `command -v ${n}`], { encoding: "utf8" }).stdout.trim();
    if (where.startsWith("/")) fs.symlinkSync(where, path.join(real, n));
  }
  // As root: nobody, in an empty network namespace. Otherwise an empty network namespace when
  // user namespaces are allowed (the user's own rights stay; PATH holds no network tool anyway).
  const unshare = "/usr/bin/unshare";
  const nobody = ["/usr/bin/setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--"];
  const jail =
    process.getuid?.() === 0
      ? [unshare, "--net", "--", ...nobody]
      : spawnSync(unshare, ["-rn", "true"]).status === 0
        ? [unshare, "-rn", "--"]
        : [];
  return { root, marks, work, home, path: `${stand}:${real}`, jail };
}

/**
 * The permissive variant of a script: `set -euo pipefail` (and `set -eu`/`set -e` of inner
 * shells) replaced by `set +e`, and in bash an `exit` that does nothing, so every line runs.
 */
function permissive(text: string): string {
  return text
    .replace(/^set -euo pipefail$/m, "set +e; exit() { :; }")
    .replace(/^set -uo pipefail$/m, "set +e; exit() { :; }")
    .replace(/^set -eu?$/gm, "set +e");
}

/** Process groups of the bash drivers still running (killed after the tests, e.g. on a timeout). */
const drivers = new Set<number>();

/**
 * Runs every script four ways under bash in the bed: as rendered and permissive
 * ({@link permissive}), each with stand-ins that succeed (plausible output) and with stand-ins
 * that all fail (as rendered, that stops it at the first failing command; `if` and `||` branches
 * for failures run). `parallel` bash drivers at a time, one bash per script, each with a
 * timeout. Resolves when all are done.
 */
async function runAll(bed: Bed, runs: readonly Run[], parallel = 3): Promise<void> {
  const dir = fs.mkdtempSync(path.join(bed.root, "scripts", "batch-"));
  fs.chmodSync(dir, 0o755);
  const files: string[] = [];
  runs.forEach((r, i) => {
    const strict = path.join(dir, `${i}.strict.sh`);
    const loose = path.join(dir, `${i}.permissive.sh`);
    fs.writeFileSync(strict, r.text, { mode: 0o644 });
    fs.writeFileSync(loose, permissive(r.text), { mode: 0o644 });
    files.push(
      `ok ${strict} ${i}:strict:ok`,
      `fail ${strict} ${i}:strict:fail`,
      `ok ${loose} ${i}:permissive:ok`,
      `fail ${loose} ${i}:permissive:fail`,
    );
  });
  const driver = path.join(dir, "driver.sh");
  // One bash per script; --foreground so the timeout does not leave its own process group.
  fs.writeFileSync(
    driver,
    [
      "while read -r mode f run; do",
      '  ITN_MODE=$mode ITN_RUN=$run /usr/bin/timeout --foreground -k 2 20 bash "$f" </dev/null >/dev/null 2>&1',
      "done",
    ].join("\n"),
  );
  const lists: string[][] = Array.from({ length: parallel }, () => []);
  files.forEach((f, i) => lists[i % parallel].push(f));
  const env = {
    PATH: bed.path,
    HOME: bed.home,
    ITN_MARKS: bed.marks,
    ITN_WORK: bed.work,
    LC_ALL: "C",
    TMPDIR: bed.work,
  };
  await Promise.all(
    lists.map(
      (list) =>
        new Promise<void>((resolve, reject) => {
          const [cmd, ...args] = [...bed.jail, "/bin/bash", driver];
          const child = spawn(cmd, args, {
            cwd: bed.work,
            env,
            stdio: ["pipe", "ignore", "ignore"],
            detached: true,
          });
          drivers.add(child.pid!);
          child.on("error", reject);
          child.on("exit", () => {
            drivers.delete(child.pid!);
            // Leftovers (a background job of a script) go with the driver's process group.
            try {
              process.kill(-child.pid!, "SIGKILL");
            } catch {
              // already gone
            }
            resolve();
          });
          child.stdin.end(list.join("\n") + "\n");
        }),
    ),
  );
}

/** Marker files found: marker name → the runs (script index:variant:mode) that created it. */
function markers(bed: Bed): Map<string, string[]> {
  return new Map(
    fs
      .readdirSync(bed.marks)
      .map((f) => [f, fs.readFileSync(path.join(bed.marks, f), "utf8").trim().split("\n")]),
  );
}

/** Sets up the bed once; removed after the file's tests. */
let bed: Bed;
beforeAll(() => {
  bed = makeBed();
});
afterAll(() => {
  for (const pid of drivers) {
    try {
      process.kill(-pid, "SIGKILL");
    } catch {
      // already gone
    }
  }
  fs.rmSync(bed.root, { recursive: true, force: true });
});

const BASES = {
  "per-container": parseTenant(baseRaw("per-container")),
  tenant: parseTenant(baseRaw("tenant")),
} as const;

describe("the list of scripts is complete", () => {
  /** create/delete of every remote.Command the real Tenant component registers for `spec`, under setMocks. */
  async function commandsUnderMocks(spec: TenantSpec): Promise<{ texts: string[]; sudo: boolean }> {
    let pulumi: typeof import("@pulumi/pulumi") | undefined;
    let tenantModule: typeof import("../../components/tenant") | undefined;
    jest.isolateModules(() => {
      // eslint-disable-next-line @typescript-eslint/no-require-imports -- fresh runtime (isolateModules)
      pulumi = require("@pulumi/pulumi") as typeof import("@pulumi/pulumi");
      // eslint-disable-next-line @typescript-eslint/no-require-imports -- same isolated runtime
      tenantModule = require("../../components/tenant") as typeof import("../../components/tenant");
    });
    const p = pulumi!;
    const resources: MockResourceArgs[] = [];
    await p.runtime.setMocks(
      {
        newResource: (a: MockResourceArgs) => (resources.push(a), { id: `${a.name}-id`, state: a.inputs }),
        call: (a) => a.inputs,
      },
      "incus-tenant",
      "prod",
      false,
    );
    new tenantModule!.Tenant("acme", {
      spec,
      sshPrivateKey: "KEY",
      secretConfig: (k: string) => p.secret(`SECRET-${k}`),
    });
    await p.runtime.disconnect().catch(() => undefined);
    const texts = resources
      .filter((r) => r.type === "command:remote:Command")
      .flatMap((r) => {
        const i = unwrapSecrets(r.inputs) as Record<string, unknown>;
        return [i.create, i.update, i.delete].filter((x): x is string => typeof x === "string");
      });
    return { texts, sudo: spec.host.sudo };
  }

  test.each(Object.keys(BASES) as (keyof typeof BASES)[])(
    "%s: the rendered list is exactly what the components run",
    async (k) => {
      const spec = BASES[k];
      const { texts, sudo } = await commandsUnderMocks(spec);
      // Under setMocks the NAT apply prints nothing, so the confirmations name the id "none".
      const rendered = renderProgram(spec, "none").map((r) => remoteBash(r.text, sudo));
      expect(texts.length).toBeGreaterThan(80);
      expect([...texts].sort()).toEqual([...rendered].sort());
    },
  );
});

describe("no hostile value in any string field runs a command", () => {
  test("positive control: the same harness sees a planted injection in each place a value can run", async () => {
    const m = (n: string) => path.join(bed.marks, `control-${n}`);
    const controls: Run[] = [
      // A value interpolated into a double-quoted log line on the host.
      { what: "host", text: script("control", [`log "image images:debian/12";touch ${m("host")};""`]) },
      // Inside a container: incus exec … -- sh -c TEXT runs TEXT.
      {
        what: "container",
        text: script("control", [`incus exec c -- sh -c 'echo "in container x";touch ${m("container")};""'`]),
      },
      // On the migration source host: ssh … host CMD, through sudo.
      {
        what: "source",
        text: script("control", [
          `ssh -i k -p 22 -o A=b root@192.0.2.5 "sudo -n bash -c 'touch ${m("source")}'"`,
        ]),
      },
      // Only the permissive variant gets past the failing first line (the as-rendered one is strict).
      { what: "permissive", text: script("control", ["false", `touch ${m("permissive")}`]) },
      // A value on its own line after a comment.
      { what: "newline", text: script("control", [`# nat rule x\ntouch ${m("newline")}`]) },
    ];
    await runAll(bed, controls);
    const found = markers(bed);
    expect([...found.keys()].sort()).toEqual(
      ["container", "host", "newline", "permissive", "source"].map((n) => `control-${n}`),
    );
    expect(found.get("control-permissive")!.sort()).toEqual(["3:permissive:fail", "3:permissive:ok"]);
    for (const f of found.keys()) fs.rmSync(path.join(bed.marks, f));
  });

  test("every string field × payload: no marker appears", async () => {
    /** One leaf of one base spec; its index names its markers (`<case>-<payload>`). */
    const cases = Object.entries(BASES).flatMap(([baseName, base]) =>
      stringLeaves(base)
        // The second base differs only in the migration section: only its fields run there again.
        .filter((leaf) => baseName === "per-container" || leaf.path.startsWith("migration."))
        .map((leaf) => ({
          label: `${leaf.path}${baseName === "per-container" ? "" : " (tenant-wide cutover)"}`,
          base,
          leaf,
          field: `${baseName}:${leaf.path.replace(/\[\d+\]/g, "[]")}`,
        })),
    );
    const clean = new Map(
      Object.values(BASES).map((b) => [b, new Set(renderEverything(b, CONFIRM_ID).map((r) => r.text))]),
    );
    const runs: Run[] = [];
    const queued = new Set<string>();
    const refused: string[] = [];
    /** Scripts a case changes (payload 0); 0 = the field reaches no script. */
    const reach = new Map<number, number>();
    /** Queues the scripts case `ci` with payload `j` changes: all of them, one per kind, or the first. */
    const queue = (ci: number, j: number, which: "all" | "each kind" | "first"): void => {
      const { label, base, leaf } = cases[ci];
      const hostile = PAYLOADS[j].make(leaf.value, path.join(bed.marks, `${ci}-${j}`));
      let scripts: Rendered[];
      try {
        scripts = renderEverything(withValue(base, leaf.keys, hostile), CONFIRM_ID);
      } catch {
        try {
          // A reference (a container name in nat[].container, ...): change every use of the value.
          scripts = renderEverything(withEveryValue(base, leaf.value, hostile), CONFIRM_ID);
        } catch (e) {
          refused.push(`${label} = ${PAYLOADS[j].name}: ${(e as Error).message}`);
          return;
        }
      }
      const changed = scripts.filter((x) => !clean.get(base)!.has(x.text));
      if (j === 0) reach.set(ci, changed.length);
      const kinds = new Set<string>();
      for (const x of changed) {
        if (which !== "all" && kinds.has(which === "first" ? "" : x.kind)) continue;
        kinds.add(which === "first" ? "" : x.kind);
        if (queued.has(x.text)) continue;
        queued.add(x.text);
        runs.push({ what: x.id, text: x.text });
      }
    };
    // Bounds (ITN_INJECTION_FULL=1 lifts them: every payload, every leaf, every script it changes).
    // The polyglot: every leaf, in every script it changes. The double-quote break-out: every
    // leaf, in one script of each kind (one renderer: the value lands in the same places).
    cases.forEach((_, ci) => {
      queue(ci, 0, "all");
      for (let j = 1; j < STRONGEST; j++) queue(ci, j, FULL ? "all" : "each kind");
    });
    // The one-context payloads: for each field, the leaf reaching the fewest scripts (but some),
    // in the first script it changes (every leaf and script with ITN_INJECTION_FULL=1).
    const pick = new Map<string, number>();
    cases.forEach((c, ci) => {
      const n = reach.get(ci) ?? 0;
      const best = pick.get(c.field);
      if (n > 0 && (best === undefined || n < reach.get(best)!)) pick.set(c.field, ci);
    });
    for (const ci of FULL ? cases.keys() : pick.values())
      for (let j = STRONGEST; j < PAYLOADS.length; j++) queue(ci, j, FULL ? "all" : "first");

    const started = Date.now();
    await runAll(bed, runs);
    // "<field> = <payload> ran the marker command in: <script> (<variant> <stand-ins>, ...); ..."
    const report = [...markers(bed).entries()].map(([file, by]) => {
      const [ci, j] = file.split("-").map(Number);
      const modes = new Map<string, string[]>();
      for (const [i, variant, mode] of by.map((r) => r.split(":"))) {
        const what = oneLine(runs[Number(i)].what.split(path.join(bed.marks, file)).join("M"));
        modes.set(what, [...new Set([...(modes.get(what) ?? []), `${variant} ${mode}`])].sort());
      }
      const where = [...modes].map(([what, ms]) => `${what} (${ms.join(", ")})`);
      // A marker named otherwise than "<case>-<payload>": a payload cut in two by the script (say so).
      const who = `${cases[ci]?.label ?? `(marker file ${file})`} = ${PAYLOADS[j]?.name ?? "?"}`;
      return `${who} ran the marker command in: ${where.join("; ")}`;
    });
    expect(report).toEqual([]);

    // Not vacuous: hundreds of fields, most reaching scripts, thousands of script runs.
    const silent = cases.filter((_, ci) => reach.get(ci) === 0).map((c) => c.label);
    expect(cases.length).toBeGreaterThan(300);
    expect(silent.length).toBeLessThan(cases.length / 3);
    expect(runs.length).toBeGreaterThan(1500);
    const seconds = Math.round((Date.now() - started) / 1000);
    const why = (r: string): string =>
      r.replace(/ = .*?: (refusing to write \S{0,20}|)/s, ": $1").slice(0, 110);
    const silentFields = [...new Set(silent.map((l) => l.replace(/\[\d+\]/g, "[]")))];
    console.log(
      [
        `injection matrix: ${cases.length} string fields, ${runs.length} scripts × 4 runs, ${seconds}s`,
        `refused by a renderer (${refused.length}): ${refused.map(why).join(" | ")}`,
        `fields whose value reaches no script (${silent.length}): ${silentFields.join(", ")}`,
      ].join("\n"),
    );
  });
});
