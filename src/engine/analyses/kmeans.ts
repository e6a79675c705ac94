import { Table, type Vector } from 'apache-arrow';
import { type Static, Type } from 'typebox';
import type { DatasetMeta, VarInfo } from '../../storage/datasetMeta.ts';
import type { Analysis, Chunk, FinalizeContext, FinalizeOutcome, MapContext } from '../analysis.ts';
import { describeTable, withStats } from '../dataOps/outputStats.ts';
import { EngineError } from '../errors.ts';
import {
  fillModelMatrix,
  type ModelMatrixPlan,
  modelMatrixColumnsUsed,
  parseFormula,
  planModelMatrix,
} from '../formula/index.ts';
import { formulaError } from '../formula/lexer.ts';
import { lookupVariable } from '../formula/variables.ts';
import { bestOfKmeansPlusPlus } from '../kmeans/localKmeans.ts';
import {
  type ChunkMatrix,
  dimensionMoments,
  emptyPartial,
  filterSamples,
  firstCenters,
  firstRows,
  type KmeansPartial,
  type LloydSums,
  lloydSums,
  mergePartials,
  oversample,
  type PartialShape,
  type Phase,
  type StartInput,
  weigh,
} from '../kmeans/partials.ts';
import { PURPOSE, sequentialRandom } from '../kmeans/random.ts';
import {
  type KmeansModelBody,
  type KmeansScoringPlan,
  planKmeansScoring,
  RX_CLUSTER,
  scoreKmeansChunk,
} from '../models/kmeansScore.ts';
import { scoredVarInfo, scoredVector } from '../models/scoredColumns.ts';
import { checkParams } from '../params.ts';

/**
 * rxKmeans: k-means clustering of the rows of `~ x + y + ...` (numeric columns, in-line expressions
 * allowed) by Lloyd's algorithm, one pass over the data per iteration.
 *
 * Starting centers:
 * - `centers` (k x p) as given;
 * - `numStarts: 0`: the first k complete rows (RevoScaleR's rule);
 * - otherwise k-means|| (Bahmani, Moseley, Vattani, Kumar & Vassilvitskii 2012, "Scalable k-means++")
 *   instead of RevoScaleR's k random rows of a sample: a uniform first center (pass 0), `initSteps`
 *   oversampling passes (default 2, as Spark MLlib) with l = 2k, one pass weighing the candidates,
 *   then weighted k-means++ and Lloyd on the candidates in the finalizer (best of LOCAL_TRIALS draws,
 *   which costs no pass). The paper's O(log psi) rounds depend on the data's units (psi is a sum of
 *   squares); its experiments show a few suffice, and a fixed count keeps the number of passes known:
 *   2 + initSteps before the first Lloyd pass. Every random number comes from (seed, start, round,
 *   chunk, row) (kmeans/random.ts), so a seed gives the same clusters with any number of workers.
 * `numStarts` > 1 runs the starts side by side in the same passes and keeps the smallest totWithinSS.
 *
 * Lloyd: rows go to the nearest center (ties: the lower cluster number); the new centers are the
 * means. It stops when no center moved, i.e. the new centers equal the old ones bit for bit (they are
 * computed the same way from the same rows once no row changes cluster: partials.ts), which is R's
 * rule ("stops if no cluster center has changed during the last iteration"), or after maxIterations.
 * `iterations` counts passes as R's kmeans(algorithm = "Lloyd") does, the last (unchanged) one included.
 * An empty cluster is re-seeded with the row farthest from its center (deterministic: ties go to the
 * earlier row), which lowers the objective; it is dropped, with a warning, only when every row already
 * sits on a center (fewer distinct rows than k) or at the last iteration. No value is ever NaN.
 *
 * No standardisation (rxKmeans has none: scale through `transforms` if wanted), no weights (rxKmeans
 * has none). Rows with a missing or NaN value in any formula variable are dropped and counted.
 * withinSS is about each final center; totSS about the grand mean (from Chan-merged moments);
 * betweenSS = totSS - totWithinSS, as R.
 *
 * `outName` writes a new dataset (rxKmeans' outFile): the input's variables, or `extraVarsToWrite`
 * (plus the model's variables with `writeModelVars`), and the cluster number in `outColName`
 * (".rxCluster"), missing for incomplete rows; an extra pass after convergence.
 */

