/** Shared DNS fixtures of the zone unit tests: a dns section, its derivation, a fake `incus`. */
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { deriveZones, dnsSectionSchema, DnsSpec, ZoneSpec } from "../../model/zones";

export const base = (): Record<string, any> => ({
  nameservers: ["ns1.example.com", "ns2.example.net"],
  hostmaster: "hostmaster@example.com",
  zones: {
    "example.com": {
      records: [
        { name: "@", type: "A", value: "203.0.113.10" },
        { name: "ns1", type: "A", value: "203.0.113.10" },
        { name: "chat", type: "A", value: "203.0.113.10" },
        { name: "mail", type: "A", value: "203.0.113.25" },
        { name: "@", type: "MX", value: "mail.example.com", priority: 10 },
        { name: "@", type: "TXT", value: "v=spf1 mx -all" },
      ],
    },
  },
});
export const derive = (raw: unknown): DnsSpec => deriveZones(dnsSectionSchema.parse(raw));
export const zoneA = (): ZoneSpec => derive(base()).zones[0];
export const zoneB = (): ZoneSpec => {
  const raw = base();
  raw.zones["example.com"].records.push({ name: "alm", type: "A", value: "203.0.113.11" });
  return derive(raw).zones[0];
};

/** A temp folder with a fake `incus` that maps container paths to <root>/<container>/... */
export class FakeHost {
  readonly root = fs.mkdtempSync(path.join(os.tmpdir(), "itn-zone-"));
  readonly bin = path.join(this.root, "bin");
  constructor() {
    fs.mkdirSync(this.bin);
    fs.mkdirSync(path.join(this.root, "dns"));
    fs.writeFileSync(
      path.join(this.bin, "incus"),
      `#!/bin/bash
# fake incus for unit tests: "incus exec C -- cmd" runs cmd locally with absolute paths under $FAKE_ROOT/C
printf '%s\\n' "$*" >> "$FAKE_ROOT/calls.log"
case "$1" in
  info) [ ! -e "$FAKE_ROOT/.gone" ];;
  exec)
    c=$2; shift 3
    [ ! -e "$FAKE_ROOT/.stopped" ] || { echo "Error: Instance is not running" >&2; exit 1; }
    args=(); for a in "$@"; do case "$a" in /*) args+=("$FAKE_ROOT/$c$a");; *) args+=("$a");; esac; done
    case "\${args[0]}" in
      pkill) exit "$(cat "$FAKE_ROOT/.pkill-rc" 2>/dev/null || echo 0)";;
      sh) [ ! -e "$FAKE_ROOT/.no-checkzone" ] || exit 1;;
      mktemp) out=$("\${args[@]}") || exit; printf '%s\\n' "\${out#"$FAKE_ROOT/$c"}"; exit 0;;
    esac
    exec "\${args[@]}";;
  file)
    [ "$2" = push ] || exit 2; [ ! -e "$FAKE_ROOT/.push-fails" ] || { echo "Error: stand-in push failed" >&2; exit 1; }
    shift 2; while [ "$1" != - ]; do shift; done
    dest=$2; cat > "$FAKE_ROOT/\${dest%%/*}/\${dest#*/}";;
  *) exit 2;;
esac
`,
      { mode: 0o755 },
    );
  }
  file = (p: string): string => path.join(this.root, "dns", p);
  read = (p: string): string | undefined =>
    fs.existsSync(this.file(p)) ? fs.readFileSync(this.file(p), "utf8") : undefined;
  write(p: string, text: string): void {
    fs.mkdirSync(path.dirname(this.file(p)), { recursive: true });
    fs.writeFileSync(this.file(p), text);
  }
  flag = (name: string, value: string | undefined): void =>
    value === undefined
      ? fs.rmSync(path.join(this.root, name), { force: true })
      : fs.writeFileSync(path.join(this.root, name), value);
  calls = (): string[] =>
    fs.existsSync(path.join(this.root, "calls.log"))
      ? fs.readFileSync(path.join(this.root, "calls.log"), "utf8").trim().split("\n")
      : [];
  run(text: string, today = "20261122"): { status: number | null; stderr: string } {
    fs.rmSync(path.join(this.root, "calls.log"), { force: true });
    const r = spawnSync("bash", ["-c", text], {
      encoding: "utf8",
      env: {
        ...process.env,
        PATH: `${this.bin}:${process.env.PATH}`,
        FAKE_ROOT: this.root,
        ITN_TODAY: today,
      },
    });
    return { status: r.status, stderr: r.stderr };
  }
  /** Files of `dir` named `<file>.XXXXXXXX` (mktemp temp files of the scripts). */
  temps = (dir: string): string[] =>
    fs.existsSync(this.file(dir))
      ? fs.readdirSync(this.file(dir)).filter((f) => /\.[A-Za-z0-9]{8}$/.test(f) && !f.includes(".bak-"))
      : [];
  backups = (dir: string): string[] =>
    fs.existsSync(this.file(dir)) ? fs.readdirSync(this.file(dir)).filter((f) => f.includes(".bak-")) : [];
  destroy = (): void => fs.rmSync(this.root, { recursive: true, force: true });
}
