import { type Static, Type } from 'typebox';
import { GlmResultSchema, glmAnalysis, glmSharedParams } from './glmCommon.ts';

/**
 * rxLogit: logistic regression, i.e. rxGlm with the binomial family and logit link (same IRLS, same
 * result shape; dispersion 1, z statistics). The response is 0/1 (numeric or logical), a 2-level
 * factor (first level = 0, as R), or `cbind(successes, failures)`.
 *
 * [differs] RevoScaleR's rxLogit starts by default from a linear regression (`initialValues = NULL`);
 * this one starts from R's glm mustart, (y + 0.5) / 2, the start RevoScaleR uses for `initialValues =
 * NA`, so iterates and iteration counts match R's glm.
 */

export const LogitParamsSchema = Type.Object({ ...glmSharedParams }, { additionalProperties: false });
export type LogitParams = Static<typeof LogitParamsSchema>;

export const LogitResultSchema = GlmResultSchema;

export const logit = glmAnalysis<LogitParams>('logit', LogitParamsSchema, () => ({
  name: 'binomial',
  link: 'logit',
  variancePower: null,
  linkPower: null,
}));
