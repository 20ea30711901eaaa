/**
 * A test double of the Pulumi engine for @pulumi/command 1.2.x (ARCHITECTURE.md §3, §6): runs
 * a real Pulumi program under `pulumi.runtime.setMocks`, and for every `command:remote:Command`
 * decides from the state file what the provider would run (create, update ?? create,
 * replace, delete of removed resources) and runs it through an Executor.
 */
import { AsyncLocalStorage } from "async_hooks";
import type { MockResourceArgs, MockResourceResult } from "@pulumi/pulumi/runtime";
import { Connection, ExecResult, Executor, SshExecutor } from "./executors";
import { deepEqual, Json, normalize, OldInstance, randomValue, secretMarker, StateFile } from "./state";

/** One executed command. */
export interface CommandRun {
  urn: string;
  /** Resource name (last part of the URN). */
  name: string;
  op: "create" | "update" | "delete";
  /** Why it ran: "new", "inputs changed: create", "triggers changed", "removed from program", "destroy", ... */
  reason: string;
  exitCode: number;
  ms: number;
}

/** What a run did. */
export interface RunResult {
  /** Executed commands, in start order. */
  ran: CommandRun[];
  /** The program's resolved exports (empty on destroy). */
  outputs: Record<string, unknown>;
  /** The first error (failed command, ssh failure, program error). */
  error?: Error;
}

/** Options of {@link runProgram}. */
export interface RunOptions {
  /** Path of the program module (e.g. index.ts), loaded with require under jest.isolateModules. */
  programPath: string;
  /** Full config keys ("project:key") to values. */
  config: Record<string, string>;
  /** Config keys that are secrets. */
  secretKeys?: string[];
  /** JSON state file (created when missing). */
  stateFile: string;
  /** Default: a new SshExecutor. */
  executor?: Executor;
  /** Default "incus-tenant". */
  project?: string;
  stack: string;
  /** Do not run the program; delete everything in state. */
  destroy?: boolean;
  /** Called with one line per command start and finish (never with secrets). */
  log?: (line: string) => void;
  /**
   * Extra config computed from the stack outputs of the last successful run (what the operator
   * sets after reviewing a preview, e.g. the network plan approval). Explicit `config` wins.
   */
  configFor?: (previousOutputs: Record<string, unknown>) => Record<string, string>;
}

const COMMAND = "command:remote:Command";
const PASSWORD = "random:index/randomPassword:RandomPassword";
/** A StackReference reads the outputs of the referenced stack: here, this stack's last run. */
const STACK_REFERENCE = "pulumi:pulumi:StackReference";
const RANDOM_STRING = "random:index/randomString:RandomString";

/** What the wrapped monitor knows about a registration and the mock API does not pass on. */
interface Registration {
  urn: string;
  deleteBeforeReplace: boolean;
  deps: string[];
}

/** The subset of the registerResource request (resource_pb.RegisterResourceRequest) read here. */
interface RegisterRequest {
  getType(): string;
  getName(): string;
  getParent(): string;
  getDeletebeforereplace(): boolean;
  getDependenciesList(): string[];
}

/** The MockMonitor members used here (`newUrn` is private in its typings). */
interface MockMonitorLike {
  newUrn(parent: string, type: string, name: string): string;
  registerResource(req: RegisterRequest, callback: (err: unknown, resp: unknown) => void): Promise<void>;
}

const str = (v: Json | undefined): string | undefined => (typeof v === "string" ? v : undefined);

/** Applies one program run (or a destroy) against the state, recording what ran. */
class Deployment {
  readonly ran: CommandRun[] = [];
  readonly registered = new Set<string>();
  error?: Error;

  constructor(
    private readonly state: StateFile,
    private readonly executor: Executor,
    private readonly log: (line: string) => void,
  ) {}

  /** Keeps the first error. */
  fail(e: unknown): void {
    this.error ??= e instanceof Error ? e : new Error(String(e));
  }

  /** Runs `script` of resource `urn` with the connection and stdin of `inputs`; throws unless it exits 0. */
  private async exec(
    urn: string,
    op: CommandRun["op"],
    reason: string,
    script: string,
    inputs: Record<string, Json>,
  ): Promise<ExecResult> {
    const name = urn.split("::").pop() ?? urn;
    const c = (inputs.connection ?? {}) as Record<string, Json>;
    const conn: Connection = {
      host: str(c.host) ?? "",
      port: typeof c.port === "number" ? c.port : 22,
      user: str(c.user) ?? "root",
      privateKey: str(c.privateKey) ?? "",
    };
    if (str(c.hostKey)) conn.hostKey = str(c.hostKey);
    this.log(`${op} ${name} started (${reason})`);
    const t0 = Date.now();
    const record = (exitCode: number): number => {
      const ms = Date.now() - t0;
      this.ran.push({ urn, name, op, reason, exitCode, ms });
      this.log(`${op} ${name} ${exitCode === 0 ? "ok" : "failed"} (exit ${exitCode}, ${ms} ms)`);
      return ms;
    };
    let r: ExecResult;
    try {
      r = await this.executor.run(conn, script, str(inputs.stdin));
    } catch (e) {
      const code = (e as { exitCode?: unknown }).exitCode;
      record(typeof code === "number" ? code : -1);
      throw new Error(`${op} ${name} failed: ${(e as Error).message}`);
    }
    record(r.exitCode);
    if (r.exitCode !== 0)
      throw new Error(
        `${op} ${name} failed: Process exited with status ${r.exitCode}\nstderr: ${r.stderr.trim()}`,
      );
    return r;
  }

