/**
 * Per-level histograms: for every open node ("slot") of every tree grown in a pass, and every predictor
 * searched at that node, one block of (numBins + 1) bins (the last for missing values) of `width`
 * sums each. All blocks live in one Float64Array, the chunk task's partial: merging two partials is
 * adding them.
 *
 * The accumulation loops are the hot loop of every tree analysis: predictor by predictor (so a block
 * of a few KB stays in cache while the rows stream by), over typed arrays, with no allocation.
 */

export interface HistLayout {
  /** Predictors. */
  features: number;
  /** 1 when some slot searches the predictor (the loops skip the others). */
  used: Uint8Array;
  /** Sums per bin. */
  width: number;
  slots: number;
  /** slot * features + feature -> start of the block, or -1 when that predictor is not searched there. */
  offsets: Int32Array;
  /**
   * When every slot searches every predictor (rxDTree, rxBTrees): the length of one slot's blocks, and
   * each predictor's block start within a slot, so the loops compute offsets instead of looking them up.
   */
  stride: number;
  featureOffset: Int32Array;
  /** Total length. */
  size: number;
}

/**
 * Blocks for `slots` nodes; `featuresOf(slot)` lists the predictors searched at a slot (null = all).
 * `numBins[f]` excludes the missing bin.
 */
export function makeLayout(
  numBins: ArrayLike<number>,
  width: number,
  slots: number,
  featuresOf: (slot: number) => readonly number[] | null,
): HistLayout {
  const p = numBins.length;
  const offsets = new Int32Array(slots * p).fill(-1);
  const used = new Uint8Array(p);
  const featureOffset = new Int32Array(p);
  let stride = 0;
  for (let f = 0; f < p; f++) {
    featureOffset[f] = stride;
    stride += ((numBins[f] as number) + 1) * width;
  }
  let uniform = true;
  let size = 0;
  for (let s = 0; s < slots; s++) {
    const list = featuresOf(s);
    if (list !== null) uniform = false;
    for (let f = 0; f < p; f++) {
      if (list !== null && !list.includes(f)) continue;
      offsets[s * p + f] = size;
      used[f] = 1;
      size += ((numBins[f] as number) + 1) * width;
    }
  }
  return { features: p, used, width, slots, offsets, stride: uniform ? stride : 0, featureOffset, size };
}

/**
 * The rows of a pass that fall in an open slot, packed (grow-only buffers reused across calls: the
 * loops below run synchronously and keep nothing). A level that has closed most of its nodes, or a
 * boosting sample of 63% of the rows, then costs only its rows in the per-predictor loops.
 */
const packed = {
  rows: new Int32Array(0),
  base: new Int32Array(0),
  a: new Float64Array(0),
  b: new Float64Array(0),
  c: new Float64Array(0),
  k: new Int32Array(0),
};

function reserve(n: number): void {
  if (packed.rows.length >= n) return;
  const size = Math.max(n, packed.rows.length * 2);
  packed.rows = new Int32Array(size);
  packed.base = new Int32Array(size);
  packed.a = new Float64Array(size);
  packed.b = new Float64Array(size);
  packed.c = new Float64Array(size);
  packed.k = new Int32Array(size);
}

/** Packs the rows with a slot; `base` is the slot's block start (uniform layouts) or its offsets row. */
function pack(layout: HistLayout, slot: Int32Array): number {
  const n = slot.length;
  reserve(n);
  const { rows, base } = packed;
  const step = layout.stride > 0 ? layout.stride : layout.features;
  let m = 0;
  for (let i = 0; i < n; i++) {
    const s = slot[i] as number;
    if (s < 0) continue;
    rows[m] = i;
    base[m] = s * step;
    m++;
  }
  return m;
}

/**
 * Class counts: bin sums are [w of class 0 .. w of class K-1, (count)]. `slot[i]` < 0 skips row i.
 * `count` null: no count sum (it equals the sum of the class weights).
 */
