import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { JOIN_LIMITS, merge } from '../../src/engine/dataOps/merge.ts';
import { runInProcess } from '../../src/engine/runInProcess.ts';
import type { DatasetMeta } from '../../src/storage/datasetMeta.ts';
import {
  type Cell,
  compareRows,
  isNA,
  type KeyRule,
  type Row,
  readRows,
  specRows,
  storeDataset,
  type Workspace,
  workspace,
} from './dataOpsHelpers.ts';
import { type ColumnSpec, seededRandom } from './helpers.ts';

/**
 * rxMerge through runInProcess with real job files: every join type checked row by row against a
 * nested-loop join written in the test (R's merge semantics: all pairs of equal keys, NA keys equal),
 * sorted by key, then left row, then right row. Small chunks make many runs and partitions.
 */

type MergeOutcome = {
  dataset: DatasetMeta;
  rowsLeft: number;
  rowsRight: number;
  rowsWritten: number;
  warnings: string[];
};

interface JoinSpec {
  type: 'inner' | 'left' | 'right' | 'full';
  keys: string[];
  /** Key order of the output (levels of factor keys: the unified list). */
  rules: KeyRule[];
  /** [input name, output name] of the non-key columns of each side. */
  leftRest: Array<[string, string]>;
  rightRest: Array<[string, string]>;
}

function sameCell(a: Cell, b: Cell): boolean {
  if (isNA(a) || isNA(b)) return isNA(a) && isNA(b);
  return a === b;
}

function referenceJoin(left: Row[], right: Row[], spec: JoinSpec): Row[] {
  const matches = (l: Row, r: Row) => spec.keys.every((k) => sameCell(l[k] ?? null, r[k] ?? null));
  const make = (l: Row | null, r: Row | null): Row => {
    const row: Row = {};
    for (const k of spec.keys) row[k] = l !== null ? l[k]! : r![k]!;
    for (const [from, to] of spec.leftRest) row[to] = l === null ? null : l[from]!;
    for (const [from, to] of spec.rightRest) row[to] = r === null ? null : r[from]!;
    return row;
  };
  const out: Array<{ row: Row; i: number; j: number }> = [];
  const matchedRight = new Set<number>();
  left.forEach((l, i) => {
    let any = false;
    right.forEach((r, j) => {
      if (!matches(l, r)) return;
      out.push({ row: make(l, r), i, j });
      matchedRight.add(j);
      any = true;
    });
    if (!any && (spec.type === 'left' || spec.type === 'full')) out.push({ row: make(l, null), i, j: -1 });
  });
  if (spec.type === 'right' || spec.type === 'full') {
    right.forEach((r, j) => {
      if (!matchedRight.has(j)) out.push({ row: make(null, r), i: -1, j });
    });
  }
  return out
    .sort((a, b) => compareRows(a.row, b.row, spec.rules) || a.i - b.i || a.j - b.j)
    .map((e) => e.row);
}

function sameRows(actual: Row[], expected: Row[], message: string): void {
  assert.equal(actual.length, expected.length, `${message}: row count`);
  for (let i = 0; i < expected.length; i++) assert.deepEqual(actual[i], expected[i], `${message}: row ${i}`);
}

