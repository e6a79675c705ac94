import { lglNode, numNode } from './build.ts';
import { facToStr, lglToNum, lglToStr, numToLgl, scaleNum } from './convert.ts';
import { MS_PER_DAY, parseDate, parseTimestamp } from './dates.ts';
import { formatNumber } from './format.ts';
import { type Binding, storedNode, transformNode } from './inputs.ts';
import {
  ARITH_SV,
  ARITH_VS,
  ARITH_VV,
  type ArithOp,
  andVV,
  COMPARE_VS,
  COMPARE_VV,
  type CompareOp,
  clampInteger,
  FLIPPED,
  MATH,
  notV,
  orVV,
} from './kernels.ts';
import { clip } from './lexer.ts';
import {
  f64Buffer,
  type LglNode,
  lglConstant,
  type Node,
  type NumNode,
  numConstant,
  type StrNode,
  strConstant,
  u8Buffer,
} from './nodes.ts';
import type { Ast, BinaryNode, CallNode, NameNode } from './parser.ts';
import { type Source, syntaxError, typeError, unknownFunction, unknownVariable } from './source.ts';

/**
 * Type checking and compilation in one walk over the AST: each node's type is decided from its
 * children's (R's coercion rules, listed at each operator), type errors are raised with the column of
 * the offending operand, and the node's block evaluator is built. Names resolve through `Scope`
 * (Maps, never object properties), so no user text ever reaches a JavaScript property lookup.
 */

export interface Scope {
  lookup(name: string): Binding | undefined;
  /** Every name in scope, for "did you mean". */
  names(): readonly string[];
}

/** Constants listed with c(...) (right of %in%, cut's breaks and labels, factor's levels). */
export type ConstVector =
  | { kind: 'number'; values: number[] }
  | { kind: 'string'; values: (string | null)[] }
  | { kind: 'logical'; values: number[] };

/** What the function table sees of the compiler. */
export interface CallContext {
  readonly source: Source;
  compile(ast: Ast): Node;
  /** A number-valued node (logical becomes integer); a type error naming `role` otherwise. */
  numeric(node: Node, role: string): NumNode;
  /** A logical node (numbers: non-zero is TRUE); a type error naming `role` otherwise. */
  logical(node: Node, role: string): LglNode;
  constants(ast: Ast, role: string): ConstVector;
  arith(op: ArithOp, left: NumNode, right: NumNode, type?: NumNode['type']): NumNode;
  typeError(message: string, column: number): never;
  syntaxError(message: string, column: number): never;
}

export interface FunctionArgs {
  /** The argument given for parameter `name`, if any. */
  get(name: string): Ast | undefined;
  /** Column of the argument for `name` (or of the call when absent). */
  column(name: string): number;
  /** Arguments matched to `...`, in order. */
  readonly rest: readonly Ast[];
}

export interface FunctionSpec {
  /** Formal parameters in R's order; `...` takes any number of positional arguments. */
  readonly params: readonly string[];
  /** Parameters that must be given. */
  readonly required: readonly string[];
  compile(args: FunctionArgs, call: CallNode, cx: CallContext): Node;
}

const ARITH_OPS: ReadonlySet<string> = new Set(['+', '-', '*', '/', '^', '%%', '%/%']);
const COMPARE_OPS: ReadonlySet<string> = new Set(['==', '!=', '<', '<=', '>', '>=']);
/** Integer op integer stays integer for these (R); `/` and `^` always give doubles. */
const INTEGER_PRESERVING: ReadonlySet<ArithOp> = new Set(['+', '-', '*', '%%', '%/%']);

/** Names R reads as constants unless the data has a variable of that name. */
const SHADOWABLE_CONSTANTS: ReadonlyMap<string, () => Node> = new Map<string, () => Node>([
  ['T', () => lglConstant(2, 0, 'TRUE')],
  ['F', () => lglConstant(0, 0, 'FALSE')],
  ['Inf', () => numConstant(Number.POSITIVE_INFINITY, 'numeric', 0, 'Inf')],
  ['NaN', () => numConstant(Number.NaN, 'numeric', 0, 'NaN')],
  ['pi', () => numConstant(Math.PI, 'numeric', 0, 'pi')],
]);

function isNA(node: Node): boolean {
  if (!node.constant) return false;
  switch (node.repr) {
    case 'num':
      return Number.isNaN(node.value);
    case 'lgl':
      return node.value === 1;
    case 'fac':
      return node.value < 0;
    case 'str':
      return node.value === null;
  }
}

