import { type Job, UnrecoverableError, WaitingChildrenError } from 'bullmq';
import type { Redis } from 'ioredis';
import type { AnyAnalysis } from '../engine/analysis.ts';
import { decodePartial } from '../engine/codec.ts';
import { planInput } from '../engine/commonParams.ts';
import type { RowOpsSpec } from '../engine/expr/index.ts';
import { noDatasetMeta } from '../engine/noDataset.ts';
import { getAnalysis } from '../engine/registry.ts';
import type { ExecService } from '../exec/service.ts';
import type { DatasetMeta } from '../storage/datasetMeta.ts';
import type { DatasetStore } from '../storage/datasetStore.ts';
import { JobFiles, removeJobFiles } from '../storage/jobFiles.ts';
import { ModelStore } from '../storage/modelStore.ts';
import { UserError } from '../userError.ts';
import { CHUNK_TASK_OPTIONS } from './chunkTaskOptions.ts';
import type { ChunkTaskRouter } from './chunkTaskRouter.ts';
import { loadInitContext } from './initContext.ts';
import type { JobRecord, JobRecords } from './jobRecords.ts';
import { type CoordinatorData, chunkTaskId, parseChunkTaskKey } from './messages.ts';
import type { RoundStates } from './roundState.ts';
import { planPartitionTasks, planTasks, type TaskRange } from './taskPlan.ts';

export interface CoordinatorDeps {
  store: DatasetStore;
  /** DATA_DIR: the job folders (storage/jobFiles.ts) live under it. */
  dataDir: string;
  records: JobRecords;
  states: RoundStates;
  /** Picks each chunk task's queue: that of the worker caching its chunks. */
  chunkRouter: Pick<ChunkTaskRouter, 'route'>;
  /** Rounds an iterative analysis may take before the job fails (a guard against a non-converging loop). */
  maxRounds: number;
  /** Registered functions and limits, for planning exec jobs. */
  exec: ExecService;
  /** For dropping merged partials from BullMQ's processed hash (see dropMergedPartials). */
  redis: Redis;
}

/**
 * Merges partials in task order (never arrival order), so results are identical with any number of
 * workers. Also returns the child keys read, so the round's entries can be dropped once it is done.
 */
