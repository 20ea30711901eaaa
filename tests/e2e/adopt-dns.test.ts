/**
 * Adopting a hand-built DNS zone on the real test bed (issue 12, DNS): the real index.ts runs
 * under the engine double (tests/harness), every remote.Command over real SSH. Tenant `ad`, one
 * container `ad-dns` (198.18.2.70) next to the other files' tenants, touching nothing of theirs.
 *
 * The runbook's way first, by hand: a zone file with its own layout, an existing serial and one
 * record the stack does not list, served by BIND's `named` in ad-dns (CoreDNS cannot be installed
 * here; `rndc reload` stands in for CoreDNS' file plugin, which reloads a zone when its serial
 * grows). Then:
 * 1. apply without `takeOver`: refused, the error names the record and the field; the file is
 *    byte-identical and named still serves the old serial;
 * 2. apply with `takeOver: true`: the program's file, serial = max(live + 1, today's YYYYMMDD00),
 *    a dated backup of the hand-written file, and dig answers the stack's records (not the lost one);
 * 3. a second apply runs nothing, and the zone script run again by hand keeps the serial.
 */
import { spawnSync } from "child_process";
import * as path from "path";
import { runProgram, RunResult } from "../harness";
import { parseTenant } from "../../model";
import { renderZone, renderZoneScripts } from "../../render/zone";
import { describeOnTestbed, e2eTenant, harnessConfig, host, ROOT, tempState, TestbedEnv } from "./testbed";
import { commandTexts, inc, readIn } from "./services-fixture";

jest.setTimeout(15 * 60 * 1000);
const INDEX = path.join(ROOT, "index.ts");
const TENANT = "ad";
const DNS = "ad-dns";
const DNS_IP = "198.18.2.70";
const ZONE = "adopt.example.com";
const ZONE_FILE = `/opt/gbo/data/${ZONE}.zone`;
const LIVE_SERIAL = "2025063007";

/** The zone as an operator wrote it from the runbook: its own layout, and `legacy`, which the stack lacks. */
const HAND_WRITTEN =
  `; ${ZONE}: written by hand (runbook 001)\n$TTL 1h\n$ORIGIN ${ZONE}.\n` +
  `@\tIN\tSOA\tns1 hostmaster.example.com. (\n\t\t${LIVE_SERIAL}\t; Serial\n\t\t3h 15m 2w 5m )\n` +
  `\tIN\tNS\tns1\n\tIN\tA\t${DNS_IP}\nns1\tIN\tA\t${DNS_IP}\nchat\tIN\tA\t${DNS_IP}\n` +
  "legacy\tIN\tA\t198.18.2.99 ; an old box nobody put in the stack\n";

const names = (r: RunResult): string[] =>
  r.ran.map((c) => `${c.op} ${c.name}${c.exitCode === 0 ? "" : ` (exit ${c.exitCode})`}`).sort();
const today = (): string => host("date", ["-u", "+%Y%m%d"]).trim();

/** The ad tenant: one dns container, no NAT; `dns` adds the zone (records of HAND_WRITTEN but legacy). */
function tenant(env: TestbedEnv, dns: boolean, takeOver = false): Record<string, any> {
  const t = e2eTenant(env);
  t.name = TENANT;
  t.containers = { [DNS]: { ipv4: DNS_IP, ports: [53] } };
  t.nat = [];
  if (dns)
    t.dns = {
      container: DNS,
      server: "named", // BIND stands in for CoreDNS (the preflight checks this program)
      nameservers: [`ns1.${ZONE}`],
      hostmaster: "hostmaster@example.com",
      zones: {
        [ZONE]: {
          records: [
            { name: "@", type: "A", value: DNS_IP },
            { name: "ns1", type: "A", value: DNS_IP },
            { name: "chat", type: "A", value: DNS_IP },
          ],
          ...(takeOver ? { takeOver: true } : {}),
        },
      },
    };
  return t;
}

