/**
 * NAT adoption (issue 12): DNAT restricted with `-d host.publicAddress`, hand-written duplicates
 * of the program's rules (seed 002's `iptables -t nat -A PREROUTING ... -j DNAT`) named in the
 * network plan from the spec and in `plan --live` from the host, and removed by the rule's
 * confirmation only once its own lines are live and confirmed. The scripts run for real in a
 * throwaway network namespace (root): non-duplicates are never touched, and an unconfirmed
 * change that rolls back leaves the duplicates serving.
 */
import { parseTenant } from "../../model";
import { NatRuleSpec, TenantSpec } from "../../model/types";
import { networkPlan } from "../../approval/networkPlan";
import { chainLines, dnatLines, duplicatePattern, guardLines, isDuplicateOf } from "../../render/iptables";
import { armedId, armedNatCreate, natConfirm } from "../../render/firewall";
import { renderChains } from "../../render/host";
import { diffLive, driftText, LiveState } from "../../drift";
import { baseTenant, stackTenant } from "./fixtures";
import { netnsUnavailable, ThrowawayNetns } from "./netns";

jest.setTimeout(60_000);

/** Seconds before an unconfirmed change rolls back here (below the spec's minimum, as in watchdog.test). */
const T = 2;
const base = parseTenant(baseTenant());
const spec: TenantSpec = { ...base, host: { ...base.host, confirmTimeout: T } };
const rule = (key: string): NatRuleSpec => spec.nat.find((r) => r.key === key)!;
const TAG = "incus-tenant:acme:tcp-80";

/** Seed 002's hand-written rules, as `iptables -S` prints them back. */
const SEED_DUP = "-A PREROUTING -p tcp -m tcp --dport 80 -j DNAT --to-destination 10.0.2.10:80";
const RESTRICTED_DUP =
  "-A PREROUTING -s 198.51.100.0/24 -d 203.0.113.10/32 -i eth0 -p tcp -m tcp --dport 80 " +
  "-j DNAT --to-destination 10.0.2.10:80";
const BARE_DUP = "-A PREROUTING -p tcp -m tcp --dport 80 -j DNAT --to-destination 10.0.2.10";
/** A hand-written rule with a comment of its own: not a duplicate. */
const COMMENTED =
  '-A PREROUTING -p tcp -m tcp --dport 80 -m comment --comment "kept by hand" ' +
  "-j DNAT --to-destination 10.0.2.10:80";
/** Not duplicates of tcp-80: never touched. */
const UNRELATED = [
  "-A PREROUTING -p tcp -m tcp --dport 8080 -j DNAT --to-destination 10.0.2.10:80",
  COMMENTED,
  "-A PREROUTING ! -s 10.0.0.0/8 -p tcp -m tcp --dport 80 -j DNAT --to-destination 10.0.2.10:80",
  "-A PREROUTING -p udp -m udp --dport 80 -j DNAT --to-destination 10.0.2.10:80",
  "-A PREROUTING -p tcp -m tcp --dport 80 -j DNAT --to-destination 10.0.2.11:80",
  "-A PREROUTING -p tcp -m tcp --dport 80 -j DNAT --to-destination 10.0.2.10:8080",
  "-A PREROUTING -p tcp -m multiport --dports 80,443 -j DNAT --to-destination 10.0.2.10",
  "-A OUTPUT -p tcp -m tcp --dport 80 -j DNAT --to-destination 10.0.2.10:80",
];

