import {
  type Data,
  DataType,
  Dictionary,
  Int32,
  type Table,
  TimeUnit,
  Utf8,
  type Vector,
} from 'apache-arrow';
import { levelsVector, tableFromData } from '../../arrowData.ts';
import type { VarInfo } from '../../storage/datasetMeta.ts';
import { ChunkColumns } from '../columns.ts';
import { EngineError } from '../errors.ts';
import { suggestName } from '../formula/suggest.ts';
import { Compiler, type Scope } from './compile.ts';
import { FUNCTIONS, REFUSED_FUNCTIONS } from './functions.ts';
import { type Binding, storedNode } from './inputs.ts';
import { clip } from './lexer.ts';
import {
  BLOCK_ROWS,
  type Block,
  type LglNode,
  moveBlock,
  type Node,
  newBlock,
  type StrVec,
  type Vec,
} from './nodes.ts';
import { type OutputColumn, outputColumn } from './output.ts';
import { parseExpression } from './parser.ts';
import { LIMITS, type Source } from './source.ts';

export interface RowOpsSpec {
  transforms?: Record<string, string>;
  rowSelection?: string;
}

export interface RowOps {
  /** Variables the transforms create or replace, in order: type from the type checker, low/high null, missing 0, levels for factors (known at compile time). */
  readonly outputs: VarInfo[];
  /** The dataset's variables as analyses see them after the transforms (replaced ones swapped in place, new ones appended). */
  readonly variables: VarInfo[];
  /** Stored variables needed to produce `columns` (names of variables after transforms) and to evaluate rowSelection. */
  inputsFor(columns: readonly string[]): string[];
  /** Computes the transforms needed for `columns` on a chunk holding at least inputsFor(columns), then keeps the rows where rowSelection is TRUE. Returns a Table with exactly `columns` (Arrow types as src/storage/datasetMeta.ts's table: Float64, Int32, Bool, Dictionary<Utf8,Int32> with the full level list, Utf8, DateDay, TimestampMillisecond; missing = Arrow nulls). */
  apply(table: Table, columns: readonly string[]): Table;
}

interface CompiledTransform {
  readonly name: string;
  readonly node: Node;
  readonly storedUsed: ReadonlySet<string>;
  readonly transformsUsed: ReadonlySet<number>;
}

/** What one requested column is made from. */
type ColumnSource =
  | { kind: 'transform'; index: number; info: VarInfo }
  | { kind: 'stored'; info: VarInfo; node: Node };

/**
 * How `apply` computes one list of columns. Per block: the transforms rowSelection needs, on every row;
 * then the selection; then the other transforms, on the kept rows only (an expression's cost is paid
 * only for rows that are returned).
 */
interface Plan {
  /** Transforms rowSelection needs (closed under their own needs), ascending. */
  readonly beforeSelection: readonly number[];
  /** The other transforms the columns need, ascending (each may read earlier ones). */
  readonly afterSelection: readonly number[];
  /** Transforms of beforeSelection still read after the selection (by columns or later transforms). */
  readonly carried: readonly number[];
  readonly sources: readonly ColumnSource[];
  readonly stored: readonly string[];
}

/** Copies of values reduced to the kept rows, in buffers of its own (inputs and constants are never written). */
class Compactor {
  private f64: Float64Array | null = null;
  private u8: Uint8Array | null = null;
  private i32: Int32Array | null = null;
  private str: StrVec | null = null;

  compact(values: Vec, rows: Int32Array, n: number): Vec {
    if (values instanceof Float64Array) {
      this.f64 ??= new Float64Array(BLOCK_ROWS);
      const out = this.f64;
      for (let i = 0; i < n; i++) out[i] = values[rows[i] as number] as number;
      return out;
    }
    if (values instanceof Uint8Array) {
      this.u8 ??= new Uint8Array(BLOCK_ROWS);
      const out = this.u8;
      for (let i = 0; i < n; i++) out[i] = values[rows[i] as number] as number;
      return out;
    }
    if (values instanceof Int32Array) {
      this.i32 ??= new Int32Array(BLOCK_ROWS);
      const out = this.i32;
      for (let i = 0; i < n; i++) out[i] = values[rows[i] as number] as number;
      return out;
    }
    this.str ??= new Array<string | null>(BLOCK_ROWS).fill(null);
    const out = this.str;
    for (let i = 0; i < n; i++) out[i] = values[rows[i] as number] ?? null;
    return out;
  }
}

/** Names a transform may not take: they are JavaScript's object machinery, not variables. */
const RESERVED_NAMES: ReadonlySet<string> = new Set([
  '__proto__',
  'constructor',
  'prototype',
  '__defineGetter__',
  '__defineSetter__',
  '__lookupGetter__',
  '__lookupSetter__',
]);

// biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are exactly what is refused
const CONTROL = /[\u0000-\u001f\u007f]/;

function invalidName(name: string, why: string): EngineError {
  return new EngineError('INVALID_TRANSFORM_NAME', `transform name '${clip(name)}' ${why}`, 400, {
    name: clip(name, 255),
  });
}

function checkName(name: string): void {
  if (name.length === 0) throw invalidName(name, 'is empty');
  if (name.length > LIMITS.nameLength) {
    throw invalidName(name, `is ${name.length} characters long; the limit is ${LIMITS.nameLength}`);
  }
  if (CONTROL.test(name)) throw invalidName(name, 'contains control characters');
  if (RESERVED_NAMES.has(name)) throw invalidName(name, 'is reserved; choose another name');
}

function badSpec(message: string): EngineError {
  return new EngineError('INVALID_EXPRESSION', message, 400);
}

/** The transforms as [name, expression] pairs in key order, checked for shape and limits. */
function transformEntries(transforms: unknown): [string, string][] {
  if (transforms === undefined || transforms === null) return [];
  if (typeof transforms !== 'object' || Array.isArray(transforms)) {
    throw badSpec('transforms must be an object of "name": "expression" pairs');
  }
  // Own enumerable keys only: nothing inherited, and a key named __proto__ is just a (refused) name.
  const entries = Object.entries(transforms as Record<string, unknown>);
  if (entries.length > LIMITS.transforms) {
    throw new EngineError(
      'TOO_MANY_TRANSFORMS',
      `${entries.length} transforms given; the limit is ${LIMITS.transforms}`,
      400,
      { count: entries.length, limit: LIMITS.transforms },
    );
  }
  return entries.map(([name, expression]) => {
    checkName(name);
    if (typeof expression !== 'string') {
      throw badSpec(`transforms.${clip(name)} must be an expression in a string`);
    }
    return [name, expression];
  });
}

class MapScope implements Scope {
  constructor(private readonly bindings: ReadonlyMap<string, Binding>) {}
  lookup(name: string): Binding | undefined {
    return this.bindings.get(name);
  }
  names(): readonly string[] {
    return [...this.bindings.keys()];
  }
}

function compileOne(source: Source, scope: Scope): { node: Node; compiler: Compiler } {
  const ast = parseExpression(source);
  const compiler = new Compiler(source, scope, FUNCTIONS, REFUSED_FUNCTIONS);
  return { node: compiler.compile(ast), compiler };
}

function infoOf(name: string, node: Node): VarInfo {
  const info: VarInfo = { name, type: node.type, low: null, high: null, missing: 0 };
  if (node.repr === 'fac') info.levels = [...node.levels];
  return info;
}

/** Arrow data of a stored column that can be handed back as it is (one batch, the storage type). */
function reusable(table: Table, info: VarInfo): Data | null {
  const vector = table.getChild(info.name);
  const data = vector?.data.length === 1 ? vector.data[0] : undefined;
  if (data === undefined || data.offset !== 0) return null;
  const type = data.type;
  switch (info.type) {
    case 'numeric':
      return DataType.isFloat(type) && data.values instanceof Float64Array ? data : null;
    case 'integer':
      return DataType.isInt(type) && data.values instanceof Int32Array ? data : null;
    case 'logical':
      return DataType.isBool(type) ? data : null;
    case 'string':
      return DataType.isUtf8(type) ? data : null;
    case 'date':
      return DataType.isDate(type) && data.values instanceof Int32Array ? data : null;
    case 'timestamp':
      return DataType.isTimestamp(type) && type.unit === TimeUnit.MILLISECOND ? data : null;
    case 'factor': {
      const levels = info.levels ?? [];
      const dictionary = data.dictionary;
      if (!DataType.isDictionary(type) || !(data.values instanceof Int32Array) || dictionary === undefined) {
        return null;
      }
      if (dictionary.length !== levels.length) return null;
      for (let i = 0; i < levels.length; i++) if (dictionary.get(i) !== levels[i]) return null;
      return data;
    }
  }
}

class CompiledRowOps implements RowOps {
  readonly outputs: VarInfo[];
  readonly variables: VarInfo[];
  private readonly final: MapScope;
  private readonly plans = new Map<string, Plan>();
  private readonly dictionaries = new Map<string, Vector<Utf8>>();

