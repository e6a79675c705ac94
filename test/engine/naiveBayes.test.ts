import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Value } from 'typebox/value';
import {
  type NaiveBayesParams,
  type NaiveBayesResult,
  NaiveBayesResultSchema,
  naiveBayes,
} from '../../src/engine/analyses/naiveBayes.ts';
import {
  isNaiveBayesModelBody,
  type NaiveBayesModelBody,
  planNaiveBayesScoring,
  scoreNaiveBayesChunk,
} from '../../src/engine/models/naiveBayesScore.ts';
import { scoredTable } from '../../src/engine/models/scoredColumns.ts';
import { runInProcess } from '../../src/engine/runInProcess.ts';
import { UserError } from '../../src/userError.ts';
import {
  type ColumnSpec,
  irisDataset,
  makeDataset,
  parseCsv,
  referenceJson,
  referenceText,
  type TestDataset,
} from './helpers.ts';
import { tempJobIO } from './jobIOHelpers.ts';

async function fit(
  params: NaiveBayesParams,
  dataset: TestDataset,
): Promise<{ result: NaiveBayesResult; body: NaiveBayesModelBody }> {
  const { io } = await tempJobIO();
  const result = (await runInProcess(naiveBayes, params, dataset.meta, dataset.chunks, {
    io,
  })) as NaiveBayesResult;
  assert.ok(Value.Check(NaiveBayesResultSchema, result), 'result fits the schema');
  const model = await io.loadModel(result.modelId);
  assert.equal(model.type, 'naiveBayes');
  assert.ok(isNaiveBayesModelBody(model.body));
  return { result, body: model.body };
}

type Gaussian = Extract<NaiveBayesResult['tables'][number], { type: 'gaussian' }>;
type Categorical = Extract<NaiveBayesResult['tables'][number], { type: 'categorical' }>;

function gaussian(result: NaiveBayesResult, variable: string): Gaussian {
  const table = result.tables.find((t) => t.variable === variable);
  assert.ok(table && table.type === 'gaussian', `${variable} is gaussian`);
  return table;
}

function categorical(result: NaiveBayesResult, variable: string): Categorical {
  const table = result.tables.find((t) => t.variable === variable);
  assert.ok(table && table.type === 'categorical', `${variable} is categorical`);
  return table;
}

interface IrisSummaryCase {
  expected: {
    mean_by_species: Record<string, Record<string, number>>;
    sd_by_species_n_minus_1: Record<string, Record<string, number>>;
  };
}

const IRIS_NUMERIC = ['Sepal.Length', 'Sepal.Width', 'Petal.Length', 'Petal.Width'];

/** The normal density, written out: an independent check of the scorer's log-space arithmetic. */
function dnorm(x: number, mean: number, sd: number): number {
  return Math.exp(-0.5 * ((x - mean) / sd) ** 2) / (sd * Math.sqrt(2 * Math.PI));
}