/**
 * Default k-means|| oversampling rounds (Bahmani et al.'s r). Each round is a pass whose cost grows with
 * the candidates so far; Spark MLlib lowered its default from the paper's 5 to 2 for that reason, with
 * no loss of quality in practice (apache/spark#14956, SPARK-17389).
 */
export const DEFAULT_INIT_STEPS = 2;
export const MAX_INIT_STEPS = 20;
export const MAX_CLUSTERS = 1000;
export const MAX_STARTS = 100;
export const MAX_ITERATIONS = 9000;

export const KmeansParamsSchema = Type.Object(
  {
    formula: Type.String({ minLength: 1, description: '`~ x + y + log(z)`: numeric columns to cluster on.' }),
    numClusters: Type.Optional(
      Type.Integer({ minimum: 1, maximum: MAX_CLUSTERS, description: 'k; or give `centers`.' }),
    ),
    centers: Type.Optional(
      Type.Array(Type.Array(Type.Number(), { minItems: 1 }), {
        minItems: 1,
        maxItems: MAX_CLUSTERS,
        description: 'Initial centers, k rows of p numbers (one per formula column).',
      }),
    ),
    numStarts: Type.Optional(
      Type.Integer({
        minimum: 0,
        maximum: MAX_STARTS,
        default: 1,
        description: 'Random starts (k-means||), best kept; 0 = the first k complete rows.',
      }),
    ),
    maxIterations: Type.Optional(
      Type.Integer({
        minimum: 1,
        maximum: MAX_ITERATIONS,
        default: 1000,
        description: 'Lloyd passes at most.',
      }),
    ),
    algorithm: Type.Optional(
      Type.String({
        pattern: '^[Ll][Ll][Oo][Yy][Dd]$',
        default: 'Lloyd',
        description: 'Lloyd (the only one).',
      }),
    ),
    seed: Type.Optional(
      Type.Integer({
        minimum: -2147483648,
        maximum: 2147483647,
        description: 'Random seed for the starts; the result says which seed was used.',
      }),
    ),
    initSteps: Type.Optional(
      Type.Integer({
        minimum: 1,
        maximum: MAX_INIT_STEPS,
        default: DEFAULT_INIT_STEPS,
        description: 'k-means|| oversampling passes (not a RevoScaleR option; Spark MLlib has it).',
      }),
    ),
    numStartRows: Type.Optional(
      Type.Integer({
        minimum: 0,
        description: 'Accepted for RevoScaleR compatibility; k-means|| samples all rows.',
      }),
    ),
    outName: Type.Optional(
      Type.String({
        minLength: 1,
        maxLength: 200,
        description: 'Write a new dataset of this name with the cluster of each row (rxKmeans outFile).',
      }),
    ),
    outColName: Type.Optional(
      Type.String({
        minLength: 1,
        maxLength: 200,
        default: RX_CLUSTER,
        description: 'Name of the cluster column.',
      }),
    ),
    writeModelVars: Type.Optional(
      Type.Boolean({
        default: false,
        description: "With extraVarsToWrite: also write the model's variables.",
      }),
    ),
    extraVarsToWrite: Type.Optional(
      Type.Array(Type.String({ minLength: 1 }), {
        maxItems: 10_000,
        description: "Variables copied into the output (default: all the input's variables).",
      }),
    ),
    overwrite: Type.Optional(
      Type.Boolean({ default: false, description: 'Replace a copied variable named like outColName.' }),
    ),
    blocksPerRead: Type.Optional(
      Type.Integer({ minimum: 1, description: 'Accepted for RevoScaleR compatibility.' }),
    ),
    reportProgress: Type.Optional(
      Type.Integer({ minimum: 0, maximum: 3, description: 'Accepted; progress is on the job.' }),
    ),
  },
  { additionalProperties: false },
);
export type KmeansParams = Static<typeof KmeansParamsSchema>;

