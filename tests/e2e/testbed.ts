/**
 * Access to the real test bed made by `tests/bed/testbed.sh up`: its env file, the generated
 * stack, commands on the host (this machine) and in the client network namespace.
 * Tests only ever talk to 127.0.0.1 and 198.18.0.0/15.
 */
import { execFileSync, spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { readStackTenant } from "../../model/stackfile";
import { parseTenant } from "../../model";
import { asNetworkPlan, diffNetworkPlans, networkPlan } from "../../approval/networkPlan";

export const ROOT = path.resolve(__dirname, "../..");
const ENV_FILE = path.join(ROOT, ".testbed", "env");

export type TestbedEnv = Record<string, string>;

/** The test bed's env, or the reason it is unusable. */
export function loadTestbed(): { env?: TestbedEnv; reason?: string } {
  if (!fs.existsSync(ENV_FILE)) return { reason: `no ${ENV_FILE}: run tests/bed/testbed.sh up (as root)` };
  const env = Object.fromEntries(
    fs
      .readFileSync(ENV_FILE, "utf8")
      .split("\n")
      .filter((l) => /^[A-Z_]+=/.test(l))
      .map((l) => {
        const i = l.indexOf("=");
        return [l.slice(0, i), l.slice(i + 1).replace(/^["']|["']$/g, "")];
      }),
  );
  const status = spawnSync("bash", [path.join(ROOT, "tests", "bed", "testbed.sh"), "status"], {
    encoding: "utf8",
  });
  if (status.status !== 0)
    return {
      reason: `tests/bed/testbed.sh status says the test bed is not up:\n${status.stdout}${status.stderr}`,
    };
  return { env };
}

/** Packets the test bed's egress guard dropped since `up` (from `testbed.sh status`). */
export function egressDrops(): number {
  const out =
    spawnSync("bash", [path.join(ROOT, "tests", "bed", "testbed.sh"), "status"], { encoding: "utf8" })
      .stdout ?? "";
  const m = /^egress guard: (\d+) packet/m.exec(out);
  if (!m) throw new Error(`testbed.sh status reports no egress guard:\n${out}`);
  return Number(m[1]);
}

/**
 * `describe` when the test bed is up; otherwise a skip with a printed reason, or a failing test
 * when E2E_REQUIRED=1 (CI), so a test bed that could not start never passes silently.
 */
export function describeOnTestbed(title: string, body: (env: TestbedEnv) => void): void {
  const { env, reason } = loadTestbed();
  if (env) {
    describe(title, () => {
      // The test bed's egress guard drops (and counts) every packet from 198.18.0.0/15 to
      // anywhere else: the count must not grow while this file's tests run.
      let dropsBefore = -1;
      beforeAll(() => void (dropsBefore = egressDrops()));
      body(env);
      test("no packet left for an address outside 127.0.0.0/8 and 198.18.0.0/15 (egress guard count unchanged)", () => {
        expect(dropsBefore).toBeGreaterThanOrEqual(0);
        expect(egressDrops()).toBe(dropsBefore);
      });
    });
    return;
  }
  if (process.env.E2E_REQUIRED === "1") {
    describe(title, () =>
      test("the test bed is up (E2E_REQUIRED=1)", () => {
        throw new Error(`test bed unavailable: ${reason}`);
      }),
    );
    return;
  }
  process.stdout.write(`${title}: skipped: ${reason}\n`);
  describe.skip(title, () => test("skipped", () => undefined));
}

/** The generated test stack's raw tenant (a fresh copy to mutate). */
export function e2eTenant(env: TestbedEnv): Record<string, any> {
  return readStackTenant(env.STACK_FILE) as Record<string, any>;
}

/**
 * Pulumi config for the harness: the tenant plus the test bed's SSH key as a secret, and the
 * operator's approval of the network plan diff against the last applied plan (what an operator
 * sets after reading the preview; tests/unit/approval.test.ts and the approval e2e test cover
 * the refusals).
 */
export function harnessConfig(
  env: TestbedEnv,
  tenant: unknown,
): {
  config: Record<string, string>;
  secretKeys: string[];
  configFor: (previous: Record<string, unknown>) => Record<string, string>;
} {
  return {
    config: {
      "incus-tenant:tenant": JSON.stringify(tenant),
      "incus-tenant:sshPrivateKey": fs.readFileSync(env.SSH_KEY, "utf8"),
    },
    secretKeys: ["incus-tenant:sshPrivateKey"],
    configFor: (previous) => approvalFor(tenant, previous),
  };
}

/** `incus-tenant:approveNetworkPlan` for applying `tenant` after the plan in `previous` outputs. */
export function approvalFor(tenant: unknown, previous: Record<string, unknown>): Record<string, string> {
  let hash = "";
  try {
    hash = diffNetworkPlans(asNetworkPlan(previous.networkPlan), networkPlan(parseTenant(tenant))).hash;
  } catch {
    return {}; // an invalid tenant fails in the program, naming the field
  }
  return hash === "" ? {} : { "incus-tenant:approveNetworkPlan": hash };
}

/** Runs a command on the host (this machine) and returns stdout; throws with stderr on failure. */
export function host(cmd: string, args: string[] = []): string {
  return execFileSync(cmd, args, { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
}

/** Runs a shell line inside the client namespace ("outside" the host). */
export function client(env: TestbedEnv, line: string): { status: number; stdout: string; stderr: string } {
  const r = spawnSync("ip", ["netns", "exec", env.NETNS, "bash", "-c", line], {
    encoding: "utf8",
    timeout: 30000,
  });
  return { status: r.status ?? -1, stdout: r.stdout ?? "", stderr: r.stderr ?? "" };
}

/** A fresh temp state file path for the harness. */
export function tempState(label: string): string {
  return path.join(fs.mkdtempSync(path.join(os.tmpdir(), `itn-e2e-${label}-`)), "state.json");
}

/** Incus' view of one container, reduced to what the program manages. */
export interface ContainerView {
  name: string;
  status: string;
  ipv4: string[];
  privileged: string;
  protect: string;
  proxyDevices: string[];
  snapshots: string[];
}

/** `incus list --format json`, reduced and sorted. */
export function containers(): ContainerView[] {
  const list = JSON.parse(host("incus", ["list", "--format", "json"])) as any[];
  return list
    .map((c) => ({
      name: c.name as string,
      status: c.status as string,
      ipv4: ((c.state?.network?.eth0?.addresses ?? []) as any[])
        .filter((a) => a.family === "inet")
        .map((a) => a.address as string),
      privileged: (c.config?.["security.privileged"] ?? "false") as string,
      protect: (c.config?.["security.protection.delete"] ?? "false") as string,
      proxyDevices: Object.entries((c.expanded_devices ?? {}) as Record<string, any>)
        .filter(([, d]) => d.type === "proxy")
        .map(([n]) => n),
      snapshots: ((c.snapshots ?? []) as any[]).map((s) => s.name as string).sort(),
    }))
    .sort((a, b) => a.name.localeCompare(b.name));
}

/** iptables-save of a table: rule and chain lines only (no counters, no comments). */
export function iptables(table: "nat" | "filter"): string[] {
  return host("iptables-save", ["-t", table])
    .split("\n")
    .filter((l) => l.startsWith("-A ") || l.startsWith(":"))
    .map((l) => l.replace(/ \[\d+:\d+\]$/, ""));
}

/** Rules of ours (tagged or in our chains). */
export function ourRules(): string[] {
  return [...iptables("nat"), ...iptables("filter")]
    .filter((l) => l.startsWith("-A ") && (l.includes("incus-tenant:") || l.includes(" ITN-")))
    .sort();
}
