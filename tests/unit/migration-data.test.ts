/**
 * Migrated host data (issue 12, seed 002's rule "Data copied into each container at /opt/gbo/ —
 * NOT disk devices"): the `copy` mode (the default without a disk device) and its rules next to
 * the `disk` mode (model/migrationData.ts), and the cutover lines that copy the staged data into
 * the container (render/migration/cutover.ts). The `disk` mode's own tests are in
 * migration.test.ts.
 */
import { parseTenant, SpecError } from "../../model";
import { renderCutover, renderPrecopy } from "../../render/migration";
import { migratingTenant } from "./fixtures";

type Mutate = (t: Record<string, any>) => void;

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
  [
    "data destination not mounted, no mode: copied, but into the disk device's mount",
    (t) => (t.migration.data.files.destination = "/opt/gbo/tenants/acme/other"),
    [
      'migration.data.files.path: overlaps disk device "data" mounted at /opt/gbo: ' +
        "the copied data would be hidden by the mount",
    ],
  ],
  [
    "data mode copy on a mounted destination",
    (t) => (t.migration.data.files.mode = "copy"),
    [
      'migration.data.files.destination: is the source of disk device "data" of container "files": ' +
        'mode "copy" copies the data into the container (seed 002); remove the device, or set mode "disk" ' +
        "to mount it",
      'migration.data.files.path: overlaps disk device "data" mounted at /opt/gbo: ' +
        "the copied data would be hidden by the mount",
    ],
  ],
  [
    "data mode disk without destination",
    (t) => Object.assign(t.migration.data.files, { destination: undefined, mode: "disk" }),
    ['migration.data.files.destination: is required with mode "disk" (a disk device\'s source)'],
  ],
  [
    "data path in mode disk",
    (t) => (t.migration.data.files.path = "/srv/data"),
    ['migration.data.files.path: is only used with mode "copy" (a disk device has its own path)'],
  ],
  [
    "data copied to the container's root",
    (t) => {
      t.containers.files.devices = {};
      t.migration.data.files.path = "/";
    },
    ["migration.data.files.path: must not be the container's root directory"],
  ],
  [
    "data mode unknown",
    (t) => (t.migration.data.files.mode = "mount"),
    ['migration.data.files.mode: must be "copy" or "disk"'],
  ],
  [
    "data default staging directories collide",
    (t) => {
      t.containers.files.devices = {};
      t.migration.data.files.destination = "/opt/gbo/tenants/acme/tables";
      t.migration.data.tables = { source: "/opt/gbo/tables" };
    },
    ['migration.data.tables.destination: /opt/gbo/tenants/acme/tables is already the destination of "files"'],
  ],
];

describe("migrated data: modes", () => {
  test.each(INVALID)("%s", (_label, mutate, expected) => {
    expect(problems(mutate)).toEqual(expected);
  });

  test("a disk device whose source is the destination keeps the data mounted (mode disk)", () => {
    expect(parseTenant(migTenant()).migration!.containers[0].data).toEqual({
      mode: "disk",
      source: "/opt/gbo/files",
      destination: "/opt/gbo/tenants/acme/files",
      path: "/opt/gbo",
      owner: "gbuser:gbuser",
    });
  });

  test("data without a disk device is copied into the container (seed 002): 002's staging dir, /opt/gbo", () => {
    const t = migTenant();
    t.migration.data = {
      proxy: { source: "/opt/gbo/proxy" },
      tables: { source: "/srv/pg/x", path: "/srv/pg" },
    };
    const data = parseTenant(t).migration!.containers.map((c) => c.data);
    expect(data).toEqual([
      undefined,
      {
        mode: "copy",
        source: "/opt/gbo/proxy",
        destination: "/opt/gbo/tenants/acme/proxy",
        path: "/opt/gbo",
        owner: "root:root",
      },
      {
        mode: "copy",
        source: "/srv/pg/x",
        destination: "/opt/gbo/tenants/acme/tables",
        path: "/srv/pg",
        owner: "root:root",
      },
    ]);
  });
});

describe("migrated data: the cutover of mode copy", () => {
  test("cutover, data mode copy (seed 002): staged, checksummed, owned as inside the copy, pushed into it", () => {
    const t = migTenant();
    t.containers.files.devices = {};
    t.migration.data.files = { source: "/opt/gbo/files", owner: "gbuser:gbuser" };
    const copied = parseTenant(t);
    const s = renderCutover(copied, [copied.migration!.containers[0]]).create;
    const order = [
      `rsync -aHX --protect-args --numeric-ids --delete --stats --rsync-path="$rsync_path" -e "$SRC_SSH" ` +
        `"$SRC":/opt/gbo/files/ /opt/gbo/tenants/acme/files/`,
      `[ "$want_sum" = "$got_sum" ]`,
      `"$tmp/$name.yaml" | incus config edit "$name"; lap configure`,
      `step="copying the data into the container"`,
      `owner=gbuser:gbuser; u=\${owner%%:*}; g=\${owner#*:}`,
      `id_of() { case "$2" in *[!0-9]*) incus file pull "$name/etc/$1" - | ` +
        `awk -F: -v n="$2" -v f="\${3:-3}" '$1 == n && !x { print $f; x = 1 }';; *) echo "$2";; esac; }`,
      `uid=$(id_of passwd "$u"); gid=$(id_of group "$g"); [ -n "$gid" ] || gid=$(id_of passwd "$u" 4)`,
      `[ -n "$uid" ] && [ -n "$gid" ] || { echo "$name: the owner $owner of the data is not a user ` +
        `(and group) of the copy (its /etc/passwd and /etc/group)" >&2; return 1; }`,
      `chown -R "$uid:$gid" /opt/gbo/tenants/acme/files`,
      `log "$name: data copied into the container at" /opt/gbo "(from" /opt/gbo/tenants/acme/files"," ` +
        `"owned by $owner)"`,
      `(cd /opt/gbo/tenants/acme/files && incus file push --recursive --create-dirs . "$name"/opt/gbo); ` +
        `lap "data into the container"`,
      `incus start "$name"; lap start`,
      `lap verify`,
    ];
    const at = order.map((o) => s.indexOf(o));
    expect(at.every((i) => i > 0)).toBe(true);
    expect([...at].sort((a, b) => a - b)).toEqual(at);
    expect(s).not.toContain('incus config device add "$name" data');
    expect(s).not.toContain('chown -R "$((base');
    expect(s).not.toContain("incus exec");
    expect(renderPrecopy(copied, copied.migration!.containers[0]).create).toContain(
      `"$SRC":/opt/gbo/files/ /opt/gbo/tenants/acme/files/`,
    );
  });
});
