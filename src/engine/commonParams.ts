import { Type } from 'typebox';
import { Value } from 'typebox/value';
import type { DatasetMeta } from '../storage/datasetMeta.ts';
import { UserError } from '../userError.ts';
import { compileRowOps, type RowOps, type RowOpsSpec } from './expr/index.ts';

/** Options every analysis takes, handled by the runners rather than by the analysis itself. */
export const CommonParams = Type.Object({
  /** Chunks each task reads and merges before handing back a partial (rxOptions' blocksPerRead). @defaultValue 1 */
  blocksPerRead: Type.Optional(Type.Integer({ minimum: 1, maximum: 10_000 })),
  /** RevoScaleR's progress level 0-3; progress is always recorded, this is accepted for compatibility. */
  reportProgress: Type.Optional(Type.Integer({ minimum: 0, maximum: 3 })),
  /** New or replaced variables, computed per chunk in key order: `{ "name": "expression" }`. */
  transforms: Type.Optional(Type.Record(Type.String(), Type.String())),
  /** Keep the rows where this expression is TRUE (NA and FALSE drop the row); evaluated after `transforms`. */
  rowSelection: Type.Optional(Type.String()),
});

const COMMON_KEYS = ['blocksPerRead', 'reportProgress', 'transforms', 'rowSelection'] as const;

/** The params of a job, taken apart: the runner's share and the analysis's own. */
export interface InputPlan {
  blocksPerRead: number;
  /** The params the analysis itself sees. */
  analysisParams: Record<string, unknown>;
  /** The compiled transforms and rowSelection, or null without either. */
  rowOps: RowOps | null;
  /** Their text, as chunk tasks get it to compile for themselves; null without either. */
  rowOpsSpec: RowOpsSpec | null;
  /** The dataset as the analysis sees it: its variables after the transforms. */
  meta: DatasetMeta;
}

/** The common params and the analysis's own, unchecked (checking the latter needs no dataset). */
export function splitParams(params: Record<string, unknown>): {
  common: Record<string, unknown>;
  analysisParams: Record<string, unknown>;
} {
  const common: Record<string, unknown> = {};
  const analysisParams: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(params)) {
    if ((COMMON_KEYS as readonly string[]).includes(key)) {
      if (value !== undefined) common[key] = value;
    } else analysisParams[key] = value;
  }
  return { common, analysisParams };
}

/**
 * Splits off and checks the common params, and compiles transforms and rowSelection against the
 * dataset (EngineError with positions on bad expressions), so every runner treats them alike: the API
 * before queueing, the coordinator, each chunk task, and the in-process runner.
 */
export function planInput(params: Record<string, unknown>, meta: DatasetMeta): InputPlan {
  const { common, analysisParams } = splitParams(params);
  if (!Value.Check(CommonParams, common)) {
    const fields = Value.Errors(CommonParams, common).map((e) => ({
      field: `params${e.instancePath}`,
      message: e.message,
    }));
    throw new UserError(
      400,
      'INVALID_PARAMS',
      'blocksPerRead must be a whole number >= 1, reportProgress 0-3, transforms an object of expression strings and rowSelection an expression string',
      { fields },
    );
  }
  const rowOpsSpec: RowOpsSpec = {
    ...(common['transforms'] !== undefined
      ? { transforms: common['transforms'] as Record<string, string> }
      : {}),
    ...(common['rowSelection'] !== undefined ? { rowSelection: common['rowSelection'] as string } : {}),
  };
  const rowOps = compileRowOps(rowOpsSpec, meta.variables);
  return {
    blocksPerRead: (common['blocksPerRead'] as number | undefined) ?? 1,
    analysisParams,
    rowOps,
    rowOpsSpec: rowOps ? rowOpsSpec : null,
    meta: rowOps ? { ...meta, variables: rowOps.variables } : meta,
  };
}
