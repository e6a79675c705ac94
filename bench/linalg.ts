/**
 * The per-chunk kernels of rxLinMod: Householder QR of a chunk's centred [X | y] (`qrPartial`) and
 * the optional refinement pass (`residualProducts`), on 200k rows x 10 predictors + 1 response.
 * BENCH_ONLY=linalg runs only this.
 */
import {
  qrPartial,
  refinementPlan,
  residualProducts,
  solveLeastSquares,
} from '../src/engine/linalg/index.ts';
import { fmt, median, report, timeRuns } from './stats.ts';

export async function benchLinalg(): Promise<void> {
  const rows = 200_000;
  const p = 10;
  let seed = 12345;
  const random = (): number => {
    seed = (seed * 1103515245 + 12345) % 2147483648;
    return seed / 2147483648;
  };
  const predictors = Array.from({ length: p }, () =>
    Float64Array.from({ length: rows }, () => random() * 10),
  );
  const y = new Float64Array(rows);
  for (let i = 0; i < rows; i++) {
    let s = random();
    for (let j = 0; j < p; j++) s += (j + 1) * (predictors[j]![i] as number);
    y[i] = s;
  }
  const input = { predictors, responses: [y], weights: null, use: null, numRows: rows };
  const weighted = { ...input, weights: Float64Array.from({ length: rows }, () => 0.5 + random()) };
  for (const [label, chunk] of [
    ['unweighted', input],
    ['weighted', weighted],
  ] as const) {
    const qr = median(await timeRuns(15, () => qrPartial(chunk)));
    report(
      `linalg: qrPartial, ${fmt(rows)} rows x ${p + 1} columns, ${label}`,
      `${(qr * 1e3).toFixed(1)} ms, ${fmt(rows / qr)} rows/s`,
    );
    const partial = qrPartial(chunk);
    const plan = refinementPlan(partial, solveLeastSquares(partial));
    const refine = median(await timeRuns(15, () => residualProducts(chunk, plan)));
    report(
      `linalg: residualProducts (refinement pass), ${label}`,
      `${(refine * 1e3).toFixed(1)} ms, ${fmt(rows / refine)} rows/s`,
    );
  }
}
