import { VAR_TYPES, type VarType } from '../datasetMeta.ts';
import { type ColInfo, ImportError } from '../importTypes.ts';

/**
 * Checks colInfo on its own, before any data is read. Rules (RevoScaleR's colInfo, made strict):
 * `type` must be one of our variable types; `levels` (distinct strings) only with type factor or no
 * type (levels imply factor); `newName` a non-empty string.
 */
export function validateColInfo(colInfo: ColInfo | undefined): void {
  if (colInfo === undefined) return;
  for (const [column, entry] of Object.entries(colInfo)) {
    const fail = (problem: string): never => {
      throw new ImportError('INVALID_COLINFO', `colInfo for column '${column}': ${problem}`, 400, { column });
    };
    if (typeof entry !== 'object' || entry === null) fail('must be an object');
    if (entry.type !== undefined && !VAR_TYPES.includes(entry.type as VarType)) {
      fail(`type must be one of ${VAR_TYPES.join(', ')}`);
    }
    if (entry.levels !== undefined) {
      if (!Array.isArray(entry.levels) || entry.levels.some((level) => typeof level !== 'string')) {
        fail('levels must be an array of strings');
      }
      if (entry.type !== undefined && entry.type !== 'factor') {
        fail(`levels apply to factors only, not to type ${entry.type}`);
      }
      if (new Set(entry.levels).size !== entry.levels.length) fail('levels must not repeat');
    }
    if (entry.newName !== undefined && (typeof entry.newName !== 'string' || entry.newName.length === 0)) {
      fail('newName must be a non-empty string');
    }
  }
}

/** Every colInfo key must name a column of the input (a typo would otherwise be silently ignored). */
export function checkColInfoColumns(colInfo: ColInfo | undefined, sourceNames: readonly string[]): void {
  if (colInfo === undefined) return;
  const known = new Set(sourceNames);
  const unknown = Object.keys(colInfo).filter((column) => !known.has(column));
  if (unknown.length > 0) {
    throw new ImportError(
      'UNKNOWN_COLINFO_COLUMN',
      `colInfo names column(s) not in the data: ${unknown.join(', ')}; the data has: ${sourceNames.join(', ')}`,
      400,
      { columns: unknown, available: sourceNames },
    );
  }
}
