import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Value } from 'typebox/value';
import {
  type CrossTabsResult,
  CrossTabsResultSchema,
  crossTabs,
} from '../../src/engine/analyses/crossTabs.ts';
import { runInProcess } from '../../src/engine/runInProcess.ts';
import { UserError } from '../../src/userError.ts';
import {
  closeTo,
  printedDigits,
  type RTests,
  referenceDataset,
  rValues,
  UCB_LEVELS,
  ucbDataset,
} from './crossTabsData.ts';
import { makeDataset, referenceJson, seededRandom, type TestDataset } from './helpers.ts';

/**
 * crossTabs against R: the chi-squared reference case of ../shared/data/reference (Agresti's party by
 * gender, R's chisq.test output), RevoScaleR's documented UCBAdmissions output (REVOSCALER.md
 * section 6), and R 4.2's summary.table, fisher.test, cor.test(kendall) on the same tables
 * (fixtures/crosstabs/r_values.json, from make_reference.R). Data in small chunks so merging is exercised.
 */

async function run(params: Record<string, unknown>, dataset: TestDataset): Promise<CrossTabsResult> {
  const result = (await runInProcess(crossTabs, params, dataset.meta, dataset.chunks)) as CrossTabsResult;
  assert.ok(Value.Check(CrossTabsResultSchema, result), 'result fits the schema');
  return result;
}

type Table = CrossTabsResult['tables'][number];

/** Every test of a table against R's values: p-values and statistics to 1e-10, R's printed digits. */
function checkAgainstR(table: Table, r: RTests, what: string): void {
  assert.deepEqual(table.counts, r.counts, `${what} counts`);
  const chi = table.chiSquaredTest;
  assert.ok(chi, `${what} chi-squared`);
  closeTo(chi.statistic, r.chisq.statistic, 1e-12, `${what} X-squared`);
  assert.equal(chi.df, r.chisq.df);
  closeTo(chi.pValue, r.chisq.p_value, 1e-10, `${what} chi-squared p`);
  const k = table.kendallTau;
  assert.ok(k, `${what} kendall`);
  closeTo(k.estimate, r.kendall.tau_b, 1e-12, `${what} tau-b`);
  closeTo(k.statistic, r.kendall.z, 1e-12, `${what} z`);
  closeTo(k.pValue, r.kendall.p_value, 1e-10, `${what} kendall p`);
  if (r.fisher) {
    const f = table.fisherTest;
    assert.ok(f, `${what} fisher`);
    closeTo(f.pValue, r.fisher.p_value, 1e-10, `${what} fisher p`);
    // The exact conditional MLE and interval (R's code with a tight uniroot tolerance) ...
    closeTo(f.oddsRatio, r.fisher.estimate, 1e-9, `${what} conditional MLE`);
    closeTo(f.confInt[0], r.fisher.conf_int[0], 1e-9, `${what} fisher lower`);
    closeTo(f.confInt[1], r.fisher.conf_int[1], 1e-9, `${what} fisher upper`);
    // ... and fisher.test's own output, which stops at uniroot's default tolerance (1.2e-4 on psi or 1/psi).
    closeTo(f.oddsRatio, r.fisher.estimate_R_default, 2e-3, `${what} R's printed MLE`);
    closeTo(f.confInt[0], r.fisher.conf_int_R_default[0], 2e-3, `${what} R's printed lower`);
  }
  if (r.odds_ratio) {
    const o = table.oddsRatio;
    assert.ok(o, `${what} odds ratio`);
    closeTo(o.estimate, r.odds_ratio.estimate, 1e-12, `${what} odds ratio`);
    closeTo(o.confInt[0], r.odds_ratio.conf_int[0], 1e-12, `${what} OR lower`);
    closeTo(o.confInt[1], r.odds_ratio.conf_int[1], 1e-12, `${what} OR upper`);
    closeTo(o.pValue, r.odds_ratio.p_value, 1e-10, `${what} OR p`);
  }
  if (r.risk_ratio) {
    const o = table.riskRatio;
    assert.ok(o, `${what} risk ratio`);
    closeTo(o.estimate, r.risk_ratio.estimate, 1e-12, `${what} risk ratio`);
    closeTo(o.confInt[0], r.risk_ratio.conf_int[0], 1e-12, `${what} RR lower`);
    closeTo(o.confInt[1], r.risk_ratio.conf_int[1], 1e-12, `${what} RR upper`);
    closeTo(o.pValue, r.risk_ratio.p_value, 1e-10, `${what} RR p`);
  }
}

