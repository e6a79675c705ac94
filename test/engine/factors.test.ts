import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { DataStepResult } from '../../src/engine/dataOps/dataStep.ts';
import { factors } from '../../src/engine/dataOps/factors.ts';
import { runInProcessDetailed } from '../../src/engine/runInProcess.ts';
import type { DatasetMeta } from '../../src/storage/datasetMeta.ts';
import {
  type Cell,
  expectedStats,
  type Row,
  readRows,
  specRows,
  type Workspace,
  workspace,
} from './dataOpsHelpers.ts';
import { type ColumnSpec, makeDataset } from './helpers.ts';

const SPECIES = ['setosa', 'versicolor', 'virginica'];
const IRISH: ColumnSpec[] = [
  {
    name: 'Species',
    type: 'factor',
    values: ['virginica', 'setosa', null, 'versicolor', 'setosa', 'virginica', 'versicolor'],
    levels: SPECIES,
  },
  { name: 'w', type: 'numeric', values: [1, 2, 3, null, 5, 6, 7] },
];

/** A recoding written out in the test: old value -> new value (absent = missing). */
function recoded(rows: readonly Row[], from: string, to: string, map: Record<string, string | null>): Row[] {
  return rows.map((row) => {
    const old = row[from];
    const value = old === null || old === undefined ? null : (map[String(old)] ?? null);
    return { ...row, [to]: value };
  });
}

