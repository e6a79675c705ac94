import { type Static, type TSchema, Type } from 'typebox';
import { Value } from 'typebox/value';
import type { DatasetMeta } from '../../storage/datasetMeta.ts';
import { UserError } from '../../userError.ts';
import type { Analysis, InitContext, MapContext } from '../analysis.ts';
import { EngineError } from '../errors.ts';
import type { ExecPartition, ExecRuntime, RunError } from '../exec/runtime.ts';
import { suggestName } from '../formula/suggest.ts';
import { lookupVariable } from '../formula/variables.ts';
import { isNoDataset } from '../noDataset.ts';
import { checkParams } from '../params.ts';

/**
 * rxExec and rxExecBy: a user function run many times, spread over the workers, one result per run in
 * run order.
 *
 * - Runs: `elemArgs` (one object per run, merged over the shared `args`) or `timesToRun`; with a
 *   dataset, one run per chunk or, with `keys`, per level of a factor (rxExecBy).
 * - The function is a registered one (`function`, a plugin the operator installed) or sandboxed
 *   JavaScript from the request (`code`; the API allows it only where the operator enabled it).
 * - Runs are cut into tasks of `taskChunkSize` consecutive runs, one `partitions` round; the partials
 *   (each task's results) are concatenated in task order, so the result is in run order with any
 *   number of workers, and each run's random stream depends only on (seed, run index).
 * - A failed run yields `{ ok: false, error }` in its slot with `continueOnFailure` (RevoScaleR's
 *   default, TRUE); without it, the first failure fails the job with the run's error.
 */

/** The job runner's cap on tasks per round (jobs/taskPlan.ts MAX_TASKS_PER_ROUND). */
const MAX_TASKS = 512;

const ArgsSchema = Type.Record(Type.String(), Type.Unknown(), {
  description: 'Arguments every run gets (a JSON object).',
});

export const ExecParamsSchema = Type.Object(
  {
    function: Type.Optional(
      Type.String({
        minLength: 1,
        maxLength: 200,
        description: 'Name of a registered function (a plugin in EXEC_PLUGINS_DIR).',
      }),
    ),
    code: Type.Optional(
      Type.String({
        minLength: 1,
        maxLength: 200_000,
        description:
          'Sandboxed JavaScript: the source of a function expression, called as fn(args, ctx) per run; ctx has runIndex and random(). Needs EXEC_SANDBOX=1 and a tenant allowed to use it.',
      }),
    ),
    args: Type.Optional(ArgsSchema),
    elemArgs: Type.Optional(
      Type.Array(Type.Record(Type.String(), Type.Unknown()), {
        minItems: 1,
        description: 'One object per run, merged over args (rxElemArg).',
      }),
    ),
    timesToRun: Type.Optional(
      Type.Integer({
        minimum: -1,
        description: 'Number of runs; -1 (default) = one per elemArgs entry.',
      }),
    ),
    taskChunkSize: Type.Optional(
      Type.Integer({
        minimum: 1,
        description:
          'Runs per task (a worker takes a task at a time); default spreads the runs over up to 512 tasks.',
      }),
    ),
    continueOnFailure: Type.Optional(
      Type.Boolean({
        default: true,
        description: 'Keep going when a run fails (its slot holds the error); false fails the job.',
      }),
    ),
    seed: Type.Optional(
      Type.Integer({
        minimum: 0,
        maximum: 4294967295,
        description:
          "Seed of every run's random stream (ctx.random); the API picks and records one when absent.",
      }),
    ),
    timeoutMs: Type.Optional(
      Type.Integer({
        minimum: 1,
        description: 'Time limit of one run; default and cap EXEC_MAX_TIMEOUT_MS.',
      }),
    ),
    keys: Type.Optional(
      Type.Array(Type.String({ minLength: 1 }), {
        minItems: 1,
        maxItems: 1,
        description: 'rxExecBy: one run per level of this factor of the dataset (without: one per chunk).',
      }),
    ),
  },
  { additionalProperties: false },
);

export type ExecParams = Static<typeof ExecParamsSchema>;

const RunErrorSchema = Type.Object({ code: Type.String(), message: Type.String() });