function sides(seed: number, nLeft: number, nRight: number): { left: ColumnSpec[]; right: ColumnSpec[] } {
  const random = seededRandom(seed);
  const pick = <T>(values: readonly T[]) => values[Math.floor(random() * values.length)]!;
  return {
    left: [
      {
        name: 'k1',
        type: 'factor',
        levels: ['b', 'a', 'c'],
        values: Array.from({ length: nLeft }, () => (random() < 0.1 ? null : pick(['a', 'b', 'c']))),
      },
      {
        name: 'k2',
        type: 'integer',
        values: Array.from({ length: nLeft }, () => (random() < 0.1 ? null : pick([1, 2, 3]))),
      },
      {
        name: 'v',
        type: 'numeric',
        values: Array.from({ length: nLeft }, () => Math.round(random() * 100) / 4),
      },
      { name: 'w', type: 'string', values: Array.from({ length: nLeft }, (_, i) => `L${i}`) },
      { name: 'idL', type: 'integer', values: Array.from({ length: nLeft }, (_, i) => i) },
    ],
    right: [
      {
        name: 'k1',
        type: 'factor',
        levels: ['a', 'd', 'b'],
        values: Array.from({ length: nRight }, () => (random() < 0.1 ? null : pick(['a', 'b', 'd']))),
      },
      {
        name: 'k2',
        type: 'numeric',
        values: Array.from({ length: nRight }, () => (random() < 0.1 ? null : pick([1, 2, 2.5]))),
      },
      { name: 'w', type: 'string', values: Array.from({ length: nRight }, (_, i) => `R${i}`) },
      {
        name: 'z',
        type: 'logical',
        values: Array.from({ length: nRight }, () => (random() < 0.2 ? null : random() < 0.5)),
      },
      { name: 'idR', type: 'integer', values: Array.from({ length: nRight }, (_, i) => i) },
    ],
  };
}

