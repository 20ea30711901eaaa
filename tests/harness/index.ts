/**
 * The end-to-end harness: a small test double of the Pulumi engine for @pulumi/command 1.2.x
 * (see ARCHITECTURE.md §6). Unit-tested in tests/unit/harness.test.ts.
 */
export { runProgram } from "./engine";
export type { CommandRun, RunOptions, RunResult } from "./engine";
export { ExecutorError, LocalExecutor, SshExecutor } from "./executors";
export type { Connection, ExecResult, Executor } from "./executors";
export { StateFile } from "./state";
export type { StateEntry } from "./state";
