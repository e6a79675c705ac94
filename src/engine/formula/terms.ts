import { EngineError } from '../errors.ts';
import { formulaError } from './lexer.ts';
import { type CallNode, deparse, deparseName, type Expr, type FormulaNode } from './parser.ts';
import { suggestName } from './suggest.ts';
import { isNumericLike, unknownVariable } from './variables.ts';

/**
 * Term expansion: from the formula AST to RevoScaleR's model terms.
 *
 * - `a + b` concatenates; `a - b` removes b's terms; `a:b` crosses (factor union per pair of terms);
 *   `a*b` = `a + b + a:b`; `(a+b)^2` = all crossings up to order 2; `a/b` = `a + a:b` (R's nesting).
 * - Term order is kept as written (RevoScaleR's keep.order), except inside ONE `*` / `^` expansion,
 *   whose terms come by degree as R writes them: `a*b*c` = a, b, c, a:b, a:c, b:c, a:b:c.
 * - `0` / `1` only set the intercept (`+ 0`, `- 1`, `+ 1`, `- 0`); the last mention wins, as in R.
 * - A term written twice (also `b:a` after `a:b`) is kept once, at its first place.
 * - `.` is every variable not in the response and not a string (rxSummary's `~ .`).
 */

export type TermFactor =
  /** A variable used as stored (its type decides numeric vs factor coding downstream). */
  | { kind: 'variable'; name: string; label: string; column: number }
  /**
   * `F(x, low, high, exclude)`: numeric -> factor, one level per integer in [low, high]. low/high null =
   * the variable's stored Low/High. `label` is RevoScaleR's column name (`F_x`, `F_x_30_39_T`).
   */
  | {
      kind: 'F';
      variable: string;
      low: number | null;
      high: number | null;
      exclude: boolean;
      label: string;
      column: number;
    }
  /** `N(f)`: factor -> its integer codes. */
  | { kind: 'N'; variable: string; label: string; column: number }
  /** An in-line numeric expression (`log(x)`, `pow(x, 2)`, `I(x * y)`); `label` is its deparsed text. */
  | { kind: 'expression'; expr: Expr; label: string; variables: string[]; column: number };

export interface Term {
  /** The factors of the interaction, in the order written (`a:b` -> [a, b]); one for a main effect. */
  factors: TermFactor[];
  /** `a:b`, `F_age`, `log(x):g`. */
  label: string;
  /** 1-based column where the term (or the expansion that produced it) starts. */
  column: number;
}

export interface FormulaVariable {
  name: string;
  type: string;
}

export interface ExpandOptions {
  /** Allow `.` (RevoScaleR: rxSummary only). @defaultValue false */
  allowDot?: boolean;
  /** Allow `cbind(y1, y2) ~ ...` (RevoScaleR: rxLinMod). @defaultValue false */
  allowCbind?: boolean;
  /** Variables `.` leaves out besides the response's (e.g. the weight variable). @defaultValue [] */
  dotExclude?: readonly string[];
}

export interface ExpandedFormula {
  /** The response(s) before `~`; null for a one-sided formula. `cbind(y1, y2)` gives two. */
  response: TermFactor[] | null;
  intercept: boolean;
  terms: Term[];
  /** Every variable the formula reads (response first), in first-use order. */
  variables: string[];
  /** 1-based column of the first `.`, or null. */
  dotColumn: number | null;
}

/** A guard against `a*b*c*...` or `(a+...+z)^20` blowing up: 2^k terms grow fast. */
export const MAX_TERMS = 10_000;

/** Numeric-argument functions allowed in-line, by arity. */
const INLINE_FUNCTIONS: Record<string, number> = {
  log: 1,
  log10: 1,
  log2: 1,
  exp: 1,
  sqrt: 1,
  abs: 1,
  pow: 2,
  I: 1,
};
const FORMULA_FUNCTIONS = ['F', 'N', 'cbind'];
const KNOWN_FUNCTIONS = [...Object.keys(INLINE_FUNCTIONS), ...FORMULA_FUNCTIONS];

// ---------------------------------------------------------------------------------------------------
// Names

// ---------------------------------------------------------------------------------------------------
// Expansion

interface Expansion {
  terms: Term[];
  /** Set by a `0` / `1` in this sub-expression; null when it says nothing about the intercept. */
  intercept: boolean | null;
}

