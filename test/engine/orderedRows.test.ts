import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { leavesRowMajor, newTree, splitNode, treeWalker } from '../../src/engine/trees/growTree.ts';
import { OrderedRows } from '../../src/engine/trees/orderedRows.ts';
import { KernelHeap, KernelTree, rowKernelModule } from '../../src/engine/trees/rowKernels.ts';
import type { SplitChoice } from '../../src/engine/trees/splitSearch.ts';
import { seededRandom } from './helpers.ts';

/**
 * OrderedRows' WebAssembly loops (rowKernelsText.ts) against plain loops over the rows: every node's
 * histogram must be the sum, in row order, of the rows the tree sends there (leavesRowMajor walks each
 * row down the tree on its own), and every row's score must gain its leaf's value.
 */

// Predictors: two numeric (codes 0..29, missing 30), one factor of 40 levels (two bitset words,
// missing 40) and one of 3 levels; p is odd, so a place holds a padding code.
const MISSING = Int32Array.from([30, 30, 40, 3]);
const P = MISSING.length;
const BINS = Array.from(MISSING, (m) => m + 1);
const FEATURE_OFFSET = Int32Array.from(BINS, (_, f) => 3 * BINS.slice(0, f).reduce((a, b) => a + b, 0));
const STRIDE = 3 * BINS.reduce((a, b) => a + b, 0);

function choice(feature: number, bin: number, loLevels: number[] | null, missingLo: boolean): SplitChoice {
  const levels =
    loLevels === null
      ? null
      : Uint8Array.from({ length: MISSING[feature] as number }, (_, l) => (loLevels.includes(l) ? 1 : 0));
  return {
    feature,
    bin,
    lastLoBin: bin - 1,
    loLevels: levels,
    missingLo,
    gain: 1,
    lo: new Float64Array(3),
    hi: new Float64Array(3),
  };
}

describe('OrderedRows and KernelTree (WebAssembly row loops)', () => {
  it('builds every node histogram and leaf score as the rows the tree sends there', async () => {
    const next = seededRandom(21);
    const n = 3000;
    const offset = 500; // the part's first row id
    const heap = new KernelHeap(await rowKernelModule(), 1 << 16);
    const codes = heap.u16(n * P);
    for (let r = 0; r < n; r++) {
      for (let f = 0; f < P; f++) {
        // About one code in ten missing.
        const m = MISSING[f] as number;
        codes[r * P + f] = next() < 0.1 ? m : Math.floor(next() * m);
      }
    }
    const ghc = heap.f64(3 * n);
    for (let r = 0; r < n; r++) {
      ghc[3 * r] = next() - 0.5;
      ghc[3 * r + 1] = next();
      ghc[3 * r + 2] = 1 + Math.floor(next() * 3);
    }
    const sampledList: number[] = [];
    for (let r = 0; r < n; r++) if (next() < 0.7) sampledList.push(offset + r);
    const sample = heap.i32(sampledList.length);
    sample.set(sampledList);

    // Depth 3: numeric, factor with levels in both words, the 3-level factor; missing both ways.
    const tree = newTree([0, 0, 0]);
    const [a, b] = splitNode(tree, 0, choice(0, 12, null, true), 0, true);
    const [c, d] = splitNode(tree, a, choice(2, -1, [1, 5, 33, 38], false), 0, true);
    const [e, g] = splitNode(tree, b, choice(1, 20, null, false), 0, false);
    splitNode(tree, c, choice(3, -1, [0, 2], true), 0, true);
    splitNode(tree, d, choice(0, 4, null, false), 0, true);
    splitNode(tree, e, choice(2, -1, [0, 39], true), 0, true);
    splitNode(tree, g, choice(1, 25, null, true), 0, true);
    const walker = treeWalker(tree);

    // Reference: each sampled row's node at every depth, from its leaf's path.
    const leaves = new Int32Array(sample.length);
    const absolute = new Uint16Array(codes.length + offset * P);
    absolute.set(codes, offset * P);
    leavesRowMajor(walker, absolute, P, MISSING, sample, leaves);
    const pathOf = (leaf: number) => {
      const path = [leaf];
      while ((path[0] as number) !== 0) path.unshift(tree.parent[path[0] as number] as number);
      return path;
    };
    const expected = (node: number) => {
      const hist = new Float64Array(STRIDE);
      sample.forEach((id, k) => {
        if (!pathOf(leaves[k] as number).includes(node)) return;
        const r = id - offset;
        for (let f = 0; f < P; f++) {
          const o = (FEATURE_OFFSET[f] as number) + 3 * (codes[r * P + f] as number);
          for (let s = 0; s < 3; s++) hist[o + s] = (hist[o + s] as number) + (ghc[3 * r + s] as number);
        }
      });
      return hist;
    };

    const rows = new OrderedRows(P, heap, MISSING);
    rows.load(sample, codes, ghc, offset);
    const hist = heap.f64(2 * STRIDE);
    const check = (node: number) => {
      hist.fill(0);
      // Into the second slot: the kernels must add at the slot's base, not at the buffer's start.
      rows.accumulate(hist, STRIDE, FEATURE_OFFSET, node);
      assert.deepEqual(hist.subarray(0, STRIDE), new Float64Array(STRIDE), 'the first slot stays empty');
      assert.deepEqual(hist.subarray(STRIDE), expected(node), `node ${node}'s histogram`);
    };
    check(0);
    rows.split(walker, 0, MISSING);
    for (const node of [a, b]) {
      check(node);
      rows.split(walker, node, MISSING);
    }
    for (const node of [c, d, e, g]) check(node);
    // The last level's splits stay pending: addLeafValues sends each row by its side.
    const values = Float64Array.from({ length: walker.size }, (_, node) =>
      (walker.feature[node] as number) < 0 ? node + 0.25 : 0,
    );
    const score = new Float64Array(offset + n).fill(1);
    rows.addLeafValues(walker, values, MISSING, score);
    // The leaves kernel walks every row (sampled or not) to the leaf leavesRowMajor finds.
    const all = heap.i32(n);
    all.set(Array.from({ length: n }, (_, r) => offset + r));
    const kernelLeaves = heap.i32(n);
    const missingCodes = heap.i32(P);
    missingCodes.set(MISSING);
    new KernelTree(heap).leaves(walker, all, codes, offset, P, missingCodes, kernelLeaves);
    const walked = new Int32Array(n);
    leavesRowMajor(walker, absolute, P, MISSING, all, walked);
    assert.deepEqual(kernelLeaves, walked);
    const sampled = new Set(sampledList);
    for (let i = 0; i < offset + n; i++) {
      const k = sampledList.indexOf(i);
      const want = sampled.has(i) ? 1 + (values[leaves[k] as number] as number) : 1;
      assert.equal(score[i], want, `row ${i}'s score`);
    }
  });

  it('KernelHeap: arrays stay valid when the memory grows, and a part past 4 GB is refused clearly', async () => {
    const heap = new KernelHeap(await rowKernelModule(), 1024);
    const early = heap.f64(4);
    early.set([1, 2, 3, 4]);
    // Several pages more: the memory grows (a shared memory keeps its old views valid).
    const late = heap.f64(1 << 20);
    late[late.length - 1] = 5;
    assert.deepEqual(Array.from(early), [1, 2, 3, 4]);
    assert.equal(late[late.length - 1], 5);
    assert.notEqual(early.byteOffset, late.byteOffset);
    assert.throws(() => heap.f64(2 ** 29), /more than 4 GB.*TREE_LOCAL_MB/);
  });
});
