/**
 * The migration section (model/migration.ts), its scripts (render/migration.ts) and the
 * Migration component's children and ordering under the engine double (no host needed).
 */
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import type { MockResourceArgs } from "@pulumi/pulumi/runtime";
import { parseTenant, SpecError } from "../../model";
import { MANIFEST_ROOT } from "../../model/migration";
import {
  MARK_KEY,
  MOVED_KEY,
  renderCleanup,
  renderCutover,
  renderPrecopy,
  renderPreflight,
  renderTrust,
} from "../../render/migration";
import { MANIFEST_DIR_LINE, NO_SOURCE_HOST_KEY } from "../../render/migration/common";
import { spawnSync } from "child_process";
import { containerHash } from "../../render/container";
import { remoteBash } from "../../render/shell";
import { Executor, runProgram } from "../harness";
import { baseTenant, migratingTenant, ROOT } from "./fixtures";
import { runIndex, unwrapSecrets } from "./mockRuntime";

jest.setTimeout(120_000);

type Mutate = (t: Record<string, any>) => void;
const KEY = "-----BEGIN OPENSSH PRIVATE KEY-----\nSECRET-HOST-KEY-4711\n-----END OPENSSH PRIVATE KEY-----";
const SOURCE_KEY =
  "-----BEGIN OPENSSH PRIVATE KEY-----\nSECRET-SOURCE-KEY-0815\n-----END OPENSSH PRIVATE KEY-----";

/** baseTenant plus a `files` container with a data disk and a migration of files, proxy and tables. */
const migTenant = (): Record<string, any> => migratingTenant(["files", "proxy", "tables"], true);

const problems = (mutate: Mutate): string[] => {
  const t = migTenant();
  mutate(t);
  try {
    parseTenant(t);
    return [];
  } catch (e) {
    return (e as SpecError).problems.map((p) => `${p.path}: ${p.message}`);
  }
};

const INVALID: [string, Mutate, string[]][] = [
  ["unknown field", (t) => (t.migration.paralel = 2), ['migration: unknown field "paralel"']],
  ["no source", (t) => delete t.migration.source, ["migration.source: is required"]],
  [
    "bad source address",
    (t) => (t.migration.source.address = "a b"),
    ["migration.source.address: must be an IPv4 address or a host name like incus1.example.com (no port)"],
  ],
  [
    "bad source host key",
    (t) => (t.migration.source.hostKey = "AAAA"),
    ['migration.source.hostKey: must be a public host key like "ssh-ed25519 AAAA..."'],
  ],
  [
    "bad lxd fingerprint",
    (t) => (t.migration.lxdFingerprint = "b4fd3331"),
    ["migration.lxdFingerprint: must be a SHA-256 fingerprint (64 hex digits, colons allowed)"],
  ],
  [
    "bad lxd address",
    (t) => (t.migration.lxdAddress = "192.0.2.5"),
    ["migration.lxdAddress: must be host:port like 192.0.2.5:8443"],
  ],
  [
    "bad remote name",
    (t) => (t.migration.remote = "Lxd Source"),
    [
      "migration.remote: must be a remote name (lower-case letters, digits, hyphens) other than " +
        'Incus\'s built-in "local" and "images"',
    ],
  ],
  [
    "bad prefix",
    (t) => (t.migration.sourcePrefix = "-x"),
    ["migration.sourcePrefix: must be letters, digits or hyphens, starting with a letter"],
  ],
  [
    "empty container list",
    (t) => (t.migration.containers = []),
    ["migration.containers: must list at least one container"],
  ],
  [
    "unknown container",
    (t) => t.migration.containers.push("mail"),
    ['migration.containers[3]: no container named "mail" in containers'],
  ],
  [
    "listed twice",
    (t) => t.migration.containers.push("proxy"),
    ['migration.containers[3]: "proxy" is already listed at migration.containers[1]'],
  ],
  [
    "source name too long",
    (t) => (t.migration.sourcePrefix = `a${"b".repeat(60)}`),
    [
      `migration.containers[0]: source name "a${"b".repeat(60)}files" is longer than 63 characters`,
      `migration.containers[1]: source name "a${"b".repeat(60)}proxy" is longer than 63 characters`,
      `migration.containers[2]: source name "a${"b".repeat(60)}tables" is longer than 63 characters`,
    ],
  ],
  ["parallel 0", (t) => (t.migration.parallel = 0), ["migration.parallel: must be from 1 to 8"]],
  [
    "bad cutover",
    (t) => (t.migration.cutover = "all"),
    ['migration.cutover: must be "per-container" or "tenant"'],
  ],
  [
    "health timeout too short",
    (t) => (t.migration.healthTimeout = 1),
    ["migration.healthTimeout: must be from 5 to 900"],
  ],
  [
    "data of an unlisted container",
    (t) => (t.migration.data.dns = { source: "/srv/dns/x", destination: "/srv/y/z" }),
    ['migration.data.dns: "dns" is not listed in migration.containers'],
  ],
  [
    "data destination not mounted (mode disk)",
    (t) =>
      Object.assign(t.migration.data.files, { destination: "/opt/gbo/tenants/acme/other", mode: "disk" }),
    [
      'migration.data.files.destination: must be the source of a disk device of container "files" ' +
        "(containers.files.devices) so the copy mounts it",
    ],
  ],
  [
    "data source too shallow",
    (t) => (t.migration.data.files.source = "/opt"),
    ["migration.data.files.source: must be at least two levels deep (it is deleted by cleanupSource)"],
  ],
  [
    "data relative source",
    (t) => (t.migration.data.files.source = "opt/gbo"),
    [
      'migration.data.files.source: must be an absolute path (starting with "/", without "." or ".." ' +
        "segments or control characters)",
    ],
  ],
  [
    "bad owner",
    (t) => (t.migration.data.files.owner = "gb user"),
    ['migration.data.files.owner: must be "user" or "user:group"'],
  ],
];