function termKey(factors: readonly TermFactor[]): string {
  // Order-free: `b:a` is the same term as `a:b`. JSON keeps labels containing ':' unambiguous.
  return JSON.stringify(factors.map((f) => f.label).sort());
}

function makeTerm(factors: TermFactor[], column: number): Term {
  return { factors, label: factors.map((f) => f.label).join(':'), column };
}

function dedupe(terms: Term[]): Term[] {
  const seen = new Set<string>();
  const out: Term[] = [];
  for (const term of terms) {
    const key = termKey(term.factors);
    if (seen.has(key)) continue;
    seen.add(key);
    out.push(term);
  }
  return out;
}

class Expander {
  private readonly byName: Map<string, FormulaVariable>;
  private readonly used: string[] = [];
  private readonly usedSet = new Set<string>();
  dotColumn: number | null = null;
  /** Variables `.` leaves out (the response's). */
  dotExclude = new Set<string>();

  constructor(
    private readonly text: string,
    private readonly variables: readonly FormulaVariable[],
    private readonly options: ExpandOptions,
  ) {
    this.byName = new Map(variables.map((v) => [v.name, v]));
    for (const name of options.dotExclude ?? []) this.dotExclude.add(name);
  }

  get usedVariables(): string[] {
    return [...this.used];
  }

  private invalid(message: string, column: number): never {
    throw formulaError(message, column, this.text);
  }

  lookup(name: string, column: number): FormulaVariable {
    const found = this.byName.get(name);
    if (found === undefined) {
      throw unknownVariable(
        name,
        this.variables.map((v) => v.name),
        column,
      );
    }
    if (!this.usedSet.has(name)) {
      this.usedSet.add(name);
      this.used.push(name);
    }
    return found;
  }

  private unknownFunction(call: CallNode): never {
    const suggestion = suggestName(call.name, KNOWN_FUNCTIONS);
    const hint = suggestion === undefined ? '' : `; did you mean '${suggestion}'?`;
    throw new EngineError(
      'UNKNOWN_FUNCTION',
      `unknown function '${call.name}' at column ${call.column}${hint} (allowed: ${KNOWN_FUNCTIONS.join(', ')})`,
      400,
      { function: call.name, column: call.column, ...(suggestion === undefined ? {} : { suggestion }) },
    );
  }

  /** One response (or each of cbind's). */
  response(expr: Expr): TermFactor[] {
    const inner = stripParens(expr);
    if (inner.kind === 'call' && inner.name === 'cbind') {
      if (this.options.allowCbind !== true) {
        this.invalid('cbind() responses are supported only by linMod', inner.column);
      }
      if (inner.args.length < 1) this.invalid('cbind() needs at least one response', inner.column);
      const out: TermFactor[] = [];
      for (const arg of inner.args) {
        if (arg.name !== null) this.invalid('cbind() takes no named arguments', arg.column);
        out.push(this.factor(arg.value));
      }
      return out;
    }
    return [this.factor(expr)];
  }

  /** A single factor of a term: a variable, F()/N(), or an in-line expression. */
  factor(expr: Expr): TermFactor {
    const inner = stripParens(expr);
    switch (inner.kind) {
      case 'var': {
        const v = this.lookup(inner.name, inner.column);
        return { kind: 'variable', name: v.name, label: v.name, column: inner.column };
      }
      case 'call':
        if (inner.name === 'F') return this.fCall(inner);
        if (inner.name === 'N') return this.nCall(inner);
        if (inner.name === 'cbind') this.invalid('cbind() is allowed only as the response', inner.column);
        return this.inline(inner);
      case 'dot':
        return this.invalid("'.' cannot be used here", inner.column);
      case 'number':
        return this.invalid(`expected a variable name but found the number ${inner.text}`, inner.column);
      default:
        return this.invalid(
          `expected a variable or function call but found '${deparse(inner)}'`,
          inner.column,
        );
    }
  }

  private inline(call: CallNode): TermFactor {
    this.checkArithmetic(call);
    const names: string[] = [];
    collectVars(call, names);
    const label = deparse(call);
    return { kind: 'expression', expr: call, label, variables: [...new Set(names)], column: call.column };
  }

