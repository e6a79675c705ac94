import { type Static, type TSchema, Type } from 'typebox';
import type { DatasetMeta } from '../../storage/datasetMeta.ts';
import type { Analysis, Chunk } from '../analysis.ts';
import { accumulateCells, type CellPartial, mergeCells } from '../cube/cells.ts';
import { type CubePlan, decodeKey, planColumnsUsed, planCube } from '../cube/plan.ts';
import { EngineError } from '../errors.ts';
import type { FactorSource } from '../formula/index.ts';
import { checkParams, finiteOrNull, Warnings } from '../params.ts';
import {
  chiSquaredTest,
  fisherTest,
  kendallTauB,
  oddsRatio,
  type RatioEstimate,
  riskRatio,
} from '../stats/contingency.ts';

/**
 * rxCrossTabs: the same crossing as rxCube (cube/cells.ts), as contingency tables. The first factor
 * gives the rows, the second the columns, and every combination of the third and later factors one
 * table (`layer`), in level order with the third factor varying fastest. Each table holds the counts
 * and, with a response (`y ~ a:b`), the sums and (`means: true`) the means of the response.
 *
 * Per table: Pearson's chi-squared test of independence of rows and columns, as RevoScaleR's summary
 * prints it (R's summary.table: no continuity correction; see stats/contingency.ts), and on request
 * Fisher's exact test, the odds ratio and risk ratio (2 x 2 tables) and Kendall's tau-b, on the counts.
 * `marginals: true` adds row, column and grand totals (and, for means, the means of the response over
 * each row, column and the whole table: [inferred] sum / count, not the mean of the cell means).
 *
 * `removeZeroCounts` drops, per table, the rows and columns in which no row of data fell (and tables
 * with none at all); without it every level is shown. Missing values and weights as in cube.ts.
 */

const Ratio = Type.Object({
  estimate: Type.Union([Type.Number(), Type.Null()]),
  confInt: Type.Array(Type.Union([Type.Number(), Type.Null()])),
  confLevel: Type.Number(),
  statistic: Type.Union([Type.Number(), Type.Null()]),
  pValue: Type.Union([Type.Number(), Type.Null()]),
});

const NullableNumber = Type.Union([Type.Number(), Type.Null()]);
const Totals = <T extends TSchema>(item: T) =>
  Type.Object({ rowTotals: Type.Array(item), columnTotals: Type.Array(item), grandTotal: item });

