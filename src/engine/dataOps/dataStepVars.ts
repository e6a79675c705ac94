import { Type } from 'typebox';
import type { DatasetMeta, VarInfo } from '../../storage/datasetMeta.ts';
import { EngineError } from '../errors.ts';
import { suggestName } from '../formula/suggest.ts';

/** Params shared by rxDataStep, rxFactors and rxSplit, with RevoScaleR's names. */

/** Longest dataset name (the upload route's bound). */
const MAX_NAME_LENGTH = 200;
/** The dataset upload's bound on rows per chunk. */
export const MAX_ROWS_PER_CHUNK = 10_000_000;

export const VarsToKeep = Type.Optional(
  Type.Array(Type.String({ minLength: 1 }), {
    minItems: 1,
    description: 'Variables to write (in the input order); all others are dropped. Not with varsToDrop.',
  }),
);
export const VarsToDrop = Type.Optional(
  Type.Array(Type.String({ minLength: 1 }), {
    minItems: 1,
    description: 'Variables not to write. Not with varsToKeep.',
  }),
);
export const RowsPerChunk = Type.Optional(
  Type.Integer({
    minimum: 1,
    maximum: MAX_ROWS_PER_CHUNK,
    description:
      "Rows per chunk of the output (RevoScaleR's rowsPerRead): every chunk but the last holds exactly this many. Default: the input's rowsPerChunk.",
  }),
);
export const OutName = Type.Optional(
  Type.String({
    minLength: 1,
    maxLength: MAX_NAME_LENGTH,
    description: "Name of the new dataset (RevoScaleR's outFile). Default: `<input name>-<job type>`.",
  }),
);

/** The variable named `name`, or UNKNOWN_VARIABLE (400) naming the param and the nearest name. */
export function variableNamed(meta: DatasetMeta, name: string, param: string): VarInfo {
  const found = meta.variables.find((v) => v.name === name);
  if (found !== undefined) return found;
  const suggestion = suggestName(
    name,
    meta.variables.map((v) => v.name),
  );
  const hint = suggestion === undefined ? '' : `; did you mean '${suggestion}'?`;
  throw new EngineError('UNKNOWN_VARIABLE', `${param}: unknown variable '${name}'${hint}`, 400, {
    param,
    variable: name,
    ...(suggestion === undefined ? {} : { suggestion }),
  });
}

/**
 * The input variables to write, in input order, after `varsToKeep` or `varsToDrop` (not both).
 * Throws 400 for unknown names and when nothing would be left.
 */
export function keptVariables(
  meta: DatasetMeta,
  params: { varsToKeep?: string[] | undefined; varsToDrop?: string[] | undefined },
): VarInfo[] {
  const { varsToKeep, varsToDrop } = params;
  if (varsToKeep !== undefined && varsToDrop !== undefined) {
    throw new EngineError('INVALID_PARAMS', 'give varsToKeep or varsToDrop, not both', 400, {
      varsToKeep,
      varsToDrop,
    });
  }
  let kept = meta.variables;
  if (varsToKeep !== undefined) {
    const names = new Set(varsToKeep.map((name) => variableNamed(meta, name, 'varsToKeep').name));
    kept = meta.variables.filter((v) => names.has(v.name));
  } else if (varsToDrop !== undefined) {
    const names = new Set(varsToDrop.map((name) => variableNamed(meta, name, 'varsToDrop').name));
    kept = meta.variables.filter((v) => !names.has(v.name));
  }
  if (kept.length === 0) {
    throw new EngineError('NO_VARIABLES', 'no variable would be written: keep at least one', 400);
  }
  return kept.map((v) => ({ ...v }));
}

/** The new dataset's name: `outName`, else `<input name>-<op>` (cut to the longest name allowed). */
export function outputName(outName: string | undefined, meta: DatasetMeta, op: string): string {
  if (outName !== undefined) return outName;
  const suffix = `-${op}`;
  return `${meta.name.slice(0, MAX_NAME_LENGTH - suffix.length)}${suffix}`;
}
