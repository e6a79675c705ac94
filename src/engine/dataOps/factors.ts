import { type Static, Type } from 'typebox';
import { tableFromData } from '../../arrowData.ts';
import type { DatasetMeta, VarInfo } from '../../storage/datasetMeta.ts';
import type { Analysis, Chunk } from '../analysis.ts';
import { EngineError } from '../errors.ts';
import { checkParams } from '../params.ts';
import { arrowData, type ColumnValues, readColumn, wholeColumn } from './columnValues.ts';
import { keptVariables, OutName, outputName, VarsToDrop, VarsToKeep, variableNamed } from './dataOpParams.ts';
import {
  type AssembleState,
  assemblyInput,
  type DataStepResult,
  DataStepResultSchema,
  emptyPiecesPartial,
  finishAssembly,
  finishWriting,
  mapAssembly,
  mergeOutputs,
  type OutputPartial,
  oneOutput,
  wholeStreams,
  writePiece,
} from './dataStepOutput.ts';
import {
  addDistinct,
  givenLabel,
  type LevelGroups,
  type LevelMapping,
  type LevelSpec,
  MAX_FACTOR_LEVELS,
  mapLevels,
  rowLabels,
} from './factorsLevels.ts';

/**
 * rxFactors: recodes factors and turns other variables into factors, writing a new dataset with the
 * recoded columns and the others copied. Per variable (`factorInfo`): `levels` (the values to keep, in
 * order; others become `otherLevel` or missing), `newLevels` (rename / collapse / reorder / add
 * levels), `otherLevel`, `sortLevels`, `varName` (the source when the list name is a new variable).
 * Level lists are dataset-wide: when they come from the data (a non-factor without `levels`), a first
 * pass collects the distinct values in the order met (at most MAX_FACTOR_LEVELS, else 422), and the
 * writing pass follows. Output chunks are written as in dataStep (dataStepOutput.ts).
 */

const LevelValue = Type.Union([Type.String(), Type.Number(), Type.Boolean()]);
const OldLevels = Type.Union([Type.String(), Type.Array(Type.String(), { minItems: 1 })]);

const NewLevels = Type.Union(
  [
    Type.Array(Type.String(), {
      minItems: 1,
      description: 'The levels in their new order; names that are not levels yet are added (empty).',
    }),
    Type.Record(Type.String(), OldLevels, {
      description:
        'New level -> old level(s): rename or collapse; key order is the level order (JSON keys that are whole numbers come first in JavaScript: use the list-of-pairs form for those).',
    }),
    Type.Array(Type.Object({ level: Type.String(), from: OldLevels }, { additionalProperties: false }), {
      minItems: 1,
      description: 'As the object form, as a list of { level, from } pairs.',
    }),
  ],
  {
    description:
      'Rename, collapse or reorder levels. Old levels not named keep their name (after the named ones), or go to otherLevel when given.',
  },
);

const factorFields = {
  levels: Type.Optional(
    Type.Array(LevelValue, {
      minItems: 1,
      description:
        'Values to keep as levels, in this order (matched as text; numbers with 6 significant digits). Other values become otherLevel, or missing.',
    }),
  ),
  otherLevel: Type.Optional(
    Type.Union([Type.String(), Type.Null()], {
      description:
        'Level for values not in levels / not named in newLevels. Default: the top-level otherLevel.',
    }),
  ),
  sortLevels: Type.Optional(
    Type.Boolean({
      description:
        'Sort the resulting levels (numerically when all are numbers). Default: the top-level sortLevels.',
    }),
  ),
  newLevels: Type.Optional(NewLevels),
};

const FactorSpec = Type.Object(
  {
    ...factorFields,
    varName: Type.Optional(
      Type.String({
        minLength: 1,
        description: 'Variable to recode; default: the key (then it is replaced in place).',
      }),
    ),
  },
  { additionalProperties: false },
);