describe('factors', () => {
  let ws: Workspace;
  before(async () => {
    ws = await workspace();
  });
  after(async () => ws.close());

  async function run(params: Record<string, unknown>, columns: ColumnSpec[] = IRISH, rowsPerChunk = 2) {
    const ds = makeDataset(columns, rowsPerChunk);
    const io = ws.io();
    const { result, rounds } = await runInProcessDetailed(factors, params, ds.meta, ds.chunks, { io });
    await ws.endJob(io);
    const out = (result as DataStepResult).dataset;
    await assertDictionaries(out);
    return { out, rounds, rows: await readRows(ws.store, out), result: result as DataStepResult };
  }

  /** Every chunk's dictionary is the dataset-wide level list. */
  async function assertDictionaries(meta: DatasetMeta): Promise<void> {
    for (let index = 0; index < meta.numChunks; index++) {
      const table = await ws.store.readChunk(meta.id, index);
      for (const variable of meta.variables.filter((v) => v.type === 'factor')) {
        const dictionary = table.getChild(variable.name)?.data[0]?.dictionary;
        assert.deepEqual(dictionary?.toArray(), variable.levels, `${variable.name} in chunk ${index}`);
      }
    }
  }

  function levelsOf(meta: DatasetMeta, name: string): string[] | undefined {
    return meta.variables.find((v) => v.name === name)?.levels;
  }

  it('renames levels in place', async () => {
    const { out, rows, rounds } = await run({
      factorInfo: { Species: { newLevels: { Seto: 'setosa', Vers: 'versicolor', Virg: 'virginica' } } },
    });
    assert.equal(rounds, 1, 'a factor needs no first pass');
    assert.deepEqual(levelsOf(out, 'Species'), ['Seto', 'Vers', 'Virg']);
    assert.deepEqual(
      rows,
      recoded(specRows(IRISH), 'Species', 'Species', {
        setosa: 'Seto',
        versicolor: 'Vers',
        virginica: 'Virg',
      }),
    );
    assert.deepEqual(out.chunkRows, [2, 2, 2, 1], 'chunks as the input');
    assert.deepEqual(
      out.variables.map((v) => v.name),
      ['Species', 'w'],
    );
  });

  it('collapses levels into a new variable, keeping the source', async () => {
    const { out, rows } = await run({
      factorInfo: {
        Group: { varName: 'Species', newLevels: { V: 'setosa', S: ['versicolor', 'virginica'] } },
      },
    });
    assert.deepEqual(
      out.variables.map((v) => v.name),
      ['Species', 'w', 'Group'],
      'a new variable comes last',
    );
    assert.deepEqual(levelsOf(out, 'Group'), ['V', 'S']);
    assert.deepEqual(
      rows,
      recoded(specRows(IRISH), 'Species', 'Group', { setosa: 'V', versicolor: 'S', virginica: 'S' }),
    );
    const group = out.variables.find((v) => v.name === 'Group')!;
    assert.deepEqual(
      { low: group.low, high: group.high, missing: group.missing },
      expectedStats(
        rows.map((r) => r['Group'] ?? null),
        'factor',
        ['V', 'S'],
      ),
    );

    const sorted = await run({
      factorInfo: [
        {
          varName: 'Species',
          newName: 'Group',
          newLevels: { V: 'setosa', S: ['versicolor', 'virginica'] },
          sortLevels: true,
        },
      ],
      varsToDrop: ['Species'],
    });
    assert.deepEqual(
      sorted.out.variables.map((v) => v.name),
      ['w', 'Group'],
      'the source may be dropped',
    );
    assert.deepEqual(levelsOf(sorted.out, 'Group'), ['S', 'V']);
    assert.deepEqual(
      sorted.rows,
      recoded(specRows(IRISH), 'Species', 'Group', { setosa: 'V', versicolor: 'S', virginica: 'S' }).map(
        ({ Species: _s, ...rest }) => rest,
      ),
    );
  });

  it('sends unnamed levels to otherLevel, or keeps them after the named ones', async () => {
    const other = await run({
      factorInfo: { Species: { newLevels: { S: 'setosa' }, otherLevel: 'otherSpecies' } },
    });
    assert.deepEqual(levelsOf(other.out, 'Species'), ['S', 'otherSpecies']);
    assert.deepEqual(
      other.rows,
      recoded(specRows(IRISH), 'Species', 'Species', {
        setosa: 'S',
        versicolor: 'otherSpecies',
        virginica: 'otherSpecies',
      }),
    );
    const kept = await run({ factorInfo: { Species: { newLevels: { S: 'setosa' } } } });
    assert.deepEqual(levelsOf(kept.out, 'Species'), ['S', 'versicolor', 'virginica']);
    // The top-level otherLevel is every variable's default.
    const byDefault = await run({
      factorInfo: { Species: { newLevels: { S: 'setosa' } } },
      otherLevel: 'rest',
    });
    assert.deepEqual(levelsOf(byDefault.out, 'Species'), ['S', 'rest']);
  });

  it('reorders levels, adds empty ones, and restricts to given levels', async () => {
    const reorder = await run({
      factorInfo: { Species: { newLevels: ['versicolor', 'setosa', 'virginica', 'pumila'] } },
    });
    assert.deepEqual(levelsOf(reorder.out, 'Species'), ['versicolor', 'setosa', 'virginica', 'pumila']);
    assert.deepEqual(reorder.rows, specRows(IRISH), 'same values, other codes');

    const subset = await run({ factorInfo: { Species: { levels: ['virginica', 'setosa'] } } });
    assert.deepEqual(levelsOf(subset.out, 'Species'), ['virginica', 'setosa']);
    assert.deepEqual(
      subset.rows,
      recoded(specRows(IRISH), 'Species', 'Species', { setosa: 'setosa', virginica: 'virginica' }),
      'versicolor becomes missing',
    );
    const species = subset.out.variables.find((v) => v.name === 'Species')!;
    assert.equal(species.missing, 3);

    const withOther = await run({
      factorInfo: { Species: { levels: ['virginica', 'setosa'], otherLevel: 'x' } },
    });
    assert.deepEqual(levelsOf(withOther.out, 'Species'), ['virginica', 'setosa', 'x']);
  });

  it('makes factors of numbers with 6 significant digits, levels in the order met', async () => {
    const dbl = [
      1,
      2.1,
      3.12,
      4.123,
      5.1234,
      6.12345,
      7.123456,
      7.12346,
      81234.56789,
      91234567.8,
      null,
      Number.NaN,
      2.1,
    ];
    const columns: ColumnSpec[] = [{ name: 'VarDbl', type: 'numeric', values: dbl }];
    const { out, rows, rounds } = await run({ factorInfo: { VarDblFac: { varName: 'VarDbl' } } }, columns, 3);
    assert.equal(rounds, 2, 'a first pass collects the levels');
    const levels = ['1', '2.1', '3.12', '4.123', '5.1234', '6.12345', '7.12346', '81234.6', '91234600'];
    assert.deepEqual(levelsOf(out, 'VarDblFac'), levels);
    const expected: Cell[] = [...levels.slice(0, 7), '7.12346', '81234.6', '91234600', null, null, '2.1'];
    assert.deepEqual(
      rows.map((r) => r['VarDblFac']),
      expected,
    );

    const unsorted: ColumnSpec[] = [{ name: 'k', type: 'integer', values: [10, 9, null, 2, 10, 100] }];
    const met = await run({ factorInfo: ['k'] }, unsorted, 2);
    assert.deepEqual(levelsOf(met.out, 'k'), ['10', '9', '2', '100']);
    const sorted = await run({ factorInfo: ['k'], sortLevels: true }, unsorted, 2);
    assert.deepEqual(levelsOf(sorted.out, 'k'), ['2', '9', '10', '100'], 'numbers sort as numbers');
    assert.deepEqual(
      sorted.rows.map((r) => r['k']),
      ['10', '9', null, '2', '10', '100'],
    );
  });

  it('converts with given levels: other values become missing or otherLevel', async () => {
    const columns: ColumnSpec[] = [{ name: 'x', type: 'integer', values: [1, 2, 3, 4, 5] }];
    const na = await run({ factorInfo: { x: { levels: [2, 3, 4] } } }, columns);
    assert.equal(na.rounds, 1, 'given levels need no first pass');
    assert.deepEqual(levelsOf(na.out, 'x'), ['2', '3', '4']);
    assert.deepEqual(
      na.rows.map((r) => r['x']),
      [null, '2', '3', '4', null],
    );
    const other = await run({ factorInfo: { x: { levels: ['2', 3, 4], otherLevel: 'other' } } }, columns);
    assert.deepEqual(
      other.rows.map((r) => r['x']),
      ['other', '2', '3', '4', 'other'],
    );
  });

  it('makes factors of strings, logicals and dates, levels met across chunks', async () => {
    const columns: ColumnSpec[] = [
      { name: 's', type: 'string', values: ['pear', null, 'apple', 'pear', 'fig', '', 'apple'] },
      { name: 'b', type: 'logical', values: [true, true, null, false, true, false, true] },
      { name: 'd', type: 'date', values: [18000, null, 0, 18000, 1, 0, 2] },
    ];
    const { out, rows } = await run({ factorInfo: ['s', 'b', 'd'] }, columns, 2);
    assert.deepEqual(levelsOf(out, 's'), ['pear', 'apple', 'fig', '']);
    assert.deepEqual(levelsOf(out, 'b'), ['TRUE', 'FALSE']);
    assert.deepEqual(levelsOf(out, 'd'), ['2019-04-14', '1970-01-01', '1970-01-02', '1970-01-03']);
    const day = (n: number) => new Date(n * 86_400_000).toISOString().slice(0, 10);
    assert.deepEqual(
      rows,
      specRows(columns).map((row) => ({
        s: row['s'] ?? null,
        b: row['b'] === null ? null : row['b'] ? 'TRUE' : 'FALSE',
        d: row['d'] === null ? null : day(row['d'] as number),
      })),
    );
    const sorted = await run({ factorInfo: { s: { sortLevels: true } } }, columns, 2);
    assert.deepEqual(levelsOf(sorted.out, 's'), ['', 'apple', 'fig', 'pear']);
  });

  it('sorts the levels of every factor when factorInfo is left out', async () => {
    const columns: ColumnSpec[] = [
      { name: 'f', type: 'factor', values: ['b', 'c', 'a', null], levels: ['c', 'b', 'a'] },
      { name: 'g', type: 'factor', values: ['y', 'x', 'y', 'x'], levels: ['y', 'x'] },
      { name: 's', type: 'string', values: ['q', 'p', null, 'q'] },
    ];
    const { out, rows } = await run({ sortLevels: true }, columns, 3);
    assert.deepEqual(levelsOf(out, 'f'), ['a', 'b', 'c']);
    assert.deepEqual(levelsOf(out, 'g'), ['x', 'y']);
    assert.equal(out.variables.find((v) => v.name === 's')?.type, 'string', 'strings are left alone');
    assert.deepEqual(rows, specRows(columns));
  });

  it('fails with 422 when a variable has too many distinct values for a factor', async () => {
    const n = 100_001;
    const columns: ColumnSpec[] = [
      { name: 'id', type: 'integer', values: Array.from({ length: n }, (_, i) => i) },
    ];
    const ds = makeDataset(columns, 25_000);
    const io = ws.io();
    await assert.rejects(runInProcessDetailed(factors, { factorInfo: ['id'] }, ds.meta, ds.chunks, { io }), {
      status: 422,
      code: 'TOO_MANY_LEVELS',
    });
    await ws.endJob(io);
  });

  it('rejects bad factorInfo before anything runs', () => {
    const ds = makeDataset(IRISH, 2);
    const init = (params: Record<string, unknown>) => () =>
      factors.init(params as never, ds.meta, { datasets: new Map() });
    assert.throws(init({ factorInfo: { S: { varName: 'Specis' } } }), {
      status: 400,
      code: 'UNKNOWN_VARIABLE',
      message: "factorInfo: unknown variable 'Specis'; did you mean 'Species'?",
    });
    assert.throws(init({ factorInfo: { Species: { newLevels: { S: 'setossa' } } } }), {
      status: 400,
      code: 'UNKNOWN_LEVEL',
      message:
        "factorInfo.Species.newLevels: 'setossa' is not a level of the variable; did you mean 'setosa'?",
    });
    assert.throws(init({ factorInfo: { Species: { newLevels: { A: 'setosa', B: ['setosa'] } } } }), {
      code: 'DUPLICATE_LEVEL',
    });
    assert.throws(init({ factorInfo: [{ varName: 'w' }, { varName: 'Species', newName: 'w' }] }), {
      code: 'DUPLICATE_VARIABLE',
    });
    assert.throws(init({}), { status: 400, code: 'INVALID_PARAMS' });
    assert.throws(init({ factorInfo: ['w'], varsToKeep: ['w'], varsToDrop: ['Species'] }), {
      status: 400,
      code: 'INVALID_PARAMS',
    });
    assert.throws(init({ factorInfo: { Species: { description: 'x' } } }), {
      status: 400,
      code: 'INVALID_PARAMS',
    });
  });
});
