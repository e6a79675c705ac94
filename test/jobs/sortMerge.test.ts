import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { RecordBatchReader } from 'apache-arrow';
import request from 'supertest';
import {
  type DatasetView,
  datasetRows,
  fingerprint,
  runJob,
  submitJob,
  uploadCsv,
  waitForJob,
} from '../helpers/api.ts';
import { startServer, type TestServer } from '../helpers/server.ts';

/**
 * sort and merge through HTTP with real worker processes: outputs checked row by row against a sort
 * and a nested-loop join written here, the same datasets with 1 and 3 workers, bad params refused
 * before anything runs; and a sort and a join of data several times larger than the workers' heap
 * (`--max-old-space-size=64`), checked for order, row count and checksums, with the workers' peak RSS
 * reported. SORTMERGE_ROWS sets the size of the large case (default 5 million rows, about 180 MB stored).
 */

type Row = Record<string, unknown>;

const LEVELS = ['lo', 'mid', 'hi'];

function leftCsv(): string {
  const lines = ['id,g,x,key,s'];
  for (let i = 0; i < 150; i++) {
    const g = i % 13 === 0 ? 'NA' : LEVELS[(i * 7) % 3];
    const x = i % 11 === 0 ? 'NA' : String(((i * 37) % 17) - 8);
    const key = i % 19 === 0 ? 'NA' : String((i * 5) % 23);
    lines.push([i, g, x, key, `L${i}`].join(','));
  }
  return `${lines.join('\n')}\n`;
}

function rightCsv(): string {
  const lines = ['key,s,r'];
  for (let j = 0; j < 60; j++) lines.push([j % 17 === 0 ? 'NA' : String((j * 3) % 29), `R${j}`, j].join(','));
  return `${lines.join('\n')}\n`;
}

/** NA lowest, ties in input order: the order R's order() gives, written out for the test. */
function compareNullable(a: unknown, b: unknown, rank: (v: unknown) => number = (v) => v as number): number {
  if (a === null || b === null) return a === b ? 0 : a === null ? -1 : 1;
  return Math.sign(rank(a) - rank(b));
}