describe('naiveBayes: the reference behaviour on iris', () => {
  it("Species ~ .: priors, per-class means and SAMPLE sds as R's naive Bayes prints them (7-row chunks)", async () => {
    const ref = await referenceJson<IrisSummaryCase>('r_reference/cases/summary_iris.json');
    const iris = await irisDataset(7);
    const { result } = await fit({ formula: 'Species ~ .' }, iris);
    assert.equal(result.response, 'Species');
    assert.deepEqual(result.levels, ['setosa', 'versicolor', 'virginica']);
    assert.deepEqual(result.apriori, [1 / 3, 1 / 3, 1 / 3]);
    assert.deepEqual(result.aprioriCounts, [50, 50, 50]);
    assert.deepEqual(
      result.tables.map((t) => t.variable),
      IRIS_NUMERIC,
    );
    for (const variable of IRIS_NUMERIC) {
      const table = gaussian(result, variable);
      result.levels.forEach((species, c) => {
        // Means are exact to 3 decimals; sds printed to 7 significant digits (the naivebayes package's coef()).
        const mean = ref.expected.mean_by_species[species]![variable]!;
        const sd = ref.expected.sd_by_species_n_minus_1[species]![variable]!;
        assert.ok(Math.abs(table.mean[c]! - mean) <= 1e-12, `${variable} ${species} mean ${table.mean[c]}`);
        assert.ok(
          Math.abs(table.sd[c]! - sd) <= 5e-7 * sd,
          `${variable} ${species} sd ${table.sd[c]} vs ${sd}`,
        );
        assert.equal(table.counts[c], 50);
      });
    }
    assert.equal(result.nValidObs, 150);
  });

  it('scores every row with the posterior of the prior times the normal densities', async () => {
    const iris = await irisDataset(9);
    const { result, body } = await fit({ formula: 'Species ~ .' }, iris);
    const plan = planNaiveBayesScoring(body, iris.meta.variables, { type: 'prob' });
    const classPlan = planNaiveBayesScoring(body, iris.meta.variables);
    let row = 0;
    let agree = 0;
    for (const chunk of iris.chunks) {
      const probs = scoreNaiveBayesChunk(plan, chunk.table);
      const classes = scoreNaiveBayesChunk(classPlan, chunk.table);
      assert.deepEqual(
        probs.columns.map((c) => c.name),
        ['setosa_prob', 'versicolor_prob', 'virginica_prob'],
      );
      assert.equal(classes.columns[0]!.name, 'Species_Pred');
      for (let i = 0; i < chunk.numRows; i++, row++) {
        const x = IRIS_NUMERIC.map((v) => iris.columns[v]![row]!);
        const joint = result.levels.map(
          (_, c) =>
            result.apriori[c]! *
            IRIS_NUMERIC.reduce(
              (p, v, j) => p * dnorm(x[j]!, gaussian(result, v).mean[c]!, gaussian(result, v).sd[c]!),
              1,
            ),
        );
        const total = joint.reduce((a, b) => a + b, 0);
        joint.forEach((j, c) => {
          assert.ok(Math.abs(probs.columns[c]!.values[i]! - j / total) <= 1e-12, `row ${row} class ${c}`);
        });
        const predicted = classes.columns[0]!.values[i]!;
        assert.equal(predicted, joint.indexOf(Math.max(...joint)));
        if (result.levels[predicted] === iris.species[row]) agree++;
      }
    }
    // e1071's naiveBayes on iris is known to misclassify 6 of the 150 training rows.
    assert.equal(agree, 144);
  });
});

