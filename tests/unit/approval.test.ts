/**
 * Approved network plans: the diff, its hash, the mass-change threshold, and the gate in the real
 * program (under Pulumi's mock runtime: no network command is even registered without approval).
 */
import { approvalProblem, diffNetworkPlans, networkPlan, NetworkPlan } from "../../approval/networkPlan";
import { parseTenant } from "../../model";
import { baseTenant, stackTenant } from "./fixtures";
import { preview } from "../preview";

const KEY = "-----BEGIN OPENSSH PRIVATE KEY-----\nSECRET-TEST-KEY\n-----END OPENSSH PRIVATE KEY-----";
const stage = () => parseTenant(stackTenant("stage"));

describe("network plan", () => {
  test("lists NAT rules, the guard, vhosts and zone records as readable lines", () => {
    const plan = networkPlan(stage());
    expect(Object.keys(plan).sort()).toEqual([
      "guard",
      "nat",
      "nat duplicates",
      "vhosts",
      "zone stage.example.com",
    ]);
    expect(plan.nat.find((i) => i.key === "tcp/443")?.text).toBe(
      "DNAT tcp/443 → proxy 10.0.3.10:443 to 203.0.113.20 on eth0",
    );
    expect(plan.nat.find((i) => i.key === "tcp/5432")?.text).toBe(
      "DNAT tcp/5432 → tables 10.0.3.12:5432 from 203.0.113.64/26 to 203.0.113.20 on eth0",
    );
    expect(plan["nat duplicates"].find((i) => i.key === "tcp/443")?.text).toBe(
      "remove hand-written duplicates of DNAT tcp/443 → 10.0.3.10:443 (PREROUTING, any -s/-d/-i)",
    );
    expect(plan.vhosts.find((i) => i.key === "chat.stage.example.com")?.text).toBe(
      "vhost chat.stage.example.com → system 10.0.3.11:5859",
    );
    expect(plan["zone stage.example.com"].map((i) => i.text)).toContain(
      "chat.stage.example.com. A 203.0.113.20",
    );
  });

  test("an unchanged plan has an empty diff and needs no approval", () => {
    const plan = networkPlan(stage());
    const diff = diffNetworkPlans(plan, plan);
    expect(diff).toEqual({ lines: [], hash: "", mass: expect.any(Array) });
    expect(approvalProblem(diff, undefined, false)).toBeUndefined();
  });

  test("a changed NAT rule: exact diff lines, a stable 12-hex hash, approval by that hash only", () => {
    const before = networkPlan(stage());
    const raw = stackTenant("stage");
    raw.nat[0].ports = [80];
    const after = networkPlan(parseTenant(raw));
    const diff = diffNetworkPlans(before, after);
    expect(diff.lines).toEqual([
      "nat:",
      "  - DNAT tcp/443 → proxy 10.0.3.10:443 to 203.0.113.20 on eth0",
      "nat duplicates:",
      "  - remove hand-written duplicates of DNAT tcp/443 → 10.0.3.10:443 (PREROUTING, any -s/-d/-i)",
    ]);
    expect(diff.hash).toMatch(/^[0-9a-f]{12}$/);
    expect(diffNetworkPlans(before, after).hash).toBe(diff.hash);
    expect(approvalProblem(diff, diff.hash, false)).toBeUndefined();
    expect(approvalProblem(diff, undefined, false)).toBe(
      `network plan diff (hash ${diff.hash}):\n${diff.lines.join("\n")}\n` +
        "network change not approved: review the diff above, " +
        `then pulumi config set incus-tenant:approveNetworkPlan ${diff.hash}`,
    );
    expect(approvalProblem(diff, "0123456789ab", false)).toContain(
      "approval 0123456789ab is stale (it does not match this diff)",
    );
  });

  test("mass change: more than 30% of at least 10 existing items deleted or changed needs allowMassChange", () => {
    const items = (n: number, tag = "") =>
      Array.from({ length: n }, (_, i) => ({ key: `k${i}`, text: `rule ${i}${tag}` }));
    const before: NetworkPlan = { nat: items(10) };
    const three: NetworkPlan = { nat: [...items(10).slice(0, 7), ...items(10, " changed").slice(7)] };
    const four: NetworkPlan = { nat: [...items(10).slice(0, 6), ...items(10, " changed").slice(6)] };
    expect(diffNetworkPlans(before, three).mass).toEqual([
      { category: "nat", existing: 10, touched: 3, exceeds: false },
    ]);
    const heavy = diffNetworkPlans(before, four);
    expect(heavy.mass).toEqual([{ category: "nat", existing: 10, touched: 4, exceeds: true }]);
    expect(approvalProblem(heavy, heavy.hash, false)).toContain(
      "mass change refused (nat: 4 of 10 deleted or changed, more than 30%): set incus-tenant:allowMassChange true",
    );
    expect(approvalProblem(heavy, heavy.hash, true)).toBeUndefined();
    // Small categories are exempt; additions never count.
    expect(diffNetworkPlans({ nat: items(9) }, { nat: [] }).mass[0].exceeds).toBe(false);
    expect(diffNetworkPlans(before, { nat: items(30) }).mass[0]).toEqual({
      category: "nat",
      existing: 10,
      touched: 0,
      exceeds: false,
    });
  });
});

