import type { Queue, Worker } from 'bullmq';
import { workerChunkQueue } from './keys.ts';
import type { WorkerRegistry } from './workerRegistry.ts';

export interface DrainerDeps {
  registry: WorkerRegistry;
  /** This worker's id (its own entry is never drained by itself). */
  selfId: string;
  /** A BullMQ worker running chunk tasks from the named queue, with the options of the worker's own. */
  startWorker(queueName: string): Worker;
  /** A queue object for counting and deleting; closed by the drainer. */
  openQueue(queueName: string): Queue;
  log(message: string, error?: unknown): void;
}

/** States in which a job still needs a worker. */
const UNFINISHED = ['waiting', 'active', 'delayed', 'prioritized', 'waiting-children'] as const;

/**
 * Runs the tasks left in the queue of a worker that died (or shut down), which nobody else consumes.
 * One live worker claims a dead one and attaches a BullMQ worker to its queue; BullMQ's stalled-job
 * check moves the task the dead worker held back to waiting once its lock expires, and it runs again
 * (tasks are idempotent). When the queue has been empty past the registry's grace period, it is
 * deleted with its registry entry. A worker that was only slow beats again and keeps its queue; the
 * helper then detaches.
 */
export class DeadWorkerDrainer {
  private readonly draining = new Map<string, Worker>();

  constructor(private readonly deps: DrainerDeps) {}

  /** One look at the registry; called after every heartbeat. */
  async sweep(now = Date.now()): Promise<void> {
    const { registry, selfId } = this.deps;
    const stale = await registry.stale(now);
    const staleIds = new Set(stale.map((entry) => entry.workerId));
    for (const workerId of [...this.draining.keys()]) {
      // Beating again, or deleted by a drainer that took over after our claim lapsed.
      if (!staleIds.has(workerId)) await this.detach(workerId, true);
    }
    const { staleMs, graceMs } = registry.timings;
    for (const { workerId, lastBeat } of stale) {
      if (workerId === selfId) continue;
      if (!(await registry.claimDrain(workerId, selfId))) {
        if (this.draining.has(workerId)) await this.detach(workerId, false);
        continue;
      }
      if (!this.draining.has(workerId)) {
        this.deps.log(`draining the chunk queue of worker ${workerId} (silent for ${now - lastBeat} ms)`);
        this.draining.set(workerId, this.deps.startWorker(workerChunkQueue(workerId)));
      }
      if (now - lastBeat > staleMs + graceMs) await this.deleteIfEmpty(workerId);
    }
  }

  /** Stops draining (the dead workers' queues stay for the other workers to drain). */
  async close(): Promise<void> {
    for (const workerId of [...this.draining.keys()]) await this.detach(workerId, true);
  }

  private async detach(workerId: string, release: boolean): Promise<void> {
    const worker = this.draining.get(workerId);
    this.draining.delete(workerId);
    // close() lets a task in hand finish.
    await worker?.close();
    if (release) await this.deps.registry.releaseDrain(workerId, this.deps.selfId);
  }

  private async deleteIfEmpty(workerId: string): Promise<void> {
    const queue = this.deps.openQueue(workerChunkQueue(workerId));
    try {
      if ((await queue.getJobCountByTypes(...UNFINISHED)) > 0) return;
      const worker = this.draining.get(workerId);
      this.draining.delete(workerId);
      await worker?.close();
      // A task may have arrived meanwhile: the next sweep attaches a worker again.
      if ((await queue.getJobCountByTypes(...UNFINISHED)) > 0) return;
      await queue.obliterate({ force: true });
      await this.deps.registry.forget(workerId);
      await this.deps.registry.releaseDrain(workerId, this.deps.selfId);
      this.deps.log(`deleted the drained chunk queue of worker ${workerId}`);
    } finally {
      await queue.close();
    }
  }
}