export const KMEANS_INITIALIZATIONS = ['kmeans||', 'centers', 'firstRows'] as const;
export type KmeansInitialization = (typeof KMEANS_INITIALIZATIONS)[number];

export const KmeansResultSchema = Type.Object({
  /** Labels of the clustered columns (the order of each center's coordinates). */
  variables: Type.Array(Type.String()),
  /** One row per cluster; cluster c (1-based, as `.rxCluster`) is row c - 1. */
  centers: Type.Array(Type.Array(Type.Number())),
  size: Type.Array(Type.Number()),
  withinSS: Type.Array(Type.Number()),
  totSS: Type.Number(),
  totWithinSS: Type.Number(),
  betweenSS: Type.Number(),
  /** Lloyd passes of the chosen start (R's count: the last, unchanged, pass included). */
  iterations: Type.Integer(),
  converged: Type.Boolean(),
  numClusters: Type.Integer({ description: 'Clusters returned (k unless some had to be dropped)' }),
  nValidObs: Type.Number(),
  nMissingObs: Type.Number(),
  initialization: Type.Enum(KMEANS_INITIALIZATIONS),
  /** The seed the starts used (null with given centers or numStarts 0). */
  seed: Type.Union([Type.Integer(), Type.Null()]),
  numStarts: Type.Integer(),
  /** Start whose result this is (0-based). */
  bestStart: Type.Integer(),
  /** Passes over the data, all phases. */
  passes: Type.Integer(),
  modelId: Type.String(),
  dataset: Type.Optional(
    Type.Record(Type.String(), Type.Unknown(), {
      description: 'The outName dataset (as GET /v1/datasets/{id})',
    }),
  ),
  warnings: Type.Array(Type.String()),
});
export type KmeansResult = Static<typeof KmeansResultSchema>;

/** A cluster's state: taking rows, waiting for a seed (empty), or dropped for good. */
const ACTIVE = 1;
const PENDING = 0;
const DROPPED = -1;

interface StartState {
  /** k-means|| candidates, row-major. */
  candidates: number[];
  /** Lloyd centers and shifts, row-major k x p. */
  centers: number[];
  shift: number[];
  status: number[];
  iterations: number;
  converged: boolean;
  done: boolean;
  /** Final per-cluster statistics (once done), about `centers`. */
  size: number[];
  withinSS: number[];
}

interface OutputPlan {
  name: string;
  outColName: string;
  copied: VarInfo[];
  scoring: KmeansScoringPlan | null;
  rowsPerChunk: number;
}

export interface KmeansState {
  formula: string;
  matrix: ModelMatrixPlan;
  variables: string[];
  inputs: Array<Pick<VarInfo, 'name' | 'type'>>;
  p: number;
  k: number;
  seed: number;
  maxIterations: number;
  initialization: KmeansInitialization;
  numStarts: number;
  oversampling: number;
  initSteps: number;
  phase: Phase;
  /** Oversampling round (0-based) of the current `oversample` pass. */
  round: number;
  passes: number;
  rows: number;
  valid: number;
  totSS: number;
  starts: StartState[];
  warnings: string[];
  output: OutputPlan | null;
  /** Set when the clustering is done and only the output pass remains. */
  result: Omit<KmeansResult, 'modelId' | 'dataset'> | null;
  best: number;
}

function newStart(): StartState {
  return {
    candidates: [],
    centers: [],
    shift: [],
    status: [],
    iterations: 0,
    converged: false,
    done: false,
    size: [],
    withinSS: [],
  };
}

