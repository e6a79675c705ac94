import type { VarType } from '../../storage/datasetMeta.ts';
import type { ChunkColumns } from '../columns.ts';

/**
 * Compiled expressions run over BLOCKS of rows: every node computes its result for up to BLOCK_ROWS rows
 * into a buffer of its own, reused block after block, so intermediate values stay in the CPU cache and
 * one loop per node per block does the work (a vectorised interpreter, as MonetDB/X100 does it).
 *
 * Values in a block, by representation:
 * - 'num' (numeric, integer, date = days, timestamp = UTC ms): Float64Array, NaN = NA;
 * - 'lgl' (logical, three-valued): Uint8Array with FALSE = 0, NA = 1, TRUE = 2, so that R's `&` is min,
 *   `|` is max and `!` is 2 - x (Kleene logic falls out of the order F < NA < T);
 * - 'fac' (factor): Int32Array of 0-based codes into the node's level list, -1 = NA;
 * - 'str' (string): an array of strings, null = NA.
 */

export const BLOCK_ROWS = 2048;

export const FALSE = 0;
export const NA_LGL = 1;
export const TRUE = 2;

export type StrVec = (string | null)[];
export type Vec = Float64Array | Uint8Array | Int32Array | StrVec;

/** One block of one chunk being evaluated. */
export interface Block {
  /** First row of the block within the chunk. */
  start: number;
  /** Rows in the block (at most BLOCK_ROWS). */
  length: number;
  /**
   * null: the block's rows are chunk rows start + i. Otherwise only the rows rowSelection kept, chunk rows
   * start + rows[i] (i < length): what is computed after the selection is computed for those rows only.
   */
  rows: Int32Array | null;
  /** The chunk's stored columns, each read out of Arrow once. */
  readonly inputs: ChunkColumns;
  /** This block's value of each transform evaluated so far, by transform index. */
  readonly results: Vec[];
  /** This block's value of each stored variable read so far, by slot, so a variable used twice is read once. */
  readonly stored: (Vec | undefined)[];
}

export function newBlock(inputs: ChunkColumns): Block {
  return { start: 0, length: 0, rows: null, inputs, results: [], stored: [] };
}

/** Moves a block on to rows [start, start + length) of the chunk, all of them. */
export function moveBlock(block: Block, start: number, length: number): void {
  block.start = start;
  block.length = length;
  block.rows = null;
  block.stored.fill(undefined);
}

interface NodeBase {
  /** 1-based column where the expression of this node starts, for error messages. */
  readonly column: number;
  /** How a message names this value: `factor 'carrier'`, `a number`. */
  readonly what: string;
  /** The stored variables or transforms it reads (none: a constant, folded at compile time). */
  readonly constant: boolean;
}

export interface NumNode extends NodeBase {
  readonly repr: 'num';
  readonly type: 'numeric' | 'integer' | 'date' | 'timestamp';
  /** The value when `constant` (NaN = NA). */
  readonly value: number;
  run(block: Block): Float64Array;
}

export interface LglNode extends NodeBase {
  readonly repr: 'lgl';
  readonly type: 'logical';
  readonly value: number;
  run(block: Block): Uint8Array;
  /** The node's negation in one pass, when it has a cheaper one than `!` over its result (!is.na). */
  readonly negated?: () => LglNode;
  /** For `a & b & ...`: the operands, so rowSelection can keep rows where all are TRUE in one pass. */
  readonly conjuncts?: readonly LglNode[];
}

export interface FacNode extends NodeBase {
  readonly repr: 'fac';
  readonly type: 'factor';
  readonly levels: readonly string[];
  readonly value: number;
  run(block: Block): Int32Array;
}

export interface StrNode extends NodeBase {
  readonly repr: 'str';
  readonly type: 'string';
  readonly value: string | null;
  run(block: Block): StrVec;
}

export type Node = NumNode | LglNode | FacNode | StrNode;
export type NumType = NumNode['type'];

/** A grow-once buffer per node: allocated on first use at BLOCK_ROWS, then reused for every block. */
export function f64Buffer(): () => Float64Array {
  let buffer: Float64Array | null = null;
  return () => {
    if (buffer === null) buffer = new Float64Array(BLOCK_ROWS);
    return buffer;
  };
}

export function u8Buffer(): () => Uint8Array {
  let buffer: Uint8Array | null = null;
  return () => {
    if (buffer === null) buffer = new Uint8Array(BLOCK_ROWS);
    return buffer;
  };
}

export function i32Buffer(): () => Int32Array {
  let buffer: Int32Array | null = null;
  return () => {
    if (buffer === null) buffer = new Int32Array(BLOCK_ROWS);
    return buffer;
  };
}

export function strBuffer(): () => StrVec {
  let buffer: StrVec | null = null;
  return () => {
    if (buffer === null) buffer = new Array<string | null>(BLOCK_ROWS).fill(null);
    return buffer;
  };
}

const ARTICLE: Record<VarType, string> = {
  numeric: 'a number',
  integer: 'an integer',
  logical: 'a logical value',
  factor: 'a factor',
  string: 'a string',
  date: 'a date',
  timestamp: 'a timestamp',
};

export function describeType(type: VarType): string {
  return ARTICLE[type];
}

/** Constants: run() hands out one buffer filled once (nothing ever writes into a child's result). */
export function numConstant(value: number, type: NumType, column: number, what?: string): NumNode {
  let filled: Float64Array | null = null;
  return {
    repr: 'num',
    type,
    column,
    what: what ?? describeType(type),
    constant: true,
    value,
    run: () => {
      if (filled === null) filled = new Float64Array(BLOCK_ROWS).fill(value);
      return filled;
    },
  };
}

export function lglConstant(value: number, column: number, what?: string): LglNode {
  let filled: Uint8Array | null = null;
  return {
    repr: 'lgl',
    type: 'logical',
    column,
    what: what ?? describeType('logical'),
    constant: true,
    value,
    run: () => {
      if (filled === null) filled = new Uint8Array(BLOCK_ROWS).fill(value);
      return filled;
    },
  };
}

export function facConstant(
  value: number,
  levels: readonly string[],
  column: number,
  what?: string,
): FacNode {
  let filled: Int32Array | null = null;
  return {
    repr: 'fac',
    type: 'factor',
    levels,
    column,
    what: what ?? describeType('factor'),
    constant: true,
    value,
    run: () => {
      if (filled === null) filled = new Int32Array(BLOCK_ROWS).fill(value);
      return filled;
    },
  };
}

export function strConstant(value: string | null, column: number, what?: string): StrNode {
  let filled: StrVec | null = null;
  return {
    repr: 'str',
    type: 'string',
    column,
    what: what ?? describeType('string'),
    constant: true,
    value,
    run: () => {
      if (filled === null) filled = new Array<string | null>(BLOCK_ROWS).fill(value);
      return filled;
    },
  };
}
