/**
 * Least squares for rxLinMod (and, per IRLS pass, rxLogit / rxGlm), in chunk-mergeable pieces:
 *
 * round 1 (required):  map = qrPartial(chunk)            merge = mergeQr      finalize = solveLeastSquares
 * round 2 (optional):  map = residualProducts(chunk, p)  merge = mergeRefinement
 *                      with p = refinementPlan(partial, fit) in the state, then refineLeastSquares.
 *
 * One round is a backward-stable TSQR (NIST LRE >= 12 on Longley, Norris, Pontius); the second round
 * buys the last digits when residuals are huge (Wampler4/5: 8.7 / 6.7 -> 15). Partials are plain data
 * and Float64Arrays (codec.ts), plans are plain JSON (job state).
 */
export { absorbRows } from './householder.ts';
export { emptyQrPartial, mergeQr, type QrChunkInput, type QrPartial, qrPartial } from './qrPartial.ts';
export {
  emptyRefinement,
  mergeRefinement,
  type RefinementPartial,
  type RefinementPlan,
  refineLeastSquares,
  refinementPlan,
  residualProducts,
} from './refine.ts';
export {
  type CoefficientFit,
  DEFAULT_ALIAS_TOLERANCE,
  type LeastSquaresFit,
  type SolveOptions,
  solveLeastSquares,
} from './solve.ts';
