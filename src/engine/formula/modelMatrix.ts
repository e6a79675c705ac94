import type { Table } from 'apache-arrow';
import type { VarInfo } from '../../storage/datasetMeta.ts';
import { andMasks, ChunkColumns, countSet } from '../columns.ts';
import { EngineError } from '../errors.ts';
import { readWeights, type WeightPlan } from '../params.ts';
import type { ParsedFormula } from './index.ts';
import {
  type FactorSource,
  type NumericSource,
  planSource,
  sourceInputs,
  sourceKey,
  TermColumns,
  type TermSource,
} from './termColumns.ts';

/**
 * The model matrix X (and responses y, weights) of a formula, RevoScaleR's way, built chunk by chunk.
 *
 * `planModelMatrix` runs once per job and gives a plain-JSON plan; `fillModelMatrix` runs per chunk.
 *
 * Columns, in formula order (terms as written, RevoScaleR's keep.order):
 * - `(Intercept)` first unless the formula says `+ 0` / `- 1` (or `cube`);
 * - a term of numeric factors only: one column, their product (`x`, `x:z`, `N(g)`, `log(x)`);
 * - a term with categorical factors (factor variables, F()): one column per cell of their levels
 *   crossed, the FIRST factor varying fastest (R's order), each holding the product of the term's
 *   numeric factors (1 without any) in rows of that cell and 0 elsewhere. So factor:factor gives one
 *   column per cell and numeric:factor one slope per level.
 *
 * Coding (`factorCoding: 'contrasts'`, the default), R's rule (TermCode in R's model.c): a categorical
 * factor f of term T is coded by contrasts when T without f is empty or is contained in an EARLIER term,
 * and by a full set of indicators otherwise; without an intercept the first categorical factor of the
 * first term that has one is coded fully. A contrast-coded factor loses its reference level: the LAST
 * level by default, the FIRST with `dropFirst` (RevoScaleR: "If FALSE, the last level is dropped in all
 * sets of factor levels"). RevoScaleR keeps the full dummy set in its output and prints the reference
 * columns as Dropped, so the plan lists every cell in `columns` with `dropped: true` on those, and X
 * holds only the `kept` ones. This reproduces RevoScaleR's documented outputs: `income ~ region*sex,
 * cube = TRUE` -> region=Rural, region=Urban, sex=Female, sex=Male Dropped, region=Rural, sex=Female,
 * other cells Dropped; with `dropFirst` it gives lm's columns for `region*sex` (what RevoScaleR gets
 * with dropFirst = TRUE, dropMain = FALSE). Not done here, because they depend on the data: aliasing
 * found while solving (an empty level, collinear columns), RevoScaleR's retry from the other end, and
 * `dropMain` (which columns to drop first when the model is singular): the solver marks those.
 * `factorCoding: 'full'` keeps every level of every factor (covCor's data matrix; or a solver that
 * finds all aliasing numerically).
 *
 * `cube`: the first term must be categorical only; the intercept is dropped and that term coded fully
 * (RevoScaleR's cube regression; its partitioned solve is the solver's business).
 *
 * Labels (`coefLabelStyle`): "Revo" (default) `(Intercept)`, `x`, `DayOfWeek=Monday`, `F_x=5`,
 * `region=Rural, sex=Female`, `age for sex=Male` (numeric factors first, then `for` and the cell), `x:z`;
 * "R": `(Intercept)`, `x`, `DayOfWeekMonday`, `regionRural:sexFemale`, `sexMale:age` (factors in the
 * order written, each with its level appended).
 *
 * Responses: none, one, or `cbind(y1, y2)`'s several; numeric-like (logical 0/1), or a 2-level factor
 * (first level 0, second 1, as R's glm). Rows with a missing value in ANY variable the formula uses (a
 * response, any term's factor, a value F() excludes) or a missing weight are dropped, as R's na.omit;
 * NaN counts as missing.
 *
 * Per chunk X is column-major over the usable rows only: column j of the n usable rows is
 * `x.subarray(j * n, (j + 1) * n)` (a row block for TSQR, LAPACK's layout). y likewise (n x q).
 */

export type CoefLabelStyle = 'Revo' | 'R';
export type FactorCoding = 'contrasts' | 'full';

export interface ModelMatrixOptions {
  /** @defaultValue 'contrasts' */
  factorCoding?: FactorCoding;
  /** Contrast-coded factors drop their first level instead of their last. @defaultValue false */
  dropFirst?: boolean;
  /** @defaultValue 'Revo' */
  coefLabelStyle?: CoefLabelStyle;
  /** RevoScaleR's cube regression: no intercept, first term categorical and coded fully. @defaultValue false */
  cube?: boolean;
  /** Overrides the formula's intercept (covCor: false). @defaultValue the formula's */
  intercept?: boolean;
  /** Weight variable, read and masked with the rows. @defaultValue null */
  weights?: WeightPlan | null;
  /** Refuse plans with more columns than this (dropped included). @defaultValue 10000 */
  maxColumns?: number;
}

