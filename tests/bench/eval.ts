/**
 * `npm run bench:eval` (issue 14, Deliver 4): the cost of ONE evaluation of the real program
 * (index.ts, its Tenant and every component) under Pulumi's mock runtime, per registered
 * resource, for a prod-shaped tenant of 15 containers (Pulumi.prod.yaml as it is) and one of
 * 1,000 (the same plus 985 containers, each with a vhost and an A record in the zone). Each size
 * is evaluated once to warm up, then several times, the two sizes taking turns so both see the
 * same machine. An evaluation's cost is the CPU time of this process (user + system, from
 * process.cpuUsage), which other processes on a shared machine disturb far less than the wall
 * time (also printed on stderr); the least disturbed run (the minimum) counts. Prints ONE JSON
 * line on stdout:
 *   {"small":15,"large":1000,"smallMsPerResource","largeMsPerResource","ratio"}
 * with ratio = largeMsPerResource / smallMsPerResource (goal: ≤ 1.2, i.e. linear). A benchmark,
 * not a test: nothing asserts a time.
 *
 * `--parse N` times parseTenant alone (validation and derivation, no Pulumi) on a tenant of N
 * containers and prints {"containers":N,"parseMs":...} instead: the zone checks' old records scan
 * per vhost made it quadratic (2.3 s at 8,000 containers).
 */
import * as path from "path";
import type { MockResourceArgs } from "@pulumi/pulumi/runtime";
import * as pulumi from "@pulumi/pulumi";
import { readStackTenant } from "../../model/stackfile";
import { parseTenant } from "../../model";
import { diffNetworkPlans, networkPlan } from "../../approval/networkPlan";
import { fakeGenerated, TEST_SECRETS } from "../unit/mockRuntime";

// stdout carries exactly one JSON line: Pulumi's log (console.log under mocks) goes to stderr.
console.log = (...args: unknown[]) => void process.stderr.write(`${args.map(String).join(" ")}\n`);

const ROOT = path.resolve(__dirname, "../..");
const INDEX = path.join(ROOT, "index.ts");
const STACK = "prod";
const SMALL = 15;
const LARGE = 1000;
/** Timed runs of each size (after one warm-up each); the small ones are repeated within a turn. */
const RUNS = 4;
const SMALL_PER_TURN = 3;
const KEY = "-----BEGIN OPENSSH PRIVATE KEY-----\nBENCH-KEY-NOT-REAL\n-----END OPENSSH PRIVATE KEY-----";

/** A raw stack tenant (YAML as parsed). */
type Raw = Record<string, any>;

/**
 * The prod stack's tenant grown to `containers` containers: each added one (`b00001`, ...) gets an
 * address in a /16 around the prod subnet, a port, a vhost to it and that vhost's A record.
 */
export function benchTenant(containers: number): Raw {
  const t = JSON.parse(JSON.stringify(readStackTenant(path.join(ROOT, "Pulumi.prod.yaml")))) as Raw;
  const have = Object.keys(t.containers as Raw).length;
  if (containers < have) throw new Error(`the prod stack already has ${have} containers`);
  t.network.subnet = "10.0.0.0/16";
  const zone = Object.keys(t.dns.zones as Raw)[0];
  const publicIp = (t.dns.zones[zone].records as Raw[]).find((r) => r.type === "A")!.value as string;
  for (let i = 1; i <= containers - have; i++) {
    const name = `b${String(i).padStart(5, "0")}`;
    t.containers[name] = { ipv4: `10.0.${16 + Math.floor(i / 250)}.${1 + (i % 250)}`, ports: [8080] };
    t.vhosts[name] = { upstream: { container: name, port: 8080 } };
    t.dns.zones[zone].records.push({ name, type: "A", value: publicIp });
  }
  return t;
}

/** Median of the numbers. */
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
/** CPU milliseconds (user + system) of this process since `from`. */
const cpuMs = (from: NodeJS.CpuUsage): number => {
  const d = process.cpuUsage(from);
  return (d.user + d.system) / 1000;
};

/**
 * One evaluation of index.ts for `tenant` under fresh mocks: the time from loading the program
 * (its imports are already loaded: only index.ts itself is evaluated again) until every output
 * resolved and the runtime drained, and the number of resources registered.
 */
