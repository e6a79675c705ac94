import type { Table } from 'apache-arrow';
import { groupedQrPartial } from '../analyses/linModGroups.ts';
import { EngineError } from '../errors.ts';
import { fillModelMatrix, type ModelMatrixPlan } from '../formula/index.ts';
import { emptyQrPartial, mergeQr, type QrPartial, qrPartial } from '../linalg/index.ts';
import { AIC_SLOTS, accumulateAic, DOUBLE_EPS, type Family } from './families.ts';

/**
 * One IRLS pass over one chunk: at the current coefficients it evaluates the deviance (and the
 * Pearson statistic, the AIC's log-likelihood, the validity of eta and mu) AND builds the weighted
 * least-squares system whose solution is the next coefficients (R's glm.fit, one loop iteration per
 * pass: the deviance that decides convergence is that of the coefficients the previous pass solved
 * for). The WLS system is a weighted TSQR partial (linalg/qrPartial.ts) of [X | z] with weights
 * w = wt mu.eta(eta)^2 / V(mu), z = eta - offset + (y - mu) / mu.eta(eta).
 *
 * Besides the main fit a pass may carry:
 * - the null deviance at a constant mu (the weighted mean of y, with an intercept and no offset) or
 *   at mu = linkinv(offset) (no intercept), as R's glm.fit computes it;
 * - one step of the intercept-only fit R runs for the null deviance when there is an offset (glm()'s
 *   second glm.fit call), as sums of w and w z (its WLS is a weighted mean).
 */

/** Where eta comes from: coefficients (one per column of X, aliased ones 0) or R's mustart. */
export type EtaSource = { kind: 'coefficients'; beta: number[] } | { kind: 'mustart' };

/** What one pass computes (plain JSON: it is part of the job state). */
export interface PassPlan {
  /** eta of the main fit; null when the main fit has ended (only the null fit still runs). */
  main: EtaSource | null;
  /**
   * eta at which the WLS that gave `main`'s coefficients was built: the Pearson statistic uses its
   * working weights with the residuals at `main` (R's summary.glm of glm.fit's final object). Null
   * when not wanted (the first pass).
   */
  pearsonBasis: EtaSource | null;
  /** Build the WLS system at `main`. */
  buildWls: boolean;
  /** Null deviance at a constant mu (a number) or at linkinv(offset) ('offset'); null: not this pass. */
  nullMu: number | 'offset' | null;
  /** The null (intercept-only, with offset) fit's eta: intercept b0 + offset, or mustart; null: none. */
  nullFit: { kind: 'intercept'; b0: number } | { kind: 'mustart' } | null;
  /** Check every response value against the family's range (the first pass does). */
  checkResponses: boolean;
}

/** How the model matrix's response columns are read (the plan's `responses`, in order). */
export interface ResponseLayout {
  /** 'cbind': responses 0 and 1 are successes and failures (binomial); otherwise response 0 is y. */
  kind: 'single' | 'cbind';
  /** Index among the plan's responses of the offset column; null without an offset. */
  offsetColumn: number | null;
  /** What the plan's weight column means; null when unweighted. */
  weights: 'pweights' | 'fweights' | null;
  /** The model has an intercept column first in X (which the TSQR implies: it is not passed). */
  intercept: boolean;
  /**
   * Positions among the WLS predictors of a factor main effect's indicators, whose QR is done level by
   * level (analyses/linModGroups.ts: about half the flops for 10 numerics + a 7-level factor); null
   * for the plain TSQR.
   */
  groups: number[] | null;
}

export interface PassPartial {
  /** Rows in the chunks, and rows with no missing value (the rows of the model). */
  rows: number;
  usableRows: number;
  /** Rows with a positive IRLS weight, each counted by its frequency weight (R's n.ok). */
  positiveRows: number;
  /** sum(wt) and sum(wt y), wt = m a n (R's prior weights after initialize). */
  sumWeights: number;
  sumWeightedY: number;
  deviance: number;
  pearson: number;
  aic: Float64Array;
  /** Rows where eta or mu is outside the family's valid range. */
  invalidRows: number;
  /** Rows with mu numerically 0 or 1 (binomial) or 0 (poisson): R's warnings. */
  boundaryRows: number;
  /** Rows with a positive prior weight whose working weight is 0, negative or not finite (R stops: 0s in V(mu)). */
  unusableWeightRows: number;
  wls: QrPartial | null;
  nullDeviance: number;
  nullFit: { deviance: number; sumW: number; sumWZ: number; invalidRows: number } | null;
}

