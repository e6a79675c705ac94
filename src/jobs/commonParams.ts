import { Type } from 'typebox';
import { Value } from 'typebox/value';
import { UserError } from '../userError.ts';

/** Options every analysis takes, handled by the job runner rather than by the analysis itself. */
export const CommonParams = Type.Object({
  /** Chunks each task reads and merges before handing back a partial (rxOptions' blocksPerRead). @defaultValue 1 */
  blocksPerRead: Type.Optional(Type.Integer({ minimum: 1, maximum: 10_000 })),
  /** RevoScaleR's progress level 0-3; progress is always recorded, this is accepted for compatibility. */
  reportProgress: Type.Optional(Type.Integer({ minimum: 0, maximum: 3 })),
});

export interface SplitParams {
  blocksPerRead: number;
  /** The params the analysis itself sees. */
  analysisParams: Record<string, unknown>;
}

export function splitCommonParams(params: Record<string, unknown>): SplitParams {
  const { blocksPerRead, reportProgress, ...analysisParams } = params;
  const common = { blocksPerRead, reportProgress };
  for (const key of Object.keys(common) as (keyof typeof common)[]) {
    if (common[key] === undefined) delete common[key];
  }
  if (!Value.Check(CommonParams, common)) {
    const fields = Value.Errors(CommonParams, common).map((e) => ({
      field: `params${e.instancePath}`,
      message: e.message,
    }));
    throw new UserError(
      400,
      'INVALID_PARAMS',
      'blocksPerRead must be a whole number >= 1 and reportProgress 0-3',
      {
        fields,
      },
    );
  }
  return { blocksPerRead: (blocksPerRead as number | undefined) ?? 1, analysisParams };
}
