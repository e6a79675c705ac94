import type { VarType } from '../../storage/datasetMeta.ts';
import { EngineError } from '../errors.ts';
import { suggestName } from '../formula/suggest.ts';
import type { ColumnValues } from './columnValues.ts';

/**
 * rxFactors' level arithmetic, apart from any data: value labels, `levels` (keep / convert these,
 * others -> NA or `otherLevel`), `newLevels` (rename, collapse, reorder, add levels), `sortLevels`.
 */

/** The most levels a factor made by rxFactors may have (the importer's bound for forced factors). */
export const MAX_FACTOR_LEVELS = 100_000;

const MS_PER_DAY = 86_400_000;

/**
 * The label of a value as rxFactors matches and names it: numbers with at most 6 significant digits
 * (RevoScaleR: 7.123456 and 7.12346 are one level), integers exactly, TRUE/FALSE, dates as
 * YYYY-MM-DD and timestamps as ISO 8601 UTC (as the rows endpoint shows them). null = missing.
 */
export function labelFunction(type: VarType): (value: number) => string | null {
  switch (type) {
    case 'numeric':
      return (v) => {
        if (Number.isNaN(v)) return null;
        if (!Number.isFinite(v)) return v > 0 ? 'Inf' : '-Inf';
        // Number(...) drops trailing zeros and turns -0 into 0.
        return String(Number(v.toPrecision(6)) + 0);
      };
    case 'integer':
      return (v) => String(v);
    case 'logical':
      return (v) => (v === 1 ? 'TRUE' : 'FALSE');
    case 'date':
      return (v) => new Date(v * MS_PER_DAY).toISOString().slice(0, 10);
    case 'timestamp':
      return (v) => new Date(v).toISOString();
    default:
      throw new Error(`no value labels for ${type}`);
  }
}

/** The label of a `levels` entry as given by the user, in the terms of the source's labels. */
export function givenLabel(value: string | number | boolean, type: VarType): string {
  if (typeof value === 'string') return value;
  if (typeof value === 'boolean') return value ? 'TRUE' : 'FALSE';
  if (type === 'numeric' || type === 'integer') {
    const label = labelFunction(type === 'integer' && Number.isInteger(value) ? 'integer' : 'numeric')(value);
    if (label !== null) return label;
  }
  return String(value);
}

/** Per-row labels of a non-factor column (null = missing), with one decode per row. */
export function rowLabels(column: ColumnValues, type: VarType, numRows: number): Array<string | null> {
  const out = new Array<string | null>(numRows);
  if (column.kind === 'text') {
    const { offsets, bytes, valid } = column;
    const text = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    for (let r = 0; r < numRows; r++)
      out[r] = valid !== null && valid[r] === 0 ? null : text.toString('utf8', offsets[r], offsets[r + 1]);
    return out;
  }
  if (column.kind !== 'number') throw new Error('rowLabels: factor columns have levels already');
  const label = labelFunction(type);
  const { values, valid } = column;
  for (let r = 0; r < numRows; r++) out[r] = valid !== null && valid[r] === 0 ? null : label(values[r]!);
  return out;
}

/** Distinct labels in first-seen order, stopping one past the cap (so the caller knows it overflowed). */
export function addDistinct(seen: string[], index: Set<string>, labels: Iterable<string | null>): void {
  for (const label of labels) {
    if (label === null || index.has(label)) continue;
    if (seen.length > MAX_FACTOR_LEVELS) return;
    index.add(label);
    seen.push(label);
  }
}

/** `newLevels` as groups: new level -> the old levels it takes. */
export interface LevelGroups {
  groups: Array<{ level: string; from: string[] }>;
  /** Named (map or pairs) form: every old level must exist. The plain list form may add new, empty levels. */
  named: boolean;
}

/** A level list and where each label goes (labels[i] -> codes[i]; -1 = missing). */
export interface LevelMapping {
  levels: string[];
  labels: string[];
  codes: number[];
  /** Code of labels not in `labels` (-1 = missing). */
  otherCode: number;
}

export interface LevelSpec {
  /** The output variable, for messages. */
  name: string;
  levels: string[] | null;
  otherLevel: string | null;
  newLevels: LevelGroups | null;
  sortLevels: boolean;
}

function levelError(code: string, message: string, details: Record<string, unknown>): EngineError {
  return new EngineError(code, message, 400, details);
}

