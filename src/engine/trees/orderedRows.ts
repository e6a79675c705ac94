import type { GrowTree } from './growTree.ts';

/**
 * The sampled rows of one boosted tree grown locally (localData.ts), kept in node order: every node owns
 * a segment, and a split moves its segment's rows, with their codes and their (g, h, count), into two
 * consecutive segments, lo then hi, each in row order (a stable partition). Every loop over a node's
 * rows then streams through memory: a deep node's rows are scattered over the input, and reading them
 * in place costs a cache miss per row in the histogram loop and the partition. Moving 48 bytes a row
 * per level is still the largest single cost of a local boosted tree (about 30% of it at a million
 * rows), but less than the misses were.
 *
 * Sums over a node's rows run in row order whatever the tree, so a local fit is deterministic.
 */
export class OrderedRows {
  /**
   * Two copies: a split reads its node's segment from one and writes the children's to the other (the
   * same places), so nothing is copied back; `buffer[node]` says which holds a node's rows.
   */
  private readonly buffers: [Places, Places];
  private buffer: number[] = [0];
  /** Codes a place (p, or p + 1 to make it even). */
  private readonly q: number;
  /** A split's side of each row (1 = lo). */
  private readonly side: Uint8Array;
  private start: number[] = [0];
  private end: number[];

  /**
   * `rows`: the sampled rows (ascending); `rowCodes`: the input's row-major codes (p a row); `ghc`:
   * each input row's (g, h, count) side by side.
   */
  constructor(
    rows: Int32Array,
    rowCodes: Uint16Array,
    private readonly p: number,
    ghc: Float64Array,
  ) {
    const m = rows.length;
    const q = p + (p & 1);
    this.q = q;
    this.buffers = [places(m, q), places(m, q)];
    const { ids, codes, ghc: own } = this.buffers[0];
    for (let j = 0; j < m; j++) {
      const i = rows[j] as number;
      ids[j] = i;
      for (let f = 0; f < p; f++) codes[j * q + f] = rowCodes[i * p + f] as number;
      own[3 * j] = ghc[3 * i] as number;
      own[3 * j + 1] = ghc[3 * i + 1] as number;
      own[3 * j + 2] = ghc[3 * i + 2] as number;
    }
    this.side = new Uint8Array(m);
    this.end = [m];
  }

  /** The row ids of `node` (a view, valid until the node is split). */
  idsOf(node: number): Int32Array {
    return this.rowsOf(node).ids.subarray(this.start[node] ?? 0, this.end[node] ?? 0);
  }

  /**
   * Adds the gradient sums of `node`'s rows into its blocks starting at `base` (bin sums [g, h,
   * count], predictor f's block at `base + featureOffset[f]`, as histogram.ts lays them out).
   */
  accumulate(hist: Float64Array, base: number, featureOffset: Int32Array, node: number): void {
    const { codes, ghc } = this.rowsOf(node);
    const { p, q } = this;
    const to = this.end[node] as number;
    for (let j = this.start[node] as number; j < to; j++) {
      const g = ghc[3 * j] as number;
      const h = ghc[3 * j + 1] as number;
      const c = ghc[3 * j + 2] as number;
      const at = j * q;
      for (let f = 0; f < p; f++) {
        const o = base + (featureOffset[f] as number) + (codes[at + f] as number) * 3;
        hist[o] = (hist[o] as number) + g;
        hist[o + 1] = (hist[o + 1] as number) + h;
        hist[o + 2] = (hist[o + 2] as number) + c;
      }
    }
  }

  /**
   * Splits `node`'s rows between its children as the tree's split at `node` sends them
   * (growTree.ts: codes below `bin`, or levels in the bitset, go lo; missing values as `missingLo`;
   * `missingCode[f]`, the largest code, is predictor f's missing value).
   */
  split(tree: GrowTree, node: number, missingCode: ArrayLike<number>): void {
    const f = tree.feature[node] as number;
    const from = this.start[node] as number;
    const to = this.end[node] as number;
    const missing = missingCode[f] as number;
    const missingGoes = tree.missingLo[node] === 1 ? 1 : 0;
    const bin = tree.bin[node] as number;
    const set = Uint32Array.from(tree.levelSet[node] ?? []);
    const q = this.q;
    const source = this.buffer[node] as number;
    const { ids, codes, words, ghc } = this.buffers[source] as Places;
    const target = this.buffers[1 - source] as Places;
    const side = this.side;
    let lows = 0;
    for (let j = from; j < to; j++) {
      const code = codes[j * q + f] as number;
      // Missing is the largest code: (x - y) >>> 31 is 1 exactly when x < y.
      const isMissing = (missing - 1 - code) >>> 31;
      const inLo = bin >= 0 ? (code - bin) >>> 31 : ((set[code >> 5] as number) >>> (code & 31)) & 1;
      const goLo = (inLo & (1 - isMissing)) | (isMissing & missingGoes);
      side[j - from] = goLo;
      lows += goLo;
    }
    // Each row to its place in the other buffer (lo rows first, each side in row order).
    const w = q >> 1;
    // Locals: V8 does not hoist the loads of an object's arrays out of a loop that stores to arrays.
    const toIds = target.ids;
    const toWords = target.words;
    const toGhc = target.ghc;
    let lo = from;
    let hi = from + lows;
    for (let j = from; j < to; j++) {
      const t = side[j - from] === 1 ? lo++ : hi++;
      toIds[t] = ids[j] as number;
      for (let k = 0; k < w; k++) toWords[t * w + k] = words[j * w + k] as number;
      toGhc[3 * t] = ghc[3 * j] as number;
      toGhc[3 * t + 1] = ghc[3 * j + 1] as number;
      toGhc[3 * t + 2] = ghc[3 * j + 2] as number;
    }
    this.setSegment(tree.lo[node] as number, from, from + lows, 1 - source);
    this.setSegment(tree.hi[node] as number, from + lows, to, 1 - source);
  }

  private rowsOf(node: number): Places {
    return this.buffers[this.buffer[node] ?? 0] as Places;
  }

  private setSegment(node: number, from: number, to: number, buffer: number): void {
    while (this.start.length <= node) {
      this.start.push(0);
      this.end.push(0);
      this.buffer.push(0);
    }
    this.start[node] = from;
    this.end[node] = to;
    this.buffer[node] = buffer;
  }
}

/**
 * Per place: row id, codes (q = p rounded up to even a place, so a place's codes are whole 32-bit
 * words that move as `words`), (g, h, count).
 */
interface Places {
  ids: Int32Array;
  codes: Uint16Array;
  words: Int32Array;
  ghc: Float64Array;
}

function places(m: number, q: number): Places {
  const codes = new Uint16Array(m * q);
  return { ids: new Int32Array(m), codes, words: new Int32Array(codes.buffer), ghc: new Float64Array(3 * m) };
}