describe('sort and merge through the job engine', () => {
  let server: TestServer;
  let left: string;
  let right: string;
  let leftRows: Row[];
  let rightRows: Row[];
  const jobs: Record<string, Record<string, unknown>> = {
    sort: { sortByVars: ['g', 'x'], decreasing: [true, false], outName: 'sorted' },
    merge: {},
  };
  const first = new Map<string, unknown>();

  before(async () => {
    server = await startServer();
    await server.startWorkers(1);
    const colInfo = JSON.stringify({ g: { type: 'factor', levels: LEVELS }, s: { type: 'string' } });
    left = (await uploadCsv(server.url, leftCsv(), { name: 'left', rowsPerChunk: 9, colInfo })).id;
    right = (await uploadCsv(server.url, rightCsv(), { name: 'right', rowsPerChunk: 7 })).id;
    leftRows = await datasetRows(server.url, left);
    rightRows = await datasetRows(server.url, right);
    jobs.merge = { right, type: 'full', matchVars: 'key', rowsPerOutputBlock: 8 };
  });
  after(async () => server.close());

  async function output(type: string): Promise<DatasetView> {
    const result = await runJob<{ dataset: DatasetView }>(server.url, {
      type,
      dataset: left,
      params: jobs[type]!,
    });
    return result.dataset;
  }

  it('sort orders by a decreasing factor (level order) then a number, NA lowest, stably', async () => {
    const out = await output('sort');
    const expected = leftRows
      .map((row, i) => ({ row, i }))
      .sort(
        (a, b) =>
          -compareNullable(a.row['g'], b.row['g'], (v) => LEVELS.indexOf(v as string)) ||
          compareNullable(a.row['x'], b.row['x']) ||
          a.i - b.i,
      )
      .map(({ row }) => ({ g: row['g'], x: row['x'], id: row['id'], key: row['key'], s: row['s'] }));
    assert.equal(out.name, 'sorted');
    assert.deepEqual(await datasetRows(server.url, out.id), expected);
    first.set('sort', await fingerprint(server.url, out.id));
  });

  it('merge (full) pairs every equal key, NA with NA, sorted by key then left then right row', async () => {
    const out = await output('merge');
    const same = (a: unknown, b: unknown) => a === b;
    const pairs: Array<{ row: Row; i: number; j: number }> = [];
    const matched = new Set<number>();
    const make = (l: Row | null, r: Row | null): Row => ({
      key: l ? l['key'] : r!['key'],
      id: l ? l['id'] : null,
      g: l ? l['g'] : null,
      x: l ? l['x'] : null,
      's.left': l ? l['s'] : null,
      's.right': r ? r['s'] : null,
      r: r ? r['r'] : null,
    });
    leftRows.forEach((l, i) => {
      let any = false;
      rightRows.forEach((r, j) => {
        if (!same(l['key'], r['key'])) return;
        pairs.push({ row: make(l, r), i, j });
        matched.add(j);
        any = true;
      });
      if (!any) pairs.push({ row: make(l, null), i, j: -1 });
    });
    rightRows.forEach((r, j) => {
      if (!matched.has(j)) pairs.push({ row: make(null, r), i: -1, j });
    });
    const expected = pairs
      .sort((a, b) => compareNullable(a.row['key'], b.row['key']) || a.i - b.i || a.j - b.j)
      .map((p) => p.row);
    const rows = await datasetRows(server.url, out.id);
    assert.equal(rows.length, expected.length);
    assert.deepEqual(rows, expected);
    assert.ok(out.numChunks > 3);
    first.set('merge', await fingerprint(server.url, out.id));
  });

  it('writes the same datasets with 3 workers as with 1', async () => {
    await server.startWorkers(2);
    for (const type of Object.keys(jobs)) {
      const once = first.get(type);
      assert.ok(once, `${type} ran with one worker`);
      const out = await output(type);
      assert.deepEqual(await fingerprint(server.url, out.id), once, `${type} with 3 workers`);
    }
  });

  it('refuses bad params with a 4xx before anything is queued', async () => {
    const jobsBefore = (await request(server.url).get('/v1/jobs').expect(200)).body.total;
    const bad: Array<[string, Record<string, unknown>, number, string]> = [
      ['sort', { sortByVars: 'gg' }, 400, 'UNKNOWN_VARIABLE'],
      ['sort', { sortByVars: ['g', 'x'], decreasing: [true] }, 400, 'INVALID_PARAMS'],
      ['merge', { right: 'ds_00000000000000000000', matchVars: 'key' }, 404, 'DATASET_NOT_FOUND'],
      ['merge', { right, matchVars: 'nokey' }, 400, 'UNKNOWN_VARIABLE'],
      ['merge', { right, matchVars: 'g' }, 400, 'UNKNOWN_VARIABLE'],
      [
        'merge',
        { right, matchVars: 'key', newVarNames2: { r: 'x' }, varsToKeep2: ['r'], type: 'union' },
        422,
        'VARIABLES_DIFFER',
      ],
      ['merge', { right, matchVars: ['key'], newVarNames1: { g: 's' } }, 400, 'DUPLICATE_VARIABLE'],
      ['merge', { right, type: 'inner' }, 400, 'INVALID_PARAMS'],
    ];
    for (const [type, params, status, code] of bad) {
      const res = await request(server.url).post('/v1/jobs').send({ type, dataset: left, params });
      assert.equal(res.status, status, `${type} ${JSON.stringify(params)}: ${JSON.stringify(res.body)}`);
      assert.equal(res.body.error.code, code, JSON.stringify(res.body));
    }
    assert.equal(
      (await request(server.url).get('/v1/jobs').expect(200)).body.total,
      jobsBefore,
      'no job recorded',
    );
  });
});