async function mergeRound(
  job: Job<CoordinatorData>,
  analysis: AnyAnalysis,
  round: number,
  tasks: TaskRange[],
): Promise<{ merged: unknown; keys: string[] }> {
  const values = await job.getChildrenValues<string>();
  const partials: unknown[] = new Array(tasks.length);
  const keys: string[] = [];
  let found = 0;
  for (const [key, value] of Object.entries(values)) {
    const parsed = parseChunkTaskKey(key);
    if (parsed !== null && parsed.round <= round) keys.push(key);
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
  return { merged, keys };
}

/**
 * Drops finished rounds' partials from the coordinator's processed-children hash (BullMQ keeps every
 * child's result in `<prefix>:<queue>:<parentId>:processed` until the parent goes, and
 * getChildrenValues reads all of it): without this, an analysis of hundreds of rounds with partials
 * of megabytes (tree histograms) re-reads every earlier round each time, and holds them all in Redis.
 */
async function dropMergedPartials(job: Job<CoordinatorData>, redis: Redis, keys: string[]): Promise<void> {
  if (keys.length === 0) return;
  await redis.hdel(`${job.queueQualifiedName}:${job.id}:processed`, ...keys);
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
  // A job without a dataset (exec) plans against an empty one; its rounds are partitions.
  const meta =
    record.dataset === null
      ? analysis.datasetOptional
        ? noDatasetMeta(record.tenant)
        : null
      : await deps.store.get(record.dataset);
  if (!meta) {
    return fail(
      deps,
      record,
      new UserError(409, 'DATASET_DELETED', `the dataset '${record.dataset}' was deleted`),
    );
  }
  const io = new JobFiles(deps.store, deps.dataDir, jobId, record.tenant, record.dataset ?? undefined);

  try {
    const { blocksPerRead, analysisParams, meta: inputMeta, rowOpsSpec } = planInput(record.params, meta);
    for (;;) {
      if (step === 'plan' && round === 0) {
        const models = new ModelStore(deps.dataDir);
        const context = await loadInitContext(
          analysis,
          analysisParams,
          record.tenant,
          (id) => deps.store.get(id),
          (tenant, id) => models.get(tenant, id),
        );
        await deps.exec.load();
        await deps.states.save(
          jobId,
          0,
          analysis.init(analysisParams, inputMeta, { ...context, exec: deps.exec }),
        );
      }
      const state = await deps.states.load(jobId, round);
      if (state === undefined) throw new Error(`state of round ${round} of ${jobId} is gone`);
      const plan = await planRound(analysis, state, meta, blocksPerRead, io);
      if (step === 'plan') {
        if (round >= deps.maxRounds) {
          throw new UserError(
            422,
            'TOO_MANY_ROUNDS',
            `the analysis did not finish within ${deps.maxRounds} passes`,
          );
        }
        const started = await deps.records.startRound(jobId, round, plan.units, plan.message(round));
        if (!started) return 'ended';
        await addChunkTasks(job, deps, record, round, plan, rowOpsSpec);
        step = 'wait';
        await job.updateData({ jobId, step, round });
      }
      if (step === 'wait') {
        if (token === undefined)
          throw new Error('coordinator needs a lock token to wait for its chunk tasks');
        if (await job.moveToWaitingChildren(token)) throw new WaitingChildrenError();
        step = 'merge';
      }
      const { merged, keys } = await mergeRound(job, analysis, round, plan.tasks);
      const outcome = await analysis.finalize(merged, state, { io });
      if (outcome.done) {
        await deps.records.complete(jobId, JSON.stringify(outcome.result), meta.numRows * (round + 1));
        await deps.states.drop(jobId, round + 1);
        await removeJobFiles(deps.dataDir, jobId);
        return 'completed';
      }
      round += 1;
      await deps.states.save(jobId, round, outcome.state);
      if (outcome.message) await deps.records.setMessage(jobId, outcome.message);
      step = 'plan';
      await job.updateData({ jobId, step, round });
      // Only now: a re-run of this step after a crash before updateData merges these partials again.
      await dropMergedPartials(job, deps.redis, keys);
    }
  } catch (error) {
    if (error instanceof WaitingChildrenError) throw error;
    if (error instanceof UserError) return fail(deps, record, error);
    throw error;
  }
}

/** What one round reads and how it is cut into tasks; derived from the round's state, so re-runs agree. */
interface RoundPlan {
  dataset: string;
  input: 'chunks' | 'partitions';
  tasks: TaskRange[];
  /** Chunks (or partitions) in the round, for progress. */
  units: number;
  message(round: number): string;
}

async function planRound(
  analysis: AnyAnalysis,
  state: unknown,
  meta: DatasetMeta,
  blocksPerRead: number,
  io: JobFiles,
): Promise<RoundPlan> {
  const input = analysis.roundInput?.(state) ?? null;
  if (input?.kind === 'partitions') {
    return {
      dataset: meta.id,
      input: 'partitions',
      tasks: planPartitionTasks(input.count),
      units: input.count,
      message: (round) => `pass ${round + 1}: ${input.count} partitions`,
    };
  }
  const source = input === null ? meta : await io.datasetMeta(input.dataset);
  return {
    dataset: source.id,
    input: 'chunks',
    tasks: planTasks(source, blocksPerRead),
    units: source.numChunks,
    message: (round) =>
      `pass ${round + 1}: reading ${source.numChunks} chunks${source.id === meta.id ? '' : ` of ${source.name}`}`,
  };
}

async function addChunkTasks(
  job: Job<CoordinatorData>,
  deps: CoordinatorDeps,
  record: JobRecord,
  round: number,
  plan: RoundPlan,
  rowOps: RowOpsSpec | null,
): Promise<void> {
  const parent = { id: job.id!, queue: job.queueQualifiedName };
  const common = {
    jobId: record.id,
    tenant: record.tenant,
    type: record.type,
    dataset: plan.dataset,
    input: plan.input,
    ownInput: plan.input === 'chunks' && plan.dataset === record.dataset,
    round,
    ...(rowOps ? { rowOps } : {}),
  };
  // Children may sit in any queue under the prefix; their keys end in the task id wherever they are.
  // Fixed ids make a re-run of this step (after a crash) add nothing twice to a queue; if the workers
  // changed meanwhile, a task may be added to a second queue too: it runs twice, to the same partial.
  const groups = await deps.chunkRouter.route(plan.dataset, plan.tasks);
  const add = (queue: (typeof groups)[number]['queue'], tasks: TaskRange[]) =>
    tasks.length === 0
      ? undefined
      : queue.addBulk(
          tasks.map((task) => ({
            name: record.type,
            data: { ...common, ...task },
            opts: { ...CHUNK_TASK_OPTIONS, jobId: chunkTaskId(record.id, round, task.taskIndex), parent },
          })),
        );
  // Each worker's first task goes in on its own, ahead of the rest: adding 50 children with their
  // parent links takes Redis 3-6 ms (measured), which the workers would otherwise spend idle.
  await Promise.all(groups.map(({ queue, tasks }) => add(queue, tasks.slice(0, 1))));
  await Promise.all(groups.map(({ queue, tasks }) => add(queue, tasks.slice(1))));
}

async function fail(deps: CoordinatorDeps, record: JobRecord, error: UserError): Promise<never> {
  await deps.records.fail(record.id, {
    code: error.code,
    message: error.message,
    ...(error.details ? { details: error.details } : {}),
  });
  await removeJobFiles(deps.dataDir, record.id);
  throw new UnrecoverableError(`${error.code}: ${error.message}`);
}
