import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { GlmResult } from '../../src/engine/analyses/glmCommon.ts';
import type { AnyAnalysis } from '../../src/engine/analysis.ts';
import type { JobIO } from '../../src/engine/jobIO.ts';
import { runInProcessDetailed } from '../../src/engine/runInProcess.ts';
import type { StoredModel } from '../../src/storage/modelStore.ts';
import {
  type ColumnSpec,
  makeDataset,
  parseCsv,
  referenceJson,
  referenceText,
  type TestDataset,
} from './helpers.ts';

/**
 * Data and R reference fits shared by the glm engine tests: the r_reference datasets of
 * ../shared/data/reference, the small tables fixtures/glm/reference.R defines, and that script's
 * output (fixtures/glm/reference.txt, R 4.2.2's glm), parsed.
 */

export type Columns = Record<string, Array<number | string | boolean | null>>;

/** Columns as a dataset: names in `factors` become factors (levels sorted, or as given). */
export function dataset(
  columns: Columns,
  rowsPerChunk: number,
  factors: Record<string, readonly string[] | null> = {},
): TestDataset {
  const specs = Object.entries(columns).map(([name, values]): ColumnSpec => {
    if (Object.hasOwn(factors, name)) {
      const levels = factors[name];
      return {
        name,
        type: 'factor',
        values: values as Array<string | null>,
        ...(levels ? { levels } : {}),
      };
    }
    if (values.some((v) => typeof v === 'boolean'))
      return { name, type: 'logical', values: values as Array<boolean | null> };
    return { name, type: 'numeric', values: values as Array<number | null> };
  });
  return makeDataset(specs, rowsPerChunk);
}

/** A reference CSV as columns (numbers where every value parses, strings otherwise). */
export async function referenceColumns(file: string): Promise<Columns> {
  const { header, rows } = parseCsv(await referenceText(`r_reference/data/${file}`));
  const columns: Columns = {};
  header.forEach((name, j) => {
    const raw = rows.map((r) => r[j] as string);
    const numeric = raw.every((v) => v !== '' && !Number.isNaN(Number(v)));
    columns[name] = numeric ? raw.map(Number) : raw;
  });
  return columns;
}

/** infert with w = age / 30 (the pweights case of reference.R). */
export async function infertColumns(): Promise<Columns> {
  const columns = await referenceColumns('infert.csv');
  columns['w'] = (columns['age'] as number[]).map((a) => a / 30);
  return columns;
}

/** Dobson's D93 with reference.R's logexpo = log((1:9) / 3) and w. Outcome/treatment as strings. */
export async function d93Columns(): Promise<Columns> {
  const columns = await referenceColumns('dobson_poisson_D93.csv');
  columns['outcome'] = (columns['outcome'] as number[]).map(String);
  columns['treatment'] = (columns['treatment'] as number[]).map(String);
  columns['logexpo'] = [1, 2, 3, 4, 5, 6, 7, 8, 9].map((i) => Math.log(i / 3));
  columns['w'] = [1, 2, 1, 3, 1, 2, 1, 1, 2];
  return columns;
}

/** McCullagh & Nelder's clotting times with logu = log(u) (no in-line log() yet) and w = u / 10. */
export async function clottingColumns(): Promise<Columns> {
  const columns = await referenceColumns('clotting_gamma.csv');
  columns['logu'] = (columns['u'] as number[]).map(Math.log);
  columns['w'] = (columns['u'] as number[]).map((u) => u / 10);
  return columns;
}

/** reference.R's `agg`: infert's cases by (spontaneous, induced), as successes and failures. */
export const INFERT_GROUPED: Columns = {
  spontaneous: [0, 1, 2, 0, 1, 2, 0, 1],
  induced: [0, 0, 0, 1, 1, 1, 2, 2],
  s: [7, 22, 18, 12, 5, 6, 9, 4],
  f: [60, 25, 11, 33, 11, 1, 20, 4],
};

