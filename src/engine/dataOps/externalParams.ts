import { Type } from 'typebox';
import type { DatasetMeta, VarInfo } from '../../storage/datasetMeta.ts';
import { EngineError } from '../errors.ts';
import { suggestName } from '../formula/suggest.ts';

/** Params rxSort and rxMerge share, with RevoScaleR's names. */

/** Longest dataset name (the upload route's bound). */
const MAX_NAME_LENGTH = 200;

/** A variable name or a list of them: R's character vectors arrive as either. */
export const NameList = (description: string) =>
  Type.Union([Type.String({ minLength: 1 }), Type.Array(Type.String({ minLength: 1 }), { minItems: 1 })], {
    description,
  });

export const OutName = Type.Optional(
  Type.String({
    minLength: 1,
    maxLength: MAX_NAME_LENGTH,
    description: "Name of the new dataset (RevoScaleR's outFile). Default: `<input name>-<job type>`.",
  }),
);

export function asList(value: string | string[] | undefined): string[] | undefined {
  return value === undefined ? undefined : typeof value === 'string' ? [value] : value;
}

/** The variable `name` of `meta`, or UNKNOWN_VARIABLE (400) naming the param and the nearest name. */
export function variableNamed(meta: DatasetMeta, name: string, param: string): VarInfo {
  const found = meta.variables.find((v) => v.name === name);
  if (found !== undefined) return found;
  const suggestion = suggestName(
    name,
    meta.variables.map((v) => v.name),
  );
  const hint = suggestion === undefined ? '' : `; did you mean '${suggestion}'?`;
  throw new EngineError(
    'UNKNOWN_VARIABLE',
    `${param}: unknown variable '${name}' in '${meta.name}'${hint}`,
    400,
    {
      param,
      variable: name,
      dataset: meta.id,
      ...(suggestion === undefined ? {} : { suggestion }),
    },
  );
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

/**
 * The variables of `meta` to write, in dataset order, after `varsToKeep` or `varsToDrop` (not both);
 * `always` (the sort or match keys) are written whatever the lists say.
 */
export function keptVariables(
  meta: DatasetMeta,
  varsToKeep: string[] | undefined,
  varsToDrop: string[] | undefined,
  always: ReadonlySet<string>,
  params: { keep: string; drop: string },
): VarInfo[] {
  if (varsToKeep !== undefined && varsToDrop !== undefined) {
    throw new EngineError('INVALID_PARAMS', `give ${params.keep} or ${params.drop}, not both`, 400);
  }
  let kept = meta.variables;
  if (varsToKeep !== undefined) {
    const names = new Set(varsToKeep.map((name) => variableNamed(meta, name, params.keep).name));
    kept = meta.variables.filter((v) => names.has(v.name) || always.has(v.name));
  } else if (varsToDrop !== undefined) {
    const names = new Set(varsToDrop.map((name) => variableNamed(meta, name, params.drop).name));
    kept = meta.variables.filter((v) => !names.has(v.name) || always.has(v.name));
  }
  return kept.map((v) => ({ ...v }));
}

/** The new dataset's name: `outName`, else `<input name>-<op>` (cut to the longest name allowed). */
export function outputName(outName: string | undefined, meta: DatasetMeta, op: string): string {
  if (outName !== undefined) return outName;
  const suffix = `-${op}`;
  return `${meta.name.slice(0, MAX_NAME_LENGTH - suffix.length)}${suffix}`;
}

/** The result schema's reference to the new dataset. */
export const DatasetRef = Type.Record(Type.String(), Type.Unknown(), {
  description: 'The new dataset (as GET /v1/datasets/{id})',
});
