import gammaln from '@stdlib/math-base-special-gammaln';
import { EngineError } from '../errors.ts';
import { type GlmLinkName, LINKS, type Link, tweediePowerLink } from './links.ts';

/**
 * GLM families as R's stats package (binomial, poisson, Gamma, gaussian, inverse.gaussian, the quasi
 * families) and statmod's tweedie define them: variance, deviance residuals, starting values
 * (`initialize`'s mustart), the valid range of mu, and the AIC (`family$aic`, NA for quasi families and
 * tweedie). Everything is per row and scalar; the pass kernel (irls.ts) loops.
 *
 * Weights, as RevoScaleR means them: a row has a frequency weight m (fweights: the row stands for m
 * identical rows) and a prior weight a (pweights, R's `weights =`), and for a `cbind(s, f)` binomial
 * response n = s + f trials. IRLS sees R's weight m * a * n. Starting values and the AIC treat m as
 * replication (so fweights give exactly the fit of the replicated rows) and a as R's glm does.
 */

export const FAMILY_NAMES = [
  'binomial',
  'quasibinomial',
  'poisson',
  'quasipoisson',
  'gaussian',
  'Gamma',
  'inverse.gaussian',
  'tweedie',
] as const;
export type FamilyName = (typeof FAMILY_NAMES)[number];

/** Links each family accepts, the default first (R's okLinks). Tweedie takes `linkPower` instead. */
export const FAMILY_LINKS: Readonly<Record<Exclude<FamilyName, 'tweedie'>, readonly GlmLinkName[]>> = {
  binomial: ['logit', 'probit', 'cloglog', 'cauchit', 'log'],
  quasibinomial: ['logit', 'probit', 'cloglog', 'cauchit', 'log'],
  poisson: ['log', 'identity', 'sqrt'],
  quasipoisson: ['log', 'identity', 'sqrt'],
  gaussian: ['identity', 'log', 'inverse'],
  Gamma: ['inverse', 'identity', 'log'],
  'inverse.gaussian': ['1/mu^2', 'inverse', 'identity', 'log'],
};

/** How the AIC is computed: R's family$aic, or none (quasi families, tweedie: NA in R). */
export type AicKind = 'binomial' | 'poisson' | 'gaussian' | 'Gamma' | 'inverse.gaussian' | null;

/** Plain-JSON description of a family (job state, model bodies). */
export interface FamilySpec {
  name: FamilyName;
  link: GlmLinkName;
  /** Tweedie's var.power; null for the other families. */
  variancePower: number | null;
  /** Tweedie's link.power (0 = log); null for the other families. */
  linkPower: number | null;
}

export interface Family {
  spec: FamilySpec;
  link: Link;
  /** Binomial-type response: 0 <= y <= 1 with weights, or cbind(successes, failures). */
  binomialResponse: boolean;
  /** Dispersion fixed at 1 (binomial, poisson): z statistics. Otherwise estimated: t statistics. */
  dispersionFixed: boolean;
  aic: AicKind;
  variance(mu: number): number;
  validMu(mu: number): boolean;
  /** Deviance residual of one row with weight wt (R's dev.resids). */
  devResid(y: number, mu: number, wt: number): number;
  /** mustart of one row: prior weight a (frequency weights left out: replication) and trials n. */
  muStart(y: number, priorWeight: number, trials: number): number;
  /** Why a response value is outside the family's range; null when it is fine. */
  responseProblem(y: number): string | null;
  /**
   * Why mustart cannot start this row (R's gaussian refuses log / inverse links on y <= 0 / y = 0
   * without starting values); null when it can.
   */
  startProblem(y: number): string | null;
}

const EPS = 2.220446049250313e-16;

/** y log(y / mu), 0 at y = 0 (R's y_log_y in family.c). */
function yLogY(y: number, mu: number): number {
  return y !== 0 ? y * Math.log(y / mu) : 0;
}

const binomialDevResid = (y: number, mu: number, wt: number): number =>
  2 * wt * (yLogY(y, mu) + yLogY(1 - y, 1 - mu));
const poissonDevResid = (y: number, mu: number, wt: number): number =>
  2 * wt * (y * Math.log(y === 0 ? 1 : y / mu) - (y - mu));

function tweedieDevResid(p: number): (y: number, mu: number, wt: number) => number {
  return (y, mu, wt) => {
    const y1 = y === 0 ? 0.1 : y;
    const theta = p === 1 ? Math.log(y1 / mu) : (y1 ** (1 - p) - mu ** (1 - p)) / (1 - p);
    const kappa = p === 2 ? Math.log(y1 / mu) : (y ** (2 - p) - mu ** (2 - p)) / (2 - p);
    return 2 * wt * (y * theta - kappa);
  };
}

const noProblem = (): null => null;

