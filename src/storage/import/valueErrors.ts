import { ImportError } from '../importTypes.ts';
import { ColumnValueError } from './columnBuilder.ts';

/**
 * Turns a value that does not fit the colInfo type into COLINFO_TYPE_MISMATCH for line `line`.
 * 422: the upload is well-formed, but the type the client asked for cannot hold this value. We refuse
 * rather than store a missing value because a silent NA would hide a wrong colInfo (RevoScaleR only turns
 * factor values outside `levels` into NA, and so do we).
 */
export function rethrowWithLine(error: unknown, line: number): never {
  if (error instanceof ColumnValueError) {
    const value = error.value.length > 100 ? `${error.value.slice(0, 100)}...` : error.value;
    throw new ImportError(
      'COLINFO_TYPE_MISMATCH',
      `line ${line}: value '${value}' in column '${error.column}' is not a valid ${error.expected}, the type colInfo asks for; fix the value or the colInfo type`,
      422,
      { line, column: error.column, value, type: error.expected },
    );
  }
  throw error;
}