function init(params: KmeansParams, meta: DatasetMeta): KmeansState {
  checkParams(KmeansParamsSchema, params, 'kmeans');
  const parsed = parseFormula(params.formula, meta.variables);
  const response = parsed.response?.[0];
  if (response !== undefined) {
    throw formulaError(
      `kmeans takes no response: write '~ ${response.label} + ...'`,
      response.column,
      params.formula,
    );
  }
  if (parsed.terms.length === 0) throw formulaError('the formula has no terms', 1, params.formula);
  const matrix = planModelMatrix(parsed, meta.variables, { intercept: false, factorCoding: 'full' });
  const categorical = matrix.terms.find((t) => t.sources.some((s) => s.role === 'factor'));
  if (categorical !== undefined) {
    throw new EngineError(
      'WRONG_VARIABLE_TYPE',
      `kmeans clusters numbers: term '${categorical.label}' is categorical (use N() for a factor's codes)`,
      422,
      { term: categorical.label },
    );
  }
  const variables = matrix.kept.map((j) => matrix.columns[j]?.label ?? '');
  const p = variables.length;

  const centers = params.centers;
  if (params.numClusters === undefined && centers === undefined) {
    throw new EngineError('INVALID_PARAMS', 'give numClusters (k) or the initial centers', 400);
  }
  if (centers !== undefined) {
    if (params.numClusters !== undefined && params.numClusters !== centers.length) {
      throw new EngineError(
        'INVALID_PARAMS',
        `numClusters is ${params.numClusters} but centers has ${centers.length} rows; give one or make them agree`,
        400,
      );
    }
    const bad = centers.findIndex((row) => row.length !== p || row.some((v) => !Number.isFinite(v)));
    if (bad >= 0) {
      throw new EngineError(
        'INVALID_PARAMS',
        `centers row ${bad + 1} must hold ${p} finite numbers, one per formula column (${variables.join(', ')})`,
        400,
        { row: bad + 1, expected: p },
      );
    }
  }
  const k = centers?.length ?? (params.numClusters as number);
  const numStarts = params.numStarts ?? 1;
  const initialization: KmeansInitialization =
    centers !== undefined ? 'centers' : numStarts === 0 ? 'firstRows' : 'kmeans||';
  const starts = initialization === 'kmeans||' ? numStarts : 1;
  const inputs = modelMatrixColumnsUsed(matrix).map((name) => {
    const info = lookupVariable(meta, name);
    return { name: info.name, type: info.type };
  });

  const state: KmeansState = {
    formula: params.formula,
    matrix,
    variables,
    inputs,
    p,
    k,
    seed: params.seed ?? Math.floor(Math.random() * 2 ** 31),
    maxIterations: params.maxIterations ?? 1000,
    initialization,
    numStarts: starts,
    oversampling: 2 * k,
    initSteps: params.initSteps ?? DEFAULT_INIT_STEPS,
    phase: initialization === 'centers' ? 'lloyd' : 'seed',
    round: 0,
    passes: 0,
    rows: 0,
    valid: 0,
    totSS: 0,
    starts: Array.from({ length: starts }, newStart),
    warnings: [],
    output: planOutput(
      params,
      meta,
      inputs.map((v) => v.name),
    ),
    result: null,
    best: 0,
  };
  if (centers !== undefined) {
    const start = state.starts[0] as StartState;
    start.centers = centers.flat();
    start.shift = centers.flat();
    start.status = new Array<number>(k).fill(ACTIVE);
  }
  return state;
}

