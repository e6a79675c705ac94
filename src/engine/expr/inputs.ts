import type { VarInfo, VarType } from '../../storage/datasetMeta.ts';
import {
  f64Buffer,
  i32Buffer,
  NA_LGL,
  type Node,
  type StrVec,
  strBuffer,
  TRUE,
  u8Buffer,
  FALSE as VFALSE,
} from './nodes.ts';

/**
 * Multiplier by validity byte: a missing row's value times NaN is NaN, a present one's times 1 is itself
 * (-0 and infinities included). Branch-free, so scattered missing values cost no mispredictions.
 */
const NA_OR_ONE = new Float64Array([Number.NaN, 1]);

/**
 * Block values of a numeric column with NA as NaN: rows start + i, or start + rows[i] after a selection.
 * Missing rows are multiplied by NaN rather than branched on, so scattered missing values cost no
 * mispredicted branches (and -0 and infinities pass through unchanged).
 */
function readRows(
  values: Float64Array,
  valid: Uint8Array | null,
  start: number,
  rows: Int32Array | null,
  n: number,
  out: Float64Array,
): Float64Array {
  const naOrOne = NA_OR_ONE;
  if (rows === null) {
    const mask = valid as Uint8Array;
    for (let i = 0; i < n; i++)
      out[i] = (values[start + i] as number) * (naOrOne[mask[start + i] as number] as number);
  } else if (valid === null) {
    for (let i = 0; i < n; i++) out[i] = values[start + (rows[i] as number)] as number;
  } else {
    for (let i = 0; i < n; i++) {
      const r = start + (rows[i] as number);
      out[i] = (values[r] as number) * (naOrOne[valid[r] as number] as number);
    }
  }
  return out;
}

/** A variable in an expression: a stored column of the chunk, or the value of an earlier transform. */
export type Binding =
  | { kind: 'stored'; info: VarInfo; slot: number }
  | { kind: 'transform'; index: number; name: string; type: VarType; levels: readonly string[] | undefined };

function describeVariable(type: VarType, name: string): string {
  return `${type} '${name}'`;
}

/**
 * A stored variable, read from the chunk's Arrow column once per chunk (ChunkColumns caches it) and
 * handed out block by block in the node representation (NA as NaN / 1 / -1 / null), once per block
 * however many times the expressions use it (`block.stored[slot]`).
 */
export function storedNode(info: VarInfo, column: number, slot: number): Node {
  const { name, type } = info;
  const what = describeVariable(type, name);
  const base = { column, what, constant: false } as const;
  switch (type) {
    case 'numeric':
    case 'integer':
    case 'date':
    case 'timestamp': {
      const buffer = f64Buffer();
      return {
        ...base,
        repr: 'num',
        type,
        value: Number.NaN,
        run(block) {
          const cached = block.stored[slot];
          if (cached !== undefined) return cached as Float64Array;
          const { values, valid } = block.inputs.numeric(name);
          const s = block.start;
          const n = block.length;
          const rows = block.rows;
          let result: Float64Array;
          if (rows === null && valid === null) result = values.subarray(s, s + n);
          else result = readRows(values, valid, s, rows, n, buffer());
          block.stored[slot] = result;
          return result;
        },
      };
    }
    case 'logical': {
      const buffer = u8Buffer();
      return {
        ...base,
        repr: 'lgl',
        type,
        value: NA_LGL,
        run(block) {
          const cached = block.stored[slot];
          if (cached !== undefined) return cached as Uint8Array;
          const { values, valid } = block.inputs.numeric(name);
          const s = block.start;
          const rows = block.rows;
          const out = buffer();
          for (let i = 0, n = block.length; i < n; i++) {
            const r = rows === null ? s + i : s + (rows[i] as number);
            out[i] = valid !== null && valid[r] === 0 ? NA_LGL : values[r] === 1 ? TRUE : VFALSE;
          }
          block.stored[slot] = out;
          return out;
        },
      };
    }
    case 'factor': {
      const levels = info.levels ?? [];
      const buffer = i32Buffer();
      return {
        ...base,
        repr: 'fac',
        type,
        levels,
        value: -1,
        run(block) {
          const cached = block.stored[slot];
          if (cached !== undefined) return cached as Int32Array;
          const { codes, valid } = block.inputs.factor(name, levels);
          const s = block.start;
          const n = block.length;
          const rows = block.rows;
          let result: Int32Array;
          if (rows === null && valid === null) {
            result = codes.subarray(s, s + n);
          } else {
            result = buffer();
            for (let i = 0; i < n; i++) {
              const r = rows === null ? s + i : s + (rows[i] as number);
              result[i] = valid === null || valid[r] === 1 ? (codes[r] as number) : -1;
            }
          }
          block.stored[slot] = result;
          return result;
        },
      };
    }
    case 'string': {
      const buffer = strBuffer();
      return {
        ...base,
        repr: 'str',
        type,
        value: null,
        run(block) {
          const cached = block.stored[slot];
          if (cached !== undefined) return cached as StrVec;
          const strings = block.inputs.strings(name);
          const s = block.start;
          const rows = block.rows;
          const out = buffer();
          for (let i = 0, n = block.length; i < n; i++) {
            out[i] = strings[rows === null ? s + i : s + (rows[i] as number)] ?? null;
          }
          block.stored[slot] = out;
          return out;
        },
      };
    }
  }
}

/** The value of transform `index` in the current block (transforms run in order, each once per block). */
export function transformNode(binding: Binding & { kind: 'transform' }, column: number): Node {
  const { index, type, name } = binding;
  const base = { column, what: describeVariable(type, name), constant: false } as const;
  switch (type) {
    case 'numeric':
    case 'integer':
    case 'date':
    case 'timestamp':
      return { ...base, repr: 'num', type, value: Number.NaN, run: (b) => b.results[index] as Float64Array };
    case 'logical':
      return { ...base, repr: 'lgl', type, value: NA_LGL, run: (b) => b.results[index] as Uint8Array };
    case 'factor':
      return {
        ...base,
        repr: 'fac',
        type,
        levels: binding.levels ?? [],
        value: -1,
        run: (b) => b.results[index] as Int32Array,
      };
    case 'string':
      return { ...base, repr: 'str', type, value: null, run: (b) => b.results[index] as StrVec };
  }
}
