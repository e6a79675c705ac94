import { formulaError, type Token, type TokenKind, tokenize } from './lexer.ts';

/**
 * Recursive-descent parser from formula text to an AST. It follows R's grammar and precedence (lowest
 * first: `~`, binary `+ -`, `* /`, `:`, `^`), except that a leading `-`/`+` applies to the whole
 * product that follows (`-a:b` is `-(a:b)`), which is what a formula writer means and is the same number
 * in arithmetic. What a node MEANS (formula operator or arithmetic) is decided by terms.ts, so this
 * file knows nothing about variables or functions.
 */

export interface VarNode {
  kind: 'var';
  name: string;
  /** Written `backquoted`. */
  quoted: boolean;
  column: number;
}

/** `.` in a formula: every other variable. */
export interface DotNode {
  kind: 'dot';
  column: number;
}

export interface NumberNode {
  kind: 'number';
  value: number;
  text: string;
  column: number;
}

export interface CallArg {
  /** `low` in `F(x, low = 30)`; null for a positional argument. */
  name: string | null;
  value: Expr;
  column: number;
}

export interface CallNode {
  kind: 'call';
  name: string;
  args: CallArg[];
  column: number;
}

export type BinaryOp = '+' | '-' | '*' | '/' | ':' | '^';

export interface BinaryNode {
  kind: 'binary';
  op: BinaryOp;
  left: Expr;
  right: Expr;
  /** Column where the left operand starts. */
  column: number;
  /** Column of the operator itself. */
  opColumn: number;
}

export interface UnaryNode {
  kind: 'unary';
  op: '+' | '-';
  operand: Expr;
  column: number;
}

export interface ParenNode {
  kind: 'paren';
  expr: Expr;
  column: number;
}

export type Expr = VarNode | DotNode | NumberNode | CallNode | BinaryNode | UnaryNode | ParenNode;

export interface FormulaNode {
  kind: 'formula';
  lhs: Expr | null;
  rhs: Expr;
  /** Column of the `~`. */
  column: number;
}

/** Deeper nesting than this (parentheses, calls, sign chains) is refused: a guard against stack abuse. */
export const MAX_NESTING = 100;

const BINARY_OPS: Partial<Record<TokenKind, BinaryOp>> = {
  plus: '+',
  minus: '-',
  star: '*',
  slash: '/',
  colon: ':',
  caret: '^',
};

function describe(token: Token): string {
  return token.kind === 'end' ? 'the end of the formula' : `'${token.text}'`;
}

class Parser {
  private pos = 0;
  /** -1 so that the formula's own top level is depth 0 and 100 nested parentheses are still allowed. */
  private depth = -1;

  constructor(
    private readonly tokens: Token[],
    private readonly text: string,
  ) {}

  private peek(offset = 0): Token {
    // tokenize always ends with an 'end' token, so clamping keeps every read in range.
    return (this.tokens[Math.min(this.pos + offset, this.tokens.length - 1)] ?? this.tokens[0]) as Token;
  }

  private next(): Token {
    const token = this.peek();
    if (this.pos < this.tokens.length - 1) this.pos++;
    return token;
  }

  private fail(expected: string, token: Token): never {
    const found = token.kind === 'end' ? '' : ` but found ${describe(token)}`;
    throw formulaError(`expected ${expected}${found}`, token.column, this.text);
  }

  private enter(column: number): void {
    this.depth++;
    if (this.depth > MAX_NESTING) {
      throw formulaError(`formula is nested deeper than ${MAX_NESTING} levels`, column, this.text);
    }
  }

  private leave(): void {
    this.depth--;
  }

  parseFormula(): FormulaNode {
    let lhs: Expr | null = null;
    if (this.peek().kind !== 'tilde') lhs = this.parseSum();
    const tilde = this.peek();
    if (tilde.kind !== 'tilde') this.fail("'~'", tilde);
    this.next();
    const rhs = this.parseSum();
    const end = this.peek();
    if (end.kind === 'tilde') throw formulaError("a formula has only one '~'", end.column, this.text);
    if (end.kind !== 'end') this.fail("an operator ('+', '-', '*', ':', ...) or the end", end);
    return { kind: 'formula', lhs, rhs, column: tilde.column };
  }

  /** `column`: where the nesting level opened (the '(' for a parenthesis), for the depth error. */
  private parseSum(column = this.peek().column): Expr {
    this.enter(column);
    let left = this.parseUnary();
    for (;;) {
      const op = this.peek();
      if (op.kind !== 'plus' && op.kind !== 'minus') break;
      this.next();
      const right = this.parseUnary();
      left = {
        kind: 'binary',
        op: BINARY_OPS[op.kind] as BinaryOp,
        left,
        right,
        column: left.column,
        opColumn: op.column,
      };
    }
    this.leave();
    return left;
  }

  private parseUnary(): Expr {
    const op = this.peek();
    if (op.kind === 'plus' || op.kind === 'minus') {
      this.next();
      this.enter(op.column);
      const operand = this.parseUnary();
      this.leave();
      return { kind: 'unary', op: op.kind === 'plus' ? '+' : '-', operand, column: op.column };
    }
    return this.parseProduct();
  }