  constructor(
    private readonly stored: readonly VarInfo[],
    private readonly transforms: readonly CompiledTransform[],
    private readonly selection: {
      node: LglNode;
      storedUsed: ReadonlySet<string>;
      transformsUsed: ReadonlySet<number>;
    } | null,
    bindings: ReadonlyMap<string, Binding>,
  ) {
    this.final = new MapScope(bindings);
    this.outputs = transforms.map((t) => infoOf(t.name, t.node));
    const replaced = new Map<string, VarInfo>();
    for (const info of this.outputs) replaced.set(info.name, info);
    const storedNames = new Set(stored.map((v) => v.name));
    this.variables = [
      ...stored.map((v) => replaced.get(v.name) ?? v),
      ...this.outputs.filter((info) => !storedNames.has(info.name)),
    ];
  }

  private plan(columns: readonly string[]): Plan {
    const key = columns.join('\u0000');
    const cached = this.plans.get(key);
    if (cached !== undefined) return cached;
    const stored = new Set<string>();
    /** Adds transform `index` and everything it reads to `into`. */
    const visit = (index: number, into: Set<number>) => {
      if (into.has(index)) return;
      into.add(index);
      const t = this.transforms[index] as CompiledTransform;
      for (const name of t.storedUsed) stored.add(name);
      for (const j of t.transformsUsed) visit(j, into);
    };
    const forSelection = new Set<number>();
    if (this.selection !== null) {
      for (const name of this.selection.storedUsed) stored.add(name);
      for (const j of this.selection.transformsUsed) visit(j, forSelection);
    }
    const forColumns = new Set<number>();
    const sources = columns.map((name): ColumnSource => {
      const binding = this.final.lookup(name);
      if (binding === undefined) {
        const suggestion = suggestName(name, this.final.names());
        throw new EngineError(
          'UNKNOWN_VARIABLE',
          `unknown variable '${clip(name)}'${suggestion === undefined ? '' : `; did you mean '${suggestion}'?`}`,
          400,
          { variable: clip(name, 255), ...(suggestion === undefined ? {} : { suggestion }) },
        );
      }
      if (binding.kind === 'stored') {
        stored.add(binding.info.name);
        return { kind: 'stored', info: binding.info, node: storedNode(binding.info, 0, binding.slot) };
      }
      visit(binding.index, forColumns);
      return { kind: 'transform', index: binding.index, info: this.outputs[binding.index] as VarInfo };
    });
    const ascending = (set: Iterable<number>) => [...set].sort((a, b) => a - b);
    const afterSelection = ascending([...forColumns].filter((i) => !forSelection.has(i)));
    const readAfter = new Set<number>();
    for (const source of sources) if (source.kind === 'transform') readAfter.add(source.index);
    for (const i of afterSelection)
      for (const j of (this.transforms[i] as CompiledTransform).transformsUsed) readAfter.add(j);
    const plan: Plan = {
      beforeSelection: ascending(forSelection),
      afterSelection,
      carried: ascending([...forSelection].filter((i) => readAfter.has(i))),
      sources,
      stored: this.stored.filter((v) => stored.has(v.name)).map((v) => v.name),
    };
    if (this.plans.size < 64) this.plans.set(key, plan);
    return plan;
  }

  inputsFor(columns: readonly string[]): string[] {
    return [...this.plan(columns).stored];
  }

  private dictionary(info: VarInfo): Vector<Utf8> {
    const levels = info.levels ?? [];
    const key = `${info.name}\u0000${levels.length}`;
    let vector = this.dictionaries.get(key);
    if (vector === undefined) {
      vector = levelsVector(levels);
      this.dictionaries.set(key, vector);
    }
    return vector;
  }

  /**
   * Fills `keep` with the block rows where the selection is TRUE and returns their count. A selection
   * `a & b & ...` is not materialised: a row is kept when every operand is TRUE (code 2), which the
   * bitwise AND of the codes tells in one pass (2 & 2 = 2; 2 & 1, 1 & 1 and 0 & x are below 2).
   */
  private select(selection: LglNode, block: Block, keep: Int32Array, scratch: Uint8Array): number {
    const n = block.length;
    let codes: Uint8Array;
    const parts = selection.conjuncts;
    if (parts === undefined) {
      codes = selection.run(block);
    } else {
      const first = (parts[0] as LglNode).run(block);
      const second = (parts[1] as LglNode).run(block);
      for (let i = 0; i < n; i++) scratch[i] = (first[i] as number) & (second[i] as number);
      for (let p = 2; p < parts.length; p++) {
        const next = (parts[p] as LglNode).run(block);
        for (let i = 0; i < n; i++) scratch[i] = (scratch[i] as number) & (next[i] as number);
      }
      codes = scratch;
    }
    let count = 0;
    for (let i = 0; i < n; i++) {
      // Branch-free: always write, advance only past kept rows (TRUE is 2; FALSE 0 and NA 1 are dropped).
      keep[count] = i;
      count += (codes[i] as number) >> 1;
    }
    return count;
  }