/** `dig +short` at named in ad-dns, from the host (on the test bed's bridge). */
function dig(name: string, type: string): string[] {
  const r = spawnSync("dig", [`@${DNS_IP}`, "+short", "+tries=2", "+time=3", name, type], {
    encoding: "utf8",
  });
  if (r.status !== 0) throw new Error(`dig ${name} ${type} failed: ${r.stdout}${r.stderr}`);
  return r.stdout.split("\n").filter((l) => l !== "");
}

/** The serial named serves (polls until `accept` holds: `rndc reload` loads in the background). */
async function servedSerial(accept: (s: string) => boolean): Promise<string> {
  let serial = "";
  for (let i = 0; i < 40; i++) {
    serial = dig(ZONE, "SOA")[0]?.split(" ")[2] ?? "";
    if (serial !== "" && accept(serial)) return serial;
    await new Promise((r) => setTimeout(r, 250));
  }
  return serial;
}

/** Files of the zone folder in ad-dns. */
const zoneDir = (): string[] =>
  inc(DNS, ["sh", "-c", `ls -1 ${path.dirname(ZONE_FILE)}`])
    .split("\n")
    .filter((f) => f !== "");

/** Removes, by exact name, what the ad tenant may have left (its container, chains, sysctl drop-in). */
function removeLeftovers(): void {
  spawnSync("incus", ["delete", "--force", DNS], { encoding: "utf8" });
  const nat = host("iptables-save", ["-t", "nat"]).split("\n");
  for (const l of nat.filter((x) => x.startsWith("-A ") && / -j ITN-ad-(PRE|POST)( |$)/.test(x)))
    spawnSync("bash", ["-c", `iptables -t nat ${l.replace(/^-A /, "-D ")}`]);
  for (const chain of ["ITN-ad-PRE", "ITN-ad-POST"]) {
    spawnSync("iptables", ["-t", "nat", "-F", chain]);
    spawnSync("iptables", ["-t", "nat", "-X", chain]);
  }
  spawnSync("rm", ["-f", "/etc/sysctl.d/60-incus-tenant-ad.conf"]);
}

