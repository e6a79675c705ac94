import cauchyCdf from '@stdlib/stats-base-dists-cauchy-cdf';
import cauchyPdf from '@stdlib/stats-base-dists-cauchy-pdf';
import cauchyQuantile from '@stdlib/stats-base-dists-cauchy-quantile';
import normalCdf from '@stdlib/stats-base-dists-normal-cdf';
import normalPdf from '@stdlib/stats-base-dists-normal-pdf';
import normalQuantile from '@stdlib/stats-base-dists-normal-quantile';

/**
 * GLM link functions as R's make.link() / power() (and statmod's tweedie power link) define them,
 * clamps included: the clamps decide where IRLS goes when fitted values run to the edge of their
 * range (separation, rates near 0), so iterates match R's glm.fit only with the same ones.
 *
 * - logit: R's C code (family.c): exp(eta) is replaced by DBL_EPSILON below eta = -30 and by
 *   1 / DBL_EPSILON above 30, and dmu/deta is DBL_EPSILON outside [-30, 30];
 * - probit, cauchit: eta clamped to +-(-quantile(DBL_EPSILON)), dmu/deta floored at DBL_EPSILON;
 * - cloglog: mu kept in [eps, 1 - eps], eta capped at 700 in dmu/deta;
 * - log: mu and dmu/deta floored at DBL_EPSILON;
 * - power(lambda): R's power() floors eta^(1/lambda) at DBL_EPSILON; tweedie's (statmod) does not.
 */

/** R's names of the links a GLM can use; `power` is mu^lambda (tweedie's link.power). */
export type GlmLinkName =
  | 'identity'
  | 'log'
  | 'logit'
  | 'probit'
  | 'cloglog'
  | 'cauchit'
  | 'inverse'
  | '1/mu^2'
  | 'sqrt'
  | 'power';

export interface Link {
  name: GlmLinkName;
  /** lambda of a power link; null for the others. */
  power: number | null;
  /** g(mu). */
  linkfun(mu: number): number;
  /** g^-1(eta), with R's clamps. */
  linkinv(eta: number): number;
  /** d mu / d eta at eta, with R's floors. */
  muEta(eta: number): number;
  /** R's valideta for one value (the family checks all rows). */
  validEta(eta: number): boolean;
}

const EPS = 2.220446049250313e-16; // .Machine$double.eps = DBL_EPSILON
const LOGIT_THRESHOLD = 30;
const INVERSE_EPS = 1 / EPS;
/** -qnorm(DBL_EPSILON) and -qcauchy(DBL_EPSILON), R's probit and cauchit clamps. */
const PROBIT_THRESHOLD = -normalQuantile(EPS, 0, 1);
const CAUCHIT_THRESHOLD = -cauchyQuantile(EPS, 0, 1);

const always = (): boolean => true;

const identity: Link = {
  name: 'identity',
  power: null,
  linkfun: (mu) => mu,
  linkinv: (eta) => eta,
  muEta: () => 1,
  validEta: always,
};

const log: Link = {
  name: 'log',
  power: null,
  linkfun: (mu) => Math.log(mu),
  linkinv: (eta) => Math.max(Math.exp(eta), EPS),
  muEta: (eta) => Math.max(Math.exp(eta), EPS),
  validEta: always,
};

const logit: Link = {
  name: 'logit',
  power: null,
  linkfun: (mu) => Math.log(mu / (1 - mu)),
  linkinv: (eta) => {
    const e = eta < -LOGIT_THRESHOLD ? EPS : eta > LOGIT_THRESHOLD ? INVERSE_EPS : Math.exp(eta);
    return e / (1 + e);
  },
  muEta: (eta) => {
    if (eta > LOGIT_THRESHOLD || eta < -LOGIT_THRESHOLD) return EPS;
    const e = Math.exp(eta);
    const onePlus = 1 + e;
    return e / (onePlus * onePlus);
  },
  validEta: always,
};

const probit: Link = {
  name: 'probit',
  power: null,
  linkfun: (mu) => normalQuantile(mu, 0, 1),
  linkinv: (eta) => normalCdf(Math.min(Math.max(eta, -PROBIT_THRESHOLD), PROBIT_THRESHOLD), 0, 1),
  muEta: (eta) => Math.max(normalPdf(eta, 0, 1), EPS),
  validEta: always,
};

const cauchit: Link = {
  name: 'cauchit',
  power: null,
  linkfun: (mu) => cauchyQuantile(mu, 0, 1),
  linkinv: (eta) => cauchyCdf(Math.min(Math.max(eta, -CAUCHIT_THRESHOLD), CAUCHIT_THRESHOLD), 0, 1),
  muEta: (eta) => Math.max(cauchyPdf(eta, 0, 1), EPS),
  validEta: always,
};

const cloglog: Link = {
  name: 'cloglog',
  power: null,
  linkfun: (mu) => Math.log(-Math.log(1 - mu)),
  linkinv: (eta) => Math.max(Math.min(-Math.expm1(-Math.exp(eta)), 1 - EPS), EPS),
  muEta: (eta) => {
    const e = Math.min(eta, 700);
    return Math.max(Math.exp(e) * Math.exp(-Math.exp(e)), EPS);
  },
  validEta: always,
};

const inverse: Link = {
  name: 'inverse',
  power: null,
  linkfun: (mu) => 1 / mu,
  linkinv: (eta) => 1 / eta,
  muEta: (eta) => -1 / (eta * eta),
  validEta: (eta) => eta !== 0 && Number.isFinite(eta),
};

const inverseSquare: Link = {
  name: '1/mu^2',
  power: null,
  linkfun: (mu) => 1 / (mu * mu),
  linkinv: (eta) => 1 / Math.sqrt(eta),
  muEta: (eta) => -1 / (2 * eta ** 1.5),
  validEta: (eta) => eta > 0 && Number.isFinite(eta),
};

const sqrt: Link = {
  name: 'sqrt',
  power: null,
  linkfun: (mu) => Math.sqrt(mu),
  linkinv: (eta) => eta * eta,
  muEta: (eta) => 2 * eta,
  validEta: (eta) => eta > 0 && Number.isFinite(eta),
};

/** The named links (all but `power`), by R's name. */
export const LINKS: Readonly<Record<Exclude<GlmLinkName, 'power'>, Link>> = {
  identity,
  log,
  logit,
  probit,
  cloglog,
  cauchit,
  inverse,
  '1/mu^2': inverseSquare,
  sqrt,
};

/**
 * statmod's tweedie link mu^lambda: lambda = 0 is the log link, lambda = 1 the identity; otherwise no
 * clamp (unlike R's power()) and every eta valid, as statmod writes it.
 */
export function tweediePowerLink(lambda: number): Link {
  if (lambda === 0) return log;
  if (lambda === 1) return identity;
  const inverseLambda = 1 / lambda;
  return {
    name: 'power',
    power: lambda,
    linkfun: (mu) => mu ** lambda,
    linkinv: (eta) => eta ** inverseLambda,
    muEta: (eta) => inverseLambda * eta ** (inverseLambda - 1),
    validEta: always,
  };
}

/** A link by its stored description (model bodies, scoring): `power` needs lambda. */
export function linkByName(name: GlmLinkName, power: number | null): Link {
  if (name === 'power') {
    if (power === null || !Number.isFinite(power)) throw new Error('a power link needs its power');
    return tweediePowerLink(power);
  }
  return LINKS[name];
}