  apply(table: Table, columns: readonly string[]): Table {
    const plan = this.plan(columns);
    const numRows = table.numRows;
    const selection = this.selection?.node ?? null;
    const datas: (Data | null)[] = plan.sources.map((source) =>
      selection === null && source.kind === 'stored' ? reusable(table, source.info) : null,
    );
    const builders: (OutputColumn | null)[] = plan.sources.map((source, j) =>
      datas[j] !== null
        ? null
        : outputColumn(
            source.info.type,
            numRows,
            source.info.type === 'factor' ? this.dictionary(source.info) : null,
          ),
    );
    const block = newBlock(new ChunkColumns(table));
    const results = block.results;
    const transforms = this.transforms;
    const keep = new Int32Array(BLOCK_ROWS);
    const compactors = plan.carried.map(() => new Compactor());
    const conjunctScratch = new Uint8Array(BLOCK_ROWS);
    let kept = 0;
    for (let start = 0; start < numRows; start += BLOCK_ROWS) {
      const n = Math.min(BLOCK_ROWS, numRows - start);
      moveBlock(block, start, n);
      for (const index of plan.beforeSelection)
        results[index] = (transforms[index] as CompiledTransform).node.run(block);
      if (selection !== null) {
        const count = this.select(selection, block, keep, conjunctScratch);
        if (count < n) {
          plan.carried.forEach((index, c) => {
            results[index] = (compactors[c] as Compactor).compact(results[index] as Vec, keep, count);
          });
          block.rows = keep;
          block.length = count;
          block.stored.fill(undefined);
        }
      }
      const rows = block.length;
      kept += rows;
      if (rows === 0) continue;
      for (const index of plan.afterSelection)
        results[index] = (transforms[index] as CompiledTransform).node.run(block);
      for (let j = 0; j < plan.sources.length; j++) {
        const builder = builders[j];
        if (builder === null || builder === undefined) continue;
        const source = plan.sources[j] as ColumnSource;
        builder.append(
          source.kind === 'transform' ? (results[source.index] as Vec) : source.node.run(block),
          rows,
        );
      }
    }
    const columnsData = plan.sources.map((source, j) => {
      const reused = datas[j];
      if (reused !== null && reused !== undefined) {
        // The dictionary id must be unique within the table (IPC writers key dictionaries by it).
        return source.info.type === 'factor'
          ? reused.clone(new Dictionary(new Utf8(), new Int32(), j))
          : reused;
      }
      return (builders[j] as OutputColumn).finish(j);
    });
    return tableFromData(columns, columnsData, kept);
  }
}

/** null when spec has neither transforms nor rowSelection. Throws EngineError on bad input. */
export function compileRowOps(spec: RowOpsSpec, variables: readonly VarInfo[]): RowOps | null {
  const entries = transformEntries(spec.transforms);
  const rowSelection: unknown = spec.rowSelection;
  if (rowSelection !== undefined && rowSelection !== null && typeof rowSelection !== 'string') {
    throw badSpec('rowSelection must be an expression in a string');
  }
  if (entries.length === 0 && (rowSelection === undefined || rowSelection === null)) return null;
  const bindings = new Map<string, Binding>();
  variables.forEach((info, slot) => {
    bindings.set(info.name, { kind: 'stored', info, slot });
  });
  const scope = new MapScope(bindings);
  const transforms: CompiledTransform[] = entries.map(([name, text], index) => {
    const { node, compiler } = compileOne({ text, field: `transforms.${name}`, name }, scope);
    // Later expressions see this transform under its name (replacing a stored variable of that name).
    bindings.set(name, {
      kind: 'transform',
      index,
      name,
      type: node.type,
      levels: node.repr === 'fac' ? node.levels : undefined,
    });
    return { name, node, storedUsed: compiler.storedUsed, transformsUsed: compiler.transformsUsed };
  });
  let selection: {
    node: LglNode;
    storedUsed: ReadonlySet<string>;
    transformsUsed: ReadonlySet<number>;
  } | null = null;
  if (typeof rowSelection === 'string') {
    const { node, compiler } = compileOne(
      { text: rowSelection, field: 'rowSelection', name: undefined },
      scope,
    );
    selection = {
      node: compiler.logical(node, 'rowSelection'),
      storedUsed: compiler.storedUsed,
      transformsUsed: compiler.transformsUsed,
    };
  }
  return new CompiledRowOps(variables, transforms, selection, bindings);
}