  /** In-line expressions are arithmetic: numbers, variables, `+ - * / ^`, allowed functions. */
  private checkArithmetic(expr: Expr): void {
    switch (expr.kind) {
      case 'var':
        this.lookup(expr.name, expr.column);
        return;
      case 'number':
        return;
      case 'dot':
        this.invalid("'.' cannot be used inside an expression", expr.column);
        return;
      case 'paren':
        this.checkArithmetic(expr.expr);
        return;
      case 'unary':
        this.checkArithmetic(expr.operand);
        return;
      case 'binary':
        if (expr.op === ':') this.invalid("':' cannot be used inside an expression", expr.opColumn);
        this.checkArithmetic(expr.left);
        this.checkArithmetic(expr.right);
        return;
      case 'call': {
        const arity = INLINE_FUNCTIONS[expr.name];
        if (arity === undefined) {
          if (FORMULA_FUNCTIONS.includes(expr.name)) {
            this.invalid(`${expr.name}() cannot be used inside an expression`, expr.column);
          }
          this.unknownFunction(expr);
        }
        if (expr.args.length !== arity) {
          this.invalid(
            `${expr.name}() takes ${arity} argument${arity === 1 ? '' : 's'}, not ${expr.args.length},`,
            expr.column,
          );
        }
        for (const arg of expr.args) {
          if (arg.name !== null) this.invalid(`${expr.name}() takes no named arguments`, arg.column);
          this.checkArithmetic(arg.value);
        }
        return;
      }
    }
  }

  private variableArg(call: CallNode): { name: string; type: string } {
    const first = call.args[0];
    if (first === undefined) return this.invalid(`${call.name}() needs a variable`, call.column);
    if (first.name !== null && first.name !== 'x') {
      this.invalid(`${call.name}() takes the variable first, not '${first.name}'`, first.column);
    }
    const value = stripParens(first.value);
    if (value.kind !== 'var') return this.invalid(`expected a variable name in ${call.name}()`, value.column);
    return this.lookup(value.name, value.column);
  }

  private fCall(call: CallNode): TermFactor {
    const v = this.variableArg(call);
    if (!isNumericLike(v.type) && v.type !== 'factor') {
      throw new EngineError(
        'WRONG_VARIABLE_TYPE',
        `F() needs a numeric or factor variable; '${v.name}' at column ${call.column} is ${v.type}`,
        422,
        { variable: v.name, type: v.type, column: call.column },
      );
    }
    // R's argument matching: named arguments first, then positional ones fill the rest in order.
    const slots: Record<'low' | 'high' | 'exclude', Expr | undefined> = {
      low: undefined,
      high: undefined,
      exclude: undefined,
    };
    const order = ['low', 'high', 'exclude'] as const;
    const positional: { value: Expr; column: number }[] = [];
    for (const arg of call.args.slice(1)) {
      if (arg.name === null) {
        positional.push(arg);
        continue;
      }
      if (!(order as readonly string[]).includes(arg.name)) {
        this.invalid(`F() has no argument '${arg.name}' (expected low, high or exclude)`, arg.column);
      }
      const key = arg.name as (typeof order)[number];
      if (slots[key] !== undefined) this.invalid(`F() argument '${arg.name}' given twice`, arg.column);
      slots[key] = arg.value;
    }
    for (const arg of positional) {
      const key = order.find((k) => slots[k] === undefined);
      if (key === undefined) this.invalid('F() takes at most 4 arguments', arg.column);
      slots[key] = arg.value;
    }
    const low = slots.low === undefined ? null : this.numberArg(slots.low, 'low');
    const high = slots.high === undefined ? null : this.numberArg(slots.high, 'high');
    if (low !== null && high !== null && low > high) {
      this.invalid(`F() low (${low}) is greater than high (${high})`, call.column);
    }
    const exclude = slots.exclude === undefined ? true : this.logicalArg(slots.exclude);
    // RevoScaleR names the column F_x, or F_x_low_high_T/F once any range argument is given.
    // [inferred] With only one of low/high given, the missing bound is written as NA.
    const anyGiven = call.args.length > 1;
    const fmt = (n: number | null): string => (n === null ? 'NA' : String(n));
    const label = anyGiven ? `F_${v.name}_${fmt(low)}_${fmt(high)}_${exclude ? 'T' : 'F'}` : `F_${v.name}`;
    return { kind: 'F', variable: v.name, low, high, exclude, label, column: call.column };
  }