function planOutput(params: KmeansParams, meta: DatasetMeta, modelVariables: string[]): OutputPlan | null {
  if (params.outName === undefined) return null;
  const outColName = params.outColName ?? RX_CLUSTER;
  let names: string[];
  if (params.extraVarsToWrite === undefined && !params.writeModelVars)
    names = meta.variables.map((v) => v.name);
  else {
    names = [...(params.extraVarsToWrite ?? [])];
    // The variables the model reads (those under in-line expressions too), as RevoScaleR writes them.
    if (params.writeModelVars) names.push(...modelVariables);
  }
  const copied: VarInfo[] = [];
  for (const name of new Set(names)) {
    if (name === outColName) {
      if (params.overwrite) continue;
      throw new EngineError(
        'DUPLICATE_VARIABLE',
        `the output would have two columns named '${outColName}': set overwrite: true to replace it, or choose another outColName`,
        400,
        { variable: outColName },
      );
    }
    copied.push(lookupVariable(meta, name));
  }
  return { name: params.outName, outColName, copied, scoring: null, rowsPerChunk: meta.rowsPerChunk };
}

function columnsUsed(state: KmeansState): string[] {
  const names = new Set(modelMatrixColumnsUsed(state.matrix));
  if (state.phase === 'write' && state.output) for (const v of state.output.copied) names.add(v.name);
  return [...names];
}

/** Grow-only buffer for the chunk's data matrix (fresh multi-MB arrays per chunk cost page faults). */
let matrixScratch = new Float64Array(0);

function startInputs(state: KmeansState): StartInput[] {
  const lloyd = state.phase === 'lloyd';
  return state.starts.map((start) => {
    const points = lloyd ? start.centers : start.candidates;
    return {
      centers: Float64Array.from(points),
      count: points.length / state.p,
      shift: lloyd ? Float64Array.from(start.shift) : null,
      active: lloyd ? Uint8Array.from(start.status, (s) => (s === ACTIVE ? 1 : 0)) : null,
      done: start.done,
    };
  });
}

async function map(chunk: Chunk, state: KmeansState, context: MapContext): Promise<KmeansPartial> {
  if (state.phase === 'write') return writeChunk(chunk, state, context);
  const numRows = chunk.table.numRows;
  if (matrixScratch.length < numRows * state.p) {
    matrixScratch = new Float64Array(Math.max(numRows * state.p, matrixScratch.length * 2));
  }
  const filled = fillModelMatrix(state.matrix, chunk.table, matrixScratch);
  let rowIndex: Int32Array | null = null;
  if (filled.usable !== null) {
    rowIndex = new Int32Array(filled.n);
    for (let i = 0, r = 0; i < numRows; i++) if (filled.usable[i] === 1) rowIndex[r++] = i;
  }
  const m: ChunkMatrix = { x: filled.x, n: filled.n, p: state.p, rowIndex, chunkIndex: chunk.index };
  const out = emptyPartial(shapeOf(state), numRows, m.n);
  if (state.passes === 0) out.moments = dimensionMoments(m);
  switch (state.phase) {
    case 'seed':
      if (state.initialization === 'firstRows') out.firstRows = firstRows(m, state.k);
      else out.firstCenters = firstCenters(m, state.seed, state.numStarts);
      break;
    case 'oversample':
      out.samples = oversample(m, state.seed, state.round, state.oversampling, startInputs(state));
      break;
    case 'weigh':
      out.weights = weigh(m, startInputs(state));
      break;
    case 'lloyd':
      out.lloyd = lloydSums(m, startInputs(state), state.k);
      break;
  }
  return out;
}

async function writeChunk(chunk: Chunk, state: KmeansState, context: MapContext): Promise<KmeansPartial> {
  const output = state.output as OutputPlan;
  const scored = scoreKmeansChunk(output.scoring as KmeansScoringPlan, chunk.table);
  const columns: Record<string, Vector> = Object.create(null);
  for (const variable of output.copied) {
    const vector = chunk.table.getChild(variable.name);
    if (vector === null) throw new Error(`kmeans: column '${variable.name}' missing from the chunk`);
    columns[variable.name] = vector;
  }
  for (const column of scored.columns) columns[column.name] = scoredVector(column, scored.numRows);
  const table = new Table(columns);
  await context.io.writeChunk(OUTPUT_FOLDER, chunk.index, table);
  const out = emptyPartial(shapeOf(state), chunk.table.numRows, scored.scored);
  out.written = { chunkRows: [table.numRows], stats: describeTable(table, outputVariables(output)) };
  return out;
}

