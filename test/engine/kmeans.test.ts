import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Value } from 'typebox/value';
import {
  type KmeansParams,
  type KmeansResult,
  KmeansResultSchema,
  type KmeansState,
  kmeans,
} from '../../src/engine/analyses/kmeans.ts';
import type { Chunk } from '../../src/engine/analysis.ts';
import { decodePartial, encodePartial } from '../../src/engine/codec.ts';
import { readNumeric } from '../../src/engine/columns.ts';
import { type KmeansPartial, mergePartials } from '../../src/engine/kmeans/partials.ts';
import {
  isKmeansModelBody,
  planKmeansScoring,
  scoreKmeansChunk,
} from '../../src/engine/models/kmeansScore.ts';
import { runInProcessDetailed } from '../../src/engine/runInProcess.ts';
import type { DatasetMeta } from '../../src/storage/datasetMeta.ts';
import { UserError } from '../../src/userError.ts';
import {
  type ColumnSpec,
  irisDataset,
  makeDataset,
  referenceJson,
  seededRandom,
  type TestDataset,
} from './helpers.ts';
import { tempJobIO } from './jobIOHelpers.ts';

const IRIS_FORMULA = '~ Sepal.Length + Sepal.Width + Petal.Length + Petal.Width';
const IRIS_COLUMNS = ['Sepal.Length', 'Sepal.Width', 'Petal.Length', 'Petal.Width'];

interface IrisCase {
  expected: {
    sizes: number[];
    centers: Record<string, number[]>;
    withinss: Record<string, number>;
    between_over_total_percent: number;
    corroborating_unattributed: { totss: number; tot_withinss: number; betweenss: number };
  };
}

async function run(
  params: KmeansParams,
  dataset: TestDataset,
): Promise<{ result: KmeansResult; rounds: number; io: Awaited<ReturnType<typeof tempJobIO>> }> {
  const io = await tempJobIO();
  const outcome = await runInProcessDetailed(kmeans, params, dataset.meta, dataset.chunks, {
    io: io.io,
    maxRounds: 10_000,
  });
  const result = outcome.result as KmeansResult;
  assert.ok(Value.Check(KmeansResultSchema, result), 'result fits the schema');
  const numbers = [
    ...result.centers.flat(),
    ...result.size,
    ...result.withinSS,
    result.totSS,
    result.betweenSS,
  ];
  assert.ok(numbers.every(Number.isFinite), 'every statistic is a finite number');
  return { result, rounds: outcome.rounds, io };
}

/** Element-wise |a - b| <= tolerance (absolute), for vectors or matrices. */
function assertNear(
  actual: number[] | number[][],
  expected: number[] | number[][],
  tolerance: number,
  what: string,
): void {
  const a = actual.flat();
  const b = expected.flat();
  assert.equal(a.length, b.length, `${what}: lengths`);
  for (let i = 0; i < a.length; i++) {
    assert.ok(Math.abs(a[i]! - b[i]!) <= tolerance, `${what}[${i}]: ${a[i]} vs ${b[i]}`);
  }
}

/** Lloyd as R's kmeans(algorithm = "Lloyd") does it, on plain arrays: written independently of the engine. */
function plainLloyd(
  points: number[][],
  start: number[][],
  maxIterations = 1000,
): { centers: number[][]; size: number[]; withinSS: number[]; iterations: number; converged: boolean } {
  let centers = start.map((c) => [...c]);
  const assigned = new Array<number>(points.length).fill(-1);
  let iterations = 0;
  let converged = false;
  while (iterations < maxIterations) {
    iterations++;
    let changed = false;
    points.forEach((x, i) => {
      let best = -1;
      let bestDistance = Number.POSITIVE_INFINITY;
      centers.forEach((c, j) => {
        const d = x.reduce((s, v, t) => s + (v - c[t]!) ** 2, 0);
        if (d < bestDistance) {
          bestDistance = d;
          best = j;
        }
      });
      if (assigned[i] !== best) changed = true;
      assigned[i] = best;
    });
    if (!changed) {
      converged = true;
      break;
    }
    centers = centers.map((c, j) => {
      const members = points.filter((_, i) => assigned[i] === j);
      return members.length === 0
        ? c
        : c.map((_, t) => members.reduce((s, x) => s + x[t]!, 0) / members.length);
    });
  }
  const size = centers.map((_, j) => assigned.filter((a) => a === j).length);
  const withinSS = centers.map((c, j) =>
    points.reduce(
      (s, x, i) => (assigned[i] === j ? s + x.reduce((t, v, d) => t + (v - c[d]!) ** 2, 0) : s),
      0,
    ),
  );
  return { centers, size, withinSS, iterations, converged };
}