  private numberArg(expr: Expr, what: string): number {
    const inner = stripParens(expr);
    if (inner.kind === 'number') return inner.value;
    if (inner.kind === 'unary') {
      const operand = stripParens(inner.operand);
      if (operand.kind === 'number') return inner.op === '-' ? -operand.value : operand.value;
    }
    return this.invalid(`expected a number for F() ${what}`, inner.column);
  }

  private logicalArg(expr: Expr): boolean {
    const inner = stripParens(expr);
    if (inner.kind === 'var' && !inner.quoted) {
      if (inner.name === 'TRUE' || inner.name === 'T') return true;
      if (inner.name === 'FALSE' || inner.name === 'F') return false;
    }
    return this.invalid('expected TRUE or FALSE for F() exclude', inner.column);
  }

  private nCall(call: CallNode): TermFactor {
    if (call.args.length !== 1) this.invalid(`N() takes 1 argument, not ${call.args.length},`, call.column);
    const v = this.variableArg(call);
    if (v.type !== 'factor') {
      throw new EngineError(
        'WRONG_VARIABLE_TYPE',
        `N() needs a factor variable; '${v.name}' at column ${call.column} is ${v.type}`,
        422,
        { variable: v.name, type: v.type, column: call.column },
      );
    }
    // [inferred] RevoScaleR's label for N() terms is not documented; R-style `N(x)` is kept.
    return { kind: 'N', variable: v.name, label: `N(${deparseName(v.name)})`, column: call.column };
  }

  /** The right-hand side, recursively. */
  expand(expr: Expr): Expansion {
    switch (expr.kind) {
      case 'paren':
        return this.expand(expr.expr);
      case 'number':
        if (expr.value === 0 || expr.value === 1) return { terms: [], intercept: expr.value === 1 };
        return this.invalid(
          `expected a variable name, 0 or 1 but found the number ${expr.text}`,
          expr.column,
        );
      case 'dot':
        return { terms: this.dot(expr.column), intercept: null };
      case 'var':
      case 'call':
        return { terms: [makeTerm([this.factor(expr)], expr.column)], intercept: null };
      case 'unary': {
        const inner = this.expand(expr.operand);
        if (expr.op === '+') return inner;
        // A leading `-x` removes from nothing: only `-1` / `-0` mean something (the intercept).
        return { terms: [], intercept: inner.intercept === null ? null : !inner.intercept };
      }
      case 'binary':
        return this.binary(expr);
    }
  }

  private binary(expr: Expr & { kind: 'binary' }): Expansion {
    const left = this.expand(expr.left);
    if (expr.op === '^') return this.power(expr, left);
    const right = this.expand(expr.right);
    switch (expr.op) {
      case '+':
        return {
          terms: dedupe([...left.terms, ...right.terms]),
          intercept: right.intercept ?? left.intercept,
        };
      case '-': {
        const removed = new Set(right.terms.map((t) => termKey(t.factors)));
        return {
          terms: left.terms.filter((t) => !removed.has(termKey(t.factors))),
          intercept: right.intercept === null ? left.intercept : !right.intercept,
        };
      }
      case ':':
        this.noIntercept(left, right, expr);
        return { terms: this.cross(left.terms, right.terms, expr.column), intercept: null };
      case '*': {
        this.noIntercept(left, right, expr);
        const crossed = this.cross(left.terms, right.terms, expr.column);
        return { terms: byDegree(dedupe([...left.terms, ...right.terms, ...crossed])), intercept: null };
      }
      case '/': {
        // R's nesting: a/b = a + a:b, (a+b)/c = a + b + a:b:c (every factor of the left, crossed).
        this.noIntercept(left, right, expr);
        const outerFactors: TermFactor[] = [];
        const seen = new Set<string>();
        for (const f of left.terms.flatMap((t) => t.factors)) {
          if (seen.has(f.label)) continue;
          seen.add(f.label);
          outerFactors.push(f);
        }
        const outer = [makeTerm(outerFactors, expr.column)];
        return {
          terms: dedupe([...left.terms, ...this.cross(outer, right.terms, expr.column)]),
          intercept: null,
        };
      }
    }
  }