export interface ModelColumn {
  /** In the plan's `coefLabelStyle`. */
  label: string;
  /** Index into `plan.terms`; -1 for the intercept. */
  term: number;
  /** Reference level of a contrast-coded factor: listed (RevoScaleR prints "Dropped"), not in X. */
  dropped: boolean;
  /** The cell: categorical factor label -> level ({} for numeric-only columns and the intercept). */
  levels: Record<string, string>;
}

export interface ModelTerm {
  label: string;
  /** The term's factors in the order written. */
  sources: TermSource[];
  /** Per source: true for a categorical factor coded by contrasts (numeric sources: false). */
  contrasts: boolean[];
  /** Index of the term's first column in `plan.columns`, and how many it has (dropped included). */
  firstColumn: number;
  columnCount: number;
}

export interface ModelResponse {
  label: string;
  source: TermSource;
  /** A factor response's two levels (coded 0 and 1); null for a numeric one. */
  levels: [string, string] | null;
}

export interface ModelMatrixPlan {
  formula: string;
  intercept: boolean;
  coefLabelStyle: CoefLabelStyle;
  factorCoding: FactorCoding;
  dropFirst: boolean;
  terms: ModelTerm[];
  /** Every column, dropped ones included (RevoScaleR's "Total independent variables"). */
  columns: ModelColumn[];
  /** Indexes into `columns` of the columns X holds, in order (p = kept.length). */
  kept: number[];
  responses: ModelResponse[];
  weights: WeightPlan | null;
}

export interface ModelMatrixChunk {
  /** Rows in the chunk. */
  numRows: number;
  /** Usable rows (no missing value in any used variable or the weight): the rows of X. */
  n: number;
  /** Per chunk row, 1 when used; null when every row is. */
  usable: Uint8Array | null;
  /** Columns of X (plan.kept.length). */
  p: number;
  /** n x p, column-major. */
  x: Float64Array;
  /** Responses (plan.responses.length). */
  q: number;
  /** n x q, column-major. */
  y: Float64Array;
  /** The n usable rows' weights; null when unweighted. */
  weights: Float64Array | null;
}

/** Default for `maxColumns`. */
export const MAX_MODEL_COLUMNS = 10_000;

interface Cell {
  /** Per categorical source of the term (in written order): the level index. */
  codes: number[];
}

function isFactor(source: TermSource): source is FactorSource {
  return source.role === 'factor';
}

/** R's TermCode: f in term t is coded by contrasts when t \ {f} is empty or within an earlier term. */
function contrastCoding(keys: string[][], t: number, f: number): boolean {
  const rest = (keys[t] as string[]).filter((_, i) => i !== f);
  if (rest.length === 0) return true;
  for (let s = 0; s < t; s++) {
    const earlier = new Set(keys[s]);
    if (rest.every((k) => earlier.has(k))) return true;
  }
  return false;
}

function columnLabel(
  style: CoefLabelStyle,
  sources: readonly TermSource[],
  cell: Cell,
): { label: string; levels: Record<string, string> } {
  const levels: Record<string, string> = {};
  const parts: string[] = [];
  const numericLabels: string[] = [];
  const cellParts: string[] = [];
  let f = 0;
  for (const source of sources) {
    if (isFactor(source)) {
      const level = source.levels[cell.codes[f] as number] as string;
      f++;
      levels[source.label] = level;
      parts.push(`${source.label}${level}`);
      cellParts.push(`${source.label}=${level}`);
    } else {
      parts.push(source.label);
      numericLabels.push(source.label);
    }
  }
  if (style === 'R') return { label: parts.join(':'), levels };
  const numeric = numericLabels.join(':');
  const spec = cellParts.join(', ');
  const label =
    cellParts.length === 0 ? numeric : numericLabels.length === 0 ? spec : `${numeric} for ${spec}`;
  return { label, levels };
}

function planResponse(source: TermSource): ModelResponse {
  if (!isFactor(source)) return { label: source.label, source, levels: null };
  if (source.levels.length !== 2) {
    throw new EngineError(
      'WRONG_VARIABLE_TYPE',
      `response '${source.label}' is a factor with ${source.levels.length} levels; a factor response needs exactly 2 (coded 0 and 1)`,
      422,
      { response: source.label, levels: source.levels.length },
    );
  }
  return { label: source.label, source, levels: [source.levels[0] as string, source.levels[1] as string] };
}

