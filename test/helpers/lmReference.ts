import { inverse, Matrix } from 'ml-matrix';

/**
 * Weighted least squares the textbook way, for checking rxLinMod and predictions in tests: normal
 * equations X'WX b = X'Wy solved with ml-matrix's LU inverse. It shares no code with the engine's TSQR
 * and is good to ~1e-11 on the well-conditioned designs the tests build.
 */
export interface ReferenceFit {
  beta: number[];
  stdError: number[];
  sigma: number;
  rSquared: number;
  adjRSquared: number;
  fStatistic: number;
  dfResidual: number;
  /** (X'WX)^-1. */
  unscaled: Matrix;
}

/**
 * `rows` are the model matrix rows (intercept column included when `intercept`), `y` the response,
 * `weights` the row weights (null: 1). `frequency`: the sample size is the sum of the weights.
 */
export function referenceFit(
  rows: readonly number[][],
  y: readonly number[],
  options: { weights?: readonly number[] | null; intercept?: boolean; frequency?: boolean } = {},
): ReferenceFit {
  const intercept = options.intercept ?? true;
  const w = options.weights ?? rows.map(() => 1);
  const p = (rows[0] as number[]).length;
  const xtwx = Matrix.zeros(p, p);
  const xtwy = Matrix.zeros(p, 1);
  rows.forEach((row, i) => {
    const wi = w[i] as number;
    for (let a = 0; a < p; a++) {
      xtwy.set(a, 0, xtwy.get(a, 0) + wi * (row[a] as number) * (y[i] as number));
      for (let b = 0; b < p; b++)
        xtwx.set(a, b, xtwx.get(a, b) + wi * (row[a] as number) * (row[b] as number));
    }
  });
  const unscaled = inverse(xtwx);
  const beta = unscaled.mmul(xtwy).getColumn(0);
  const fitted = rows.map((row) => row.reduce((s, x, a) => s + x * (beta[a] as number), 0));
  const n = options.frequency ? w.reduce((s, v) => s + v, 0) : w.filter((v) => v > 0).length;
  const rss = y.reduce((s, v, i) => s + (w[i] as number) * (v - (fitted[i] as number)) ** 2, 0);
  const dfResidual = n - p;
  const sigma2 = rss / dfResidual;
  const sumW = w.reduce((s, v) => s + v, 0);
  const yMean = intercept ? y.reduce((s, v, i) => s + (w[i] as number) * v, 0) / sumW : 0;
  const tss = y.reduce((s, v, i) => s + (w[i] as number) * (v - yMean) ** 2, 0);
  const rSquared = 1 - rss / tss;
  const dfModel = p - (intercept ? 1 : 0);
  return {
    beta,
    stdError: beta.map((_, a) => Math.sqrt(sigma2 * unscaled.get(a, a))),
    sigma: Math.sqrt(sigma2),
    rSquared,
    adjRSquared: 1 - ((1 - rSquared) * (n - (intercept ? 1 : 0))) / dfResidual,
    fStatistic: (tss - rss) / dfModel / sigma2,
    dfResidual,
    unscaled,
  };
}

/** CSV text from columns (numbers written with their shortest round-trip form; null = empty). */
export function toCsv(columns: Record<string, ReadonlyArray<number | string | null>>): string {
  const names = Object.keys(columns);
  const n = (columns[names[0] as string] as ReadonlyArray<unknown>).length;
  const lines = [names.join(',')];
  for (let i = 0; i < n; i++) {
    lines.push(
      names
        .map((name) => {
          const v = (columns[name] as ReadonlyArray<number | string | null>)[i];
          return v === null || v === undefined ? '' : String(v);
        })
        .join(','),
    );
  }
  return `${lines.join('\n')}\n`;
}