describeOnTestbed(
  "adopting a hand-built zone: serial continues from the live one, unlisted records refused unless takeOver",
  (env: TestbedEnv) => {
    const state = tempState("adopt-dns");
    const logs: string[] = [];
    const apply = (t: unknown): Promise<RunResult> =>
      runProgram({
        programPath: INDEX,
        ...harnessConfig(env, t),
        stateFile: state,
        stack: TENANT,
        log: (l) => logs.push(l),
      });
    let destroyed = false;
    let adopted = "";

    beforeAll(async () => {
      removeLeftovers(); // a crashed earlier run of this file: same exact names only
      const r = await apply(tenant(env, false));
      if (r.error) throw r.error;
      // The runbook's way, by hand: the zone file, then named serving it.
      inc(DNS, ["sh", "-c", `mkdir -p ${path.dirname(ZONE_FILE)} && cat > ${ZONE_FILE}`], HAND_WRITTEN);
      inc(
        DNS,
        ["sh", "-c", "cat > /etc/bind/named.conf.local"],
        "// itn e2e (adopt-dns.test.ts): BIND stands in for CoreDNS\n" +
          `zone "${ZONE}" { type master; file "${ZONE_FILE}"; };\n`,
      );
      inc(DNS, [
        "sh",
        "-c",
        "[ -s /etc/bind/rndc.key ] || { rndc-confgen -a -c /etc/bind/rndc.key && chown root:bind " +
          "/etc/bind/rndc.key && chmod 0640 /etc/bind/rndc.key; }",
      ]);
      inc(DNS, ["systemctl", "unmask", "named.service"]);
      inc(DNS, ["systemctl", "enable", "--now", "named.service"]);
      expect(await servedSerial((s) => s === LIVE_SERIAL)).toBe(LIVE_SERIAL);
      expect(dig(`legacy.${ZONE}`, "A")).toEqual(["198.18.2.99"]);
    });

    afterAll(async () => {
      if (!destroyed)
        await runProgram({
          programPath: INDEX,
          ...harnessConfig(env, tenant(env, true, true)),
          stateFile: state,
          stack: TENANT,
          destroy: true,
          log: (l) => logs.push(l),
        });
      removeLeftovers();
    });

    test("(1) without takeOver: refused, naming the record and the field; the file is byte-identical", async () => {
      const r = await apply(tenant(env, true));
      // The preflight runs again (the dns section is new to it), then the zone script refuses.
      expect(names(r)).toEqual([
        "create ad-preflight-check",
        "create ad-zone-adopt-example-com-zone (exit 1)",
      ]);
      expect(r.error?.message).toContain(
        `zone ${ZONE}: ${ZONE_FILE} in container ${DNS} was not written by incus-tenant; ` +
          `replacing it would lose:\n  legacy.${ZONE}. A 198.18.2.99\n` +
          `Nothing was changed. Add those records to dns.zones.${ZONE}.records, or set ` +
          `dns.zones.${ZONE}.takeOver: true to replace the file and drop them (a dated backup is kept).`,
      );
      expect(readIn(DNS, ZONE_FILE)).toBe(HAND_WRITTEN);
      expect(zoneDir()).toEqual([`${ZONE}.zone`]);
      inc(DNS, ["rndc", "reload"]);
      expect(await servedSerial((s) => s === LIVE_SERIAL)).toBe(LIVE_SERIAL);
    });

    test("(2) takeOver: the program's file, serial max(live + 1, today's 00), backup kept, dig answers", async () => {
      const r = await apply(tenant(env, true, true));
      expect(r.error).toBeUndefined();
      expect(names(r)).toEqual(["create ad-corefile-corefile", "create ad-zone-adopt-example-com-zone"]);
      adopted = String(Math.max(Number(LIVE_SERIAL) + 1, Number(`${today()}00`)));
      const zone = parseTenant(tenant(env, true, true)).services.dns!.zones[0];
      expect(readIn(DNS, ZONE_FILE)).toBe(renderZone(zone, adopted));
      const backups = zoneDir().filter((f) => f.startsWith(`${ZONE}.zone.bak-`));
      expect(backups).toEqual([expect.stringMatching(new RegExp(`^.*\\.bak-\\d{14}-${LIVE_SERIAL}$`))]);
      expect(readIn(DNS, `${path.dirname(ZONE_FILE)}/${backups[0]}`)).toBe(HAND_WRITTEN);
      const zoneOutput = commandTexts(state).find((c) => c.name === "ad-zone-adopt-example-com-zone")?.output;
      expect(zoneOutput?.join("\n")).toContain(
        `incus-tenant: zone ${ZONE}: takeOver drops legacy.${ZONE}. A 198.18.2.99\n`,
      );
      inc(DNS, ["rndc", "reload"]);
      expect(await servedSerial((s) => s === adopted)).toBe(adopted);
      for (const n of [ZONE, `ns1.${ZONE}`, `chat.${ZONE}`]) expect([n, dig(n, "A")]).toEqual([n, [DNS_IP]]);
      expect(dig(`legacy.${ZONE}`, "A")).toEqual([]);
    });

    test("(3) a second apply runs nothing; the zone script run again keeps the serial", async () => {
      const before = readIn(DNS, ZONE_FILE);
      const r = await apply(tenant(env, true, true));
      expect(r.error).toBeUndefined();
      expect(names(r)).toEqual([]);
      const spec = parseTenant(tenant(env, true, true)).services.dns!;
      const again = spawnSync("bash", ["-c", renderZoneScripts(spec, spec.zones[0]).create], {
        encoding: "utf8",
      });
      expect(again.status).toBe(0);
      expect(again.stderr).toContain(`incus-tenant: zone ${ZONE}: unchanged (serial ${adopted})\n`);
      expect(readIn(DNS, ZONE_FILE)).toBe(before);
      inc(DNS, ["rndc", "reload"]);
      expect(await servedSerial((s) => s === adopted)).toBe(adopted);
    });

    test("destroy removes the tenant's container", async () => {
      const r = await runProgram({
        programPath: INDEX,
        ...harnessConfig(env, tenant(env, true, true)),
        stateFile: state,
        stack: TENANT,
        destroy: true,
        log: (l) => logs.push(l),
      });
      destroyed = true;
      expect(r.error).toBeUndefined();
      expect(spawnSync("incus", ["info", DNS]).status).not.toBe(0);
    });
  },
);
