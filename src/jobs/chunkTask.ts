import { type Job, UnrecoverableError } from 'bullmq';
import type { Chunk, MapContext } from '../engine/analysis.ts';
import { encodePartial } from '../engine/codec.ts';
import type { ExecRuntime } from '../engine/exec/runtime.ts';
import { compileRowOps, type RowOps, type RowOpsSpec } from '../engine/expr/index.ts';
import { getAnalysis } from '../engine/registry.ts';
import type { DatasetMeta } from '../storage/datasetMeta.ts';
import { DatasetMissingError, type DatasetStore } from '../storage/datasetStore.ts';
import { JobFiles, removeJobFiles } from '../storage/jobFiles.ts';
import { UserError } from '../userError.ts';
import type { JobRecords } from './jobRecords.ts';
import type { ChunkTaskData } from './messages.ts';
import type { RoundStates } from './roundState.ts';
import { chunkStartRows } from './taskPlan.ts';

export interface ChunkTaskDeps {
  store: DatasetStore;
  /** DATA_DIR, where the job folders live (storage/jobFiles.ts). */
  dataDir: string;
  records: JobRecords;
  states: RoundStates;
  /** TASK_DELAY_MS: fault injection for tests. */
  delayMs: number;
  /** Runs exec jobs' functions (partition tasks of the `exec` analysis). */
  exec: ExecRuntime;
  log: (message: string, error?: unknown) => void;
}

/** Compiled transforms of the few jobs a worker is serving: every task of a job compiles the same text. */
const rowOpsCache = new Map<string, RowOps>();

function compiledRowOps(jobId: string, spec: RowOpsSpec, meta: DatasetMeta): RowOps | null {
  const cached = rowOpsCache.get(jobId);
  if (cached) return cached;
  const rowOps = compileRowOps(spec, meta.variables);
  if (!rowOps) return null;
  if (rowOpsCache.size >= 16) rowOpsCache.delete(rowOpsCache.keys().next().value as string);
  rowOpsCache.set(jobId, rowOps);
  return rowOps;
}

/**
 * Reads chunks of `task.dataset` as the analysis sees them: `columns` only (all when undefined), with
 * the job's transforms and rowSelection applied when the dataset is the job's own input.
 */
async function inputReader(
  deps: ChunkTaskDeps,
  task: ChunkTaskData,
  meta: DatasetMeta,
  columns: string[] | undefined,
): Promise<(index: number) => Promise<Chunk>> {
  const starts = chunkStartRows(meta);
  const rowOps = columns && task.rowOps ? compiledRowOps(task.jobId, task.rowOps, meta) : null;
  const read = rowOps && columns ? rowOps.inputsFor(columns) : columns;
  return async (index) => {
    // A stolen task's chunks belong in their owner's cache: kept here only where they fit.
    const stored = await deps.store.readChunk(task.dataset, index, read, { evict: task.stolen !== true });
    const table = rowOps && columns ? rowOps.apply(stored, columns) : stored;
    return { index, numRows: table.numRows, startRow: starts[index] ?? 0, table };
  };
}

/** How often a long task tells the job record it is alive (and learns of a cancel). */
const ALIVE_EVERY_MS = 1000;

/** MapContext.stillRunning: at most one Redis round trip per ALIVE_EVERY_MS; in between, the last answer. */
function stillRunning(deps: ChunkTaskDeps, jobId: string): () => Promise<boolean> {
  let last = Date.now();
  let running = true;
  return async () => {
    if (!running || Date.now() - last < ALIVE_EVERY_MS) return running;
    last = Date.now();
    running = await deps.records.touch(jobId);
    return running;
  };
}

