import { parseFormulaAst } from './parser.ts';
import { type ExpandedFormula, type ExpandOptions, expandFormula, type FormulaVariable } from './terms.ts';

/**
 * RevoScaleR's formula language, shared by every analysis: they consume `terms`, never the text.
 * Errors are EngineError: INVALID_FORMULA (syntax, with the 1-based column), UNKNOWN_VARIABLE (with the
 * nearest name), UNKNOWN_FUNCTION, WRONG_VARIABLE_TYPE (422: F() on a string, N() on a non-factor).
 */

export { MAX_FORMULA_LENGTH } from './lexer.ts';
export type {
  CoefLabelStyle,
  FactorCoding,
  ModelColumn,
  ModelMatrixChunk,
  ModelMatrixOptions,
  ModelMatrixPlan,
  ModelResponse,
  ModelTerm,
} from './modelMatrix.ts';
export {
  fillModelMatrix,
  MAX_MODEL_COLUMNS,
  modelMatrixColumnsUsed,
  planModelMatrix,
} from './modelMatrix.ts';
export type { BinaryNode, CallArg, CallNode, Expr, FormulaNode, NumberNode, VarNode } from './parser.ts';
export { deparse, deparseName, MAX_NESTING, parseFormulaAst } from './parser.ts';
export { editDistance, suggestName } from './suggest.ts';
export type { FactorSource, NumericSource, TermSource } from './termColumns.ts';
export {
  F_OTHER_LEVEL,
  MAX_F_LEVELS,
  planSource,
  sourceInputs,
  sourceKey,
  TermColumns,
} from './termColumns.ts';
export type { ExpandedFormula, ExpandOptions, FormulaVariable, Term, TermFactor } from './terms.ts';
export { MAX_TERMS } from './terms.ts';
export { compileTermExpression, type TermExpression } from './termValues.ts';
export { isNumericLike, lookupVariable, NUMERIC_LIKE_TYPES, unknownVariable } from './variables.ts';

export interface ParsedFormula extends ExpandedFormula {
  /** The formula as given. */
  text: string;
}

/**
 * Parses and expands `text` against the dataset's variables.
 * `options.allowDot`: `.` is accepted (summary only); `options.allowCbind`: `cbind(y1, y2) ~` (linMod);
 * `options.dotExclude`: variables `.` leaves out (weights).
 */
export function parseFormula(
  text: string,
  variables: readonly FormulaVariable[],
  options: ExpandOptions = {},
): ParsedFormula {
  const ast = parseFormulaAst(text);
  return { text, ...expandFormula(ast, text, variables, options) };
}
