import type { DatasetMeta } from '../storage/datasetMeta.ts';

/** One chunk task: a run of consecutive chunks a worker maps and merges in order. */
export interface TaskRange {
  taskIndex: number;
  firstChunk: number;
  chunkCount: number;
  rows: number;
}

/**
 * Past a few hundred children, reading every partial in one getChildrenValues call gets heavy
 * (BULLMQ.md, section 1), so a round never has more tasks than this: larger datasets get more chunks per task.
 */
export const MAX_TASKS_PER_ROUND = 512;

/**
 * Groups chunks into tasks of `blocksPerRead` chunks (more when the cap requires). The grouping depends
 * only on the dataset and the params, never on the workers, so the merge tree is always the same and
 * results are bit-identical with any number of workers.
 */
export function planTasks(meta: DatasetMeta, blocksPerRead: number): TaskRange[] {
  const perTask = Math.max(blocksPerRead, Math.ceil(meta.numChunks / MAX_TASKS_PER_ROUND));
  const tasks: TaskRange[] = [];
  for (let first = 0; first < meta.numChunks; first += perTask) {
    const chunkCount = Math.min(perTask, meta.numChunks - first);
    let rows = 0;
    for (let i = first; i < first + chunkCount; i++) rows += meta.chunkRows[i] ?? 0;
    tasks.push({ taskIndex: tasks.length, firstChunk: first, chunkCount, rows });
  }
  return tasks;
}

/** Index of the first row of every chunk. */
export function chunkStartRows(meta: DatasetMeta): number[] {
  const starts: number[] = [];
  let row = 0;
  for (const n of meta.chunkRows) {
    starts.push(row);
    row += n;
  }
  return starts;
}

/** One task per partition of a `partitions` round (their `rows` are unknown and counted as 0). */
export function planPartitionTasks(count: number): TaskRange[] {
  if (!Number.isInteger(count) || count < 1 || count > MAX_TASKS_PER_ROUND)
    throw new Error(`a round may have 1..${MAX_TASKS_PER_ROUND} partitions, not ${count}`);
  return Array.from({ length: count }, (_, p) => ({ taskIndex: p, firstChunk: p, chunkCount: 1, rows: 0 }));
}