const FactorListItem = Type.Object(
  {
    ...factorFields,
    varName: Type.String({ minLength: 1, description: 'Variable to recode.' }),
    newName: Type.Optional(
      Type.String({ minLength: 1, description: 'Name of the result; default: varName (in place).' }),
    ),
  },
  { additionalProperties: false },
);

export const FactorsParamsSchema = Type.Object(
  {
    factorInfo: Type.Optional(
      Type.Union(
        [
          Type.Array(Type.String({ minLength: 1 }), {
            description: 'Variables to make factors of (or, with sortLevels, to sort the levels of).',
          }),
          Type.Record(Type.String({ minLength: 1 }), FactorSpec, {
            description: 'Output variable -> how to make it.',
          }),
          Type.Array(FactorListItem, { description: 'As the object form, as a list naming varName.' }),
        ],
        {
          description:
            "RevoScaleR's factorInfo. Omitted with sortLevels: true = sort the levels of every factor.",
        },
      ),
    ),
    sortLevels: Type.Optional(
      Type.Boolean({ default: false, description: 'Default sortLevels of each variable.' }),
    ),
    otherLevel: Type.Optional(
      Type.Union([Type.String(), Type.Null()], {
        default: null,
        description: 'Default otherLevel of each variable.',
      }),
    ),
    varsToKeep: VarsToKeep,
    varsToDrop: VarsToDrop,
    outName: OutName,
  },
  { additionalProperties: false },
);
export type FactorsParams = Static<typeof FactorsParamsSchema>;
type FactorInfoFields = Static<typeof FactorSpec>;

/** One variable to write as a factor. */
interface Recode {
  name: string;
  source: VarInfo;
  spec: LevelSpec;
  /** Levels come from the data: the first pass collects them. */
  scan: boolean;
  /** Null until the first pass when `scan`. */
  mapping: LevelMapping | null;
}

/** One output column: a copy of the input variable of that name, or recode `recode`. */
interface OutputColumn {
  variable: VarInfo;
  recode: number;
}

interface WritePlan {
  name: string;
  outputs: OutputColumn[];
  recodes: Recode[];
  rowsPerChunk: number;
}

type FactorsState = ({ phase: 'scan' } & WritePlan) | ({ phase: 'write' } & WritePlan) | AssembleState;

/** First-pass partial: the distinct labels of each scanned recode, in first-seen order. */
interface LevelsPartial {
  kind: 'levels';
  labels: string[][];
}

type FactorsPartial = LevelsPartial | OutputPartial;

function newLevelsOf(value: FactorInfoFields['newLevels']): LevelGroups | null {
  if (value === undefined) return null;
  const list = (from: string | string[]) => (typeof from === 'string' ? [from] : [...from]);
  if (Array.isArray(value)) {
    if (value.every((item): item is string => typeof item === 'string'))
      return { groups: value.map((level) => ({ level, from: [level] })), named: false };
    return {
      groups: value.map((item) => {
        if (typeof item === 'string')
          throw new EngineError('INVALID_PARAMS', 'newLevels: mix of names and pairs', 400);
        return { level: item.level, from: list(item.from) };
      }),
      named: true,
    };
  }
  return { groups: Object.entries(value).map(([level, from]) => ({ level, from: list(from) })), named: true };
}

/** (output name, source name, fields) of every variable factorInfo names, in its order. */
function entriesOf(
  params: FactorsParams,
  kept: readonly VarInfo[],
): Array<{ name: string; source: string; fields: FactorInfoFields }> {
  const info = params.factorInfo;
  const empty =
    info === undefined || (Array.isArray(info) ? info.length === 0 : Object.keys(info).length === 0);
  if (empty) {
    if (params.sortLevels !== true) {
      throw new EngineError(
        'INVALID_PARAMS',
        'give factorInfo (the variables to recode), or sortLevels: true',
        400,
      );
    }
    // RevoScaleR: sortLevels with no factorInfo sorts the levels of every factor.
    return kept.filter((v) => v.type === 'factor').map((v) => ({ name: v.name, source: v.name, fields: {} }));
  }
  if (Array.isArray(info)) {
    return info.map((item) => {
      if (typeof item === 'string') return { name: item, source: item, fields: {} };
      const { varName, newName, ...fields } = item;
      return { name: newName ?? varName, source: varName, fields };
    });
  }
  return Object.entries(info).map(([name, { varName, ...fields }]) => ({
    name,
    source: varName ?? name,
    fields,
  }));
}