describe("migration section validation", () => {
  test.each(INVALID)("%s", (_label, mutate, expected) => {
    expect(problems(mutate)).toEqual(expected);
  });

  test("a valid section derives the full MigrationSpec", () => {
    const spec = parseTenant(migTenant());
    expect(spec.migration).toEqual({
      source: {
        address: "192.0.2.5",
        port: 22,
        user: "root",
        sudo: false,
        hostKey: migTenant().migration.source.hostKey,
      },
      lxdAddress: "192.0.2.5:8443",
      remote: "lxd-source",
      sourcePrefix: "acme-",
      containers: [
        {
          name: "files",
          source: "acme-files",
          ipv4: "10.0.2.42",
          healthPorts: [80],
          data: {
            mode: "disk",
            source: "/opt/gbo/files",
            destination: "/opt/gbo/tenants/acme/files",
            path: "/opt/gbo",
            owner: "gbuser:gbuser",
          },
        },
        { name: "proxy", source: "acme-proxy", ipv4: "10.0.2.10", healthPorts: [80, 443] },
        { name: "tables", source: "acme-tables", ipv4: "10.0.2.12", healthPorts: [5432] },
      ],
      parallel: 2,
      cutover: "per-container",
      cleanupSource: false,
      healthTimeout: 90,
      manifestDir: `${MANIFEST_ROOT}/acme`,
    });
    expect(Object.isFrozen(spec.migration)).toBe(true);
    expect(parseTenant(baseTenant()).migration).toBeUndefined();
  });
});