function isPlainNumber(node: NumNode): boolean {
  return node.type === 'numeric' || node.type === 'integer';
}

export class Compiler implements CallContext {
  /** Stored variables the expression reads. */
  readonly storedUsed = new Set<string>();
  /** Earlier transforms the expression reads, by index. */
  readonly transformsUsed = new Set<number>();

  constructor(
    readonly source: Source,
    private readonly scope: Scope,
    private readonly functions: ReadonlyMap<string, FunctionSpec>,
    /** Functions R has but that make no sense per row, with the reason shown to the user. */
    private readonly refused: ReadonlyMap<string, string>,
  ) {}

  typeError(message: string, column: number): never {
    throw typeError(this.source, message, column);
  }

  syntaxError(message: string, column: number): never {
    throw syntaxError(this.source, message, column);
  }

  compile(ast: Ast): Node {
    switch (ast.kind) {
      case 'number':
        return numConstant(
          ast.value,
          ast.integer ? 'integer' : 'numeric',
          ast.column,
          `the number ${ast.value}`,
        );
      case 'string':
        return strConstant(ast.value, ast.column, `the string "${clip(ast.value)}"`);
      case 'literal':
        switch (ast.value) {
          case 'TRUE':
            return lglConstant(2, ast.column, 'TRUE');
          case 'FALSE':
            return lglConstant(0, ast.column, 'FALSE');
          case 'NA':
            return lglConstant(1, ast.column, 'NA');
          case 'NA_integer_':
            return numConstant(Number.NaN, 'integer', ast.column, 'NA_integer_');
          case 'NA_real_':
            return numConstant(Number.NaN, 'numeric', ast.column, 'NA_real_');
          case 'NA_character_':
            return strConstant(null, ast.column, 'NA_character_');
        }
        break;
      case 'name':
        return this.variable(ast);
      case 'paren':
        return this.compile(ast.expr);
      case 'unary': {
        const operand = this.compile(ast.operand);
        if (ast.op === '!') return this.not(this.logical(operand, "'!'"));
        const x = this.numeric(operand, `unary '${ast.op}'`);
        if (!isPlainNumber(x)) this.typeError(`unary '${ast.op}' needs a number, got ${x.what}`, x.column);
        if (ast.op === '+') return x;
        const kernel = MATH.neg;
        const buffer = f64Buffer();
        return numNode(x.type, ast.column, [x], (b) => {
          const out = buffer();
          kernel(x.run(b), out, b.length);
          return out;
        });
      }
      case 'binary':
        return this.binary(ast);
      case 'call':
        return this.call(ast);
    }
  }

  private variable(ast: NameNode): Node {
    const binding = this.scope.lookup(ast.name);
    if (binding === undefined) {
      const constant = ast.quoted ? undefined : SHADOWABLE_CONSTANTS.get(ast.name);
      if (constant !== undefined) return { ...constant(), column: ast.column };
      throw unknownVariable(this.source, ast.name, ast.column, this.scope.names());
    }
    if (binding.kind === 'stored') {
      this.storedUsed.add(binding.info.name);
      return storedNode(binding.info, ast.column, binding.slot);
    }
    this.transformsUsed.add(binding.index);
    return transformNode(binding, ast.column);
  }

  numeric(node: Node, role: string): NumNode {
    if (node.repr === 'num') return node;
    if (node.repr === 'lgl') return lglToNum(node, 'integer');
    return this.typeError(`${role} needs a number, got ${node.what}`, node.column);
  }

  logical(node: Node, role: string): LglNode {
    if (node.repr === 'lgl') return node;
    if (node.repr === 'num' && isPlainNumber(node)) return numToLgl(node);
    return this.typeError(`${role} needs a logical value, got ${node.what}`, node.column);
  }

  private not(x: LglNode): LglNode {
    if (x.negated !== undefined) return x.negated();
    const buffer = u8Buffer();
    return lglNode(x.column, [x], (b) => {
      const out = buffer();
      notV(x.run(b), out, b.length);
      return out;
    });
  }