/** Job folder of the output dataset. */
const OUTPUT_FOLDER = 'out';

function outputVariables(output: OutputPlan): VarInfo[] {
  const cluster = scoredVarInfo({ name: output.outColName, type: 'integer' });
  return [...output.copied, cluster];
}

function shapeOf(state: KmeansState): PartialShape {
  return { p: state.p, k: state.k, oversampling: state.oversampling };
}

function merge(a: KmeansPartial, b: KmeansPartial): KmeansPartial {
  return mergePartials(a, b);
}

function addWarning(state: KmeansState, message: string): void {
  if (!state.warnings.includes(message)) state.warnings.push(message);
}

function sameCoordinates(
  a: readonly number[],
  at: number,
  b: readonly number[],
  bt: number,
  p: number,
): boolean {
  for (let j = 0; j < p; j++) if (a[at * p + j] !== b[bt * p + j]) return false;
  return true;
}

/** One Lloyd update of a start from its pass sums (see the file comment for the rules). */
function lloydStep(state: KmeansState, start: StartState, sums: LloydSums): void {
  const { k, p } = state;
  start.iterations += 1;
  const last = start.iterations >= state.maxIterations;
  const old = start.centers;
  const centers = old.slice();
  const empty: number[] = [];
  let moved = false;
  for (let c = 0; c < k; c++) {
    if (start.status[c] === DROPPED) continue;
    const n = sums.count[c] as number;
    if (start.status[c] !== ACTIVE || n === 0) {
      empty.push(c);
      continue;
    }
    for (let j = 0; j < p; j++) {
      const at = c * p + j;
      const value = (start.shift[at] as number) + (sums.sums[at] as number) / n;
      if (value !== old[at]) moved = true;
      centers[at] = value;
    }
  }
  let reseeded = false;
  if (empty.length > 0) {
    const far = sums.far;
    if (last || far.d2.length === 0) {
      for (const c of empty) start.status[c] = DROPPED;
      addWarning(
        state,
        last
          ? 'some clusters were empty at the last iteration and were dropped'
          : 'the data have fewer distinct complete rows than clusters: the empty clusters were dropped',
      );
    } else {
      const used: number[] = [];
      let next = 0;
      for (const c of empty) {
        // The farthest rows not already used as a new seed (duplicates would empty each other again).
        while (next < far.d2.length && used.some((u) => sameCoordinates(far.points, next, far.points, u, p)))
          next++;
        if (next >= far.d2.length) {
          start.status[c] = PENDING;
          continue;
        }
        for (let j = 0; j < p; j++) {
          const value = far.points[next * p + j] as number;
          centers[c * p + j] = value;
          start.shift[c * p + j] = value;
        }
        start.status[c] = ACTIVE;
        used.push(next);
        next++;
        reseeded = true;
      }
      addWarning(state, 'empty clusters were re-seeded with the rows farthest from their centers');
    }
  }
  start.centers = centers;
  const converged = !moved && !reseeded && empty.length === 0;
  if (!converged && !last) return;
  start.converged = converged;
  start.done = true;
  if (!converged) addWarning(state, `did not converge in ${state.maxIterations} iterations`);
  start.size = [];
  start.withinSS = [];
  for (let c = 0; c < k; c++) {
    const n = sums.count[c] as number;
    if (start.status[c] !== ACTIVE) continue;
    // ss is about the center the rows were assigned to; move it to their mean (no change once converged).
    let shift = 0;
    for (let j = 0; j < p; j++) {
      const t = (centers[c * p + j] as number) - (old[c * p + j] as number);
      shift += t * t;
    }
    start.size.push(n);
    start.withinSS.push(Math.max(0, (sums.ss[c] as number) - n * shift));
  }
}

