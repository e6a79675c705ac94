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

  it('in-line functions answer 501 until the expression language lands; bad F() ranges 400', async () => {
    const inline = await request(server.url)
      .post('/v1/jobs')
      .send({ type: 'summary', dataset, params: { formula: '~ log(Age)' } })
      .expect(501);
    assert.equal(inline.body.error.code, 'NOT_IMPLEMENTED');
    const range = await request(server.url)
      .post('/v1/jobs')
      .send({ type: 'summary', dataset, params: { formula: '~ F(Kyphosis, 1, 3)' } })
      .expect(400);
    assert.equal(range.body.error.code, 'INVALID_FORMULA');
    assert.match(range.body.error.message, /level number from 1 to 2/);
  });
});
