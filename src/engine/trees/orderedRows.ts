import type { TreeWalker } from './growTree.ts';

/**
 * The sampled rows of one boosted tree in one part of a local round (boostPart.ts), kept in node
 * order: every node owns a segment, and a split moves its segment's rows, with their codes and their
 * (g, h, count), into two consecutive segments, lo then hi, each in row order (a stable partition).
 * Every loop over a node's rows then streams through memory: a deep node's rows are scattered over
 * the input, and reading them in place costs a cache miss per row in the histogram loop and the
 * partition. Moving 48 bytes a row (about 19 ns) per level and adding each row into its node's
 * histograms (about 4 ns per predictor) are most of a local boosted tree's time.
 *
 * Sums over a node's rows run in row order whatever the tree, so a local fit is deterministic.
 */
export class OrderedRows {
  /**
   * Two copies: a split reads its node's segment from one and writes the children's to the other (the
   * same places), so nothing is copied back; `buffer[node]` says which holds a node's rows. Kept from
   * one iteration's sample to the next (grown when a sample is larger).
   */
  private buffers: [Places, Places];
  /** Codes a place (p, or p + 1 to make it even). */
  private readonly q: number;
  /** A split's side of each row (1 = lo). */
  private side: Uint8Array;
  /** Per node: its rows' segment and buffer; start -1 when the node has no rows of its own here. */
  private start: number[] = [];
  private end: number[] = [];
  private buffer: number[] = [];
  /** The loaded sample, which holds the root's rows (buffer SAMPLE) until the root is split. */
  private sample: Sample = {
    ids: new Int32Array(0),
    rowCodes: new Uint16Array(0),
    ghc: new Float64Array(0),
    offset: 0,
  };

  constructor(private readonly p: number) {
    this.q = p + (p & 1);
    this.buffers = [places(0, this.q), places(0, this.q)];
    this.side = new Uint8Array(0);
  }

  /**
   * A new sample at the root: `rows` (ascending ids), whose codes are row-major in `rowCodes` (p a
   * row) and whose (g, h, count) are at `ghc[3 (i - offset) ..]`. The root reads its rows there, in
   * place (ascending, so nearly in sequence); its split makes the first node-ordered copy.
   */
  load(rows: Int32Array, rowCodes: Uint16Array, ghc: Float64Array, offset: number): void {
    const m = rows.length;
    if (this.side.length < m) {
      const size = Math.max(m, Math.ceil(this.side.length * 1.25));
      this.buffers = [places(size, this.q), places(size, this.q)];
      this.side = new Uint8Array(size);
    }
    this.sample = { ids: rows, rowCodes, ghc, offset };
    this.start = [0];
    this.end = [m];
    this.buffer = [SAMPLE];
  }

