import type { TreeWalker } from './growTree.ts';
import type { KernelHeap, SampleArgs } from './rowKernels.ts';

/**
 * The sampled rows of one boosted tree in one part of a local round (boostPart.ts), kept in node
 * order: every node owns a segment, and a split moves its segment's rows, with their codes and their
 * (g, h, count), into two consecutive segments, lo then hi, each in row order (a stable partition).
 * Every loop over a node's rows then streams through memory: a deep node's rows are scattered over
 * the input, and reading them in place costs a cache miss per row in the histogram loop and the
 * partition. Moving 48 bytes a row per level (about 8 ns) and adding each row into its node's
 * histograms (about 1.7 ns per predictor) are most of a local boosted tree's time; both loops are
 * WebAssembly (rowKernelsText.ts), in the part's heap, where every array they read lives.
 *
 * Sums over a node's rows run in row order whatever the tree, so a local fit is deterministic.
 */
export class OrderedRows {
  /**
   * Two copies: a split reads its node's segment from one and writes the children's to the other (the
   * same places), so nothing is copied back; `buffer[node]` says which holds a node's rows. Kept from
   * one iteration's sample to the next (reallocated when a sample is larger).
   */
  private buffers: [Places, Places];
  /** Codes a place (p, or p + 1 to make it even). */
  private readonly q: number;
  /** A split's side of each row (1 = lo). */
  private side: Uint8Array;
  /** The histogram layout's block offsets (`featureOffset`), where the kernels read them. */
  private readonly fo: Int32Array;
  /** A factor split's level set, where the kernels read it: room for the largest missing code's word. */
  private readonly words: Uint32Array;
  /** Per node: its rows' segment and buffer; start -1 when the node has no rows of its own here. */
  private start: number[] = [];
  private end: number[] = [];
  private buffer: number[] = [];
  /** The loaded sample, which holds the root's rows (buffer SAMPLE) until the root is split. */
  private sample: Sample;

  /** `missingCode[f]`: predictor f's missing code, the largest (sizes the level-set scratch). */
  constructor(
    private readonly p: number,
    private readonly heap: KernelHeap,
    missingCode: ArrayLike<number>,
  ) {
    this.q = p + (p & 1);
    this.buffers = [places(heap, 0, this.q), places(heap, 0, this.q)];
    this.side = heap.u8(0);
    this.fo = heap.i32(p);
    let largest = 0;
    for (let f = 0; f < p; f++) largest = Math.max(largest, missingCode[f] as number);
    this.words = heap.u32((largest >> 5) + 1);
    this.sample = { ids: heap.i32(0), codes: heap.u16(0), ghc: heap.f64(0), offset: 0 };
  }

  /**
   * A new sample at the root: `rows` (ascending ids), whose codes are row-major in `codes` (p a row,
   * row i's at (i - offset) p) and whose (g, h, count) are at `ghc[3 (i - offset) ..]`, all in this
   * heap. The root reads its rows there, in place (ascending, so nearly in sequence); its split makes
   * the first node-ordered copy.
   */
  load(rows: Int32Array, codes: Uint16Array, ghc: Float64Array, offset: number): void {
    const m = rows.length;
    if (this.side.length < m) {
      // A sample's size varies little from one iteration to the next: a little room saves reallocating.
      const size = Math.ceil(m * 1.02) + 64;
      this.buffers = [places(this.heap, size, this.q), places(this.heap, size, this.q)];
      this.side = this.heap.u8(size);
    }
    this.sample = { ids: rows, codes, ghc, offset };
    this.start = [0];
    this.end = [m];
    this.buffer = [SAMPLE];
  }

  /**
   * Adds the gradient sums of `node`'s rows into its blocks starting at `base` of `hist` (in this heap;
   * bin sums [g, h, count], predictor f's block at `base + featureOffset[f]`, as histogram.ts lays them
   * out).
   */
  accumulate(hist: Float64Array, base: number, featureOffset: Int32Array, node: number): void {
    const from = this.segmentStart(node);
    this.fo.set(featureOffset);
    const at = hist.byteOffset + 8 * base;
    const { kernels } = this.heap;
    if (this.buffer[node] === SAMPLE) {
      kernels.accumulateSample(at, this.fo.byteOffset, ...this.sampleArgs());
      return;
    }
    const { codes, ghc } = this.rowsOf(node);
    kernels.accumulate(
      at,
      this.fo.byteOffset,
      codes.byteOffset,
      ghc.byteOffset,
      from,
      this.end[node] as number,
      this.p,
      this.q,
    );
  }

  /**
   * Splits `node`'s rows between its children as the tree's split at `node` sends them (growTree.ts
   * childOf; `missingCode[f]`, the largest code, is predictor f's missing value).
   */
  split(tree: TreeWalker, node: number, missingCode: ArrayLike<number>): void {
    const from = this.segmentStart(node);
    const to = this.end[node] as number;
    const lows = this.decide(tree, node, missingCode);
    const { kernels } = this.heap;
    const source = this.buffer[node] as number;
    // The sample's rows and buffer 1's go to buffer 0, buffer 0's to buffer 1.
    const into = source === 0 ? 1 : 0;
    const target = this.buffers[into];
    const targets = [target.ids.byteOffset, target.codes.byteOffset, target.ghc.byteOffset] as const;
    if (source === SAMPLE) {
      kernels.moveSample(...this.sampleArgs(), ...targets, lows, this.side.byteOffset, this.q);
    } else {
      const rows = this.rowsOf(node);
      kernels.move(
        rows.ids.byteOffset,
        rows.codes.byteOffset,
        rows.ghc.byteOffset,
        ...targets,
        from,
        to,
        lows,
        this.side.byteOffset,
        this.q >> 1,
      );
    }
    this.setSegment(tree.lo[node] as number, from, from + lows, into);
    this.setSegment(tree.hi[node] as number, from + lows, to, into);
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
    if (bin < 0) {
      const setStart = tree.setStart[node] as number;
      const words = tree.words.subarray(setStart, setStart + this.words.length);
      this.words.fill(0);
      this.words.set(words);
    }
    const { kernels } = this.heap;
    const words = this.words.byteOffset;
    const side = this.side.byteOffset;
    if (this.buffer[node] === SAMPLE) {
      return kernels.decideSample(...this.sampleArgs(), f, missing, missingGoes, bin, words, side);
    }
    const { codes } = this.rowsOf(node);
    return kernels.decide(codes.byteOffset, this.q, from, to, f, missing, missingGoes, bin, words, side);
  }

  /** The loaded sample as the kernels take it. */
  private sampleArgs(): SampleArgs {
    const { ids, codes, ghc, offset } = this.sample;
    return [ids.byteOffset, ids.length, codes.byteOffset, ghc.byteOffset, offset, this.p];
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

/** `buffer` of a node whose rows are still the loaded sample's (the root's, until it is split). */
const SAMPLE = -1;

interface Sample {
  ids: Int32Array;
  /** Row-major, row i's at (i - offset) p. */
  codes: Uint16Array;
  ghc: Float64Array;
  offset: number;
}

/** Per place: row id, codes (q a place, so a place's codes are whole 32-bit words), (g, h, count). */
interface Places {
  ids: Int32Array;
  codes: Uint16Array;
  ghc: Float64Array;
}

function places(heap: KernelHeap, m: number, q: number): Places {
  return { ids: heap.i32(m), codes: heap.u16(m * q), ghc: heap.f64(3 * m) };
}