export const ExecResultSchema = Type.Object({
  seed: Type.Integer(),
  numRuns: Type.Integer(),
  numFailed: Type.Integer(),
  results: Type.Array(
    Type.Object({
      ok: Type.Boolean(),
      value: Type.Optional(Type.Unknown({ description: "The run's return value (JSON), when ok." })),
      error: Type.Optional(RunErrorSchema),
      chunk: Type.Optional(Type.Integer({ description: 'rxExecBy per chunk: the chunk of this run.' })),
      keys: Type.Optional(
        Type.Record(Type.String(), Type.String(), {
          description: 'rxExecBy per level: the level of this run.',
        }),
      ),
    }),
    { description: 'One entry per run, in run order.' },
  ),
});

export type RunResult = ({ ok: true; value: unknown } | { ok: false; error: RunError }) & {
  chunk?: number;
  keys?: Record<string, string>;
};

export interface ExecResult {
  seed: number;
  numRuns: number;
  numFailed: number;
  results: RunResult[];
}

type Partitioning = { kind: 'chunk' } | { kind: 'level'; variable: string; levels: string[] };

export interface ExecState {
  function: string | null;
  code: string | null;
  args: Record<string, unknown>;
  elemArgs: Record<string, unknown>[] | null;
  numRuns: number;
  runsPerTask: number;
  numTasks: number;
  seed: number;
  timeoutMs: number;
  continueOnFailure: boolean;
  dataset: string | null;
  partitioning: Partitioning | null;
  maxJobResultBytes: number;
}

/** The results of a run of consecutive runs, and their values' JSON size. */
interface ExecPartial {
  results: RunResult[];
  bytes: number;
}

function runtimeOf(context: { exec?: ExecRuntime }): ExecRuntime {
  if (context.exec === undefined)
    throw new Error('exec needs an ExecRuntime in this process (workers and the API create one)');
  return context.exec;
}

function planRuns(
  params: ExecParams,
  meta: DatasetMeta,
): { numRuns: number; partitioning: Partitioning | null } {
  if (isNoDataset(meta)) {
    if (params.keys !== undefined)
      throw new EngineError('DATASET_REQUIRED', "keys partitions a dataset: name the job's dataset", 400);
    const fromElems = params.elemArgs?.length;
    const times = params.timesToRun ?? -1;
    if (fromElems === undefined && times === -1) {
      throw new EngineError(
        'NO_RUNS',
        'say how many runs: elemArgs (one object per run) or timesToRun (a count)',
        400,
      );
    }
    if (fromElems !== undefined && times !== -1 && times !== fromElems) {
      throw new EngineError(
        'RUNS_MISMATCH',
        `timesToRun is ${times} but elemArgs has ${fromElems} entries: they must agree (or leave timesToRun out)`,
        400,
      );
    }
    if (times === 0) throw new EngineError('NO_RUNS', 'timesToRun must be at least 1', 400);
    return { numRuns: fromElems ?? times, partitioning: null };
  }
  if (params.code !== undefined) {
    throw new EngineError(
      'SANDBOX_NO_DATA',
      'sandboxed code cannot read datasets: leave out the dataset, or use a registered function',
      400,
    );
  }
  if (params.elemArgs !== undefined || (params.timesToRun ?? -1) !== -1) {
    throw new EngineError(
      'RUNS_FROM_DATASET',
      'with a dataset there is one run per chunk (or per level of keys): leave out elemArgs and timesToRun',
      400,
    );
  }
  const key = params.keys?.[0];
  if (key === undefined) return { numRuns: meta.numChunks, partitioning: { kind: 'chunk' } };
  const variable = lookupVariable(meta, key);
  if (variable.type !== 'factor' || variable.levels === undefined) {
    throw new EngineError(
      'WRONG_VARIABLE_TYPE',
      `keys: '${key}' is ${variable.type}; rxExecBy partitions by a factor`,
      422,
      { variable: key },
    );
  }
  if (variable.levels.length === 0)
    throw new EngineError('NO_RUNS', `keys: factor '${key}' has no levels`, 422, { variable: key });
  return {
    numRuns: variable.levels.length,
    partitioning: { kind: 'level', variable: key, levels: variable.levels },
  };
}

/** The arguments of run `i`: its elemArgs entry merged over the shared args. */
function runArgs(state: Pick<ExecState, 'args' | 'elemArgs'>, i: number): Record<string, unknown> {
  const own = state.elemArgs?.[i];
  return own === undefined ? state.args : { ...state.args, ...own };
}

