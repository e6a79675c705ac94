/**
 * The expression language against the same logic hand-written in TypeScript (issue 4's target: at least
 * 50% of its speed). BENCH_EXPR_ROWS rows (default 10,000,000) in 50 chunks of numeric columns a and b
 * with some nulls; transforms { ratio: a / (b + 1), logA: log(abs(a) + 1) } and rowSelection
 * `ratio > 0.5 & !is.na(b)`. Both sides run end to end per chunk: read the columns out of Arrow, compute,
 * keep the selected rows and build the output Arrow table. BENCH_RUNS repetitions (default 5), medians.
 * `BENCH_ONLY=expr npm run bench` runs it alone.
 */
import type { Data, Table } from 'apache-arrow';
import { float64Data, tableFromData, type Validity } from '../src/arrowData.ts';
import { readNumeric } from '../src/engine/columns.ts';
import { compileRowOps } from '../src/engine/expr/index.ts';
import type { VarInfo } from '../src/storage/datasetMeta.ts';
import { fmt, median, report, timeRuns } from './stats.ts';

const CHUNKS = 50;

function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A Float64 column with about `nullShare` of its rows missing. */
function column(rows: number, random: () => number, nullShare: number, scale: number): Data {
  const values = new Float64Array(rows);
  const bitmap = new Uint8Array((rows + 7) >> 3);
  let nulls = 0;
  for (let i = 0; i < rows; i++) {
    if (random() < nullShare) {
      nulls++;
      continue;
    }
    values[i] = (random() - 0.3) * scale;
    bitmap[i >> 3]! |= 1 << (i & 7);
  }
  return float64Data(values, { nullBitmap: bitmap, nullCount: nulls }, rows);
}

function makeChunks(rows: number): Table[] {
  const random = seeded(42);
  const perChunk = Math.ceil(rows / CHUNKS);
  const tables: Table[] = [];
  for (let start = 0; start < rows; start += perChunk) {
    const n = Math.min(perChunk, rows - start);
    tables.push(tableFromData(['a', 'b'], [column(n, random, 0.02, 10), column(n, random, 0.05, 4)], n));
  }
  return tables;
}

/** The same transforms and selection, written by hand: one fused loop per chunk. */
function handWritten(table: Table): Table {
  const a = readNumeric(table, 'a');
  const b = readNumeric(table, 'b');
  const n = table.numRows;
  const av = a.values;
  const bv = b.values;
  const aValid = a.valid;
  const bValid = b.valid;
  const ratio = new Float64Array(n);
  const logA = new Float64Array(n);
  const ratioBits = new Uint8Array((n + 7) >> 3);
  const logBits = new Uint8Array((n + 7) >> 3);
  let ratioNulls = 0;
  let logNulls = 0;
  let k = 0;
  for (let i = 0; i < n; i++) {
    const x = aValid === null || aValid[i] === 1 ? av[i]! : Number.NaN;
    const bMissing = bValid !== null && bValid[i] === 0;
    const y = bMissing ? Number.NaN : bv[i]!;
    const r = x / (y + 1);
    // R: NA > 0.5 is NA, and NA & TRUE is NA, which rowSelection drops.
    if (!(r > 0.5) || bMissing) continue;
    const l = Math.log(Math.abs(x) + 1);
    ratio[k] = r;
    logA[k] = l;
    if (Number.isNaN(r)) ratioNulls++;
    else ratioBits[k >> 3]! |= 1 << (k & 7);
    if (Number.isNaN(l)) logNulls++;
    else logBits[k >> 3]! |= 1 << (k & 7);
    k++;
  }
  const validity = (bits: Uint8Array, nulls: number): Validity =>
    nulls === 0 ? { nullBitmap: undefined, nullCount: 0 } : { nullBitmap: bits, nullCount: nulls };
  return tableFromData(
    ['ratio', 'logA'],
    [
      float64Data(ratio.subarray(0, k), validity(ratioBits, ratioNulls), k),
      float64Data(logA.subarray(0, k), validity(logBits, logNulls), k),
    ],
    k,
  );
}

function sameTables(x: Table, y: Table): boolean {
  if (x.numRows !== y.numRows) return false;
  for (const name of ['ratio', 'logA']) {
    const u = readNumeric(x, name);
    const v = readNumeric(y, name);
    for (let i = 0; i < x.numRows; i++) {
      const uValid = u.valid === null || u.valid[i] === 1;
      const vValid = v.valid === null || v.valid[i] === 1;
      if (uValid !== vValid || (uValid && !Object.is(u.values[i], v.values[i]))) return false;
    }
  }
  return true;
}

export async function benchExpr(): Promise<void> {
  const rows = Number(process.env['BENCH_EXPR_ROWS'] ?? 10_000_000);
  const runs = Number(process.env['BENCH_RUNS'] ?? 5);
  const chunks = makeChunks(rows);
  const variables: VarInfo[] = ['a', 'b'].map((name) => ({
    name,
    type: 'numeric',
    low: null,
    high: null,
    missing: 0,
  }));
  const rowOps = compileRowOps(
    {
      transforms: { ratio: 'a / (b + 1)', logA: 'log(abs(a) + 1)' },
      rowSelection: 'ratio > 0.5 & !is.na(b)',
    },
    variables,
  );
  if (rowOps === null) throw new Error('no row operations compiled');
  const columns = ['ratio', 'logA'];
  console.log(`\n# expressions: ${fmt(rows)} rows in ${chunks.length} chunks, 2 transforms + rowSelection`);

  let keptRows = 0;
  for (const table of chunks) {
    const expected = handWritten(table);
    if (!sameTables(rowOps.apply(table, columns), expected))
      throw new Error('rowOps.apply and the hand-written loop disagree');
    keptRows += expected.numRows;
  }
  const runAll = (fn: (t: Table) => Table) => () => {
    let sink = 0;
    for (const table of chunks) sink += fn(table).numRows;
    if (sink !== keptRows) throw new Error('row count changed between runs');
  };
  // Alternate the two so that neither gets a warmer machine; warm both first.
  runAll(handWritten)();
  runAll((t) => rowOps.apply(t, columns))();
  const hand: number[] = [];
  const expr: number[] = [];
  for (let r = 0; r < runs; r++) {
    hand.push(...(await timeRuns(1, runAll(handWritten))));
    expr.push(
      ...(await timeRuns(
        1,
        runAll((t) => rowOps.apply(t, columns)),
      )),
    );
  }
  const handSeconds = median(hand);
  const exprSeconds = median(expr);
  report('hand-written TypeScript loop', `${fmt(rows / handSeconds)} rows/s`);
  report('rowOps.apply (compiled expressions)', `${fmt(rows / exprSeconds)} rows/s`);
  report(
    'expressions / hand-written speed (target >= 0.50)',
    `${(handSeconds / exprSeconds).toFixed(2)}  (${fmt(keptRows)} of ${fmt(rows)} rows kept)`,
  );
}
