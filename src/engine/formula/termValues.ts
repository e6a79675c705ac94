import type { Table } from 'apache-arrow';
import type { VarInfo, VarType } from '../../storage/datasetMeta.ts';
import { UserError } from '../../userError.ts';

/**
 * The one door through which formula terms reach the expression language: an in-line term
 * (`log(x)`, `pow(x, 2)`, `I(x * y)`) is handed over as its deparsed text and comes back as a compiled
 * expression. Everything else in the formula code (summary, covCor, the model matrix) calls only this,
 * so wiring the expression compiler in is a change to this file alone.
 */

/** A compiled in-line expression: what `compileExpression` of src/engine/expr returns. */
export interface TermExpression {
  /** Variables the expression reads (the chunk columns to load). */
  inputs: string[];
  type: VarType;
  /** The expression's value for every row of the chunk; NaN = NA. */
  evaluate(table: Table): Float64Array;
}

/**
 * Compiles the text of an in-line term against the dataset's variables. Called once when a job is
 * planned (so a bad expression fails before anything is queued) and once per chunk by `map` (a
 * compiled closure cannot travel in the JSON state).
 */
export function compileTermExpression(text: string, _variables: readonly VarInfo[]): TermExpression {
  throw new UserError(
    501,
    'NOT_IMPLEMENTED',
    'in-line functions in formulas arrive with the expression language',
    { expression: text },
  );
}
