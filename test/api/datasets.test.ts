import assert from 'node:assert/strict';
import { readdir } from 'node:fs/promises';
import http from 'node:http';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { tableFromArrays, tableFromIPC, tableToIPC } from 'apache-arrow';
import { parquetWriteBuffer } from 'hyparquet-writer';
import request from 'supertest';
import { uploadCsv } from '../helpers/api.ts';
import { startServer, type TestServer } from '../helpers/server.ts';

/** Canonical CSV: numbers in shortest round-trip form, NA for missing, so an export must give it back byte for byte. */
const FLIGHTS = [
  'delay,distance,carrier,origin,onTime,day',
  '12.5,300,AA,JFK,TRUE,2024-01-01',
  '-3,1200,UA,LAX,FALSE,2024-01-02',
  'NA,450,AA,JFK,TRUE,2024-01-03',
  '7.25,NA,DL,SEA,NA,2024-01-04',
  '0,800,UA,JFK,FALSE,NA',
  '1e-7,50,AA,ORD,TRUE,2024-02-29',
  '3.141592653589793,2500,WN,LAX,TRUE,2024-03-01',
].join('\n');

/** Collects a binary response body (supertest buffers only text by default). */
function binary(res: request.Response, done: (error: Error | null, body: Buffer) => void): void {
  const parts: Buffer[] = [];
  res.on('data', (c: Buffer) => parts.push(c));
  res.on('end', () => done(null, Buffer.concat(parts)));
}

