import { Type } from 'typebox';
import type { DatasetMeta, VarInfo } from '../../storage/datasetMeta.ts';
import { EngineError } from '../errors.ts';
import { suggestName } from '../formula/suggest.ts';

/** Params and checks the data operations share (rxDataStep, rxFactors, rxSplit, rxSort, rxMerge). */

/** Longest dataset name (the upload route's bound). */
export const MAX_NAME_LENGTH = 200;
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

/** A variable name or a list of them: R's character vectors arrive as either. */
export const NameList = (description: string) =>
  Type.Union([Type.String({ minLength: 1 }), Type.Array(Type.String({ minLength: 1 }), { minItems: 1 })], {
    description,
  });

export function asList(value: string | string[] | undefined): string[] | undefined {
  return value === undefined ? undefined : typeof value === 'string' ? [value] : value;
}

/** The result schema's reference to a new dataset. */
export const DatasetRef = Type.Record(Type.String(), Type.Unknown(), {
  description: 'The new dataset (as GET /v1/datasets/{id})',
});

/** The variable `name` of `meta`, or UNKNOWN_VARIABLE (400) naming the param and the nearest name. */
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
    dataset: meta.id,
    ...(suggestion === undefined ? {} : { suggestion }),
  });
}

/** No name twice in a list the user gave. */
export function checkDistinct(names: readonly string[], param: string): void {
  const seen = new Set<string>();
  for (const name of names) {
    if (seen.has(name))
      throw new EngineError('DUPLICATE_VARIABLE', `${param} names '${name}' twice`, 400, {
        param,
        variable: name,
      });
    seen.add(name);
  }
}

export interface KeepOptions {
  /** Written whatever the lists say (the sort or match keys). */
  always?: ReadonlySet<string>;
  /** The lists' param names, for messages (rxMerge has varsToKeep1 and varsToKeep2). */
  params?: { keep: string; drop: string };
  /** One side of a merge may contribute no variable; a dataset written from nothing is refused. */
  allowNone?: boolean;
}

/**
 * The variables of `meta` to write, in dataset order (copies), after `varsToKeep` or `varsToDrop` (not
 * both). Throws 400 for unknown names and, unless `allowNone`, when nothing would be left.
 */
export function keptVariables(
  meta: DatasetMeta,
  varsToKeep: string[] | undefined,
  varsToDrop: string[] | undefined,
  options: KeepOptions = {},
): VarInfo[] {
  const { keep, drop } = options.params ?? { keep: 'varsToKeep', drop: 'varsToDrop' };
  const always = options.always ?? new Set<string>();
  if (varsToKeep !== undefined && varsToDrop !== undefined) {
    throw new EngineError('INVALID_PARAMS', `give ${keep} or ${drop}, not both`, 400, {
      [keep]: varsToKeep,
      [drop]: varsToDrop,
    });
  }
  let kept = meta.variables;
  if (varsToKeep !== undefined) {
    const names = new Set(varsToKeep.map((name) => variableNamed(meta, name, keep).name));
    kept = meta.variables.filter((v) => names.has(v.name) || always.has(v.name));
  } else if (varsToDrop !== undefined) {
    const names = new Set(varsToDrop.map((name) => variableNamed(meta, name, drop).name));
    kept = meta.variables.filter((v) => !names.has(v.name) || always.has(v.name));
  }
  if (kept.length === 0 && options.allowNone !== true) {
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
