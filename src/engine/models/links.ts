import { normalCdf } from '../stats/quantiles.ts';
import type { LinkName } from './body.ts';

/**
 * The inverse of each link scoring knows (R's `family$linkinv`) and its derivative (`family$mu.eta`,
 * for standard errors on the response scale by the delta method). Plain formulas, written so the
 * tails keep their digits (1 - exp(-exp(eta)) via expm1, the logistic through exp(-|eta|)).
 */
export interface InverseLink {
  /** mu = g^-1(eta). */
  linkInverse(eta: number): number;
  /** d mu / d eta at eta. */
  muEta(eta: number): number;
}

const SQRT_2PI = Math.sqrt(2 * Math.PI);

const identity: InverseLink = { linkInverse: (eta) => eta, muEta: () => 1 };
const log: InverseLink = { linkInverse: Math.exp, muEta: Math.exp };

const logit: InverseLink = {
  linkInverse: (eta) => {
    const e = Math.exp(-Math.abs(eta));
    return eta >= 0 ? 1 / (1 + e) : e / (1 + e);
  },
  muEta: (eta) => {
    const e = Math.exp(-Math.abs(eta));
    return e / ((1 + e) * (1 + e));
  },
};

const probit: InverseLink = {
  linkInverse: normalCdf,
  muEta: (eta) => Math.exp(-0.5 * eta * eta) / SQRT_2PI,
};

const cloglog: InverseLink = {
  linkInverse: (eta) => -Math.expm1(-Math.exp(eta)),
  muEta: (eta) => Math.exp(eta - Math.exp(eta)),
};

const cauchit: InverseLink = {
  linkInverse: (eta) => 0.5 + Math.atan(eta) / Math.PI,
  muEta: (eta) => 1 / (Math.PI * (1 + eta * eta)),
};

const inverse: InverseLink = { linkInverse: (eta) => 1 / eta, muEta: (eta) => -1 / (eta * eta) };

const inverseSquare: InverseLink = {
  linkInverse: (eta) => 1 / Math.sqrt(eta),
  muEta: (eta) => -1 / (2 * eta ** 1.5),
};

const sqrt: InverseLink = { linkInverse: (eta) => eta * eta, muEta: (eta) => 2 * eta };

function power(lambda: number): InverseLink {
  if (lambda === 0) return log;
  if (lambda === 1) return identity;
  return {
    linkInverse: (eta) => eta ** (1 / lambda),
    muEta: (eta) => (1 / lambda) * eta ** (1 / lambda - 1),
  };
}

/** The inverse link of `link` (`linkPower` for `power`). */
export function inverseLink(link: LinkName, linkPower: number | null = null): InverseLink {
  switch (link) {
    case 'identity':
      return identity;
    case 'log':
      return log;
    case 'logit':
      return logit;
    case 'probit':
      return probit;
    case 'cloglog':
      return cloglog;
    case 'cauchit':
      return cauchit;
    case 'inverse':
      return inverse;
    case '1/mu^2':
      return inverseSquare;
    case 'sqrt':
      return sqrt;
    case 'power':
      return power(linkPower ?? 1);
  }
}