describe('naiveBayes: categorical predictors, weights, smoothing', () => {
  async function partyGender(): Promise<{
    long: TestDataset;
    expanded: TestDataset;
    counts: Map<string, number>;
  }> {
    const { rows } = parseCsv(await referenceText('r_reference/data/agresti_party_gender_long.csv'));
    const counts = new Map(rows.map((r) => [`${r[1]}|${r[0]}`, Number(r[2])]));
    const long = makeDataset(
      [
        { name: 'gender', type: 'factor', values: rows.map((r) => r[0]!) },
        { name: 'party', type: 'factor', values: rows.map((r) => r[1]!) },
        { name: 'count', type: 'numeric', values: rows.map((r) => Number(r[2])) },
      ],
      2,
    );
    const gender: string[] = [];
    const party: string[] = [];
    for (const r of rows) {
      for (let i = 0; i < Number(r[2]); i++) {
        gender.push(r[0]!);
        party.push(r[1]!);
      }
    }
    const expanded = makeDataset(
      [
        { name: 'gender', type: 'factor', values: gender },
        { name: 'party', type: 'factor', values: party },
      ],
      333,
    );
    return { long, expanded, counts };
  }

  it('P(gender | party) with Laplace smoothing; fweights equal replicated rows', async () => {
    const { long, expanded, counts } = await partyGender();
    for (const smoothingFactor of [0, 1, 2.5]) {
      const weighted = (await fit({ formula: 'party ~ gender', fweights: 'count', smoothingFactor }, long))
        .result;
      const replicated = (await fit({ formula: 'party ~ gender', smoothingFactor }, expanded)).result;
      assert.deepEqual(weighted.tables, replicated.tables);
      assert.deepEqual(weighted.apriori, replicated.apriori);
      const table = categorical(weighted, 'gender');
      assert.deepEqual(table.levels, ['F', 'M']);
      weighted.levels.forEach((party, c) => {
        const f = counts.get(`${party}|F`)!;
        const m = counts.get(`${party}|M`)!;
        assert.deepEqual(table.counts[c], [f, m]);
        assert.ok(
          Math.abs(table.probabilities[c]![0]! - (f + smoothingFactor) / (f + m + 2 * smoothingFactor)) <
            1e-15,
        );
        assert.ok(
          Math.abs(table.probabilities[c]![1]! - (m + smoothingFactor) / (f + m + 2 * smoothingFactor)) <
            1e-15,
        );
      });
      const total = [...counts.values()].reduce((a, b) => a + b, 0);
      weighted.levels.forEach((party, c) => {
        const n = counts.get(`${party}|F`)! + counts.get(`${party}|M`)!;
        assert.ok(Math.abs(weighted.apriori[c]! - n / total) < 1e-15);
      });
      assert.equal(weighted.sumOfWeights, total);
    }
  });

  it('missing values: per predictor with byTerm (default), listwise without', async () => {
    const specs: ColumnSpec[] = [
      { name: 'y', type: 'factor', values: ['a', 'a', 'b', 'b', 'b', null, 'a', 'b'] },
      { name: 'g', type: 'factor', values: ['u', null, 'v', 'u', 'v', 'u', 'v', 'v'] },
      { name: 'x', type: 'numeric', values: [1, 2, 3, null, 5, 6, 7, Number.NaN] },
    ];
    const dataset = makeDataset(specs, 3);
    const byTerm = (await fit({ formula: 'y ~ g + x' }, dataset)).result;
    // Response known on 7 rows: a a b b b a b.
    assert.deepEqual(byTerm.aprioriCounts, [3, 4]);
    assert.deepEqual(categorical(byTerm, 'g').counts, [
      [1, 1],
      [1, 3],
    ]);
    // x known (and not NaN) with y: a -> 1, 2, 7; b -> 3, 5.
    const x = gaussian(byTerm, 'x');
    assert.deepEqual(x.counts, [3, 2]);
    assert.ok(Math.abs(x.mean[0]! - 10 / 3) < 1e-15 && Math.abs(x.mean[1]! - 4) < 1e-15);
    assert.ok(
      Math.abs(x.sd[0]! - Math.sqrt(((1 - 10 / 3) ** 2 + (2 - 10 / 3) ** 2 + (7 - 10 / 3) ** 2) / 2)) < 1e-14,
    );
    assert.ok(Math.abs(x.sd[1]! - Math.sqrt(2)) < 1e-15);
    assert.equal(byTerm.nValidObs, 4);
    assert.equal(byTerm.nMissingObs, 4);

    // Listwise: rows 1 (a u 1), 3 (b v 3), 5 (b v 5), 7 (a v 7).
    const listwise = (await fit({ formula: 'y ~ g + x', byTerm: false }, dataset)).result;
    assert.deepEqual(listwise.aprioriCounts, [2, 2]);
    assert.deepEqual(categorical(listwise, 'g').counts, [
      [1, 1],
      [0, 2],
    ]);
    assert.deepEqual(gaussian(listwise, 'x').mean, [4, 4]);
  });

  it('a class with one row has no sd (null, with a warning), never NaN', async () => {
    const dataset = makeDataset(
      [
        { name: 'y', type: 'factor', values: ['a', 'a', 'a', 'b'], levels: ['a', 'b', 'c'] },
        { name: 'x', type: 'numeric', values: [1, 2, 4, 10] },
      ],
      2,
    );
    const { result } = await fit({ formula: 'y ~ x' }, dataset);
    const x = gaussian(result, 'x');
    assert.ok(Math.abs(x.mean[0]! - 7 / 3) < 1e-15);
    assert.deepEqual(x.mean.slice(1), [10, null]);
    assert.equal(x.sd[1], null);
    assert.equal(x.sd[2], null);
    assert.deepEqual(result.apriori, [0.75, 0.25, 0]);
    assert.ok(result.warnings.some((w) => /fewer than 2 rows in class 'b'/.test(w)));
    assert.ok(result.warnings.some((w) => /no rows of class 'c'/.test(w)));
  });

  it('pweights: weighted priors, means and sds as rxSummary computes them', async () => {
    const w = [1, 2, 3, 1, 1, 4];
    const xs = [1, 2, 3, 10, 20, 30];
    const dataset = makeDataset(
      [
        { name: 'y', type: 'factor', values: ['a', 'a', 'a', 'b', 'b', 'b'] },
        { name: 'x', type: 'numeric', values: xs },
        { name: 'w', type: 'numeric', values: w },
      ],
      4,
    );
    const { result } = await fit({ formula: 'y ~ x', pweights: 'w' }, dataset);
    assert.deepEqual(result.aprioriCounts, [6, 6]);
    const x = gaussian(result, 'x');
    const stats = (idx: number[]) => {
      const W = idx.reduce((s, i) => s + w[i]!, 0);
      const m = idx.reduce((s, i) => s + w[i]! * xs[i]!, 0) / W;
      const v = idx.reduce((s, i) => s + w[i]! * (xs[i]! - m) ** 2, 0) / (W - 1);
      return [m, Math.sqrt(v)];
    };
    const [ma, sa] = stats([0, 1, 2]);
    const [mb, sb] = stats([3, 4, 5]);
    assert.ok(Math.abs(x.mean[0]! - ma!) < 1e-14 && Math.abs(x.mean[1]! - mb!) < 1e-13);
    assert.ok(Math.abs(x.sd[0]! - sa!) < 1e-14 && Math.abs(x.sd[1]! - sb!) < 1e-13);
  });
});

