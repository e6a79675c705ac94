import { type Static, Type } from 'typebox';
import type { DatasetMeta } from '../../storage/datasetMeta.ts';
import type { Analysis, Chunk } from '../analysis.ts';
import { accumulateCells, type CellPartial, mergeCells } from '../cube/cells.ts';
import { type CubePlan, decodeKey, planColumnsUsed, planCube } from '../cube/plan.ts';
import { EngineError } from '../errors.ts';
import { checkParams, finiteOrNull, Warnings } from '../params.ts';

/**
 * rxCube: the crossing of `~ a:b:c` (factors or F() terms) in long format, one row per cell with the
 * factors' levels, `Counts` and, with a response (`y ~ a:b`), the response's mean (`means: true`, the
 * default as in RevoScaleR) or sum in a column named like the response.
 *
 * Rows come in RevoScaleR's order, the FIRST factor varying fastest. Every combination of levels is a
 * row unless `removeZeroCounts` (whose default is `useSparseCube`, false, as in RevoScaleR), which keeps
 * only cells some row fell into (a row of weight 0 counts: RevoScaleR documents that frequency-0
 * observations stay). Accumulation is always sparse (cube/cells.ts), whatever `useSparseCube` says.
 *
 * Rows with a missing value in any factor (or outside an F() range), the response or the weight are
 * left out (`nMissingObs`). Weights (`pweights` / `fweights`): `Counts` is the sum of the weights and
 * the mean is sum(w y) / sum(w), for both kinds (fweights give exactly the replicated rows' cube).
 * The mean of an empty cell (or of weight 0) is null, with a warning.
 */

export const CubeParamsSchema = Type.Object(
  {
    formula: Type.String({
      minLength: 1,
      description:
        "`~ a:b:c` or `y ~ a:b:c`: factors (or `F(x)` for one level per integer) crossed with ':' (never '+'); an optional numeric response.",
    }),
    pweights: Type.Optional(Type.String({ minLength: 1, description: 'Probability-weight variable.' })),
    fweights: Type.Optional(Type.String({ minLength: 1, description: 'Frequency-weight variable.' })),
    means: Type.Optional(
      Type.Boolean({
        default: true,
        description: "true: the response column holds each cell's mean; false: its sum.",
      }),
    ),
    removeZeroCounts: Type.Optional(
      Type.Boolean({
        description:
          'true: only cells with observations are returned. Default: useSparseCube (false). Required when the crossing has more than 1,000,000 cells.',
      }),
    ),
    useSparseCube: Type.Optional(
      Type.Boolean({
        default: false,
        description:
          "RevoScaleR's option; here it only sets removeZeroCounts' default (accumulation is always sparse).",
      }),
    ),
    cube: Type.Optional(Type.Boolean({ description: 'Accepted for RevoScaleR compatibility; no effect.' })),
  },
  { additionalProperties: false },
);
export type CubeParams = Static<typeof CubeParamsSchema>;

const CubeCell = Type.Union([Type.String(), Type.Number(), Type.Null()]);

export const CubeResultSchema = Type.Object({
  formula: Type.String(),
  /** Column names in order: the factors' labels, the response's (if any), `Counts`. */
  columns: Type.Array(Type.String()),
  factors: Type.Array(Type.Object({ name: Type.String(), levels: Type.Array(Type.String()) })),
  response: Type.Union([Type.String(), Type.Null()]),
  means: Type.Boolean(),
  /** One object per cell, keyed by `columns`: factor levels (strings), the response's mean or sum, Counts. */
  rows: Type.Array(Type.Record(Type.String(), CubeCell)),
  /** Rows that fell into a cell, and rows left out for a missing value. */
  nValidObs: Type.Number(),
  nMissingObs: Type.Number(),
  warnings: Type.Array(Type.String()),
});
export type CubeResult = Static<typeof CubeResultSchema>;

/** Most rows a cube returns with every combination of levels (removeZeroCounts lifts it). */
export const MAX_CUBE_ROWS = 1_000_000;
/** The name of the count column, as RevoScaleR's. */
const COUNTS = 'Counts';

export interface CubeState {
  plan: CubePlan;
  means: boolean;
  removeZeroCounts: boolean;
}