function binomialFamily(spec: FamilySpec, link: Link): Family {
  return {
    spec,
    link,
    binomialResponse: true,
    dispersionFixed: spec.name === 'binomial',
    aic: spec.name === 'binomial' ? 'binomial' : null,
    variance: (mu) => mu * (1 - mu),
    validMu: (mu) => mu > 0 && mu < 1,
    devResid: binomialDevResid,
    muStart: (y, a, n) => (n === 1 ? (a * y + 0.5) / (a + 1) : (n * y + 0.5) / (n + 1)),
    responseProblem: (y) => (y >= 0 && y <= 1 ? null : `y values must be 0 <= y <= 1 (found ${y})`),
    startProblem: noProblem,
  };
}

function poissonFamily(spec: FamilySpec, link: Link): Family {
  return {
    spec,
    link,
    binomialResponse: false,
    dispersionFixed: spec.name === 'poisson',
    aic: spec.name === 'poisson' ? 'poisson' : null,
    variance: (mu) => mu,
    validMu: (mu) => mu > 0 && Number.isFinite(mu),
    devResid: poissonDevResid,
    muStart: (y) => y + 0.1,
    responseProblem: (y) =>
      y >= 0 ? null : `negative values not allowed for the '${spec.name}' family (found ${y})`,
    startProblem: noProblem,
  };
}

/** The family of `spec`; throws INVALID_PARAMS for a link the family does not take. */
export function makeFamily(spec: FamilySpec): Family {
  if (spec.name === 'tweedie') {
    const p = spec.variancePower ?? 0;
    const lambda = spec.linkPower ?? 1 - p;
    return {
      spec,
      link: tweediePowerLink(lambda),
      binomialResponse: false,
      dispersionFixed: false,
      aic: null,
      variance: (mu) => mu ** p,
      validMu: p === 0 ? () => true : p > 0 ? (mu) => mu >= 0 : (mu) => mu > 0,
      devResid: tweedieDevResid(p),
      muStart: (y) => (y === 0 ? 0.1 : y),
      responseProblem: (y) =>
        p >= 1 && y < 0 ? `negative values not allowed for tweedie with var.power >= 1 (found ${y})` : null,
      startProblem: noProblem,
    };
  }
  const allowed = FAMILY_LINKS[spec.name];
  if (!allowed.includes(spec.link) || spec.link === 'power') {
    throw new EngineError(
      'INVALID_PARAMS',
      `link '${spec.link}' is not available for the ${spec.name} family; use one of ${allowed.map((l) => `'${l}'`).join(', ')}`,
      400,
      { family: spec.name, link: spec.link, links: [...allowed] },
    );
  }
  const link = LINKS[spec.link];
  switch (spec.name) {
    case 'binomial':
    case 'quasibinomial':
      return binomialFamily(spec, link);
    case 'poisson':
    case 'quasipoisson':
      return poissonFamily(spec, link);
    case 'gaussian':
      return {
        spec,
        link,
        binomialResponse: false,
        dispersionFixed: false,
        aic: 'gaussian',
        variance: () => 1,
        validMu: () => true,
        devResid: (y, mu, wt) => wt * (y - mu) * (y - mu),
        muStart: (y) => y,
        responseProblem: noProblem,
        startProblem: (y) =>
          (link.name === 'inverse' && y === 0) || (link.name === 'log' && y <= 0)
            ? `cannot find valid starting values (y = ${y} with the ${link.name} link): please specify some (initialValues)`
            : null,
      };
    case 'Gamma':
      return {
        spec,
        link,
        binomialResponse: false,
        dispersionFixed: false,
        aic: 'Gamma',
        variance: (mu) => mu * mu,
        validMu: (mu) => mu > 0 && Number.isFinite(mu),
        devResid: (y, mu, wt) => -2 * wt * (Math.log(y === 0 ? 1 : y / mu) - (y - mu) / mu),
        muStart: (y) => y,
        responseProblem: (y) =>
          y > 0 ? null : `non-positive values not allowed for the 'Gamma' family (found ${y})`,
        startProblem: noProblem,
      };
    case 'inverse.gaussian':
      return {
        spec,
        link,
        binomialResponse: false,
        dispersionFixed: false,
        aic: 'inverse.gaussian',
        variance: (mu) => mu * mu * mu,
        validMu: () => true,
        devResid: (y, mu, wt) => (wt * (y - mu) * (y - mu)) / (y * mu * mu),
        muStart: (y) => y,
        responseProblem: (y) =>
          y > 0 ? null : `positive values only are allowed for the 'inverse.gaussian' family (found ${y})`,
        startProblem: noProblem,
      };
  }
}

// ---------------------------------------------------------------------------------------------------
// AIC (R's family$aic), accumulated per pass at the current mu.

/** Slots of the AIC accumulator (a Float64Array summed across rows and chunks). */
export const AIC_SLOTS = 3;