function activeCenters(state: KmeansState, start: StartState): number[][] {
  const out: number[][] = [];
  for (let c = 0; c < state.k; c++) {
    if (start.status[c] === ACTIVE) out.push(start.centers.slice(c * state.p, (c + 1) * state.p));
  }
  return out;
}

function modelBody(state: KmeansState, centers: number[][]): KmeansModelBody {
  return { kind: 'kmeans', variables: state.variables, matrix: state.matrix, centers, inputs: state.inputs };
}

function clusteringResult(state: KmeansState): NonNullable<KmeansState['result']> {
  let best = 0;
  let bestTotal = Number.POSITIVE_INFINITY;
  state.starts.forEach((start, s) => {
    const total = start.withinSS.reduce((a, b) => a + b, 0);
    if (total < bestTotal) {
      bestTotal = total;
      best = s;
    }
  });
  state.best = best;
  const start = state.starts[best] as StartState;
  const totWithinSS = start.withinSS.reduce((a, b) => a + b, 0);
  const centers = activeCenters(state, start);
  return {
    variables: state.variables,
    centers,
    size: start.size,
    withinSS: start.withinSS,
    totSS: state.totSS,
    totWithinSS,
    betweenSS: Math.max(0, state.totSS - totWithinSS),
    iterations: start.iterations,
    converged: start.converged,
    numClusters: centers.length,
    nValidObs: state.valid,
    nMissingObs: state.rows - state.valid,
    initialization: state.initialization,
    seed: state.initialization === 'kmeans||' ? state.seed : null,
    numStarts: state.numStarts,
    bestStart: best,
    passes: state.passes,
    warnings: state.warnings,
  };
}

function firstPassCounts(state: KmeansState, partial: KmeansPartial): void {
  state.rows = partial.rows;
  state.valid = partial.valid;
  state.totSS = (partial.moments ?? []).reduce((total, m) => total + (m.m2[0] as number), 0);
  if (partial.valid === 0) {
    throw new EngineError(
      'NO_VALID_OBSERVATIONS',
      `no row has a value for every formula variable (${state.variables.join(', ')})`,
      422,
    );
  }
  if (partial.valid < state.k) {
    throw new EngineError(
      'TOO_FEW_OBSERVATIONS',
      `${state.k} clusters need at least ${state.k} complete rows; the data have ${partial.valid}`,
      422,
      { numClusters: state.k, validObs: partial.valid },
    );
  }
}

/** Centers padded to k rows; the rows past `centers` wait for a seed from the first Lloyd pass. */
function beginLloyd(state: KmeansState, start: StartState, centers: number[]): void {
  const have = centers.length / state.p;
  start.centers = [...centers, ...new Array<number>((state.k - have) * state.p).fill(0)];
  start.shift = start.centers.slice();
  start.status = Array.from({ length: state.k }, (_, c) => (c < have ? ACTIVE : PENDING));
}

