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
  let size = 0;
  for (let s = 0; s < slots; s++) {
    const list = featuresOf(s);
    for (let f = 0; f < p; f++) {
      if (list !== null && !list.includes(f)) continue;
      offsets[s * p + f] = size;
      used[f] = 1;
      size += ((numBins[f] as number) + 1) * width;
    }
  }
  return { features: p, used, width, slots, offsets, size };
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
  const p = layout.features;
  const width = layout.width;
  const offsets = layout.offsets;
  const n = slot.length;
  for (let f = 0; f < p; f++) {
    if (layout.used[f] === 0) continue;
    const c = codes[f] as Uint16Array;
    if (count === null) {
      for (let i = 0; i < n; i++) {
        const s = slot[i] as number;
        if (s < 0) continue;
        const o = offsets[s * p + f] as number;
        if (o < 0) continue;
        const k = o + (c[i] as number) * width + (y[i] as number);
        hist[k] = (hist[k] as number) + (weight[i] as number);
      }
    } else {
      for (let i = 0; i < n; i++) {
        const s = slot[i] as number;
        if (s < 0) continue;
        const o = offsets[s * p + f] as number;
        if (o < 0) continue;
        const k = o + (c[i] as number) * width;
        const j = k + (y[i] as number);
        hist[j] = (hist[j] as number) + (weight[i] as number);
        hist[k + classes] = (hist[k + classes] as number) + (count[i] as number);
      }
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
  const p = layout.features;
  const width = layout.width;
  const offsets = layout.offsets;
  const n = slot.length;
  for (let f = 0; f < p; f++) {
    if (layout.used[f] === 0) continue;
    const c = codes[f] as Uint16Array;
    for (let i = 0; i < n; i++) {
      const s = slot[i] as number;
      if (s < 0) continue;
      const o = offsets[s * p + f] as number;
      if (o < 0) continue;
      const k = o + (c[i] as number) * width;
      const w = weight[i] as number;
      const wy = w * (y[i] as number);
      hist[k] = (hist[k] as number) + w;
      hist[k + 1] = (hist[k + 1] as number) + wy;
      hist[k + 2] = (hist[k + 2] as number) + wy * (y[i] as number);
      if (count !== null) hist[k + 3] = (hist[k + 3] as number) + (count[i] as number);
    }
  }
}

/** Gradients: bin sums are [g, h, count] (case weights already folded into g and h). */
export function accumulateGradients(
  hist: Float64Array,
  layout: HistLayout,
  codes: readonly Uint16Array[],
  slot: Int32Array,
  g: Float64Array,
  h: Float64Array,
  count: Float64Array,
): void {
  const p = layout.features;
  const offsets = layout.offsets;
  const n = slot.length;
  for (let f = 0; f < p; f++) {
    if (layout.used[f] === 0) continue;
    const c = codes[f] as Uint16Array;
    for (let i = 0; i < n; i++) {
      const s = slot[i] as number;
      if (s < 0) continue;
      const o = offsets[s * p + f] as number;
      if (o < 0) continue;
      const k = o + (c[i] as number) * 3;
      hist[k] = (hist[k] as number) + (g[i] as number);
      hist[k + 1] = (hist[k + 1] as number) + (h[i] as number);
      hist[k + 2] = (hist[k + 2] as number) + (count[i] as number);
    }
  }
}

/** Adds `b` into `a` (the merge of two partials of the same layout). */
export function addHistograms(a: Float64Array, b: Float64Array): Float64Array {
  if (a.length !== b.length) throw new Error(`histogram sizes differ: ${a.length} vs ${b.length}`);
  for (let i = 0; i < a.length; i++) a[i] = (a[i] as number) + (b[i] as number);
  return a;
}