/** Checks every run's arguments against the function's schema; fields are named where the user wrote them. */
function checkArgs(
  name: string,
  schema: TSchema,
  state: Pick<ExecState, 'args' | 'elemArgs'>,
  numRuns: number,
): void {
  // Keyed by field and message: a fault in the shared args shows once, not once per run.
  const found = new Map<string, { field: string; message: string }>();
  const add = (field: string, message: string) => found.set(`${field}\u0000${message}`, { field, message });
  const runsToCheck = state.elemArgs === null ? 1 : numRuns;
  for (let i = 0; i < runsToCheck && found.size < 20; i++) {
    const args = runArgs(state, i);
    if (Value.Check(schema, args)) continue;
    const own = state.elemArgs?.[i];
    // Named where the user wrote the value: the run's elemArgs entry, else the shared args.
    const source = (key: string) =>
      own !== undefined && key !== '' && Object.hasOwn(own, key) ? `params/elemArgs/${i}` : 'params/args';
    for (const error of Value.Errors(schema, args)) {
      if (error.keyword === 'boolean') continue; // the echo of additionalProperties: false
      const extra = 'additionalProperties' in error.params ? error.params.additionalProperties : null;
      if (error.instancePath === '' && Array.isArray(extra)) {
        for (const key of extra) add(`${source(String(key))}/${key}`, `is not an argument of '${name}'`);
        continue;
      }
      const top = decodePointer(error.instancePath.split('/')[1] ?? '');
      add(`${source(top)}${error.instancePath}`, error.message);
    }
  }
  if (found.size === 0) return;
  const fields = [...found.values()].slice(0, 20);
  const summary = fields
    .slice(0, 3)
    .map((f) => `${f.field} ${f.message}`)
    .join('; ');
  throw new EngineError('INVALID_ARGS', `args do not fit function '${name}': ${summary}`, 400, { fields });
}

function decodePointer(token: string): string {
  return token.replace(/~1/g, '/').replace(/~0/g, '~');
}

function unknownFunction(name: string, runtime: ExecRuntime): EngineError {
  const known = runtime.functionNames();
  const suggestion = suggestName(name, known);
  const hint =
    suggestion !== undefined
      ? `; did you mean '${suggestion}'?`
      : known.length === 0
        ? '; this server has no registered functions (EXEC_PLUGINS_DIR)'
        : '';
  return new EngineError('UNKNOWN_FUNCTION', `no registered function '${name}'${hint}`, 400, {
    function: name,
    known,
    ...(suggestion === undefined ? {} : { suggestion }),
  });
}

function partitionOf(state: ExecState, i: number): ExecPartition | null {
  const p = state.partitioning;
  if (p === null) return null;
  if (p.kind === 'chunk') return { kind: 'chunk', chunk: i };
  return { kind: 'level', variable: p.variable, level: p.levels[i] ?? '' };
}

function labelled(state: ExecState, i: number, result: RunResult): RunResult {
  const p = state.partitioning;
  if (p === null) return result;
  if (p.kind === 'chunk') return { ...result, chunk: i };
  return { ...result, keys: { [p.variable]: p.levels[i] ?? '' } };
}

async function runOne(state: ExecState, i: number, context: MapContext) {
  const runtime = runtimeOf(context);
  const base = { runIndex: i, seed: state.seed, args: runArgs(state, i), timeoutMs: state.timeoutMs };
  if (state.code !== null) return runtime.runCode({ ...base, code: state.code });
  return runtime.runFunction(
    { ...base, function: state.function ?? '', dataset: state.dataset, partition: partitionOf(state, i) },
    context.io,
  );
}

