import { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import { Value } from 'typebox/value';
import { exec } from '../engine/analyses/exec.ts';
import { planInput, splitParams } from '../engine/commonParams.ts';
import { noDatasetMeta } from '../engine/noDataset.ts';
import { analyses, getAnalysis } from '../engine/registry.ts';
import { ExecService, type ExecSettings } from '../exec/service.ts';
import type { DatasetStore } from '../storage/datasetStore.ts';
import { newId } from '../storage/ids.ts';
import { ModelStore } from '../storage/modelStore.ts';
import { UserError } from '../userError.ts';
import { loadInitContext } from './initContext.ts';
import { type JobRecord, JobRecords, type JobStatus } from './jobRecords.ts';
import { bullPrefix, COORDINATOR_QUEUE, JobKeys } from './keys.ts';
import type { CoordinatorData } from './messages.ts';
import { connectRedis } from './redis.ts';
import { removeQueuedWork, startWatchdog } from './watchdog.ts';

export interface JobServiceOptions extends ExecSettings {
  redisUrl: string;
  /** DATA_DIR: the stored models a job may name (rxPredict's) are read from it. */
  dataDir: string;
  queuePrefix: string;
  jobTtlSeconds: number;
  jobStallSeconds: number;
  log: (message: string, error?: unknown) => void;
}

export interface JobFilter {
  status?: JobStatus | undefined;
  type?: string | undefined;
}

const FINAL: ReadonlySet<JobStatus> = new Set(['completed', 'failed', 'cancelled']);

/** What the API does with jobs: submit, read, wait for, list, cancel. Workers do the computing. */
export class JobService {
  readonly records: JobRecords;
  private readonly coordinatorQueue: Queue<CoordinatorData>;
  private readonly queueConnection: Redis;
  private readonly subscriber: Redis;
  private readonly waiters = new Map<string, Set<() => void>>();
  private readonly stopWatchdog: () => void;
  private readonly models: ModelStore;
  /** Registered functions and the sandbox, for checking exec jobs before they are queued. */
  readonly exec: ExecService;

  constructor(
    redis: Redis,
    private readonly store: DatasetStore,
    options: JobServiceOptions,
  ) {
    const keys = new JobKeys(options.queuePrefix);
    this.models = new ModelStore(options.dataDir);
    this.exec = new ExecService(options);
    this.exec
      .load()
      .then((plugins) => {
        for (const problem of plugins.problems) options.log(`exec plugin left out: ${problem}`);
      })
      .catch((e: unknown) => options.log('loading exec plugins failed', e));
    this.records = new JobRecords(redis, keys, options.jobTtlSeconds);
    this.queueConnection = connectRedis(options.redisUrl, 'bullmq');
    this.coordinatorQueue = new Queue<CoordinatorData>(COORDINATOR_QUEUE, {
      connection: this.queueConnection,
      prefix: bullPrefix(options.queuePrefix),
    });
    // One subscription serves every long-poll of this process.
    this.subscriber = connectRedis(options.redisUrl, 'bullmq');
    this.subscriber.subscribe(keys.finishedChannel).catch((e: unknown) => options.log('subscribe failed', e));
    this.subscriber.on('message', (_channel: string, jobId: string) => {
      const waiting = this.waiters.get(jobId);
      if (waiting) for (const wake of waiting) wake();
    });
    this.stopWatchdog = startWatchdog(
      this.records,
      this.coordinatorQueue,
      options.jobStallSeconds * 1000,
      (e) => options.log('watchdog sweep failed', e),
    );
  }

  /** Validates everything that can be checked before queuing, then queues the job. */
  async submit(
    tenant: string,
    type: string,
    datasetId: string | undefined,
    params: Record<string, unknown>,
  ): Promise<JobRecord> {
    const analysis = getAnalysis(type);
    if (!analysis) {
      throw new UserError(400, 'UNKNOWN_ANALYSIS', `unknown analysis type '${type}'`, {
        known: this.knownTypes(),
      });
    }
    if (datasetId === undefined && !analysis.datasetOptional) {
      // The body schema lets exec leave the dataset out; every other analysis needs one, said the same way.
      throw new UserError(400, 'VALIDATION_FAILED', "body must have required property 'dataset'", {
        fields: [{ field: 'body', message: "must have required property 'dataset'", missing: 'dataset' }],
      });
    }
    const { analysisParams } = splitParams(params);
    if (!Value.Check(analysis.paramsSchema, analysisParams)) {
      const fields = Value.Errors(analysis.paramsSchema, analysisParams).map((e) => ({
        field: `params${e.instancePath}`,
        message: e.message,
      }));
      throw new UserError(
        400,
        'INVALID_PARAMS',
        `params do not fit analysis '${type}': ${describe(fields)}`,
        {
          fields,
        },
      );
    }
    await this.exec.load();
    if (analysis === exec) {
      // Sandbox permission and a compile check of `code`; the seed the job will use is recorded with it.
      params = await this.exec.preflight(tenant, params);
    }
    const meta = datasetId === undefined ? noDatasetMeta(tenant) : await this.store.get(datasetId);
    if (!meta || meta.tenant !== tenant) {
      throw new UserError(
        404,
        'DATASET_NOT_FOUND',
        `dataset '${datasetId}' does not exist (or belongs to another tenant)`,
      );
    }
    if (datasetId !== undefined && meta.numRows === 0)
      throw new UserError(422, 'EMPTY_DATASET', `dataset '${datasetId}' has no rows`);
    // Planning checks variables, types and formula against the dataset: bad requests end here, unqueued.
    const input = planInput(params, meta);
    const context = await loadInitContext(
      analysis,
      input.analysisParams,
      tenant,
      (id) => this.store.get(id),
      (owner, id) => this.models.get(owner, id),
    );
    analysis.init(input.analysisParams, input.meta, { ...context, exec: this.exec });

    const id = newId('job');
    const record = await this.records.create({ id, tenant, type, dataset: datasetId ?? null, params });
    try {
      await this.coordinatorQueue.add(
        type,
        { jobId: id, step: 'plan', round: 0 },
        {
          jobId: id,
          attempts: 3,
          backoff: { type: 'exponential', delay: 500 },
          removeOnComplete: true,
          removeOnFail: 1000,
        },
      );
    } catch (error) {
      // The record must not stay "queued" for a job that never reached the queue.
      await this.records.fail(id, { code: 'QUEUE_UNAVAILABLE', message: 'the job could not be queued' });
      throw error;
    }
    return record;
  }

  async get(tenant: string, id: string): Promise<JobRecord> {
    const record = await this.records.get(id);
    if (!record || record.tenant !== tenant) {
      throw new UserError(
        404,
        'NOT_FOUND',
        `job '${id}' does not exist, has expired, or belongs to another tenant`,
      );
    }
    return record;
  }

  /** Long-poll: the record once the job has ended, or as it is after `seconds`. */
  async wait(tenant: string, id: string, seconds: number): Promise<JobRecord> {
    let record = await this.get(tenant, id);
    if (seconds <= 0 || FINAL.has(record.status)) return record;
    await new Promise<void>((resolve) => {
      const waiting = this.waiters.get(id) ?? new Set<() => void>();
      this.waiters.set(id, waiting);
      const done = () => {
        clearTimeout(timer);
        waiting.delete(done);
        if (waiting.size === 0) this.waiters.delete(id);
        resolve();
      };
      const timer = setTimeout(done, seconds * 1000);
      waiting.add(done);
      // The job may have ended between the first read and the subscription taking this waiter.
      this.records
        .status(id)
        .then((status) => status && FINAL.has(status) && done())
        .catch(done);
    });
    record = await this.get(tenant, id);
    return record;
  }

  async list(tenant: string, filter: JobFilter): Promise<JobRecord[]> {
    const all = await this.records.list(tenant);
    return all.filter(
      (r) =>
        (filter.status === undefined || r.status === filter.status) &&
        (filter.type === undefined || r.type === filter.type),
    );
  }

  /** The result text (JSON) of a completed job. */
  async result(tenant: string, id: string): Promise<{ record: JobRecord; resultText: string }> {
    const record = await this.get(tenant, id);
    if (record.status !== 'completed') {
      throw new UserError(
        409,
        'JOB_NOT_COMPLETED',
        `job '${id}' is ${record.status}; its result exists once completed`,
        {
          status: record.status,
        },
      );
    }
    const resultText = await this.records.result(id);
    if (resultText === null) throw new UserError(404, 'NOT_FOUND', `the result of job '${id}' has expired`);
    return { record, resultText };
  }

  async cancel(tenant: string, id: string): Promise<JobRecord> {
    const record = await this.get(tenant, id);
    if (FINAL.has(record.status)) {
      throw new UserError(
        409,
        'JOB_FINISHED',
        `job '${id}' already ended (${record.status}); nothing to cancel`,
        {
          status: record.status,
        },
      );
    }
    await this.records.cancel(id);
    await removeQueuedWork(this.coordinatorQueue, id);
    return this.get(tenant, id);
  }

  knownTypes(): string[] {
    return Object.keys(analyses);
  }

  /** Ends every long-poll now (each answers with the job as it is), so a shutdown need not wait for them. */
  releaseWaiters(): void {
    for (const waiting of this.waiters.values()) for (const wake of waiting) wake();
  }

  async close(): Promise<void> {
    this.stopWatchdog();
    this.releaseWaiters();
    await this.coordinatorQueue.close();
    await this.exec.close();
    this.queueConnection.disconnect();
    this.subscriber.disconnect();
  }
}

function describe(fields: { field: string; message: string }[]): string {
  return fields
    .slice(0, 3)
    .map((f) => `${f.field || 'params'} ${f.message}`)
    .join('; ');
}
