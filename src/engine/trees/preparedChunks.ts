import type { Chunk } from '../analysis.ts';
import { binFeature, type FeatureBins } from './binning.ts';
import { readTreeChunk, type TreeDataPlan } from './data.ts';
import { rowKey } from './rowHash.ts';

/**
 * A chunk as the level passes of a tree analysis read it: predictor codes (bins), response, weights.
 * Binning costs a binary search per value, so each worker keeps the chunks it prepared (and what the
 * analysis derives per row: node positions, scores of the trees so far) in memory for the next passes.
 *
 * This is a cache, not state: a task that finds nothing (another worker prepared the chunk, the entry
 * was evicted, the process restarted) prepares the chunk again from the stored data and the job's
 * state and gets the same bits, so results never depend on which worker ran what.
 */
export interface PreparedChunk {
  numRows: number;
  /** The chunk's first row in the job's input (row ids for the per-row hashes are startRow + i). */
  startRow: number;
  /**
   * Row ids when they are not startRow + i: chunks joined for a local fit (trees/localData.ts) after a
   * rowSelection dropped rows, so each row keeps the id, and the draws, it has in a level pass.
   */
  rowIds?: Int32Array;
  /** Per predictor: codes 0..numBins-1, numBins = missing. */
  codes: Uint16Array[];
  /** Class codes (factor responses); -1 where the row is not used. */
  yCode: Int32Array | null;
  /** Numeric responses; 0 where the row is not used. */
  yValue: Float64Array | null;
  /** Case weight; 0 = the row is not used. */
  weight: Float64Array;
  /** Observation count of the row (minSplit, minBucket): the weight for fweights or none, else 0/1. */
  count: Float64Array;
  /** Rows used. */
  usedRows: number;
  /** What analyses derive per row and update pass by pass (see their own files). */
  derived: Map<string, unknown>;
  bytes: number;
}

export function prepareChunk(chunk: Chunk, plan: TreeDataPlan, bins: readonly FeatureBins[]): PreparedChunk {
  const raw = readTreeChunk(chunk.table, plan);
  const n = raw.numRows;
  const use = raw.use;
  const weight = new Float64Array(n);
  let usedRows = 0;
  for (let i = 0; i < n; i++) {
    if (use[i] === 0) continue;
    weight[i] = raw.weight === null ? 1 : (raw.weight[i] as number);
    usedRows++;
  }
  let count = weight;
  if (plan.weights?.kind === 'pweights') {
    count = new Float64Array(n);
    for (let i = 0; i < n; i++) count[i] = use[i] as number;
  }
  let yCode: Int32Array | null = null;
  let yValue: Float64Array | null = null;
  if (raw.yCode !== null) {
    yCode = new Int32Array(n);
    for (let i = 0; i < n; i++) yCode[i] = use[i] === 0 ? -1 : (raw.yCode[i] as number);
  } else if (raw.yValue !== null) {
    yValue = new Float64Array(n);
    for (let i = 0; i < n; i++) yValue[i] = use[i] === 0 ? 0 : (raw.yValue[i] as number);
  }
  const codes = raw.features.map((feature, f) => binFeature(feature, bins[f] as FeatureBins, n));
  const bytes = n * (2 * codes.length + 8 + (count === weight ? 0 : 8) + (yCode !== null ? 4 : 8));
  return {
    numRows: n,
    startRow: chunk.startRow,
    codes,
    yCode,
    yValue,
    weight,
    count,
    usedRows,
    derived: new Map(),
    bytes,
  };
}

interface Entry {
  chunk: PreparedChunk;
  usedAt: number;
}

/** Prepared chunks unused this long are dropped (a finished job's chunks are never asked for again). */
const IDLE_MS = 10 * 60 * 1000;

/**
 * Least-recently-used prepared chunks within a byte budget (derived per-row arrays are counted when
 * an analysis adds them through `account`).
 */
