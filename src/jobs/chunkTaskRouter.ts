import { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import { CHUNK_QUEUE, workerChunkQueue } from './keys.ts';
import type { ChunkTaskData } from './messages.ts';
import { assignTasks } from './taskAffinity.ts';
import type { WorkerRegistry } from './workerRegistry.ts';

/** A queue object unused this long, of a worker no longer live, is closed. */
const IDLE_QUEUE_MS = 60_000;

/**
 * Sends each chunk task to the queue of the live worker that owns its chunks (taskAffinity.ts), so
 * every worker reads its share of a dataset from its own chunk cache, job after job. With no live
 * worker registered, tasks go to the shared queue, which every worker also consumes.
 */
export class ChunkTaskRouter {
  private readonly queues = new Map<string, { queue: Queue<ChunkTaskData>; usedAt: number }>();

  constructor(
    private readonly registry: WorkerRegistry,
    private readonly connection: Redis,
    private readonly prefix: string,
  ) {}

  /** The tasks grouped by the queue that should run them. */
  async route<T extends { firstChunk: number }>(
    dataset: string,
    tasks: readonly T[],
  ): Promise<{ queue: Queue<ChunkTaskData>; tasks: T[] }[]> {
    const now = Date.now();
    const live = await this.registry.live(now);
    this.closeIdle(new Set(live), now);
    if (live.length === 0) return [{ queue: this.queue(CHUNK_QUEUE, now), tasks: [...tasks] }];
    const owners = assignTasks(live, dataset, tasks);
    const groups = new Map<string, T[]>();
    tasks.forEach((task, i) => {
      const owner = owners[i]!;
      const group = groups.get(owner);
      if (group) group.push(task);
      else groups.set(owner, [task]);
    });
    return [...groups].map(([owner, owned]) => ({
      queue: this.queue(workerChunkQueue(owner), now),
      tasks: owned,
    }));
  }

  async close(): Promise<void> {
    await Promise.all([...this.queues.values()].map(({ queue }) => queue.close()));
    this.queues.clear();
  }

  private queue(name: string, now: number): Queue<ChunkTaskData> {
    let entry = this.queues.get(name);
    if (!entry) {
      // No meta write: an add sets what the scripts need, and a late meta write would re-create a
      // dead worker's queue after it was deleted.
      const queue = new Queue<ChunkTaskData>(name, {
        connection: this.connection,
        prefix: this.prefix,
        skipMetasUpdate: true,
      });
      entry = { queue, usedAt: now };
      this.queues.set(name, entry);
    }
    entry.usedAt = now;
    return entry.queue;
  }

  /** Queues of workers gone for a while; not at once, since another coordinator may be adding to them. */
  private closeIdle(live: Set<string>, now: number): void {
    const liveQueues = new Set([...live].map(workerChunkQueue));
    for (const [name, entry] of this.queues) {
      if (name === CHUNK_QUEUE || liveQueues.has(name) || now - entry.usedAt < IDLE_QUEUE_MS) continue;
      this.queues.delete(name);
      entry.queue.close().catch(() => undefined);
    }
  }
}
