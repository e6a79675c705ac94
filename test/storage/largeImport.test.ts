import assert from 'node:assert/strict';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { after, before, it } from 'node:test';
import { rowsAsJson } from '../../src/storage/export.ts';
import { importDataset } from '../../src/storage/import/index.ts';
import { datasetMetaOf } from '../../src/storage/uploadDataset.ts';

/** 256 MB in the suite; LARGE_IMPORT_MB=2048 checks the 2 GB case on demand (a few minutes). */
const TARGET_BYTES = Number(process.env['LARGE_IMPORT_MB'] ?? 256) * 1024 * 1024;
const RSS_LIMIT = 300 * 1024 * 1024;
const BLOCK_BYTES = 1 << 20;

let root: string;

before(async () => {
  root = await mkdtemp(path.join(os.tmpdir(), 'rxserve-large-'));
});
after(async () => {
  await rm(root, { recursive: true, force: true });
});

/**
 * 1 MiB blocks of rows with integer, decimal, factor, date and string columns, repeated from a small
 * pool so generating them costs little memory; the very last row puts a word into the numeric column
 * `x`, so the import also makes its second pass over the spooled upload.
 */
function* largeCsv(): Generator<Buffer> {
  yield Buffer.from('id,x,y,z,w,v,group,day,name\n');
  const pool: Buffer[] = [];
  let id = 0;
  for (let p = 0; p < 4; p++) {
    let text = '';
    while (text.length < BLOCK_BYTES) {
      id++;
      const day = `20${String(10 + (id % 10))}-0${1 + (id % 9)}-1${id % 10}`;
      text += `${id},${(id * 0.37) % 1000},${id % 977},${(id * 1.25).toFixed(2)},-${id % 50}.5,${id * 3},g${id % 7},${day},name${id % 5000}\n`;
    }
    pool.push(Buffer.from(text));
  }
  for (let sent = 0; sent < TARGET_BYTES; sent += BLOCK_BYTES)
    yield pool[(sent / BLOCK_BYTES) % pool.length]!;
  yield Buffer.from('0,not-a-number,0,0,0,0,g0,2020-01-01,last\n');
}

it(`imports a ${TARGET_BYTES >> 20} MB CSV stream, with a late type change, in bounded memory`, async (t) => {
  const stagingDir = path.join(root, 'big');
  let peakRss = process.memoryUsage().rss;
  const sampler = setInterval(() => {
    peakRss = Math.max(peakRss, process.memoryUsage().rss);
  }, 10);
  try {
    const outcome = await importDataset(Readable.from(largeCsv(), { objectMode: false }), {
      format: 'csv',
      stagingDir,
    });
    peakRss = Math.max(peakRss, process.memoryUsage().rss);
    const types = Object.fromEntries(outcome.variables.map((v) => [v.name, v.type]));
    assert.deepEqual(types, {
      id: 'integer',
      x: 'string',
      y: 'integer',
      z: 'numeric',
      w: 'numeric',
      v: 'integer',
      group: 'factor',
      day: 'date',
      name: 'string',
    });
    assert.ok(outcome.numRows > 2_000_000, `rows: ${outcome.numRows}`);
    assert.ok(outcome.chunkRows.length > 5);
    assert.ok(outcome.chunkRows.slice(0, -1).every((rows) => rows === outcome.rowsPerChunk));
    const meta = datasetMetaOf(outcome, { id: 'ds_large', name: 'large', tenant: 'local', source: 'csv' });
    const [last] = await rowsAsJson(stagingDir, meta, outcome.numRows - 1, 1);
    assert.equal(last!['x'], 'not-a-number');
    assert.deepEqual(await readdir(stagingDir), ['chunks']);
  } finally {
    clearInterval(sampler);
  }
  t.diagnostic(`peak RSS ${(peakRss / 1024 / 1024).toFixed(0)} MB`);
  assert.ok(peakRss < RSS_LIMIT, `peak RSS ${(peakRss / 1024 / 1024).toFixed(0)} MB`);
});