  /** Runs the delete of an old instance (nothing when it has no `delete`). */
  private async deleteInstance(urn: string, old: OldInstance, reason: string): Promise<void> {
    const script = str(old.inputs.delete);
    if (script) await this.exec(urn, "delete", reason, script, old.inputs);
  }

  /** The provider's behaviour for one registered remote.Command; returns its outputs. */
  async command(reg: Registration, raw: Record<string, unknown>): Promise<Record<string, unknown>> {
    const { urn } = reg;
    const inputs = normalize(raw);
    const result = (stdout: Json | undefined, stderr: Json | undefined) => ({
      ...raw,
      stdout: stdout ?? "",
      stderr: stderr ?? "",
    });
    const store = (
      r: { stdout: Json | undefined; stderr: Json | undefined },
      order: number,
      pendingDelete?: OldInstance,
    ) =>
      this.state.set(urn, {
        type: COMMAND,
        inputs,
        outputs: { ...inputs, stdout: r.stdout ?? "", stderr: r.stderr ?? "" },
        order,
        deps: reg.deps,
        ...(pendingDelete ? { pendingDelete } : {}),
      });
    const guard = () => {
      if (this.error)
        throw new Error(`not run: an earlier step failed (${this.error.message.split("\n")[0]})`);
    };
    const create = async (reason: string) => {
      const script = str(inputs.create);
      if (!script) return { stdout: "", stderr: "" };
      guard();
      return this.exec(urn, "create", reason, script, inputs);
    };

    let prev = this.state.get(urn);
    if (prev?.pendingDelete) {
      guard();
      await this.deleteInstance(urn, prev.pendingDelete, "replaced: delete old");
      const { pendingDelete: _done, ...rest } = prev;
      this.state.set(urn, rest);
      prev = rest;
    }
    if (!prev) {
      const r = await create("new");
      store(r, this.state.nextOrder());
      return result(r.stdout, r.stderr);
    }
    if (deepEqual(prev.inputs, inputs)) {
      if (!deepEqual(prev.deps, reg.deps)) this.state.set(urn, { ...prev, deps: reg.deps });
      return result(prev.outputs.stdout, prev.outputs.stderr);
    }
    if (!deepEqual(prev.inputs.triggers, inputs.triggers)) {
      if (reg.deleteBeforeReplace) {
        guard();
        await this.deleteInstance(urn, prev, "triggers changed: delete before replace");
        this.state.remove(urn);
        const r = await create("triggers changed");
        store(r, this.state.nextOrder());
        return result(r.stdout, r.stderr);
      }
      const r = await create("triggers changed");
      const old: OldInstance = { inputs: prev.inputs, outputs: prev.outputs };
      store(r, this.state.nextOrder(), old);
      await this.deleteInstance(urn, old, "triggers changed: delete old");
      store(r, this.state.get(urn)?.order ?? this.state.nextOrder());
      return result(r.stdout, r.stderr);
    }
    const update = str(inputs.update);
    const script = update ?? str(inputs.create);
    const op = update !== undefined ? "update" : "create";
    let r: { stdout: Json | undefined; stderr: Json | undefined } = {
      stdout: prev.outputs.stdout,
      stderr: prev.outputs.stderr,
    };
    if (script) {
      guard();
      r = await this.exec(urn, op, `inputs changed: ${op}`, script, inputs);
    }
    store(r, prev.order);
    return result(r.stdout, r.stderr);
  }

  /** RandomPassword / RandomString: a value kept while the inputs (keepers included) are unchanged. */
  random(reg: Registration, type: string, raw: Record<string, unknown>): Record<string, unknown> {
    const inputs = normalize(raw);
    const prev = this.state.get(reg.urn);
    const kept =
      prev !== undefined && prev.type === type && deepEqual(prev.inputs, inputs)
        ? str(prev.outputs.result)
        : undefined;
    const value = kept ?? randomValue(inputs);
    if (kept === undefined || !deepEqual(prev?.deps, reg.deps)) {
      this.state.set(reg.urn, {
        type,
        inputs,
        outputs: { ...inputs, result: value },
        order: kept ? (prev?.order ?? 0) : this.state.nextOrder(),
        deps: reg.deps,
      });
    }
    return { ...raw, result: type === PASSWORD ? secretMarker(value) : value };
  }

