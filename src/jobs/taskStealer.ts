import type { Redis } from 'ioredis';
import { COORDINATOR_QUEUE, workerChunkQueue } from './keys.ts';
import type { ChunkTaskData } from './messages.ts';
import { moveWaitingTask } from './moveWaitingTask.ts';
import type { WorkerRegistry } from './workerRegistry.ts';

export interface StealerDeps {
  registry: WorkerRegistry;
  selfId: string;
  /** BullMQ's connection (commands only; nothing blocks on it). */
  connection: Redis;
  /** BullMQ key prefix (`<QUEUE_PREFIX>:bull`). */
  prefix: string;
  /** A counter of the tasks this worker and its peers stole (JobKeys.tasksStolen). */
  stolenCountKey: string;
  /** Whether this process has a chunk in memory (then running the task here costs no disk read). */
  isChunkCached(dataset: string, chunk: number): boolean;
  log(message: string, error?: unknown): void;
}

/** Tasks looked at from the end of a peer's queue, for one whose chunks this worker has in memory. */
const SCAN_DEPTH = 4;
/**
 * A task whose chunks this worker does not cache costs it a read first (16 MB a chunk: 12 ms from the
 * page cache, 40 ms from this machine's disk, against ~8 ms to summarise it), and would likely end
 * after the peer's own queue had drained anyway: worth stealing only from a peer far behind, with at
 * least this many tasks waiting. Once read, the chunk is cached here if it fits (chunkTask.ts), so
 * the next round can steal it cheaply.
 */
const UNCACHED_MIN_WAITING = 6;

/**
 * Work stealing at the end of a round. Affinity (taskAffinity.ts) gives each worker an even share of
 * the tasks, but even shares finish at different times (a worker that also runs the coordinator, a
 * noisy neighbour, a slower machine), and the job waits for the last. A worker whose own queue runs
 * dry takes a task still waiting in the queue of the peer with most left, from the end that peer
 * reaches last, preferring one whose chunks it caches too.
 *
 * A stolen task moves to this worker's own queue (so this worker runs it) in one Lua script
 * (moveWaitingTask.ts): only if it is still waiting in the peer's queue, and with the coordinator's
 * dependency moved in the same step, so the round can neither end without the task's partial nor
 * lose the task to a worker dying halfway. Partials are keyed by task id whatever the queue
 * (messages.ts), so the merge is unchanged.
 */
export class TaskStealer {
  private running: Promise<void> | null = null;
  private closed = false;

  constructor(private readonly deps: StealerDeps) {}

  /** Called when this worker's own queue is empty; steals at most one task (the next drain asks again). */
  onDrained(): void {
    if (this.running || this.closed) return;
    this.running = this.stealOne()
      .then(
        () => undefined,
        (error: unknown) => this.deps.log('could not steal a task', error),
      )
      .finally(() => {
        this.running = null;
      });
  }

  /** One attempt; true when a task was moved to this worker's queue. */
  async stealOne(): Promise<boolean> {
    const { registry, selfId, connection, prefix } = this.deps;
    const peers = (await registry.live()).filter((id) => id !== selfId);
    if (peers.length === 0 || this.closed) return false;
    const waitKey = (peer: string) => `${prefix}:${workerChunkQueue(peer)}:wait`;
    const lengths = await Promise.all(peers.map((peer) => connection.llen(waitKey(peer))));
    let victim = -1;
    for (let i = 0; i < peers.length; i++) if (lengths[i]! > (lengths[victim] ?? 0)) victim = i;
    if (victim < 0) return false;
    const peer = peers[victim]!;
    const waiting = lengths[victim]!;
    const queueName = workerChunkQueue(peer);
    // LPUSH adds and RPOPLPUSH takes (BullMQ), so index 0 is the task the peer would reach last.
    const ids = await connection.lrange(waitKey(peer), 0, SCAN_DEPTH - 1);
    const datas = await Promise.all(ids.map((id) => connection.hget(`${prefix}:${queueName}:${id}`, 'data')));
    let chosen = -1;
    for (let i = 0; i < ids.length && chosen < 0; i++) {
      const data = parseTask(datas[i]);
      if (data && this.cachesAll(data)) chosen = i;
    }
    if (chosen < 0 && waiting >= UNCACHED_MIN_WAITING && parseTask(datas[0])) chosen = 0;
    if (chosen < 0 || this.closed) return false;
    const id = ids[chosen]!;
    const data = parseTask(datas[chosen])!;
    const outcome = await moveWaitingTask(connection, {
      prefix,
      fromQueue: queueName,
      toQueue: workerChunkQueue(selfId),
      taskId: id,
      parentKey: `${prefix}:${COORDINATOR_QUEUE}:${data.jobId}`,
      dataRead: datas[chosen]!,
      dataMoved: JSON.stringify({ ...data, stolen: true }),
      countKey: this.deps.stolenCountKey,
    });
    return outcome === 'moved';
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.running?.catch(() => undefined);
  }

  private cachesAll(task: ChunkTaskData): boolean {
    if (task.input !== 'chunks') return false;
    for (let c = task.firstChunk; c < task.firstChunk + task.chunkCount; c++)
      if (!this.deps.isChunkCached(task.dataset, c)) return false;
    return true;
  }
}

function parseTask(text: string | null | undefined): ChunkTaskData | null {
  if (!text) return null;
  try {
    const data = JSON.parse(text) as ChunkTaskData;
    return typeof data.jobId === 'string' && typeof data.type === 'string' ? data : null;
  } catch {
    return null;
  }
}