function irisPoints(columns: Record<string, number[]>): number[][] {
  const n = columns[IRIS_COLUMNS[0]!]!.length;
  return Array.from({ length: n }, (_, i) => IRIS_COLUMNS.map((name) => columns[name]![i]!));
}

/** Printed-precision comparison against the iris reference, clusters matched by size. */
function assertIrisReference(result: KmeansResult, ref: IrisCase): void {
  assert.deepEqual(
    [...result.size].sort((a, b) => a - b),
    [...ref.expected.sizes].sort((a, b) => a - b),
  );
  result.size.forEach((size, c) => {
    const center = ref.expected.centers[`size${size}`]!;
    result.centers[c]!.forEach((v, j) => {
      // Centers are printed to 7 significant digits.
      assert.ok(
        Math.abs(v - center[j]!) <= 5e-7 * Math.abs(center[j]!),
        `center ${c} [${j}] ${v} vs ${center[j]}`,
      );
    });
    const within = ref.expected.withinss[`size${size}`]!;
    assert.ok(
      Math.abs(result.withinSS[c]! - within) <= 5e-7 * within,
      `withinss ${result.withinSS[c]} vs ${within}`,
    );
  });
  const totals = ref.expected.corroborating_unattributed;
  assert.ok(Math.abs(result.totSS - totals.totss) <= 1e-4, `totss ${result.totSS}`);
  assert.ok(Math.abs(result.totWithinSS - totals.tot_withinss) <= 1e-5, `tot.withinss ${result.totWithinSS}`);
  assert.ok(Math.abs(result.betweenSS - totals.betweenss) <= 1e-4, `betweenss ${result.betweenSS}`);
  const percent = (100 * result.betweenSS) / result.totSS;
  assert.ok(Math.abs(percent - ref.expected.between_over_total_percent) <= 0.05);
}

/** Gaussian blobs around `centers` (sd 1), in `rowsPerChunk`-row chunks, with a few missing values. */
function blobs(
  centers: number[][],
  perCluster: number,
  rowsPerChunk: number,
  seed: number,
  missingEvery = 0,
): { dataset: TestDataset; points: number[][]; complete: number[][] } {
  const random = seededRandom(seed);
  const gaussian = () => Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random());
  const p = centers[0]!.length;
  const points: number[][] = [];
  for (let i = 0; i < perCluster * centers.length; i++) {
    const c = centers[Math.floor(random() * centers.length)]!;
    points.push(c.map((v) => v + gaussian()));
  }
  const columns = Array.from({ length: p }, (_, j) =>
    points.map((x, i) => (missingEvery > 0 && i % missingEvery === j ? null : x[j]!)),
  );
  const specs = columns.map((values, j): ColumnSpec => ({ name: `x${j + 1}`, type: 'numeric', values }));
  const complete = points.filter((_, i) => columns.every((col) => col[i] !== null));
  return { dataset: makeDataset(specs, rowsPerChunk), points, complete };
}

