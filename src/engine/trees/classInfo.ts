import { EngineError } from '../errors.ts';

/**
 * rpart's class bookkeeping (gini.c's init): priors pi_j (default: the classes' relative weights f_j),
 * a loss matrix L[true][predicted] (default 1 off the diagonal), and from them
 * - the scaled priors pi_j / f_j, which turn a node's class weights into its risk and probabilities;
 * - the altered priors a_j = pi_j sum_k L[j][k] / (sum_i pi_i sum_k L[i][k]) / f_j of the splitting rule.
 * With the default priors and losses every a_j and pi_j / f_j is 1: counts are used as they are.
 */
export interface ClassInfo {
  levels: string[];
  prior: number[];
  loss: number[][];
  scaledPrior: number[];
  aprior: number[];
}

export function planClassInfo(
  levels: string[],
  classWeights: readonly number[],
  prior: readonly number[] | null,
  loss: ReadonlyArray<readonly number[]> | null,
): ClassInfo {
  const k = levels.length;
  const total = classWeights.reduce((a, b) => a + b, 0);
  const freq = classWeights.map((w) => (total > 0 ? w / total : 0));
  if (prior !== null) {
    if (prior.length !== k) {
      throw new EngineError(
        'INVALID_PARAMS',
        `parms.prior has ${prior.length} values; the response has ${k} classes`,
        400,
        {
          classes: levels,
        },
      );
    }
    const sum = prior.reduce((a, b) => a + b, 0);
    if (prior.some((p) => !(p > 0)) || Math.abs(sum - 1) > 1e-6) {
      throw new EngineError('INVALID_PARAMS', 'parms.prior must be positive and sum to 1', 400, { prior });
    }
  }
  const pi = prior === null ? freq : prior.map((p) => p);
  const lossMatrix: number[][] =
    loss === null
      ? levels.map((_, i) => levels.map((__, j) => (i === j ? 0 : 1)))
      : loss.map((row) => [...row]);
  if (lossMatrix.length !== k || lossMatrix.some((row) => row.length !== k)) {
    throw new EngineError(
      'INVALID_PARAMS',
      `parms.loss must be a ${k} x ${k} matrix (true class by predicted class)`,
      400,
      {
        classes: levels,
      },
    );
  }
  for (let i = 0; i < k; i++) {
    for (let j = 0; j < k; j++) {
      const value = (lossMatrix[i] as number[])[j] as number;
      if (i === j ? value !== 0 : !(value > 0)) {
        throw new EngineError(
          'INVALID_PARAMS',
          'parms.loss needs zeros on the diagonal and positive losses elsewhere',
          400,
          {
            loss: lossMatrix,
          },
        );
      }
    }
  }
  let temp = 0;
  const rowLoss = lossMatrix.map((row, i) => {
    const sum = row.reduce((a, b) => a + b, 0);
    temp += sum * (pi[i] as number);
    return sum;
  });
  const scaledPrior = pi.map((p, i) => ((freq[i] as number) > 0 ? p / (freq[i] as number) : p));
  const aprior = pi.map((p, i) => {
    const a = (p * (rowLoss[i] as number)) / temp;
    return (freq[i] as number) > 0 ? a / (freq[i] as number) : a;
  });
  return { levels, prior: pi, loss: lossMatrix, scaledPrior, aprior };
}

/** Risk (expected loss) of predicting each class for class weights `n`, and the best class (first on ties). */
export function classRisk(
  info: ClassInfo,
  n: ArrayLike<number>,
  at = 0,
): { risk: number; predicted: number } {
  const k = info.levels.length;
  let best = 0;
  let risk = 0;
  for (let predicted = 0; predicted < k; predicted++) {
    let temp = 0;
    for (let j = 0; j < k; j++)
      temp +=
        (n[at + j] as number) *
        ((info.loss[j] as number[])[predicted] as number) *
        (info.scaledPrior[j] as number);
    if (predicted === 0 || temp < risk) {
      best = predicted;
      risk = temp;
    }
  }
  return { risk, predicted: best };
}

/** Class probabilities of a node (pi_j / f_j n_j, normalised). */
export function classProbabilities(info: ClassInfo, n: ArrayLike<number>, at = 0): number[] {
  const k = info.levels.length;
  const raw = Array.from({ length: k }, (_, j) => (n[at + j] as number) * (info.scaledPrior[j] as number));
  const sum = raw.reduce((a, b) => a + b, 0);
  return raw.map((x) => (sum > 0 ? x / sum : 0));
}
