import type { JobIO } from '../jobIO.ts';
import { type ColumnValues, gatherRows, kindOf, tableOf } from './columnValues.ts';
import { compareKeys, stableOrder } from './externalKeys.ts';
import {
  chunkSizes,
  type PiecesPartial,
  type RunInfo,
  readRunRanges,
  writePartitionPiece,
} from './externalSort.ts';
import type { MergePlan, SidePlan } from './mergePlan.ts';

/**
 * One partition of rxMerge's sort-merge join (inner, left, right, full). The partition's left rows are
 * a range of the sample sort's total order (so a key with many left rows is spread over partitions);
 * its right rows are every right row whose key its left rows may match, so right rows with a key that
 * straddles partitions are read by each of them, and are written unmatched (right and full joins) only
 * by the partition that "owns" them: those below its upper splitter.
 *
 * Output order, the same with any number of workers: by key (decreasing and missingsLow as asked),
 * and for one key, left rows in input order, each with the right rows of that key in input order (R's
 * merge gives the same pairs; its order within one key differs). Unmatched rows sit at their key's place.
 * Missing keys match each other, as R's merge does by default (incomparables = NULL).
 */

/** What a partition reads of each run: the rows [from, to), of which [from, ownedTo) are its own. */
export interface RunRange {
  run: RunInfo;
  from: number;
  to: number;
  ownedTo: number;
}

interface Side {
  columns: ColumnValues[];
  rows: number;
  order: Int32Array;
}

async function loadSide(
  io: JobIO,
  side: SidePlan,
  keyCount: number,
  ranges: readonly RunRange[],
  plan: MergePlan,
): Promise<Side & { owned: Uint8Array }> {
  // Factor keys stay codes and factor-string keys become text: the key's kind is the merged variable's.
  const kinds = side.columns.map((c, j) =>
    j < keyCount ? kindOf(plan.variables[j]!.type) : kindOf(c.source.type),
  );
  const columns = await readRunRanges(io, ranges, kinds);
  let rows = 0;
  for (const range of ranges) rows += Math.max(0, range.to - range.from);
  const owned = new Uint8Array(rows);
  let at = 0;
  for (const range of ranges) {
    if (range.to <= range.from) continue;
    owned.fill(1, at, at + range.ownedTo - range.from);
    at += range.to - range.from;
  }
  // Each run's range is sorted and they lie in run order: a stable sort merges them, ties by run.
  const order = stableOrder(plan.orders, columns.slice(0, keyCount), rows);
  return { columns, rows, order, owned };
}

/** Output rows as (left row, right row) pairs, -1 for a side without a row, written out in chunks. */
class PairWriter {
  private left = new Int32Array(4096);
  private right = new Int32Array(4096);
  private length = 0;
  private piece = 0;
  readonly written: PiecesPartial = { pieces: [], stats: null };

  constructor(
    private readonly io: JobIO,
    private readonly plan: MergePlan,
    private readonly partition: number,
    private readonly leftSide: Side,
    private readonly rightSide: Side,
  ) {}

  /** Adds a pair; true when enough are pending that `drain` should write a chunk. */
  push(l: number, r: number): boolean {
    if (this.length === this.left.length) {
      const grow = (a: Int32Array) => {
        const b = new Int32Array(a.length * 2);
        b.set(a);
        return b;
      };
      this.left = grow(this.left);
      this.right = grow(this.right);
    }
    this.left[this.length] = l;
    this.right[this.length] = r;
    this.length++;
    // Two chunks' worth pending before one is written, so the partition's last chunk is never tiny.
    return this.length >= 2 * this.plan.rowsPerChunk;
  }

  async drain(): Promise<void> {
    await this.flush(this.plan.rowsPerChunk);
  }

  /** Writes the first `rows` pending pairs as one chunk. */
  private async flush(rows: number): Promise<void> {
    const { plan } = this;
    const columns = plan.sources.map((source) => {
      if (source.from === 'key') {
        return gatherRows(this.leftSide.columns[source.key]!, this.left, 0, rows, {
          column: this.rightSide.columns[source.key]!,
          rows: this.right,
        });
      }
      const side = source.from === 'left' ? this.leftSide : this.rightSide;
      return gatherRows(
        side.columns[source.column]!,
        source.from === 'left' ? this.left : this.right,
        0,
        rows,
      );
    });
    const table = tableOf(plan.variables, columns, rows);
    await writePartitionPiece(this.io, this.written, this.partition, this.piece, table, plan.variables);
    this.piece++;
    this.left.copyWithin(0, rows, this.length);
    this.right.copyWithin(0, rows, this.length);
    this.length -= rows;
  }

  async finish(): Promise<void> {
    for (const size of chunkSizes(this.length, this.plan.rowsPerChunk)) await this.flush(size);
  }
}

/** Joins partition `partition` and writes its output chunks. */
export async function joinPartition(
  io: JobIO,
  plan: MergePlan,
  partition: number,
  leftRanges: readonly RunRange[],
  rightRanges: readonly RunRange[],
): Promise<PiecesPartial> {
  const k = plan.keyCount;
  const left = await loadSide(io, plan.left, k, leftRanges, plan);
  const right = await loadSide(io, plan.rightSide, k, rightRanges, plan);
  const out = new PairWriter(io, plan, partition, left, right);
  const keepLeft = plan.type === 'left' || plan.type === 'full';
  const keepRight = plan.type === 'right' || plan.type === 'full';
  const lk = left.columns.slice(0, k);
  const rk = right.columns.slice(0, k);
  let i = 0;
  let j = 0;
  while (i < left.rows || j < right.rows) {
    const c =
      j >= right.rows
        ? -1
        : i >= left.rows
          ? 1
          : compareKeys(plan.orders, lk, left.order[i]!, rk, right.order[j]!);
    if (c < 0) {
      if (keepLeft && out.push(left.order[i]!, -1)) await out.drain();
      i++;
    } else if (c > 0) {
      const r = right.order[j]!;
      if (keepRight && right.owned[r] === 1 && out.push(-1, r)) await out.drain();
      j++;
    } else {
      let iEnd = i + 1;
      while (iEnd < left.rows && compareKeys(plan.orders, lk, left.order[i]!, lk, left.order[iEnd]!) === 0)
        iEnd++;
      let jEnd = j + 1;
      while (jEnd < right.rows && compareKeys(plan.orders, rk, right.order[j]!, rk, right.order[jEnd]!) === 0)
        jEnd++;
      for (let a = i; a < iEnd; a++) {
        for (let b = j; b < jEnd; b++) if (out.push(left.order[a]!, right.order[b]!)) await out.drain();
      }
      i = iEnd;
      j = jEnd;
    }
  }
  await out.finish();
  return out.written;
}