describe('kmeans: the iris reference (R kmeans, k = 3)', () => {
  it('seeded k-means|| with 5 starts finds the optimum R prints (7-row chunks)', async () => {
    const ref = await referenceJson<IrisCase>('r_reference/cases/kmeans_iris_k3.json');
    const iris = await irisDataset(7);
    const { result } = await run({ formula: IRIS_FORMULA, numClusters: 3, numStarts: 5, seed: 42 }, iris);
    assertIrisReference(result, ref);
    assert.equal(result.converged, true);
    assert.equal(result.initialization, 'kmeans||');
    assert.equal(result.nValidObs, 150);
    assert.equal(result.nMissingObs, 0);
    // Seed pass, 2 oversampling rounds, weighing, then the Lloyd iterations of the slowest start.
    assert.ok(result.passes >= 4 + result.iterations);
  });

  it('given centers: the same clusters, centers and iterations as an independent Lloyd', async () => {
    const ref = await referenceJson<IrisCase>('r_reference/cases/kmeans_iris_k3.json');
    const iris = await irisDataset(11);
    const points = irisPoints(iris.columns);
    // Rows 1, 51 and 101 (one of each species) as starting centers.
    const start = [points[0]!, points[50]!, points[100]!];
    const { result, rounds } = await run({ formula: IRIS_FORMULA, centers: start }, iris);
    const plain = plainLloyd(points, start);
    assert.equal(result.initialization, 'centers');
    assert.equal(result.seed, null);
    assert.equal(result.iterations, plain.iterations);
    assert.equal(rounds, plain.iterations, 'one pass per Lloyd iteration');
    assert.deepEqual(result.size, plain.size);
    assertNear(result.centers, plain.centers, 1e-12, 'centers');
    assertNear(result.withinSS, plain.withinSS, 1e-10, 'withinSS');
    assertIrisReference(result, ref);
  });

  it('the same seed gives the same clusters; another seed draws other starts', async () => {
    const iris = await irisDataset(7);
    const params = { formula: IRIS_FORMULA, numClusters: 3, seed: 7 };
    const a = (await run(params, iris)).result;
    const b = (await run(params, iris)).result;
    const { modelId: _a, ...restA } = a;
    const { modelId: _b, ...restB } = b;
    assert.deepEqual(restA, restB);
    const seeds = await Promise.all(
      [1, 2, 3, 4, 5, 6].map(async (seed) => (await run({ ...params, seed }, iris)).result.centers),
    );
    assert.ok(new Set(seeds.map((c) => JSON.stringify(c))).size > 1, 'seeds change the starting centers');
  });

  it('numStarts 0 starts from the first k complete rows, as RevoScaleR', async () => {
    const iris = await irisDataset(7);
    const points = irisPoints(iris.columns);
    const { result } = await run({ formula: IRIS_FORMULA, numClusters: 3, numStarts: 0 }, iris);
    const plain = plainLloyd(points, points.slice(0, 3));
    assert.equal(result.initialization, 'firstRows');
    assert.deepEqual(result.size, plain.size);
    assert.equal(result.iterations, plain.iterations);
    assertNear(result.centers, plain.centers, 1e-12, 'centers');
  });
});