/** Refuses result columns that would share a name (a factor or response called `Counts`). */
export function checkColumnNames(plan: CubePlan, analysis: string, reserved: readonly string[]): void {
  const names = [
    ...plan.factors.map((f) => f.label),
    ...(plan.response === null ? [] : [plan.response.label]),
  ];
  for (const name of names) {
    if (reserved.includes(name)) {
      throw new EngineError(
        'INVALID_FORMULA',
        `${analysis}: '${name}' is the name of a result column; rename the variable (transforms: { "new": "${name}" })`,
        400,
        { variable: name, formula: plan.formula },
      );
    }
  }
}

function init(params: CubeParams, meta: DatasetMeta): CubeState {
  checkParams(CubeParamsSchema, params, 'cube');
  const plan = planCube(params, meta, 'cube');
  checkColumnNames(plan, 'cube', [COUNTS]);
  const removeZeroCounts = params.removeZeroCounts ?? params.useSparseCube ?? false;
  if (!removeZeroCounts && plan.totalCells > MAX_CUBE_ROWS) {
    throw new EngineError(
      'TOO_MANY_CELLS',
      `cube: '${plan.formula}' crosses ${plan.totalCells} cells; at most ${MAX_CUBE_ROWS} are returned with every combination of levels: set removeZeroCounts: true to return only the cells with observations`,
      422,
      { cells: plan.totalCells, limit: MAX_CUBE_ROWS },
    );
  }
  return { plan, means: params.means ?? true, removeZeroCounts };
}

function finalize(partial: CellPartial, state: CubeState): { done: true; result: CubeResult } {
  const { plan, means, removeZeroCounts } = state;
  const warnings = new Warnings();
  const factorNames = plan.factors.map((f) => f.label);
  const responseName = plan.response?.label ?? null;
  const columns = [...factorNames, ...(responseName === null ? [] : [responseName]), COUNTS];
  const codes = new Int32Array(plan.factors.length);
  let undefinedMeans = 0;
  const row = (count: number, sum: number | null) => {
    const entries: Array<[string, string | number | null]> = factorNames.map((name, f) => [
      name,
      plan.factors[f]?.levels[codes[f] as number] as string,
    ]);
    if (responseName !== null) {
      const value = means ? (sum as number) / count : (sum as number);
      if (means && count === 0) undefinedMeans++;
      else if (!Number.isFinite(value))
        warnings.add(
          `the ${means ? 'mean' : 'sum'} of '${responseName}' in a cell is not finite (the data hold infinite or huge values)`,
        );
      entries.push([responseName, finiteOrNull(value)]);
    }
    entries.push([COUNTS, count]);
    // fromEntries defines own properties, so a factor named __proto__ is a column like any other.
    return Object.fromEntries(entries);
  };
  const rows: CubeResult['rows'] = [];
  const present = partial.counts.length;
  if (removeZeroCounts) {
    for (let k = 0; k < present; k++) {
      decodeKey(plan, partial.keys, k * partial.keyWidth, codes);
      rows.push(row(partial.counts[k] as number, partial.sums === null ? null : (partial.sums[k] as number)));
    }
  } else {
    // Every combination: the crossing fits one key group (at most MAX_CUBE_ROWS cells), so cell c has key c.
    let k = 0;
    const one = new Float64Array(1);
    for (let c = 0; c < plan.totalCells; c++) {
      one[0] = c;
      decodeKey(plan, one, 0, codes);
      if (k < present && partial.keys[k] === c) {
        rows.push(
          row(partial.counts[k] as number, partial.sums === null ? null : (partial.sums[k] as number)),
        );
        k++;
      } else rows.push(row(0, responseName === null ? null : 0));
    }
  }
  if (undefinedMeans > 0) {
    warnings.add(
      `${undefinedMeans} of ${rows.length} cells have no observations (or only weights of 0); the mean of '${responseName}' there is null`,
    );
  }
  return {
    done: true,
    result: {
      formula: plan.formula,
      columns,
      factors: plan.factors.map((f) => ({ name: f.label, levels: [...f.levels] })),
      response: responseName,
      means,
      rows,
      nValidObs: partial.usedRows,
      nMissingObs: partial.rows - partial.usedRows,
      warnings: warnings.list(),
    },
  };
}

export const cube = {
  name: 'cube',
  paramsSchema: CubeParamsSchema,
  resultSchema: CubeResultSchema,
  init,
  columnsUsed: (state: CubeState) => planColumnsUsed(state.plan),
  map: (chunk: Chunk, state: CubeState) => accumulateCells(chunk, state.plan, 'cube'),
  merge: (a: CellPartial, b: CellPartial) => mergeCells(a, b, 'cube'),
  finalize,
} satisfies Analysis<CubeParams, CubeState, CellPartial, CubeResult>;