describe('datasets over HTTP', () => {
  let server: TestServer;
  before(async () => {
    server = await startServer({ MAX_UPLOAD_BYTES: '100000' });
  });
  after(() => server.close());

  async function stagingIsEmpty(): Promise<void> {
    const staging = await readdir(path.join(server.config.dataDir, 'staging')).catch(() => []);
    assert.deepEqual(staging, [], 'a failed upload left a staging folder behind');
  }

  it('round-trips a CSV: info, rows and a byte-for-byte export', async () => {
    const info = await uploadCsv(server.url, `${FLIGHTS}\n`, {
      rowsPerChunk: 3,
      name: 'flights',
      colInfo: JSON.stringify({ carrier: { type: 'factor' } }),
    });
    const res = await request(server.url).get(`/v1/datasets/${info.id}`).expect(200);
    const body = res.body;
    assert.equal(body.name, 'flights');
    assert.equal(body.numRows, 7);
    assert.equal(body.numVars, 6);
    assert.deepEqual(body.chunkRows, [3, 3, 1]);
    const v = Object.fromEntries(body.variables.map((x: { name: string }) => [x.name, x]));
    assert.equal(v.delay.type, 'numeric');
    assert.equal(v.delay.low, -3);
    assert.equal(v.delay.high, 12.5);
    assert.equal(v.delay.missing, 1);
    assert.equal(v.distance.type, 'integer');
    assert.equal(v.distance.high, 2500);
    assert.equal(v.carrier.type, 'factor');
    assert.deepEqual(v.carrier.levels, ['AA', 'DL', 'UA', 'WN']);
    assert.equal(v.onTime.type, 'logical');
    assert.equal(v.onTime.missing, 1);
    assert.equal(v.day.type, 'date');
    assert.equal(v.day.missing, 1);

    const rows = await request(server.url).get(`/v1/datasets/${info.id}/rows?offset=2&limit=3`).expect(200);
    assert.equal(rows.body.numRows, 7);
    assert.deepEqual(rows.body.rows, [
      { delay: null, distance: 450, carrier: 'AA', origin: 'JFK', onTime: true, day: '2024-01-03' },
      { delay: 7.25, distance: null, carrier: 'DL', origin: 'SEA', onTime: null, day: '2024-01-04' },
      { delay: 0, distance: 800, carrier: 'UA', origin: 'JFK', onTime: false, day: null },
    ]);

    const csv = await request(server.url).get(`/v1/datasets/${info.id}/export?format=csv`).expect(200);
    assert.match(String(csv.headers['content-type']), /text\/csv/);
    assert.equal(csv.text, `${FLIGHTS}\n`);
  });

  it('keeps one factor level list across chunks, even for a level seen only in the last chunk', async () => {
    const lines = ['g,x'];
    for (let i = 0; i < 20; i++) lines.push(`${i % 2 ? 'b' : 'c'},${i}`);
    lines.push('a,20');
    const info = await uploadCsv(server.url, `${lines.join('\n')}\n`, { rowsPerChunk: 4 });
    const meta = (await request(server.url).get(`/v1/datasets/${info.id}`).expect(200)).body;
    assert.equal(meta.numChunks, 6);
    assert.deepEqual(meta.variables[0].levels, ['a', 'b', 'c']);
    const arrow = await request(server.url)
      .get(`/v1/datasets/${info.id}/export?format=arrow`)
      .buffer(true)
      .parse(binary)
      .expect(200);
    const table = tableFromIPC(arrow.body as Buffer);
    assert.equal(table.numRows, 21);
    assert.equal(table.batches.length, 6);
    const g = table.getChild('g')!;
    assert.deepEqual(
      Array.from({ length: 21 }, (_, i) => g.get(i)),
      lines.slice(1).map((l) => l.split(',')[0]!),
    );
  });

  it('accepts multipart uploads with colInfo before the file', async () => {
    const res = await request(server.url)
      .post('/v1/datasets?name=multi')
      .field(
        'colInfo',
        JSON.stringify({
          carrier: { type: 'factor', levels: ['WN', 'UA', 'DL', 'AA'] },
          delay: { newName: 'arrDelay' },
        }),
      )
      .attach('file', Buffer.from(FLIGHTS), { filename: 'flights.csv', contentType: 'text/csv' })
      .expect(201);
    const carrier = res.body.variables.find((v: { name: string }) => v.name === 'carrier');
    assert.deepEqual(carrier.levels, ['WN', 'UA', 'DL', 'AA']);
    assert.ok(res.body.variables.some((v: { name: string }) => v.name === 'arrDelay'));
  });

  it('imports NDJSON', async () => {
    const ndjson = '{"a":1,"b":"x"}\n{"a":2.5,"b":null}\n{"a":null,"b":"y"}\n';
    const res = await request(server.url)
      .post('/v1/datasets?name=nd')
      .set('content-type', 'application/x-ndjson')
      .send(ndjson)
      .expect(201);
    const rows = await request(server.url).get(`/v1/datasets/${res.body.id}/rows`).expect(200);
    assert.deepEqual(rows.body.rows, [
      { a: 1, b: 'x' },
      { a: 2.5, b: null },
      { a: null, b: 'y' },
    ]);
  });

  it('imports an Arrow IPC stream and exports the same values', async () => {
    const x = Float64Array.from({ length: 1000 }, (_, i) => i / 7);
    const n = Int32Array.from({ length: 1000 }, (_, i) => i * 3 - 500);
    const table = tableFromArrays({ x, n });
    const res = await request(server.url)
      .post('/v1/datasets?name=arrow&rowsPerChunk=300')
      .set('content-type', 'application/vnd.apache.arrow.stream')
      .send(Buffer.from(tableToIPC(table, 'stream')))
      .expect(201);
    assert.equal(res.body.numChunks, 4);
    const types = res.body.variables.map((v: { type: string }) => v.type);
    assert.deepEqual(types, ['numeric', 'integer']);
    const out = await request(server.url)
      .get(`/v1/datasets/${res.body.id}/export?format=arrow`)
      .buffer(true)
      .parse(binary)
      .expect(200);
    const back = tableFromIPC(out.body as Buffer);
    assert.deepEqual(Float64Array.from(back.getChild('x')!.toArray() as Float64Array), x);
    assert.deepEqual(Int32Array.from(back.getChild('n')!.toArray() as Int32Array), n);
  });

  it('imports Parquet (raw body) and serves its rows', async () => {
    const parquet = parquetWriteBuffer({
      columnData: [
        { name: 'id', data: Int32Array.from([1, 2, 3, 4, 5]), type: 'INT32' },
        { name: 'score', data: [0.5, null, 2.25, -1, 1e300], type: 'DOUBLE' },
        { name: 'label', data: ['x', 'y', null, 'x', 'y'], type: 'STRING' },
      ],
      rowGroupSize: 2,
    });
    const res = await request(server.url)
      .post('/v1/datasets?name=pq&rowsPerChunk=2')
      .set('content-type', 'application/vnd.apache.parquet')
      .send(Buffer.from(parquet))
      .expect(201);
    assert.equal(res.body.numRows, 5);
    assert.deepEqual(res.body.chunkRows, [2, 2, 1]);
    const rows = await request(server.url).get(`/v1/datasets/${res.body.id}/rows`).expect(200);
    assert.deepEqual(rows.body.rows, [
      { id: 1, score: 0.5, label: 'x' },
      { id: 2, score: null, label: 'y' },
      { id: 3, score: 2.25, label: null },
      { id: 4, score: -1, label: 'x' },
      { id: 5, score: 1e300, label: 'y' },
    ]);
  });

  it('lists datasets with paging and deletes them', async () => {
    const info = await uploadCsv(server.url, 'x\n1\n');
    const page = await request(server.url).get('/v1/datasets?limit=2').expect(200);
    const slash = await request(server.url).get('/v1/datasets/?limit=2').expect(200);
    assert.deepEqual(slash.body, page.body, 'a trailing slash names the same route');
    assert.equal(page.body.limit, 2);
    assert.ok(page.body.total >= 3);
    assert.equal(page.body.items.length, 2);
    assert.equal(page.body.items[0].id, info.id, 'newest first');
    await request(server.url).delete(`/v1/datasets/${info.id}`).expect(204);
    const gone = await request(server.url).get(`/v1/datasets/${info.id}`).expect(404);
    assert.equal(gone.body.error.code, 'NOT_FOUND');
    await request(server.url).delete(`/v1/datasets/${info.id}`).expect(404);
  });

  describe('bad input: a clear 4xx and nothing kept', () => {
    let before: number;
    const count = async () =>
      (await request(server.url).get('/v1/datasets').expect(200)).body.total as number;
    const post = (query: string, type: string, body: string | Buffer) =>
      request(server.url).post(`/v1/datasets?name=bad${query}`).set('content-type', type).send(body);

    it('records the dataset count', async () => {
      before = await count();
    });

    const cases: [string, () => request.Test, number, string][] = [
      ['empty body', () => post('', 'text/csv', ''), 400, 'EMPTY_BODY'],
      [
        'binary garbage as CSV',
        () => post('', 'text/csv', Buffer.from([0, 159, 146, 150, 0, 1, 2, 255, 254, 10, 0])),
        400,
        'INVALID_CSV',
      ],
      ['ragged rows', () => post('', 'text/csv', 'a,b\n1,2\n3\n4,5\n'), 400, 'RAGGED_ROW'],
      ['unknown format', () => post('', 'image/png', 'x'), 415, 'UNSUPPORTED_FORMAT'],
      ['duplicate column names', () => post('', 'text/csv', 'a,b,a\n1,2,3\n'), 400, 'DUPLICATE_COLUMN'],
      [
        'colInfo naming a missing column',
        () => post(`&colInfo=${encodeURIComponent('{"nope":{"type":"factor"}}')}`, 'text/csv', 'a\n1\n'),
        400,
        'UNKNOWN_COLINFO_COLUMN',
      ],
      [
        'colInfo that is not JSON',
        () => post('&colInfo=%7Bnope', 'text/csv', 'a\n1\n'),
        400,
        'INVALID_COLINFO',
      ],
      [
        'missing name',
        () => request(server.url).post('/v1/datasets').set('content-type', 'text/csv').send('a\n1\n'),
        400,
        'VALIDATION_FAILED',
      ],
    ];
    for (const [name, send, status, code] of cases) {
      it(`${name}: ${status} ${code}`, async () => {
        const res = await send();
        assert.equal(res.status, status, JSON.stringify(res.body));
        assert.equal(res.body.error.code, code);
        assert.ok(res.body.error.message.length > 10, res.body.error.message);
        await stagingIsEmpty();
      });
    }

    it('ragged rows name the line', async () => {
      const res = await post('', 'text/csv', 'a,b\n1,2\n3,4\n5\n').expect(400);
      assert.match(res.body.error.message, /line 4/);
    });

    it('an upload over MAX_UPLOAD_BYTES is 413 and leaves nothing behind', async () => {
      const big = `x\n${'123456789\n'.repeat(20_000)}`;
      const res = await post('', 'text/csv', big).expect(413);
      assert.equal(res.body.error.code, 'PAYLOAD_TOO_LARGE');
      await stagingIsEmpty();
    });

    it('an upload without Content-Length over the limit is cut off with 413 too', async () => {
      // A chunked body: the size is known only by counting, so the limit is enforced while streaming.
      const { status, body } = await new Promise<{ status: number; body: string }>((resolve, reject) => {
        const req = http.request(
          `${server.url}/v1/datasets?name=chunked`,
          { method: 'POST', headers: { 'content-type': 'text/csv' } },
          (res) => {
            let text = '';
            res.on('data', (c: Buffer) => {
              text += c.toString();
            });
            res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
          },
        );
        req.on('error', reject);
        req.write('x\n');
        for (let i = 0; i < 200; i++) req.write('123456789\n'.repeat(100));
        req.end();
      });
      assert.equal(status, 413, body);
      assert.equal(JSON.parse(body).error.code, 'PAYLOAD_TOO_LARGE');
      await stagingIsEmpty();
    });

    it('kept no dataset from any of them', async () => {
      assert.equal(await count(), before);
    });
  });
});
