import { readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import type { Queue } from 'bullmq';
import { removeJobFiles } from '../storage/jobFiles.ts';
import type { JobRecords } from './jobRecords.ts';
import type { CoordinatorData } from './messages.ts';

/**
 * Removes a job's BullMQ side: the coordinator and, through it, its unprocessed chunk tasks. A task that
 * is running cannot be removed; it drops its work when it sees the job is no longer running.
 */
export async function removeQueuedWork(
  coordinatorQueue: Queue<CoordinatorData>,
  jobId: string,
): Promise<void> {
  const job = await coordinatorQueue.getJob(jobId);
  if (!job) return;
  try {
    await job.remove();
  } catch {
    // Locked (active) coordinator or an active child: at least drop what has not started.
    await job.removeUnprocessedChildren().catch(() => undefined);
  }
}

/** Job folders younger than this are left alone: their job may be being submitted right now. */
const FOLDER_GRACE_MS = 60_000;

/**
 * Removes the folders (storage/jobFiles.ts) of jobs that ended or are gone. The coordinator removes its
 * own at the end; this catches the rest: a cancelled job whose last task wrote after the cancel, a
 * coordinator killed mid-finalize, a record expired by JOB_TTL_SECONDS.
 */
export async function sweepJobFolders(dataDir: string, records: JobRecords): Promise<void> {
  const root = path.join(dataDir, 'jobs');
  const names = await readdir(root).catch(() => [] as string[]);
  const now = Date.now();
  for (const name of names) {
    const status = await records.status(name);
    if (status === 'queued' || status === 'running') continue;
    const modified = await stat(path.join(root, name)).then(
      (s) => s.mtimeMs,
      () => 0,
    );
    if (now - modified > FOLDER_GRACE_MS) await removeJobFiles(dataDir, name);
  }
}

/**
 * Fails a running job whose progress stopped for longer than `stallMs` (a lost coordinator, a
 * parent left waiting by a Redis fault: bullmq#2644), so no job hangs forever. Runs in every API and
 * worker process; the record's final transition is atomic, so several watchdogs do no harm.
 */
export function startWatchdog(
  records: JobRecords,
  coordinatorQueue: Queue<CoordinatorData>,
  stallMs: number,
  onError: (error: unknown) => void,
  /** Also sweep the job folders under this DATA_DIR (worker processes pass it). */
  dataDir?: string,
): () => void {
  const sweep = async (): Promise<void> => {
    if (dataDir !== undefined) await sweepJobFolders(dataDir, records);
    const now = Date.now();
    for (const id of await records.unfinishedIds()) {
      const activity = await records.lastActivity(id);
      if (!activity || (activity.status !== 'queued' && activity.status !== 'running')) {
        await records.forgetUnfinished(id);
        continue;
      }
      if (activity.status === 'running' && now - activity.updatedAt > stallMs) {
        const failed = await records.fail(id, {
          code: 'JOB_STALLED',
          message: `no progress for ${Math.round((now - activity.updatedAt) / 1000)} s (limit JOB_STALL_SECONDS=${Math.round(stallMs / 1000)}); the job was stopped`,
        });
        if (failed) await removeQueuedWork(coordinatorQueue, id);
      }
    }
  };
  const period = Math.max(250, Math.min(30_000, stallMs / 4));
  let running = false;
  const timer = setInterval(() => {
    if (running) return;
    running = true;
    sweep()
      .catch(onError)
      .finally(() => {
        running = false;
      });
  }, period);
  timer.unref();
  return () => clearInterval(timer);
}
