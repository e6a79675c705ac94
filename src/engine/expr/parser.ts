import { clip, type Operator, type Token, tokenize } from './lexer.ts';
import { LIMITS, type Source, syntaxError } from './source.ts';

/**
 * Recursive-descent parser to an AST, with R's precedence (lowest first):
 * `| ||`, `& &&`, prefix `!`, comparisons (not associative, as in R), binary `+ -`, `* /`, `%%`
 * `%/%` `%in%`, prefix `- +`, `^` (right-associative, and `-2^2` is `-(2^2)` as in R).
 * Names are not resolved here: `T`, `F` and `Inf` are names that the compiler reads as constants unless
 * the dataset has a variable of that name, again as R does.
 */

export type BinaryOp = Exclude<Operator, '!'>;

export interface NumberNode {
  kind: 'number';
  value: number;
  /** Written with R's L suffix (`10L`). */
  integer: boolean;
  column: number;
}

export interface StringNode {
  kind: 'string';
  value: string;
  column: number;
}

/** R's reserved constants: TRUE, FALSE, NA and its typed forms. */
export interface LiteralNode {
  kind: 'literal';
  value: 'TRUE' | 'FALSE' | 'NA' | 'NA_integer_' | 'NA_real_' | 'NA_character_';
  column: number;
}

export interface NameNode {
  kind: 'name';
  name: string;
  quoted: boolean;
  column: number;
}

export interface CallArg {
  /** `breaks` in `cut(x, breaks = c(0, 10))`; null for a positional argument. */
  name: string | null;
  value: Ast;
  column: number;
}

export interface CallNode {
  kind: 'call';
  name: string;
  args: CallArg[];
  column: number;
}

export interface UnaryNode {
  kind: 'unary';
  op: '-' | '+' | '!';
  operand: Ast;
  column: number;
}

export interface BinaryNode {
  kind: 'binary';
  op: BinaryOp;
  left: Ast;
  right: Ast;
  /** Column of the operator. */
  column: number;
}

export interface ParenNode {
  kind: 'paren';
  expr: Ast;
  column: number;
}

export type Ast =
  | NumberNode
  | StringNode
  | LiteralNode
  | NameNode
  | CallNode
  | UnaryNode
  | BinaryNode
  | ParenNode;

const LITERALS: ReadonlySet<string> = new Set([
  'TRUE',
  'FALSE',
  'NA',
  'NA_integer_',
  'NA_real_',
  'NA_character_',
]);

/** R keywords that have no place in a one-row expression, with what to write instead. */
const KEYWORDS: ReadonlyMap<string, string> = new Map([
  ['if', "'if' is not supported; use ifelse(test, yes, no)"],
  ['else', "'else' is not supported; use ifelse(test, yes, no)"],
  ['function', 'function definitions are not supported'],
  ['for', 'loops are not supported'],
  ['while', 'loops are not supported'],
  ['repeat', 'loops are not supported'],
  ['break', 'loops are not supported'],
  ['next', 'loops are not supported'],
  ['in', "'in' is not supported; use %in%"],
  ['NULL', 'NULL is not supported; use NA for a missing value'],
]);

const COMPARISONS: ReadonlySet<Operator> = new Set(['==', '!=', '<', '<=', '>', '>=']);

/** Tree height of a node, kept beside the AST so the limit is checked as nodes are made. */
type Sized = { node: Ast; height: number };

class Parser {
  private pos = 0;
  private depth = 0;

  constructor(
    private readonly tokens: Token[],
    private readonly source: Source,
  ) {}

  private peek(offset = 0): Token {
    // tokenize ends with an 'end' token, so clamping keeps every read in range.
    return this.tokens[Math.min(this.pos + offset, this.tokens.length - 1)] as Token;
  }

  private next(): Token {
    const token = this.peek();
    if (this.pos < this.tokens.length - 1) this.pos++;
    return token;
  }

  private isOp(token: Token, ...ops: Operator[]): boolean {
    return token.kind === 'op' && ops.includes(token.op);
  }