const ALL_TESTS = { fisherTest: true, oddsRatio: true, riskRatio: true, kendallTau: true };

interface AgrestiCase {
  expected: {
    x_squared: number;
    df: number;
    p_value: number;
    observed: Record<string, Record<string, number>>;
  };
}

describe('crossTabs (rxCrossTabs)', () => {
  it("reference case chisq_agresti_party_gender: R's X-squared 30.07, df 2, p 2.954e-07 (one row per chunk)", async () => {
    const ref = await referenceJson<AgrestiCase>('r_reference/cases/chisq_agresti_party_gender.json');
    const parties = ['Democrat', 'Independent', 'Republican'];
    const ds = await referenceDataset(
      'agresti_party_gender_long.csv',
      { gender: ['F', 'M'], party: parties },
      1,
    );
    const result = await run({ formula: '~ gender:party', fweights: 'count' }, ds);
    const table = result.tables[0] as Table;
    assert.equal(result.tables.length, 1);
    assert.deepEqual(table.rowLevels, ['F', 'M']);
    assert.deepEqual(table.columnLevels, parties);
    assert.deepEqual(
      table.counts,
      ['F', 'M'].map((g) => parties.map((p) => ref.expected.observed[g]?.[p])),
    );
    const chi = table.chiSquaredTest;
    assert.ok(chi);
    printedDigits(chi.statistic, ref.expected.x_squared, 4, 'X-squared');
    assert.equal(chi.df, ref.expected.df);
    printedDigits(chi.pValue, ref.expected.p_value, 4, 'p-value');
    assert.deepEqual(result.warnings, []);
    // The same counts as a response summed per cell give the same counts table of sums.
    const summed = await run({ formula: 'count ~ gender:party' }, ds);
    assert.deepEqual(summed.tables[0]?.sums, table.counts);
    assert.equal(summed.tables[0]?.name, 'count');
  });

  it("UCBAdmissions Freq ~ Gender:Admit:Dept: RevoScaleR's documented sums, Row% and grand total", async () => {
    const result = await run({ formula: 'Freq ~ Gender:Admit:Dept', marginals: true }, await ucbDataset(5));
    // REVOSCALER.md section 6 (rxCrossTabs help example output).
    const sums: Record<string, number[][]> = {
      A: [
        [512, 313],
        [89, 19],
      ],
      B: [
        [353, 207],
        [17, 8],
      ],
      C: [
        [120, 205],
        [202, 391],
      ],
      D: [
        [138, 279],
        [131, 244],
      ],
      E: [
        [53, 138],
        [94, 299],
      ],
      F: [
        [22, 351],
        [24, 317],
      ],
    };
    assert.deepEqual(
      result.tables.map((t) => t.name),
      UCB_LEVELS.Dept.map((d) => `Freq, Dept = ${d}`),
    );
    for (const table of result.tables) {
      const dept = table.layer['Dept'] as string;
      assert.deepEqual(table.rowLevels, UCB_LEVELS.Gender);
      assert.deepEqual(table.columnLevels, UCB_LEVELS.Admit);
      assert.deepEqual(table.sums, sums[dept]);
      assert.deepEqual(table.counts, [
        [1, 1],
        [1, 1],
      ]);
    }
    const a = result.tables[0]?.marginals;
    assert.ok(a?.sums);
    // summary(): Dept A, Male Row% 62.060606 / 37.939394, Grand Total 933.
    const male = a.sums.rowTotals[0] as number;
    printedDigits((100 * 512) / male, 62.060606, 8, 'Row% admitted');
    printedDigits((100 * 313) / male, 37.939394, 8, 'Row% rejected');
    assert.equal(a.sums.grandTotal, 933);
    assert.deepEqual(a.sums.columnTotals, [601, 332]);
    assert.deepEqual(a.counts, { rowTotals: [2, 2], columnTotals: [2, 2], grandTotal: 4 });
  });

  it('UCBAdmissions by department, Freq as fweights: chi-squared, Fisher, odds and risk ratios, tau-b as R', async () => {
    const ref = await rValues();
    const result = await run(
      { formula: '~ Gender:Admit:Dept', fweights: 'Freq', ...ALL_TESTS },
      await ucbDataset(3),
    );
    assert.equal(result.tables.length, 6);
    result.tables.forEach((table, i) => {
      const r = ref.ucb_by_dept[i] as RTests & { dept: string };
      assert.equal(table.name, `Dept = ${r.dept}`);
      checkAgainstR(table, r, `Dept ${r.dept}`);
    });
    // All departments together, at a 90% confidence level.
    const total = await run(
      { formula: '~ Gender:Admit', fweights: 'Freq', confLevel: 0.9, ...ALL_TESTS },
      await ucbDataset(4),
    );
    checkAgainstR(total.tables[0] as Table, ref.ucb_total_conf90, 'all departments');
    assert.equal(total.tables[0]?.fisherTest?.confLevel, 0.9);
  });

  it('infert education x F(spontaneous): chi-squared and tau-b on a 3 x 3 table as R', async () => {
    const ref = await rValues();
    const ds = await referenceDataset('infert.csv', { education: ['0-5yrs', '6-11yrs', '12+ yrs'] }, 16);
    const result = await run(
      { formula: '~ education:F(spontaneous)', kendallTau: true, fisherTest: true },
      ds,
    );
    const table = result.tables[0] as Table;
    assert.deepEqual(table.columnLevels, ['0', '1', '2']);
    checkAgainstR(table, ref.infert_education_spontaneous, 'infert');
    // Fisher's test is for 2 x 2 tables: null, and a warning says why.
    assert.equal(table.fisherTest, null);
    assert.match(
      result.warnings.join('\n'),
      /is 3 x 3: Fisher's exact test is computed for 2 x 2 tables only/,
    );
  });

  it('mtcars gear 3-4 x vs (rxRiskRatio help example): F() ranges and rowSelection give the 2 x 2 table', async () => {
    const ref = await rValues();
    const ds = await referenceDataset('mtcars.csv', {}, 5, ['model']);
    const viaRange = await run({ formula: '~ F(gear, low = 3, high = 4):F(vs)', ...ALL_TESTS }, ds);
    checkAgainstR(viaRange.tables[0] as Table, ref.mtcars_gear34_vs, 'mtcars');
    assert.equal(viaRange.nMissingObs, 5, 'the five 5-gear cars fall outside F(gear, 3, 4)');
    const viaSelection = await run(
      { formula: '~ F(gear):F(vs)', rowSelection: 'gear <= 4', removeZeroCounts: true, ...ALL_TESTS },
      ds,
    );
    assert.deepEqual(viaSelection.tables[0]?.rowLevels, ['3', '4']);
    checkAgainstR(viaSelection.tables[0] as Table, ref.mtcars_gear34_vs, 'mtcars rowSelection');
    // Without removeZeroCounts the empty gear-5 row stays, and the tests of 2 x 2 tables say they skip it.
    const full = await run({ formula: '~ F(gear):F(vs)', rowSelection: 'gear <= 4', oddsRatio: true }, ds);
    assert.deepEqual(full.tables[0]?.counts, [...ref.mtcars_gear34_vs.counts, [0, 0]]);
    assert.equal(full.tables[0]?.oddsRatio, null);
    assert.match(
      full.warnings.join('\n'),
      /1 rows and 0 columns without observations are left out of the chi-squared test/,
    );
    closeTo(
      full.tables[0]?.chiSquaredTest?.statistic,
      ref.mtcars_gear34_vs.chisq.statistic,
      1e-12,
      'chi-squared without the empty row',
    );
  });

  it('sums, means and marginals with weights and missing values, against plain loops', async () => {
    const next = seededRandom(7);
    const n = 300;
    const pick = <T>(xs: readonly T[]) => xs[Math.floor(next() * xs.length)] as T;
    const a = Array.from({ length: n }, (_, i) => (i % 29 === 0 ? null : pick(['a1', 'a2', 'a3'])));
    const b = Array.from({ length: n }, () => pick(['b1', 'b2', 'b3', 'b4']));
    const c = Array.from({ length: n }, () => pick(['c1', 'c2']));
    const y = Array.from({ length: n }, (_, i) => (i % 13 === 0 ? null : Math.round(next() * 1e4) / 100));
    const w = Array.from({ length: n }, () => Math.round(next() * 300) / 100);
    const ds = makeDataset(
      [
        { name: 'a', type: 'factor', values: a, levels: ['a1', 'a2', 'a3'] },
        { name: 'b', type: 'factor', values: b, levels: ['b1', 'b2', 'b3', 'b4'] },
        { name: 'c', type: 'factor', values: c, levels: ['c1', 'c2'] },
        { name: 'y', type: 'numeric', values: y },
        { name: 'w', type: 'numeric', values: w },
      ],
      17,
    );
    const result = await run({ formula: 'y ~ a:b:c', pweights: 'w', means: true, marginals: true }, ds);
    assert.equal(result.tables.length, 2);
    let used = 0;
    for (const table of result.tables) {
      const layer = table.layer['c'];
      const counts = [0, 1, 2].map(() => [0, 0, 0, 0]);
      const sums = [0, 1, 2].map(() => [0, 0, 0, 0]);
      for (let i = 0; i < n; i++) {
        if (c[i] !== layer || a[i] === null || y[i] === null) continue;
        const r = ['a1', 'a2', 'a3'].indexOf(a[i] as string);
        const col = ['b1', 'b2', 'b3', 'b4'].indexOf(b[i] as string);
        (counts[r] as number[])[col] = ((counts[r] as number[])[col] as number) + (w[i] as number);
        (sums[r] as number[])[col] =
          ((sums[r] as number[])[col] as number) + (w[i] as number) * (y[i] as number);
        used++;
      }
      const close = (x: number | null | undefined, e: number, what: string) =>
        assert.ok(
          x !== null && x !== undefined && Math.abs(x - e) <= 1e-9 * Math.max(1, Math.abs(e)),
          `${what}: ${x} vs ${e}`,
        );
      counts.forEach((row, i) => {
        row.forEach((count, j) => {
          close(table.counts[i]?.[j], count, 'count');
          close(table.sums?.[i]?.[j], (sums[i] as number[])[j] as number, 'sum');
          if (count > 0) close(table.means?.[i]?.[j], ((sums[i] as number[])[j] as number) / count, 'mean');
          else assert.equal(table.means?.[i]?.[j], null);
        });
      });
      const m = table.marginals;
      assert.ok(m?.sums && m.means);
      const rowCount = counts.map((row) => row.reduce((s, v) => s + v, 0));
      const rowSum = sums.map((row) => row.reduce((s, v) => s + v, 0));
      const colCount = [0, 1, 2, 3].map((j) => counts.reduce((s, row) => s + (row[j] as number), 0));
      const colSum = [0, 1, 2, 3].map((j) => sums.reduce((s, row) => s + (row[j] as number), 0));
      for (const [i, v] of rowCount.entries()) close(m.counts.rowTotals[i], v, 'row total');
      for (const [j, v] of colSum.entries()) close(m.sums?.columnTotals[j], v, 'column sum');
      for (const [i, v] of rowSum.entries())
        close(m.means?.rowMeans[i], v / (rowCount[i] as number), 'row mean');
      for (const [j, v] of colSum.entries())
        close(m.means?.columnMeans[j], v / (colCount[j] as number), 'column mean');
      const grand = rowCount.reduce((s, v) => s + v, 0);
      close(m.counts.grandTotal, grand, 'grand total');
      close(m.means.grandMean, rowSum.reduce((s, v) => s + v, 0) / grand, 'grand mean');
    }
    assert.equal(result.nValidObs, used);
    assert.equal(result.nMissingObs, n - used);
  });

  it('removeZeroCounts drops empty rows, columns and tables; one factor gives one-column tables', async () => {
    const ds = makeDataset(
      [
        { name: 'a', type: 'factor', values: ['x', 'x', 'z', 'z'], levels: ['x', 'y', 'z'] },
        { name: 'b', type: 'factor', values: ['p', 'q', 'p', 'p'], levels: ['p', 'q', 'r'] },
        { name: 'c', type: 'factor', values: ['k', 'k', 'k', 'k'], levels: ['k', 'l'] },
      ],
      3,
    );
    const full = await run({ formula: '~ a:b:c' }, ds);
    assert.equal(full.tables.length, 2);
    assert.deepEqual(full.tables[1]?.counts, [
      [0, 0, 0],
      [0, 0, 0],
      [0, 0, 0],
    ]);
    assert.equal(full.tables[1]?.chiSquaredTest, null);
    const sparse = await run({ formula: '~ a:b:c', removeZeroCounts: true }, ds);
    assert.equal(sparse.tables.length, 1);
    assert.deepEqual(sparse.tables[0]?.rowLevels, ['x', 'z']);
    assert.deepEqual(sparse.tables[0]?.columnLevels, ['p', 'q']);
    assert.deepEqual(sparse.tables[0]?.counts, [
      [1, 1],
      [2, 0],
    ]);
    const one = await run({ formula: '~ a', marginals: true }, ds);
    assert.equal(one.columnFactor, null);
    assert.deepEqual(one.tables[0]?.counts, [[2], [0], [2]]);
    assert.equal(one.tables[0]?.chiSquaredTest, null);
    assert.equal(one.tables[0]?.marginals?.counts.grandTotal, 4);
  });

  it('a zero cell leaves the odds ratio and its interval null, with a warning; Fisher copes', async () => {
    const ds = makeDataset(
      [
        { name: 'a', type: 'factor', values: ['x', 'x', 'x', 'y', 'y'], levels: ['x', 'y'] },
        { name: 'b', type: 'factor', values: ['p', 'p', 'p', 'p', 'q'], levels: ['p', 'q'] },
      ],
      2,
    );
    const result = await run({ formula: '~ a:b', ...ALL_TESTS }, ds);
    const table = result.tables[0] as Table;
    assert.equal(table.oddsRatio?.estimate, null);
    assert.deepEqual(table.oddsRatio?.confInt, [null, null]);
    assert.match(result.warnings.join('\n'), /a cell count of 0 leaves the odds ratio/);
    // x is at the top of its support (3 of 3): R gives odds ratio Inf, interval [lower, Inf], p 0.4.
    assert.equal(table.fisherTest?.oddsRatio, null);
    assert.equal(table.fisherTest?.confInt[1], null);
    closeTo(table.fisherTest?.pValue, 0.4, 1e-12, 'fisher p');
  });

  it('refuses +, numeric factors and crossings too large to tabulate', async () => {
    const ds = await ucbDataset(24);
    const refusal = async (params: Record<string, unknown>) => {
      try {
        await runInProcess(crossTabs, params, ds.meta, ds.chunks);
      } catch (error) {
        assert.ok(error instanceof UserError);
        return error;
      }
      assert.fail('expected a refusal');
    };
    const plus = await refusal({ formula: '~ Gender + Admit' });
    assert.equal(plus.status, 400);
    assert.match(plus.message, /'\+' is not allowed at column 10/);
    assert.equal((await refusal({ formula: '~ Gender:Freq' })).code, 'WRONG_VARIABLE_TYPE');
    assert.equal((await refusal({ formula: '~ Gender:Admit', confLevel: 1 })).code, 'INVALID_PARAMS');
    const big = makeDataset(
      [
        {
          name: 'p',
          type: 'factor',
          values: ['l0'],
          levels: Array.from({ length: 2000 }, (_, i) => `l${i}`),
        },
        {
          name: 'q',
          type: 'factor',
          values: ['l0'],
          levels: Array.from({ length: 2000 }, (_, i) => `l${i}`),
        },
      ],
      1,
    );
    try {
      await runInProcess(crossTabs, { formula: '~ p:q' }, big.meta, big.chunks);
      assert.fail('expected TOO_MANY_CELLS');
    } catch (error) {
      assert.ok(error instanceof UserError);
      assert.equal(error.code, 'TOO_MANY_CELLS');
      assert.match(error.message, /removeZeroCounts: true/);
    }
  });
});