/** Code-point order, or numeric order when every level reads as a number (so 10 comes after 9). */
export function sortedLevels(levels: readonly string[]): string[] {
  const asNumber = (s: string): number => (s === 'Inf' ? Infinity : s === '-Inf' ? -Infinity : Number(s));
  const numeric = levels.every((s) => s.trim() !== '' && !Number.isNaN(asNumber(s)));
  return [...levels].sort((a, b) => {
    if (numeric) {
      const d = asNumber(a) - asNumber(b);
      if (d !== 0) return d;
    }
    return a < b ? -1 : a > b ? 1 : 0;
  });
}

/**
 * The final levels of a variable whose values are `inputLabels` (a factor's levels, or the distinct
 * values found in the data), after `levels`, `newLevels` and `sortLevels`, and where each input label
 * goes. `known`: the input labels are all the values there are (a factor's levels, or `levels` given),
 * so `newLevels` may be checked against them.
 */
export function mapLevels(spec: LevelSpec, inputLabels: readonly string[], known: boolean): LevelMapping {
  // 1. `levels`: keep these, in this order; every other value becomes `otherLevel` or missing.
  let step1: string[];
  let toStep1: (label: string) => number;
  if (spec.levels !== null) {
    step1 = [...spec.levels];
    const duplicate = step1.find((level, i) => step1.indexOf(level) !== i);
    if (duplicate !== undefined) {
      throw levelError('DUPLICATE_LEVEL', `factorInfo.${spec.name}.levels: '${duplicate}' is given twice`, {
        variable: spec.name,
        level: duplicate,
      });
    }
    const index = new Map(step1.map((level, i) => [level, i]));
    let other = -1;
    if (spec.otherLevel !== null) {
      other = index.get(spec.otherLevel) ?? step1.length;
      if (other === step1.length) step1.push(spec.otherLevel);
    }
    toStep1 = (label) => index.get(label) ?? other;
  } else {
    step1 = [...inputLabels];
    const index = new Map(step1.map((level, i) => [level, i]));
    toStep1 = (label) => index.get(label) ?? -1;
  }

  // 2. `newLevels`: rename, collapse, reorder; unnamed old levels go to `otherLevel` or stay as they are.
  let step2 = step1;
  let step1To2: number[] = step1.map((_, i) => i);
  if (spec.newLevels !== null) {
    const target = new Map<string, number>();
    const names: string[] = [];
    const levelIndex = (name: string): number => {
      let at = target.get(name);
      if (at === undefined) {
        at = names.length;
        names.push(name);
        target.set(name, at);
      }
      return at;
    };
    const oldTo = new Map<string, number>();
    const checkOld = spec.newLevels.named && (known || spec.levels !== null);
    const step1Set = new Set(step1);
    for (const group of spec.newLevels.groups) {
      const at = levelIndex(group.level);
      for (const old of group.from) {
        if (oldTo.has(old)) {
          throw levelError('DUPLICATE_LEVEL', `factorInfo.${spec.name}.newLevels: '${old}' is mapped twice`, {
            variable: spec.name,
            level: old,
          });
        }
        if (checkOld && !step1Set.has(old)) {
          const suggestion = suggestName(old, step1);
          const hint = suggestion === undefined ? '' : `; did you mean '${suggestion}'?`;
          throw levelError(
            'UNKNOWN_LEVEL',
            `factorInfo.${spec.name}.newLevels: '${old}' is not a level of the variable${hint}`,
            { variable: spec.name, level: old, ...(suggestion === undefined ? {} : { suggestion }) },
          );
        }
        oldTo.set(old, at);
      }
    }
    step1To2 = step1.map((old) => {
      const mapped = oldTo.get(old);
      if (mapped !== undefined) return mapped;
      return levelIndex(spec.otherLevel ?? old);
    });
    step2 = names;
  }

  // 3. `sortLevels`.
  let final = step2;
  let step2ToFinal: number[] = step2.map((_, i) => i);
  if (spec.sortLevels) {
    final = sortedLevels(step2);
    const at = new Map(final.map((level, i) => [level, i]));
    step2ToFinal = step2.map((level) => at.get(level)!);
  }
  if (final.length > MAX_FACTOR_LEVELS) {
    throw new EngineError(
      'TOO_MANY_LEVELS',
      `factor '${spec.name}' would have ${final.length} levels; at most ${MAX_FACTOR_LEVELS} are allowed`,
      422,
      { variable: spec.name, limit: MAX_FACTOR_LEVELS },
    );
  }

  const through = (i: number): number => (i < 0 ? -1 : step2ToFinal[step1To2[i]!]!);
  const labels = spec.levels !== null ? [...inputLabels] : step1;
  return {
    levels: final,
    labels,
    codes: labels.map((label) => through(toStep1(label))),
    otherCode: spec.levels !== null && spec.otherLevel !== null ? through(toStep1(spec.otherLevel)) : -1,
  };
}