/** Plans X for `formula` over the dataset's variables; see the file comment. */
export function planModelMatrix(
  formula: ParsedFormula,
  variables: readonly VarInfo[],
  options: ModelMatrixOptions = {},
): ModelMatrixPlan {
  const coefLabelStyle = options.coefLabelStyle ?? 'Revo';
  const factorCoding = options.factorCoding ?? 'contrasts';
  const dropFirst = options.dropFirst ?? false;
  const cube = options.cube ?? false;
  const intercept = cube ? false : (options.intercept ?? formula.intercept);
  const maxColumns = options.maxColumns ?? MAX_MODEL_COLUMNS;

  const termSources = formula.terms.map((term) => term.factors.map((f) => planSource(f, variables)));
  if (cube) {
    const first = termSources[0];
    if (first === undefined || first.some((s) => !isFactor(s))) {
      throw new EngineError(
        'INVALID_FORMULA',
        `cube needs a first term of factors only (e.g. 'y ~ g + x' or 'y ~ g:h + x'), not '${formula.terms[0]?.label ?? 'nothing'}'`,
        400,
        { term: formula.terms[0]?.label ?? null },
      );
    }
  }

  // Which categorical factors are contrast-coded.
  const keys = termSources.map((sources) => sources.map(sourceKey));
  const contrasts = termSources.map((sources, t) =>
    sources.map((s, f) => factorCoding === 'contrasts' && isFactor(s) && contrastCoding(keys, t, f)),
  );
  if (!intercept && factorCoding === 'contrasts') {
    const t = termSources.findIndex((sources) => sources.some(isFactor));
    if (t >= 0) {
      const f = (termSources[t] as TermSource[]).findIndex(isFactor);
      (contrasts[t] as boolean[])[f] = false;
    }
  }

  const columns: ModelColumn[] = [];
  const terms: ModelTerm[] = [];
  if (intercept) columns.push({ label: '(Intercept)', term: -1, dropped: false, levels: {} });
  termSources.forEach((sources, t) => {
    const factorSources = sources.filter(isFactor);
    const coded = (contrasts[t] as boolean[]).filter((_, i) => isFactor(sources[i] as TermSource));
    const sizes = factorSources.map((s) => s.levels.length);
    const cells = sizes.reduce((a, b) => a * b, 1);
    if (columns.length + cells > maxColumns) {
      throw new EngineError(
        'TOO_MANY_COLUMNS',
        `term '${formula.terms[t]?.label}' brings the model matrix to ${columns.length + cells} columns; at most ${maxColumns} are supported`,
        422,
        { term: formula.terms[t]?.label, columns: columns.length + cells, limit: maxColumns },
      );
    }
    const firstColumn = columns.length;
    for (let cell = 0; cell < cells; cell++) {
      const codes: number[] = [];
      let rest = cell;
      let dropped = false;
      sizes.forEach((size, f) => {
        const code = rest % size;
        rest = Math.floor(rest / size);
        codes.push(code);
        if (coded[f] === true && code === (dropFirst ? 0 : size - 1)) dropped = true;
      });
      columns.push({ ...columnLabel(coefLabelStyle, sources, { codes }), term: t, dropped });
    }
    terms.push({
      label: formula.terms[t]?.label ?? '',
      sources,
      contrasts: contrasts[t] as boolean[],
      firstColumn,
      columnCount: cells,
    });
  });

  const responses = (formula.response ?? []).map((f) => planResponse(planSource(f, variables)));
  const kept: number[] = [];
  columns.forEach((c, j) => {
    if (!c.dropped) kept.push(j);
  });
  return {
    formula: formula.text,
    intercept,
    coefLabelStyle,
    factorCoding,
    dropFirst,
    terms,
    columns,
    kept,
    responses,
    weights: options.weights ?? null,
  };
}

/** Every source the plan reads, once each (responses first). */
function allSources(plan: ModelMatrixPlan): TermSource[] {
  const seen = new Set<string>();
  const out: TermSource[] = [];
  for (const source of [...plan.responses.map((r) => r.source), ...plan.terms.flatMap((t) => t.sources)]) {
    const key = sourceKey(source);
    if (seen.has(key)) continue;
    seen.add(key);
    out.push(source);
  }
  return out;
}

/** The dataset variables `fillModelMatrix` reads (for an analysis's `columnsUsed`). */
export function modelMatrixColumnsUsed(plan: ModelMatrixPlan): string[] {
  const names = new Set(allSources(plan).flatMap(sourceInputs));
  if (plan.weights !== null) names.add(plan.weights.variable);
  return [...names];
}

