import assert from 'node:assert/strict';
import { readdir } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { buffer as streamBuffer, text as streamText } from 'node:stream/consumers';
import { describe, it } from 'node:test';
import {
  Bool,
  DateDay,
  Dictionary,
  Field,
  Float64,
  Int32,
  Int64,
  makeData,
  RecordBatch,
  RecordBatchReader,
  RecordBatchStreamWriter,
  Schema,
  Struct,
  Table,
  TimestampMicrosecond,
  tableToIPC,
  Utf8,
  vectorFromArray,
} from 'apache-arrow';
import { parquetWriteBuffer } from 'hyparquet-writer';
import { readChunkFile } from '../../src/storage/chunkFiles.ts';
import { exportArrow, exportCsv, rowsAsJson } from '../../src/storage/export.ts';
import type { ImportFormat } from '../../src/storage/importTypes.ts';
import { type ImportBytesOptions, type Imported, importer, rejectsWith } from './helpers.ts';

const importAny = importer('rxserve-formats-');
/** Bodies arrive in 1000-byte pieces, so format readers see records split across reads. */
const importBytes = (format: ImportFormat, body: string | Uint8Array, options: ImportBytesOptions = {}) =>
  importAny(format, body, { pieceBytes: 1000, ...options });

const rowsOf = (imported: Imported) => rowsAsJson(imported.dir, imported.meta, 0, imported.meta.numRows);
const typesOf = (imported: Imported) =>
  Object.fromEntries(imported.meta.variables.map((v) => [v.name, v.type]));

describe('NDJSON import', () => {
  const lines = [
    '{"id": 1, "x": 1.5, "ok": true, "g": "a", "day": "2020-01-01", "at": "2020-01-01T10:00:00Z"}',
    '{"id": 2, "x": 2, "ok": false, "g": "b", "day": "2020-01-02", "at": "2020-01-01T10:00:00.5Z"}',
    '',
    '{"id": 3, "x": null, "g": "a", "day": null, "at": "2020-01-01 11:00:00", "late": "first"}',
    '{"id": 4, "x": -3.25, "ok": true, "g": "a", "day": "2020-01-04", "at": null}\r',
  ];

  it('reads the union of keys in first-seen order, with types inferred over the whole column', async () => {
    const imported = await importBytes('ndjson', `${lines.join('\n')}\n`, { rowsPerChunk: 2 });
    assert.deepEqual(typesOf(imported), {
      id: 'integer',
      x: 'numeric',
      ok: 'logical',
      g: 'factor',
      day: 'date',
      at: 'timestamp',
      late: 'string',
    });
    assert.deepEqual(imported.outcome.chunkRows, [2, 2]);
    const rows = await rowsOf(imported);
    assert.deepEqual(rows[2], {
      id: 3,
      x: null,
      ok: null,
      g: 'a',
      day: null,
      at: '2020-01-01T11:00:00.000Z',
      late: 'first',
    });
    assert.equal(rows[0]!['late'], null);
    assert.equal(rows[1]!['at'], '2020-01-01T10:00:00.500Z');
    assert.equal(imported.meta.variables.find((v) => v.name === 'late')!.missing, 3);
  });

  it('turns a column that mixes numbers and words into text over a second read', async () => {
    const body = `${Array.from({ length: 30 }, (_, i) => JSON.stringify({ v: i, w: i % 2 === 0 })).join('\n')}\n{"v": "many", "w": "x"}\n`;
    const imported = await importBytes('ndjson', body, { rowsPerChunk: 7 });
    assert.deepEqual(typesOf(imported), { v: 'string', w: 'factor' });
    const rows = await rowsOf(imported);
    assert.deepEqual(rows[3], { v: '3', w: 'false' });
    assert.deepEqual(rows[30], { v: 'many', w: 'x' });
  });

  it('reports bad lines with their number', async () => {
    const error = await rejectsWith(importBytes('ndjson', '{"a":1}\n{"a":2}\n{"a":\n'), 'INVALID_JSON');
    assert.equal(error.details?.['line'], 3);
    await rejectsWith(importBytes('ndjson', '{"a":1}\n[1,2]\n'), 'INVALID_JSON');
    await rejectsWith(importBytes('ndjson', '{"a":{"b":1}}\n'), 'UNSUPPORTED_JSON_VALUE', 422);
    await rejectsWith(importBytes('ndjson', ''), 'EMPTY_BODY');
    await rejectsWith(importBytes('ndjson', Buffer.from([0x7b, 0xff, 0x7d, 0x0a])), 'INVALID_JSON');
    await rejectsWith(importBytes('ndjson', '{"a":1}\n', { colInfo: { b: {} } }), 'UNKNOWN_COLINFO_COLUMN');
    const mismatch = await rejectsWith(
      importBytes('ndjson', '{"a":1}\n{"a":"x"}\n', { colInfo: { a: { type: 'numeric' } } }),
      'COLINFO_TYPE_MISMATCH',
      422,
    );
    assert.equal(mismatch.details?.['line'], 2);
  });
});

