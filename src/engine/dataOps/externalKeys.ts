import { type ColumnKind, type ColumnValues, isMissing, type TextValues } from './columnValues.ts';

/**
 * Key order of the external sort and the merge (rxSort, rxMerge):
 * - numbers by value (-0 = 0), factor codes by code (= level order, as R orders factors), text by its
 *   UTF-8 bytes, which is Unicode code-point order (R's locale collation cannot be reproduced across
 *   machines, so we do not try); with `foldCase`, ASCII letters compare without case (rxSort's
 *   caseSensitive = FALSE);
 * - a missing value (NA, and NaN for numbers) sorts as the lowest value when `missingsLow`, else as the
 *   highest; missing values equal each other (so rxMerge matches NA keys to NA keys, as R's merge does);
 * - `decreasing` reverses a key's order, missing values included ("lowest" stays a value's position).
 * Ties between rows are broken by their place in the input, which makes every sort stable.
 */
export interface KeyOrder {
  kind: ColumnKind;
  decreasing: boolean;
  missingsLow: boolean;
  foldCase: boolean;
}

/** A key value that survives JSON: finite numbers, '+Inf'/'-Inf' for infinite ones, text, null = missing. */
export type KeyValue = number | string | null;

function compareText(a: TextValues, i: number, b: TextValues, j: number, foldCase: boolean): number {
  let x = a.offsets[i]!;
  const xEnd = a.offsets[i + 1]!;
  let y = b.offsets[j]!;
  const yEnd = b.offsets[j + 1]!;
  const ab = a.bytes;
  const bb = b.bytes;
  for (; x < xEnd && y < yEnd; x++, y++) {
    let p = ab[x]!;
    let q = bb[y]!;
    if (p === q) continue;
    if (foldCase) {
      if (p >= 65 && p <= 90) p += 32;
      if (q >= 65 && q <= 90) q += 32;
      if (p === q) continue;
    }
    return p < q ? -1 : 1;
  }
  const restA = xEnd - x;
  const restB = yEnd - y;
  return restA === restB ? 0 : restA < restB ? -1 : 1;
}

/** Compares row `i` of the key columns `a` with row `j` of `b` (same key order): -1, 0 or 1. */
export function compareKeys(
  orders: readonly KeyOrder[],
  a: readonly ColumnValues[],
  i: number,
  b: readonly ColumnValues[],
  j: number,
): number {
  for (let k = 0; k < orders.length; k++) {
    const order = orders[k]!;
    const x = a[k]!;
    const y = b[k]!;
    const mx = isMissing(x, i);
    const my = isMissing(y, j);
    let c = 0;
    if (mx || my) {
      if (mx && my) continue;
      c = mx === order.missingsLow ? -1 : 1;
    } else if (x.kind === 'number') {
      const p = x.values[i]!;
      const q = (y as typeof x).values[j]!;
      c = p < q ? -1 : p > q ? 1 : 0;
    } else if (x.kind === 'codes') {
      const p = x.codes[i]!;
      const q = (y as typeof x).codes[j]!;
      c = p < q ? -1 : p > q ? 1 : 0;
    } else c = compareText(x, i, y as typeof x, j, order.foldCase);
    if (c !== 0) return order.decreasing ? -c : c;
  }
  return 0;
}

/**
 * The row order that sorts `keys` (of `rows` rows) stably. Array.prototype.sort is a stable TimSort in
 * V8, and it finds presorted stretches: on runs laid end to end it does a k-way merge's work.
 */
export function stableOrder(
  orders: readonly KeyOrder[],
  keys: readonly ColumnValues[],
  rows: number,
): Int32Array {
  // Filled by push, not `new Array(rows)`: a holey array sorts more slowly in V8.
  const order: number[] = [];
  for (let i = 0; i < rows; i++) order.push(i);
  order.sort((i, j) => compareKeys(orders, keys, i, keys, j) || i - j);
  return Int32Array.from(order);
}

const decoder = new TextDecoder();
const encoder = new TextEncoder();

/** Row `i`'s key values, as JSON can carry them. */
export function keyTuple(keys: readonly ColumnValues[], i: number): KeyValue[] {
  return keys.map((column) => {
    if (isMissing(column, i)) return null;
    if (column.kind === 'codes') return column.codes[i]!;
    if (column.kind === 'text')
      return decoder.decode(column.bytes.subarray(column.offsets[i]!, column.offsets[i + 1]!));
    const v = column.values[i]!;
    return Number.isFinite(v) ? v : v > 0 ? '+Inf' : '-Inf';
  });
}

/** Key tuples as key columns (one row per tuple), to compare rows against with compareKeys. */
export function tupleColumns(orders: readonly KeyOrder[], tuples: readonly KeyValue[][]): ColumnValues[] {
  const n = tuples.length;
  return orders.map((order, k): ColumnValues => {
    const valid = new Uint8Array(n);
    for (let t = 0; t < n; t++) valid[t] = tuples[t]![k] === null ? 0 : 1;
    if (order.kind === 'number') {
      const values = new Float64Array(n);
      for (let t = 0; t < n; t++) {
        const v = tuples[t]![k];
        values[t] = v === '+Inf' ? Infinity : v === '-Inf' ? -Infinity : typeof v === 'number' ? v : 0;
      }
      return { kind: 'number', values, valid };
    }
    if (order.kind === 'codes') {
      const codes = new Int32Array(n);
      for (let t = 0; t < n; t++) codes[t] = Number(tuples[t]![k] ?? 0);
      return { kind: 'codes', codes, valid };
    }
    const encoded = tuples.map((tuple) =>
      encoder.encode(typeof tuple[k] === 'string' ? (tuple[k] as string) : ''),
    );
    const offsets = new Int32Array(n + 1);
    for (let t = 0; t < n; t++) offsets[t + 1] = offsets[t]! + encoded[t]!.length;
    const bytes = new Uint8Array(offsets[n]!);
    for (let t = 0; t < n; t++) bytes.set(encoded[t]!, offsets[t]!);
    return { kind: 'text', offsets, bytes, valid };
  });
}

/** First row of sorted `keys` (rows [0, rows)) whose key is >= probe row `p` (strictly > with `after`). */
export function searchKey(
  orders: readonly KeyOrder[],
  keys: readonly ColumnValues[],
  rows: number,
  probe: readonly ColumnValues[],
  p: number,
  after: boolean,
): number {
  let lo = 0;
  let hi = rows;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    const c = compareKeys(orders, keys, mid, probe, p);
    if (c < 0 || (after && c === 0)) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