describe('kmeans: many chunks, missing values, empty clusters', () => {
  const truth = [
    [0, 0, 0],
    [8, 0, 0],
    [0, 8, 0],
    [0, 0, 8],
  ];

  it('20,000 rows in 53 chunks with missing values: an independent Lloyd from the same centers', async () => {
    const { dataset, complete } = blobs(truth, 5000, 379, 11, 97);
    const start = [complete[0]!, complete[1]!, complete[2]!, complete[3]!];
    const { result } = await run({ formula: '~ x1 + x2 + x3', centers: start }, dataset);
    const plain = plainLloyd(complete, start);
    assert.equal(result.nValidObs, complete.length);
    assert.equal(result.nMissingObs, 20000 - complete.length);
    assert.ok(result.nMissingObs > 0);
    assert.equal(result.converged, plain.converged);
    assert.equal(result.iterations, plain.iterations);
    assert.deepEqual(result.size, plain.size);
    assertNear(result.centers, plain.centers, 1e-9, 'centers');
    assertNear(result.withinSS, plain.withinSS, 1e-8 * Math.max(...plain.withinSS), 'withinSS');
    const mean = [0, 1, 2].map((j) => complete.reduce((s, x) => s + x[j]!, 0) / complete.length);
    const totSS = complete.reduce((s, x) => s + x.reduce((t, v, j) => t + (v - mean[j]!) ** 2, 0), 0);
    assert.ok(Math.abs(result.totSS - totSS) <= 1e-9 * totSS);
    assert.ok(Math.abs(result.betweenSS - (totSS - result.totWithinSS)) <= 1e-9 * totSS);
  });

  it('seeded k-means|| finds four well-separated clusters', async () => {
    const { dataset } = blobs(truth, 2500, 333, 5);
    const { result } = await run({ formula: '~ x1 + x2 + x3', numClusters: 4, seed: 3 }, dataset);
    assert.equal(result.converged, true);
    // Seed pass, 2 oversampling rounds, weighing, then the Lloyd iterations.
    assert.equal(result.passes, 4 + result.iterations);
    // Every true center has a found center within 0.1.
    for (const t of truth) {
      assert.ok(
        result.centers.some((c) => c.every((v, j) => Math.abs(v - t[j]!) < 0.1)),
        `a center near ${t}: ${JSON.stringify(result.centers)}`,
      );
    }
    assert.ok(result.size.every((s) => s > 2000 && s < 3000));
  });

  it('re-seeds an empty cluster from the farthest row, and every number stays finite', async () => {
    const { dataset, points } = blobs(truth.slice(0, 2), 500, 97, 9);
    // The third center is far from everything: it gets no row in the first pass.
    const start = [points[0]!, points[1]!, [1000, 1000, 1000]];
    const { result } = await run({ formula: '~ x1 + x2 + x3', centers: start }, dataset);
    assert.equal(result.numClusters, 3);
    assert.ok(result.warnings.some((w) => /re-seeded/.test(w)));
    assert.equal(
      result.size.reduce((a, b) => a + b, 0),
      1000,
    );
    assert.ok(result.size.every((s) => s > 0));
    assert.ok([...result.centers.flat(), ...result.withinSS].every(Number.isFinite));
    // A fixed point of Lloyd: each center is the mean of the rows nearest to it.
    const nearest = points.map((x) => {
      let best = 0;
      result.centers.forEach((c, j) => {
        const d = (v: number[]) => v.reduce((s, t, i) => s + (t - x[i]!) ** 2, 0);
        if (d(c) < d(result.centers[best]!)) best = j;
      });
      return best;
    });
    result.centers.forEach((c, j) => {
      const members = points.filter((_, i) => nearest[i] === j);
      assert.equal(members.length, result.size[j]);
      const mean = c.map((_, t) => members.reduce((s, x) => s + x[t]!, 0) / members.length);
      assertNear(c, mean, 1e-9, `center ${j}`);
    });
  });

  it('drops the clusters it cannot fill when there are fewer distinct rows than k', async () => {
    const values = Array.from({ length: 60 }, (_, i) => [1, 5, 9][i % 3]!);
    const dataset = makeDataset([{ name: 'x', type: 'numeric', values }], 7);
    const { result } = await run({ formula: '~ x', numClusters: 5, seed: 1 }, dataset);
    assert.equal(result.numClusters, 3);
    assert.deepEqual(
      result.centers.map((c) => c[0]).sort((a, b) => a! - b!),
      [1, 5, 9],
    );
    assert.deepEqual(result.size, [20, 20, 20]);
    assert.equal(result.totWithinSS, 0);
    assert.ok(result.warnings.some((w) => /fewer distinct/.test(w)));
  });

  it('stops at maxIterations and says it did not converge', async () => {
    const iris = await irisDataset(10);
    const points = irisPoints(iris.columns);
    const start = [points[0]!, points[1]!, points[2]!];
    const { result } = await run({ formula: IRIS_FORMULA, centers: start, maxIterations: 2 }, iris);
    const plain = plainLloyd(points, start, 2);
    assert.equal(result.converged, false);
    assert.equal(result.iterations, 2);
    assert.ok(result.warnings.some((w) => /did not converge in 2 iterations/.test(w)));
    assertNear(result.centers, plain.centers, 1e-12, 'centers');
    // withinSS is about the reported centers (the means), as R's.
    assertNear(result.withinSS, plain.withinSS, 1e-9, 'withinSS');
  });

  it('clusters in-line expressions and the rows rowSelection keeps', async () => {
    const iris = await irisDataset(13);
    const points = irisPoints(iris.columns);
    const kept = points.filter((x) => x[0]! > 5);
    const logged = kept.map((x) => [Math.log(x[2]!), x[3]!]);
    const start = [logged[0]!, logged[1]!];
    const { result } = await run(
      {
        formula: '~ log(Petal.Length) + Petal.Width',
        centers: start,
        rowSelection: 'Sepal.Length > 5',
      } as KmeansParams,
      iris,
    );
    const plain = plainLloyd(logged, start);
    assert.deepEqual(result.variables, ['log(Petal.Length)', 'Petal.Width']);
    assert.equal(result.nValidObs, kept.length);
    assert.deepEqual(result.size, plain.size);
    assertNear(result.centers, plain.centers, 1e-12, 'centers');
  });
});