  private parseProduct(): Expr {
    let left = this.parseColon();
    for (;;) {
      const op = this.peek();
      if (op.kind !== 'star' && op.kind !== 'slash') break;
      this.next();
      const right = this.parseColon();
      left = {
        kind: 'binary',
        op: BINARY_OPS[op.kind] as BinaryOp,
        left,
        right,
        column: left.column,
        opColumn: op.column,
      };
    }
    return left;
  }

  private parseColon(): Expr {
    let left = this.parsePower();
    for (;;) {
      const op = this.peek();
      if (op.kind !== 'colon') break;
      this.next();
      const right = this.parsePower();
      left = { kind: 'binary', op: ':', left, right, column: left.column, opColumn: op.column };
    }
    return left;
  }

  private parsePower(): Expr {
    const base = this.parsePrimary();
    const op = this.peek();
    if (op.kind !== 'caret') return base;
    this.next();
    this.enter(op.column);
    const exponent = this.parsePowerOperand();
    this.leave();
    return { kind: 'binary', op: '^', left: base, right: exponent, column: base.column, opColumn: op.column };
  }

  /** R's `^` is right-associative and takes a signed operand (`x^-1`, `x^2^3`). */
  private parsePowerOperand(): Expr {
    const op = this.peek();
    if (op.kind === 'plus' || op.kind === 'minus') {
      this.next();
      this.enter(op.column);
      const operand = this.parsePowerOperand();
      this.leave();
      return { kind: 'unary', op: op.kind === 'plus' ? '+' : '-', operand, column: op.column };
    }
    return this.parsePower();
  }

  private parsePrimary(): Expr {
    const token = this.peek();
    if (token.kind === 'number') {
      this.next();
      return { kind: 'number', value: Number(token.text), text: token.text, column: token.column };
    }
    if (token.kind === 'lparen') {
      this.next();
      const expr = this.parseSum(token.column);
      const close = this.peek();
      if (close.kind !== 'rparen') this.fail(`')' (for the '(' of column ${token.column})`, close);
      this.next();
      return { kind: 'paren', expr, column: token.column };
    }
    if (token.kind === 'name') {
      this.next();
      if (this.peek().kind === 'lparen' && !token.quoted) return this.parseCall(token);
      if (token.text === '.' && !token.quoted) return { kind: 'dot', column: token.column };
      return { kind: 'var', name: token.text, quoted: token.quoted, column: token.column };
    }
    return this.fail('a variable name', token);
  }

  private parseCall(name: Token): CallNode {
    this.next(); // '(': each argument's parseSum counts the nesting level.
    const args: CallArg[] = [];
    if (this.peek().kind !== 'rparen') {
      for (;;) {
        const start = this.peek();
        let argName: string | null = null;
        if (start.kind === 'name' && this.peek(1).kind === 'equals') {
          argName = start.text;
          this.next();
          this.next();
        }
        const value = this.parseSum();
        args.push({ name: argName, value, column: start.column });
        const sep = this.peek();
        if (sep.kind === 'comma') {
          this.next();
          continue;
        }
        if (sep.kind === 'rparen') break;
        this.fail(`',' or ')' (for ${name.text}() of column ${name.column})`, sep);
      }
    }
    this.next();
    return { kind: 'call', name: name.text, args, column: name.column };
  }
}

/** Parses formula text to its AST; throws INVALID_FORMULA (with the 1-based column) on bad syntax. */
export function parseFormulaAst(text: string): FormulaNode {
  const tokens = tokenize(text);
  return new Parser(tokens, text).parseFormula();
}

const SYNTACTIC_NAME = /^(?:[A-Za-z]|\.(?![0-9]))[A-Za-z0-9._]*$/;

/** A variable name as R would print it in an expression: backquoted unless syntactic. */
export function deparseName(name: string): string {
  return SYNTACTIC_NAME.test(name) ? name : `\`${name.replace(/[`\\]/g, '\\$&')}\``;
}

/**
 * Canonical text of an expression, in R's deparse style (`log(x + 1)`, `pow(x, 2)`, `I(x * y)`, `x^2`):
 * the label of an in-line term, so `log( x+1 )` and `log(x + 1)` are the same term.
 */
export function deparse(expr: Expr): string {
  switch (expr.kind) {
    case 'var':
      return deparseName(expr.name);
    case 'dot':
      return '.';
    case 'number':
      return String(expr.value);
    case 'paren':
      return `(${deparse(expr.expr)})`;
    case 'unary':
      return `${expr.op}${deparse(expr.operand)}`;
    case 'call':
      return `${expr.name}(${expr.args
        .map((arg) => (arg.name === null ? deparse(arg.value) : `${arg.name} = ${deparse(arg.value)}`))
        .join(', ')})`;
    case 'binary':
      // R's deparse spaces `+ - *` but not `/ ^ :` (`x * y`, `3/z`, `x^2`).
      return expr.op === '^' || expr.op === ':' || expr.op === '/'
        ? `${deparse(expr.left)}${expr.op}${deparse(expr.right)}`
        : `${deparse(expr.left)} ${expr.op} ${deparse(expr.right)}`;
  }
}
