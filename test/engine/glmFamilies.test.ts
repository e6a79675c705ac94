import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { FAMILY_LINKS, makeFamily } from '../../src/engine/glm/families.ts';
import { LINKS, tweediePowerLink } from '../../src/engine/glm/links.ts';

/**
 * Links and families one value at a time: inverses, derivatives (against central differences), R's
 * clamps at the edges, and deviance residuals against their textbook forms.
 */

const EPS = 2.220446049250313e-16;

describe('glm links', () => {
  it('linkinv inverts linkfun, and muEta is the derivative of linkinv', () => {
    const cases: Array<[keyof typeof LINKS, number[]]> = [
      ['logit', [0.01, 0.3, 0.5, 0.9]],
      ['probit', [0.01, 0.3, 0.5, 0.9]],
      ['cloglog', [0.01, 0.3, 0.5, 0.9]],
      ['cauchit', [0.01, 0.3, 0.5, 0.9]],
      ['log', [0.01, 1, 50]],
      ['identity', [-3, 0, 2]],
      ['inverse', [0.2, 1, 7]],
      ['1/mu^2', [0.2, 1, 7]],
      ['sqrt', [0.2, 1, 7]],
    ];
    for (const [name, mus] of cases) {
      const link = LINKS[name];
      for (const mu of mus) {
        const eta = link.linkfun(mu);
        assert.ok(Math.abs(link.linkinv(eta) - mu) <= 1e-13 * Math.max(1, Math.abs(mu)), `${name} at ${mu}`);
        const h = 1e-6 * Math.max(1, Math.abs(eta));
        const numeric = (link.linkinv(eta + h) - link.linkinv(eta - h)) / (2 * h);
        assert.ok(Math.abs(link.muEta(eta) - numeric) <= 1e-6 * Math.abs(numeric), `${name} muEta at ${mu}`);
      }
    }
  });

  it("R's clamps: logit beyond +-30, probit and cauchit beyond -quantile(eps), cloglog and log floors", () => {
    const { logit, probit, cauchit, cloglog, log } = LINKS;
    assert.equal(logit.linkinv(-31), EPS / (1 + EPS));
    assert.equal(logit.linkinv(31), 1 / EPS / (1 + 1 / EPS));
    assert.equal(logit.muEta(31), EPS);
    assert.equal(logit.muEta(-31), EPS);
    // pnorm(-8.125890664701906) = .Machine$double.eps (R): the clamp keeps mu inside (0, 1).
    assert.ok(Math.abs(probit.linkinv(-40) - EPS) <= 1e-3 * EPS);
    assert.equal(probit.linkinv(-40), probit.linkinv(-9));
    assert.equal(probit.muEta(-40), EPS);
    assert.ok(Math.abs(cauchit.linkinv(-1e20) - EPS) <= 1e-6 * EPS);
    assert.equal(cloglog.linkinv(10), 1 - EPS);
    assert.equal(cloglog.linkinv(-50), EPS);
    assert.equal(cloglog.muEta(800), EPS);
    assert.equal(log.linkinv(-800), EPS);
    assert.equal(log.muEta(-800), EPS);
  });

  it('valid eta: inverse != 0, 1/mu^2 and sqrt > 0; the others always', () => {
    assert.equal(LINKS.inverse.validEta(0), false);
    assert.equal(LINKS['1/mu^2'].validEta(-1), false);
    assert.equal(LINKS.sqrt.validEta(0), false);
    assert.equal(LINKS.logit.validEta(-1e6), true);
  });

  it("tweedie's power link: 0 is log, 1 identity, otherwise mu^lambda without clamps", () => {
    assert.equal(tweediePowerLink(0).name, 'log');
    assert.equal(tweediePowerLink(1).name, 'identity');
    const half = tweediePowerLink(0.5);
    assert.equal(half.linkfun(9), 3);
    assert.equal(half.linkinv(3), 9);
    assert.equal(half.muEta(3), 6);
  });
});

describe('glm families', () => {
  it('each family takes its R links and refuses others', () => {
    for (const [name, links] of Object.entries(FAMILY_LINKS)) {
      for (const link of links) {
        const family = makeFamily({
          name: name as keyof typeof FAMILY_LINKS,
          link,
          variancePower: null,
          linkPower: null,
        });
        assert.equal(family.link.name, link);
      }
    }
    assert.throws(() => makeFamily({ name: 'Gamma', link: 'logit', variancePower: null, linkPower: null }), {
      code: 'INVALID_PARAMS',
    });
  });

  it('deviance residuals: the textbook forms, with y = 0 handled as R does', () => {
    const f = (
      name: 'binomial' | 'poisson' | 'Gamma' | 'inverse.gaussian' | 'gaussian',
      link: 'logit' | 'log' | 'inverse' | '1/mu^2' | 'identity',
    ) => makeFamily({ name, link, variancePower: null, linkPower: null });
    const binomial = f('binomial', 'logit');
    assert.ok(Math.abs(binomial.devResid(1, 0.8, 2) - -4 * Math.log(0.8)) < 1e-15);
    assert.ok(
      Math.abs(binomial.devResid(0.25, 0.5, 1) - 2 * (0.25 * Math.log(0.5) + 0.75 * Math.log(1.5))) < 1e-15,
    );
    const poisson = f('poisson', 'log');
    assert.equal(poisson.devResid(0, 2, 1), 4);
    assert.ok(Math.abs(poisson.devResid(3, 2, 1) - 2 * (3 * Math.log(1.5) - 1)) < 1e-15);
    const gamma = f('Gamma', 'inverse');
    assert.ok(Math.abs(gamma.devResid(2, 1, 1) - -2 * (Math.log(2) - 1)) < 1e-15);
    assert.ok(Math.abs(f('inverse.gaussian', '1/mu^2').devResid(2, 1, 1) - 0.5) < 1e-15);
    assert.equal(f('gaussian', 'identity').devResid(3, 1, 0.5), 2);
    // statmod's tweedie with var.power 1 is the poisson deviance; with 2 the Gamma's.
    const t1 = makeFamily({ name: 'tweedie', link: 'log', variancePower: 1, linkPower: 0 });
    assert.ok(Math.abs(t1.devResid(3, 2, 1) - poisson.devResid(3, 2, 1)) < 1e-14);
    const t2 = makeFamily({ name: 'tweedie', link: 'power', variancePower: 2, linkPower: -1 });
    assert.ok(Math.abs(t2.devResid(2, 1, 1) - gamma.devResid(2, 1, 1)) < 1e-14);
  });

  it("starting values: R's mustart per family", () => {
    const binomial = makeFamily({ name: 'binomial', link: 'logit', variancePower: null, linkPower: null });
    assert.equal(binomial.muStart(1, 1, 1), 0.75);
    assert.equal(binomial.muStart(0, 3, 1), 0.5 / 4);
    assert.equal(binomial.muStart(0.25, 1, 4), 1.5 / 5); // cbind: (n y + 0.5) / (n + 1)
    const poisson = makeFamily({ name: 'poisson', link: 'log', variancePower: null, linkPower: null });
    assert.equal(poisson.muStart(0, 1, 1), 0.1);
    const tweedie = makeFamily({ name: 'tweedie', link: 'log', variancePower: 1.5, linkPower: 0 });
    assert.equal(tweedie.muStart(0, 1, 1), 0.1);
    assert.equal(tweedie.muStart(2, 1, 1), 2);
  });
});