/**
 * Seven rows in two batches. With `sharedDictionary` false the batches carry different dictionaries
 * (the stream format allows that; the file format does not), with the same strings either way.
 */
function arrowTable(sharedDictionary = false): Table {
  const shared = vectorFromArray(['zeta', 'alpha', 'mid'], new Utf8());
  const g = new Dictionary(new Utf8(), new Int32(), 0);
  const fields = [
    new Field('x', new Float64(), true),
    new Field('n', new Int32(), true),
    new Field('big', new Int64(), true),
    new Field('ok', new Bool(), true),
    new Field('g', g, true),
    new Field('s', new Utf8(), true),
    new Field('day', new DateDay(), true),
    new Field('at', new TimestampMicrosecond(), true),
  ];
  const batch = (levels: string[], codes: number[], start: number) => {
    const dictionary = sharedDictionary ? shared : vectorFromArray(levels, new Utf8());
    if (sharedDictionary) codes = codes.map((code) => ['zeta', 'alpha', 'mid'].indexOf(levels[code]!));
    const rows = codes.length;
    const children = [
      makeData({
        type: new Float64(),
        length: rows,
        nullCount: 0,
        data: Float64Array.from(codes, (_, i) => (start + i) / 4),
      }),
      makeData({
        type: new Int32(),
        length: rows,
        nullCount: 0,
        data: Int32Array.from(codes, (_, i) => start + i),
      }),
      makeData({
        type: new Int64(),
        length: rows,
        nullCount: 0,
        data: BigInt64Array.from(codes, (_, i) => BigInt(start + i) * 10_000_000_000n),
      }),
      makeData({ type: new Bool(), length: rows, nullCount: 0, data: new Uint8Array([0b0101]) }),
      makeData({ type: g, length: rows, nullCount: 0, data: Int32Array.from(codes), dictionary }),
      vectorFromArray(
        codes.map((_, i) => (i === 1 ? null : `s${start + i}`)),
        new Utf8(),
      ).data[0]!,
      makeData({
        type: new DateDay(),
        length: rows,
        nullCount: 0,
        data: Int32Array.from(codes, (_, i) => start + i),
      }),
      makeData({
        type: new TimestampMicrosecond(),
        length: rows,
        nullCount: 0,
        data: BigInt64Array.from(codes, (_, i) => BigInt(start + i) * 1_000_001n - 1n),
      }),
    ];
    return new RecordBatch(
      new Schema(fields),
      makeData({ type: new Struct(fields), length: rows, nullCount: 0, children }),
    );
  };
  // Two batches with different dictionaries: the levels must be unified and sorted.
  return new Table([batch(['zeta', 'alpha'], [0, 1, 0], 0), batch(['mid', 'zeta'], [1, 0, 1, 1], 3)]);
}