  private binary(ast: BinaryNode): Node {
    const { op } = ast;
    if (op === '%in%') return this.inOperator(this.compile(ast.left), ast.right, ast.column);
    const left = this.compile(ast.left);
    const right = this.compile(ast.right);
    if (ARITH_OPS.has(op)) {
      const role = `'${op}'`;
      return this.arithmetic(op as ArithOp, this.numeric(left, role), this.numeric(right, role), ast.column);
    }
    if (COMPARE_OPS.has(op)) return this.compare(op as CompareOp, left, right, ast.column);
    const role = `'${op}'`;
    const l = this.logical(left, role);
    const r = this.logical(right, role);
    const and = op === '&' || op === '&&';
    const kernel = and ? andVV : orVV;
    const buffer = u8Buffer();
    const node = lglNode(l.column, [l, r], (b) => {
      const out = buffer();
      kernel(l.run(b), r.run(b), out, b.length);
      return out;
    });
    if (!and || node.constant) return node;
    return { ...node, conjuncts: [...(l.conjuncts ?? [l]), ...(r.conjuncts ?? [r])] };
  }

  /** Arithmetic, with R's rules for dates: date +- days, date - date = days, timestamp +- seconds. */
  private arithmetic(op: ArithOp, l: NumNode, r: NumNode, column: number): NumNode {
    if (isPlainNumber(l) && isPlainNumber(r)) {
      const integer = INTEGER_PRESERVING.has(op) && l.type === 'integer' && r.type === 'integer';
      return this.arith(op, l, r, integer ? 'integer' : 'numeric');
    }
    if (op === '+' || op === '-') {
      if (l.type === 'date' && isPlainNumber(r)) return this.arith(op, l, r, 'date');
      if (op === '+' && r.type === 'date' && isPlainNumber(l)) return this.arith(op, l, r, 'date');
      if (l.type === 'timestamp' && isPlainNumber(r)) {
        return this.arith(op, l, scaleNum(r, 1000, 'numeric'), 'timestamp');
      }
      if (op === '+' && r.type === 'timestamp' && isPlainNumber(l)) {
        return this.arith(op, scaleNum(l, 1000, 'numeric'), r, 'timestamp');
      }
      if (op === '-' && l.type === 'date' && r.type === 'date') return this.arith(op, l, r, 'numeric');
      if (op === '-' && l.type === 'timestamp' && r.type === 'timestamp') {
        return scaleNum(this.arith(op, l, r, 'numeric'), 0.001, 'numeric');
      }
    }
    return this.typeError(
      `'${op}' is not defined for ${l.what} and ${r.what} (dates take + and - of days, timestamps of seconds; date - date gives days)`,
      column,
    );
  }

  /** The kernel of `op` for the operands' shapes; integer results are range-checked as R does. */
  arith(op: ArithOp, l: NumNode, r: NumNode, type: NumNode['type'] = 'numeric'): NumNode {
    const buffer = f64Buffer();
    const integer = type === 'integer';
    let run: (b: Parameters<NumNode['run']>[0]) => Float64Array;
    if (r.constant) {
      const k = r.value;
      const kernel = ARITH_VS[op];
      run = (b) => {
        const out = buffer();
        kernel(l.run(b), k, out, b.length);
        if (integer) clampInteger(out, b.length);
        return out;
      };
    } else if (l.constant) {
      const k = l.value;
      const kernel = ARITH_SV[op];
      run = (b) => {
        const out = buffer();
        kernel(k, r.run(b), out, b.length);
        if (integer) clampInteger(out, b.length);
        return out;
      };
    } else {
      const kernel = ARITH_VV[op];
      run = (b) => {
        const out = buffer();
        kernel(l.run(b), r.run(b), out, b.length);
        if (integer) clampInteger(out, b.length);
        return out;
      };
    }
    return numNode(type, l.column, [l, r], run);
  }