describe('merge (rxMerge)', () => {
  let ws: Workspace;
  before(async () => {
    ws = await workspace();
  });
  after(async () => {
    JOIN_LIMITS.maxPartitionBytes = 512 * 1024 * 1024;
    await ws.close();
  });

  async function run(
    left: ColumnSpec[],
    right: ColumnSpec[],
    params: Record<string, unknown>,
    chunks = { left: 4, right: 3 },
    names = { left: 'flights', right: 'carriers' },
  ) {
    const l = await storeDataset(ws, left, chunks.left, names.left);
    const r = await storeDataset(ws, right, chunks.right, names.right);
    const io = ws.io();
    try {
      const result = (await runInProcess(merge, { right: r.meta.id, ...params }, l.meta, l.chunks, {
        io,
      })) as MergeOutcome;
      const rows = await readRows(ws.store, result.dataset);
      return { result, rows, left: specRows(left), right: specRows(right) };
    } finally {
      await ws.endJob(io);
    }
  }

  for (const type of ['inner', 'left', 'right', 'full'] as const) {
    it(`${type} join: duplicate keys on both sides, NA keys, factor levels unified, integer = numeric`, async () => {
      const { left, right } = sides(10 + type.length, 61, 47);
      const out = await run(left, right, { type, matchVars: ['k1', 'k2'], rowsPerOutputBlock: 5 });
      const spec: JoinSpec = {
        type,
        keys: ['k1', 'k2'],
        rules: [{ name: 'k1', levels: ['b', 'a', 'c', 'd'] }, { name: 'k2' }],
        leftRest: [
          ['v', 'v'],
          ['w', 'w.flights'],
          ['idL', 'idL'],
        ],
        rightRest: [
          ['w', 'w.carriers'],
          ['z', 'z'],
          ['idR', 'idR'],
        ],
      };
      const expected = referenceJoin(out.left, out.right, spec);
      sameRows(out.rows, expected, type);
      assert.ok(expected.length > 40, `a join with many pairs (${expected.length})`);
      const vars = out.result.dataset.variables;
      assert.deepEqual(
        vars.map((v) => v.name),
        ['k1', 'k2', 'v', 'w.flights', 'idL', 'w.carriers', 'z', 'idR'],
      );
      assert.deepEqual(vars[0]!.levels, ['b', 'a', 'c', 'd'], 'left levels, then the right one new ones');
      assert.equal(vars[1]!.type, 'numeric', 'integer meets numeric as numeric');
      assert.equal(out.result.rowsLeft, 61);
      assert.equal(out.result.rowsRight, 47);
      assert.ok(out.result.dataset.numChunks > 3, 'several output chunks');
      assert.ok(
        out.rows.some((r) => r.k1 === null && r.idL !== null && r.idR !== null),
        'NA keys matched NA keys',
      );
    });
  }

  it('decreasing with missingsLow false; a factor key meets a string key by label', async () => {
    const { left, right } = sides(3, 40, 30);
    const rightAsText = right.map(
      (c): ColumnSpec =>
        c.name === 'k1' ? { name: 'k1', type: 'string', values: c.values as (string | null)[] } : c,
    );
    const out = await run(left, rightAsText, {
      type: 'full',
      matchVars: ['k1'],
      decreasing: true,
      missingsLow: false,
      duplicateVarExt: ['x', 'y'],
      varsToKeep1: ['idL'],
      varsToDrop2: ['z', 'k2', 'w'],
      rowsPerOutputBlock: 7,
    });
    assert.equal(out.result.dataset.variables[0]!.type, 'string');
    const expected = referenceJoin(out.left, out.right, {
      type: 'full',
      keys: ['k1'],
      rules: [{ name: 'k1', decreasing: true, missingsLow: false }],
      leftRest: [['idL', 'idL']],
      rightRest: [['idR', 'idR']],
    });
    sameRows(out.rows, expected, 'full, decreasing, strings');
    assert.equal(out.rows[0]!.k1, null, 'NA highest, decreasing: first');
  });

  it('spreads a key with most of the left rows over several partitions', async () => {
    const random = seededRandom(5);
    const n = 400;
    const left: ColumnSpec[] = [
      {
        name: 'k',
        type: 'integer',
        values: Array.from({ length: n }, () => (random() < 0.8 ? 7 : Math.floor(random() * 10))),
      },
      { name: 'idL', type: 'integer', values: Array.from({ length: n }, (_, i) => i) },
    ];
    const right: ColumnSpec[] = [
      { name: 'k', type: 'integer', values: [7, 3, 7, 11, 0] },
      { name: 'idR', type: 'integer', values: [0, 1, 2, 3, 4] },
    ];
    const out = await run(
      left,
      right,
      { type: 'full', matchVars: 'k', rowsPerOutputBlock: 50 },
      { left: 10, right: 2 },
    );
    const expected = referenceJoin(out.left, out.right, {
      type: 'full',
      keys: ['k'],
      rules: [{ name: 'k' }],
      leftRest: [['idL', 'idL']],
      rightRest: [['idR', 'idR']],
    });
    sameRows(out.rows, expected, 'skewed left key');
    assert.ok(out.result.dataset.numChunks >= 10, `many partitions wrote: ${out.result.dataset.chunkRows}`);
  });

  it('refuses a right key with more rows than one task may hold (JOIN_KEY_TOO_FREQUENT)', async () => {
    const left: ColumnSpec[] = [{ name: 'k', type: 'integer', values: [1, 2, 3] }];
    const right: ColumnSpec[] = [
      { name: 'k', type: 'integer', values: Array.from({ length: 300 }, (_, i) => (i % 50 === 0 ? i : 2)) },
    ];
    JOIN_LIMITS.maxPartitionBytes = 2000;
    try {
      await assert.rejects(
        run(left, right, { type: 'inner', matchVars: 'k' }, { left: 2, right: 10 }),
        (error: Error & { code?: string; status?: number }) => {
          assert.equal(error.code, 'JOIN_KEY_TOO_FREQUENT');
          assert.equal(error.status, 422);
          assert.match(error.message, /right dataset/);
          return true;
        },
      );
    } finally {
      JOIN_LIMITS.maxPartitionBytes = 512 * 1024 * 1024;
    }
  });

  it('union: left rows then right rows, types widened and factor levels unified', async () => {
    const left: ColumnSpec[] = [
      { name: 'x', type: 'integer', values: [1, null, 3, 4, 5] },
      { name: 'f', type: 'factor', levels: ['p', 'q'], values: ['q', 'p', null, 'q', 'p'] },
    ];
    const right: ColumnSpec[] = [
      { name: 'f', type: 'factor', levels: ['r', 'q'], values: ['r', 'q', 'r'] },
      { name: 'x', type: 'numeric', values: [0.5, 7, null] },
    ];
    const out = await run(left, right, { type: 'union' }, { left: 2, right: 2 });
    assert.deepEqual(
      out.result.dataset.variables.map((v) => [v.name, v.type, v.levels]),
      [
        ['x', 'numeric', undefined],
        ['f', 'factor', ['p', 'q', 'r']],
      ],
    );
    sameRows(
      out.rows,
      [...out.left, ...out.right].map((r) => ({ x: r.x!, f: r.f! })),
      'union',
    );
    assert.deepEqual(out.result.dataset.chunkRows, [2, 2, 1, 2, 1], 'pieces follow the input chunks');
    await assert.rejects(run(left, [{ name: 'x', type: 'numeric', values: [1] }], { type: 'union' }), {
      code: 'VARIABLES_DIFFER',
    });
  });

  it('oneToOne: row i beside row i, duplicate names suffixed; unequal row counts refused', async () => {
    const left: ColumnSpec[] = [
      { name: 'a', type: 'integer', values: [1, 2, 3, 4, 5, 6, 7] },
      { name: 's', type: 'string', values: ['u', 'v', null, 'w', 'x', 'y', 'z'] },
    ];
    const right: ColumnSpec[] = [
      { name: 's', type: 'factor', levels: ['m', 'n'], values: ['m', 'n', 'n', null, 'm', 'm', 'n'] },
      { name: 'b', type: 'date', values: [1, 2, 3, 4, 5, 6, 7] },
    ];
    const out = await run(
      left,
      right,
      { type: 'oneToOne', duplicateVarExt: ['L', 'R'] },
      { left: 3, right: 2 },
    );
    const expected = out.left.map((l, i) => ({
      a: l.a!,
      's.L': l.s!,
      's.R': out.right[i]!.s!,
      b: out.right[i]!.b!,
    }));
    sameRows(out.rows, expected, 'oneToOne');
    await assert.rejects(
      run(
        left,
        right.map((c) => ({ ...c, values: c.values.slice(0, 6) }) as ColumnSpec),
        { type: 'oneToOne' },
      ),
      {
        code: 'ROW_COUNT_MISMATCH',
        status: 422,
      },
    );
  });

  it('refuses bad params with errors that say what to fix', async () => {
    const { left, right } = sides(9, 8, 8);
    await assert.rejects(run(left, right, { type: 'inner' }), { code: 'INVALID_PARAMS' });
    await assert.rejects(run(left, right, { matchVars: 'nope' }), { code: 'UNKNOWN_VARIABLE', status: 400 });
    await assert.rejects(run(left, right, { matchVars: 'v' }), { code: 'UNKNOWN_VARIABLE' });
    await assert.rejects(run(left, right, { matchVars: ['k1'], newVarNames2: { w: 'k2' } }), {
      code: 'DUPLICATE_VARIABLE',
    });
    const textRight = right.map(
      (c): ColumnSpec => (c.name === 'k2' ? { name: 'k2', type: 'string', values: c.values.map(String) } : c),
    );
    await assert.rejects(run(left, textRight, { matchVars: ['k2'] }), {
      code: 'INCOMPATIBLE_TYPES',
      status: 422,
    });
    await assert.rejects(run(left, right, { matchVars: ['k1'], duplicateVarExt: ['a', 'a'] }), {
      code: 'DUPLICATE_VARIABLE',
    });
    const stored = await storeDataset(ws, left, 4, 'l');
    const io = ws.io();
    await assert.rejects(
      runInProcess(merge, { right: 'ds_00000000000000000000', matchVars: 'k1' }, stored.meta, stored.chunks, {
        io,
      }),
      { code: 'DATASET_NOT_FOUND', status: 404 },
    );
  });

  it('renames right variables with newVarNames2 to match keys of another name', async () => {
    const { left, right } = sides(12, 20, 20);
    const renamed = right.map((c): ColumnSpec => (c.name === 'k2' ? { ...c, name: 'key2' } : c));
    const out = await run(left, renamed, {
      type: 'inner',
      matchVars: 'k2',
      newVarNames2: { key2: 'k2' },
      varsToKeep2: ['idR'],
    });
    const expected = referenceJoin(out.left, right.length ? specRows(right) : [], {
      type: 'inner',
      keys: ['k2'],
      rules: [{ name: 'k2' }],
      leftRest: [
        ['k1', 'k1'],
        ['v', 'v'],
        ['w', 'w'],
        ['idL', 'idL'],
      ],
      rightRest: [['idR', 'idR']],
    });
    sameRows(out.rows, expected, 'renamed key');
  });
});
