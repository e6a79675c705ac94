import type { RowOpsSpec } from '../engine/expr/index.ts';

/** Data of a coordinator job (one per analysis job; its BullMQ id is the job id). */
export interface CoordinatorData {
  jobId: string;
  /** plan: add the round's chunk tasks; wait: wait for them; merge: merge partials and finalize. */
  step: 'plan' | 'wait' | 'merge';
  round: number;
}

/** Data of a chunk task: map and merge chunks [firstChunk, firstChunk + chunkCount) for one round. */
export interface ChunkTaskData {
  jobId: string;
  /** The job's tenant: the owner of every dataset the task reads or writes. */
  tenant: string;
  type: string;
  /** The dataset whose chunks the task reads (the job's own, or another for a `chunks` round input). */
  dataset: string;
  /** `partitions`: firstChunk..+chunkCount are partition numbers for `mapPartition`, not chunks. */
  input: 'chunks' | 'partitions';
  /** True when `dataset` is the job's own input, so its transforms and rowSelection apply. */
  ownInput: boolean;
  /** The job's transforms and rowSelection, when it has any (applied to its own input's chunks). */
  rowOps?: RowOpsSpec;
  round: number;
  taskIndex: number;
  firstChunk: number;
  chunkCount: number;
  rows: number;
  /**
   * Set on a task another worker moved to its own queue (taskStealer.ts): its chunks are cached there
   * only if they fit beside that worker's own share.
   */
  stolen?: boolean;
}

/** Child job ids carry round and task, so a coordinator re-run adds nothing twice and can sort partials. */
export function chunkTaskId(jobId: string, round: number, taskIndex: number): string {
  return `${jobId}-r${round}-t${taskIndex}`;
}

const TASK_KEY = /-r(\d+)-t(\d+)$/;

/** Round and task index from a child key as getChildrenValues returns it (`<prefix>:<queue>:<id>`). */
export function parseChunkTaskKey(key: string): { round: number; taskIndex: number } | null {
  const match = TASK_KEY.exec(key);
  return match ? { round: Number(match[1]), taskIndex: Number(match[2]) } : null;
}