  /** Deletes `urns` (reverse creation order, dependents first); stops at the first failure. */
  async deleteAll(urns: string[], reason: string): Promise<void> {
    for (const urn of this.state.deletionOrder(urns)) {
      const entry = this.state.get(urn);
      if (!entry) continue;
      try {
        if (entry.pendingDelete) await this.deleteInstance(urn, entry.pendingDelete, reason);
        if (entry.type === COMMAND) await this.deleteInstance(urn, entry, reason);
      } catch (e) {
        this.fail(e);
        return;
      }
      this.state.remove(urn);
    }
  }
}

/**
 * Runs `programPath` (or, with `destroy`, only the deletes) against `stateFile`, executing
 * remote.Command scripts through `executor`. Never throws for a failed command: see `error`.
 */
export async function runProgram(o: RunOptions): Promise<RunResult> {
  const state = new StateFile(o.stateFile);
  const d = new Deployment(state, o.executor ?? new SshExecutor(), o.log ?? (() => undefined));
  if (o.destroy) {
    await d.deleteAll(state.urns(), "destroy");
    if (!d.error) state.setOutputs({});
    return { ran: d.ran, outputs: {}, ...(d.error ? { error: d.error } : {}) };
  }
  const als = new AsyncLocalStorage<Registration>();
  const exitListeners = new Set(process.listeners("exit"));
  let pulumi: typeof import("@pulumi/pulumi") | undefined;
  let ready: Promise<void> = Promise.resolve();
  jest.isolateModules(() => {
    // eslint-disable-next-line @typescript-eslint/no-require-imports -- fresh runtime per run (isolateModules)
    pulumi = require("@pulumi/pulumi") as typeof import("@pulumi/pulumi");
    pulumi.runtime.setAllConfig(
      { ...(o.configFor ? o.configFor(state.outputs()) : {}), ...o.config },
      o.secretKeys ?? [],
    );
    const newResource = async (a: MockResourceArgs): Promise<MockResourceResult> => {
      const reg = als.getStore() ?? { urn: `${a.type}::${a.name}`, deleteBeforeReplace: false, deps: [] };
      d.registered.add(reg.urn);
      const inputs = (a.inputs ?? {}) as Record<string, unknown>;
      try {
        if (a.type === COMMAND) return { id: `${a.name}-id`, state: await d.command(reg, inputs) };
        if (a.type === PASSWORD || a.type === RANDOM_STRING)
          return { id: `${a.name}-id`, state: d.random(reg, a.type, inputs) };
        if (a.type === STACK_REFERENCE)
          return {
            id: `${a.name}-id`,
            state: { ...inputs, outputs: state.outputs(), secretOutputNames: [] },
          };
        return { id: `${a.name}-id`, state: inputs };
      } catch (e) {
        // Like the engine, stop at the first failure, but without failing the registration:
        // rejected registrations surface as unhandled rejections and can stall the runtime.
        // Later commands see `d.error` and are skipped (neither run nor stored).
        d.fail(e);
        return { id: `${a.name}-id`, state: { ...inputs, stdout: "", stderr: "" } };
      }
    };
    ready = pulumi.runtime.setMocks(
      { newResource, call: (a) => a.inputs },
      o.project ?? "incus-tenant",
      o.stack,
      false,
      "organization",
    );
    // eslint-disable-next-line @typescript-eslint/no-require-imports -- this isolated runtime's settings
    const settings = require("@pulumi/pulumi/runtime/settings") as { getMonitor(): unknown };
    const monitor = settings.getMonitor() as MockMonitorLike;
    const register = monitor.registerResource.bind(monitor);
    monitor.registerResource = (req, callback) =>
      als.run(
        {
          urn: monitor.newUrn(req.getParent(), req.getType(), req.getName()),
          deleteBeforeReplace: req.getDeletebeforereplace(),
          deps: req.getDependenciesList(),
        },
        () => register(req, callback),
      );
  });
  await ready;
  let mod: Record<string, unknown> = {};
  jest.isolateModules(() => {
    try {
      // eslint-disable-next-line @typescript-eslint/no-require-imports -- program loads after setMocks
      mod = require(o.programPath) as Record<string, unknown>;
    } catch (e) {
      d.fail(e);
    }
  });
  const p = pulumi as typeof import("@pulumi/pulumi");
  const outputs: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(mod)) {
    try {
      outputs[k] = await (p.output(v) as unknown as { promise(): Promise<unknown> }).promise();
    } catch (e) {
      d.fail(e);
    }
  }
  // A failed registration (e.g. the network approval gate) surfaces when the runtime drains.
  await p.runtime.disconnect().catch((e: unknown) => d.fail(e));
  // Each isolated copy of the runtime adds a promise-leak reporter on exit: drop this run's.
  for (const l of process.listeners("exit")) if (!exitListeners.has(l)) process.removeListener("exit", l);
  if (!d.error)
    await d.deleteAll(
      state.urns().filter((u) => !d.registered.has(u)),
      "removed from program",
    );
  if (!d.error) state.setOutputs(JSON.parse(JSON.stringify(outputs)) as Record<string, unknown>);
  return { ran: d.ran, outputs, ...(d.error ? { error: d.error } : {}) };
}
