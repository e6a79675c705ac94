import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import request from 'supertest';
import { referenceText, runJob, uploadCsv } from '../helpers/api.ts';
import { startServer, type TestServer } from '../helpers/server.ts';

/**
 * F() and friends through HTTP, real Redis and a real worker: the kyphosis data (81 rows) in 7-row
 * chunks, against values computed here from the CSV and against RevoScaleR's published counts.
 */

interface Cell {
  levels: Record<string, string>;
  mean: number | null;
  validObs: number;
}
interface SummaryResult {
  byGroup: { name: string; groups: string[]; cells: Cell[] }[];
  categorical: { name: string; counts: { levels: Record<string, string>; count: number }[] }[];
}

describe('formula terms through the job engine', () => {
  let server: TestServer;
  let dataset: string;
  let rows: { kyphosis: string; age: number; number: number }[];

  before(async () => {
    server = await startServer();
    await server.startWorkers(1);
    const csv = await referenceText('r_reference/data/kyphosis.csv');
    rows = csv
      .trim()
      .split('\n')
      .slice(1)
      .map((line) => {
        const [kyphosis, age, number] = line.split(',');
        return { kyphosis: (kyphosis as string).replace(/"/g, ''), age: Number(age), number: Number(number) };
      });
    dataset = (await uploadCsv(server.url, csv, { rowsPerChunk: 7 })).id;
  });
  after(() => server.close());

  it('summary ~ Age:F(Number) + Kyphosis:F(Number): means by level and RevoScaleR counts', async () => {
    const result = await runJob<SummaryResult>(server.url, {
      type: 'summary',
      dataset,
      params: { formula: '~ Age:F(Number) + Kyphosis:F(Number)' },
    });
    const byNumber = result.byGroup[0];
    assert.equal(byNumber?.name, 'Age');
    assert.deepEqual(byNumber?.groups, ['F_Number']);
    // One level per integer from the stored low (2) to high (10), the empty level 8 included.
    assert.deepEqual(
      byNumber?.cells.map((c) => c.levels['F_Number']),
      ['2', '3', '4', '5', '6', '7', '8', '9', '10'],
    );
    for (const cell of byNumber?.cells ?? []) {
      const ages = rows.filter((r) => r.number === Number(cell.levels['F_Number'])).map((r) => r.age);
      assert.equal(cell.validObs, ages.length);
      if (ages.length === 0) assert.equal(cell.mean, null);
      else {
        const mean = ages.reduce((a, b) => a + b, 0) / ages.length;
        assert.ok(Math.abs((cell.mean as number) - mean) <= 1e-12 * mean, `${cell.mean} vs ${mean}`);
      }
    }
    // RevoScaleR's documented rxCube(~ Kyphosis:F(Number)) counts (REVOSCALER.md section 6).
    const published: Record<string, [number, number]> = {
      2: [12, 0],
      3: [19, 4],
      4: [16, 2],
      5: [12, 5],
      6: [2, 2],
      7: [2, 3],
      8: [0, 0],
      9: [1, 0],
      10: [0, 1],
    };
    const counts = result.categorical[0]?.counts ?? [];
    for (const [number, [absent, present]] of Object.entries(published)) {
      const find = (k: string) =>
        counts.find((c) => c.levels['Kyphosis'] === k && c.levels['F_Number'] === number)?.count;
      assert.deepEqual([find('absent'), find('present')], [absent, present], `Number ${number}`);
    }
  });

  it('in-line functions, transforms and rowSelection: values computed here from the CSV', async () => {
    interface Stats {
      stats: { name: string; mean: number; validObs: number; min: number; max: number }[];
    }
    const result = await runJob<Stats>(server.url, {
      type: 'summary',
      dataset,
      params: {
        formula: '~ log(Age) + ageYears + pow(Number, 2)',
        transforms: { ageYears: 'Age / 12', old: 'Age > 100' },
        rowSelection: 'old & Kyphosis == "absent"',
      },
    });
    const kept = rows.filter((r) => r.age > 100 && r.kyphosis === 'absent');
    assert.ok(kept.length > 5 && kept.length < rows.length, 'the selection keeps some rows, not all');
    const mean = (values: number[]) => values.reduce((a, b) => a + b, 0) / values.length;
    const expected: Record<string, number[]> = {
      'log(Age)': kept.map((r) => Math.log(r.age)),
      ageYears: kept.map((r) => r.age / 12),
      'pow(Number, 2)': kept.map((r) => r.number ** 2),
    };
    assert.deepEqual(
      result.stats.map((s) => s.name),
      Object.keys(expected),
    );
    for (const stat of result.stats) {
      const values = expected[stat.name] as number[];
      assert.equal(stat.validObs, values.length, stat.name);
      assert.ok(Math.abs(stat.mean - mean(values)) <= 1e-12 * Math.abs(mean(values)), stat.name);
      assert.equal(stat.min, Math.min(...values), stat.name);
      assert.equal(stat.max, Math.max(...values), stat.name);
    }
  });

  it('bad expressions and bad F() ranges are refused before queueing', async () => {
    const inline = await request(server.url)
      .post('/v1/jobs')
      .send({ type: 'summary', dataset, params: { formula: '~ Age', rowSelection: 'Age >> 3' } })
      .expect(400);
    assert.equal(inline.body.error.code, 'INVALID_EXPRESSION');
    assert.match(inline.body.error.message, /column/);
    const hostile = await request(server.url)
      .post('/v1/jobs')
      .send({
        type: 'summary',
        dataset,
        params: { formula: '~ Age', transforms: { x: 'constructor.constructor("return process")()' } },
      })
      .expect(400);
    assert.match(hostile.body.error.code, /INVALID_EXPRESSION|UNKNOWN_/);
    const range = await request(server.url)
      .post('/v1/jobs')
      .send({ type: 'summary', dataset, params: { formula: '~ F(Kyphosis, 1, 3)' } })
      .expect(400);
    assert.equal(range.body.error.code, 'INVALID_FORMULA');
    assert.match(range.body.error.message, /level number from 1 to 2/);
  });
});