// ---------------------------------------------------------------------------------------------------
// Larger than the workers' memory

const BIG_ROWS = Number(process.env['SORTMERGE_ROWS'] ?? 5_000_000);
const RIGHT_ROWS = 1_000_000;
const KEY_RANGE = 2 * RIGHT_ROWS;
const GROUPS = Array.from({ length: 20 }, (_, i) => `grp${i}`);
const HEAP_MB = 64;

/** Row i of the large left dataset: a scattered integer key (stored as numeric), a factor, text. */
function keyOf(i: number): number {
  return (Math.imul(i, 2654435761) >>> 0) % KEY_RANGE;
}

/** CSV text in blocks of about 1 MB, generated as it is sent (never held whole). */
function* csvBlocks(header: string, rows: number, line: (i: number) => string): Generator<Buffer> {
  yield Buffer.from(`${header}\n`);
  let block = '';
  for (let i = 0; i < rows; i++) {
    block += `${line(i)}\n`;
    if (block.length > 1 << 20) {
      yield Buffer.from(block);
      block = '';
    }
  }
  if (block.length > 0) yield Buffer.from(block);
}

async function uploadStream(
  url: string,
  name: string,
  blocks: Iterable<Buffer>,
  query: Record<string, string>,
): Promise<DatasetView> {
  const params = new URLSearchParams({ name, ...query });
  const res = await fetch(`${url}/v1/datasets?${params}`, {
    method: 'POST',
    headers: { 'content-type': 'text/csv' },
    body: Readable.toWeb(Readable.from(blocks)) as ReadableStream<Uint8Array>,
    duplex: 'half',
  } as RequestInit);
  const body = (await res.json()) as DatasetView;
  assert.equal(res.status, 201, JSON.stringify(body));
  return body;
}

/** Reads a dataset back through the Arrow export, one record batch at a time. */
async function* exportedBatches(url: string, id: string) {
  const res = await fetch(`${url}/v1/datasets/${id}/export?format=arrow`);
  assert.equal(res.status, 200);
  const reader = await RecordBatchReader.from(res.body as unknown as AsyncIterable<Uint8Array>);
  for await (const batch of reader) yield batch;
}

/** A process's resident memory now (`VmRSS`) or at its peak so far (`VmHWM`), in MB (Linux). */
async function rssMb(pid: number, field: 'VmRSS' | 'VmHWM'): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const match = new RegExp(`${field}:\\s+(\\d+) kB`).exec(status);
  return match ? Math.round(Number(match[1]) / 1024) : Number.NaN;
}

/**
 * A worker's RSS once its start-up has settled: a worker reports ready while its tree threads are
 * still loading (treeThreads.ts warmTreeThreads), and a sample taken then read 176-212 MB for the same
 * worker, enough to swing the bound below. Sampled every 200 ms until it moves less than 2 MB (at most
 * 5 s).
 */
async function settledRssMb(pid: number): Promise<number> {
  let last = await rssMb(pid, 'VmRSS');
  for (let i = 0; i < 25; i++) {
    await new Promise((resolve) => setTimeout(resolve, 200));
    const now = await rssMb(pid, 'VmRSS');
    if (Math.abs(now - last) < 2) return now;
    last = now;
  }
  return last;
}