describe("DNAT restricted to the public address (pure)", () => {
  test("every DNAT line matches -d host.publicAddress, in iptables-save form", () => {
    expect(dnatLines(spec, rule("tcp-443"))).toEqual([
      "-A ITN-acme-PRE -d 203.0.113.10/32 -i eth0 -p tcp -m tcp --dport 443 " +
        '-m comment --comment "incus-tenant:acme:tcp-443" -j DNAT --to-destination 10.0.2.10:443',
    ]);
    const raw = baseTenant();
    raw.host.publicAddress = "198.51.100.7";
    raw.nat.push({
      ports: [5432],
      protocol: "tcp",
      to: "tables",
      sources: ["203.0.113.64/26", "192.0.2.0/24"],
    });
    raw.containers.tables.ports = [5432];
    const s = parseTenant(raw);
    expect(
      dnatLines(
        s,
        s.nat.find((r) => r.key === "tcp-5432")!,
      ),
    ).toEqual([
      "-A ITN-acme-PRE -s 192.0.2.0/24 -d 198.51.100.7/32 -i eth0 -p tcp -m tcp --dport 5432 " +
        '-m comment --comment "incus-tenant:acme:tcp-5432" -j DNAT --to-destination 10.0.2.12:5432',
      "-A ITN-acme-PRE -s 203.0.113.64/26 -d 198.51.100.7/32 -i eth0 -p tcp -m tcp --dport 5432 " +
        '-m comment --comment "incus-tenant:acme:tcp-5432" -j DNAT --to-destination 10.0.2.12:5432',
    ]);
  });

  test("duplicate pattern: exact text; duplicates with or without -s/-d/-i, nothing else", () => {
    expect(duplicatePattern(rule("tcp-80"))).toBe(
      "-A PREROUTING( -s [0-9./]+)?( -d [0-9./]+)?( -i [^ ]+)? -p tcp( -m tcp)? --dport 80 " +
        "-j DNAT --to-destination 10\\.0\\.2\\.10(:80)?",
    );
    for (const line of [SEED_DUP, RESTRICTED_DUP, BARE_DUP])
      expect([line, isDuplicateOf(rule("tcp-80"), line)]).toEqual([line, true]);
    for (const line of [...UNRELATED, ...dnatLines(spec, rule("tcp-80")), ...chainLines(spec).jumps])
      expect([line, isDuplicateOf(rule("tcp-80"), line)]).toEqual([line, false]);
    // Another port: only the bare address of a same-port forward may omit the port.
    const raw = baseTenant();
    raw.nat.push({ ports: [8443], toPort: 443, protocol: "tcp", to: "proxy" });
    const moved = parseTenant(raw).nat.find((r) => r.key === "tcp-8443")!;
    expect(duplicatePattern(moved)).toMatch(/--to-destination 10\\\.0\\\.2\\\.10:443$/);
    expect(
      isDuplicateOf(moved, "-A PREROUTING -p tcp -m tcp --dport 8443 -j DNAT --to-destination 10.0.2.10"),
    ).toBe(false);
  });

  test("network plan: each rule with its public address, and its duplicate removal, from the spec", () => {
    const plan = networkPlan(spec);
    expect(plan.nat.map((i) => `${i.key}: ${i.text}`)).toEqual([
      "tcp/443: DNAT tcp/443 → proxy 10.0.2.10:443 to 203.0.113.10 on eth0",
      "tcp/53: DNAT tcp/53 → dns 10.0.2.22:53 to 203.0.113.10 on eth0",
      "tcp/80: DNAT tcp/80 → proxy 10.0.2.10:80 to 203.0.113.10 on eth0",
      "udp/53: DNAT udp/53 → dns 10.0.2.22:53 to 203.0.113.10 on eth0",
    ]);
    expect(plan["nat duplicates"].map((i) => `${i.key}: ${i.text}`)).toEqual([
      "tcp/443: remove hand-written duplicates of DNAT tcp/443 → 10.0.2.10:443 (PREROUTING, any -s/-d/-i)",
      "tcp/53: remove hand-written duplicates of DNAT tcp/53 → 10.0.2.22:53 (PREROUTING, any -s/-d/-i)",
      "tcp/80: remove hand-written duplicates of DNAT tcp/80 → 10.0.2.10:80 (PREROUTING, any -s/-d/-i)",
      "udp/53: remove hand-written duplicates of DNAT udp/53 → 10.0.2.22:53 (PREROUTING, any -s/-d/-i)",
    ]);
  });

  test("plan --live: the live duplicates only, on the rule's resource; a rule without -d is named so", () => {
    const { jumps, masquerade } = chainLines(spec);
    const live: LiveState = {
      nat: [
        "*nat",
        ":PREROUTING ACCEPT [0:0]",
        ":ITN-acme-PRE - [0:0]",
        ":ITN-acme-POST - [0:0]",
        SEED_DUP,
        ...UNRELATED.filter((l) => l.startsWith("-A PREROUTING")),
        RESTRICTED_DUP,
        ...jumps,
        ...masquerade,
        ...spec.nat.flatMap((r) => dnatLines(spec, r)),
        "COMMIT",
      ].join("\n"),
      filter: ["*filter", ...guardLines(22), "COMMIT"].join("\n"),
      containers: [],
      files: {},
      dirs: {},
    };
    const items = diffLive(spec, live).filter((i) => i.kind === "nat");
    expect(driftText(items)).toBe(
      [
        "- DNAT tcp/80 → proxy 10.0.2.10:80 to any address on any interface " +
          "(hand-written duplicate of nat tcp-80)",
        `    ${SEED_DUP}`,
        "- DNAT tcp/80 → proxy 10.0.2.10:80 from 198.51.100.0/24 (hand-written duplicate of nat tcp-80)",
        `    ${RESTRICTED_DUP}`,
      ].join("\n"),
    );
    expect(items.map((i) => [i.resource, i.change, i.command])).toEqual([
      ["nat tcp-80", "extra", "acme-nat-tcp-80-dnat"],
      ["nat tcp-80", "extra", "acme-nat-tcp-80-dnat"],
    ]);
  });
});

