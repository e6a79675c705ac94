import assert from 'node:assert/strict';
import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { Readable } from 'node:stream';
import { buffer as streamBuffer, text as streamText } from 'node:stream/consumers';
import { describe, it } from 'node:test';
import { type Data, RecordBatchReader } from 'apache-arrow';
import { readChunkFile } from '../../src/storage/chunkFiles.ts';
import { exportArrow, exportCsv, rowsAsJson } from '../../src/storage/export.ts';
import { type ImportBytesOptions, type Imported, importer, rejectsWith } from './helpers.ts';

const importBytes = importer('rxserve-csv-');
const importCsvText = (body: string | Buffer, options: ImportBytesOptions = {}): Promise<Imported> =>
  importBytes('csv', body, options);

function variable(imported: Imported, name: string) {
  const found = imported.meta.variables.find((v) => v.name === name);
  assert.ok(found, `no variable ${name}`);
  return found;
}

async function allRows(imported: Imported) {
  return rowsAsJson(imported.dir, imported.meta, 0, imported.meta.numRows);
}

const CANONICAL = [
  'id,x,flag,group,label,day,at',
  '1,1.5,TRUE,a,plain,2020-01-01,2020-01-01T10:20:30.000Z',
  '2,-0.25,FALSE,b,"has, comma",2020-02-29,2021-06-01T00:00:00.123Z',
  '3,NA,NA,NA,NA,NA,NA',
  '4,1e-7,TRUE,a,"say ""hi""",1969-12-31,1969-12-31T23:59:59.999Z',
  '5,123456.789,FALSE,c,"two',
  'lines",2024-12-31,2024-12-31T23:59:59.000Z',
  '6,Inf,TRUE,b,x,2000-01-01,2000-01-01T00:00:00.000Z',
  '7,-Inf,FALSE,a,y,2000-01-02,2000-01-02T00:00:00.000Z',
  '8,0.1,TRUE,b,z,2000-01-03,2000-01-03T00:00:00.000Z',
  '9,3.14159,TRUE,a,w,2000-01-04,2000-01-04T00:00:00.000Z',
  '10,2,FALSE,c,v,2000-01-05,2000-01-05T00:00:00.000Z',
  '',
].join('\n');

