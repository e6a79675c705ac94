import type { VarInfo } from '../../storage/datasetMeta.ts';
import { type ChunkColumns, type FactorColumn, type NumericColumn, usableMask } from '../columns.ts';
import { EngineError } from '../errors.ts';
import { deparse } from './parser.ts';
import type { TermFactor } from './terms.ts';
import { compileTermExpression, type TermExpression } from './termValues.ts';
import { isNumericLike, lookupVariable } from './variables.ts';

/**
 * What one factor of a formula term reads from a chunk, planned once per job (plain JSON, so it travels
 * in an analysis state) and read per chunk through `TermColumns`. Every analysis that takes a formula
 * (summary, covCor, the model matrix) resolves its terms through here, so F(), N() and in-line
 * expressions mean the same everywhere.
 *
 * - numeric sources give doubles: a numeric-like variable (logical 0/1, dates in days, timestamps in
 *   ms), `N(f)` (the factor's codes, 1-based as R's `as.integer(f)`), an in-line expression (NaN = NA);
 * - factor sources give codes into `levels`: a factor variable, or `F(x, low, high, exclude)`.
 *
 * F() (RevoScaleR's rxFormula): on a numeric-like x, one level per integer from floor(low) to
 * floor(high), named by the integer ("2", "-5"); a value v falls in level floor(v), so [n, n + 1) is
 * level n. low/high default to the variable's stored Low/High. [inferred] RevoScaleR says "for each
 * integer in the range from low to high"; counting from floor(low) keeps every value of [low, high] in
 * a level when the bounds are not whole numbers. On a factor, low and high are 1-based level indexes
 * (whole numbers from 1 to the number of levels) and the levels are that slice of the factor's.
 * Values outside the levels are missing with `exclude = TRUE` (the default); with `exclude = FALSE`
 * they go to one extra last level named `Other` ([inferred]: RevoScaleR keeps them, the name is ours).
 */

/** Name of F()'s extra level for out-of-range values with exclude = FALSE. */
export const F_OTHER_LEVEL = 'Other';
/** Most levels an F() term may have: a guard against F(x) on a variable spanning millions of integers. */
export const MAX_F_LEVELS = 1_000_000;

export type NumericSource =
  | { role: 'numeric'; kind: 'variable'; name: string; label: string }
  /** `N(f)`: the factor's codes plus one. `levels` are the factor's (their count bounds the codes). */
  | { role: 'numeric'; kind: 'N'; variable: string; label: string; levels: string[] }
  /** An in-line expression, compiled through termValues.ts; `inputs` as its VarInfo. */
  | { role: 'numeric'; kind: 'expression'; text: string; label: string; inputs: VarInfo[] };

export type FactorSource =
  | { role: 'factor'; kind: 'variable'; name: string; label: string; levels: string[] }
  | {
      role: 'factor';
      kind: 'F';
      variable: string;
      label: string;
      /** The term's levels (plus `Other` last when exclude is false). */
      levels: string[];
      /** Numeric x: integers from `first`; factor x: level indexes (0-based) from `first`. */
      of: 'numeric' | 'factor';
      first: number;
      /** Levels in range (without `Other`). */
      count: number;
      exclude: boolean;
      /** The factor variable's own levels (F() on a factor), to read its codes. */
      variableLevels: string[] | null;
    };

export type TermSource = NumericSource | FactorSource;

/** A key naming what a source reads, unique within a formula (F_x and a variable called F_x differ). */
export function sourceKey(source: TermSource): string {
  return `${source.kind}:${source.label}`;
}

/** The dataset variables a source reads. */
export function sourceInputs(source: TermSource): string[] {
  switch (source.kind) {
    case 'variable':
      return [source.name];
    case 'N':
    case 'F':
      return [source.variable];
    case 'expression':
      return source.inputs.map((v) => v.name);
  }
}