  private describe(token: Token): string {
    switch (token.kind) {
      case 'end':
        return 'the end of the expression';
      case 'number':
        return `the number ${clip(token.text)}`;
      case 'string':
        return 'a string';
      case 'name':
        return `'${clip(token.text)}'`;
      case 'op':
        return `'${token.op}'`;
      default:
        return `'${token.kind}'`;
    }
  }

  private fail(expected: string, token: Token): never {
    const found = token.kind === 'end' ? ` but the expression ended` : ` but found ${this.describe(token)}`;
    throw syntaxError(this.source, `expected ${expected}${found}`, token.column);
  }

  private enter(column: number): void {
    this.depth++;
    if (this.depth > LIMITS.nesting) {
      throw syntaxError(this.source, `expression is nested deeper than ${LIMITS.nesting} levels`, column);
    }
  }

  private leave(): void {
    this.depth--;
  }

  private sized(node: Ast, ...children: Sized[]): Sized {
    let height = 0;
    for (const child of children) if (child.height > height) height = child.height;
    height++;
    if (height > LIMITS.height) {
      throw syntaxError(
        this.source,
        `expression is too deep (more than ${LIMITS.height} operators in a chain); split it into several transforms`,
        node.column,
      );
    }
    return { node, height };
  }

  parseAll(): Ast {
    if (this.peek().kind === 'end') throw syntaxError(this.source, 'the expression is empty', 1);
    const result = this.parseOr();
    const end = this.peek();
    if (end.kind === '=') {
      throw syntaxError(
        this.source,
        "assignment ('=') is not allowed; use '==' to compare (a transform's name is the variable it sets)",
        end.column,
      );
    }
    if (end.kind === '(') throw syntaxError(this.source, 'only a function name can be called', end.column);
    if (end.kind !== 'end') this.fail('an operator or the end of the expression', end);
    return result.node;
  }

  private binary(op: Token, left: Sized, right: Sized): Sized {
    const node: BinaryNode = {
      kind: 'binary',
      op: (op as { op: BinaryOp }).op,
      left: left.node,
      right: right.node,
      column: op.column,
    };
    return this.sized(node, left, right);
  }

  private parseOr(): Sized {
    let left = this.parseAnd();
    while (this.isOp(this.peek(), '|', '||')) {
      const op = this.next();
      left = this.binary(op, left, this.parseAnd());
    }
    return left;
  }

  private parseAnd(): Sized {
    let left = this.parseNot();
    while (this.isOp(this.peek(), '&', '&&')) {
      const op = this.next();
      left = this.binary(op, left, this.parseNot());
    }
    return left;
  }

  private parseNot(): Sized {
    const op = this.peek();
    if (!this.isOp(op, '!')) return this.parseComparison();
    this.next();
    this.enter(op.column);
    const operand = this.parseNot();
    this.leave();
    return this.sized({ kind: 'unary', op: '!', operand: operand.node, column: op.column }, operand);
  }

  private parseComparison(): Sized {
    const left = this.parseSum();
    const op = this.peek();
    if (op.kind !== 'op' || !COMPARISONS.has(op.op)) return left;
    this.next();
    const result = this.binary(op, left, this.parseSum());
    const again = this.peek();
    if (again.kind === 'op' && COMPARISONS.has(again.op)) {
      throw syntaxError(
        this.source,
        `comparisons cannot be chained ('${op.op}' then '${again.op}'); combine them with &`,
        again.column,
      );
    }
    return result;
  }

  private parseSum(): Sized {
    let left = this.parseProduct();
    while (this.isOp(this.peek(), '+', '-')) {
      const op = this.next();
      left = this.binary(op, left, this.parseProduct());
    }
    return left;
  }

  private parseProduct(): Sized {
    let left = this.parseSpecial();
    while (this.isOp(this.peek(), '*', '/')) {
      const op = this.next();
      left = this.binary(op, left, this.parseSpecial());
    }
    return left;
  }