export function emptyPassPartial(plan: PassPlan, numPredictors: number): PassPartial {
  return {
    rows: 0,
    usableRows: 0,
    positiveRows: 0,
    sumWeights: 0,
    sumWeightedY: 0,
    deviance: 0,
    pearson: 0,
    aic: new Float64Array(AIC_SLOTS),
    invalidRows: 0,
    boundaryRows: 0,
    unusableWeightRows: 0,
    wls: plan.buildWls ? emptyQrPartial(numPredictors, 1) : null,
    nullDeviance: 0,
    nullFit: plan.nullFit === null ? null : { deviance: 0, sumW: 0, sumWZ: 0, invalidRows: 0 },
  };
}

export function mergePassPartials(a: PassPartial, b: PassPartial): PassPartial {
  const aic = new Float64Array(AIC_SLOTS);
  for (let s = 0; s < AIC_SLOTS; s++) aic[s] = (a.aic[s] as number) + (b.aic[s] as number);
  let wls: QrPartial | null = null;
  if (a.wls !== null && b.wls !== null) wls = mergeQr(a.wls, b.wls);
  else if (a.wls !== null || b.wls !== null)
    throw new Error('mergePassPartials: partials of different passes');
  let nullFit: PassPartial['nullFit'] = null;
  if (a.nullFit !== null && b.nullFit !== null) {
    nullFit = {
      deviance: a.nullFit.deviance + b.nullFit.deviance,
      sumW: a.nullFit.sumW + b.nullFit.sumW,
      sumWZ: a.nullFit.sumWZ + b.nullFit.sumWZ,
      invalidRows: a.nullFit.invalidRows + b.nullFit.invalidRows,
    };
  }
  return {
    rows: a.rows + b.rows,
    usableRows: a.usableRows + b.usableRows,
    positiveRows: a.positiveRows + b.positiveRows,
    sumWeights: a.sumWeights + b.sumWeights,
    sumWeightedY: a.sumWeightedY + b.sumWeightedY,
    deviance: a.deviance + b.deviance,
    pearson: a.pearson + b.pearson,
    aic,
    invalidRows: a.invalidRows + b.invalidRows,
    boundaryRows: a.boundaryRows + b.boundaryRows,
    unusableWeightRows: a.unusableWeightRows + b.unusableWeightRows,
    wls,
    nullDeviance: a.nullDeviance + b.nullDeviance,
    nullFit,
  };
}

/** Reusable per-chunk arrays, grown on demand (a worker maps many chunks one after the other). */
class Scratch {
  private buffers = new Map<string, Float64Array>();

  get(name: string, n: number): Float64Array {
    let buffer = this.buffers.get(name);
    if (buffer === undefined || buffer.length < n) {
      buffer = new Float64Array(Math.max(n, 1024));
      this.buffers.set(name, buffer);
    }
    return buffer.subarray(0, n);
  }
}
const scratch = new Scratch();

/**
 * eta = offset + X beta (X column-major, n x p), or linkfun(mustart) row by row. Column sweeps keep
 * the inner loop a contiguous multiply-add; with a second coefficient vector (the Pearson basis) both
 * are swept together, so X is read once.
 */
function linearPredictors(
  out: Float64Array,
  source: EtaSource,
  second: { out: Float64Array; source: EtaSource } | null,
  x: Float64Array,
  n: number,
  p: number,
  offset: Float64Array | null,
  mustart: Float64Array,
  family: Family,
): void {
  const pending: Array<{ out: Float64Array; beta: number[] }> = [];
  for (const target of second === null ? [{ out, source }] : [{ out, source }, second]) {
    if (target.source.kind === 'mustart') {
      for (let i = 0; i < n; i++) target.out[i] = family.link.linkfun(mustart[i] as number);
      continue;
    }
    if (offset === null) target.out.fill(0);
    else target.out.set(offset);
    pending.push({ out: target.out, beta: target.source.beta });
  }
  const [first, other] = pending;
  if (first === undefined) return;
  for (let j = 0; j < p; j++) {
    const base = j * n;
    const a = first.beta[j] as number;
    const etaA = first.out;
    if (other === undefined) {
      if (a === 0) continue;
      for (let i = 0; i < n; i++) etaA[i] = (etaA[i] as number) + (x[base + i] as number) * a;
      continue;
    }
    const b = other.beta[j] as number;
    const etaB = other.out;
    for (let i = 0; i < n; i++) {
      const v = x[base + i] as number;
      etaA[i] = (etaA[i] as number) + v * a;
      etaB[i] = (etaB[i] as number) + v * b;
    }
  }
}