describe('CSV import round trip', () => {
  it('exports canonical CSV back byte for byte, over several chunks', async () => {
    const imported = await importCsvText(CANONICAL, { rowsPerChunk: 3, pieceBytes: 7 });
    assert.deepEqual(imported.outcome.chunkRows, [3, 3, 3, 1]);
    assert.equal(await streamText(exportCsv(imported.dir, imported.meta)), CANONICAL);
  });

  it('infers each type and its Arrow storage', async () => {
    const imported = await importCsvText(CANONICAL, { rowsPerChunk: 3 });
    const types = Object.fromEntries(imported.meta.variables.map((v) => [v.name, v.type]));
    assert.deepEqual(types, {
      id: 'integer',
      x: 'numeric',
      flag: 'logical',
      group: 'factor',
      label: 'string',
      day: 'date',
      at: 'timestamp',
    });
    const table = await readChunkFile(imported.dir, 0);
    assert.deepEqual(
      table.schema.fields.map((field) => String(field.type)),
      [
        'Int32',
        'Float64',
        'Bool',
        'Dictionary<Int32, Utf8>',
        'Utf8',
        'Date32<DAY>',
        'Timestamp<MILLISECOND, UTC>',
      ],
    );
    const files = await readdir(path.join(imported.dir, 'chunks'));
    assert.deepEqual(files, ['000000.arrow', '000001.arrow', '000002.arrow', '000003.arrow']);
  });

  it('gives JSON rows with levels, ISO dates, and null for missing and infinite', async () => {
    const imported = await importCsvText(CANONICAL, { rowsPerChunk: 3 });
    const rows = await rowsAsJson(imported.dir, imported.meta, 2, 4);
    assert.deepEqual(rows[0], { id: 3, x: null, flag: null, group: null, label: null, day: null, at: null });
    assert.deepEqual(rows[1], {
      id: 4,
      x: 1e-7,
      flag: true,
      group: 'a',
      label: 'say "hi"',
      day: '1969-12-31',
      at: '1969-12-31T23:59:59.999Z',
    });
    assert.equal(rows[2]!['label'], 'two\nlines');
    assert.equal(rows[3]!['x'], null);
    assert.equal(rows.length, 4);
    assert.deepEqual(await rowsAsJson(imported.dir, imported.meta, 9, 100), [
      {
        id: 10,
        x: 2,
        flag: false,
        group: 'c',
        label: 'v',
        day: '2000-01-05',
        at: '2000-01-05T00:00:00.000Z',
      },
    ]);
  });

  it('records missing counts and low/high in each type unit', async () => {
    const imported = await importCsvText(CANONICAL, { rowsPerChunk: 3 });
    assert.deepEqual(variable(imported, 'id'), { name: 'id', type: 'integer', low: 1, high: 10, missing: 0 });
    // Infinities are left out of low/high (meta.json is JSON).
    assert.deepEqual(variable(imported, 'x'), {
      name: 'x',
      type: 'numeric',
      low: -0.25,
      high: 123456.789,
      missing: 1,
    });
    assert.deepEqual(variable(imported, 'flag'), {
      name: 'flag',
      type: 'logical',
      low: 0,
      high: 1,
      missing: 1,
    });
    assert.deepEqual(variable(imported, 'group'), {
      name: 'group',
      type: 'factor',
      low: 0,
      high: 2,
      missing: 1,
      levels: ['a', 'b', 'c'],
    });
    assert.deepEqual(variable(imported, 'label'), {
      name: 'label',
      type: 'string',
      low: null,
      high: null,
      missing: 1,
    });
    assert.deepEqual(variable(imported, 'day'), {
      name: 'day',
      type: 'date',
      low: -1,
      high: 20088,
      missing: 1,
    });
    const at = variable(imported, 'at');
    assert.equal(at.low, Date.UTC(1969, 11, 31, 23, 59, 59, 999));
    assert.equal(at.high, Date.UTC(2024, 11, 31, 23, 59, 59));
  });

  it('stores exactly the double Number() gives for each number', async () => {
    const texts = [
      '0.1',
      '.5',
      '5.',
      '-0.0',
      '1e-3',
      '2.5E+10',
      '123456789012345678',
      '0.30000000000000004',
      '1.7976931348623157e308',
      '4.9e-324',
      '9007199254740993',
      '-2147483649',
      '3000000000',
      '0.000001234567890123456789',
      '  42.5  ',
      '+7.25',
    ];
    const imported = await importCsvText(`v\n${texts.join('\n')}\n`, { rowsPerChunk: 4 });
    assert.equal(variable(imported, 'v').type, 'numeric');
    const table = await Promise.all(imported.outcome.chunkRows.map((_, i) => readChunkFile(imported.dir, i)));
    const stored = table.flatMap((t) => Array.from(t.getChild('v')!.toArray() as Float64Array));
    for (const [i, text] of texts.entries()) {
      assert.ok(Object.is(stored[i], Number(text)), `${text}: ${stored[i]} vs ${Number(text)}`);
    }
  });
});

describe('CSV dates and timestamps', () => {
  it('reads zones, fractions and minutes-only times, and leaves impossible dates as text', async () => {
    const imported = await importCsvText(
      [
        'at,day,bad',
        '2020-06-01T12:00:00+02:00,2020-02-29,2021-02-29',
        '2020-06-01 12:00,1900-03-01,2021-13-01',
        '2020-06-01T12:00:00.123456Z,2100-12-31,2021-01-32',
        '2020-06-01T12:00:00-0130,1970-01-01,2021-01-01',
        '',
      ].join('\n'),
    );
    assert.deepEqual(
      imported.meta.variables.map((v) => v.type),
      ['timestamp', 'date', 'string'],
    );
    assert.deepEqual(
      (await allRows(imported)).map((row) => [row['at'], row['day']]),
      [
        ['2020-06-01T10:00:00.000Z', '2020-02-29'],
        ['2020-06-01T12:00:00.000Z', '1900-03-01'],
        ['2020-06-01T12:00:00.123Z', '2100-12-31'],
        ['2020-06-01T13:30:00.000Z', '1970-01-01'],
      ],
    );
  });
});