async function evaluate(
  tenant: Raw,
  approve: string,
): Promise<{ ms: number; cpu: number; resources: number }> {
  let resources = 0;
  const secrets = Object.fromEntries(Object.entries(TEST_SECRETS).map(([k, v]) => [`incus-tenant:${k}`, v]));
  pulumi.runtime.setAllConfig(
    {
      "incus-tenant:tenant": JSON.stringify(tenant),
      "incus-tenant:sshPrivateKey": KEY,
      "incus-tenant:approveNetworkPlan": approve,
      ...secrets,
    },
    ["incus-tenant:sshPrivateKey", ...Object.keys(secrets)],
  );
  await pulumi.runtime.setMocks(
    {
      newResource: (a: MockResourceArgs) => {
        resources++;
        const extra =
          a.type === "random:index/randomPassword:RandomPassword"
            ? { result: fakeGenerated(a.name) }
            : a.type === "pulumi:pulumi:StackReference"
              ? { outputs: {} }
              : {};
        return { id: `${a.name}-id`, state: { ...a.inputs, ...extra } };
      },
      call: (a) => a.inputs,
    },
    "incus-tenant",
    STACK,
    false,
    "organization",
  );
  delete require.cache[require.resolve(INDEX)];
  const start = process.hrtime.bigint();
  const cpu = process.cpuUsage();
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- the program loads after setMocks
  const mod = require(INDEX) as Record<string, unknown>;
  await Promise.all(
    Object.values(mod).map(
      (v) => new Promise((resolve) => void (pulumi.output(v) as pulumi.Output<unknown>).apply(resolve)),
    ),
  );
  await pulumi.runtime.disconnect();
  return { ms: Number(process.hrtime.bigint() - start) / 1e6, cpu: cpuMs(cpu), resources };
}

/** One size of the benchmark: its tenant, approval, and the CPU ms per resource of each timed run. */
interface Size {
  containers: number;
  tenant: Raw;
  approve: string;
  per: number[];
}

const sizeOf = (containers: number): Size => {
  const tenant = benchTenant(containers);
  const approve = diffNetworkPlans({}, networkPlan(parseTenant(tenant, { stack: STACK }))).hash;
  return { containers, tenant, approve, per: [] };
};

/** One evaluation of `size` (run 0 is the warm-up, not counted), with a progress line on stderr. */
async function once(size: Size, run: number): Promise<void> {
  const { ms, cpu, resources } = await evaluate(size.tenant, size.approve);
  process.stderr.write(
    `${size.containers} containers, run ${run === 0 ? "warm-up" : run}: ${resources} resources, ` +
      `${ms.toFixed(0)} ms wall, ${cpu.toFixed(0)} ms CPU\n`,
  );
  if (run > 0) size.per.push(cpu / resources);
}

/** Median ms of parseTenant alone over 3 runs (after one warm-up). */
function parseMs(containers: number): number {
  const tenant = benchTenant(containers);
  const ms: number[] = [];
  for (let i = 0; i <= 3; i++) {
    const start = process.hrtime.bigint();
    parseTenant(tenant, { stack: STACK });
    if (i > 0) ms.push(Number(process.hrtime.bigint() - start) / 1e6);
  }
  return median(ms);
}

async function main(): Promise<void> {
  const at = process.argv.indexOf("--parse");
  if (at >= 0) {
    const n = Number(process.argv[at + 1]);
    process.stdout.write(`${JSON.stringify({ containers: n, parseMs: Math.round(parseMs(n)) })}\n`);
    return;
  }
  const small = sizeOf(SMALL);
  const large = sizeOf(LARGE);
  for (let run = 0; run <= RUNS; run++) {
    for (let i = 0; i < (run === 0 ? 1 : SMALL_PER_TURN); i++) await once(small, run);
    await once(large, run);
  }
  const [s, l] = [Math.min(...small.per), Math.min(...large.per)];
  const round = (x: number): number => Math.round(x * 1000) / 1000;
  process.stdout.write(
    `${JSON.stringify({
      small: SMALL,
      large: LARGE,
      smallMsPerResource: round(s),
      largeMsPerResource: round(l),
      ratio: round(l / s),
    })}\n`,
  );
}

if (require.main === module)
  main().catch((e: unknown) => {
    process.stderr.write(`bench:eval failed: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
    process.exit(1);
  });