describe('Arrow import', () => {
  for (const format of ['stream', 'file'] as const) {
    it(`reads the IPC ${format} format, unifying dictionaries and re-chunking`, async () => {
      const bytes = format === 'stream' ? streamOf(arrowTable()) : tableToIPC(arrowTable(true), 'file');
      const imported = await importBytes('arrow', bytes, { rowsPerChunk: 2 });
      assert.deepEqual(imported.outcome.chunkRows, [2, 2, 2, 1]);
      assert.deepEqual(typesOf(imported), {
        x: 'numeric',
        n: 'integer',
        big: 'numeric',
        ok: 'logical',
        g: 'factor',
        s: 'string',
        day: 'date',
        at: 'timestamp',
      });
      assert.deepEqual(imported.meta.variables.find((v) => v.name === 'g')!.levels, ['alpha', 'mid', 'zeta']);
      const rows = await rowsOf(imported);
      assert.deepEqual(
        rows.map((row) => row['g']),
        ['zeta', 'alpha', 'zeta', 'zeta', 'mid', 'zeta', 'zeta'],
      );
      assert.deepEqual(rows[4], {
        x: 1,
        n: 4,
        big: 40_000_000_000,
        ok: false,
        g: 'mid',
        s: null,
        day: '1970-01-05',
        at: '1970-01-01T00:00:04.000Z',
      });
      assert.equal(rows[0]!['at'], '1969-12-31T23:59:59.999Z');
      const files = await readdir(imported.dir);
      assert.deepEqual(files, ['chunks']);
    });
  }

  it('exports a stream that imports back to the same dataset', async () => {
    const first = await importBytes('arrow', streamOf(arrowTable()), { rowsPerChunk: 3 });
    const exported = await streamBuffer(exportArrow(first.dir, first.meta));
    const reader = await RecordBatchReader.from(Readable.from([exported]));
    let batches = 0;
    for await (const batch of reader) {
      batches++;
      assert.equal(batch.numRows, first.meta.chunkRows[batches - 1]);
    }
    assert.equal(batches, first.meta.numChunks);
    const second = await importBytes('arrow', exported, { rowsPerChunk: 3 });
    assert.deepEqual(second.meta.variables, first.meta.variables);
    assert.deepEqual(await rowsOf(second), await rowsOf(first));
  });

  it('rejects garbage, empty input and unsupported types', async () => {
    await rejectsWith(importBytes('arrow', 'hello, this is not arrow'), 'INVALID_ARROW');
    await rejectsWith(importBytes('arrow', ''), 'EMPTY_BODY');
    await rejectsWith(importBytes('arrow', streamOf(arrowTable()).subarray(0, 300)), 'INVALID_ARROW');
    const nested = new Table({ l: vectorFromArray([[1], [2, 3]]) });
    await rejectsWith(importBytes('arrow', streamOf(nested)), 'UNSUPPORTED_ARROW_TYPE', 422);
  });
});

function streamOf(table: Table): Uint8Array {
  return RecordBatchStreamWriter.writeAll(table).toUint8Array(true);
}

describe('Parquet import', () => {
  const parquet = () =>
    parquetWriteBuffer({
      columnData: [
        { name: 'i', data: Int32Array.from({ length: 12 }, (_, k) => k - 3), type: 'INT32' },
        { name: 'x', data: [0.5, null, 2.25, 3, 4, 5, 6, 7, 8, 9, 10, 11.5], type: 'DOUBLE' },
        { name: 's', data: ['a', 'b', 'a', null, 'b', 'a', 'b', 'a', 'b', 'a', 'b', 'c'], type: 'STRING' },
        {
          name: 'ok',
          data: [true, false, true, true, false, null, true, true, false, true, true, false],
          type: 'BOOLEAN',
        },
        {
          name: 'at',
          data: Array.from({ length: 12 }, (_, k) => new Date(Date.UTC(2021, 0, 1 + k, 6))),
          type: 'TIMESTAMP',
        },
      ],
      rowGroupSize: 5,
    });

  it('reads row group by row group into chunks', async () => {
    const imported = await importBytes('parquet', new Uint8Array(parquet()), { rowsPerChunk: 4 });
    assert.deepEqual(imported.outcome.chunkRows, [4, 4, 4]);
    assert.deepEqual(typesOf(imported), {
      i: 'integer',
      x: 'numeric',
      s: 'factor',
      ok: 'logical',
      at: 'timestamp',
    });
    const rows = await rowsOf(imported);
    assert.deepEqual(rows[1], { i: -2, x: null, s: 'b', ok: false, at: '2021-01-02T06:00:00.000Z' });
    assert.deepEqual(rows[11], { i: 8, x: 11.5, s: 'c', ok: false, at: '2021-01-12T06:00:00.000Z' });
    assert.equal(rows[3]!['s'], null);
    assert.deepEqual(imported.meta.variables.find((v) => v.name === 's')!.levels, ['a', 'b', 'c']);
    assert.deepEqual(await readdir(imported.dir), ['chunks']);
    const csv = await streamText(exportCsv(imported.dir, imported.meta));
    assert.equal(csv.split('\n')[1], '-3,0.5,a,TRUE,2021-01-01T06:00:00.000Z');
  });

  it('applies colInfo and rejects garbage', async () => {
    const imported = await importBytes('parquet', new Uint8Array(parquet()), {
      colInfo: { i: { type: 'numeric', newName: 'value' }, s: { type: 'string' } },
    });
    assert.deepEqual(typesOf(imported), {
      value: 'numeric',
      x: 'numeric',
      s: 'string',
      ok: 'logical',
      at: 'timestamp',
    });
    const table = await readChunkFile(imported.dir, 0);
    assert.equal(String(table.getChild('value')!.type), 'Float64');
    await rejectsWith(importBytes('parquet', 'PAR1 not really parquet PAR1'), 'INVALID_PARQUET');
    await rejectsWith(importBytes('parquet', ''), 'EMPTY_BODY');
  });
});
