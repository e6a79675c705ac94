import type { Table } from 'apache-arrow';
import type { TSchema } from 'typebox';
import { Value } from 'typebox/value';
import type { DatasetMeta, VarType } from '../storage/datasetMeta.ts';
import { readNumeric } from './columns.ts';
import { EngineError } from './errors.ts';
import { lookupVariable } from './formula/variables.ts';

/**
 * Checks params against an analysis's TypeBox schema. The API validates requests with the same schema
 * first; `init` checks again so a job started any other way (tests, the queue replaying a stored job)
 * fails with the same 400 instead of a crash.
 */
export function checkParams(schema: TSchema, params: unknown, analysis: string): void {
  if (Value.Check(schema, params)) return;
  const errors = [...Value.Errors(schema, params)]
    .filter((e) => e.keyword !== 'boolean') // the `additionalProperties: false` echo; the next entry says it better
    .map((e) => ({ path: e.instancePath === '' ? '/' : e.instancePath, message: e.message }));
  const first = errors[0];
  const summary = first === undefined ? 'invalid params' : `${first.path}: ${first.message}`;
  throw new EngineError('INVALID_PARAMS', `${analysis} params: ${summary}`, 400, { errors });
}

/** Which weighting, if any: RevoScaleR's `pweights` (probability) or `fweights` (frequency). */
export interface WeightPlan {
  kind: 'pweights' | 'fweights';
  variable: string;
}

const WEIGHT_TYPES: readonly VarType[] = ['numeric', 'integer', 'logical'];

/** Resolves `pweights` / `fweights` (at most one) against the dataset. */
export function planWeights(
  params: { pweights?: string | undefined; fweights?: string | undefined },
  meta: DatasetMeta,
): WeightPlan | null {
  if (params.pweights !== undefined && params.fweights !== undefined) {
    throw new EngineError('INVALID_PARAMS', 'give pweights or fweights, not both', 400, {
      pweights: params.pweights,
      fweights: params.fweights,
    });
  }
  const kind = params.pweights !== undefined ? 'pweights' : params.fweights !== undefined ? 'fweights' : null;
  if (kind === null) return null;
  const variable = (kind === 'pweights' ? params.pweights : params.fweights) as string;
  const info = lookupVariable(meta, variable);
  if (!WEIGHT_TYPES.includes(info.type)) {
    throw new EngineError(
      'WRONG_VARIABLE_TYPE',
      `${kind} variable '${variable}' is ${info.type}; weights must be numeric`,
      422,
      {
        variable,
      },
    );
  }
  return { kind, variable };
}

export interface WeightColumn {
  values: Float64Array;
  /** 1 = the weight is known (null: all known). A NaN weight counts as missing. */
  valid: Uint8Array | null;
}

/**
 * Reads a weight column. Negative or infinite weights stop the analysis (422): no statistic is defined
 * for them, and silently dropping rows would hide a data error.
 */
export function readWeights(table: Table, plan: WeightPlan): WeightColumn {
  const { values, valid } = readNumeric(table, plan.variable);
  const n = table.numRows;
  let mask = valid;
  for (let i = 0; i < n; i++) {
    const w = values[i] as number;
    if (w >= 0 && w < Number.POSITIVE_INFINITY) continue;
    if (mask !== null && mask[i] === 0) continue;
    if (Number.isNaN(w)) {
      if (mask === null) mask = new Uint8Array(n).fill(1);
      mask[i] = 0;
      continue;
    }
    throw new EngineError(
      'INVALID_WEIGHTS',
      `${plan.kind} variable '${plan.variable}' has a ${w < 0 ? 'negative' : 'infinite'} weight (${w})`,
      422,
      {
        variable: plan.variable,
        value: String(w),
      },
    );
  }
  return { values, valid: mask };
}

/** A result number: finite numbers as they are, anything else null (with the caller's warning). */
export function finiteOrNull(x: number): number | null {
  return Number.isFinite(x) ? x : null;
}

/**
 * Collects warnings without repeating one: a null caused by the same reason in 500 cells is said once
 * with the count.
 */
export class Warnings {
  private readonly counts = new Map<string, number>();

  add(message: string): void {
    this.counts.set(message, (this.counts.get(message) ?? 0) + 1);
  }

  list(): string[] {
    return [...this.counts.entries()].map(([message, n]) => (n === 1 ? message : `${message} (${n} times)`));
  }
}
