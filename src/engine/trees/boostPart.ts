import { type GradientInput, gradientRange, type LossSum } from './boostGradients.ts';
import type { TreeWalker } from './growTree.ts';
import { OrderedRows } from './orderedRows.ts';
import { KernelHeap, KernelTree } from './rowKernels.ts';

/**
 * One fixed range of the rows of a local boosting round (bTrees.ts boostLocally), with everything the
 * round does per row: draws and gradients, the node-ordered rows of each class tree (orderedRows.ts),
 * their histograms, and the score update once the trees are grown. A round splits the input into
 * BOOST_PARTS such parts and sums their histograms and losses in part order, so the result is the
 * same whether the parts run one after another or on worker threads (boostRunner.ts).
 */

/** What the parts read, and the scores they update (each part only its own rows'). */
export interface BoostInput extends GradientInput {
  /** Row-major codes (localData.ts rowCodesOf), `p` a row; `missing[f]` is predictor f's missing code. */
  rowCodes: Uint16Array;
  p: number;
  missing: Int32Array;
}

/** A level's work: first the previous level's splits, then the histograms of the nodes to build. */
export interface LevelWork {
  /** Per class, its tree as it is now (growTree.ts treeWalker). */
  walkers: TreeWalker[];
  /** Per class, the nodes whose rows move to their children. */
  split: number[][];
  /** The slots to build, in order: slot b's blocks start at `b * stride`. */
  built: Array<{ tree: number; node: number }>;
  stride: number;
  featureOffset: Int32Array;
}

export class BoostPart {
  /** Where the part's row loops work (rowKernels.ts): its codes, gradients, rows and histograms. */
  private readonly heap: KernelHeap;
  /** The part's rows' codes, row-major (row i's at (i - from) p): a copy of its rows of `rowCodes`. */
  private readonly codes: Uint16Array;
  private readonly ghc: Float64Array[];
  private readonly count: Float64Array;
  private readonly rows: OrderedRows[];
  /** This iteration's sampled rows and the others (views of `ids`: sampled from the front, others from the back). */
  private readonly ids: Int32Array;
  private sampled: Int32Array;
  private others: Int32Array;
  private readonly leaves: Int32Array;
  /** Finished trees where the leaves kernel reads them, and the predictors' missing codes. */
  private readonly tree: KernelTree;
  private readonly missingCodes: Int32Array;
  private histBuffer: Float64Array<ArrayBufferLike> = new Float64Array(0);

  constructor(
    private readonly input: BoostInput,
    readonly from: number,
    readonly to: number,
    kernels: WebAssembly.Module,
  ) {
    const n = to - from;
    const { p, classes } = input;
    // Codes, ids and (g, h, count); the sampled rows' two node-ordered copies grow as they are needed.
    this.heap = new KernelHeap(kernels, n * (2 * p + 4 + 24 * classes));
    this.codes = this.heap.u16(n * p);
    this.codes.set(input.rowCodes.subarray(from * p, to * p));
    this.ghc = Array.from({ length: classes }, () => this.heap.f64(3 * n));
    this.count = new Float64Array(n);
    this.rows = Array.from({ length: classes }, () => new OrderedRows(p, this.heap, input.missing));
    this.ids = this.heap.i32(n);
    this.sampled = this.ids.subarray(0, 0);
    this.others = this.ids.subarray(0, 0);
    this.leaves = this.heap.i32(n);
    this.tree = new KernelTree(this.heap);
    this.missingCodes = this.heap.i32(p);
    this.missingCodes.set(input.missing);
  }

  /**
   * Iteration `iteration`'s draws, gradients and loss; with `grow`, each class tree's root then holds
   * the sampled rows.
   */
  start(iteration: number, grow: boolean): LossSum {
    const { from, to, count, ids } = this;
    const sum = gradientRange(this.input, iteration, from, to, { ghc: this.ghc, count, offset: from });
    if (!grow) return sum;
    const n = to - from;
    let front = 0;
    let back = n;
    for (let j = 0; j < n; j++) {
      if ((count[j] as number) > 0) ids[front++] = from + j;
      else ids[--back] = from + j;
    }
    this.sampled = ids.subarray(0, front);
    this.others = ids.subarray(front);
    this.rows.forEach((rows, c) => {
      rows.load(this.sampled, this.codes, this.ghc[c] as Float64Array, from);
    });
    return sum;
  }

  /**
   * Applies `work`'s splits, then returns its built slots' histograms over this part's rows: a view of
   * this part's buffer, valid until its next level (reused, so a round allocates no histograms after
   * its first tree; shared, so a thread's answer needs no copy).
   */
  level(work: LevelWork, size: number): Float64Array {
    const missing = this.input.missing;
    work.split.forEach((nodes, c) => {
      const rows = this.rows[c] as OrderedRows;
      for (const node of nodes) rows.split(work.walkers[c] as TreeWalker, node, missing);
    });
    if (this.histBuffer.length < size)
      this.histBuffer = this.heap.f64(Math.max(size, Math.ceil(this.histBuffer.length * 1.5)));
    const hist = this.histBuffer.subarray(0, size);
    hist.fill(0);
    work.built.forEach(({ tree, node }, b) => {
      (this.rows[tree] as OrderedRows).accumulate(hist, b * work.stride, work.featureOffset, node);
    });
    return hist;
  }

  /**
   * Adds the finished trees' leaf values (`values[c][node]`) to this part's scores: a sampled row's
   * from the node its rows ended in, the others' by walking the tree (the others are in descending
   * order; each row gets its own value, so the order does not matter).
   */
  finish(walkers: readonly TreeWalker[], values: readonly Float64Array[]): void {
    const { missing, scores } = this.input;
    const others = this.others;
    const leaves = this.leaves.subarray(0, others.length);
    walkers.forEach((walker, c) => {
      const score = scores[c] as Float64Array;
      const value = values[c] as Float64Array;
      (this.rows[c] as OrderedRows).addLeafValues(walker, value, missing, score);
      this.tree.leaves(walker, others, this.codes, this.from, this.input.p, this.missingCodes, leaves);
      for (let k = 0; k < others.length; k++) {
        const i = others[k] as number;
        score[i] = (score[i] as number) + (value[leaves[k] as number] as number);
      }
    });
  }
}
