import { type Static, Type } from 'typebox';
import { EngineError } from '../errors.ts';
import { FAMILY_LINKS, FAMILY_NAMES, type FamilySpec } from '../glm/families.ts';
import type { GlmLinkName } from '../glm/links.ts';
import { GlmResultSchema, glmAnalysis, glmSharedParams } from './glmCommon.ts';

/**
 * rxGlm: generalized linear models by IRLS, one pass over the data per iteration (see glmCommon.ts
 * and glm/). Families and links as R's (binomial, poisson, Gamma, gaussian, inverse.gaussian,
 * quasibinomial, quasipoisson) and RevoScaleR's rxTweedie (statmod's tweedie: `variancePower`,
 * `linkPower`, R's var.power and link.power).
 */

const LINK_VALUES = [
  'logit',
  'probit',
  'cloglog',
  'cauchit',
  'log',
  'identity',
  'inverse',
  '1/mu^2',
  'sqrt',
] as const;

export const GlmParamsSchema = Type.Object(
  {
    ...glmSharedParams,
    family: Type.Optional(
      Type.Enum(FAMILY_NAMES, {
        default: 'gaussian',
        description: "R's family name; tweedie is RevoScaleR's rxTweedie (statmod's tweedie).",
      }),
    ),
    link: Type.Optional(
      Type.Enum(LINK_VALUES, {
        description:
          "R's link name; default the family's (binomial logit, poisson log, Gamma inverse, gaussian identity, inverse.gaussian 1/mu^2). Not for tweedie (use linkPower).",
      }),
    ),
    variancePower: Type.Optional(
      Type.Number({ default: 0, description: 'tweedie only: var.power, V(mu) = mu^variancePower.' }),
    ),
    linkPower: Type.Optional(
      Type.Number({
        description: 'tweedie only: link.power, eta = mu^linkPower (0 = log); default 1 - variancePower.',
      }),
    ),
  },
  { additionalProperties: false },
);
export type GlmParams = Static<typeof GlmParamsSchema>;

export { GlmResultSchema };

/** The family of glm's params; INVALID_PARAMS for tweedie's powers on another family (and vice versa). */
export function glmFamilySpec(params: GlmParams): FamilySpec {
  const name = params.family ?? 'gaussian';
  if (name === 'tweedie') {
    if (params.link !== undefined)
      throw new EngineError('INVALID_PARAMS', 'tweedie takes linkPower (0 = log), not link', 400, {
        link: params.link,
      });
    const variancePower = params.variancePower ?? 0;
    const linkPower = params.linkPower ?? 1 - variancePower;
    if (variancePower > 0 && variancePower < 1)
      throw new EngineError(
        'INVALID_PARAMS',
        'tweedie: variancePower between 0 and 1 defines no distribution',
        400,
        {
          variancePower,
        },
      );
    return {
      name,
      link: linkPower === 0 ? 'log' : linkPower === 1 ? 'identity' : 'power',
      variancePower,
      linkPower,
    };
  }
  if (params.variancePower !== undefined || params.linkPower !== undefined)
    throw new EngineError(
      'INVALID_PARAMS',
      `variancePower and linkPower are for the tweedie family, not ${name}`,
      400,
      {
        family: name,
      },
    );
  const link: GlmLinkName = params.link ?? (FAMILY_LINKS[name][0] as GlmLinkName);
  return { name, link, variancePower: null, linkPower: null };
}

export const glm = glmAnalysis<GlmParams>('glm', GlmParamsSchema, glmFamilySpec);