describe('CSV chunks', () => {
  it('fills every chunk but the last with rowsPerChunk rows', async () => {
    const lines = ['n'];
    for (let i = 0; i < 50; i++) lines.push(String(i));
    const imported = await importCsvText(`${lines.join('\n')}\n`, { rowsPerChunk: 7 });
    assert.deepEqual(imported.outcome.chunkRows, [7, 7, 7, 7, 7, 7, 7, 1]);
    assert.equal(imported.outcome.numRows, 50);
    for (let index = 0; index < 8; index++) {
      assert.equal((await readChunkFile(imported.dir, index)).numRows, imported.outcome.chunkRows[index]);
    }
  });

  it('chooses a default rowsPerChunk from the row size, within [1000, 1000000]', async () => {
    const imported = await importCsvText('a,b\n1,2\n3,4\n');
    assert.ok(imported.outcome.rowsPerChunk >= 1000 && imported.outcome.rowsPerChunk <= 1_000_000);
    assert.deepEqual(imported.outcome.chunkRows, [2]);
  });

  it('gives every chunk the same sorted level list, even for a level seen only in the last chunk', async () => {
    const values = ['m', 'k', 'm', 'k', 'm', 'k', 'm', 'k', 'm', 'k', 'm', 'k', 'm', 'k', 'a'];
    const imported = await importCsvText(`g,n\n${values.map((v, i) => `${v},${i}`).join('\n')}\n`, {
      rowsPerChunk: 7,
    });
    const levels = variable(imported, 'g').levels;
    assert.deepEqual(levels, ['a', 'k', 'm']);
    const decoded: string[] = [];
    for (let index = 0; index < imported.meta.numChunks; index++) {
      const data = (await readChunkFile(imported.dir, index)).getChild('g')!.data[0] as Data;
      assert.deepEqual(data.dictionary!.toArray(), levels);
      for (const code of (data.values as Int32Array).subarray(0, data.length)) decoded.push(levels![code]!);
    }
    assert.deepEqual(decoded, values);
  });

  it('sorts levels by code unit, not by locale', async () => {
    const values = ['b', 'B', 'a', 'é', 'A', 'b', 'B', 'a', 'é', 'A', 'a', 'a'];
    const imported = await importCsvText(`g\n${values.join('\n')}\n`, { rowsPerChunk: 5 });
    assert.deepEqual(variable(imported, 'g').levels, ['A', 'B', 'a', 'b', 'é']);
  });

  it('makes a text column with mostly distinct values a string, and few distinct values a factor', async () => {
    const lines = ['id,kind'];
    for (let i = 0; i < 30; i++) lines.push(`user${i},${i % 3 === 0 ? 'x' : 'y'}`);
    const imported = await importCsvText(`${lines.join('\n')}\n`, { rowsPerChunk: 7 });
    assert.equal(variable(imported, 'id').type, 'string');
    assert.equal(variable(imported, 'kind').type, 'factor');
    const rows = await allRows(imported);
    assert.equal(rows[29]!['id'], 'user29');
    const table = await readChunkFile(imported.dir, 0);
    assert.equal(String(table.getChild('id')!.type), 'Utf8');
  });

  it('turns a would-be factor with more than 1000 distinct values into strings across chunks', async () => {
    const lines = ['code'];
    for (let i = 0; i < 3000; i++) lines.push(`c${i % 1500}`);
    const imported = await importCsvText(`${lines.join('\n')}\n`, { rowsPerChunk: 700 });
    assert.equal(variable(imported, 'code').type, 'string');
    const rows = await allRows(imported);
    assert.deepEqual(
      rows.slice(1499, 1502).map((row) => row['code']),
      ['c1499', 'c0', 'c1'],
    );
  });
});

describe('CSV type changes', () => {
  it('keeps a numeric column that meets a word after 20000 rows as text, never NaN', async () => {
    const lines = ['x,y'];
    for (let i = 0; i < 20_000; i++) lines.push(`${i % 7 === 0 ? '1.50' : String(i)},${i}`);
    lines.push('oops,20000');
    const imported = await importCsvText(`${lines.join('\n')}\n`, { rowsPerChunk: 3000 });
    const x = variable(imported, 'x');
    assert.ok(x.type === 'string' || x.type === 'factor', x.type);
    assert.equal(x.missing, 0);
    assert.equal(variable(imported, 'y').type, 'integer');
    const rows = await allRows(imported);
    assert.equal(rows.length, 20_001);
    assert.equal(rows[0]!['x'], '1.50');
    assert.equal(rows[1]!['x'], '1');
    assert.equal(rows[20_000]!['x'], 'oops');
    assert.equal(rows[20_000]!['y'], 20000);
    assert.ok(rows.every((row) => typeof row['x'] === 'string'));
    const files = await readdir(imported.dir);
    assert.deepEqual(files, ['chunks'], 'the spool is removed');
  });

  it('widens integer to numeric and date to timestamp without a second read', async () => {
    const lines = ['n,d'];
    for (let i = 0; i < 20; i++) lines.push(`${i},2020-01-${String(i + 1).padStart(2, '0')}`);
    lines.push('2.5,2020-02-01 12:00:00');
    const imported = await importCsvText(`${lines.join('\n')}\n`, { rowsPerChunk: 7 });
    assert.equal(variable(imported, 'n').type, 'numeric');
    assert.equal(variable(imported, 'd').type, 'timestamp');
    assert.equal(variable(imported, 'd').low, Date.UTC(2020, 0, 1));
    for (let index = 0; index < imported.meta.numChunks; index++) {
      const table = await readChunkFile(imported.dir, index);
      assert.equal(String(table.getChild('n')!.type), 'Float64');
      assert.equal(String(table.getChild('d')!.type), 'Timestamp<MILLISECOND, UTC>');
    }
    const rows = await allRows(imported);
    assert.equal(rows[3]!['n'], 3);
    assert.equal(rows[3]!['d'], '2020-01-04T00:00:00.000Z');
    assert.equal(rows[20]!['d'], '2020-02-01T12:00:00.000Z');
  });

  it('types a column that is missing for several chunks from its later values', async () => {
    const lines = ['a,b'];
    for (let i = 0; i < 20; i++) lines.push(`${i},`);
    lines.push('20,hello', '21,hello');
    const imported = await importCsvText(`${lines.join('\n')}\n`, { rowsPerChunk: 7 });
    assert.equal(variable(imported, 'b').type, 'factor');
    assert.equal(variable(imported, 'b').missing, 20);
    const allMissing = await importCsvText('a,b\n1,\n2,NA\n');
    assert.deepEqual(variable(allMissing, 'b'), {
      name: 'b',
      type: 'logical',
      low: null,
      high: null,
      missing: 2,
    });
  });

  it('keeps leading zeros and number spellings of a column that turns to text', async () => {
    const imported = await importCsvText('zip\n007\n1e3\n12\nn/a\n', { rowsPerChunk: 2 });
    assert.deepEqual(
      (await allRows(imported)).map((row) => row['zip']),
      ['007', '1e3', '12', 'n/a'],
    );
  });
});