describe('naiveBayes: scoring new data', () => {
  const training = makeDataset(
    [
      { name: 'y', type: 'factor', values: ['a', 'a', 'a', 'b', 'b', 'b', 'b', 'a'] },
      { name: 'g', type: 'factor', values: ['u', 'u', 'v', 'v', 'w', 'v', 'w', 'u'] },
      { name: 'x', type: 'numeric', values: [1, 2, 3, 7, 8, 9, 8.5, 1.5] },
    ],
    3,
  );

  it('matches factor levels by label (other order, text, unseen levels) and skips missing values', async () => {
    const { result, body } = await fit({ formula: 'y ~ g + x', smoothingFactor: 1 }, training);
    const g = categorical(result, 'g');
    const x = gaussian(result, 'x');
    const joint = (level: string | null, value: number | null) =>
      result.levels.map((_, c) => {
        let p = result.apriori[c]!;
        if (level !== null && g.levels.includes(level)) p *= g.probabilities[c]![g.levels.indexOf(level)]!;
        if (value !== null) p *= dnorm(value, x.mean[c]!, x.sd[c]!);
        return p;
      });
    const newRows = {
      g: ['w', 'u', 'zz', null, 'v'] as Array<string | null>,
      x: [5, 4.5, 5, 5, null] as Array<number | null>,
    };
    // New data with the levels in another order (and one the model never saw).
    const asFactor = makeDataset(
      [
        { name: 'x', type: 'numeric', values: newRows.x },
        { name: 'g', type: 'factor', values: newRows.g, levels: ['zz', 'w', 'v', 'u'] },
      ],
      5,
    );
    const asText = makeDataset(
      [
        { name: 'x', type: 'numeric', values: newRows.x },
        { name: 'g', type: 'string', values: newRows.g },
      ],
      5,
    );
    for (const data of [asFactor, asText]) {
      const plan = planNaiveBayesScoring(body, data.meta.variables, { type: 'prob' });
      const scored = scoreNaiveBayesChunk(plan, data.chunks[0]!.table);
      assert.equal(scored.unseenLevels, 1);
      assert.equal(scored.scored, 5);
      newRows.g.forEach((level, i) => {
        const p = joint(level, newRows.x[i]!);
        const total = p[0]! + p[1]!;
        assert.ok(Math.abs(scored.columns[0]!.values[i]! - p[0]! / total) < 1e-12, `row ${i}`);
        assert.ok(Math.abs(scored.columns[1]!.values[i]! - p[1]! / total) < 1e-12, `row ${i}`);
      });
    }
    // The class column is a factor with the response's levels; a table can be built from it.
    const classes = scoreNaiveBayesChunk(
      planNaiveBayesScoring(body, asFactor.meta.variables, { predVarName: 'yhat' }),
      asFactor.chunks[0]!.table,
    );
    const table = scoredTable(classes);
    assert.deepEqual(
      Array.from({ length: 5 }, (_, i) => table.getChild('yhat')!.get(i)),
      newRows.g.map((level, i) => {
        const p = joint(level, newRows.x[i]!);
        return p[0]! >= p[1]! ? 'a' : 'b';
      }),
    );
  });

  it('F() predictors are tables of their integer levels, in training and scoring', async () => {
    const data = makeDataset(
      [
        { name: 'y', type: 'factor', values: ['a', 'a', 'b', 'b', 'b'] },
        { name: 'age', type: 'numeric', values: [1.5, 2.2, 2.9, 3.1, 3.7] },
      ],
      2,
    );
    const { result, body } = await fit({ formula: 'y ~ F(age)', smoothingFactor: 0.5 }, data);
    const table = categorical(result, 'F_age');
    assert.deepEqual(table.levels, ['1', '2', '3']);
    assert.deepEqual(table.counts, [
      [1, 1, 0],
      [0, 1, 2],
    ]);
    assert.ok(Math.abs(table.probabilities[0]![2]! - 0.5 / 3.5) < 1e-15);
    const newData = makeDataset([{ name: 'age', type: 'numeric', values: [3.2, 1.1, 9] }], 3);
    const scored = scoreNaiveBayesChunk(
      planNaiveBayesScoring(body, newData.meta.variables, { type: 'prob' }),
      newData.chunks[0]!.table,
    );
    // Level 3: a has (0 + .5) / 3.5, b (2 + .5) / 4.5; priors 2/5 and 3/5. F() drops 9 (out of range): the prior.
    const pa = (2 / 5) * (0.5 / 3.5);
    const pb = (3 / 5) * (2.5 / 4.5);
    assert.ok(Math.abs(scored.columns[0]!.values[0]! - pa / (pa + pb)) < 1e-15);
    assert.ok(Math.abs(scored.columns[0]!.values[2]! - 2 / 5) < 1e-15);
  });

  it('a prior overrides the training priors', async () => {
    const { body } = await fit({ formula: 'y ~ x' }, training);
    const data = makeDataset([{ name: 'x', type: 'numeric', values: [5] }], 1);
    const even = scoreNaiveBayesChunk(
      planNaiveBayesScoring(body, data.meta.variables, { type: 'prob' }),
      data.chunks[0]!.table,
    );
    const skewed = scoreNaiveBayesChunk(
      planNaiveBayesScoring(body, data.meta.variables, { type: 'prob', prior: [9, 1] }),
      data.chunks[0]!.table,
    );
    const odds = (s: typeof even) => s.columns[0]!.values[0]! / s.columns[1]!.values[0]!;
    // Training priors are 1/2 each: the odds scale by 9.
    assert.ok(Math.abs(odds(skewed) / odds(even) - 9) < 1e-9);
    assert.throws(
      () => planNaiveBayesScoring(body, data.meta.variables, { prior: [1] }),
      (e: unknown) => e instanceof UserError && e.code === 'INVALID_PARAMS',
    );
  });

  it('zero probabilities and point masses decide outright; all-impossible rows are missing', async () => {
    const data = makeDataset(
      [
        { name: 'y', type: 'factor', values: ['a', 'a', 'b', 'b'] },
        { name: 'g', type: 'factor', values: ['u', 'u', 'v', 'v'] },
        { name: 'x', type: 'numeric', values: [1, 1, 2, 3] },
      ],
      4,
    );
    const { body } = await fit({ formula: 'y ~ g + x' }, data);
    const newData = makeDataset(
      [
        { name: 'g', type: 'factor', values: ['u', 'v', 'u', null], levels: ['u', 'v'] },
        { name: 'x', type: 'numeric', values: [1, 1, 5, 1] },
      ],
      4,
    );
    const scored = scoreNaiveBayesChunk(
      planNaiveBayesScoring(body, newData.meta.variables, { type: 'prob' }),
      newData.chunks[0]!.table,
    );
    const [a, b] = scored.columns;
    // Row 0: g = u (only a) and x = 1 (a's point mass): a for sure.
    assert.equal(a!.values[0], 1);
    assert.equal(b!.values[0], 0);
    // Row 1: g = v rules a out; b's normal density decides alone.
    assert.equal(b!.values[1], 1);
    // Row 2: g = u rules b out, x = 5 rules a's point mass out: no class is possible.
    assert.equal(a!.valid![2], 0);
    // Row 3: g missing, x = 1 sits on a's point mass.
    assert.equal(a!.values[3], 1);
    assert.equal(scored.scored, 3);
    assert.ok([...a!.values, ...b!.values].every(Number.isFinite));
  });

  it('refuses data without the model variables or with the wrong types (422)', async () => {
    const { body } = await fit({ formula: 'y ~ g + x' }, training);
    const noG = makeDataset([{ name: 'x', type: 'numeric', values: [1] }], 1);
    assert.throws(() => planNaiveBayesScoring(body, noG.meta.variables), { code: 'MISSING_VARIABLES' });
    const wrong = makeDataset(
      [
        { name: 'x', type: 'string', values: ['1'] },
        { name: 'g', type: 'numeric', values: [1] },
      ],
      1,
    );
    assert.throws(() => planNaiveBayesScoring(body, wrong.meta.variables), { code: 'WRONG_VARIABLE_TYPE' });
  });
});

describe('naiveBayes: bad requests', () => {
  const dataset = makeDataset(
    [
      { name: 'y', type: 'factor', values: ['a', 'b'] },
      { name: 'x', type: 'numeric', values: [1, 2] },
      { name: 'z', type: 'numeric', values: [1, 2] },
    ],
    2,
  );
  const cases: Array<[string, Record<string, unknown>, string, number]> = [
    ['a numeric response', { formula: 'x ~ z' }, 'WRONG_VARIABLE_TYPE', 422],
    ['no response', { formula: '~ x' }, 'INVALID_FORMULA', 400],
    ['an interaction', { formula: 'y ~ x:z' }, 'INVALID_FORMULA', 400],
    ['a negative smoothing factor', { formula: 'y ~ x', smoothingFactor: -1 }, 'INVALID_PARAMS', 400],
    ['an unknown variable', { formula: 'y ~ q' }, 'UNKNOWN_VARIABLE', 400],
  ];
  for (const [name, params, code, status] of cases) {
    it(`refuses ${name} (${status} ${code})`, () => {
      assert.throws(
        () => naiveBayes.init(params as NaiveBayesParams, dataset.meta),
        (error: unknown) => error instanceof UserError && error.code === code && error.status === status,
      );
    });
  }
});
