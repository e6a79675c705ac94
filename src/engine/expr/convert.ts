import { facNode, lglNode, numNode, strNode } from './build.ts';
import { formatDate, formatTimestamp, MS_PER_DAY } from './dates.ts';
import { formatNumber } from './format.ts';
import {
  type FacNode,
  f64Buffer,
  i32Buffer,
  type LglNode,
  type NumNode,
  type NumType,
  type StrNode,
  strBuffer,
  u8Buffer,
} from './nodes.ts';

/** Conversions between value representations, each one pass over the block (R's coercion rules). */

/** Logical to number: TRUE 1, FALSE 0, NA NaN (R's as.integer(TRUE) = 1L). */
export function lglToNum(x: LglNode, type: NumType = 'integer'): NumNode {
  const buffer = f64Buffer();
  return numNode(type, x.column, [x], (b) => {
    const a = x.run(b);
    const out = buffer();
    for (let i = 0, n = b.length; i < n; i++) {
      const v = a[i] as number;
      out[i] = v === 2 ? 1 : v === 0 ? 0 : Number.NaN;
    }
    return out;
  });
}

/** Number to logical: 0 is FALSE, any other number TRUE, NA stays NA (R's as.logical). */
export function numToLgl(x: NumNode): LglNode {
  const buffer = u8Buffer();
  return lglNode(x.column, [x], (b) => {
    const a = x.run(b);
    const out = buffer();
    for (let i = 0, n = b.length; i < n; i++) {
      const v = a[i] as number;
      out[i] = Number.isNaN(v) ? 1 : v !== 0 ? 2 : 0;
    }
    return out;
  });
}

/** `x * factor`, keeping NaN: unit changes (days to ms, ms to seconds). */
export function scaleNum(x: NumNode, factor: number, type: NumType): NumNode {
  const buffer = f64Buffer();
  return numNode(type, x.column, [x], (b) => {
    const a = x.run(b);
    const out = buffer();
    for (let i = 0, n = b.length; i < n; i++) out[i] = (a[i] as number) * factor;
    return out;
  });
}

/** A timestamp's day (UTC), as as.Date(<POSIXct>) gives it. */
export function timestampToDate(x: NumNode): NumNode {
  const buffer = f64Buffer();
  return numNode('date', x.column, [x], (b) => {
    const a = x.run(b);
    const out = buffer();
    for (let i = 0, n = b.length; i < n; i++) out[i] = Math.floor((a[i] as number) / MS_PER_DAY);
    return out;
  });
}

/** Relabels a number-valued node with another number type (no change to the values). */
export function retype(x: NumNode, type: NumType): NumNode {
  return x.type === type ? x : { ...x, type };
}

/** as.integer(): truncation toward zero; outside the 32-bit range NA. */
export function truncInteger(x: NumNode): NumNode {
  const buffer = f64Buffer();
  return numNode('integer', x.column, [x], (b) => {
    const a = x.run(b);
    const out = buffer();
    for (let i = 0, n = b.length; i < n; i++) {
      const v = Math.trunc(a[i] as number);
      out[i] = v >= -2147483647 && v <= 2147483647 ? v : Number.NaN;
    }
    return out;
  });
}

/** A factor's codes as R's as.integer(<factor>) gives them: 1-based, NA for missing. */
export function facToCodes(x: FacNode): NumNode {
  const buffer = f64Buffer();
  return numNode('integer', x.column, [x], (b) => {
    const a = x.run(b);
    const out = buffer();
    for (let i = 0, n = b.length; i < n; i++) {
      const v = a[i] as number;
      out[i] = v < 0 ? Number.NaN : v + 1;
    }
    return out;
  });
}

export function facToStr(x: FacNode): StrNode {
  const levels = x.levels;
  const buffer = strBuffer();
  return strNode(x.column, [x], (b) => {
    const a = x.run(b);
    const out = buffer();
    for (let i = 0, n = b.length; i < n; i++) {
      const v = a[i] as number;
      out[i] = v < 0 ? null : (levels[v] ?? null);
    }
    return out;
  });
}

export function lglToStr(x: LglNode): StrNode {
  const buffer = strBuffer();
  return strNode(x.column, [x], (b) => {
    const a = x.run(b);
    const out = buffer();
    for (let i = 0, n = b.length; i < n; i++) {
      const v = a[i] as number;
      out[i] = v === 2 ? 'TRUE' : v === 0 ? 'FALSE' : null;
    }
    return out;
  });
}

/** as.character() of numbers, dates (YYYY-MM-DD) and timestamps (YYYY-MM-DD HH:MM:SS, UTC). */
export function numToStr(x: NumNode): StrNode {
  const format =
    x.type === 'date'
      ? formatDate
      : x.type === 'timestamp'
        ? formatTimestamp
        : x.type === 'integer'
          ? (v: number) => String(v)
          : formatNumber;
  const buffer = strBuffer();
  return strNode(x.column, [x], (b) => {
    const a = x.run(b);
    const out = buffer();
    for (let i = 0, n = b.length; i < n; i++) {
      const v = a[i] as number;
      out[i] = Number.isNaN(v) ? null : format(v);
    }
    return out;
  });
}

