import { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import { CHUNK_TASK_OPTIONS } from './chunkTaskOptions.ts';
import { COORDINATOR_QUEUE, workerChunkQueue } from './keys.ts';
import type { ChunkTaskData } from './messages.ts';
import type { WorkerRegistry } from './workerRegistry.ts';

export interface StealerDeps {
  registry: WorkerRegistry;
  selfId: string;
  /** BullMQ's connection (commands only; nothing blocks on it). */
  connection: Redis;
  /** BullMQ key prefix (`<QUEUE_PREFIX>:bull`). */
  prefix: string;
  /** This worker's own chunk queue: a stolen task is added to it, so this worker runs it. */
  ownQueue: Queue<ChunkTaskData>;
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
 * The move is: LREM from the peer's wait list (the claim: after it the peer cannot start the task, and
 * the coordinator still waits on it, so the round cannot end meanwhile), add a copy with the same id,
 * data and parent to this worker's queue (the coordinator now waits on both), then remove the original
 * (which drops it from the coordinator's dependencies). Partials are keyed by task id whatever the
 * queue (messages.ts), so the merge is unchanged. If adding the copy fails, the original goes back to
 * the front of the peer's queue; a worker killed between claim and add leaves the task in neither
 * queue, and the watchdog fails the job (a window of one Redis round trip).
 */
export class TaskStealer {
  private readonly peerQueues = new Map<string, Queue>();
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

    if ((await connection.lrem(waitKey(peer), 1, id)) !== 1) return false;
    try {
      await this.deps.ownQueue.add(
        data.type,
        { ...data, stolen: true },
        {
          ...CHUNK_TASK_OPTIONS,
          jobId: id,
          parent: { id: data.jobId, queue: `${prefix}:${COORDINATOR_QUEUE}` },
        },
      );
    } catch (error) {
      // Back where the peer takes it next, rather than lost; unless it is gone meanwhile (a cancel
      // removes the coordinator with its children, and then the add fails for want of a parent).
      if ((await connection.exists(`${prefix}:${queueName}:${id}`)) === 1)
        await connection.rpush(waitKey(peer), id);
      throw error;
    }
    await this.peerQueue(queueName).remove(id);
    return true;
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.running?.catch(() => undefined);
    await Promise.all([...this.peerQueues.values()].map((queue) => queue.close()));
    this.peerQueues.clear();
  }

  private cachesAll(task: ChunkTaskData): boolean {
    if (task.input !== 'chunks') return false;
    for (let c = task.firstChunk; c < task.firstChunk + task.chunkCount; c++)
      if (!this.deps.isChunkCached(task.dataset, c)) return false;
    return true;
  }

  private peerQueue(name: string): Queue {
    let queue = this.peerQueues.get(name);
    if (!queue) {
      // A dead peer's queue is deleted by the drainer; keep few objects around.
      if (this.peerQueues.size >= 32) {
        const [oldName, oldQueue] = this.peerQueues.entries().next().value as [string, Queue];
        this.peerQueues.delete(oldName);
        oldQueue.close().catch(() => undefined);
      }
      queue = new Queue(name, {
        connection: this.deps.connection,
        prefix: this.deps.prefix,
        skipMetasUpdate: true,
      });
      this.peerQueues.set(name, queue);
    }
    return queue;
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