describe('CSV dialects', () => {
  it('reads ; and tab delimiters, CRLF line ends and a BOM', async () => {
    const semicolon = await importCsvText('\uFEFFa;b\r\n1;"x;y"\r\n2;z\r\n');
    assert.deepEqual(await allRows(semicolon), [
      { a: 1, b: 'x;y' },
      { a: 2, b: 'z' },
    ]);
    const tab = await importCsvText('a\tb c\n1,5\tx\n2,5\ty\n');
    assert.deepEqual(
      tab.meta.variables.map((v) => v.name),
      ['a', 'b c'],
    );
    assert.deepEqual((await allRows(tab))[0], { a: '1,5', 'b c': 'x' });
  });

  it('reads quoted fields with delimiters, doubled quotes and line breaks across read boundaries', async () => {
    const body = 'k,text,n\n1,"a,b",1\n2,"he said ""yes""",2\n3,"line1\r\nline2\nline3",3\n4,"",4\n5,x,5\n';
    for (const pieceBytes of [1, 2, 3, 5, 64]) {
      const imported = await importCsvText(body, { pieceBytes });
      assert.deepEqual(
        (await allRows(imported)).map((row) => row['text']),
        ['a,b', 'he said "yes"', 'line1\r\nline2\nline3', null, 'x'],
      );
    }
  });

  it('skips blank lines and reads a last line without a line break', async () => {
    const imported = await importCsvText('\n\na,b\n1,2\n\n3,4');
    assert.deepEqual(await allRows(imported), [
      { a: 1, b: 2 },
      { a: 3, b: 4 },
    ]);
  });

  it('counts NA, empty and space-only fields as missing', async () => {
    const imported = await importCsvText('a,b\n1,x\nNA,\n"",NA\n  ,y\n5,x\n');
    assert.equal(variable(imported, 'a').missing, 3);
    assert.equal(variable(imported, 'b').missing, 2);
  });

  it('names empty header fields V<position> and accepts a header without rows', async () => {
    const imported = await importCsvText(',b,\n1,2,3\n');
    assert.deepEqual(
      imported.meta.variables.map((v) => v.name),
      ['V1', 'b', 'V3'],
    );
    const empty = await importCsvText('a,b\n');
    assert.equal(empty.outcome.numRows, 0);
    assert.deepEqual(empty.outcome.chunkRows, []);
    assert.deepEqual(
      empty.meta.variables.map((v) => v.type),
      ['logical', 'logical'],
    );
    assert.equal(await streamText(exportCsv(empty.dir, empty.meta)), 'a,b\n');
    const reader = await RecordBatchReader.from(
      Readable.from([await streamBuffer(exportArrow(empty.dir, empty.meta))]),
    );
    await reader.open();
    assert.deepEqual(
      reader.schema.fields.map((field) => [field.name, String(field.type)]),
      [
        ['a', 'Bool'],
        ['b', 'Bool'],
      ],
    );
  });
});