  private compare(op: CompareOp, left: Node, right: Node, column: number): LglNode {
    // A date or timestamp compared with a string constant: the string is read as a date (R's Ops.Date).
    if (left.repr === 'num' && right.repr === 'str') right = this.timeConstant(left, right);
    if (right.repr === 'num' && left.repr === 'str') left = this.timeConstant(right, left);
    if (left.repr === 'fac' || left.repr === 'str' || right.repr === 'fac' || right.repr === 'str') {
      return this.compareText(op, left, right, column);
    }
    let l = this.numeric(left, `'${op}'`);
    let r = this.numeric(right, `'${op}'`);
    // Dates against timestamps in ms; timestamps against plain numbers in seconds (as.numeric of POSIXct).
    if (l.type === 'date' && r.type === 'timestamp') l = scaleNum(l, MS_PER_DAY, 'timestamp');
    if (r.type === 'date' && l.type === 'timestamp') r = scaleNum(r, MS_PER_DAY, 'timestamp');
    if (l.type === 'timestamp' && isPlainNumber(r)) l = scaleNum(l, 0.001, 'numeric');
    if (r.type === 'timestamp' && isPlainNumber(l)) r = scaleNum(r, 0.001, 'numeric');
    const buffer = u8Buffer();
    let run: (b: Parameters<LglNode['run']>[0]) => Uint8Array;
    if (r.constant) {
      const k = r.value;
      const kernel = COMPARE_VS[op];
      run = (b) => {
        const out = buffer();
        kernel(l.run(b), k, out, b.length);
        return out;
      };
    } else if (l.constant) {
      const k = l.value;
      const kernel = COMPARE_VS[FLIPPED[op]];
      run = (b) => {
        const out = buffer();
        kernel(r.run(b), k, out, b.length);
        return out;
      };
    } else {
      const kernel = COMPARE_VV[op];
      run = (b) => {
        const out = buffer();
        kernel(l.run(b), r.run(b), out, b.length);
        return out;
      };
    }
    return lglNode(l.column, [l, r], run);
  }

  /** A string constant read as the date or timestamp it is compared with. */
  private timeConstant(time: NumNode, text: StrNode): Node {
    if (time.type !== 'date' && time.type !== 'timestamp') return text;
    if (!text.constant) {
      return this.typeError(
        `cannot compare ${time.what} with ${text.what}; use as.Date() on the text`,
        text.column,
      );
    }
    if (text.value === null) return numConstant(Number.NaN, time.type, text.column);
    const parsed = time.type === 'date' ? parseDate(text.value) : parseTimestamp(text.value);
    if (parsed === null) {
      this.syntaxError(
        `"${clip(text.value)}" is not a ${time.type === 'date' ? 'date (YYYY-MM-DD)' : 'timestamp (YYYY-MM-DD HH:MM:SS)'}`,
        text.column,
      );
    }
    return numConstant(parsed, time.type, text.column);
  }

  /** Text (factor or string) compared with == or !=. A factor against a non-level is FALSE (NA if missing). */
  private compareText(op: CompareOp, left: Node, right: Node, column: number): LglNode {
    if (op !== '==' && op !== '!=') {
      const text = left.repr === 'fac' || left.repr === 'str' ? left : right;
      return this.typeError(`'${op}' cannot order ${text.what}; text compares only with == and !=`, column);
    }
    const l = this.asText(left, right);
    const r = this.asText(right, left);
    const equal = op === '==' ? 2 : 0;
    const differ = 2 - equal;
    const buffer = u8Buffer();
    if (l.repr === 'fac' && r.repr === 'fac') {
      // Compare labels: map both level lists into one list of distinct labels.
      const ids = new Map<string, number>();
      const idOf = (label: string) => {
        let id = ids.get(label);
        if (id === undefined) {
          id = ids.size;
          ids.set(label, id);
        }
        return id;
      };
      const lid = Int32Array.from(l.levels, idOf);
      const rid = Int32Array.from(r.levels, idOf);
      return lglNode(l.column, [l, r], (b) => {
        const a = l.run(b);
        const c = r.run(b);
        const out = buffer();
        for (let i = 0, n = b.length; i < n; i++) {
          const x = a[i] as number;
          const y = c[i] as number;
          out[i] = x < 0 || y < 0 ? 1 : lid[x] === rid[y] ? equal : differ;
        }
        return out;
      });
    }
    if (l.repr === 'fac' || r.repr === 'fac') {
      const factor = l.repr === 'fac' ? l : r.repr === 'fac' ? r : l;
      const other = factor === l ? r : l;
      if (factor.repr === 'fac' && other.repr === 'str' && other.constant) {
        if (other.value === null) return lglConstant(1, column);
        // Not a level: never equal (R compares the labels, so this is FALSE, not an error).
        const code = factor.levels.indexOf(other.value);
        return lglNode(factor.column, [factor], (b) => {
          const a = factor.run(b);
          const out = buffer();
          for (let i = 0, n = b.length; i < n; i++) {
            const x = a[i] as number;
            out[i] = x < 0 ? 1 : x === code ? equal : differ;
          }
          return out;
        });
      }
    }
    const ls = l.repr === 'fac' ? this.factorLabels(l) : l;
    const rs = r.repr === 'fac' ? this.factorLabels(r) : r;
    if (ls.repr !== 'str' || rs.repr !== 'str') return this.typeError('cannot compare these values', column);
    if (rs.constant || ls.constant) {
      const vector = rs.constant ? ls : rs;
      const k = rs.constant ? rs.value : ls.value;
      if (k === null) return lglConstant(1, column);
      return lglNode(ls.column, [vector], (b) => {
        const a = vector.run(b);
        const out = buffer();
        for (let i = 0, n = b.length; i < n; i++) {
          const x = a[i] ?? null;
          out[i] = x === null ? 1 : x === k ? equal : differ;
        }
        return out;
      });
    }
    return lglNode(ls.column, [ls, rs], (b) => {
      const a = ls.run(b);
      const c = rs.run(b);
      const out = buffer();
      for (let i = 0, n = b.length; i < n; i++) {
        const x = a[i] ?? null;
        const y = c[i] ?? null;
        out[i] = x === null || y === null ? 1 : x === y ? equal : differ;
      }
      return out;
    });
  }

