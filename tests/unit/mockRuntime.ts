/**
 * Runs the real index.ts under Pulumi's mock runtime (the Pulumi engine cannot be installed
 * here) and records every resource registration with its inputs.
 */
import type { MockResourceArgs } from "@pulumi/pulumi/runtime";
import * as path from "path";
import { ROOT } from "./fixtures";
import { parseTenant } from "../../model";
import { diffNetworkPlans, networkPlan } from "../../approval/networkPlan";

export interface MockRun {
  resources: MockResourceArgs[];
  exports: Record<string, unknown>;
  error?: Error;
}

/** Unwraps Pulumi secret markers so inputs can be compared. */
export function unwrapSecrets(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(unwrapSecrets);
  if (v !== null && typeof v === "object") {
    const o = v as Record<string, unknown>;
    if (o["4dabf18193072939515e22adb298388d"] === "1b47061264138c4ac30d75fd1eb44270")
      return unwrapSecrets(o.value);
    return Object.fromEntries(Object.entries(o).map(([k, x]) => [k, unwrapSecrets(x)]));
  }
  return v;
}

/** Secret config the stacks' Vault sections refer to (`fromConfig`), with recognisable fake values. */
export const TEST_SECRETS: Readonly<Record<string, string>> = {
  llmApiKey: "TEST-LLM-KEY-NOT-REAL",
  llmOpenaiKey: "TEST-OPENAI-KEY-NOT-REAL",
  llmAnthropicKey: "TEST-ANTHROPIC-KEY-NOT-REAL",
  directoryClientSecret: "TEST-DIRECTORY-SECRET-NOT-REAL",
  almToken: "TEST-ALM-TOKEN-NOT-REAL",
  observabilityToken: "TEST-OBSERVABILITY-TOKEN-NOT-REAL",
};

/** The mock's RandomPassword result for a resource name (recognisable in leak checks). */
export function fakeGenerated(name: string): string {
  return `GENERATED-${name}-NOT-REAL`;
}

/** The approval hash of a first apply of `tenant` (everything new), or undefined if it is invalid. */
export function firstApplyApproval(tenant: unknown): string | undefined {
  try {
    return diffNetworkPlans({}, networkPlan(parseTenant(tenant))).hash;
  } catch {
    return undefined;
  }
}

export async function runIndex(
  tenant: unknown,
  stack: string,
  privateKey = "-----BEGIN OPENSSH PRIVATE KEY-----\nTEST-KEY-NOT-REAL\n-----END OPENSSH PRIVATE KEY-----",
  secrets: Readonly<Record<string, string>> = TEST_SECRETS,
  approve: string | undefined = firstApplyApproval(tenant),
): Promise<MockRun> {
  const resources: MockResourceArgs[] = [];
  let pulumi: typeof import("@pulumi/pulumi") | undefined;
  let mod: Record<string, unknown> = {};
  let error: Error | undefined;
  let ready: Promise<void> = Promise.resolve();
  jest.isolateModules(() => {
    // eslint-disable-next-line @typescript-eslint/no-require-imports -- fresh runtime per run (isolateModules)
    pulumi = require("@pulumi/pulumi") as typeof import("@pulumi/pulumi");
    const secretConfig = Object.fromEntries(
      Object.entries(secrets).map(([k, v]) => [`incus-tenant:${k}`, v]),
    );
    if (approve !== undefined) secretConfig["incus-tenant:approveNetworkPlan"] = approve;
    pulumi.runtime.setAllConfig(
      {
        "incus-tenant:tenant": JSON.stringify(tenant),
        "incus-tenant:sshPrivateKey": privateKey,
        ...secretConfig,
      },
      [
        "incus-tenant:sshPrivateKey",
        ...Object.keys(secretConfig).filter((k) => !k.endsWith(":approveNetworkPlan")),
      ],
    );
    ready = pulumi.runtime.setMocks(
      {
        newResource: (a: MockResourceArgs) => {
          resources.push(a);
          const generated =
            a.type === "random:index/randomPassword:RandomPassword"
              ? { result: fakeGenerated(a.name) }
              : a.type === "pulumi:pulumi:StackReference"
                ? { outputs: {} }
                : {};
          return { id: `${a.name}-id`, state: { ...a.inputs, ...generated } };
        },
        call: (a) => a.inputs,
      },
      "incus-tenant",
      stack,
      false,
      "organization",
    );
  });
  await ready;
  jest.isolateModules(() => {
    try {
      // eslint-disable-next-line @typescript-eslint/no-require-imports -- program loads after setMocks
      mod = require(path.join(ROOT, "index.ts")) as Record<string, unknown>;
    } catch (e) {
      error = e as Error;
    }
  });
  const p = pulumi as unknown as typeof import("@pulumi/pulumi");
  const exports: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(mod)) {
    exports[k] = await new Promise((resolve) =>
      (p.output(v) as import("@pulumi/pulumi").Output<unknown>).apply(resolve),
    );
  }
  // A failed registration (e.g. the network approval gate) surfaces when the runtime drains.
  await p.runtime.disconnect().catch((e: Error) => {
    error = error ?? e;
  });
  return { resources, exports, error };
}