function dataError(code: string, message: string, details: Record<string, unknown>): EngineError {
  return new EngineError(code, message, 422, details);
}

/** The pass's partial for one chunk (see the file comment). */
export function mapPass(
  table: Table,
  matrix: ModelMatrixPlan,
  layout: ResponseLayout,
  family: Family,
  plan: PassPlan,
): PassPartial {
  const mm = fillModelMatrix(matrix, table, scratch.get('x', table.numRows * matrix.kept.length));
  const { n, p } = mm;
  const predictorsFrom = layout.intercept ? 1 : 0;
  const out = emptyPassPartial(plan, p - predictorsFrom);
  out.rows = mm.numRows;
  out.usableRows = n;
  if (n === 0) return out;

  // Per row: y (a proportion for cbind), trials n_i, frequency m_i, prior a_i, IRLS weight wt = m a n.
  const y = scratch.get('y', n);
  const trials = scratch.get('trials', n);
  const wt = scratch.get('wt', n);
  const mustart = scratch.get('mustart', n);
  const responses = mm.y;
  if (layout.kind === 'cbind') {
    for (let i = 0; i < n; i++) {
      const s = responses[i] as number;
      const f = responses[n + i] as number;
      if (plan.checkResponses && !(s >= 0 && f >= 0))
        throw dataError(
          'INVALID_RESPONSE',
          `cbind(successes, failures) needs counts >= 0; found (${s}, ${f})`,
          { successes: s, failures: f },
        );
      const total = s + f;
      trials[i] = total;
      y[i] = total === 0 ? 0 : s / total;
    }
  } else {
    y.set(responses.subarray(0, n));
    trials.fill(1);
  }
  const offset =
    layout.offsetColumn === null
      ? null
      : responses.subarray(layout.offsetColumn * n, (layout.offsetColumn + 1) * n);
  const weights = mm.weights;
  const frequencyWeighted = layout.weights === 'fweights' && weights !== null;
  const priorWeighted = layout.weights === 'pweights' && weights !== null;
  for (let i = 0; i < n; i++) {
    const m = frequencyWeighted ? (weights[i] as number) : 1;
    const a = priorWeighted ? (weights[i] as number) : 1;
    const w = m * a * (trials[i] as number);
    wt[i] = w;
    if (w > 0) out.positiveRows += m;
    out.sumWeights += w;
    out.sumWeightedY += w * (y[i] as number);
  }

  const usesMustart =
    plan.main?.kind === 'mustart' ||
    plan.pearsonBasis?.kind === 'mustart' ||
    plan.nullFit?.kind === 'mustart';
  if (plan.checkResponses || usesMustart) {
    for (let i = 0; i < n; i++) {
      const yi = y[i] as number;
      if (plan.checkResponses && layout.kind === 'single') {
        const problem = family.responseProblem(yi);
        if (problem !== null) throw dataError('INVALID_RESPONSE', problem, { value: yi });
      }
      if (usesMustart) {
        const problem = family.startProblem(yi);
        if (problem !== null) throw dataError('NO_VALID_START', problem, { value: yi });
        const a = priorWeighted ? ((weights as Float64Array)[i] as number) : 1;
        mustart[i] = family.muStart(yi, a, trials[i] as number);
      }
    }
  }

  const { link } = family;
  const x = mm.x;
  const eta = scratch.get('eta', n);
  if (plan.main !== null) {
    const basisEta = plan.pearsonBasis === null ? null : scratch.get('basisEta', n);
    const second =
      basisEta === null || plan.pearsonBasis === null ? null : { out: basisEta, source: plan.pearsonBasis };
    linearPredictors(eta, plan.main, second, x, n, p, offset, mustart, family);
    const z = plan.buildWls ? scratch.get('z', n) : null;
    const w = plan.buildWls ? scratch.get('w', n) : null;
    const aicKind = family.aic;
    const boundaryLow = 10 * DOUBLE_EPS;
    const binomialBoundary = family.spec.name === 'binomial';
    const poissonBoundary = family.spec.name === 'poisson';
    const bernoulli = aicKind === 'binomial' && layout.kind === 'single' && !priorWeighted;
    let deviance = 0;
    let pearson = 0;
    let invalid = 0;
    let boundary = 0;
    let unusable = 0;
    for (let i = 0; i < n; i++) {
      const e = eta[i] as number;
      const mu = link.linkinv(e);
      const yi = y[i] as number;
      const wi = wt[i] as number;
      if (!link.validEta(e) || !family.validMu(mu)) invalid++;
      const devResid = family.devResid(yi, mu, wi);
      deviance += devResid;
      if (binomialBoundary ? mu > 1 - boundaryLow || mu < boundaryLow : poissonBoundary && mu < boundaryLow)
        boundary++;
      if (bernoulli && (yi === 0 || yi === 1)) {
        // A 0/1 row of one trial with weight m: m log dbinom(y; 1, mu) is -devResid / 2 (both AIC slots).
        if (wi > 0) {
          out.aic[0] = (out.aic[0] as number) - devResid / 2;
          out.aic[1] = (out.aic[1] as number) - devResid / 2;
        }
      } else if (aicKind !== null) {
        const m = frequencyWeighted ? ((weights as Float64Array)[i] as number) : 1;
        const a = priorWeighted ? ((weights as Float64Array)[i] as number) : 1;
        accumulateAic(aicKind, out.aic, yi, mu, m, a, trials[i] as number);
      }
      const muEta = link.muEta(e);
      if (basisEta !== null && wi > 0) {
        const b = basisEta[i] as number;
        const basisMuEta = link.muEta(b);
        if (basisMuEta !== 0) {
          const basisWeight = (wi * basisMuEta * basisMuEta) / family.variance(link.linkinv(b));
          const residual = (yi - mu) / muEta;
          pearson += basisWeight * residual * residual;
        }
      }
      if (z !== null && w !== null) {
        const zi = e - (offset === null ? 0 : (offset[i] as number)) + (yi - mu) / muEta;
        z[i] = zi;
        w[i] = 0;
        if (wi > 0 && muEta !== 0) {
          const weight = (wi * muEta * muEta) / family.variance(mu);
          // A zero, negative or non-finite working weight (V(mu) = 0, mu outside the family's range)
          // cannot enter the WLS; it only matters when the pass is otherwise valid (finalize decides).
          if (weight > 0 && weight < Number.POSITIVE_INFINITY && Number.isFinite(zi)) w[i] = weight;
          else unusable++;
        }
      }
    }
    out.deviance = deviance;
    out.pearson = pearson;
    out.invalidRows = invalid;
    out.boundaryRows = boundary;
    out.unusableWeightRows = unusable;
    if (z !== null && w !== null) {
      const predictors: Float64Array[] = [];
      for (let j = predictorsFrom; j < p; j++) predictors.push(x.subarray(j * n, (j + 1) * n));
      const input = { predictors, responses: [z], weights: w, use: null, numRows: n };
      out.wls = layout.groups === null ? qrPartial(input) : groupedQrPartial(input, layout.groups);
    }
  }

  if (plan.nullMu !== null) {
    let nullDeviance = 0;
    for (let i = 0; i < n; i++) {
      const mu =
        plan.nullMu === 'offset' ? link.linkinv(offset === null ? 0 : (offset[i] as number)) : plan.nullMu;
      nullDeviance += family.devResid(y[i] as number, mu, wt[i] as number);
    }
    out.nullDeviance = nullDeviance;
  }

  if (plan.nullFit !== null && out.nullFit !== null) {
    const fit = out.nullFit;
    const b0 = plan.nullFit.kind === 'intercept' ? plan.nullFit.b0 : 0;
    for (let i = 0; i < n; i++) {
      const off = offset === null ? 0 : (offset[i] as number);
      const e = plan.nullFit.kind === 'mustart' ? link.linkfun(mustart[i] as number) : b0 + off;
      const mu = link.linkinv(e);
      const yi = y[i] as number;
      const wi = wt[i] as number;
      if (!link.validEta(e) || !family.validMu(mu)) fit.invalidRows++;
      fit.deviance += family.devResid(yi, mu, wi);
      const muEta = link.muEta(e);
      if (wi > 0 && muEta !== 0) {
        const weight = (wi * muEta * muEta) / family.variance(mu);
        fit.sumW += weight;
        fit.sumWZ += weight * (e - off + (yi - mu) / muEta);
      }
    }
  }
  return out;
}
