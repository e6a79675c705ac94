import { poissonDraw, poissonTable, streamHash } from './rowHash.ts';

/**
 * rxBTrees' per-row step, shared by the level passes (one chunk's rows) and the parts of a local round
 * (boostPart.ts, a range of the whole input, possibly on another thread): each row's sample draw,
 * gradient, hessian and loss from its score.
 */

export const LOSS_FUNCTIONS = ['gaussian', 'bernoulli', 'multinomial'] as const;
export type LossFunction = (typeof LOSS_FUNCTIONS)[number];

/** What the loop reads: typed arrays and numbers only, so a worker thread can be sent it. */
export interface GradientInput {
  lossFunction: LossFunction;
  /** Scores per row: 1, or the number of classes (multinomial). */
  classes: number;
  sampRate: number;
  replace: boolean;
  /** Response: 0/1 (bernoulli), class codes (multinomial) or values (gaussian). */
  y: Float64Array | Int32Array;
  /** Case weight (0 = the row is not used) and observation count. */
  weight: Float64Array;
  count: Float64Array;
  /** Each row's draw key (preparedChunks.ts rowKeysOf). */
  keys: Uint32Array;
  /** Per class, each row's score after the finished iterations. */
  scores: Float64Array[];
}

/**
 * Where rows `from <= i < to` go: per class, (g, h, count) side by side at `3 (i - offset)` (case
 * weight and sample draws folded into g and h), and each row's sample count at `i - offset` (0 = not
 * drawn).
 */
export interface GradientOutput {
  ghc: Float64Array[];
  count: Float64Array;
  offset: number;
}

export interface LossSum {
  loss: number;
  weight: number;
}

/**
 * Iteration `iteration`'s draws and gradients for rows `from <= i < to`, and the weighted loss of the
 * scores (gaussian: squared error; bernoulli and multinomial: deviance) summed in row order.
 */
export function gradientRange(
  input: GradientInput,
  iteration: number,
  from: number,
  to: number,
  out: GradientOutput,
): LossSum {
  const { y, weight, keys, scores } = input;
  const k = input.classes;
  const { ghc, count, offset } = out;
  const poisson = input.replace ? poissonTable(input.sampRate) : null;
  const sampRate = input.sampRate;
  const score0 = scores[0] as Float64Array;
  const ghc0 = ghc[0] as Float64Array;
  const probs = new Float64Array(k);
  let loss = 0;
  let totalWeight = 0;
  for (let i = from; i < to; i++) {
    const at = i - offset;
    const w = weight[i] as number;
    if (w === 0) {
      count[at] = 0;
      for (let c = 0; c < k; c++) (ghc[c] as Float64Array).fill(0, 3 * at, 3 * at + 3);
      continue;
    }
    // rowUniform(seed, row id, iteration), its per-row part computed once per job.
    const u = streamHash(keys[i] as number, iteration) / 4294967296;
    const draws = poisson !== null ? poissonDraw(poisson, u) : u < sampRate ? 1 : 0;
    const rowCount = draws * (input.count[i] as number);
    count[at] = rowCount;
    const m = draws * w;
    totalWeight += w;
    if (input.lossFunction === 'gaussian') {
      const r = (score0[i] as number) - (y[i] as number);
      loss += w * r * r;
      setGradient(ghc0, at, m * r, m, rowCount);
    } else if (input.lossFunction === 'bernoulli') {
      const f = score0[i] as number;
      // p = 1 / (1 + e^-f) and log(1 + e^f), from one exponential and without overflow.
      const e = Math.exp(-Math.abs(f));
      // One division, whichever the sign (the same quotients as 1 / (1 + e) and e / (1 + e)).
      const p = (f >= 0 ? 1 : e) / (1 + e);
      const target = y[i] as number;
      const softplus = Math.max(f, 0) + Math.log1p(e);
      loss += w * -2 * (target * f - softplus);
      setGradient(ghc0, at, m * (p - target), m * p * (1 - p), rowCount);
    } else {
      let max = Number.NEGATIVE_INFINITY;
      for (let c = 0; c < k; c++) max = Math.max(max, (scores[c] as Float64Array)[i] as number);
      let sum = 0;
      for (let c = 0; c < k; c++) {
        const e = Math.exp(((scores[c] as Float64Array)[i] as number) - max);
        probs[c] = e;
        sum += e;
      }
      const target = y[i] as number;
      loss += w * -2 * (Math.log(probs[target] as number) - Math.log(sum));
      for (let c = 0; c < k; c++) {
        const p = (probs[c] as number) / sum;
        setGradient(ghc[c] as Float64Array, at, m * (p - (c === target ? 1 : 0)), m * p * (1 - p), rowCount);
      }
    }
  }
  return { loss, weight: totalWeight };
}

function setGradient(ghc: Float64Array, at: number, g: number, h: number, count: number): void {
  ghc[3 * at] = g;
  ghc[3 * at + 1] = h;
  ghc[3 * at + 2] = count;
}