describe(`a sort and a join of data larger than the workers' ${HEAP_MB} MB heap`, () => {
  let server: TestServer;
  let pids: number[] = [];
  /** Each worker's RSS once started and idle: Node, tsx, BullMQ, the code and its threads, before any data. */
  let idleRss: number[] = [];
  let big: DatasetView;
  let lookup: DatasetView;
  let bigBytes = 0;

  before(async () => {
    // No chunk cache, so what a worker holds is what the operation needs.
    server = await startServer({ CHUNK_CACHE_MB: '0', JOB_STALL_SECONDS: '900' });
    const workers = await server.startWorkers(2, { execArgv: [`--max-old-space-size=${HEAP_MB}`] });
    pids = workers.map((w) => w.pid!);
    idleRss = await Promise.all(pids.map(settledRssMb));
    for (const pid of pids) {
      const argv = (await readFile(`/proc/${pid}/cmdline`, 'utf8')).split('\0');
      assert.ok(argv.includes(`--max-old-space-size=${HEAP_MB}`), `worker ${pid} runs with the small heap`);
    }
    big = await uploadStream(
      server.url,
      'big',
      csvBlocks('id,k,g,s,v,w', BIG_ROWS, (i) =>
        [
          i,
          keyOf(i),
          GROUPS[i % GROUPS.length],
          `s${(i * 7919) % 100_003}`,
          ((i * 37) % 1000) / 8,
          i % 9973,
        ].join(','),
      ),
      {
        rowsPerChunk: '250000',
        colInfo: JSON.stringify({
          k: { type: 'numeric' },
          g: { type: 'factor', levels: GROUPS },
          s: { type: 'string' },
        }),
      },
    );
    lookup = await uploadStream(
      server.url,
      'lookup',
      csvBlocks('k,name,r', RIGHT_ROWS, (j) => [2 * j, `c${j}`, j].join(',')),
      {
        rowsPerChunk: '200000',
        colInfo: JSON.stringify({ k: { type: 'numeric' }, name: { type: 'string' } }),
      },
    );
    bigBytes = (
      (await request(server.url).get(`/v1/datasets/${big.id}`).expect(200)).body as { bytes: number }
    ).bytes;
    assert.equal(big.numRows, BIG_ROWS);
  });
  after(async () => server.close());

  async function run(type: string, params: Record<string, unknown>): Promise<DatasetView> {
    const job = await submitJob(server.url, { type, dataset: big.id, params });
    const done = await waitForJob(server.url, job.id, 900);
    assert.equal(done.status, 'completed', JSON.stringify(done.error));
    const res = await request(server.url).get(`/v1/jobs/${job.id}/result`).expect(200);
    return (res.body.result as { dataset: DatasetView }).dataset;
  }

  it('sorts it: every row, in key order, ties in input order', async (t) => {
    const started = Date.now();
    const out = await run('sort', { sortByVars: 'k' });
    const seconds = (Date.now() - started) / 1000;
    assert.equal(out.numRows, BIG_ROWS);
    let previousKey = -1;
    let previousId = -1;
    let rows = 0;
    let idSum = 0;
    let keySum = 0;
    const groupCounts = new Array<number>(GROUPS.length).fill(0);
    for await (const batch of exportedBatches(server.url, out.id)) {
      const k = batch.getChild('k')!.toArray() as Float64Array;
      const id = batch.getChild('id')!.toArray() as Int32Array;
      const g = batch.getChild('g')!;
      for (let r = 0; r < batch.numRows; r++) {
        const key = k[r]!;
        const i = id[r]!;
        if (key < previousKey || (key === previousKey && i <= previousId))
          assert.fail(`row ${rows + r}: (${key}, ${i}) after (${previousKey}, ${previousId})`);
        if (key !== keyOf(i)) assert.fail(`row ${rows + r}: id ${i} has key ${key}, not ${keyOf(i)}`);
        previousKey = key;
        previousId = i;
        idSum += i;
        keySum += key;
        groupCounts[GROUPS.indexOf(String(g.get(r)))]! += 1;
      }
      rows += batch.numRows;
    }
    assert.equal(rows, BIG_ROWS);
    assert.equal(idSum, (BIG_ROWS * (BIG_ROWS - 1)) / 2, 'every id once');
    let expectedKeySum = 0;
    for (let i = 0; i < BIG_ROWS; i++) expectedKeySum += keyOf(i);
    assert.equal(keySum, expectedKeySum);
    assert.deepEqual(
      groupCounts,
      GROUPS.map((_, g) => Math.floor((BIG_ROWS - 1 - g) / GROUPS.length) + 1),
    );
    t.diagnostic(
      `sorted ${BIG_ROWS} rows (${Math.round(bigBytes / 2 ** 20)} MB stored) in ${seconds.toFixed(1)} s into ${out.numChunks} chunks`,
    );
  });

  it('joins it with a million-row lookup: matched rows only, in key order, right columns beside', async (t) => {
    const started = Date.now();
    const out = await run('merge', { right: lookup.id, type: 'inner', matchVars: 'k' });
    const seconds = (Date.now() - started) / 1000;
    let expectedRows = 0;
    let expectedIdSum = 0;
    for (let i = 0; i < BIG_ROWS; i++) {
      if (keyOf(i) % 2 === 0) {
        expectedRows++;
        expectedIdSum += i;
      }
    }
    assert.equal(out.numRows, expectedRows);
    assert.deepEqual(
      out.variables.map((v) => v.name),
      ['k', 'id', 'g', 's', 'v', 'w', 'name', 'r'],
    );
    let previousKey = -1;
    let previousId = -1;
    let rows = 0;
    let idSum = 0;
    for await (const batch of exportedBatches(server.url, out.id)) {
      const k = batch.getChild('k')!.toArray() as Float64Array;
      const id = batch.getChild('id')!.toArray() as Int32Array;
      const r = batch.getChild('r')!.toArray() as Int32Array;
      const name = batch.getChild('name')!;
      for (let row = 0; row < batch.numRows; row++) {
        const key = k[row]!;
        const i = id[row]!;
        if (key < previousKey || (key === previousKey && i <= previousId))
          assert.fail(`row ${rows + row}: (${key}, ${i}) after (${previousKey}, ${previousId})`);
        if (key !== keyOf(i) || r[row] !== key / 2)
          assert.fail(`row ${rows + row}: a wrong pair (${key}, ${i}, ${r[row]})`);
        if (row % 97 === 0 && name.get(row) !== `c${key / 2}`)
          assert.fail(`row ${rows + row}: name ${name.get(row)}`);
        previousKey = key;
        previousId = i;
        idSum += i;
      }
      rows += batch.numRows;
    }
    assert.equal(rows, expectedRows);
    assert.equal(idSum, expectedIdSum, 'each matched left row once');
    t.diagnostic(`joined ${BIG_ROWS} x ${RIGHT_ROWS} rows into ${rows} in ${seconds.toFixed(1)} s`);
  });

  it('held much less than the data in each worker (the heap limit held: no worker died)', async (t) => {
    const peaks = await Promise.all(pids.map((pid) => rssMb(pid, 'VmHWM')));
    const dataMb = bigBytes / 2 ** 20;
    t.diagnostic(
      `data ${dataMb.toFixed(0)} MB stored; workers' idle RSS ${idleRss.join(', ')} MB, peak RSS ${peaks.join(', ')} MB, heap limit ${HEAP_MB} MB`,
    );
    // A worker that ran out of its heap would have died and failed the jobs above; this says how much
    // memory beyond its idle footprint it used at most: well under the size of the data.
    // Below ~100 MB of data the workers' fixed costs (heap growing to its limit, allocator slack: about
    // 40-80 MB measured) hide what the data costs, so a small SORTMERGE_ROWS only reports. RSS also
    // counts Arrow's off-heap buffers of the chunks in hand and pages the allocator keeps: 66-70 MB of
    // growth over the settled idle footprint measured for 181 MB of data (up to 114 MB when the idle
    // sample was taken during start-up), so the bound is 60% of the data, not half.
    if (dataMb < 100) return t.skip(`${dataMb.toFixed(0)} MB of data is too little to tell`);
    for (const [w, peak] of peaks.entries())
      assert.ok(peak - idleRss[w]! < dataMb * 0.6, `worker ${w}: peak ${peak} MB, idle ${idleRss[w]} MB`);
  });
});