describe("migration scripts", () => {
  const spec = parseTenant(migTenant());
  const m = spec.migration!;
  const files = m.containers[0];
  const all = [
    renderPreflight(spec).create,
    renderTrust(spec).create,
    renderTrust(spec).delete!,
    ...m.containers.map((c) => renderPrecopy(spec, c).create),
    renderCutover(spec, [files]).create,
    renderCutover(spec, m.containers).create,
    renderCleanup(spec).create,
  ];

  test("deterministic, strict, no key material, the key read from stdin into a private temp file", () => {
    const again = [
      renderPreflight(spec).create,
      renderTrust(spec).create,
      renderTrust(spec).delete!,
      ...m.containers.map((c) => renderPrecopy(spec, c).create),
      renderCutover(spec, [files]).create,
      renderCutover(spec, m.containers).create,
      renderCleanup(spec).create,
    ];
    expect(again).toEqual(all);
    for (const s of all) {
      expect(s.split("\n").slice(1, 3)).toEqual([
        "set -euo pipefail",
        `log() { printf 'incus-tenant: %s\\n' "$*" >&2; }`,
      ]);
      // umask 077 for the whole script (the manifest's files are 0600), strict host key checking only.
      expect(s).toContain(`\numask 077; cat > "$tmp/key"; printf '\\n' >> "$tmp/key"\n`);
      expect(s).not.toContain("; umask 022\n");
      expect(s).not.toContain("StrictHostKeyChecking=no");
      expect(s).toContain(`printf '%s\\n' '192.0.2.5 ${m.source.hostKey}' > "$tmp/known_hosts"`);
      expect(s).toContain(`hk="-o StrictHostKeyChecking=yes -o UserKnownHostsFile=$tmp/known_hosts"`);
      expect(s).not.toMatch(/PRIVATE KEY/);
    }
  });

  test("preflight: versions, every problem collected before anything is written, 1.2 x free disk", () => {
    const s = renderPreflight(spec).create;
    expect(s).toContain(
      `problem "source container $source (for $name) does not exist on LXD at" 192.0.2.5\n`,
    );
    expect(s).toContain(`problem "the LXD daemon on" 192.0.2.5 "is not reachable (lxc version)"`);
    // problem joins its arguments like log: the words above make one line each.
    expect(s).toContain(`problems=(); problem() { problems+=("$*"); }`);
    expect(s).toContain(
      `problem "destination name $name is taken by an instance that is not this migration's copy ` +
        `(${MARK_KEY}=\${got:-unset})"`,
    );
    expect(s).toContain("needed=$(( want[$dev] * 12 / 10 ))");
    expect(s).toContain(
      `printf 'migration preflight found %d problem(s); nothing was changed:\\n' "\${#problems[@]}" >&2`,
    );
    expect(s.indexOf('exit 1\nfi\nmkdir -p "$dir"')).toBeGreaterThan(s.indexOf('problem "source container'));
    expect(s).toContain(
      `src 'lxc config show acme-files && echo '\\''#usage'\\'' && { d=/var/lib/lxd/containers/acme-files;`,
    );
    expect(s).toContain(`cp "$tmp/$name.show" "$dir/$name.source.yaml"`);
  });

  test("trust: https address, certificate and remote each only once; delete undoes only what it did", () => {
    const t = renderTrust(spec);
    expect(t.create).toContain(
      `if [ -z "$url" ]; then incus remote add "$remote" 192.0.2.5:8443 --accept-certificate --protocol=incus ` +
        `< /dev/null >/dev/null;`,
    );
    expect(t.create).toContain(
      `if src "lxc config trust show $fp" >/dev/null 2>&1; then ` +
        `log "this host's Incus client certificate is already trusted by LXD"; else`,
    );
    expect(t.create).toContain(
      `if [ -z "$cur" ]; then src 'lxc config set core.https_address 192.0.2.5:8443'; ` +
        `echo 192.0.2.5:8443 > "$dir/https_address.set";`,
    );
    expect(t.delete).toContain(`if [ -f "$dir/https_address.set" ]; then`);
    expect(t.delete).toContain(`fp=$(cat "$dir/trusted.fp"); if src "lxc config trust remove $fp"`);
  });

  test("trust: LXD's certificate, read over SSH, must be the one at lxdAddress before anything trusts it", () => {
    const lines = renderTrust(spec).create.split("\n");
    const at = lines.indexOf("lxd_addr=192.0.2.5:8443; src_host=192.0.2.5");
    expect(at).toBeGreaterThan(0);
    const nothing = "the remote was not added and nothing was moved";
    expect(lines.slice(at, at + 8)).toEqual([
      "lxd_addr=192.0.2.5:8443; src_host=192.0.2.5",
      `fp_of() { openssl x509 -noout -fingerprint -sha256 2>/dev/null | sed 's/.*=//; s/://g' | tr 'A-F' 'a-f'; }`,
      `lxd_fp=$(src 'lxc info' 2>/dev/null | sed -n 's/^  certificate_fingerprint: //p' | head -n1 || true)`,
      `[ -n "$lxd_fp" ] || { echo "could not read the certificate fingerprint of LXD on $src_host over SSH ` +
        `(lxc info): ${nothing}" >&2; exit 1; }`,
      `seen_fp=$(timeout 15 openssl s_client -connect "$lxd_addr" < /dev/null 2>/dev/null | fp_of || true)`,
      `[ -n "$seen_fp" ] || { echo "no TLS certificate could be read at $lxd_addr (openssl s_client): ` +
        `${nothing}" >&2; exit 1; }`,
      `[ "$seen_fp" = "$lxd_fp" ] || { echo "the certificate at $lxd_addr (sha256 $seen_fp) is not the certificate ` +
        `of LXD on $src_host (sha256 $lxd_fp, read over SSH): ${nothing}" >&2; exit 1; }`,
      `log "LXD at $lxd_addr presents its own certificate (sha256 \${lxd_fp:0:16}..., read over SSH)"`,
    ]);
    // Order: https address, then the check, then LXD's trust of our certificate, then the remote.
    const idx = (needle: string) => lines.findIndex((l) => l.includes(needle));
    expect(idx("lxc config get core.https_address")).toBeLessThan(at);
    expect(at).toBeLessThan(idx("lxc config trust add"));
    expect(idx("lxc config trust add")).toBeLessThan(idx("incus remote add"));
    const sc = `sc="\${HOME:-/root}/.config/incus/servercerts/$remote.crt"`;
    const remote = lines.slice(idx(sc), idx(`got_fp=$(stored_fp)`) + 1);
    expect(remote.filter((l) => !l.includes("incus remote add") && !l.includes("pointed at"))).toEqual([
      `${sc}; stored_fp() { if [ -f "$sc" ]; then fp_of < "$sc"; fi; }`,
      `if [ -n "$url" ] && [ "$(stored_fp)" != "$lxd_fp" ]; then log "remote $remote stored another certificate ` +
        `(sha256 $(stored_fp)) than LXD's: replacing it"; incus remote remove "$remote"; url=""; fi`,
      `got_fp=$(stored_fp); [ "$got_fp" = "$lxd_fp" ] || { incus remote remove "$remote" >/dev/null 2>&1 || true; ` +
        `echo "the remote $remote stored the certificate sha256 \${got_fp:-none}, not LXD's sha256 $lxd_fp ` +
        `(read over SSH): the remote was removed again and nothing was moved" >&2; exit 1; }`,
    ]);
    expect(idx("stored another certificate")).toBeLessThan(idx("incus remote add"));
    expect(idx("incus remote add")).toBeLessThan(idx("got_fp=$(stored_fp)"));
    expect(renderTrust(spec).create).not.toContain("pinned migration.lxdFingerprint");
  });

  test("trust: a pinned migration.lxdFingerprint (colons, any case) is normalised and must equal LXD's own", () => {
    const t = migTenant();
    const hex = "b4fd33311ce3dc8fc946a65d296cac9b104669c44d4ea8d2d899a4f51ded59dc";
    t.migration.lxdFingerprint = hex.toUpperCase().replace(/(..)(?!$)/g, "$1:");
    expect(t.migration.lxdFingerprint).toMatch(/^B4:FD:33:/);
    const pinned = parseTenant(t);
    expect(pinned.migration?.lxdFingerprint).toBe(hex);
    const lines = renderTrust(pinned).create.split("\n");
    const at = lines.findIndex((l) => l.startsWith("lxd_fp=$(src 'lxc info'"));
    expect(lines[at - 2]).toBe(`lxd_addr=192.0.2.5:8443; src_host=192.0.2.5; pin=${hex}`);
    expect(lines[at + 2]).toBe(
      `[ "$lxd_fp" = "$pin" ] || { echo "LXD on $src_host has the certificate sha256 $lxd_fp, not the pinned ` +
        `migration.lxdFingerprint $pin: the remote was not added and nothing was moved" >&2; exit 1; }`,
    );
    expect(lines[at + 3].startsWith("seen_fp=")).toBe(true);
  });

  test("no pinned source host key: the renderers refuse (never StrictHostKeyChecking=no)", () => {
    const source = { ...m.source, hostKey: undefined };
    const unpinned = { ...spec, migration: { ...m, source } } as unknown as typeof spec;
    expect(NO_SOURCE_HOST_KEY).toBe(
      "render/migration: migration.source.hostKey is required (the source host is never reached unauthenticated)",
    );
    const renders = [
      () => renderPreflight(unpinned),
      () => renderTrust(unpinned),
      () => renderPrecopy(unpinned, files),
      () => renderCutover(unpinned, [files]),
      () => renderCleanup(unpinned),
    ];
    for (const f of renders) expect(f).toThrow(NO_SOURCE_HOST_KEY);
  });

  test("manifest: scripts creating the folder make it 0700, its files 0600; the data folder keeps 0755", () => {
    expect(MANIFEST_DIR_LINE).toBe(
      `mkdir -p "$dir"; chmod 0700 "$dir"; find "$dir" -maxdepth 1 -type f ! -perm 0600 -exec chmod 0600 {} +`,
    );
    for (const text of [
      renderPreflight(spec).create,
      renderTrust(spec).create,
      renderCutover(spec, [files]).create,
    ]) {
      expect(text.split("\n")).toContain(MANIFEST_DIR_LINE);
      expect(text.split("\n").map((l) => l.trim())).not.toContain(`mkdir -p "$dir"`);
    }
    expect(renderPrecopy(spec, files).create).toContain(
      "\n  (umask 022; mkdir -p /opt/gbo/tenants/acme/files)\n",
    );
    // For real: an older folder (0755, a 0644 file), then the prelude's umask and the line, then a new file.
    const root = fs.mkdtempSync(path.join(os.tmpdir(), "itn-manifest-"));
    try {
      const dir = path.join(root, "migrations", "acme");
      fs.mkdirSync(dir, { recursive: true, mode: 0o755 });
      fs.chmodSync(dir, 0o755);
      fs.writeFileSync(path.join(dir, "old.source.yaml"), "environment.SECRET: x\n", { mode: 0o644 });
      const umask = renderTrust(spec)
        .create.split("\n")
        .find((l) => l.startsWith("umask 077;"));
      const head = `set -euo pipefail; dir=${dir}; tmp=${root}`;
      const text = [head, umask, MANIFEST_DIR_LINE, `echo x > "$dir/new.state"`];
      const r = spawnSync("bash", ["-c", text.join("\n")], { input: "KEY", encoding: "utf8" });
      expect(r.stderr).toBe("");
      expect(fs.statSync(dir).mode & 0o777).toBe(0o700);
      for (const f of ["old.source.yaml", "new.state"]) {
        expect([f, fs.statSync(path.join(dir, f)).mode & 0o777]).toEqual([f, 0o600]);
      }
    } finally {
      fs.rmSync(root, { recursive: true, force: true });
    }
  });

  test(
    "pre-copy: stateless copy of the running source, marker, no autostart, resume by refresh, " +
      "undeclared devices dropped, data pass 1",
    () => {
      const s = renderPrecopy(spec, files).create;
      expect(s).toContain(`name=files; source=acme-files; ref="$remote:$source"; mark="$remote:$source";`);
      expect(s).toContain(
        `incus copy "$ref" "$name" --instance-only --stateless -s "$pool" "\${over[@]}" ` +
          `-c ${MARK_KEY}="$mark" -c boot.autostart=false --quiet`,
      );
      expect(s).toContain(
        `incus copy "$ref" "$name" --instance-only --stateless --refresh -s "$pool" "\${over[@]}" ` +
          `-c ${MARK_KEY}="$mark" -c boot.autostart=false --quiet`,
      );
      expect(s).toContain(`    disk) [ "$d" = root ] || over+=(-d "$d,required=false");;`);
      expect(s).toContain(`\n  dropped=""; declared=' data=/opt/gbo/tenants/acme/files '\n`);
      expect(s).toContain(
        `case "$declared" in *" $d=$(incus config device get "$name" "$d" source) "*) true;; *) false;; esac;`,
      );
      expect(s).toContain(
        `rsync -aHX --protect-args --numeric-ids --delete --stats --rsync-path="$rsync_path" -e "$SRC_SSH" ` +
          `"$SRC":/opt/gbo/files/ /opt/gbo/tenants/acme/files/`,
      );
      expect(s).toContain(
        `log "$name: pre-copy 1 of 3: copying $(human "$size") from $ref while it keeps serving"`,
      );
      expect(s.indexOf('ops_wait "$name"\n')).toBeGreaterThan(0);
    },
  );

  test(
    "cutover: the progress ticker (a background subshell) never inherits the rollback trap, and its " +
      "sleep holds none of the script's outputs (the SSH session ends with the script)",
    () => {
      const tickers = [renderCutover(spec, m.containers).create, renderPrecopy(spec, files).create]
        .join("\n")
        .split("\n")
        .filter((l) => l.includes("while sleep 10"));
      expect(tickers.length).toBe(8); // 3 cutovers x (copy, final refresh) + the pre-copy's two
      for (const l of tickers)
        expect(l.trim().startsWith("( trap - ERR; set +e; while sleep 10 >/dev/null 2>&1; do")).toBe(true);
    },
  );

  test(
    "cutover: stop, final refresh, final data pass + checksums, configured like the Container " +
      "(same hash, no snapshot), start, verify, rollback",
    () => {
      const s = renderCutover(spec, [files]).create;
      const order = [
        // Configured while the source still serves, and that configuration kept...
        `incus config device add "$name" eth0 nic network=incusbr0 name=eth0 ipv4.address=10.0.2.42 >/dev/null`,
        `incus config device add "$name" data disk source=/opt/gbo/tenants/acme/files path=/opt/gbo ` +
          `readonly=false >/dev/null`,
        `user.incus-tenant.hash=${containerHash(
          spec,
          spec.containers.find((c) => c.name === "files")!,
        )}`,
        `incus config show "$name" | sed '/^  volatile\\./d' > "$tmp/$name.yaml"`,
        // ...then the downtime window: stop, delta, checksums, the kept configuration in one call.
        `step="stopping the source"; t0=$(date +%s.%N); lt=$t0; laps=""`,
        `incus stop "$ref" --timeout 30 || incus stop "$ref" --force`,
        `echo cutting-over > "$dir/$name.state"; lap stop`,
        `incus copy "$ref" "$name" --instance-only --refresh -s "$pool"`,
        `lap "final copy"`,
        "final delta pass (source stopped)",
        `[ "$want_sum" = "$got_sum" ]`,
        `lap "data pass"`,
        `incus config show "$name" | sed -n '/^  volatile\\./p' > "$tmp/$name.volatile"`,
        `awk -v f="$tmp/$name.volatile" '/^devices:/ { while ((getline l < f) > 0) print l } { print }' ` +
          `"$tmp/$name.yaml" | incus config edit "$name"; lap configure`,
        `step="starting the copy"`,
        `incus start "$name"; lap start`,
        `wait_for "$name holds $ip"`,
        `chown -R "$((base + uid)):$((base + gid))" /opt/gbo/tenants/acme/files`,
        `wait_for "$name answers on tcp/80" 'timeout 2 bash -c "</dev/tcp/$ip/80" 2>/dev/null'`,
        `lap verify`,
        `incus config set "$name" security.protection.delete=true\n    incus config set "$name" ${MOVED_KEY}=true`,
        `log "$name: serving at $ip after $(awk -v a="$t0" -v b="$lt" 'BEGIN { printf "%.1f", b - a }') s ` +
          `of downtime ($laps)"`,
      ];
      const at = order.map((o) => s.indexOf(o));
      expect(at.every((i) => i > 0)).toBe(true);
      expect([...at].sort((a, b) => a - b)).toEqual(at);
      expect(s).not.toContain("snapshot");
      expect(s).toContain(
        `echo "migration cutover of" 'acme-files -> files' "failed at \\"$failed_step\\" (exit $rc); ` +
          `rolled back: sources started again, partial copies removed. $(summary). Re-run to resume." >&2`,
      );
      expect(s).toContain(`echo "moved to Incus:\${moved:- none}; not moved (still on LXD):\${not:- none}"`);
      expect(s).toContain(
        `if [ "$(incus info "$ref" 2>/dev/null | sed -n 's/^Status: //p')" != RUNNING ]; then ` +
          `incus start "$ref" && log "$name: source $ref started again"; fi`,
      );
      expect(s).toContain("trap rollback ERR; set -E");
      const tenant = renderCutover(spec, m.containers).create;
      expect(tenant).toContain(
        `log "cutover 1 of 3:" files; cut_0\nlog "cutover 2 of 3:" proxy; cut_1\nlog "cutover 3 of 3:" tables; cut_2`,
      );
    },
  );

  test("cutover: the downtime window holds no per-setting command (one `incus config edit`), no marker re-set", () => {
    const s = renderCutover(spec, [files]).create;
    const window = s.slice(s.indexOf(`step="stopping the source"`), s.indexOf(`step="starting the copy"`));
    expect(window).not.toContain("incus config device");
    expect(window).not.toContain("incus config set");
    expect(window.match(/incus config edit/g)).toEqual(["incus config edit"]);
    expect(window).toContain(
      `incus copy "$ref" "$name" --instance-only --refresh -s "$pool" "\${over[@]}" ` +
        `-c ${MARK_KEY}="$mark" -c boot.autostart=false --quiet || rc=$?`,
    );
    expect(s).toContain(
      `wait_for() { local i; for i in $(seq 900); do eval "$2" && return 0; sleep 0.1; done; ` +
        `echo "verification failed: $1 within 90s" >&2; return 1; }`,
    );
    expect(s).toContain(
      `lap() { local t; t=$(date +%s.%N); laps="$laps\${laps:+, }$1 ` +
        `$(awk -v a="$lt" -v b="$t" 'BEGIN { printf "%.1f", b - a }') s"; lt=$t; }`,
    );
  });

  test("cleanup: keeps the sources unless cleanupSource, and then only after every container is verified", () => {
    expect(renderCleanup(spec).create).toContain(
      `log "$source kept \${st:-(gone)} and intact on the source (cleanupSource: false)"`,
    );
    expect(renderCleanup(spec).create).not.toContain("incus delete");
    const t = migTenant();
    t.migration.cleanupSource = true;
    const s = renderCleanup(parseTenant(t)).create;
    expect(s).toContain(
      `for n in files proxy tables; do [ "$(incus config get "$n" ${MOVED_KEY} 2>/dev/null)" = true ] || ` +
        `{ echo "cleanup: $n is not moved and verified; the sources are kept" >&2; exit 1; }; done`,
    );
    expect(s).toContain(`incus delete --force "$ref"; log "$source deleted on the source LXD (2 left)"`);
    expect(s).toContain(`src 'rm -rf -- /opt/gbo/files'; log "$name: source data" /opt/gbo/files "deleted"`);
  });
});