  /**
   * Adds the gradient sums of `node`'s rows into its blocks starting at `base` (bin sums [g, h,
   * count], predictor f's block at `base + featureOffset[f]`, as histogram.ts lays them out).
   */
  accumulate(hist: Float64Array, base: number, featureOffset: Int32Array, node: number): void {
    const from = this.segmentStart(node);
    if (this.buffer[node] === SAMPLE) {
      this.accumulateSample(hist, base, featureOffset);
      return;
    }
    const { codes, ghc } = this.rowsOf(node);
    const { p, q } = this;
    const to = this.end[node] as number;
    for (let j = from; j < to; j++) {
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

  /** accumulate for the root, reading the sample in place. */
  private accumulateSample(hist: Float64Array, base: number, featureOffset: Int32Array): void {
    const { ids, rowCodes, ghc, offset } = this.sample;
    const p = this.p;
    const m = ids.length;
    for (let j = 0; j < m; j++) {
      const i = ids[j] as number;
      const at = 3 * (i - offset);
      const g = ghc[at] as number;
      const h = ghc[at + 1] as number;
      const c = ghc[at + 2] as number;
      const row = i * p;
      for (let f = 0; f < p; f++) {
        const o = base + (featureOffset[f] as number) + (rowCodes[row + f] as number) * 3;
        hist[o] = (hist[o] as number) + g;
        hist[o + 1] = (hist[o + 1] as number) + h;
        hist[o + 2] = (hist[o + 2] as number) + c;
      }
    }
  }

  /**
   * Splits `node`'s rows between its children as the tree's split at `node` sends them (growTree.ts
   * childOf; `missingCode[f]`, the largest code, is predictor f's missing value).
   */
  split(tree: TreeWalker, node: number, missingCode: ArrayLike<number>): void {
    const from = this.segmentStart(node);
    const to = this.end[node] as number;
    const lows = this.decide(tree, node, missingCode);
    const q = this.q;
    const source = this.buffer[node] as number;
    if (source === SAMPLE) {
      this.splitSample(tree, node, lows);
      return;
    }
    const { ids, words, ghc } = this.buffers[source] as Places;
    const target = this.buffers[1 - source] as Places;
    const side = this.side;
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

  /** split for the root: its rows from the sample into buffer 0, each with its codes and (g, h, count). */
  private splitSample(tree: TreeWalker, node: number, lows: number): void {
    const { ids, rowCodes, ghc, offset } = this.sample;
    const { p, q, side } = this;
    const { ids: toIds, codes: toCodes, ghc: toGhc } = this.buffers[0];
    const m = ids.length;
    let lo = 0;
    let hi = lows;
    for (let j = 0; j < m; j++) {
      const t = side[j] === 1 ? lo++ : hi++;
      const i = ids[j] as number;
      toIds[t] = i;
      const row = i * p;
      const place = t * q;
      for (let f = 0; f < p; f++) toCodes[place + f] = rowCodes[row + f] as number;
      const at = 3 * (i - offset);
      toGhc[3 * t] = ghc[at] as number;
      toGhc[3 * t + 1] = ghc[at + 1] as number;
      toGhc[3 * t + 2] = ghc[at + 2] as number;
    }
    this.setSegment(tree.lo[node] as number, 0, lows, 0);
    this.setSegment(tree.hi[node] as number, lows, m, 0);
  }

  /**
   * Adds each row's leaf value (`values[leaf]`) of the finished `tree` to `score[id]`. A node whose rows
   * were never split between its children (the last level's splits: its children are leaves, so
   * moving the rows would serve nothing) sends each row's value by the split's side.
   */
  addLeafValues(
    tree: TreeWalker,
    values: Float64Array,
    missingCode: ArrayLike<number>,
    score: Float64Array,
  ): void {
    for (let node = 0; node < tree.size; node++) {
      const from = this.start[node] ?? -1;
      if (from < 0) continue;
      const to = this.end[node] as number;
      const ids = this.buffer[node] === SAMPLE ? this.sample.ids : this.rowsOf(node).ids;
      if ((tree.feature[node] as number) < 0) {
        const v = values[node] as number;
        for (let j = from; j < to; j++) {
          const i = ids[j] as number;
          score[i] = (score[i] as number) + v;
        }
      } else if ((this.start[tree.lo[node] as number] ?? -1) < 0) {
        this.decide(tree, node, missingCode);
        const vLo = values[tree.lo[node] as number] as number;
        const vHi = values[tree.hi[node] as number] as number;
        const side = this.side;
        for (let j = from; j < to; j++) {
          const i = ids[j] as number;
          score[i] = (score[i] as number) + (side[j - from] === 1 ? vLo : vHi);
        }
      }
    }
  }

  /** Each of `node`'s rows' side of its split into `side` (1 = lo); returns how many go lo. */
  private decide(tree: TreeWalker, node: number, missingCode: ArrayLike<number>): number {
    const f = tree.feature[node] as number;
    const from = this.start[node] as number;
    const to = this.end[node] as number;
    const missing = missingCode[f] as number;
    const missingGoes = tree.missingLo[node] === 1 ? 1 : 0;
    const bin = tree.bin[node] as number;
    const setStart = tree.setStart[node] as number;
    const words = tree.words;
    const side = this.side;
    let lows = 0;
    if (this.buffer[node] === SAMPLE) {
      // The root reads its codes in the sample (row i's at i * p).
      const { ids, rowCodes } = this.sample;
      const p = this.p;
      for (let j = from; j < to; j++) {
        const goLo = goesLo(
          rowCodes[(ids[j] as number) * p + f] as number,
          missing,
          missingGoes,
          bin,
          words,
          setStart,
        );
        side[j - from] = goLo;
        lows += goLo;
      }
      return lows;
    }
    const { codes } = this.rowsOf(node);
    const q = this.q;
    for (let j = from; j < to; j++) {
      const goLo = goesLo(codes[j * q + f] as number, missing, missingGoes, bin, words, setStart);
      side[j - from] = goLo;
      lows += goLo;
    }
    return lows;
  }

  private segmentStart(node: number): number {
    const from = this.start[node] ?? -1;
    if (from < 0) throw new Error(`node ${node} has no rows of its own (its parent's split was not applied)`);
    return from;
  }

  private rowsOf(node: number): Places {
    return this.buffers[this.buffer[node] === 1 ? 1 : 0];
  }

  private setSegment(node: number, from: number, to: number, buffer: number): void {
    while (this.start.length <= node) {
      this.start.push(-1);
      this.end.push(-1);
      this.buffer.push(0);
    }
    this.start[node] = from;
    this.end[node] = to;
    this.buffer[node] = buffer;
  }
}

/**
 * 1 when a row with `code` goes lo (growTree.ts childOf, without branches): codes below `bin`, or levels
 * in the bitset at `words[setStart ..]` when `bin` is -1; `missing`, the largest code, as `missingGoes`.
 */
function goesLo(
  code: number,
  missing: number,
  missingGoes: number,
  bin: number,
  words: Uint32Array,
  setStart: number,
): number {
  // (x - y) >>> 31 is 1 exactly when x < y.
  const isMissing = (missing - 1 - code) >>> 31;
  const inLo =
    bin >= 0 ? (code - bin) >>> 31 : ((words[setStart + (code >> 5)] as number) >>> (code & 31)) & 1;
  return (inLo & (1 - isMissing)) | (isMissing & missingGoes);
}

/** `buffer` of a node whose rows are still the loaded sample's (the root's, until it is split). */
const SAMPLE = -1;

interface Sample {
  ids: Int32Array;
  rowCodes: Uint16Array;
  ghc: Float64Array;
  offset: number;
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