/** reference.R's `sep`: y = x > 5, perfectly separated. */
export const SEPARATED: Columns = {
  x: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10],
  y: [0, 0, 0, 0, 0, 1, 1, 1, 1, 1],
};

export interface RCoefficient {
  term: string;
  estimate: number;
  stdError: number;
  statistic: number;
  pValue: number;
}

export interface RFit {
  coefficients: RCoefficient[];
  deviance: number;
  nullDeviance: number;
  /** null where R prints NA. */
  aic: number | null;
  dispersion: number;
  dfNull: number;
  dfResidual: number;
  iterations: number;
  converged: boolean;
}

const FIXTURES = path.join(path.dirname(fileURLToPath(import.meta.url)), 'fixtures', 'glm');

/** fixtures/glm/reference.txt by case name. */
export async function rReference(): Promise<Map<string, RFit>> {
  const text = await readFile(path.join(FIXTURES, 'reference.txt'), 'utf8');
  const fits = new Map<string, RFit>();
  let current: RFit | null = null;
  for (const line of text.split('\n')) {
    const header = /^== (.+)$/.exec(line);
    if (header) {
      current = {
        coefficients: [],
        deviance: Number.NaN,
        nullDeviance: Number.NaN,
        aic: null,
        dispersion: Number.NaN,
        dfNull: Number.NaN,
        dfResidual: Number.NaN,
        iterations: Number.NaN,
        converged: false,
      };
      fits.set(header[1] as string, current);
      continue;
    }
    if (current === null) continue;
    const stats =
      /^ {2}deviance (\S+) null (\S+) aic (\S+) disp (\S+) dfnull (\S+) dfres (\S+) iter (\S+) conv (\S+)$/.exec(
        line,
      );
    if (stats) {
      const [, deviance, nullDeviance, aic, dispersion, dfNull, dfResidual, iterations, converged] = stats;
      Object.assign(current, {
        deviance: Number(deviance),
        nullDeviance: Number(nullDeviance),
        aic: aic === 'NA' ? null : Number(aic),
        dispersion: Number(dispersion),
        dfNull: Number(dfNull),
        dfResidual: Number(dfResidual),
        iterations: Number(iterations),
        converged: converged === 'TRUE',
      });
      continue;
    }
    const coefficient = /^ {2}(.+): (\S+) (\S+) (\S+) (\S+)$/.exec(line);
    if (coefficient) {
      const [, term, estimate, stdError, statistic, pValue] = coefficient;
      current.coefficients.push({
        term: term as string,
        estimate: Number(estimate),
        stdError: Number(stdError),
        statistic: Number(statistic),
        pValue: Number(pValue),
      });
    }
  }
  return fits;
}

/** A JobIO for in-process runs that keeps the models saved (no files). */
export function memoryIO(): JobIO & { models: StoredModel[] } {
  const models: StoredModel[] = [];
  const refuse = (): never => {
    throw new Error('not available in this test');
  };
  return {
    jobId: 'job_test',
    tenant: 'local',
    models,
    folder: async () => refuse(),
    datasetMeta: async () => refuse(),
    readChunk: async () => refuse(),
    writeChunk: async () => refuse(),
    publish: async () => refuse(),
    loadModel: async () => refuse(),
    saveModel: async (model) => {
      const stored: StoredModel = {
        id: `mdl_${String(models.length).padStart(20, '0')}`,
        tenant: 'local',
        createdAt: new Date(0).toISOString(),
        jobId: 'job_test',
        dataset: 'ds_test',
        type: model.type,
        formula: model.formula,
        body: model.body,
      };
      models.push(stored);
      return stored;
    },
  };
}

/** Runs logit or glm in process; the result with the passes it took and the model it stored. */
export async function fitGlm(
  analysis: AnyAnalysis,
  params: Record<string, unknown>,
  data: TestDataset,
): Promise<{ result: GlmResult; passes: number; model: StoredModel }> {
  const io = memoryIO();
  const outcome = await runInProcessDetailed(analysis, params, data.meta, data.chunks, { io });
  const model = io.models[0];
  if (model === undefined) throw new Error('no model was saved');
  return { result: outcome.result as GlmResult, passes: outcome.rounds, model };
}

