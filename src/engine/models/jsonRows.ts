import { makeVector, Table, type Vector } from 'apache-arrow';
import type { VarInfo } from '../../storage/datasetMeta.ts';
import { dictionaryData, float64Data, levelsVector, packValidity } from '../../storage/import/arrowChunk.ts';
import { parseDateBytes, parsed, parseTimestampBytes } from '../../storage/import/valueParse.ts';
import { EngineError } from '../errors.ts';
import { type LinearModelBody, predictorVariables, responseVariables } from './body.ts';

/**
 * A few JSON rows (`[{ "x": 1.5, "g": "a" }, ...]`) as an Arrow table typed like the model's
 * variables, for the synchronous predict endpoint: numeric-like variables as doubles (numbers; logicals
 * also true/false; dates also "YYYY-MM-DD", timestamps also ISO 8601 text), factors as dictionaries of
 * the labels the rows use (mapped onto the training levels by scoring, as any dataset's are).
 * null or an absent key is a missing value; a variable no row mentions is reported by scoring's check.
 * Other fields holding only numbers (or null) become numeric columns too: a GLM offset's variable.
 * A value of the wrong kind is 400 INVALID_ROW_VALUE naming the row (0-based) and the field.
 */

export type JsonRow = Record<string, unknown>;

function invalid(row: number, field: string, value: unknown, expected: string): EngineError {
  const shown = JSON.stringify(value);
  return new EngineError(
    'INVALID_ROW_VALUE',
    `rows[${row}].${field} is ${shown === undefined ? String(value) : shown.slice(0, 60)}; the model needs ${expected} (or null for missing)`,
    400,
    { row, field, expected },
  );
}

function numberOf(value: unknown, info: ModelVariable, row: number): number | null {
  if (value === null || value === undefined) return null;
  switch (info.type) {
    case 'logical':
      if (typeof value === 'boolean') return value ? 1 : 0;
      if (value === 0 || value === 1) return value;
      throw invalid(row, info.name, value, 'true or false');
    case 'date':
      if (typeof value === 'number' && Number.isFinite(value)) return value;
      if (typeof value === 'string') {
        const bytes = Buffer.from(value, 'utf8');
        if (parseDateBytes(bytes, 0, bytes.length)) return parsed.value;
      }
      throw invalid(row, info.name, value, 'a date as "YYYY-MM-DD" (or days since 1970-01-01)');
    case 'timestamp':
      if (typeof value === 'number' && Number.isFinite(value)) return value;
      if (typeof value === 'string') {
        const bytes = Buffer.from(value, 'utf8');
        if (parseTimestampBytes(bytes, 0, bytes.length)) return parsed.value;
      }
      throw invalid(row, info.name, value, 'a timestamp in ISO 8601 (or ms since the epoch)');
    default:
      if (typeof value === 'number' && Number.isFinite(value)) return value;
      throw invalid(row, info.name, value, 'a finite number');
  }
}

/**
 * The table and the VarInfo describing it (factor levels = the labels the rows use, in first-seen
 * order). `withResponses`: also the response variables (for residuals).
 */
export function rowsToTable(
  body: LinearModelBody,
  rows: readonly JsonRow[],
  withResponses: boolean,
): { table: Table; variables: VarInfo[] } {
  const names = new Set([
    ...predictorVariables(body.plan),
    ...(withResponses ? responseVariables(body.plan) : []),
  ]);
  return jsonRowsToTable(
    body.variables.filter((v) => names.has(v.name)),
    rows,
  );
}

/** A training variable as models store it: its name, type and (factors) levels. */
export type ModelVariable = Pick<VarInfo, 'name' | 'type' | 'levels'>;

/**
 * The rows as a table of the model variables they mention, typed as in training (see the file
 * comment), and the VarInfo describing it, for any kind of model.
 */
export function jsonRowsToTable(
  model: readonly ModelVariable[],
  rows: readonly JsonRow[],
): { table: Table; variables: VarInfo[] } {
  const names = [...new Set(model.map((v) => v.name))];
  const training = new Map(model.map((v) => [v.name, v]));
  const numRows = rows.length;
  const columns: Record<string, Vector> = {};
  const variables: VarInfo[] = [];
  rows.forEach((row, r) => {
    if (typeof row !== 'object' || row === null || Array.isArray(row)) {
      throw new EngineError('INVALID_ROW_VALUE', `rows[${r}] is not an object of variable values`, 400, {
        row: r,
      });
    }
  });
  for (const name of names) {
    const info = training.get(name);
    if (info === undefined) continue;
    // A variable no row mentions is absent: scoring's check names it (422 MISSING_VARIABLES).
    if (!rows.some((row) => Object.hasOwn(row, name))) continue;
    const valid = new Uint8Array(numRows);
    if (info.type === 'factor') {
      const levels: string[] = [];
      const index = new Map<string, number>();
      const codes = new Int32Array(numRows);
      rows.forEach((row, r) => {
        const value = row[name];
        if (value === null || value === undefined) return;
        if (typeof value !== 'string' && !(typeof value === 'number' && Number.isFinite(value)))
          throw invalid(r, name, value, 'a factor level as text');
        const label = String(value);
        let code = index.get(label);
        if (code === undefined) {
          code = levels.length;
          levels.push(label);
          index.set(label, code);
        }
        codes[r] = code;
        valid[r] = 1;
      });
      columns[name] = makeVector(
        dictionaryData(codes, packValidity(valid, numRows), numRows, variables.length, levelsVector(levels)),
      );
      variables.push({ name, type: 'factor', low: null, high: null, missing: 0, levels });
      continue;
    }
    const values = new Float64Array(numRows);
    rows.forEach((row, r) => {
      const value = numberOf(row[name], info, r);
      if (value === null) return;
      values[r] = value;
      valid[r] = 1;
    });
    columns[name] = makeVector(float64Data(values, packValidity(valid, numRows), numRows));
    variables.push({ name, type: 'numeric', low: null, high: null, missing: 0 });
  }
  const known = new Set(variables.map((v) => v.name));
  const others = new Set(
    rows.flatMap((row) => Object.keys(row)).filter((name) => !known.has(name) && !training.has(name)),
  );
  for (const name of others) {
    const numeric = rows.every((row) => {
      const value = row[name];
      return value === null || value === undefined || (typeof value === 'number' && Number.isFinite(value));
    });
    if (!numeric) continue;
    const values = new Float64Array(numRows);
    const valid = new Uint8Array(numRows);
    rows.forEach((row, r) => {
      const value = row[name];
      if (typeof value !== 'number') return;
      values[r] = value;
      valid[r] = 1;
    });
    columns[name] = makeVector(float64Data(values, packValidity(valid, numRows), numRows));
    variables.push({ name, type: 'numeric', low: null, high: null, missing: 0 });
  }
  // A model without variables (y ~ 1) still scores every row: a placeholder column carries the row count.
  if (Object.keys(columns).length === 0)
    columns['.rows'] = makeVector(
      float64Data(new Float64Array(numRows), packValidity(new Uint8Array(numRows).fill(1), numRows), numRows),
    );
  const table = new Table(columns);
  return { table, variables };
}
