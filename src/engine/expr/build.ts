import { Table } from 'apache-arrow';
import { ChunkColumns } from '../columns.ts';
import {
  type Block,
  describeType,
  type FacNode,
  facConstant,
  type LglNode,
  lglConstant,
  type Node,
  type NumNode,
  type NumType,
  newBlock,
  numConstant,
  type StrNode,
  type StrVec,
  strConstant,
} from './nodes.ts';

/**
 * Constructors of derived nodes. When every child is a constant the node is evaluated once, on a
 * one-row block, and replaced by a constant (constant folding), so `log(2) * x` costs one multiply
 * per row and the kernels can use their vector-scalar forms.
 */

const FOLD_BLOCK: Block = { ...newBlock(new ChunkColumns(new Table())), length: 1 };

function foldable(children: readonly Node[]): boolean {
  return children.length > 0 && children.every((c) => c.constant);
}

export function numNode(
  type: NumType,
  column: number,
  children: readonly Node[],
  run: (block: Block) => Float64Array,
): NumNode {
  if (foldable(children)) return numConstant(run(FOLD_BLOCK)[0] as number, type, column);
  return { repr: 'num', type, column, what: describeType(type), constant: false, value: Number.NaN, run };
}

export function lglNode(
  column: number,
  children: readonly Node[],
  run: (block: Block) => Uint8Array,
): LglNode {
  if (foldable(children)) return lglConstant(run(FOLD_BLOCK)[0] as number, column);
  return {
    repr: 'lgl',
    type: 'logical',
    column,
    what: describeType('logical'),
    constant: false,
    value: 1,
    run,
  };
}

export function facNode(
  levels: readonly string[],
  column: number,
  children: readonly Node[],
  run: (block: Block) => Int32Array,
): FacNode {
  if (foldable(children)) return facConstant(run(FOLD_BLOCK)[0] as number, levels, column);
  return {
    repr: 'fac',
    type: 'factor',
    levels,
    column,
    what: describeType('factor'),
    constant: false,
    value: -1,
    run,
  };
}

export function strNode(column: number, children: readonly Node[], run: (block: Block) => StrVec): StrNode {
  if (foldable(children)) return strConstant(run(FOLD_BLOCK)[0] ?? null, column);
  return {
    repr: 'str',
    type: 'string',
    column,
    what: describeType('string'),
    constant: false,
    value: null,
    run,
  };
}
