import type { DatasetMeta } from '../../storage/datasetMeta.ts';
import { EngineError } from '../errors.ts';
import {
  type Expr,
  type FactorSource,
  type NumericSource,
  parseFormula,
  parseFormulaAst,
  planSource,
  sourceInputs,
} from '../formula/index.ts';
import { formulaError } from '../formula/lexer.ts';
import { planWeights, type WeightPlan } from '../params.ts';

/**
 * What rxCube and rxCrossTabs share: the formula `~ a:b:c` or `y ~ a:b:c` resolved against the dataset,
 * and how a cell of the crossing is keyed.
 *
 * Every right-hand factor is categorical (a factor variable or `F(x)`); the response, if any, is numeric
 * (a numeric-like variable, `N(f)` or an in-line expression). RevoScaleR refuses `+` in these formulas
 * (the factors are crossed, never added), and so do we, with the column of the offending operator.
 *
 * Cell keys: the factors' codes in mixed radix, the FIRST factor varying fastest (R's expand.grid and
 * rxCube's row order): key = c1 + K1 * (c2 + K2 * c3 ...). A double holds such a key exactly while the
 * product of the level counts stays within 2^53; past that the factors are split into consecutive
 * groups that each fit, and a key is one double per group (`keyGroups`), compared from the last group
 * to the first so that the order is still first-factor-fastest.
 */

/** Largest product of level counts one double keys exactly. */
const MAX_EXACT_KEY = 2 ** 53;

export interface KeyGroup {
  /** Index of the group's first factor and the number of factors in it. */
  first: number;
  count: number;
  /** Product of the group's level counts. */
  size: number;
}

export interface CubePlan {
  formula: string;
  factors: FactorSource[];
  response: NumericSource | null;
  weights: WeightPlan | null;
  keyGroups: KeyGroup[];
  /** Product of every factor's level count (may exceed 2^53: then only a rough size). */
  totalCells: number;
  /** Dataset variables read (without the weight). */
  inputs: string[];
}

/** The first operator other than `:` on the right-hand side, as RevoScaleR refuses them. */
function firstNonColon(expr: Expr): { op: string; column: number } | null {
  switch (expr.kind) {
    case 'binary':
      if (expr.op !== ':') return { op: expr.op, column: expr.opColumn };
      return firstNonColon(expr.left) ?? firstNonColon(expr.right);
    case 'paren':
      return firstNonColon(expr.expr);
    case 'unary':
      return { op: expr.op, column: expr.column };
    case 'dot':
      return { op: '.', column: expr.column };
    case 'number':
      return { op: expr.text, column: expr.column };
    default:
      // A variable or a call (F(x), N(f), log(x)): one factor, whatever its arguments.
      return null;
  }
}

export function keyGroupsOf(sizes: readonly number[]): KeyGroup[] {
  const groups: KeyGroup[] = [];
  let current: KeyGroup | null = null;
  sizes.forEach((size, i) => {
    if (current !== null && current.size * size <= MAX_EXACT_KEY) {
      current.count++;
      current.size *= size;
      return;
    }
    current = { first: i, count: 1, size };
    groups.push(current);
  });
  return groups;
}

/**
 * Resolves a cube / crossTabs formula. `analysis` names the job type in messages. Throws
 * INVALID_FORMULA (400) for `+` and friends or no factor, WRONG_VARIABLE_TYPE (422) for a numeric
 * factor or a categorical response.
 */
export function planCube(
  params: { formula: string; pweights?: string | undefined; fweights?: string | undefined },
  meta: DatasetMeta,
  analysis: string,
): CubePlan {
  const text = params.formula;
  const ast = parseFormulaAst(text);
  const bad = firstNonColon(ast.rhs);
  if (bad !== null) {
    throw formulaError(
      `${analysis} crosses factors with ':' only (e.g. 'y ~ a:b:c' or '~ a:F(x)'); '${bad.op}' is not allowed`,
      bad.column,
      text,
    );
  }
  const weights = planWeights(params, meta);
  const parsed = parseFormula(text, meta.variables);
  const responses = parsed.response ?? [];
  if (responses.length > 1) {
    throw formulaError(`${analysis} takes one response`, responses[1]?.column ?? 1, text);
  }
  const term = parsed.terms[0];
  if (term === undefined || parsed.terms.length > 1) {
    throw formulaError(
      `${analysis} needs one term of factors joined by ':' after '~'`,
      parsed.terms[1]?.column ?? text.length,
      text,
    );
  }
  const factors = term.factors.map((factor) => {
    const source = planSource(factor, meta.variables);
    if (source.role !== 'factor') {
      const hint =
        factor.kind === 'variable' ? ` (use F(${factor.name}) for one level per integer value)` : '';
      throw new EngineError(
        'WRONG_VARIABLE_TYPE',
        `${analysis}: '${factor.label}' at column ${factor.column} is numeric; the factors on the right of '~' must be categorical${hint}`,
        422,
        { term: factor.label, column: factor.column, formula: text },
      );
    }
    return source;
  });
  const responseFactor = responses[0];
  let response: NumericSource | null = null;
  if (responseFactor !== undefined) {
    const source = planSource(responseFactor, meta.variables);
    if (source.role !== 'numeric') {
      throw new EngineError(
        'WRONG_VARIABLE_TYPE',
        `${analysis}: the response '${responseFactor.label}' is categorical; it must be numeric (use N(${source.label}) for its codes, or put it on the right of '~')`,
        422,
        { response: responseFactor.label, formula: text },
      );
    }
    response = source;
  }
  const sizes = factors.map((f) => f.levels.length);
  if (sizes.some((s) => s === 0)) {
    const empty = factors.find((f) => f.levels.length === 0) as FactorSource;
    throw new EngineError(
      'NO_VALID_VALUES',
      `${analysis}: factor '${empty.label}' has no levels, so there is nothing to tabulate`,
      422,
      { factor: empty.label },
    );
  }
  const inputs = [...new Set([...(response === null ? [] : [response]), ...factors].flatMap(sourceInputs))];
  return {
    formula: text,
    factors,
    response,
    weights,
    keyGroups: keyGroupsOf(sizes),
    totalCells: sizes.reduce((p, s) => p * s, 1),
    inputs,
  };
}

export function planColumnsUsed(plan: CubePlan): string[] {
  const names = [...plan.inputs];
  if (plan.weights !== null && !names.includes(plan.weights.variable)) names.push(plan.weights.variable);
  return names;
}

/** The factors' codes of one cell, from its key (one double per key group), first factor first. */
export function decodeKey(plan: CubePlan, keys: Float64Array, offset: number, out: Int32Array): void {
  plan.keyGroups.forEach((group, g) => {
    let rest = keys[offset + g] as number;
    for (let f = group.first; f < group.first + group.count; f++) {
      const size = (plan.factors[f] as FactorSource).levels.length;
      // % and the division are exact on integers below 2^53 (the division is by a factor of rest - code).
      const code = rest % size;
      out[f] = code;
      rest = (rest - code) / size;
    }
  });
}
