import type { Table } from 'apache-arrow';
import type { VarInfo, VarType } from '../../storage/datasetMeta.ts';
import { ChunkColumns } from '../columns.ts';
import { Compiler, type Scope } from './compile.ts';
import { FUNCTIONS, REFUSED_FUNCTIONS } from './functions.ts';
import type { Binding } from './inputs.ts';
import { BLOCK_ROWS, moveBlock, newBlock } from './nodes.ts';
import { parseExpression } from './parser.ts';
import { typeError } from './source.ts';

/** One numeric expression (formula in-line terms like `log(x)`, `pow(x, 2)`, `I(x * y)`): the values as doubles, NaN for NA. */
export interface CompiledExpression {
  /** Stored variables it reads, in the dataset's order. */
  readonly inputs: string[];
  readonly type: VarType;
  /** The level list when `type` is factor (then `evaluate` gives 0-based codes); absent otherwise. */
  readonly levels?: readonly string[];
  evaluate(table: Table): Float64Array;
}

/**
 * Compiles one expression over the stored variables. Numbers, integers, dates (days) and timestamps (ms)
 * come back as they are, logicals as 0/1, factors as their 0-based codes; text is a type error.
 */
export function compileExpression(text: string, variables: readonly VarInfo[]): CompiledExpression {
  const source = { text, field: undefined, name: undefined };
  const bindings = new Map<string, Binding>();
  variables.forEach((info, slot) => {
    bindings.set(info.name, { kind: 'stored', info, slot });
  });
  const scope: Scope = { lookup: (name) => bindings.get(name), names: () => [...bindings.keys()] };
  const compiler = new Compiler(source, scope, FUNCTIONS, REFUSED_FUNCTIONS);
  const node = compiler.compile(parseExpression(source));
  if (node.repr === 'str')
    throw typeError(source, `the expression must give numbers, not ${node.what}`, node.column);
  const inputs = variables.filter((v) => compiler.storedUsed.has(v.name)).map((v) => v.name);
  const evaluate = (table: Table): Float64Array => {
    const numRows = table.numRows;
    const out = new Float64Array(numRows);
    const block = newBlock(new ChunkColumns(table));
    for (let start = 0; start < numRows; start += BLOCK_ROWS) {
      const n = Math.min(BLOCK_ROWS, numRows - start);
      moveBlock(block, start, n);
      switch (node.repr) {
        case 'num':
          out.set(node.run(block).subarray(0, n), start);
          break;
        case 'lgl': {
          const codes = node.run(block);
          for (let i = 0; i < n; i++) {
            const v = codes[i] as number;
            out[start + i] = v === 2 ? 1 : v === 0 ? 0 : Number.NaN;
          }
          break;
        }
        case 'fac': {
          const codes = node.run(block);
          for (let i = 0; i < n; i++) {
            const v = codes[i] as number;
            out[start + i] = v < 0 ? Number.NaN : v;
          }
          break;
        }
      }
    }
    return out;
  };
  return {
    inputs,
    type: node.type,
    ...(node.repr === 'fac' ? { levels: node.levels } : {}),
    evaluate,
  };
}