export function accumulateClass(
  hist: Float64Array,
  layout: HistLayout,
  codes: readonly Uint16Array[],
  slot: Int32Array,
  y: Int32Array,
  weight: Float64Array,
  count: Float64Array | null,
  classes: number,
): void {
  const m = pack(layout, slot);
  const { rows, base, a, c: cnt, k: cls } = packed;
  for (let j = 0; j < m; j++) {
    const i = rows[j] as number;
    a[j] = weight[i] as number;
    cls[j] = y[i] as number;
    if (count !== null) cnt[j] = count[i] as number;
  }
  const p = layout.features;
  const width = layout.width;
  const offsets = layout.offsets;
  const uniform = layout.stride > 0;
  for (let f = 0; f < p; f++) {
    if (layout.used[f] === 0) continue;
    const c = codes[f] as Uint16Array;
    const fo = layout.featureOffset[f] as number;
    for (let j = 0; j < m; j++) {
      let o: number;
      if (uniform) o = (base[j] as number) + fo;
      else {
        o = offsets[(base[j] as number) + f] as number;
        if (o < 0) continue;
      }
      const k = o + (c[rows[j] as number] as number) * width;
      const at = k + (cls[j] as number);
      hist[at] = (hist[at] as number) + (a[j] as number);
      if (count !== null) hist[k + classes] = (hist[k + classes] as number) + (cnt[j] as number);
    }
  }
}

/** Moments: bin sums are [w, w*y, w*y^2, (count)], y already centred. */
export function accumulateMoments(
  hist: Float64Array,
  layout: HistLayout,
  codes: readonly Uint16Array[],
  slot: Int32Array,
  y: Float64Array,
  weight: Float64Array,
  count: Float64Array | null,
): void {
  const m = pack(layout, slot);
  const { rows, base, a, b, c: cnt } = packed;
  for (let j = 0; j < m; j++) {
    const i = rows[j] as number;
    const w = weight[i] as number;
    a[j] = w;
    b[j] = w * (y[i] as number);
    cnt[j] = count === null ? 0 : (count[i] as number);
  }
  const p = layout.features;
  const width = layout.width;
  const offsets = layout.offsets;
  const uniform = layout.stride > 0;
  for (let f = 0; f < p; f++) {
    if (layout.used[f] === 0) continue;
    const c = codes[f] as Uint16Array;
    const fo = layout.featureOffset[f] as number;
    for (let j = 0; j < m; j++) {
      const i = rows[j] as number;
      let o: number;
      if (uniform) o = (base[j] as number) + fo;
      else {
        o = offsets[(base[j] as number) + f] as number;
        if (o < 0) continue;
      }
      const k = o + (c[i] as number) * width;
      const wy = b[j] as number;
      hist[k] = (hist[k] as number) + (a[j] as number);
      hist[k + 1] = (hist[k + 1] as number) + wy;
      hist[k + 2] = (hist[k + 2] as number) + wy * (y[i] as number);
      if (count !== null) hist[k + 3] = (hist[k + 3] as number) + (cnt[j] as number);
    }
  }
}

/**
 * Gradients: bin sums are [g, h, count]; `ghc` holds each row's (g, h, count) side by side
 * (`ghc[3 i ..]`, case weights already folded into g and h).
 */
export function accumulateGradients(
  hist: Float64Array,
  layout: HistLayout,
  codes: readonly Uint16Array[],
  slot: Int32Array,
  ghc: Float64Array,
): void {
  const m = pack(layout, slot);
  const { rows, base, a, b, c: cnt } = packed;
  for (let j = 0; j < m; j++) {
    const i = rows[j] as number;
    a[j] = ghc[3 * i] as number;
    b[j] = ghc[3 * i + 1] as number;
    cnt[j] = ghc[3 * i + 2] as number;
  }
  const p = layout.features;
  const offsets = layout.offsets;
  const uniform = layout.stride > 0;
  for (let f = 0; f < p; f++) {
    if (layout.used[f] === 0) continue;
    const c = codes[f] as Uint16Array;
    const fo = layout.featureOffset[f] as number;
    for (let j = 0; j < m; j++) {
      let o: number;
      if (uniform) o = (base[j] as number) + fo;
      else {
        o = offsets[(base[j] as number) + f] as number;
        if (o < 0) continue;
      }
      const k = o + (c[rows[j] as number] as number) * 3;
      hist[k] = (hist[k] as number) + (a[j] as number);
      hist[k + 1] = (hist[k + 1] as number) + (b[j] as number);
      hist[k + 2] = (hist[k + 2] as number) + (cnt[j] as number);
    }
  }
}

/** Adds `b` into `a` (the merge of two partials of the same layout). */
export function addHistograms(a: Float64Array, b: Float64Array): Float64Array {
  if (a.length !== b.length) throw new Error(`histogram sizes differ: ${a.length} vs ${b.length}`);
  for (let i = 0; i < a.length; i++) a[i] = (a[i] as number) + (b[i] as number);
  return a;
}