  private parseSpecial(): Sized {
    let left = this.parseUnary();
    while (this.isOp(this.peek(), '%%', '%/%', '%in%')) {
      const op = this.next();
      left = this.binary(op, left, this.parseUnary());
    }
    return left;
  }

  private parseUnary(): Sized {
    const op = this.peek();
    if (this.isOp(op, '-', '+')) {
      this.next();
      this.enter(op.column);
      const operand = this.parseUnary();
      this.leave();
      const sign = (op as { op: '-' | '+' }).op;
      return this.sized({ kind: 'unary', op: sign, operand: operand.node, column: op.column }, operand);
    }
    if (this.isOp(op, '!')) {
      // R accepts `a + !b`; the `!` then takes everything up to the next comparison.
      return this.parseNot();
    }
    return this.parsePower();
  }

  private parsePower(): Sized {
    const base = this.parsePrimary();
    const op = this.peek();
    if (!this.isOp(op, '^')) return base;
    this.next();
    this.enter(op.column);
    // The exponent may carry its own sign (`x^-1`) and is right-associative (`2^3^2` = 2^9).
    const exponent = this.parseUnary();
    this.leave();
    return this.binary(op, base, exponent);
  }

  private parsePrimary(): Sized {
    const token = this.next();
    switch (token.kind) {
      case 'number':
        return this.sized({
          kind: 'number',
          value: token.value,
          integer: token.integer,
          column: token.column,
        });
      case 'string':
        return this.sized({ kind: 'string', value: token.value, column: token.column });
      case '(': {
        this.enter(token.column);
        const inner = this.parseOr();
        this.leave();
        const close = this.peek();
        if (close.kind !== ')') this.fail(`')' to close the '(' at column ${token.column}`, close);
        this.next();
        return this.sized({ kind: 'paren', expr: inner.node, column: token.column }, inner);
      }
      case 'name': {
        if (!token.quoted) {
          const refused = KEYWORDS.get(token.text);
          if (refused !== undefined) throw syntaxError(this.source, refused, token.column);
        }
        if (this.peek().kind === '(') {
          if (token.quoted) {
            throw syntaxError(this.source, 'only a function name can be called', this.peek().column);
          }
          return this.parseCall(token);
        }
        if (!token.quoted && LITERALS.has(token.text)) {
          return this.sized({
            kind: 'literal',
            value: token.text as LiteralNode['value'],
            column: token.column,
          });
        }
        return this.sized({ kind: 'name', name: token.text, quoted: token.quoted, column: token.column });
      }
      default:
        return this.fail('a value, a variable or a function call', token);
    }
  }

  private parseCall(name: Token & { kind: 'name' }): Sized {
    const open = this.next();
    this.enter(open.column);
    const args: CallArg[] = [];
    const sizes: Sized[] = [];
    if (this.peek().kind !== ')') {
      for (;;) {
        const start = this.peek();
        let argName: string | null = null;
        if (start.kind === 'name' && this.peek(1).kind === '=') {
          argName = start.text;
          this.next();
          this.next();
        } else if (start.kind === 'string' && this.peek(1).kind === '=') {
          argName = start.value;
          this.next();
          this.next();
        }
        const value = this.parseOr();
        sizes.push(value);
        args.push({ name: argName, value: value.node, column: start.column });
        const sep = this.peek();
        if (sep.kind === ',') {
          this.next();
          if (this.peek().kind === ')') {
            throw syntaxError(this.source, `an argument is missing after ','`, this.peek().column);
          }
          continue;
        }
        if (sep.kind === ')') break;
        this.fail(`',' or ')' in the call of ${clip(name.text)}() at column ${name.column}`, sep);
      }
    }
    this.next();
    this.leave();
    if (this.peek().kind === '(') {
      throw syntaxError(this.source, 'only a function name can be called', this.peek().column);
    }
    return this.sized({ kind: 'call', name: name.text, args, column: name.column }, ...sizes);
  }
}

/** Parses one expression; throws INVALID_EXPRESSION with the 1-based column on bad syntax or limits. */
export function parseExpression(source: Source): Ast {
  return new Parser(tokenize(source), source).parseAll();
}