describe("Migration component under setMocks", () => {
  let run: Awaited<ReturnType<typeof runIndex>>;
  beforeAll(async () => {
    run = await runIndex(migTenant(), "prod", KEY, { migrationSourceKey: SOURCE_KEY });
  });

  test(
    "children: preflight, trust, one pre-copy and one cutover per container, cleanup; " +
      "the Tenant's other children unchanged",
    () => {
      expect(run.error).toBeUndefined();
      const mig = run.resources
        .filter((r) => r.name.startsWith("acme-migration"))
        .map((r) => `${r.type} ${r.name}`);
      expect(mig).toEqual([
        "incus-tenant:migrate:LxdToIncus acme-migration",
        "command:remote:Command acme-migration-preflight",
        "command:remote:Command acme-migration-trust",
        "command:remote:Command acme-migration-precopy-files",
        "command:remote:Command acme-migration-precopy-proxy",
        "command:remote:Command acme-migration-precopy-tables",
        "command:remote:Command acme-migration-cutover-files",
        "command:remote:Command acme-migration-cutover-proxy",
        "command:remote:Command acme-migration-cutover-tables",
        "command:remote:Command acme-migration-cleanup",
      ]);
    },
  );

  test(
    "commands: exactly the rendered scripts, the source key (not the host key) on stdin as a secret, " +
      "outputs secret",
    () => {
      const spec = parseTenant(migTenant());
      const byName = (n: string): MockResourceArgs => run.resources.find((r) => r.name === n)!;
      const expected: Record<string, string> = {
        "acme-migration-preflight": renderPreflight(spec).create,
        "acme-migration-trust": renderTrust(spec).create,
        "acme-migration-precopy-proxy": renderPrecopy(spec, spec.migration!.containers[1]).create,
        "acme-migration-cutover-tables": renderCutover(spec, [spec.migration!.containers[2]]).create,
        "acme-migration-cleanup": renderCleanup(spec).create,
      };
      for (const [n, text] of Object.entries(expected)) {
        const r = byName(n);
        const inputs = unwrapSecrets(r.inputs) as Record<string, any>;
        expect(inputs.create).toBe(remoteBash(text, true));
        expect(inputs.stdin).toBe(SOURCE_KEY);
        expect(r.inputs.stdin["4dabf18193072939515e22adb298388d"]).toBeDefined();
        expect(String(inputs.create)).not.toContain("SECRET-");
      }
      expect((unwrapSecrets(byName("acme-migration-trust").inputs) as Record<string, any>).delete).toBe(
        remoteBash(renderTrust(spec).delete!, true),
      );
    },
  );

  test("without migrationSourceKey nothing is registered; the error names it (no host-key fallback)", async () => {
    const r = await runIndex(migTenant(), "prod", KEY, {});
    // index.ts refuses first (model/secrets.ts), before any resource; the Tenant refuses too if built directly.
    expect(r.error?.message).toBe(
      'missing secret config (1):\n  - migration.source: secret "incus-tenant:migrationSourceKey" is not set ' +
        "(the SSH key this host uses to reach the LXD source host; " +
        "the host's own key is never sent there): pulumi config set --secret incus-tenant:migrationSourceKey < KEYFILE",
    );
    // Nothing is registered at all: not even index.ts's read-only self StackReference.
    expect(r.resources.map((x) => x.type)).toEqual([]);
    // A tenant without a migration section needs no such key.
    expect((await runIndex(baseTenant(), "prod", KEY, {})).error).toBeUndefined();
  });

  test("tenant-wide cutover is one command", async () => {
    const t = migTenant();
    t.migration.cutover = "tenant";
    const r = await runIndex(t, "prod", KEY, { migrationSourceKey: SOURCE_KEY });
    expect(r.resources.filter((x) => x.name.includes("cutover")).map((x) => x.name)).toEqual([
      "acme-migration-cutover",
    ]);
  });
});