describe('kmeans: partials', () => {
  it('k-means|| candidates do not depend on how chunk partials are grouped', async () => {
    const { dataset } = blobs(
      [
        [0, 0],
        [5, 5],
      ],
      400,
      50,
      21,
    );
    const meta: DatasetMeta = dataset.meta;
    let state = kmeans.init({ formula: '~ x1 + x2', numClusters: 2, seed: 9 }, meta);
    // Run the seed pass to get the first candidate, then map one oversampling pass.
    const noIO = { round: 0, io: undefined as never };
    const fold = (parts: KmeansPartial[]) => parts.reduce((a, b) => kmeans.merge(a, b));
    const seedParts = await Promise.all(dataset.chunks.map((c: Chunk) => kmeans.map(c, state, noIO)));
    const seeded = await kmeans.finalize(fold(seedParts), state, { io: undefined as never });
    assert.equal(seeded.done, false);
    state = (seeded as { state: KmeansState }).state;
    const parts = await Promise.all(
      dataset.chunks.map(
        async (c: Chunk) => decodePartial(encodePartial(await kmeans.map(c, state, noIO))) as KmeansPartial,
      ),
    );
    const left = fold(parts);
    const half = parts.length >> 1;
    const grouped = mergePartials(fold(parts.slice(0, half)), fold(parts.slice(half)));
    const pairs: KmeansPartial[] = [];
    for (let i = 0; i < parts.length; i += 3) pairs.push(fold(parts.slice(i, i + 3)));
    const tasks = fold(pairs);
    const next = async (partial: KmeansPartial) =>
      ((await kmeans.finalize(partial, state, { io: undefined as never })) as { state: KmeansState }).state
        .starts[0]!.candidates;
    const expected = await next(left);
    assert.ok(expected.length > 2, 'the round added candidates');
    assert.deepEqual(await next(grouped), expected);
    assert.deepEqual(await next(tasks), expected);
  });
});

describe('kmeans: bad requests', () => {
  const dataset = makeDataset(
    [
      { name: 'x', type: 'numeric', values: [1, 2, 3, 4] },
      { name: 'g', type: 'factor', values: ['a', 'b', 'a', 'b'] },
    ],
    2,
  );
  const cases: Array<[string, Record<string, unknown>, string, number]> = [
    ['neither k nor centers', { formula: '~ x' }, 'INVALID_PARAMS', 400],
    ['centers of the wrong width', { formula: '~ x', centers: [[1, 2]] }, 'INVALID_PARAMS', 400],
    ['k and centers disagree', { formula: '~ x', numClusters: 3, centers: [[1]] }, 'INVALID_PARAMS', 400],
    ['a factor term', { formula: '~ x + g', numClusters: 2 }, 'WRONG_VARIABLE_TYPE', 422],
    ['a response', { formula: 'x ~ g', numClusters: 2 }, 'INVALID_FORMULA', 400],
    [
      'an unknown algorithm',
      { formula: '~ x', numClusters: 2, algorithm: 'Hartigan' },
      'INVALID_PARAMS',
      400,
    ],
    [
      'outColName taken',
      { formula: '~ x', numClusters: 2, outName: 'o', outColName: 'x' },
      'DUPLICATE_VARIABLE',
      400,
    ],
  ];
  for (const [name, params, code, status] of cases) {
    it(`refuses ${name} (${status} ${code})`, () => {
      assert.throws(
        () => kmeans.init(params as KmeansParams, dataset.meta),
        (error: unknown) => error instanceof UserError && error.code === code && error.status === status,
      );
    });
  }

  it('refuses more clusters than complete rows (422)', async () => {
    await assert.rejects(run({ formula: '~ x', numClusters: 5, seed: 1 }, dataset), {
      code: 'TOO_FEW_OBSERVATIONS',
      status: 422,
    });
  });
});