describe('CSV colInfo', () => {
  it('applies levels in the given order and makes other values missing', async () => {
    const imported = await importCsvText('g\nlow\nhigh\nmid\nother\nlow\n', {
      rowsPerChunk: 2,
      colInfo: { g: { levels: ['low', 'mid', 'high'] } },
    });
    assert.deepEqual(variable(imported, 'g'), {
      name: 'g',
      type: 'factor',
      low: 0,
      high: 2,
      missing: 1,
      levels: ['low', 'mid', 'high'],
    });
    assert.deepEqual(
      (await allRows(imported)).map((row) => row['g']),
      ['low', 'high', 'mid', null, 'low'],
    );
  });

  it('renames with newName and forces types', async () => {
    const imported = await importCsvText('a,b,c,d\n1,2020-01-01,5,x\n2,2020-01-02,6,y\n', {
      colInfo: {
        a: { type: 'numeric', newName: 'alpha' },
        b: { type: 'timestamp' },
        c: { type: 'string' },
        d: { type: 'factor', newName: 'dee' },
      },
    });
    assert.deepEqual(
      imported.meta.variables.map((v) => [v.name, v.type]),
      [
        ['alpha', 'numeric'],
        ['b', 'timestamp'],
        ['c', 'string'],
        ['dee', 'factor'],
      ],
    );
    assert.deepEqual((await allRows(imported))[1], {
      alpha: 2,
      b: '2020-01-02T00:00:00.000Z',
      c: '6',
      dee: 'y',
    });
  });

  it('refuses a value that does not parse as the forced type, with its line', async () => {
    const error = await rejectsWith(
      importCsvText('a,b\n1,x\n2,y\n"3\n",z\nabc,w\n', { colInfo: { a: { type: 'integer' } } }),
      'COLINFO_TYPE_MISMATCH',
      422,
    );
    assert.equal(error.details?.['line'], 4);
    assert.match(error.message, /line 4/);
    await rejectsWith(
      importCsvText('a\n1\n2.5\n', { colInfo: { a: { type: 'integer' } } }),
      'COLINFO_TYPE_MISMATCH',
      422,
    );
  });

  it('rejects unknown columns, impossible colInfo and duplicate names', async () => {
    await rejectsWith(
      importCsvText('a,b\n1,2\n', { colInfo: { c: { type: 'numeric' } } }),
      'UNKNOWN_COLINFO_COLUMN',
    );
    await rejectsWith(
      importCsvText('a,b\n1,2\n', { colInfo: { a: { type: 'numeric', levels: ['x'] } } }),
      'INVALID_COLINFO',
    );
    await rejectsWith(
      importCsvText('a,b\n1,2\n', { colInfo: { a: { levels: ['x', 'x'] } } }),
      'INVALID_COLINFO',
    );
    await rejectsWith(importCsvText('a,b\n1,2\n', { colInfo: { a: { newName: 'b' } } }), 'DUPLICATE_COLUMN');
    await rejectsWith(importCsvText('a,a\n1,2\n'), 'DUPLICATE_COLUMN');
  });
});

describe('CSV bad input', () => {
  it('rejects an empty body', async () => {
    await rejectsWith(importCsvText(''), 'EMPTY_BODY');
    await rejectsWith(importCsvText('\n\r\n'), 'EMPTY_BODY');
    await rejectsWith(importCsvText('\uFEFF'), 'EMPTY_BODY');
  });

  it('rejects binary input', async () => {
    await rejectsWith(importCsvText(Buffer.from([0x1f, 0x8b, 0x08, 0x00, 0x00, 0x0a, 0x41])), 'INVALID_CSV');
    await rejectsWith(importCsvText(Buffer.from('a,b\n1,\xff\xfe\n', 'latin1')), 'INVALID_CSV');
  });

  it('reports a ragged row with its line number', async () => {
    const error = await rejectsWith(importCsvText('a,b\n1,2\n3,"x\ny"\n4,5,6\n'), 'RAGGED_ROW');
    assert.equal(error.details?.['line'], 5);
    assert.equal(error.details?.['found'], 3);
    const short = await rejectsWith(importCsvText('a,b,c\n1,2,3\n4,5\n'), 'RAGGED_ROW');
    assert.equal(short.details?.['line'], 3);
  });

  it('reports an unterminated quote with the line it starts on', async () => {
    const error = await rejectsWith(importCsvText('a,b\n1,2\n3,"never closed\n4,5\n'), 'UNTERMINATED_QUOTE');
    assert.equal(error.details?.['line'], 3);
  });

  it('rejects text after a closing quote', async () => {
    await rejectsWith(importCsvText('a,b\n1,"x"y\n'), 'INVALID_CSV');
  });
});