function planF(factor: TermFactor & { kind: 'F' }, info: VarInfo): FactorSource {
  const other = factor.exclude ? [] : [F_OTHER_LEVEL];
  if (info.type === 'factor') {
    const variableLevels = info.levels ?? [];
    const low = factor.low ?? 1;
    const high = factor.high ?? variableLevels.length;
    for (const [name, value] of [
      ['low', low],
      ['high', high],
    ] as const) {
      if (!Number.isInteger(value) || value < 1 || value > variableLevels.length) {
        throw new EngineError(
          'INVALID_FORMULA',
          `F(${factor.variable}): on a factor, ${name} is a level number from 1 to ${variableLevels.length}, not ${value}, at column ${factor.column}`,
          400,
          { variable: factor.variable, [name]: value, levels: variableLevels.length, column: factor.column },
        );
      }
    }
    return {
      role: 'factor',
      kind: 'F',
      variable: factor.variable,
      label: factor.label,
      levels: [...variableLevels.slice(low - 1, high), ...other],
      of: 'factor',
      first: low - 1,
      count: high - low + 1,
      exclude: factor.exclude,
      variableLevels,
    };
  }
  const low = factor.low ?? info.low;
  const high = factor.high ?? info.high;
  if (low === null || high === null || !Number.isFinite(low) || !Number.isFinite(high)) {
    throw new EngineError(
      'NO_VALID_VALUES',
      `F(${factor.variable}) at column ${factor.column}: '${factor.variable}' has no valid values, so no stored low/high; give them as F(${factor.variable}, low, high)`,
      422,
      { variable: factor.variable, column: factor.column },
    );
  }
  const first = Math.floor(low);
  const count = Math.floor(high) - first + 1;
  if (count > MAX_F_LEVELS) {
    throw new EngineError(
      'TOO_MANY_LEVELS',
      `F(${factor.variable}) at column ${factor.column} would make ${count} levels (one per integer from ${first} to ${Math.floor(high)}); at most ${MAX_F_LEVELS} are supported: narrow it with F(${factor.variable}, low, high)`,
      422,
      { variable: factor.variable, levels: count, limit: MAX_F_LEVELS, column: factor.column },
    );
  }
  const levels: string[] = new Array(count);
  for (let k = 0; k < count; k++) levels[k] = String(first + k);
  return {
    role: 'factor',
    kind: 'F',
    variable: factor.variable,
    label: factor.label,
    levels: [...levels, ...other],
    of: 'numeric',
    first,
    count,
    exclude: factor.exclude,
    variableLevels: null,
  };
}

/**
 * Resolves one factor of a term against the dataset. Throws WRONG_VARIABLE_TYPE (422) for a string
 * variable, and F()'s range errors; an in-line expression is compiled here (so an unsupported one fails
 * before the job is queued).
 */
export function planSource(factor: TermFactor, variables: readonly VarInfo[]): TermSource {
  const dataset = { variables };
  switch (factor.kind) {
    case 'variable': {
      const info = lookupVariable(dataset, factor.name, factor.column);
      if (info.type === 'factor') {
        return {
          role: 'factor',
          kind: 'variable',
          name: info.name,
          label: factor.label,
          levels: info.levels ?? [],
        };
      }
      if (!isNumericLike(info.type)) {
        throw new EngineError(
          'WRONG_VARIABLE_TYPE',
          `variable '${info.name}' at column ${factor.column} is a ${info.type}; formulas take numeric and factor variables (import it as a factor)`,
          422,
          { variable: info.name, type: info.type, column: factor.column },
        );
      }
      return { role: 'numeric', kind: 'variable', name: info.name, label: factor.label };
    }
    case 'N': {
      const info = lookupVariable(dataset, factor.variable, factor.column);
      return {
        role: 'numeric',
        kind: 'N',
        variable: info.name,
        label: factor.label,
        levels: info.levels ?? [],
      };
    }
    case 'F':
      return planF(factor, lookupVariable(dataset, factor.variable, factor.column));
    case 'expression': {
      const text = deparse(factor.expr);
      const compiled = compileTermExpression(text, variables);
      if (!isNumericLike(compiled.type)) {
        throw new EngineError(
          'WRONG_VARIABLE_TYPE',
          `in-line expression '${text}' at column ${factor.column} gives a ${compiled.type}; a formula term needs numbers`,
          422,
          { expression: text, type: compiled.type, column: factor.column },
        );
      }
      const inputs = compiled.inputs.map((name) => lookupVariable(dataset, name, factor.column));
      return { role: 'numeric', kind: 'expression', text, label: factor.label, inputs };
    }
  }
}