export const CrossTabsParamsSchema = Type.Object(
  {
    formula: Type.String({
      minLength: 1,
      description:
        "`~ a:b` or `y ~ a:b:c`: rows, columns, then one table per combination of further factors; factors or `F(x)` crossed with ':' (never '+').",
    }),
    pweights: Type.Optional(Type.String({ minLength: 1, description: 'Probability-weight variable.' })),
    fweights: Type.Optional(Type.String({ minLength: 1, description: 'Frequency-weight variable.' })),
    means: Type.Optional(
      Type.Boolean({ default: false, description: 'Also return the tables of means of the response.' }),
    ),
    marginals: Type.Optional(
      Type.Boolean({
        default: false,
        description: 'Add row, column and grand totals (means) to each table.',
      }),
    ),
    removeZeroCounts: Type.Optional(
      Type.Boolean({
        description:
          'Drop the rows and columns of each table without observations. Default: useSparseCube (false). Required when the tables would hold more than 1,000,000 cells.',
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
    fisherTest: Type.Optional(
      Type.Boolean({
        default: false,
        description: "Fisher's exact test of each 2 x 2 table (rxFisherTest).",
      }),
    ),
    oddsRatio: Type.Optional(
      Type.Boolean({
        default: false,
        description: 'Odds ratio of each 2 x 2 table with its interval (rxOddsRatio).',
      }),
    ),
    riskRatio: Type.Optional(
      Type.Boolean({
        default: false,
        description: 'Risk ratio of each 2 x 2 table (rows = groups, first column = event) (rxRiskRatio).',
      }),
    ),
    kendallTau: Type.Optional(
      Type.Boolean({
        default: false,
        description: "Kendall's tau-b between the row and column level orders (rxKendallCor, type b).",
      }),
    ),
    confLevel: Type.Optional(
      Type.Number({
        exclusiveMinimum: 0,
        exclusiveMaximum: 1,
        default: 0.95,
        description: 'Confidence level of the intervals (conf.level).',
      }),
    ),
  },
  { additionalProperties: false },
);
export type CrossTabsParams = Static<typeof CrossTabsParamsSchema>;

const Factor = Type.Object({ name: Type.String(), levels: Type.Array(Type.String()) });

export const CrossTabsResultSchema = Type.Object({
  formula: Type.String(),
  response: Type.Union([Type.String(), Type.Null()]),
  rowFactor: Factor,
  /** Null for a one-factor formula (`~ a`): the tables then have one column. */
  columnFactor: Type.Union([Factor, Type.Null()]),
  layerFactors: Type.Array(Factor),
  nValidObs: Type.Number(),
  nMissingObs: Type.Number(),
  tables: Type.Array(
    Type.Object({
      /** RevoScaleR's table name: `Freq, Dept = A` (response, then the layer's levels). */
      name: Type.String(),
      layer: Type.Record(Type.String(), Type.String()),
      rowLevels: Type.Array(Type.String()),
      columnLevels: Type.Array(Type.String()),
      /** rows x columns, in rowLevels x columnLevels order. */
      counts: Type.Array(Type.Array(Type.Number())),
      sums: Type.Optional(Type.Array(Type.Array(NullableNumber))),
      means: Type.Optional(Type.Array(Type.Array(NullableNumber))),
      marginals: Type.Optional(
        Type.Object({
          counts: Totals(Type.Number()),
          sums: Type.Optional(Totals(NullableNumber)),
          means: Type.Optional(
            Type.Object({
              rowMeans: Type.Array(NullableNumber),
              columnMeans: Type.Array(NullableNumber),
              grandMean: NullableNumber,
            }),
          ),
        }),
      ),
      /** Pearson's test of independence (no continuity correction); null for fewer than 2 x 2 non-empty. */
      chiSquaredTest: Type.Union([
        Type.Object({ statistic: Type.Number(), df: Type.Number(), pValue: Type.Number() }),
        Type.Null(),
      ]),
      fisherTest: Type.Optional(
        Type.Union([
          Type.Object({
            pValue: Type.Number(),
            /** Conditional maximum likelihood estimate, as R's fisher.test. */
            oddsRatio: NullableNumber,
            confInt: Type.Array(NullableNumber),
            confLevel: Type.Number(),
          }),
          Type.Null(),
        ]),
      ),
      oddsRatio: Type.Optional(Type.Union([Ratio, Type.Null()])),
      riskRatio: Type.Optional(Type.Union([Ratio, Type.Null()])),
      kendallTau: Type.Optional(
        Type.Union([
          Type.Object({ estimate: NullableNumber, statistic: NullableNumber, pValue: NullableNumber }),
          Type.Null(),
        ]),
      ),
    }),
  ),
  warnings: Type.Array(Type.String()),
});
export type CrossTabsResult = Static<typeof CrossTabsResultSchema>;
type CrossTable = CrossTabsResult['tables'][number];

/** Most cells all the tables of a result may hold together. */
export const MAX_TABLE_CELLS = 1_000_000;
/** Fisher's exact test sums over the possible top-left counts; past this many it is skipped. */
const MAX_FISHER_SUPPORT = 200_000;

export interface CrossTabsState {
  plan: CubePlan;
  means: boolean;
  marginals: boolean;
  removeZeroCounts: boolean;
  fisherTest: boolean;
  oddsRatio: boolean;
  riskRatio: boolean;
  kendallTau: boolean;
  confLevel: number;
}

function init(params: CrossTabsParams, meta: DatasetMeta): CrossTabsState {
  checkParams(CrossTabsParamsSchema, params, 'crossTabs');
  const plan = planCube(params, meta, 'crossTabs');
  const removeZeroCounts = params.removeZeroCounts ?? params.useSparseCube ?? false;
  if (!removeZeroCounts && plan.totalCells > MAX_TABLE_CELLS) {
    throw new EngineError(
      'TOO_MANY_CELLS',
      `crossTabs: '${plan.formula}' makes tables of ${plan.totalCells} cells in all; at most ${MAX_TABLE_CELLS} are returned: set removeZeroCounts: true to drop empty rows and columns, or use a cube job with removeZeroCounts`,
      422,
      { cells: plan.totalCells, limit: MAX_TABLE_CELLS },
    );
  }
  return {
    plan,
    means: params.means ?? false,
    marginals: params.marginals ?? false,
    removeZeroCounts,
    fisherTest: params.fisherTest ?? false,
    oddsRatio: params.oddsRatio ?? false,
    riskRatio: params.riskRatio ?? false,
    kendallTau: params.kendallTau ?? false,
    confLevel: params.confLevel ?? 0.95,
  };
}

// ---------------------------------------------------------------------------------------------------
// finalize

/** One layer's present cells, by row and column code. */
interface LayerCells {
  layerCodes: number[];
  rows: Int32Array;
  columns: Int32Array;
  counts: Float64Array;
  sums: Float64Array | null;
}

/** Splits the present cells (sorted by key: the layer factors are the most significant) into layers. */
function* layersOf(partial: CellPartial, plan: CubePlan): Generator<LayerCells> {
  const nf = plan.factors.length;
  const codes = new Int32Array(nf);
  const present = partial.counts.length;
  let start = 0;
  let current: number[] | null = null;
  const rowCodes = new Int32Array(present);
  const columnCodes = new Int32Array(present);
  const layerAt: number[][] = [];
  for (let k = 0; k < present; k++) {
    decodeKey(plan, partial.keys, k * partial.keyWidth, codes);
    rowCodes[k] = codes[0] as number;
    columnCodes[k] = nf > 1 ? (codes[1] as number) : 0;
    layerAt.push(Array.from(codes.subarray(2)));
  }
  const emit = (from: number, to: number, layerCodes: number[]): LayerCells => ({
    layerCodes,
    rows: rowCodes.subarray(from, to),
    columns: columnCodes.subarray(from, to),
    counts: partial.counts.subarray(from, to),
    sums: partial.sums === null ? null : partial.sums.subarray(from, to),
  });
  for (let k = 0; k < present; k++) {
    const layer = layerAt[k] as number[];
    if (current !== null && layer.every((c, i) => c === current?.[i])) continue;
    if (current !== null) yield emit(start, k, current);
    current = layer;
    start = k;
  }
  if (current !== null) yield emit(start, present, current);
}

/** Every combination of the layer factors' codes, the first varying fastest. */
function* allLayers(layerFactors: readonly FactorSource[]): Generator<number[]> {
  const codes = layerFactors.map(() => 0);
  for (;;) {
    yield [...codes];
    let f = 0;
    while (f < codes.length) {
      codes[f] = (codes[f] as number) + 1;
      if ((codes[f] as number) < (layerFactors[f] as FactorSource).levels.length) break;
      codes[f] = 0;
      f++;
    }
    if (f === codes.length) return;
  }
}

function matrix<T>(rows: number, columns: number, at: (i: number, j: number) => T): T[][] {
  return Array.from({ length: rows }, (_, i) => Array.from({ length: columns }, (_, j) => at(i, j)));
}

function ratioOut(r: RatioEstimate): CrossTable['oddsRatio'] {
  return {
    estimate: finiteOrNull(r.estimate),
    confInt: r.confInt.map(finiteOrNull),
    confLevel: r.confLevel,
    statistic: finiteOrNull(r.statistic),
    pValue: finiteOrNull(r.pValue),
  };
}

function buildTable(
  cells: LayerCells,
  state: CrossTabsState,
  warnings: Warnings,
): { table: CrossTable; cellCount: number } {
  const { plan } = state;
  const rowFactor = plan.factors[0] as FactorSource;
  const columnFactor = plan.factors[1] ?? null;
  const layerFactors = plan.factors.slice(2);
  const responseName = plan.response?.label ?? null;
  const layer = Object.fromEntries(
    layerFactors.map((f, i) => [f.label, f.levels[cells.layerCodes[i] as number] as string]),
  );
  const nameParts = [
    ...(responseName === null ? [] : [responseName]),
    ...layerFactors.map((f) => `${f.label} = ${layer[f.label]}`),
  ];
  const name = nameParts.length > 0 ? nameParts.join(', ') : plan.factors.map((f) => f.label).join(':');

  // Rows and columns shown: every level, or those with an observation in this table.
  const pick = (levels: readonly string[], used: Int32Array): number[] => {
    if (!state.removeZeroCounts) return levels.map((_, i) => i);
    const seen = new Uint8Array(levels.length);
    for (const c of used) seen[c] = 1;
    return levels.map((_, i) => i).filter((i) => seen[i] === 1);
  };
  const shownRows = pick(rowFactor.levels, cells.rows);
  const shownColumns = columnFactor === null ? [0] : pick(columnFactor.levels, cells.columns);
  const rowAt = new Int32Array(rowFactor.levels.length).fill(-1);
  shownRows.forEach((code, i) => {
    rowAt[code] = i;
  });
  const columnAt = new Int32Array(columnFactor?.levels.length ?? 1).fill(-1);
  shownColumns.forEach((code, j) => {
    columnAt[code] = j;
  });
  const nr = shownRows.length;
  const nc = shownColumns.length;
  const counts = new Float64Array(nr * nc);
  const sums = cells.sums === null ? null : new Float64Array(nr * nc);
  for (let k = 0; k < cells.counts.length; k++) {
    const at =
      (rowAt[cells.rows[k] as number] as number) * nc + (columnAt[cells.columns[k] as number] as number);
    counts[at] = cells.counts[k] as number;
    if (sums !== null) sums[at] = (cells.sums as Float64Array)[k] as number;
  }

  const table: CrossTable = {
    name,
    layer,
    rowLevels: shownRows.map((c) => rowFactor.levels[c] as string),
    columnLevels: columnFactor === null ? [] : shownColumns.map((c) => columnFactor.levels[c] as string),
    counts: matrix(nr, nc, (i, j) => counts[i * nc + j] as number),
    chiSquaredTest: null,
  };
  const nonFinite = (what: string) => `${what} of '${responseName}' in a cell of '${name}' is not finite`;
  if (sums !== null) {
    table.sums = matrix(nr, nc, (i, j) => {
      const v = finiteOrNull(sums[i * nc + j] as number);
      if (v === null) warnings.add(nonFinite('the sum'));
      return v;
    });
    if (state.means) {
      let empty = 0;
      table.means = matrix(nr, nc, (i, j) => {
        const count = counts[i * nc + j] as number;
        if (count === 0) {
          empty++;
          return null;
        }
        const v = finiteOrNull((sums[i * nc + j] as number) / count);
        if (v === null) warnings.add(nonFinite('the mean'));
        return v;
      });
      if (empty > 0) {
        warnings.add(
          `'${name}': ${empty} cells have no observations (or only weights of 0); their means are null`,
        );
      }
    }
  }
  if (state.marginals) {
    const totals = (values: Float64Array) => {
      const rowTotals = new Float64Array(nr);
      const columnTotals = new Float64Array(nc);
      let grandTotal = 0;
      for (let i = 0; i < nr; i++) {
        for (let j = 0; j < nc; j++) {
          const v = values[i * nc + j] as number;
          rowTotals[i] = (rowTotals[i] as number) + v;
          columnTotals[j] = (columnTotals[j] as number) + v;
        }
        grandTotal += rowTotals[i] as number;
      }
      return { rowTotals, columnTotals, grandTotal };
    };
    const countTotals = totals(counts);
    const marginals: NonNullable<CrossTable['marginals']> = {
      counts: {
        rowTotals: Array.from(countTotals.rowTotals),
        columnTotals: Array.from(countTotals.columnTotals),
        grandTotal: countTotals.grandTotal,
      },
    };
    if (sums !== null) {
      const sumTotals = totals(sums);
      marginals.sums = {
        rowTotals: Array.from(sumTotals.rowTotals, finiteOrNull),
        columnTotals: Array.from(sumTotals.columnTotals, finiteOrNull),
        grandTotal: finiteOrNull(sumTotals.grandTotal),
      };
      if (state.means) {
        const ratio = (s: number, n: number) => (n === 0 ? null : finiteOrNull(s / n));
        marginals.means = {
          rowMeans: Array.from(sumTotals.rowTotals, (s, i) => ratio(s, countTotals.rowTotals[i] as number)),
          columnMeans: Array.from(sumTotals.columnTotals, (s, j) =>
            ratio(s, countTotals.columnTotals[j] as number),
          ),
          grandMean: ratio(sumTotals.grandTotal, countTotals.grandTotal),
        };
      }
    }
    table.marginals = marginals;
  }

  // Tests, on the counts of two-way tables.
  const twoWay = columnFactor !== null;
  if (twoWay) {
    const chi = chiSquaredTest(counts, nr, nc);
    if (chi === null) {
      warnings.add(`'${name}': fewer than 2 rows or columns have observations; no chi-squared test`);
    } else {
      table.chiSquaredTest = { statistic: chi.statistic, df: chi.df, pValue: chi.pValue };
      if (chi.emptyRows + chi.emptyColumns > 0) {
        warnings.add(
          `'${name}': ${chi.emptyRows} rows and ${chi.emptyColumns} columns without observations are left out of the chi-squared test`,
        );
      }
      if (chi.smallExpected) {
        warnings.add(
          `'${name}': some expected counts are below 5; the chi-squared approximation may be incorrect`,
        );
      }
    }
  }
  const integral = counts.every((c) => Number.isInteger(c));
  const is2x2 = twoWay && nr === 2 && nc === 2;
  const shape = `${nr} x ${twoWay ? nc : 1}`;
  const [a, b, c, d] = [counts[0] ?? 0, counts[1] ?? 0, counts[2] ?? 0, counts[3] ?? 0];
  if (state.fisherTest) {
    if (!is2x2) {
      warnings.add(`'${name}' is ${shape}: Fisher's exact test is computed for 2 x 2 tables only`);
      table.fisherTest = null;
    } else if (!integral) {
      warnings.add(`'${name}': Fisher's exact test needs whole counts; weighted counts are not`);
      table.fisherTest = null;
    } else if (Math.min(a + c, b + d, a + b, c + d) > MAX_FISHER_SUPPORT) {
      warnings.add(
        `'${name}': Fisher's exact test is skipped for margins above ${MAX_FISHER_SUPPORT}; the chi-squared test is accurate there`,
      );
      table.fisherTest = null;
    } else {
      const f = fisherTest(a, b, c, d, state.confLevel);
      table.fisherTest = {
        pValue: f.pValue,
        oddsRatio: finiteOrNull(f.oddsRatio),
        confInt: f.confInt.map(finiteOrNull),
        confLevel: f.confLevel,
      };
    }
  }
  const ratio = (
    wanted: boolean,
    label: string,
    compute: typeof oddsRatio,
  ): CrossTable['oddsRatio'] | undefined => {
    if (!wanted) return undefined;
    if (!is2x2) {
      warnings.add(`'${name}' is ${shape}: the ${label} is computed for 2 x 2 tables only`);
      return null;
    }
    const out = ratioOut(compute(a, b, c, d, state.confLevel));
    if (out?.estimate === null || out?.confInt.includes(null)) {
      warnings.add(`'${name}': a cell count of 0 leaves the ${label} or its interval undefined (null)`);
    }
    return out;
  };
  const odds = ratio(state.oddsRatio, 'odds ratio', oddsRatio);
  if (odds !== undefined) table.oddsRatio = odds;
  const risk = ratio(state.riskRatio, 'risk ratio', riskRatio);
  if (risk !== undefined) table.riskRatio = risk;
  if (state.kendallTau) {
    if (!twoWay || nr < 2 || nc < 2) {
      warnings.add(`'${name}' is ${shape}: Kendall's tau-b needs at least 2 rows and 2 columns`);
      table.kendallTau = null;
    } else {
      const k = kendallTauB(counts, nr, nc);
      table.kendallTau = {
        estimate: finiteOrNull(k.estimate),
        statistic: finiteOrNull(k.statistic),
        pValue: finiteOrNull(k.pValue),
      };
      if (table.kendallTau.estimate === null) {
        warnings.add(
          `'${name}': all observations share a row or a column; Kendall's tau-b is undefined (null)`,
        );
      }
    }
  }
  if (!integral && (state.oddsRatio || state.riskRatio || state.kendallTau)) {
    warnings.add(
      'the counts are weighted (not whole numbers): intervals and p-values treat them as frequencies',
    );
  }
  return { table, cellCount: nr * nc };
}

function finalize(partial: CellPartial, state: CrossTabsState): { done: true; result: CrossTabsResult } {
  const { plan } = state;
  const warnings = new Warnings();
  const layerFactors = plan.factors.slice(2);
  const tables: CrossTable[] = [];
  let cells = 0;
  const add = (layer: LayerCells) => {
    const built = buildTable(layer, state, warnings);
    cells += built.cellCount;
    if (cells > MAX_TABLE_CELLS) {
      throw new EngineError(
        'TOO_MANY_CELLS',
        `crossTabs: the tables hold more than ${MAX_TABLE_CELLS} cells even without empty rows and columns; use a cube job with removeZeroCounts: true`,
        422,
        { limit: MAX_TABLE_CELLS },
      );
    }
    tables.push(built.table);
  };
  if (state.removeZeroCounts) {
    for (const layer of layersOf(partial, plan)) add(layer);
  } else {
    // Every layer, the empty ones too.
    const present = new Map<string, LayerCells>();
    for (const layer of layersOf(partial, plan)) present.set(layer.layerCodes.join(','), layer);
    const none = new Int32Array(0);
    for (const codes of allLayers(layerFactors)) {
      add(
        present.get(codes.join(',')) ?? {
          layerCodes: codes,
          rows: none,
          columns: none,
          counts: new Float64Array(0),
          sums: plan.response === null ? null : new Float64Array(0),
        },
      );
    }
  }
  const factor = (f: FactorSource) => ({ name: f.label, levels: [...f.levels] });
  return {
    done: true,
    result: {
      formula: plan.formula,
      response: plan.response?.label ?? null,
      rowFactor: factor(plan.factors[0] as FactorSource),
      columnFactor: plan.factors[1] === undefined ? null : factor(plan.factors[1]),
      layerFactors: layerFactors.map(factor),
      nValidObs: partial.usedRows,
      nMissingObs: partial.rows - partial.usedRows,
      tables,
      warnings: warnings.list(),
    },
  };
}

export const crossTabs = {
  name: 'crossTabs',
  paramsSchema: CrossTabsParamsSchema,
  resultSchema: CrossTabsResultSchema,
  init,
  columnsUsed: (state: CrossTabsState) => planColumnsUsed(state.plan),
  map: (chunk: Chunk, state: CrossTabsState) => accumulateCells(chunk, state.plan, 'crossTabs'),
  merge: (a: CellPartial, b: CellPartial) => mergeCells(a, b, 'crossTabs'),
  finalize,
} satisfies Analysis<CrossTabsParams, CrossTabsState, CellPartial, CrossTabsResult>;
