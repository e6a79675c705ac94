import type { VarType } from '../../storage/datasetMeta.ts';
import { EngineError } from '../errors.ts';
import { suggestName } from './suggest.ts';

/** Variable types read as numbers (logical as 0/1, dates as days, timestamps as ms since the epoch). */
export const NUMERIC_LIKE_TYPES: readonly VarType[] = ['numeric', 'integer', 'logical', 'date', 'timestamp'];

/** True for a type read as numbers (see NUMERIC_LIKE_TYPES). */
export function isNumericLike(type: string): boolean {
  return (NUMERIC_LIKE_TYPES as readonly string[]).includes(type);
}

/**
 * UNKNOWN_VARIABLE with the nearest known name: every place a user names a variable (formulas, weights,
 * quantile's `variable`) says it the same way.
 */
export function unknownVariable(name: string, known: readonly string[], column?: number): EngineError {
  const suggestion = suggestName(name, known);
  const where = column === undefined ? '' : ` at column ${column}`;
  const hint = suggestion === undefined ? '' : `; did you mean '${suggestion}'?`;
  return new EngineError('UNKNOWN_VARIABLE', `unknown variable '${name}'${where}${hint}`, 400, {
    variable: name,
    ...(column === undefined ? {} : { column }),
    ...(suggestion === undefined ? {} : { suggestion }),
  });
}

/** Looks a variable up by exact name; throws UNKNOWN_VARIABLE with a suggestion otherwise. */
export function lookupVariable<V extends { name: string }>(
  dataset: { variables: readonly V[] },
  name: string,
  column?: number,
): V {
  const found = dataset.variables.find((v) => v.name === name);
  if (found !== undefined) return found;
  throw unknownVariable(
    name,
    dataset.variables.map((v) => v.name),
    column,
  );
}