describe("ordering under the engine double", () => {
  /** Records start/finish of each command; pre-copies take a little time so overlaps show. */
  async function order(mutate: Mutate = () => undefined): Promise<string[]> {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "itn-mig-order-"));
    const log: string[] = [];
    const executor: Executor = {
      run: async (_conn, command) => {
        if (command.includes("migration pre-copy") || command.includes("migration cutover"))
          await new Promise((r) => setTimeout(r, 50));
        return { exitCode: 0, stdout: "", stderr: "" };
      },
    };
    const t = migTenant();
    mutate(t);
    const config: Record<string, string> = {
      "incus-tenant:tenant": JSON.stringify(t),
      "incus-tenant:sshPrivateKey": KEY,
      "incus-tenant:migrationSourceKey": SOURCE_KEY,
      "incus-tenant:allowMassChange": "true",
    };
    try {
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      const np = require("../../approval/networkPlan");
      config["incus-tenant:approveNetworkPlan"] = np.diffNetworkPlans(
        np.asNetworkPlan(undefined),
        np.networkPlan(parseTenant(t)),
      ).hash;
    } catch {
      // the program has no approval gate
    }
    const r = await runProgram({
      programPath: path.join(ROOT, "index.ts"),
      config,
      secretKeys: ["incus-tenant:sshPrivateKey", "incus-tenant:migrationSourceKey"],
      stateFile: path.join(dir, "state.json"),
      stack: "prod",
      executor,
      log: (l) => log.push(l),
    });
    fs.rmSync(dir, { recursive: true, force: true });
    expect(r.error).toBeUndefined();
    return log.map((l) => l.replace(/ \(.*$/, ""));
  }
  const idx = (log: string[], line: string): number => {
    const i = log.indexOf(line);
    if (i < 0) throw new Error(`no log line ${line}`);
    return i;
  };

  test(
    "preflight, trust, pre-copies and then cutovers (each at most `parallel` at once), " +
      "then Containers (after the host) and cleanup",
    async () => {
      const log = await order();
      const done = (n: string) => idx(log, `create ${n} ok`);
      const start = (n: string) => idx(log, `create ${n} started`);
      expect(start("acme-migration-trust")).toBeGreaterThan(done("acme-migration-preflight"));
      for (const c of ["files", "proxy", "tables"])
        expect(start(`acme-migration-precopy-${c}`)).toBeGreaterThan(done("acme-migration-trust"));
      expect(start("acme-migration-precopy-tables")).toBeGreaterThan(done("acme-migration-precopy-files"));
      let running = 0;
      let peak = 0;
      for (const l of log.filter((x) => x.includes("precopy"))) {
        running += l.endsWith("started") ? 1 : -1;
        peak = Math.max(peak, running);
      }
      expect(peak).toBe(2);
      expect(start("acme-migration-cutover-files")).toBeGreaterThan(
        Math.max(...["files", "proxy", "tables"].map((c) => done(`acme-migration-precopy-${c}`))),
      );
      expect(start("acme-migration-cutover-proxy")).toBeGreaterThan(
        Math.max(...["files", "proxy", "tables"].map((c) => done(`acme-migration-precopy-${c}`))),
      );
      expect(start("acme-migration-cutover-tables")).toBeGreaterThan(done("acme-migration-cutover-files"));
      for (const c of ["files", "proxy", "tables"])
        expect(start(`acme-${c}-instance`)).toBeGreaterThan(
          Math.max(done(`acme-migration-cutover-${c}`), done("acme-host-persistence")),
        );
      expect(start("acme-migration-cleanup")).toBeGreaterThan(done("acme-migration-cutover-tables"));
      expect(start("acme-nat-tcp-80-dnat")).toBeGreaterThan(done("acme-proxy-instance"));
    },
  );

  test("parallel: 1 runs the pre-copies, then the cutovers, one after the other", async () => {
    const log = await order((t) => (t.migration.parallel = 1));
    for (const step of ["precopy", "cutover"]) {
      const lines = log.filter((x) => x.includes(`migration-${step}`));
      expect(lines).toEqual(
        ["files", "files", "proxy", "proxy", "tables", "tables"].map(
          (c, i) => `create acme-migration-${step}-${c} ${i % 2 === 0 ? "started" : "ok"}`,
        ),
      );
    }
  });
});