async function finalize(
  partial: KmeansPartial,
  current: KmeansState,
  context: FinalizeContext,
): Promise<FinalizeOutcome<KmeansState, KmeansResult>> {
  const state = JSON.parse(JSON.stringify(current)) as KmeansState;
  state.passes += 1;
  if (current.phase === 'write') return finishWrite(partial, state, context);
  if (current.passes === 0) firstPassCounts(state, partial);
  const { p, k } = state;
  switch (current.phase) {
    case 'seed': {
      if (state.initialization === 'firstRows') {
        beginLloyd(state, state.starts[0] as StartState, partial.firstRows ?? []);
        state.phase = 'lloyd';
        return { done: false, state, message: 'Lloyd iteration 1' };
      }
      state.starts.forEach((start, s) => {
        start.candidates = partial.firstCenters?.[s]?.point ?? [];
      });
      state.phase = 'oversample';
      state.round = 0;
      return { done: false, state, message: `k-means|| oversampling round 1 of ${state.initSteps}` };
    }
    case 'oversample': {
      const samples = partial.samples ?? [];
      state.starts.forEach((start, s) => {
        const set = samples[s];
        if (set === undefined) return;
        const accepted = filterSamples(set, set.phi, state.oversampling, p);
        start.candidates.push(...accepted.points);
      });
      const moreToFind = samples.some((set) => set.phi > 0);
      if (state.round + 1 < state.initSteps && moreToFind) {
        state.round += 1;
        return {
          done: false,
          state,
          message: `k-means|| oversampling round ${state.round + 1} of ${state.initSteps}`,
        };
      }
      state.phase = 'weigh';
      return { done: false, state, message: 'k-means|| weighing the candidates' };
    }
    case 'weigh': {
      state.starts.forEach((start, s) => {
        const weights = partial.weights?.[s] ?? new Float64Array(0);
        const random = sequentialRandom(state.seed, s, PURPOSE.localSeeding);
        const centers = bestOfKmeansPlusPlus(Float64Array.from(start.candidates), weights, p, k, random);
        beginLloyd(state, start, Array.from(centers));
        start.candidates = [];
      });
      state.phase = 'lloyd';
      return { done: false, state, message: 'Lloyd iteration 1' };
    }
    case 'lloyd': {
      state.starts.forEach((start, s) => {
        const sums = partial.lloyd?.[s];
        if (!start.done && sums) lloydStep(state, start, sums);
      });
      const running = state.starts.filter((start) => !start.done);
      if (running.length > 0) {
        const iteration = Math.max(...running.map((start) => start.iterations)) + 1;
        return { done: false, state, message: `Lloyd iteration ${iteration}` };
      }
      state.result = clusteringResult(state);
      if (state.output !== null) {
        const body = modelBody(state, state.result.centers);
        state.output.scoring = planKmeansScoring(body, state.inputs, { outColName: state.output.outColName });
        state.phase = 'write';
        return { done: false, state, message: `writing the clusters to '${state.output.name}'` };
      }
      return finish(state, context, undefined);
    }
    default:
      throw new Error(`kmeans: unexpected phase ${current.phase}`);
  }
}

async function finishWrite(
  partial: KmeansPartial,
  state: KmeansState,
  context: FinalizeContext,
): Promise<FinalizeOutcome<KmeansState, KmeansResult>> {
  const output = state.output as OutputPlan;
  const written = partial.written ?? { chunkRows: [], stats: [] };
  const numRows = written.chunkRows.reduce((a, b) => a + b, 0);
  const meta = await context.io.publish(OUTPUT_FOLDER, {
    name: output.name,
    numRows,
    numChunks: written.chunkRows.length,
    rowsPerChunk: output.rowsPerChunk,
    chunkRows: written.chunkRows,
    source: 'kmeans',
    variables: withStats(outputVariables(output), written.stats),
  });
  const { tenant: _tenant, ...dataset } = meta;
  return finish(state, context, { ...dataset, numVars: meta.variables.length });
}

async function finish(
  state: KmeansState,
  context: FinalizeContext,
  dataset: Record<string, unknown> | undefined,
): Promise<FinalizeOutcome<KmeansState, KmeansResult>> {
  const result = state.result as NonNullable<KmeansState['result']>;
  // Saved last, so a job that fails while writing its output leaves no model behind.
  const model = await context.io.saveModel({
    type: 'kmeans',
    formula: state.formula,
    body: modelBody(state, result.centers),
  });
  return {
    done: true,
    result: {
      ...result,
      passes: state.passes,
      modelId: model.id,
      ...(dataset === undefined ? {} : { dataset }),
      warnings: state.warnings,
    },
  };
}

export const kmeans = {
  name: 'kmeans',
  paramsSchema: KmeansParamsSchema,
  resultSchema: KmeansResultSchema,
  init,
  columnsUsed,
  map,
  merge,
  finalize,
} satisfies Analysis<KmeansParams, KmeansState, KmeansPartial, KmeansResult>;
