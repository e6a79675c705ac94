import type { Table } from 'apache-arrow';
import type { VarInfo } from '../../storage/datasetMeta.ts';
import { EngineError } from '../errors.ts';
import {
  fillModelMatrix,
  isNumericLike,
  type ModelMatrixPlan,
  modelMatrixColumnsUsed,
} from '../formula/index.ts';
import { nearestCenters } from '../kmeans/nearest.ts';
import type { ScoredChunk } from './scoredColumns.ts';

/**
 * A stored rxKmeans model and cluster assignment of new data with it (what rxKmeans' outFile writes:
 * the 1-based number of the nearest center, missing where a model variable is missing).
 *
 * The body keeps the training plan of the data matrix (formula/modelMatrix.ts: numeric columns, in-line
 * expressions included), so new data go through the same code as training; the centers are in the
 * units of those columns (rxKmeans does not standardise).
 */
export interface KmeansModelBody {
  kind: 'kmeans';
  /** Labels of the columns of the data matrix, in order (`x`, `log(y)`). */
  variables: string[];
  /** The training plan of the data matrix (no intercept, numeric columns only). */
  matrix: ModelMatrixPlan;
  /** k x p, one row per cluster, in cluster-number order (cluster c is `c + 1`). */
  centers: number[][];
  /** Dataset variables the model reads, as they were in training. */
  inputs: Array<Pick<VarInfo, 'name' | 'type'>>;
}

export function isKmeansModelBody(body: unknown): body is KmeansModelBody {
  if (typeof body !== 'object' || body === null) return false;
  const b = body as Record<string, unknown>;
  return b['kind'] === 'kmeans' && Array.isArray(b['centers']) && typeof b['matrix'] === 'object';
}

/** A plain-JSON scoring plan (it can travel in a job state). */
export interface KmeansScoringPlan {
  matrix: ModelMatrixPlan;
  /** Row-major k x p. */
  centers: number[];
  k: number;
  p: number;
  /** Name of the cluster column. @defaultValue '.rxCluster' */
  outColName: string;
}

export interface KmeansScoreOptions {
  /** @defaultValue '.rxCluster' (RevoScaleR's outColName) */
  outColName?: string;
}

/** Default name of the cluster column, as rxKmeans writes it. */
export const RX_CLUSTER = '.rxCluster';

/**
 * Checks that `data` (the variables of the data to score) has every model variable as a number and
 * plans the scoring; 422 MISSING_VARIABLES / WRONG_VARIABLE_TYPE otherwise.
 */
export function planKmeansScoring(
  body: KmeansModelBody,
  data: ReadonlyArray<Pick<VarInfo, 'name' | 'type'>>,
  options: KmeansScoreOptions = {},
): KmeansScoringPlan {
  const byName = new Map(data.map((v) => [v.name, v]));
  const needed = modelMatrixColumnsUsed(body.matrix);
  const missing = needed.filter((name) => !byName.has(name));
  if (missing.length > 0) {
    throw new EngineError(
      'MISSING_VARIABLES',
      `the data to score lacks the model variable${missing.length === 1 ? '' : 's'} ${missing.map((m) => `'${m}'`).join(', ')}`,
      422,
      { missing },
    );
  }
  const wrong = needed.filter((name) => !isNumericLike((byName.get(name) as Pick<VarInfo, 'type'>).type));
  if (wrong.length > 0) {
    throw new EngineError(
      'WRONG_VARIABLE_TYPE',
      `the data to score has ${wrong.map((w) => `'${w}' as ${byName.get(w)?.type}`).join(', ')}; the k-means model needs numbers`,
      422,
      { variables: wrong },
    );
  }
  const p = body.variables.length;
  return {
    matrix: body.matrix,
    centers: body.centers.flat(),
    k: body.centers.length,
    p,
    outColName: options.outColName ?? RX_CLUSTER,
  };
}

/** Dataset variables `scoreKmeansChunk` reads. */
export function kmeansScoringColumns(plan: KmeansScoringPlan): string[] {
  return modelMatrixColumnsUsed(plan.matrix);
}

/** Grow-only buffers: scoring runs chunk after chunk in one process. */
let matrixScratch = new Float64Array(0);
let clusterScratch = new Int32Array(0);
let distanceScratch = new Float64Array(0);

/**
 * One column, `plan.outColName` (integer): the 1-based number of the nearest center of each row of
 * `table`, missing where a model variable is missing or NaN. Ties go to the lower cluster number.
 */
export function scoreKmeansChunk(plan: KmeansScoringPlan, table: Table): ScoredChunk {
  const numRows = table.numRows;
  if (matrixScratch.length < numRows * plan.p) matrixScratch = new Float64Array(numRows * plan.p);
  const m = fillModelMatrix(plan.matrix, table, matrixScratch);
  if (clusterScratch.length < m.n) {
    clusterScratch = new Int32Array(m.n);
    distanceScratch = new Float64Array(m.n);
  }
  nearestCenters(m.x, m.n, plan.p, Float64Array.from(plan.centers), plan.k, {
    cluster: clusterScratch,
    distance: distanceScratch,
  });
  const values = new Int32Array(numRows);
  if (m.usable === null) {
    for (let i = 0; i < numRows; i++) values[i] = clusterScratch[i]! + 1;
  } else {
    for (let i = 0, r = 0; i < numRows; i++) if (m.usable[i] === 1) values[i] = clusterScratch[r++]! + 1;
  }
  return {
    numRows,
    columns: [{ name: plan.outColName, type: 'integer', values, valid: m.usable }],
    scored: m.n,
    unseenLevels: 0,
  };
}