describe("the gate in the program (a preview in its own process)", () => {
  jest.setTimeout(120000);
  const tenant = baseTenant();
  const base = {
    stack: "prod",
    config: { "incus-tenant:tenant": JSON.stringify(tenant), "incus-tenant:sshPrivateKey": KEY },
    secretKeys: ["incus-tenant:sshPrivateKey"],
  };
  const plan = networkPlan(parseTenant(tenant));
  const firstHash = diffNetworkPlans({}, plan).hash;

  test("a first apply without approval registers no command and fails with the diff and hash", () => {
    const r = preview(base);
    expect(r.error).toContain(`network plan diff (hash ${firstHash}):\nguard:\n  + -A INPUT -i lo`);
    // Adoption: the removal of hand-written duplicates is part of what is approved.
    expect(r.error).toContain(
      "\nnat duplicates:\n" +
        "  + remove hand-written duplicates of DNAT tcp/443 → 10.0.2.10:443 (PREROUTING, any -s/-d/-i)\n",
    );
    expect(r.error).toContain(
      "network change not approved: review the diff above, " +
        `then pulumi config set incus-tenant:approveNetworkPlan ${firstHash}`,
    );
    expect(r.commands).toEqual([]);
  });

  test("approved by its hash: every command is registered", () => {
    const r = preview({ ...base, config: { ...base.config, "incus-tenant:approveNetworkPlan": firstHash } });
    expect(r.error).toBeNull();
    expect(r.commands).toContain("acme-nat-tcp-443-dnat");
    expect(r.commands).toContain("acme-host-guard");
  });

  test("after that apply: an unchanged plan needs nothing; a NAT change needs its own hash; a stale one fails", () => {
    const previousOutputs = { networkPlan: plan };
    expect(preview({ ...base, previousOutputs }).error).toBeNull();
    const changed = baseTenant();
    changed.nat[0].ports = [80];
    const hash = diffNetworkPlans(plan, networkPlan(parseTenant(changed))).hash;
    const cfg = { ...base.config, "incus-tenant:tenant": JSON.stringify(changed) };
    const stale = preview({
      ...base,
      config: { ...cfg, "incus-tenant:approveNetworkPlan": firstHash },
      previousOutputs,
    });
    expect(stale.error).toContain(
      `network plan diff (hash ${hash}):\nnat:\n` +
        "  - DNAT tcp/443 → proxy 10.0.2.10:443 to 203.0.113.10 on eth0\n" +
        "nat duplicates:\n" +
        "  - remove hand-written duplicates of DNAT tcp/443 → 10.0.2.10:443 (PREROUTING, any -s/-d/-i)\n",
    );
    expect(stale.error).toContain(`approval ${firstHash} is stale`);
    expect(stale.commands).toEqual([]);
    const ok = preview({
      ...base,
      config: { ...cfg, "incus-tenant:approveNetworkPlan": hash },
      previousOutputs,
    });
    expect(ok.error).toBeNull();
    expect(ok.commands).not.toContain("acme-nat-tcp-443-dnat");
  });
});
