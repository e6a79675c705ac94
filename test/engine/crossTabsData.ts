import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { type ColumnSpec, makeDataset, parseCsv, referenceText, type TestDataset } from './helpers.ts';

/**
 * Datasets of the cube / crossTabs tests: the reference data of ../shared/data/reference and R's
 * UCBAdmissions, with R's factor level orders, and the values R computed on them
 * (fixtures/crosstabs/r_values.json, written by fixtures/crosstabs/make_reference.R).
 */

const FIXTURES = path.join(path.dirname(fileURLToPath(import.meta.url)), 'fixtures', 'crosstabs');

export async function fixtureText(name: string): Promise<string> {
  return readFile(path.join(FIXTURES, name), 'utf8');
}

export const UCB_LEVELS = {
  Admit: ['Admitted', 'Rejected'],
  Gender: ['Male', 'Female'],
  Dept: ['A', 'B', 'C', 'D', 'E', 'F'],
};

/** as.data.frame(UCBAdmissions): Admit, Gender, Dept, Freq (24 rows). */
export async function ucbDataset(rowsPerChunk: number): Promise<TestDataset> {
  const { rows } = parseCsv(await fixtureText('ucb_admissions.csv'));
  return makeDataset(
    [
      { name: 'Admit', type: 'factor', values: rows.map((r) => r[0] as string), levels: UCB_LEVELS.Admit },
      { name: 'Gender', type: 'factor', values: rows.map((r) => r[1] as string), levels: UCB_LEVELS.Gender },
      { name: 'Dept', type: 'factor', values: rows.map((r) => r[2] as string), levels: UCB_LEVELS.Dept },
      { name: 'Freq', type: 'numeric', values: rows.map((r) => Number(r[3])) },
    ],
    rowsPerChunk,
  );
}

/**
 * A reference CSV as a dataset: the named columns as factors (with these levels), `strings` as strings,
 * the rest numeric.
 */
export async function referenceDataset(
  file: string,
  factors: Record<string, string[]>,
  rowsPerChunk: number,
  strings: readonly string[] = [],
): Promise<TestDataset> {
  const { header, rows } = parseCsv(await referenceText(`r_reference/data/${file}`));
  const specs = header.map((name, j): ColumnSpec => {
    if (strings.includes(name)) return { name, type: 'string', values: rows.map((r) => r[j] as string) };
    const levels = factors[name];
    if (levels !== undefined) {
      return { name, type: 'factor', values: rows.map((r) => r[j] as string), levels };
    }
    return { name, type: 'numeric', values: rows.map((r) => (r[j] === 'NA' ? null : Number(r[j]))) };
  });
  return makeDataset(specs, rowsPerChunk);
}

export interface RTests {
  counts: number[][];
  chisq: { statistic: number; df: number; p_value: number };
  kendall: { tau_b: number; z: number; p_value: number };
  fisher?: {
    p_value: number;
    estimate_R_default: number;
    conf_int_R_default: [number, number];
    estimate: number;
    conf_int: [number, number];
  };
  odds_ratio?: { estimate: number; conf_int: [number, number]; p_value: number };
  risk_ratio?: { estimate: number; conf_int: [number, number]; p_value: number };
}

export interface RValues {
  r_version: string;
  ucb_by_dept: Array<RTests & { dept: string }>;
  ucb_total_conf90: RTests;
  infert_education_spontaneous: RTests;
  mtcars_gear34_vs: RTests;
  ucb_cube_means: Array<{ Gender: string; Admit: string; Freq: number }>;
}

export async function rValues(): Promise<RValues> {
  return JSON.parse(await fixtureText('r_values.json')) as RValues;
}

/** |a - b| <= tolerance * |b| (b the reference). */
export function closeTo(
  actual: number | null | undefined,
  expected: number,
  tolerance: number,
  what: string,
): void {
  if (actual === null || actual === undefined)
    throw new Error(`${what}: got ${actual}, expected ${expected}`);
  const error = Math.abs(actual - expected);
  if (!(error <= tolerance * Math.abs(expected))) {
    throw new Error(`${what}: ${actual} vs ${expected} (relative error ${error / Math.abs(expected)})`);
  }
}

/** Agreement with a value R prints with `digits` significant digits: within one unit of the last. */
export function printedDigits(
  actual: number | null | undefined,
  printed: number,
  digits: number,
  what: string,
): void {
  if (actual === null || actual === undefined) throw new Error(`${what}: got ${actual}`);
  const unit = 10 ** (Math.floor(Math.log10(Math.abs(printed))) - digits + 1);
  if (!(Math.abs(actual - printed) <= unit)) throw new Error(`${what}: ${actual} vs printed ${printed}`);
}