export const exec: Analysis<ExecParams, ExecState, ExecPartial, ExecResult> = {
  name: 'exec',
  paramsSchema: ExecParamsSchema,
  resultSchema: ExecResultSchema,
  datasetOptional: true,

  init(params: ExecParams, meta: DatasetMeta, context: InitContext): ExecState {
    checkParams(ExecParamsSchema, params, 'exec');
    const runtime = runtimeOf(context);
    const { limits } = runtime;
    if ((params.function === undefined) === (params.code === undefined)) {
      throw new EngineError(
        'INVALID_PARAMS',
        "exec params: give either 'function' (a registered function) or 'code' (sandboxed JavaScript)",
        400,
      );
    }
    const { numRuns, partitioning } = planRuns(params, meta);
    if (numRuns > limits.maxRuns) {
      throw new EngineError(
        'TOO_MANY_RUNS',
        `${numRuns} runs asked for; this server allows ${limits.maxRuns} per job (EXEC_MAX_RUNS)`,
        400,
        { numRuns, maxRuns: limits.maxRuns },
      );
    }
    const timeoutMs = params.timeoutMs ?? limits.maxTimeoutMs;
    if (timeoutMs > limits.maxTimeoutMs) {
      throw new EngineError(
        'TIMEOUT_TOO_LONG',
        `timeoutMs ${timeoutMs} is above this server's limit of ${limits.maxTimeoutMs} ms per run (EXEC_MAX_TIMEOUT_MS)`,
        400,
        { maxTimeoutMs: limits.maxTimeoutMs },
      );
    }
    const state: ExecState = {
      function: params.function ?? null,
      code: params.code ?? null,
      args: params.args ?? {},
      elemArgs: params.elemArgs ?? null,
      numRuns,
      runsPerTask: 1,
      numTasks: 1,
      seed: params.seed ?? 0,
      timeoutMs,
      continueOnFailure: params.continueOnFailure ?? true,
      dataset: isNoDataset(meta) ? null : meta.id,
      partitioning,
      maxJobResultBytes: limits.maxJobResultBytes,
    };
    if (state.function !== null) {
      const info = runtime.functionInfo(state.function);
      if (info === undefined) throw unknownFunction(state.function, runtime);
      checkArgs(info.name, info.argsSchema, state, numRuns);
    }
    // Like blocksPerRead: taskChunkSize is honoured up to the runner's cap on tasks per round.
    state.runsPerTask = Math.max(params.taskChunkSize ?? 1, Math.ceil(numRuns / MAX_TASKS));
    state.numTasks = Math.ceil(numRuns / state.runsPerTask);
    return state;
  },

  columnsUsed: () => [],

  roundInput: (state) => ({ kind: 'partitions', count: state.numTasks }),

  map() {
    throw new Error('exec reads no chunks: its rounds are partitions');
  },

  async mapPartition(task: number, state: ExecState, context: MapContext): Promise<ExecPartial> {
    const first = task * state.runsPerTask;
    const last = Math.min(state.numRuns, first + state.runsPerTask);
    const results: RunResult[] = [];
    let bytes = 0;
    for (let i = first; i < last; i++) {
      if (i > first && context.stillRunning && !(await context.stillRunning())) {
        throw new UserError(409, 'JOB_ENDED', 'the job ended while its runs were going on');
      }
      const outcome = await runOne(state, i, context);
      if (!outcome.ok) {
        if (!state.continueOnFailure) {
          throw new EngineError(
            outcome.error.code,
            `run ${i} failed: ${outcome.error.message} (continueOnFailure is false, so the job stops)`,
            422,
            { runIndex: i },
          );
        }
        results.push(labelled(state, i, { ok: false, error: outcome.error }));
        continue;
      }
      bytes += outcome.bytes;
      if (bytes > state.maxJobResultBytes) throw resultTooLarge(state);
      results.push(labelled(state, i, { ok: true, value: outcome.value }));
    }
    return { results, bytes };
  },

  merge(a: ExecPartial, b: ExecPartial): ExecPartial {
    return { results: a.results.concat(b.results), bytes: a.bytes + b.bytes };
  },

  finalize(partial: ExecPartial, state: ExecState) {
    if (partial.bytes > state.maxJobResultBytes) throw resultTooLarge(state);
    if (partial.results.length !== state.numRuns)
      throw new Error(`exec: ${partial.results.length} results for ${state.numRuns} runs`);
    const numFailed = partial.results.reduce((n, r) => n + (r.ok ? 0 : 1), 0);
    return {
      done: true as const,
      result: { seed: state.seed, numRuns: state.numRuns, numFailed, results: partial.results },
    };
  },
};

function resultTooLarge(state: ExecState): EngineError {
  return new EngineError(
    'RESULT_TOO_LARGE',
    `the runs' values add up to more than ${state.maxJobResultBytes} bytes of JSON (EXEC_MAX_JOB_RESULT_BYTES): return less per run, or fewer runs per job`,
    422,
    { maxJobResultBytes: state.maxJobResultBytes },
  );
}