  private factorLabels(node: Node): Node {
    return node.repr === 'fac' ? facToStr(node) : node;
  }

  /**
   * One side of a text comparison as text: factors and strings as they are; number and logical
   * CONSTANTS as R writes them (`f == 1` compares the labels with "1"); other values are type errors.
   */
  private asText(node: Node, other: Node): Node {
    if (node.repr === 'fac' || node.repr === 'str') return node;
    if (node.constant) {
      if (isNA(node)) return strConstant(null, node.column);
      if (node.repr === 'lgl') return lglToStr(node);
      if (node.repr === 'num' && isPlainNumber(node)) {
        return strConstant(
          node.type === 'integer' ? String(node.value) : formatNumber(node.value),
          node.column,
        );
      }
    }
    return this.typeError(`cannot compare ${other.what} with ${node.what}`, node.column);
  }

  constants(ast: Ast, role: string): ConstVector {
    const nodes: Node[] = [];
    const collect = (item: Ast) => {
      if (item.kind === 'call' && item.name === 'c') {
        for (const arg of item.args) collect(arg.value);
        return;
      }
      const node = this.compile(item);
      if (!node.constant) {
        this.syntaxError(
          `${role} must be constants, such as c("a", "b") or c(1, 2); got ${node.what}`,
          node.column,
        );
      }
      nodes.push(node);
    };
    collect(ast);
    if (nodes.every((n) => n.repr === 'lgl'))
      return { kind: 'logical', values: nodes.map((n) => n.value as number) };
    if (nodes.every((n) => n.repr === 'num' || n.repr === 'lgl')) {
      return {
        kind: 'number',
        values: nodes.map((n) =>
          n.repr === 'lgl' ? (n.value === 2 ? 1 : n.value === 0 ? 0 : Number.NaN) : (n.value as number),
        ),
      };
    }
    const strings: (string | null)[] = [];
    for (const n of nodes) {
      if (n.repr === 'str') strings.push(n.value);
      else if (n.repr === 'fac') strings.push(n.value < 0 ? null : (n.levels[n.value] ?? null));
      else if (isNA(n)) strings.push(null);
      else this.syntaxError(`${role} mixes numbers and text`, n.column);
    }
    return { kind: 'string', values: strings };
  }