describe('kmeans: the output dataset (outFile) and the scoring function', () => {
  it('writes the input columns and .rxCluster, missing where a value is missing', async () => {
    const { dataset, points } = blobs(
      [
        [0, 0],
        [6, 6],
      ],
      100,
      37,
      4,
      17,
    );
    const { result, io } = await run(
      { formula: '~ x1 + x2', numClusters: 2, seed: 5, outName: 'clustered' },
      dataset,
    );
    const out = result.dataset as unknown as DatasetMeta;
    assert.equal(out.name, 'clustered');
    assert.equal(out.numRows, 200);
    assert.deepEqual(
      out.variables.map((v) => v.name),
      ['x1', 'x2', '.rxCluster'],
    );
    const model = await io.io.loadModel(result.modelId);
    assert.equal(model.type, 'kmeans');
    assert.ok(isKmeansModelBody(model.body));
    const written: Array<number | null> = [];
    for (let c = 0; c < out.numChunks; c++) {
      const table = await io.store.readChunk(out.id, c);
      const cluster = readNumeric(table, '.rxCluster');
      for (let i = 0; i < table.numRows; i++)
        written.push(cluster.valid?.[i] === 0 ? null : cluster.values[i]!);
    }
    const x1 = dataset.chunks.flatMap((c) =>
      Array.from({ length: c.numRows }, (_, i) => c.table.getChild('x1')!.get(i)),
    );
    const x2 = dataset.chunks.flatMap((c) =>
      Array.from({ length: c.numRows }, (_, i) => c.table.getChild('x2')!.get(i)),
    );
    points.forEach((x, i) => {
      if (x1[i] === null || x2[i] === null) {
        assert.equal(written[i], null, `row ${i} has a missing value`);
        return;
      }
      const d = result.centers.map((c) => (c[0]! - x[0]!) ** 2 + (c[1]! - x[1]!) ** 2);
      assert.equal(written[i], d.indexOf(Math.min(...d)) + 1, `row ${i}`);
    });
    const sizes = result.size.map((_, c) => written.filter((w) => w === c + 1).length);
    assert.deepEqual(sizes, result.size);
    // The scoring function gives the same column on the input's chunks.
    const plan = planKmeansScoring(model.body as never, dataset.meta.variables);
    const scored = dataset.chunks.flatMap((chunk) => {
      const column = scoreKmeansChunk(plan, chunk.table).columns[0]!;
      return Array.from(column.values, (v, i) => (column.valid?.[i] === 0 ? null : v));
    });
    assert.deepEqual(scored, written);
  });

  it('writes only extraVarsToWrite (and the model variables with writeModelVars), under outColName', async () => {
    const iris = await irisDataset(20);
    const { result } = await run(
      {
        formula: '~ Petal.Length + Petal.Width',
        numClusters: 3,
        seed: 2,
        outName: 'o',
        extraVarsToWrite: ['Species'],
        writeModelVars: true,
        outColName: 'cluster',
      },
      iris,
    );
    const out = result.dataset as unknown as DatasetMeta;
    assert.deepEqual(
      out.variables.map((v) => v.name),
      ['Species', 'Petal.Length', 'Petal.Width', 'cluster'],
    );
    assert.deepEqual(out.variables[3], { name: 'cluster', type: 'integer', low: 1, high: 3, missing: 0 });
    assert.equal(result.passes, 4 + result.iterations + 1, 'one more pass writes the output');
  });

  it('clusters and writes a variable that transforms make', async () => {
    const { dataset, complete } = blobs(
      [
        [0, 0],
        [6, 6],
      ],
      60,
      25,
      8,
    );
    const start = [
      [complete[0]![0]! * 2, complete[0]![1]!],
      [complete[1]![0]! * 2, complete[1]![1]!],
    ];
    const { result, io } = await run(
      { formula: '~ z + x2', centers: start, outName: 'o', transforms: { z: 'x1 * 2' } } as KmeansParams,
      dataset,
    );
    const plain = plainLloyd(
      complete.map((x) => [x[0]! * 2, x[1]!]),
      start,
    );
    assert.deepEqual(result.size, plain.size);
    const out = result.dataset as unknown as DatasetMeta;
    assert.deepEqual(
      out.variables.map((v) => v.name),
      ['x1', 'x2', 'z', '.rxCluster'],
    );
    const first = await io.store.readChunk(out.id, 0);
    assert.equal(first.getChild('z')!.get(0), complete[0]![0]! * 2);
  });

  it('the scoring plan refuses data without the model variables (422)', async () => {
    const iris = await irisDataset(50);
    const { result, io } = await run({ formula: IRIS_FORMULA, numClusters: 2, seed: 1 }, iris);
    const body = (await io.io.loadModel(result.modelId)).body as never;
    assert.throws(() => planKmeansScoring(body, iris.meta.variables.slice(1)), { code: 'MISSING_VARIABLES' });
    const asFactor = iris.meta.variables.map((v) =>
      v.name === 'Petal.Width' ? { ...v, type: 'factor' as const } : v,
    );
    assert.throws(() => planKmeansScoring(body, asFactor), { code: 'WRONG_VARIABLE_TYPE' });
  });
});
