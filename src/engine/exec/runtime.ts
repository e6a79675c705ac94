import type { TSchema } from 'typebox';
import type { JobIO } from '../jobIO.ts';

/**
 * What the `exec` analysis needs from the process it runs in: the registered functions and a way to run
 * one run of a function or of sandboxed code. The engine only knows this interface; src/exec implements
 * it with helper processes (registered functions in a plugin host, sandboxed code in isolated-vm), so a
 * run that hangs, crashes or exhausts memory costs its own result, never the worker.
 */
export interface ExecRuntime {
  readonly limits: ExecLimits;
  /** A registered function's name and argument schema; undefined when no plugin registers `name`. */
  functionInfo(name: string): RegisteredFunctionInfo | undefined;
  /** Every registered function's name, for "did you mean" and error details. */
  functionNames(): string[];
  runFunction(request: FunctionRunRequest, io: JobIO): Promise<RunOutcome>;
  runCode(request: CodeRunRequest): Promise<RunOutcome>;
}

export interface ExecLimits {
  /** Most runs one job may ask for (EXEC_MAX_RUNS). */
  maxRuns: number;
  /** Longest timeoutMs of a run, and its default (EXEC_MAX_TIMEOUT_MS). */
  maxTimeoutMs: number;
  /** Largest JSON value of one run (EXEC_MAX_RESULT_BYTES). */
  maxResultBytes: number;
  /** Largest total of a job's run values (EXEC_MAX_JOB_RESULT_BYTES). */
  maxJobResultBytes: number;
}

export interface RegisteredFunctionInfo {
  name: string;
  argsSchema: TSchema;
  description?: string;
}

/** rxExecBy's partitions: one run per chunk of the job's dataset, or per level of a factor. */
export type ExecPartition =
  | { kind: 'chunk'; chunk: number }
  | { kind: 'level'; variable: string; level: string };

interface RunRequestBase {
  /** 0-based run number; with the seed it fixes the run's random stream. */
  runIndex: number;
  seed: number;
  /** The run's arguments: its elemArgs entry merged over the shared args. */
  args: Record<string, unknown>;
  timeoutMs: number;
}

export interface FunctionRunRequest extends RunRequestBase {
  function: string;
  /** The job's dataset (rxExecBy), null when it has none. */
  dataset: string | null;
  partition: ExecPartition | null;
}

export interface CodeRunRequest extends RunRequestBase {
  code: string;
}

export interface RunError {
  /** RUN_FAILED, RUN_TIMEOUT, RUN_MEMORY_LIMIT, RESULT_TOO_LARGE, RESULT_NOT_JSON, ... */
  code: string;
  message: string;
}

/** One run's outcome; `bytes` is the length of the value's JSON text. */
export type RunOutcome = { ok: true; value: unknown; bytes: number } | { ok: false; error: RunError };