export class PreparedChunkCache {
  private readonly entries = new Map<string, Entry>();
  private bytes = 0;

  constructor(private budgetBytes: number) {}

  setBudget(bytes: number): void {
    this.budgetBytes = bytes;
    this.evict();
  }

  get(key: string): PreparedChunk | undefined {
    const now = Date.now();
    this.dropIdle(now);
    const entry = this.entries.get(key);
    if (entry === undefined) return undefined;
    this.entries.delete(key);
    entry.usedAt = now;
    this.entries.set(key, entry);
    return entry.chunk;
  }

  set(key: string, chunk: PreparedChunk): void {
    const old = this.entries.get(key);
    if (old !== undefined) {
      this.bytes -= old.chunk.bytes;
      this.entries.delete(key);
    }
    this.entries.set(key, { chunk, usedAt: Date.now() });
    this.bytes += chunk.bytes;
    this.evict();
  }

  /** Records `delta` more bytes held by a chunk (derived arrays); counted when the chunk is cached. */
  account(chunk: PreparedChunk, delta: number): void {
    chunk.bytes += delta;
    for (const entry of this.entries.values()) {
      if (entry.chunk !== chunk) continue;
      this.bytes += delta;
      this.evict();
      return;
    }
  }

  clear(): void {
    this.entries.clear();
    this.bytes = 0;
  }

  get size(): { entries: number; bytes: number } {
    return { entries: this.entries.size, bytes: this.bytes };
  }

  private evict(): void {
    for (const [key, entry] of this.entries) {
      if (this.bytes <= this.budgetBytes) break;
      this.entries.delete(key);
      this.bytes -= entry.chunk.bytes;
    }
  }

  private dropIdle(now: number): void {
    for (const [key, entry] of this.entries) {
      // Map order is least recently used first: the first entry not idle ends the sweep.
      if (now - entry.usedAt < IDLE_MS) break;
      this.entries.delete(key);
      this.bytes -= entry.chunk.bytes;
    }
  }
}

/**
 * The process's cache. 1 GiB unless the worker sets its budget (config `TREE_CACHE_MB`): a million
 * rows of ten predictors with their derived arrays take about 50 MB.
 */
export const preparedChunks = new PreparedChunkCache(1024 * 1024 * 1024);

/** Row i's id for the per-row hashes (rowHash.ts). */
export function rowIdOf(prepared: PreparedChunk, i: number): number {
  return prepared.rowIds === undefined ? prepared.startRow + i : (prepared.rowIds[i] as number);
}

/**
 * rowKey(seed, row id) of every row (rowHash.ts), cached with the chunk: every tree or iteration of
 * the job draws from it with one more mix (streamHash) instead of four.
 */
export function rowKeysOf(prepared: PreparedChunk, seed: number): Uint32Array {
  let keys = prepared.derived.get('rowKeys') as Uint32Array | undefined;
  if (keys === undefined) {
    // Shared memory: a local fit's tree threads (treeThreads.ts) read the keys in place.
    keys = new Uint32Array(new SharedArrayBuffer(4 * prepared.numRows));
    for (let i = 0; i < keys.length; i++) keys[i] = rowKey(seed, rowIdOf(prepared, i));
    prepared.derived.set('rowKeys', keys);
    preparedChunks.account(prepared, 4 * prepared.numRows);
  }
  return keys;
}

/** The prepared chunk for (job nonce, chunk), from the cache or made now. */
export function preparedFor(
  nonce: string,
  chunk: Chunk,
  plan: TreeDataPlan,
  bins: readonly FeatureBins[],
): PreparedChunk {
  const key = `${nonce}/${chunk.index}`;
  const cached = preparedChunks.get(key);
  if (cached !== undefined && cached.numRows === chunk.numRows) return cached;
  const prepared = prepareChunk(chunk, plan, bins);
  preparedChunks.set(key, prepared);
  return prepared;
}