function planRecodes(
  params: FactorsParams,
  meta: DatasetMeta,
): { outputs: OutputColumn[]; recodes: Recode[] } {
  const kept = keptVariables(meta, params.varsToKeep, params.varsToDrop);
  const outputs: OutputColumn[] = kept.map((variable) => ({ variable, recode: -1 }));
  const recodes: Recode[] = [];
  const named = new Set<string>();
  for (const entry of entriesOf(params, kept)) {
    if (named.has(entry.name)) {
      throw new EngineError('DUPLICATE_VARIABLE', `factorInfo: '${entry.name}' is made twice`, 400, {
        variable: entry.name,
      });
    }
    named.add(entry.name);
    const source = variableNamed(meta, entry.source, 'factorInfo');
    const { fields } = entry;
    const spec: LevelSpec = {
      name: entry.name,
      levels: fields.levels?.map((value) => givenLabel(value, source.type)) ?? null,
      otherLevel: fields.otherLevel !== undefined ? fields.otherLevel : (params.otherLevel ?? null),
      newLevels: newLevelsOf(fields.newLevels),
      sortLevels: fields.sortLevels ?? params.sortLevels ?? false,
    };
    let mapping: LevelMapping | null = null;
    if (source.type === 'factor') mapping = mapLevels(spec, source.levels ?? [], true);
    else if (spec.levels !== null) mapping = mapLevels(spec, spec.levels, true);
    const recode = recodes.length;
    recodes.push({ name: entry.name, source, spec, scan: mapping === null, mapping });
    const column: OutputColumn = {
      variable: {
        name: entry.name,
        type: 'factor',
        low: null,
        high: null,
        missing: 0,
        levels: mapping?.levels ?? [],
      },
      recode,
    };
    // A name the output has already (the source itself, or another kept variable) is replaced in place.
    const at = outputs.findIndex((o) => o.variable.name === entry.name);
    if (at >= 0) outputs[at] = column;
    else outputs.push(column);
  }
  return { outputs, recodes };
}

/** The factor codes of recode `recode` for every row of `chunk` (missing: valid 0, code 0). */
function recodeColumn(chunk: Chunk, recode: Recode): ColumnValues {
  const mapping = recode.mapping!;
  const rows = chunk.table.numRows;
  const codes = new Int32Array(rows);
  const valid = new Uint8Array(rows);
  const column = readColumn(chunk.table, recode.source);
  const set = (r: number, code: number) => {
    if (code < 0) return;
    codes[r] = code;
    valid[r] = 1;
  };
  if (column.kind === 'codes') {
    for (let r = 0; r < rows; r++)
      if (column.valid === null || column.valid[r] === 1) set(r, mapping.codes[column.codes[r]!] ?? -1);
  } else {
    const index = new Map(mapping.labels.map((label, i) => [label, mapping.codes[i]!]));
    const labels = rowLabels(column, recode.source.type, rows);
    for (let r = 0; r < rows; r++) {
      const label = labels[r] ?? null;
      if (label !== null) set(r, index.get(label) ?? mapping.otherCode);
    }
  }
  return { kind: 'codes', codes, valid };
}

