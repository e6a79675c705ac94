import type { ModelMatrixPlan } from '../formula/index.ts';
import { emptyQrPartial, mergeQr, type QrChunkInput, type QrPartial, qrPartial } from '../linalg/index.ts';

/**
 * A cheaper chunk partial for models with a factor main effect (`y ~ x1 + ... + g`): within the rows of
 * one level of g, g's indicator columns are constant, so after centring on that level's means they are
 * zero. The chunk's QR partial is therefore the merge, level by level, of partials of the OTHER columns
 * only (with the indicator means 0 or 1): Chan et al.'s merge (mergeQr) puts the between-level part back
 * through its correction rows. Same sufficient statistics, fewer flops: for 10 numeric predictors and
 * a 7-level factor, each row meets an 11-column QR instead of a 17-column one (about half the work),
 * plus one small k x k merge per level per chunk.
 *
 * The partial equals the plain one up to rounding, and is deterministic (levels merged in level order),
 * so results stay identical across worker counts.
 */

/** Largest indicator group for which the per-level merges (k^3 / 3 each) stay cheap next to the rows. */
export const MAX_GROUP_COLUMNS = 50;

/**
 * Positions among the QR predictors (X without the intercept) of the indicator columns of the factor
 * main effect with the most kept columns, or null when the model has none worth grouping on (fewer than
 * two kept indicators, or more than MAX_GROUP_COLUMNS).
 */
export function planGroups(plan: ModelMatrixPlan): number[] | null {
  const first = plan.intercept ? 1 : 0;
  let best: number[] | null = null;
  for (const term of plan.terms) {
    const source = term.sources[0];
    if (term.sources.length !== 1 || source === undefined || source.role !== 'factor') continue;
    const positions: number[] = [];
    plan.kept.forEach((column, x) => {
      if (column >= term.firstColumn && column < term.firstColumn + term.columnCount)
        positions.push(x - first);
    });
    if (
      positions.length >= 2 &&
      positions.length <= MAX_GROUP_COLUMNS &&
      positions.length > (best?.length ?? 0)
    )
      best = positions;
  }
  return best;
}

/** Grow-only scratch for the gathered columns of one level. */
let gatherScratch = new Float64Array(0);

/** The chunk's partial, level by level (see the file comment). `groupColumns` from `planGroups`. */
export function groupedQrPartial(input: QrChunkInput, groupColumns: readonly number[]): QrPartial {
  const { predictors, responses, weights, numRows } = input;
  if (input.use !== null) throw new Error('groupedQrPartial: rows must be packed (no mask)');
  const p = predictors.length;
  const q = responses.length;
  const d = groupColumns.length;
  const isGroup = new Uint8Array(p);
  for (const c of groupColumns) isGroup[c] = 1;
  const others: number[] = [];
  for (let c = 0; c < p; c++) if (isGroup[c] === 0) others.push(c);

  // Level of each row: the indicator column holding its 1, or d for the reference level (no column).
  const level = new Int32Array(numRows).fill(d);
  for (let g = 0; g < d; g++) {
    const column = predictors[groupColumns[g] as number] as Float64Array;
    for (let i = 0; i < numRows; i++) if ((column[i] as number) !== 0) level[i] = g;
  }
  const counts = new Int32Array(d + 1);
  for (let i = 0; i < numRows; i++) counts[level[i] as number] = (counts[level[i] as number] as number) + 1;
  const starts = new Int32Array(d + 2);
  for (let g = 0; g <= d; g++) starts[g + 1] = (starts[g] as number) + (counts[g] as number);
  const order = new Int32Array(numRows);
  const next = starts.slice(0, d + 1);
  for (let i = 0; i < numRows; i++) {
    const g = level[i] as number;
    order[next[g] as number] = i;
    next[g] = (next[g] as number) + 1;
  }

  const width = others.length + q + (weights === null ? 0 : 1);
  if (gatherScratch.length < numRows * width)
    gatherScratch = new Float64Array(Math.max(numRows * width, gatherScratch.length * 2));
  const k = p + q;
  let merged = emptyQrPartial(p, q);
  for (let g = 0; g <= d; g++) {
    const from = starts[g] as number;
    const n = (starts[g + 1] as number) - from;
    if (n === 0) continue;
    const rows = order.subarray(from, from + n);
    const gather = (values: Float64Array, slot: number): Float64Array => {
      const out = gatherScratch.subarray(slot * n, (slot + 1) * n);
      for (let r = 0; r < n; r++) out[r] = values[rows[r] as number] as number;
      return out;
    };
    const part = qrPartial({
      predictors: others.map((c, s) => gather(predictors[c] as Float64Array, s)),
      responses: responses.map((y, s) => gather(y, others.length + s)),
      weights: weights === null ? null : gather(weights, others.length + q),
      use: null,
      numRows: n,
    });
    // Embed: the level's columns keep their places; indicator columns have R rows and columns 0 and
    // means 1 (this level's) or 0.
    const kg = others.length + q;
    const place = [...others, ...Array.from({ length: q }, (_, s) => p + s)];
    const full = emptyQrPartial(p, q);
    full.numRows = part.numRows;
    full.numPositiveWeight = part.numPositiveWeight;
    full.sumWeights = part.sumWeights;
    place.forEach((to, a) => {
      full.means[to] = part.means[a] as number;
      for (let b = a; b < kg; b++) full.r[to * k + (place[b] as number)] = part.r[a * kg + b] as number;
    });
    if (g < d) full.means[groupColumns[g] as number] = 1;
    merged = mergeQr(merged, full);
  }
  return merged;
}