/** `values` at the usable rows into `out` (rows null: every row, a plain copy). */
function gather(out: Float64Array, values: ArrayLike<number>, rows: Int32Array | null): void {
  const n = out.length;
  if (rows === null) {
    if (values instanceof Float64Array) out.set(values.subarray(0, n));
    else for (let r = 0; r < n; r++) out[r] = values[r] as number;
    return;
  }
  for (let r = 0; r < n; r++) out[r] = values[rows[r] as number] as number;
}

/** Product of a term's numeric sources over the usable rows, into `out`. */
function numericProduct(
  out: Float64Array,
  sources: readonly NumericSource[],
  reader: TermColumns,
  rows: Int32Array | null,
): void {
  gather(out, reader.numeric(sources[0] as NumericSource).values, rows);
  const n = out.length;
  for (let s = 1; s < sources.length; s++) {
    const values = reader.numeric(sources[s] as NumericSource).values;
    if (rows === null) for (let r = 0; r < n; r++) out[r] = (out[r] as number) * (values[r] as number);
    else for (let r = 0; r < n; r++) out[r] = (out[r] as number) * (values[rows[r] as number] as number);
  }
}

/**
 * Fills X, y and the weights for one chunk (see the file comment for the layout). `out`, when long
 * enough, is used for X instead of a fresh array (a caller looping over chunks saves the allocation;
 * the returned `x` is then a view of it).
 */
export function fillModelMatrix(plan: ModelMatrixPlan, table: Table, out?: Float64Array): ModelMatrixChunk {
  const numRows = table.numRows;
  const reader = new TermColumns(new ChunkColumns(table));
  const weightColumn = plan.weights === null ? null : readWeights(table, plan.weights);
  const masks: Array<Uint8Array | null> = [weightColumn?.valid ?? null];
  for (const source of allSources(plan)) {
    masks.push(isFactor(source) ? reader.factor(source).valid : reader.usable(source));
  }
  const usable = andMasks(numRows, masks);
  const n = countSet(usable, numRows);
  // The usable rows' indexes; null when every row is usable (then row r is chunk row r).
  let rows: Int32Array | null = null;
  if (usable !== null) {
    rows = new Int32Array(n);
    for (let i = 0, r = 0; i < numRows; i++) if (usable[i] === 1) rows[r++] = i;
  }
  const rowAt = (r: number): number => (rows === null ? r : (rows[r] as number));

  const p = plan.kept.length;
  const x = out !== undefined && out.length >= n * p ? out.subarray(0, n * p) : new Float64Array(n * p);
  // Position in X of each plan column (-1: dropped).
  const position = new Int32Array(plan.columns.length).fill(-1);
  plan.kept.forEach((j, k) => {
    position[j] = k;
  });
  if (plan.intercept) x.fill(1, 0, n);

  for (const term of plan.terms) {
    const numeric = term.sources.filter((s): s is NumericSource => !isFactor(s));
    const factors = term.sources.filter(isFactor);
    if (factors.length === 0) {
      const at = position[term.firstColumn] as number;
      if (at >= 0) numericProduct(x.subarray(at * n, (at + 1) * n), numeric, reader, rows);
      continue;
    }
    let product: Float64Array | null = null;
    if (numeric.length > 0) {
      product = new Float64Array(n);
      numericProduct(product, numeric, reader, rows);
    }
    // Zero the term's columns, then one write per row into the column of its cell.
    for (let c = 0; c < term.columnCount; c++) {
      const at = position[term.firstColumn + c] as number;
      if (at >= 0) x.fill(0, at * n, (at + 1) * n);
    }
    const cells = new Int32Array(n);
    let stride = 1;
    for (const source of factors) {
      const { codes } = reader.factor(source);
      const size = source.levels.length;
      for (let r = 0; r < n; r++) {
        const code = codes[rowAt(r)] as number;
        // A code outside the levels would land in another cell's column: corrupt data, not user input.
        if (code < 0 || code >= size)
          throw new Error(`'${source.label}' has code ${code} outside its ${size} levels`);
        cells[r] = (cells[r] as number) + code * stride;
      }
      stride *= size;
    }
    for (let r = 0; r < n; r++) {
      const at = position[term.firstColumn + (cells[r] as number)] as number;
      if (at >= 0) x[at * n + r] = product === null ? 1 : (product[r] as number);
    }
  }

  const q = plan.responses.length;
  const y = new Float64Array(n * q);
  plan.responses.forEach((response, k) => {
    const source = response.source;
    const values = isFactor(source) ? reader.factor(source).codes : reader.numeric(source).values;
    gather(y.subarray(k * n, (k + 1) * n), values, rows);
  });

  let weights: Float64Array | null = null;
  if (weightColumn !== null) {
    weights = new Float64Array(n);
    gather(weights, weightColumn.values, rows);
  }
  return { numRows, n, usable, p, x, q, y, weights };
}
