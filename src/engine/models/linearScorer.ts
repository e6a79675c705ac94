import type { VarInfo } from '../../storage/datasetMeta.ts';
import { EngineError } from '../errors.ts';
import { sourceInputs } from '../formula/index.ts';
import { isLinearModelBody, type LinearModelBody, predictorVariables, responseVariables } from './body.ts';
import {
  defaultScoreOptions,
  type OutputNames,
  outputColumns,
  outputNames,
  planScoring,
  type ScoringPlan,
  scoreChunk,
} from './score.ts';
import type { ScoredColumn } from './scoredColumns.ts';
import type { Scorer } from './scorers.ts';

/**
 * The `Scorer` of linear models (linMod, logit, glm): score.ts's plan and per-response outputs as
 * scored columns (NaN = missing becomes a cleared validity bit), in RevoScaleR's column order.
 */

export interface LinearScorerPlan {
  body: LinearModelBody;
  scoring: ScoringPlan;
  names: OutputNames[];
}

/** The output column names a plan writes, per response, in order. */
function columnNames(plan: LinearScorerPlan): string[] {
  const { options } = plan.scoring;
  return plan.names.flatMap((names) => [
    names.prediction,
    ...(options.computeResiduals ? [names.residual] : []),
    ...(options.computeStdErrors ? [names.stdError] : []),
    ...(options.interval !== 'none' ? [names.lower, names.upper] : []),
  ]);
}

function numericColumn(name: string, values: Float64Array): ScoredColumn {
  let valid: Uint8Array | null = null;
  for (let i = 0; i < values.length; i++) {
    if (!Number.isNaN(values[i])) continue;
    if (valid === null) valid = new Uint8Array(values.length).fill(1);
    valid[i] = 0;
  }
  return { name, type: 'numeric', values, valid };
}

/** True when `term` is a dropped reference level (aliased by coding, not by collinearity). */
function isReference(body: LinearModelBody, term: string): boolean {
  return body.plan.columns.some((c) => c.label === term && c.dropped);
}

export const linearScorer: Scorer<LinearModelBody, LinearScorerPlan> = {
  options: ['computeResiduals', 'computeStdErrors', 'interval', 'confLevel', 'type', 'predVarNames'],
  types: ['response', 'link'],
  scoresUnseenLevels: false,
  isBody: isLinearModelBody,
  variables: (body) => body.variables,
  plan: (body, data, options) => {
    const scoring = planScoring(
      body,
      data,
      defaultScoreOptions({
        ...(options.computeResiduals === undefined ? {} : { computeResiduals: options.computeResiduals }),
        ...(options.computeStdErrors === undefined ? {} : { computeStdErrors: options.computeStdErrors }),
        ...(options.interval === undefined ? {} : { interval: options.interval }),
        ...(options.confLevel === undefined ? {} : { confLevel: options.confLevel }),
        type: options.type === 'link' ? 'link' : 'response',
      }),
    );
    const given = options.predVarNames;
    if (given !== undefined && given.length !== body.responses.length) {
      throw new EngineError(
        'INVALID_PARAMS',
        `predVarNames has ${given.length} names; the model has ${body.responses.length} response${body.responses.length === 1 ? '' : 's'}`,
        400,
        { param: 'predVarNames' },
      );
    }
    return { body, scoring, names: outputNames(body, given) };
  },
  columns: (plan) => {
    const names = new Set(predictorVariables(plan.body.plan));
    if (plan.scoring.options.computeResiduals)
      for (const v of responseVariables(plan.body.plan)) names.add(v);
    if (plan.scoring.offset !== null) for (const v of sourceInputs(plan.scoring.offset)) names.add(v);
    return [...names];
  },
  outputs: (plan) =>
    columnNames(plan).map((name): VarInfo => ({ name, type: 'numeric', low: null, high: null, missing: 0 })),
  score: (plan, table) => {
    const scores = scoreChunk(plan.scoring, plan.body, table);
    const columns = scores.responses.flatMap((response, k) =>
      outputColumns(plan.names[k] as OutputNames, response).map((c) => numericColumn(c.name, c.values)),
    );
    return { numRows: scores.numRows, columns, scored: scores.predicted, unseenLevels: scores.unseenLevels };
  },
  warnings: (plan) =>
    plan.body.responses.some((r) => r.coefficients.some((c) => c.aliased && !isReference(plan.body, c.term)))
      ? ['prediction from a rank-deficient fit: aliased coefficients are taken as 0']
      : [],
};