/**
 * Reads term sources from one chunk, each at most once (several terms may share a factor). Values of
 * missing rows are unspecified; `valid` (and for numerics `usable`, which also drops NaN) say which
 * rows hold a value.
 */
export class TermColumns {
  private readonly numerics = new Map<string, NumericColumn>();
  private readonly usables = new Map<string, Uint8Array | null>();
  private readonly factors = new Map<string, FactorColumn>();
  private readonly expressions = new Map<string, TermExpression>();

  constructor(readonly columns: ChunkColumns) {}

  get numRows(): number {
    return this.columns.numRows;
  }

  numeric(source: NumericSource): NumericColumn {
    if (source.kind === 'variable') return this.columns.numeric(source.name);
    const key = sourceKey(source);
    let column = this.numerics.get(key);
    if (column !== undefined) return column;
    if (source.kind === 'N') {
      const factor = this.columns.factor(source.variable, source.levels);
      const values = new Float64Array(this.numRows);
      for (let i = 0; i < values.length; i++) values[i] = (factor.codes[i] as number) + 1;
      column = { values, valid: factor.valid };
    } else {
      let compiled = this.expressions.get(source.text);
      if (compiled === undefined) {
        compiled = compileTermExpression(source.text, source.inputs);
        this.expressions.set(source.text, compiled);
      }
      column = { values: compiled.evaluate(this.columns.table), valid: null };
    }
    this.numerics.set(key, column);
    return column;
  }

  /** Rows whose value is present and not NaN (null: all). */
  usable(source: NumericSource): Uint8Array | null {
    if (source.kind === 'variable') return this.columns.usableMask(source.name);
    const key = sourceKey(source);
    if (this.usables.has(key)) return this.usables.get(key) ?? null;
    const mask = usableMask(this.numeric(source), this.numRows);
    this.usables.set(key, mask);
    return mask;
  }

  /** Records that a numeric source has no NaN among its present rows (see ChunkColumns.markNoNaN). */
  markNoNaN(source: NumericSource): void {
    if (source.kind === 'variable') this.columns.markNoNaN(source.name);
    else if (!this.usables.has(sourceKey(source)))
      this.usables.set(sourceKey(source), this.numeric(source).valid);
  }

  /** Codes into `source.levels`; `valid` is 0 for missing rows and for values F() excludes. */
  factor(source: FactorSource): FactorColumn {
    if (source.kind === 'variable') return this.columns.factor(source.name, source.levels);
    const key = sourceKey(source);
    let column = this.factors.get(key);
    if (column === undefined) {
      column = this.readF(source);
      this.factors.set(key, column);
    }
    return column;
  }

  private readF(source: FactorSource & { kind: 'F' }): FactorColumn {
    const n = this.numRows;
    const codes = new Int32Array(n);
    let valid: Uint8Array | null = null;
    const missing = (i: number): void => {
      if (valid === null) valid = new Uint8Array(n).fill(1);
      valid[i] = 0;
    };
    const { first, count, exclude } = source;
    const place = (i: number, k: number): void => {
      if (k >= 0 && k < count) codes[i] = k;
      else if (exclude) missing(i);
      else codes[i] = count; // the `Other` level
    };
    if (source.of === 'factor') {
      const factor = this.columns.factor(source.variable, source.variableLevels ?? undefined);
      const present = factor.valid;
      for (let i = 0; i < n; i++) {
        if (present !== null && present[i] === 0) missing(i);
        else place(i, (factor.codes[i] as number) - first);
      }
    } else {
      const { values } = this.columns.numeric(source.variable);
      const present = this.columns.usableMask(source.variable);
      for (let i = 0; i < n; i++) {
        if (present !== null && present[i] === 0) missing(i);
        else {
          // Compared as doubles first: floor of a huge value must not wrap when stored as an Int32.
          const k = Math.floor(values[i] as number) - first;
          place(i, k >= 0 && k < count ? k : -1);
        }
      }
    }
    return { codes, valid };
  }
}