/** |a - b| <= tolerance * |b| (or <= tolerance when |b| < floor). */
export function close(a: number | null, b: number, tolerance: number, floor = 1e-300): boolean {
  if (a === null) return false;
  return Math.abs(a - b) <= tolerance * Math.max(Math.abs(b), floor);
}

// ---------------------------------------------------------------------------------------------------
// R Core's published cases (../shared/data/reference/r_reference/cases/glm_*.json), to the printed digit.

interface PrintedCoefficient {
  term: string;
  estimate_text: string;
  std_error_text: string;
  statistic_text: string;
  p_value_text: string;
}
interface PublishedCase {
  model: { family: string; link: string; formula: string };
  expected: {
    coefficients: PrintedCoefficient[];
    dispersion_text: string;
    null_deviance_text: string;
    df_null: number;
    residual_deviance_text: string;
    df_residual: number;
    aic_text: string;
    fisher_scoring_iterations_R: number;
  };
}

/**
 * One unit of the last printed digit of R's text ("0.2677" -> 1e-4, "1.78e-10" -> 1e-12). Not half a
 * unit: printCoefmat rounds twice (round(t, 3), then format(digits = 4)), so R prints 36.974957 as
 * "36.98".
 */
export function printedTolerance(text: string): number {
  const [mantissa, exponent] = text.replace(/^[<>]/, '').split(/e/i);
  const decimals = (mantissa?.split('.')[1] ?? '').length;
  return 10 ** -decimals * 10 ** Number(exponent ?? 0);
}

export function assertPrinted(actual: number | null, text: string, what: string, absoluteFloor = 0): void {
  assert.notEqual(actual, null, `${what}: null`);
  if (text.startsWith('<')) {
    assert.ok((actual as number) < Number(text.slice(1)), `${what}: ${actual} is not ${text}`);
    return;
  }
  const tolerance = Math.max(printedTolerance(text), absoluteFloor);
  assert.ok(
    Math.abs((actual as number) - Number(text)) <= tolerance,
    `${what}: ${actual} vs R's printed ${text} (tolerance ${tolerance})`,
  );
}

export function estimated(result: GlmResult) {
  return result.coefficients.filter((c) => !c.aliased);
}

export async function checkPublished(
  file: string,
  result: GlmResult,
  terms: Record<string, string> = {},
  zeroTerms: string[] = [],
): Promise<void> {
  const reference = await referenceJson<PublishedCase>(`r_reference/cases/${file}`);
  const expected = reference.expected;
  const coefficients = estimated(result);
  assert.deepEqual(
    coefficients.map((c) => c.term),
    expected.coefficients.map((c) => terms[c.term] ?? c.term),
  );
  expected.coefficients.forEach((e, i) => {
    const c = coefficients[i];
    assert.ok(c !== undefined);
    // R prints numerically-zero estimates as 1e-15: compare those with an absolute 1e-8 (README).
    const floor = zeroTerms.includes(e.term) ? 1e-8 : 0;
    assertPrinted(c.estimate, e.estimate_text, `${e.term} estimate`, floor);
    assertPrinted(c.stdError, e.std_error_text, `${e.term} std. error`);
    assertPrinted(c.statistic, e.statistic_text, `${e.term} statistic`, floor);
    assertPrinted(c.pValue, e.p_value_text, `${e.term} p-value`);
  });
  assertPrinted(result.dispersion, expected.dispersion_text, 'dispersion');
  assertPrinted(result.nullDeviance, expected.null_deviance_text, 'null deviance');
  assertPrinted(result.deviance, expected.residual_deviance_text, 'residual deviance');
  assertPrinted(result.aic, expected.aic_text, 'AIC');
  assert.equal(result.dfNull, expected.df_null);
  assert.equal(result.dfResidual, expected.df_residual);
  assert.equal(result.iterations, expected.fisher_scoring_iterations_R);
  assert.equal(result.converged, true);
  assert.deepEqual(result.warnings, []);
}