  private power(expr: Expr & { kind: 'binary' }, base: Expansion): Expansion {
    const exponent = stripParens(expr.right);
    if (exponent.kind !== 'number' || !Number.isInteger(exponent.value) || exponent.value < 1) {
      this.invalid("expected a positive whole number after '^' in a formula", expr.right.column);
    }
    if (base.intercept !== null) this.invalid('0 or 1 cannot be raised to a power', expr.column);
    let result = base.terms;
    for (let i = 1; i < exponent.value; i++) {
      const next = dedupe([...result, ...this.cross(result, base.terms, expr.column)]);
      // Crossing a term with itself adds nothing: once a round adds no term, later ones would not either.
      if (next.length === result.length) break;
      result = next;
    }
    // R writes each term's factors in the order the variables first appear: (a+b+c)^2 gives a:b, not b:a.
    const rank = new Map<string, number>();
    for (const f of base.terms.flatMap((t) => t.factors))
      if (!rank.has(f.label)) rank.set(f.label, rank.size);
    const ordered = result.map((t) =>
      makeTerm(
        [...t.factors].sort((x, y) => (rank.get(x.label) ?? 0) - (rank.get(y.label) ?? 0)),
        t.column,
      ),
    );
    return { terms: byDegree(ordered), intercept: null };
  }

  private noIntercept(left: Expansion, right: Expansion, expr: Expr & { kind: 'binary' }): void {
    if (left.intercept !== null || right.intercept !== null) {
      this.invalid(`0 or 1 cannot be used with '${expr.op}'`, expr.opColumn);
    }
  }

  /** Every pair's factor union, right side outer as R's InteractTerms does: (a+b):(c+d) = a:c, b:c, a:d, b:d. */
  private cross(left: Term[], right: Term[], column: number): Term[] {
    if (left.length * right.length > MAX_TERMS) {
      this.invalid(`formula expands to more than ${MAX_TERMS} terms`, column);
    }
    const out: Term[] = [];
    for (const r of right) {
      for (const l of left) {
        const factors = [...l.factors];
        const labels = new Set(factors.map((f) => f.label));
        for (const f of r.factors) if (!labels.has(f.label)) factors.push(f);
        out.push(makeTerm(factors, l.column));
      }
    }
    return dedupe(out);
  }

  private dot(column: number): Term[] {
    if (this.options.allowDot !== true) {
      this.invalid("'.' (all variables) is supported only by summary", column);
    }
    this.dotColumn ??= column;
    const terms: Term[] = [];
    for (const v of this.variables) {
      if (v.type === 'string' || this.dotExclude.has(v.name)) continue;
      this.lookup(v.name, column);
      terms.push(makeTerm([{ kind: 'variable', name: v.name, label: v.name, column }], column));
    }
    return terms;
  }
}

function stripParens(expr: Expr): Expr {
  let e = expr;
  while (e.kind === 'paren') e = e.expr;
  return e;
}

function collectVars(expr: Expr, out: string[]): void {
  switch (expr.kind) {
    case 'var':
      out.push(expr.name);
      return;
    case 'paren':
      collectVars(expr.expr, out);
      return;
    case 'unary':
      collectVars(expr.operand, out);
      return;
    case 'binary':
      collectVars(expr.left, out);
      collectVars(expr.right, out);
      return;
    case 'call':
      for (const arg of expr.args) collectVars(arg.value, out);
      return;
    default:
      return;
  }
}

/** Stable sort by interaction order: R writes an expansion's main effects, then 2-way, then 3-way... */
function byDegree(terms: Term[]): Term[] {
  return terms
    .map((term, index) => ({ term, index }))
    .sort((a, b) => a.term.factors.length - b.term.factors.length || a.index - b.index)
    .map((x) => x.term);
}

/** From the AST to response, intercept and terms; checks every variable and function. */
export function expandFormula(
  ast: FormulaNode,
  text: string,
  variables: readonly FormulaVariable[],
  options: ExpandOptions = {},
): ExpandedFormula {
  const expander = new Expander(text, variables, options);
  let response: TermFactor[] | null = null;
  if (ast.lhs !== null) {
    response = expander.response(ast.lhs);
    for (const r of response) {
      if (r.kind === 'variable') expander.dotExclude.add(r.name);
      else if (r.kind === 'expression') for (const name of r.variables) expander.dotExclude.add(name);
      else expander.dotExclude.add(r.variable);
    }
  }
  const rhs = expander.expand(ast.rhs);
  return {
    response,
    intercept: rhs.intercept ?? true,
    terms: rhs.terms,
    variables: expander.usedVariables,
    dotColumn: expander.dotColumn,
  };
}
