import { type Job, UnrecoverableError, WaitingChildrenError } from 'bullmq';
import type { AnyAnalysis } from '../engine/analysis.ts';
import { decodePartial } from '../engine/codec.ts';
import { getAnalysis } from '../engine/registry.ts';
import type { DatasetMeta } from '../storage/datasetMeta.ts';
import type { DatasetStore } from '../storage/datasetStore.ts';
import { UserError } from '../userError.ts';
import type { ChunkTaskRouter } from './chunkTaskRouter.ts';
import { splitCommonParams } from './commonParams.ts';
import type { JobRecord, JobRecords } from './jobRecords.ts';
import { type CoordinatorData, chunkTaskId, parseChunkTaskKey } from './messages.ts';
import type { RoundStates } from './roundState.ts';
import { planTasks, type TaskRange } from './taskPlan.ts';

export interface CoordinatorDeps {
  store: DatasetStore;
  records: JobRecords;
  states: RoundStates;
  /** Picks each chunk task's queue: that of the worker caching its chunks. */
  chunkRouter: Pick<ChunkTaskRouter, 'route'>;
  /** Rounds an iterative analysis may take before the job fails (a guard against a non-converging loop). */
  maxRounds: number;
}

/** Chunk task options: the BullMQ traps of DESIGN.md, answered once here. */
const CHUNK_TASK_OPTIONS = {
  // A failed child would otherwise leave the parent in waiting-children forever (bullmq#3362).
  failParentOnFailure: true,
  // attempts defaults to 1; a killed worker or a passing fault costs a retry, not the job.
  attempts: 3,
  backoff: { type: 'exponential', delay: 200 },
  // Partials live on in the parent's processed hash, so the child itself need not be kept.
  removeOnComplete: true,
  removeOnFail: { age: 24 * 3600 },
} as const;

/** Merges partials in task order (never arrival order), so results are identical with any number of workers. */
async function mergeRound(
  job: Job<CoordinatorData>,
  analysis: AnyAnalysis,
  round: number,
  tasks: TaskRange[],
): Promise<unknown> {
  const values = await job.getChildrenValues<string>();
  const partials: unknown[] = new Array(tasks.length);
  let found = 0;
  for (const [key, value] of Object.entries(values)) {
    const parsed = parseChunkTaskKey(key);
    if (!parsed || parsed.round !== round || parsed.taskIndex >= tasks.length) continue;
    if (partials[parsed.taskIndex] === undefined) found++;
    partials[parsed.taskIndex] = decodePartial(value);
  }
  if (found !== tasks.length) {
    // A child removed before its value reached the parent; retrying the coordinator re-adds it.
    throw new Error(`round ${round}: ${found} of ${tasks.length} partials arrived`);
  }
  let merged = partials[0];
  for (let i = 1; i < partials.length; i++) merged = analysis.merge(merged, partials[i]);
  return merged;
}

/**
 * The coordinator of one analysis job, written as BullMQ's waiting-children step pattern: add a
 * round of chunk tasks as children, wait for them without holding a worker, merge, finalize, and
 * either finish or start the next round. Its step and round are kept in the job's data, so a restarted
 * worker picks up where it was.
 */
export async function runCoordinator(
  job: Job<CoordinatorData>,
  token: string | undefined,
  deps: CoordinatorDeps,
): Promise<string> {
  const { jobId } = job.data;
  let { step, round } = job.data;
  const record = await deps.records.get(jobId);
  if (!record || (record.status !== 'queued' && record.status !== 'running')) return 'ended';
  const analysis = getAnalysis(record.type);
  if (!analysis)
    return fail(deps, record, new UserError(400, 'UNKNOWN_ANALYSIS', `no analysis '${record.type}'`));
  const meta = await deps.store.get(record.dataset);
  if (!meta) {
    return fail(
      deps,
      record,
      new UserError(409, 'DATASET_DELETED', `the dataset '${record.dataset}' was deleted`),
    );
  }
  const { blocksPerRead, analysisParams } = splitCommonParams(record.params);
  const tasks = planTasks(meta, blocksPerRead);

  try {
    for (;;) {
      if (step === 'plan') {
        if (round === 0) await deps.states.save(jobId, 0, analysis.init(analysisParams, meta));
        if (round >= deps.maxRounds) {
          throw new UserError(
            422,
            'TOO_MANY_ROUNDS',
            `the analysis did not finish within ${deps.maxRounds} passes`,
          );
        }
        const started = await deps.records.startRound(
          jobId,
          round,
          meta.numChunks,
          roundMessage(round, meta),
        );
        if (!started) return 'ended';
        await addChunkTasks(job, deps, record, round, tasks);
        step = 'wait';
        await job.updateData({ jobId, step, round });
      }
      if (step === 'wait') {
        if (token === undefined)
          throw new Error('coordinator needs a lock token to wait for its chunk tasks');
        if (await job.moveToWaitingChildren(token)) throw new WaitingChildrenError();
        step = 'merge';
      }
      const state = await deps.states.load(jobId, round);
      const merged = await mergeRound(job, analysis, round, tasks);
      const outcome = analysis.finalize(merged, state);
      if (outcome.done) {
        await deps.records.complete(jobId, JSON.stringify(outcome.result), meta.numRows * (round + 1));
        await deps.states.drop(jobId, round + 1);
        return 'completed';
      }
      round += 1;
      await deps.states.save(jobId, round, outcome.state);
      if (outcome.message) await deps.records.setMessage(jobId, outcome.message);
      step = 'plan';
      await job.updateData({ jobId, step, round });
    }
  } catch (error) {
    if (error instanceof WaitingChildrenError) throw error;
    if (error instanceof UserError) return fail(deps, record, error);
    throw error;
  }
}

function roundMessage(round: number, meta: DatasetMeta): string {
  return `pass ${round + 1}: reading ${meta.numChunks} chunks`;
}

async function addChunkTasks(
  job: Job<CoordinatorData>,
  deps: CoordinatorDeps,
  record: JobRecord,
  round: number,
  tasks: TaskRange[],
): Promise<void> {
  const parent = { id: job.id!, queue: job.queueQualifiedName };
  // Children may sit in any queue under the prefix; their keys end in the task id wherever they are.
  // Fixed ids make a re-run of this step (after a crash) add nothing twice to a queue; if the workers
  // changed meanwhile, a task may be added to a second queue too: it runs twice, to the same partial.
  const groups = await deps.chunkRouter.route(record.dataset, tasks);
  await Promise.all(
    groups.map(({ queue, tasks: owned }) =>
      queue.addBulk(
        owned.map((task) => ({
          name: record.type,
          data: { jobId: record.id, type: record.type, dataset: record.dataset, round, ...task },
          opts: { ...CHUNK_TASK_OPTIONS, jobId: chunkTaskId(record.id, round, task.taskIndex), parent },
        })),
      ),
    ),
  );
}

async function fail(deps: CoordinatorDeps, record: JobRecord, error: UserError): Promise<never> {
  await deps.records.fail(record.id, {
    code: error.code,
    message: error.message,
    ...(error.details ? { details: error.details } : {}),
  });
  throw new UnrecoverableError(`${error.code}: ${error.message}`);
}