  /** `x %in% c(...)`: never NA; NA %in% c(..., NA) is TRUE, as R's match() has it. */
  private inOperator(x: Node, rightAst: Ast, column: number): LglNode {
    const set = this.constants(rightAst, 'the right side of %in%');
    const buffer = u8Buffer();
    if (x.repr === 'fac' || x.repr === 'str') {
      const strings =
        set.kind === 'string'
          ? set.values
          : set.kind === 'number'
            ? set.values.map((v) => (Number.isNaN(v) ? null : formatNumber(v)))
            : set.values.map((v) => (v === 2 ? 'TRUE' : v === 0 ? 'FALSE' : null));
      const naIn = strings.includes(null) ? 2 : 0;
      if (x.repr === 'fac') {
        const members = new Set(strings);
        const table = Uint8Array.from(x.levels, (level) => (members.has(level) ? 2 : 0));
        return lglNode(x.column, [x], (b) => {
          const a = x.run(b);
          const out = buffer();
          for (let i = 0, n = b.length; i < n; i++) {
            const v = a[i] as number;
            out[i] = v < 0 ? naIn : (table[v] as number);
          }
          return out;
        });
      }
      const members = new Set(strings.filter((s): s is string => s !== null));
      return lglNode(x.column, [x], (b) => {
        const a = x.run(b);
        const out = buffer();
        for (let i = 0, n = b.length; i < n; i++) {
          const v = a[i] ?? null;
          out[i] = v === null ? naIn : members.has(v) ? 2 : 0;
        }
        return out;
      });
    }
    const num = x.repr === 'lgl' ? lglToNum(x, 'integer') : x;
    let values: number[];
    if (set.kind === 'string') {
      if (num.type !== 'date' && num.type !== 'timestamp') {
        return this.typeError(`%in% cannot match ${x.what} against text`, column);
      }
      values = set.values.map((text) => {
        if (text === null) return Number.NaN;
        const parsed = num.type === 'date' ? parseDate(text) : parseTimestamp(text);
        if (parsed === null) this.syntaxError(`"${clip(text)}" is not a ${num.type}`, column);
        return parsed;
      });
    } else {
      values =
        set.kind === 'number' ? set.values : set.values.map((v) => (v === 2 ? 1 : v === 0 ? 0 : Number.NaN));
    }
    const naIn = values.some(Number.isNaN) ? 2 : 0;
    const members = new Set(values.filter((v) => !Number.isNaN(v)));
    return lglNode(num.column, [num], (b) => {
      const a = num.run(b);
      const out = buffer();
      for (let i = 0, n = b.length; i < n; i++) {
        const v = a[i] as number;
        out[i] = Number.isNaN(v) ? naIn : members.has(v) ? 2 : 0;
      }
      return out;
    });
  }

  private call(call: CallNode): Node {
    if (call.name === 'c') {
      this.syntaxError(
        'c() only lists constants on the right of %in% or in the arguments of cut() and factor()',
        call.column,
      );
    }
    const spec = this.functions.get(call.name);
    if (spec === undefined) {
      const why = this.refused.get(call.name);
      throw unknownFunction(
        this.source,
        call.name,
        call.column,
        [...this.functions.keys()],
        why === undefined ? '' : ` (${why})`,
      );
    }
    const node = spec.compile(this.matchArgs(spec, call), call, this);
    // A call's value starts where the call does (I(x) is x's node, reported at the I).
    return node.column === call.column ? node : { ...node, column: call.column };
  }

  /** R's argument matching, without partial names: named arguments first, then positions in order. */
  private matchArgs(spec: FunctionSpec, call: CallNode): FunctionArgs {
    const matched = new Map<string, { value: Ast; column: number }>();
    const rest: Ast[] = [];
    const formals = spec.params.filter((p) => p !== '...');
    const variadic = spec.params.includes('...');
    for (const arg of call.args) {
      if (arg.name === null) continue;
      if (!formals.includes(arg.name)) {
        this.syntaxError(
          `${call.name}() has no argument '${clip(arg.name)}' (its arguments: ${spec.params.join(', ') || 'none'})`,
          arg.column,
        );
      }
      if (matched.has(arg.name)) this.syntaxError(`argument '${arg.name}' is given twice`, arg.column);
      matched.set(arg.name, { value: arg.value, column: arg.column });
    }
    let next = 0;
    for (const arg of call.args) {
      if (arg.name !== null) continue;
      // `...` comes first in pmin/pmax: positional arguments all go to it.
      if (variadic && spec.params[0] === '...') {
        rest.push(arg.value);
        continue;
      }
      while (next < formals.length && matched.has(formals[next] as string)) next++;
      const formal = formals[next];
      if (formal === undefined) {
        if (variadic) {
          rest.push(arg.value);
          continue;
        }
        this.syntaxError(
          `too many arguments to ${call.name}() (it takes ${spec.params.join(', ') || 'none'})`,
          arg.column,
        );
      }
      matched.set(formal, { value: arg.value, column: arg.column });
      next++;
    }
    for (const name of spec.required) {
      if (!matched.has(name)) {
        this.syntaxError(
          `${call.name}() needs its argument '${name}' (${spec.params.join(', ')})`,
          call.column,
        );
      }
    }
    if (variadic && spec.required.length === 0 && spec.params[0] === '...' && rest.length === 0) {
      this.syntaxError(`${call.name}() needs at least one argument`, call.column);
    }
    return {
      get: (name) => matched.get(name)?.value,
      column: (name) => matched.get(name)?.column ?? call.column,
      rest,
    };
  }
}