/** Fails the job with the user's error and stops retries of this task (retrying cannot help). */
async function failJob(deps: ChunkTaskDeps, jobId: string, error: UserError): Promise<never> {
  await deps.records.fail(jobId, {
    code: error.code,
    message: error.message,
    ...(error.details ? { details: error.details } : {}),
  });
  // The coordinator is failed through failParentOnFailure and never runs again, so the job's folder
  // (pieces a data operation wrote) goes now; a task still writing elsewhere is left to the sweep.
  await removeJobFiles(deps.dataDir, jobId);
  throw new UnrecoverableError(`${error.code}: ${error.message}`);
}

/**
 * Maps the task's chunks and merges their partials in chunk order; returns the encoded partial, which
 * BullMQ stores in the coordinator's processed-children hash. Idempotent: a stalled task that runs
 * again computes the same partial, and progress counts it once.
 */
export async function runChunkTask(job: Job<ChunkTaskData>, deps: ChunkTaskDeps): Promise<string> {
  const task = job.data;
  if (deps.delayMs > 0) await new Promise((resolve) => setTimeout(resolve, deps.delayMs));
  // A cancelled, failed or expired job: drop the work (checked once per task; tasks are short).
  const status = await deps.records.status(task.jobId);
  if (status !== 'running')
    throw new UnrecoverableError(`job ${task.jobId} is ${status ?? 'gone'}; task dropped`);

  const analysis = getAnalysis(task.type);
  if (!analysis) throw new UnrecoverableError(`no analysis '${task.type}' on this worker (version skew?)`);
  const state = await deps.states.load(task.jobId, task.round);
  if (state === undefined)
    throw new UnrecoverableError(`state of round ${task.round} of ${task.jobId} is gone`);

  try {
    const context: MapContext = {
      round: task.round,
      io: new JobFiles(deps.store, deps.dataDir, task.jobId, task.tenant),
      exec: deps.exec,
      stillRunning: stillRunning(deps, task.jobId),
    };
    const last = task.firstChunk + task.chunkCount;
    let merged: unknown;
    if (task.input === 'partitions') {
      if (!analysis.mapPartition) throw new UnrecoverableError(`${task.type} has no mapPartition`);
      // A job's partitions may read its own input (task.dataset is it; exec jobs have none): the
      // reader is made on the first read, so partitions that read nothing cost nothing.
      let reader: ((index: number) => Promise<Chunk>) | undefined;
      context.readInput = async (index) => {
        if (reader === undefined) {
          const meta = await deps.store.get(task.dataset);
          if (!meta) throw new DatasetMissingError(`dataset '${task.dataset}' was deleted`);
          reader = await inputReader(deps, task, meta, analysis.columnsUsed(state));
        }
        return reader(index);
      };
      for (let p = task.firstChunk; p < last; p++) {
        const partial = await analysis.mapPartition(p, state, context);
        merged = p === task.firstChunk ? partial : analysis.merge(merged, partial);
      }
    } else {
      const meta = await deps.store.get(task.dataset);
      if (!meta) throw new DatasetMissingError(`dataset '${task.dataset}' was deleted`);
      const read = await inputReader(
        deps,
        task,
        meta,
        task.ownInput ? analysis.columnsUsed(state) : undefined,
      );
      for (let index = task.firstChunk; index < last; index++) {
        const partial = await analysis.map(await read(index), state, context);
        merged = index === task.firstChunk ? partial : analysis.merge(merged, partial);
      }
    }
    // Progress is bookkeeping, not part of the answer: not waiting for it saves a Redis round trip per
    // task (~6% of a summary job's time, measured). A late count after the job ended is a no-op.
    deps.records
      .taskDone(task.jobId, task.round, task.taskIndex, task.chunkCount, task.rows)
      .catch((error: unknown) => deps.log('could not record chunk progress', error));
    return encodePartial(merged);
  } catch (error) {
    if (error instanceof DatasetMissingError) {
      return failJob(
        deps,
        task.jobId,
        new UserError(409, 'DATASET_DELETED', `the dataset '${task.dataset}' was deleted while the job ran`),
      );
    }
    if (error instanceof UserError) return failJob(deps, task.jobId, error);
    throw error;
  }
}