const DECIMAL_TEXT = /^[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?$/;
const HEX_TEXT = /^([+-]?)0[xX]([0-9a-fA-F]+)$/;
const INF_TEXT = /^([+-]?)(?:inf|infinity)$/i;

/** R's as.numeric(<character>): surrounding blanks ignored; decimal, hex and Inf; anything else NA. */
export function parseRNumber(text: string): number {
  const t = text.trim();
  if (t.length === 0 || t.length > 400) return Number.NaN;
  if (DECIMAL_TEXT.test(t)) return Number(t);
  const hex = HEX_TEXT.exec(t);
  if (hex !== null) return (hex[1] === '-' ? -1 : 1) * Number.parseInt(hex[2] as string, 16);
  const inf = INF_TEXT.exec(t);
  if (inf !== null) return inf[1] === '-' ? Number.NEGATIVE_INFINITY : Number.POSITIVE_INFINITY;
  return Number.NaN;
}

export function strToNum(x: StrNode): NumNode {
  const buffer = f64Buffer();
  return numNode('numeric', x.column, [x], (b) => {
    const a = x.run(b);
    const out = buffer();
    for (let i = 0, n = b.length; i < n; i++) {
      const v = a[i] ?? null;
      out[i] = v === null ? Number.NaN : parseRNumber(v);
    }
    return out;
  });
}

const TRUE_TEXT: ReadonlySet<string> = new Set(['TRUE', 'true', 'T', 'True']);
const FALSE_TEXT: ReadonlySet<string> = new Set(['FALSE', 'false', 'F', 'False']);

/** R's as.logical(<character>): the spellings R accepts, anything else NA. */
export function strToLgl(x: StrNode): LglNode {
  const buffer = u8Buffer();
  return lglNode(x.column, [x], (b) => {
    const a = x.run(b);
    const out = buffer();
    for (let i = 0, n = b.length; i < n; i++) {
      const v = a[i] ?? null;
      out[i] = v === null ? 1 : TRUE_TEXT.has(v) ? 2 : FALSE_TEXT.has(v) ? 0 : 1;
    }
    return out;
  });
}

/** Text to a factor with known levels; text that is not a level is NA (R's factor(x, levels)). */
export function strToFac(x: StrNode, levels: readonly string[]): FacNode {
  const index = new Map<string, number>();
  levels.forEach((level, code) => {
    if (!index.has(level)) index.set(level, code);
  });
  const buffer = i32Buffer();
  return facNode(levels, x.column, [x], (b) => {
    const a = x.run(b);
    const out = buffer();
    for (let i = 0, n = b.length; i < n; i++) {
      const v = a[i] ?? null;
      out[i] = v === null ? -1 : (index.get(v) ?? -1);
    }
    return out;
  });
}

/** Codes of one level list mapped onto another by label (-1 where a label is not in `levels`). */
export function levelMap(from: readonly string[], levels: readonly string[]): Int32Array {
  const index = new Map<string, number>();
  levels.forEach((level, code) => {
    if (!index.has(level)) index.set(level, code);
  });
  return Int32Array.from(from, (label) => index.get(label) ?? -1);
}

/** A factor recoded onto another level list by label. */
export function facToFac(x: FacNode, levels: readonly string[]): FacNode {
  const map = levelMap(x.levels, levels);
  const buffer = i32Buffer();
  return facNode(levels, x.column, [x], (b) => {
    const a = x.run(b);
    const out = buffer();
    for (let i = 0, n = b.length; i < n; i++) {
      const v = a[i] as number;
      out[i] = v < 0 ? -1 : (map[v] as number);
    }
    return out;
  });
}

/** Numbers to a factor whose levels are the given numbers (R's factor(x, levels = c(1, 2, 3))). */
export function numToFac(x: NumNode, values: readonly number[], labels: readonly string[]): FacNode {
  const index = new Map<number, number>();
  values.forEach((value, code) => {
    if (!index.has(value)) index.set(value, code);
  });
  const buffer = i32Buffer();
  return facNode(labels, x.column, [x], (b) => {
    const a = x.run(b);
    const out = buffer();
    for (let i = 0, n = b.length; i < n; i++) out[i] = index.get(a[i] as number) ?? -1;
    return out;
  });
}

/** Logical to a factor with levels FALSE, TRUE (R's factor(<logical>) when both values occur). */
export function lglToFac(x: LglNode): FacNode {
  const buffer = i32Buffer();
  return facNode(['FALSE', 'TRUE'], x.column, [x], (b) => {
    const a = x.run(b);
    const out = buffer();
    for (let i = 0, n = b.length; i < n; i++) {
      const v = a[i] as number;
      out[i] = v === 2 ? 1 : v === 0 ? 0 : -1;
    }
    return out;
  });
}