export const factors: Analysis<FactorsParams, FactorsState, FactorsPartial, DataStepResult> = {
  name: 'factors',
  paramsSchema: FactorsParamsSchema,
  resultSchema: DataStepResultSchema,

  init(params, meta) {
    checkParams(FactorsParamsSchema, params, 'factors');
    const { outputs, recodes } = planRecodes(params, meta);
    return {
      phase: recodes.some((r) => r.scan) ? 'scan' : 'write',
      name: outputName(params.outName, meta, 'factors'),
      outputs,
      recodes,
      rowsPerChunk: meta.rowsPerChunk,
    };
  },

  columnsUsed(state) {
    if (state.phase === 'assemble') return [];
    if (state.phase === 'scan') return state.recodes.filter((r) => r.scan).map((r) => r.source.name);
    const names = new Set(state.outputs.filter((o) => o.recode < 0).map((o) => o.variable.name));
    for (const recode of state.recodes) names.add(recode.source.name);
    return [...names];
  },

  roundInput: assemblyInput,
  mapPartition: mapAssembly,

  async map(chunk, state, context) {
    if (state.phase === 'scan') {
      return {
        kind: 'levels',
        labels: state.recodes.map((recode) => {
          const seen: string[] = [];
          if (!recode.scan) return seen;
          const column = readColumn(chunk.table, recode.source);
          addDistinct(seen, new Set(), rowLabels(column, recode.source.type, chunk.numRows));
          return seen;
        }),
      };
    }
    if (state.phase !== 'write') throw new Error('factors: map in the assembly round');
    const { table } = chunk;
    const columns = state.outputs.map(({ variable, recode }, j) =>
      recode < 0
        ? wholeColumn(table, variable, j)
        : arrowData(variable, recodeColumn(chunk, state.recodes[recode]!), table.numRows, j),
    );
    const variables = state.outputs.map((o) => o.variable);
    const out = tableFromData(
      variables.map((v) => v.name),
      columns,
      table.numRows,
    );
    const partial = emptyPiecesPartial(1, chunk.numRows);
    await writePiece(context.io, partial, 0, chunk.index, out, variables);
    return partial;
  },

  merge(a, b) {
    if (a.kind === 'levels' && b.kind === 'levels') {
      return {
        kind: 'levels',
        labels: a.labels.map((seen, i) => {
          addDistinct(seen, new Set(seen), b.labels[i] ?? []);
          return seen;
        }),
      };
    }
    if (a.kind === 'levels' || b.kind === 'levels') throw new Error('factors: partials of different rounds');
    return mergeOutputs(a, b);
  },

  async finalize(partial, state, { io }) {
    if (state.phase === 'scan') {
      if (partial.kind !== 'levels') throw new Error('factors: unexpected partial');
      const recodes = state.recodes.map((recode, i) => {
        if (!recode.scan) return recode;
        const found = partial.labels[i] ?? [];
        if (found.length > MAX_FACTOR_LEVELS) {
          throw new EngineError(
            'TOO_MANY_LEVELS',
            `variable '${recode.source.name}' has more than ${MAX_FACTOR_LEVELS} distinct values: give factorInfo.${recode.name}.levels to choose the levels`,
            422,
            { variable: recode.source.name, limit: MAX_FACTOR_LEVELS },
          );
        }
        return { ...recode, mapping: mapLevels(recode.spec, found, false) };
      });
      const outputs = state.outputs.map((output) =>
        output.recode < 0
          ? output
          : { ...output, variable: { ...output.variable, levels: recodes[output.recode]!.mapping!.levels } },
      );
      return {
        done: false,
        state: { ...state, phase: 'write', recodes, outputs },
        message: 'writing the recoded dataset',
      };
    }
    if (partial.kind === 'levels') throw new Error('factors: unexpected partial');
    if (state.phase === 'assemble') return oneOutput(await finishAssembly(io, state, partial));
    const variables = state.outputs.map((o) => o.variable);
    const options = { rowsPerChunk: state.rowsPerChunk, variables, source: 'job:factors' };
    return oneOutput(await finishWriting(io, partial, 1, wholeStreams([state.name]), options));
  },
};