/** log dbinom(k; size, p) for whole k, size (k = size * y rounded, as R's aic rounds). */
function logBinomial(k: number, size: number, p: number): number {
  if (size === 1) return k === 1 ? Math.log(p) : Math.log1p(-p);
  if (k < 0 || k > size) return Number.NEGATIVE_INFINITY;
  const choose = gammaln(size + 1) - gammaln(k + 1) - gammaln(size - k + 1);
  const success = k === 0 ? 0 : k * Math.log(p);
  const failure = k === size ? 0 : (size - k) * Math.log1p(-p);
  return choose + success + failure;
}

/** log dpois(y; mu); -Inf for a non-whole y (R's dpois warns and gives 0). */
function logPoisson(y: number, mu: number): number {
  if (y !== Math.round(y)) return Number.NEGATIVE_INFINITY;
  return (y === 0 ? 0 : y * Math.log(mu)) - mu - gammaln(y + 1);
}

/**
 * Adds one row to the AIC accumulator. `frequency` is the row's fweight (m), `prior` its pweight (a),
 * `trials` its binomial n; y is the proportion for binomial responses.
 *
 * - binomial: R's -2 sum((wt / M) dbinom(round(M y), round(M), mu, log)) with wt = a n and M = n when
 *   any row has n > 1, else M = wt: slot 0 holds the sum for M = n, slot 1 for M = a n, slot 2 counts
 *   rows with n > 1; each row counts m times (replication);
 * - poisson: slot 0 = sum(m a log dpois(y, mu));
 * - gaussian: slot 0 = rows (m each) with a positive weight, slot 1 = sum(m log a) over them;
 * - Gamma, inverse.gaussian: slot 0 = sum(m a), slot 1 = sum(m a log y); the rest follows from the
 *   deviance (see finishAic).
 */
export function accumulateAic(
  kind: AicKind,
  slots: Float64Array,
  y: number,
  mu: number,
  frequency: number,
  prior: number,
  trials: number,
): void {
  switch (kind) {
    case null:
      return;
    case 'binomial': {
      const wt = prior * trials;
      if (wt <= 0 || frequency <= 0) return;
      const perTrials = logBinomial(Math.round(trials * y), Math.round(trials), mu);
      slots[0] = (slots[0] as number) + frequency * prior * perTrials;
      slots[1] =
        (slots[1] as number) +
        frequency * (prior === 1 ? perTrials : logBinomial(Math.round(wt * y), Math.round(wt), mu));
      if (trials > 1) slots[2] = (slots[2] as number) + 1;
      return;
    }
    case 'poisson':
      if (frequency * prior > 0) slots[0] = (slots[0] as number) + frequency * prior * logPoisson(y, mu);
      return;
    case 'gaussian':
      if (prior > 0) {
        slots[0] = (slots[0] as number) + frequency;
        slots[1] = (slots[1] as number) + frequency * Math.log(prior);
      }
      return;
    case 'Gamma':
    case 'inverse.gaussian': {
      const wt = frequency * prior;
      if (wt > 0) {
        slots[0] = (slots[0] as number) + wt;
        slots[1] = (slots[1] as number) + wt * Math.log(y);
      }
      return;
    }
  }
}

/** The family's AIC (without the 2 * rank the model adds) from the merged accumulator; NaN when none. */
export function finishAic(kind: AicKind, slots: Float64Array, deviance: number): number {
  switch (kind) {
    case null:
      return Number.NaN;
    case 'binomial':
      return -2 * ((slots[2] as number) > 0 ? (slots[0] as number) : (slots[1] as number));
    case 'poisson':
      return -2 * (slots[0] as number);
    case 'gaussian': {
      const nobs = slots[0] as number;
      return nobs * (Math.log((2 * Math.PI * deviance) / nobs) + 1) + 2 - (slots[1] as number);
    }
    case 'Gamma': {
      // -2 sum(wt log dgamma(y, shape 1/disp, scale mu disp)) + 2 with disp = dev / sum(wt). With
      // s = 1/disp, log dgamma = -lgamma(s) - s log(disp) - log(y) + s (log(y/mu) - y/mu), and
      // sum(wt (log(y/mu) - y/mu)) = -dev/2 - sum(wt) by the Gamma deviance's definition.
      const w = slots[0] as number;
      const disp = deviance / w;
      const s = 1 / disp;
      const logLik = -w * (gammaln(s) + s * Math.log(disp)) - (slots[1] as number) + s * (-deviance / 2 - w);
      return -2 * logLik + 2;
    }
    case 'inverse.gaussian': {
      const w = slots[0] as number;
      return w * (Math.log((deviance / w) * 2 * Math.PI) + 1) + 3 * (slots[1] as number) + 2;
    }
  }
}

export { EPS as DOUBLE_EPS };
