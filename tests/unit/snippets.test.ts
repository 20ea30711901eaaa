/**
 * The shared renderers: the one container-configuration renderer (render/containerConfig.ts),
 * used by the Container script and the migration cutover, and the shell snippets
 * (render/snippets.ts), run with bash where they act on files.
 */
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { spawnSync } from "child_process";
import { parseTenant } from "../../model";
import { TenantSpec } from "../../model/types";
import { containerConfigLines, containerHash, markLine } from "../../render/containerConfig";
import { renderContainer } from "../../render/container";
import { renderCutover } from "../../render/migration";
import {
  backupCommands,
  moveAsideCommands,
  runningTest,
  statusCommand,
  UTC_STAMP,
} from "../../render/snippets";
import { migratingTenant } from "./fixtures";

/** baseTenant plus a `files` container with a data disk, migrated with proxy. */
const migTenant = (): Record<string, any> => migratingTenant(["files", "proxy"], false);

const containerOf = (spec: TenantSpec, name: string) => spec.containers.find((c) => c.name === name)!;
const linesOf = (text: string): string[] => text.split("\n").map((l) => l.trim());

describe("one container-configuration renderer", () => {
  const spec = parseTenant(migTenant());
  test.each(["files", "proxy"])("the cutover of %s runs exactly the shared lines, once each", (name) => {
    const c = containerOf(spec, name);
    const cutover = linesOf(
      renderCutover(spec, [spec.migration!.containers.find((m) => m.name === name)!]).create,
    );
    const shared = [...containerConfigLines(spec, c), markLine(spec, c)];
    for (const line of shared) expect(cutover.filter((l) => l === line)).toHaveLength(1);
    // No other line configures a device or a setting of the copy.
    const configuring = cutover.filter(
      (l) => /^incus config (set|device add) "\$name"/.test(l) && !l.includes("user.incus-tenant.migrat"),
    );
    expect(configuring.sort()).toEqual([...shared].sort());
  });
  test.each(["files", "proxy"])(
    "the Container script of %s runs the same lines and stores the same hash",
    (name) => {
      const c = containerOf(spec, name);
      const script = linesOf(renderContainer(spec, c).create);
      for (const line of [...containerConfigLines(spec, c), markLine(spec, c)])
        expect(script).toContain(line);
      // What the cutover stores is what the Container compares with: no snapshot, no restart after it.
      expect(script).toContain(`name=${name}; ip=${c.ipv4}; hash=${containerHash(spec, c)}; restart=0`);
      expect(markLine(spec, c).endsWith(`user.incus-tenant.hash=${containerHash(spec, c)}`)).toBe(true);
    },
  );
  test("the hash is the rendered configuration's: it changes with every rendered line, not with the image", () => {
    const files = (mutate: (t: Record<string, any>) => void) => {
      const t = migTenant();
      mutate(t);
      const s = parseTenant(t);
      return {
        lines: containerConfigLines(s, containerOf(s, "files")),
        hash: containerHash(s, containerOf(s, "files")),
      };
    };
    const base = files(() => undefined);
    const changes: [string, (t: Record<string, any>) => void][] = [
      ["privileged", (t) => (t.containers.files.privileged = true)],
      ["protect", (t) => (t.containers.files.protect = false)],
      ["address", (t) => (t.containers.files.ipv4 = "10.0.2.43")],
      ["disk readonly", (t) => (t.containers.files.devices.data.readonly = true)],
      ["disk path", (t) => (t.containers.files.devices.data.path = "/srv")],
    ];
    for (const [what, mutate] of changes) {
      const changed = files(mutate);
      expect({ what, lines: changed.lines }).not.toEqual({ what, lines: base.lines });
      expect({ what, hash: changed.hash }).not.toEqual({ what, hash: base.hash });
    }
    expect(files((t) => (t.containers.files.image = "images:debian/13")).hash).toBe(base.hash);
  });
});

describe("shell snippets", () => {
  let dir: string;
  beforeEach(() => (dir = fs.mkdtempSync(path.join(os.tmpdir(), "snippets-"))));
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));
  const bash = (text: string) =>
    spawnSync("bash", ["-c", `set -euo pipefail\n${text}`], { encoding: "utf8" });

  test("the UTC stamp is 14 digits of the current UTC time", () => {
    const r = bash(`echo "${UTC_STAMP}"`);
    expect(r.stdout.trim()).toMatch(/^\d{14}$/);
    const iso = r.stdout.replace(/^(\d{4})(\d\d)(\d\d)(\d\d)(\d\d)(\d\d)\s*$/, "$1-$2-$3T$4:$5:$6Z");
    expect(Math.abs(Date.now() - Date.parse(iso))).toBeLessThan(60_000);
  });
  test("a backup keeps the old content and mode under a dated name; move-aside leaves no file", () => {
    const file = path.join(dir, "a.conf");
    fs.writeFileSync(file, "old\n", { mode: 0o600 });
    const r = bash(
      `f=${JSON.stringify(file)}\n${backupCommands("", "f", "b", "-x").join("; ")}; echo "$b"\n` +
        `file=$f; ${moveAsideCommands("", "file").join("; ")}; echo "$bak"`,
    );
    expect(r.status).toBe(0);
    const [b, bak] = r.stdout.trim().split("\n");
    expect(b).toMatch(new RegExp(`^${file.replace(/\./g, "\\.")}\\.bak-\\d{14}-x$`));
    expect(fs.readFileSync(b, "utf8")).toBe("old\n");
    expect(fs.statSync(b).mode & 0o777).toBe(0o600);
    expect(fs.existsSync(file)).toBe(false);
    expect(fs.readFileSync(bak, "utf8")).toBe("old\n");
  });
  test("status and running test read `incus info`", () => {
    const fake = `incus() { printf 'Name: x\\nStatus: %s\\nType: container\\n' "$STATE"; }\nname=x\n`;
    const r = bash(
      `${fake}STATE=RUNNING; echo "$(${statusCommand('"$name"')})"; ${runningTest('"$name"')} && echo up\n` +
        `STATE=STOPPED; ${runningTest('"$name"', false, true)} && echo down`,
    );
    expect(r.stdout).toBe("RUNNING\nup\ndown\n");
  });
});
