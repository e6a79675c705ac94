import { rename } from 'node:fs/promises';
import { chunkPath } from '../../storage/chunkFiles.ts';
import type { JobIO } from '../jobIO.ts';

/**
 * Pieces: the chunk files the tasks of a data operation write into its job folder, and that its
 * finalizer renames into the new dataset's folder, with no copy. Partials list them as flat triples
 * [group, index, rows]: the group is a stream of rxDataStep's family, a partition of the sample sort.
 */

/** Partition tasks in one round: the queue's cap (jobs/taskPlan.ts MAX_TASKS_PER_ROUND). */
export const MAX_TASKS = 512;

/** The items (partitions, runs, output chunks) task `task` of `tasks` handles: [first, last). */
export function partitionsOfTask(task: number, tasks: number, items: number): [number, number] {
  return [Math.floor((task * items) / tasks), Math.floor(((task + 1) * items) / tasks)];
}

/** The triples of `pieces` by group, then index: the order partials arrived in must not matter. */
export function sortedPieces(pieces: readonly number[]): Array<[number, number, number]> {
  const triples: Array<[number, number, number]> = [];
  for (let i = 0; i + 2 < pieces.length; i += 3) triples.push([pieces[i]!, pieces[i + 1]!, pieces[i + 2]!]);
  return triples.sort((x, y) => x[0] - y[0] || x[1] - y[1]);
}

/**
 * Moves chunk `from` of one job folder to chunk `to` of another. A finalizer re-run after a crash finds
 * it moved already (or the output published, its folder gone): publish then returns the recorded
 * dataset, or fails on the missing chunk if something really is lost.
 */
export async function movePiece(
  io: JobIO,
  from: { folder: string; index: number },
  to: { folder: string; index: number },
): Promise<void> {
  try {
    await rename(
      chunkPath(await io.folder(from.folder), from.index),
      chunkPath(await io.folder(to.folder), to.index),
    );
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
}