const skip = netnsUnavailable();
if (skip) process.stdout.write(`nat-adopt.test: real iptables tests skipped: ${skip}\n`);
const real = skip ? describe.skip : describe;

real("hand-written duplicates on a real iptables (throwaway network namespace)", () => {
  let ns: ThrowawayNetns;
  beforeEach(() => {
    ns = new ThrowawayNetns();
    // Seed 002's way, in its order: the duplicates and the unrelated rules first.
    for (const cmd of [
      "-p tcp --dport 80 -j DNAT --to-destination 10.0.2.10:80",
      "-p tcp --dport 8080 -j DNAT --to-destination 10.0.2.10:80",
      "-s 198.51.100.0/24 -d 203.0.113.10 -i eth0 -p tcp --dport 80 -j DNAT --to-destination 10.0.2.10:80",
      '-p tcp --dport 80 -m comment --comment "kept by hand" -j DNAT --to-destination 10.0.2.10:80',
      "-p tcp --dport 80 -j DNAT --to-destination 10.0.2.10:8080",
    ])
      ns.sh(`iptables -t nat -A PREROUTING ${cmd}`);
  });
  afterEach(() => ns.destroy());
  const pre = (): string[] => ns.save("nat").filter((l) => l.startsWith("-A PREROUTING "));
  const handWritten = [SEED_DUP, UNRELATED[0], RESTRICTED_DUP, COMMENTED, UNRELATED[5]];
  const kept = [UNRELATED[0], handWritten[3], UNRELATED[5]];
  const sleep = (s: number): Promise<void> => new Promise((r) => setTimeout(r, s * 1000));

  test("every rendered line (with -d) passes iptables-restore --test, for both stacks", () => {
    for (const stack of ["prod", "stage"] as const) {
      const s = parseTenant(stackTenant(stack));
      const { jumps, masquerade } = chainLines(s);
      const file = [
        "*nat",
        `:${s.chains.prerouting} - [0:0]`,
        `:${s.chains.postrouting} - [0:0]`,
        ...jumps,
        ...masquerade,
        ...s.nat.flatMap((r) => dnatLines(s, r)),
        "COMMIT",
        "",
      ].join("\n");
      const r = ns.run("iptables-restore --test", file);
      expect([stack, r.stderr, r.status]).toEqual([stack, "", 0]);
    }
  });

  test("apply keeps them; the confirmation removes the duplicates only; others stay byte-identical", () => {
    expect(pre()).toEqual(handWritten);
    expect(ns.run(renderChains(spec).create).status).toBe(0);
    const applied = ns.run(armedNatCreate(spec, rule("tcp-80")));
    expect(applied.status).toBe(0);
    // Ours is live before anything of theirs goes.
    expect(pre()).toEqual([...handWritten, chainLines(spec).jumps[0]]);
    expect(ns.save("nat")).toEqual(expect.arrayContaining(dnatLines(spec, rule("tcp-80"))));
    const c = ns.run(natConfirm(spec, rule("tcp-80"), armedId(applied.stdout)));
    expect(c.stderr).toBe(
      [
        `incus-tenant: ${TAG}: confirmed over a new SSH connection`,
        `incus-tenant: ${TAG}: removed the hand-written duplicate: ${SEED_DUP}`,
        `incus-tenant: ${TAG}: removed the hand-written duplicate: ${RESTRICTED_DUP}`,
        "",
      ].join("\n"),
    );
    expect(c.status).toBe(0);
    expect(pre()).toEqual([...kept, chainLines(spec).jumps[0]]);
    const persisted = ns.persisted();
    for (const l of kept) expect(persisted).toContain(`${l}\n`);
    expect(persisted).not.toContain(`${SEED_DUP}\n`);
    expect(persisted).toContain(`${dnatLines(spec, rule("tcp-80"))[0]}\n`);
    // Run again: nothing left to remove, nothing said.
    const again = ns.run(natConfirm(spec, rule("tcp-80"), armedId(applied.stdout)));
    expect(again.stderr).toBe(
      `incus-tenant: ${TAG}: the change ${armedId(applied.stdout)} is already confirmed\n`,
    );
    expect(pre()).toEqual([...kept, chainLines(spec).jumps[0]]);
  });

  test("unconfirmed: the watchdog rolls ours back and the duplicates still serve", async () => {
    expect(ns.run(renderChains(spec).create).status).toBe(0);
    expect(armedId(ns.run(armedNatCreate(spec, rule("tcp-80"))).stdout)).not.toBe("none");
    await sleep(T + 1.5);
    expect(ns.save("nat").filter((l) => l.includes(TAG))).toEqual([]);
    expect(pre()).toEqual([...handWritten, chainLines(spec).jumps[0]]);
  });

  test("no jump into our chain yet, or nothing of ours live: duplicates kept, the log says why", () => {
    const applied = ns.run(armedNatCreate(spec, rule("tcp-80")));
    const c = ns.run(natConfirm(spec, rule("tcp-80"), armedId(applied.stdout)));
    const why =
      `incus-tenant: ${TAG}: kept the hand-written duplicates of DNAT tcp/80 → 10.0.2.10:80 ` +
      "(PREROUTING, any -s/-d/-i): this rule's own lines or its jump are not live and confirmed yet\n";
    expect(c.stderr).toBe(`incus-tenant: ${TAG}: confirmed over a new SSH connection\n${why}`);
    expect(pre()).toEqual(handWritten);
    const other = ns.run(natConfirm(spec, rule("tcp-443"), "none"));
    expect(other.stderr).toBe("incus-tenant: incus-tenant:acme:tcp-443: nothing to confirm\n");
    ns.sh(`iptables -t nat -F ${spec.chains.prerouting}`);
    expect(ns.run(renderChains(spec).create).status).toBe(0);
    const none = ns.run(natConfirm(spec, rule("tcp-80"), "none"));
    expect(none.stderr).toBe(`incus-tenant: ${TAG}: nothing to confirm\n${why}`);
    expect(pre()).toEqual([...handWritten, chainLines(spec).jumps[0]]);
  });

  test("a rule live and confirmed (upgraded stack: id none) removes them at its next confirmation", () => {
    expect(ns.run(renderChains(spec).create).status).toBe(0);
    const applied = ns.run(armedNatCreate(spec, rule("tcp-80")));
    const rb = ns.run(natConfirm(spec, rule("tcp-80"), armedId(applied.stdout)));
    expect(rb.status).toBe(0);
    ns.sh("iptables -t nat -I PREROUTING 1 -p tcp --dport 80 -j DNAT --to-destination 10.0.2.10:80");
    const c = ns.run(natConfirm(spec, rule("tcp-80"), "none"));
    expect(c.stderr).toBe(
      `incus-tenant: ${TAG}: nothing to confirm\n` +
        `incus-tenant: ${TAG}: removed the hand-written duplicate: ${SEED_DUP}\n`,
    );
    expect(pre()).toEqual([...kept, chainLines(spec).jumps[0]]);
  });
});
