import type { Table } from 'apache-arrow';
import { type Static, Type } from 'typebox';
import { stringsFromCodes } from '../../arrowData.ts';
import type { DatasetMeta, VarInfo, VarType } from '../../storage/datasetMeta.ts';
import { rowsPerChunkFor } from '../../storage/import/rowsPerChunk.ts';
import { EngineError } from '../errors.ts';
import { checkParams } from '../params.ts';
import { type ColumnValues, kindOf, readColumn } from './columnValues.ts';
import {
  asList,
  checkDistinct,
  keptVariables,
  NameList,
  OutName,
  outputName,
  variableNamed,
} from './dataOpParams.ts';
import type { KeyOrder } from './externalKeys.ts';
import { sampleStep } from './externalSort.ts';

/**
 * rxMerge's params and the plan `init` makes of them: which columns each side contributes, how key
 * columns of different types meet (numbers by value, factors and strings by label, factor levels unified),
 * and the output's variables.
 */

export const MERGE_TYPES = ['inner', 'left', 'right', 'full', 'oneToOne', 'union'] as const;
export type MergeType = (typeof MERGE_TYPES)[number];

const Renames = (side: string) =>
  Type.Optional(
    Type.Record(Type.String({ minLength: 1 }), Type.String({ minLength: 1 }), {
      description: `New names for variables of the ${side} dataset: { "old": "new" } (R's named vector).`,
    }),
  );

export const MergeParamsSchema = Type.Object(
  {
    right: Type.String({
      minLength: 1,
      description: "The other dataset (RevoScaleR's inData2); the job's dataset is the left one (inData1).",
    }),
    type: Type.Optional(
      Type.Union(
        [
          Type.Literal('inner'),
          Type.Literal('left'),
          Type.Literal('right'),
          Type.Literal('full'),
          Type.Literal('oneToOne'),
          Type.Literal('union'),
        ],
        {
          default: 'inner',
          description:
            'inner, left, right, full (outer): rows matched on matchVars; oneToOne: row i beside row i; union: rows of both stacked.',
        },
      ),
    ),
    matchVars: Type.Optional(
      NameList('Key variables, with the same names on both sides (after newVarNames).'),
    ),
    missingsLow: Type.Optional(
      Type.Boolean({
        default: true,
        description: 'Missing keys sort lowest (they match each other, as in R).',
      }),
    ),
    decreasing: Type.Optional(
      Type.Boolean({ default: false, description: 'Output in decreasing key order.' }),
    ),
    autoSort: Type.Optional(
      Type.Boolean({
        default: true,
        description: 'Accepted for compatibility: inputs are always sorted here.',
      }),
    ),
    duplicateVarExt: Type.Optional(
      Type.Array(Type.String({ minLength: 1 }), {
        minItems: 2,
        maxItems: 2,
        description:
          'Suffixes for non-key variables on both sides: `x.<first>`, `x.<second>`. Default: the dataset names (or 1 and 2 when they are equal).',
      }),
    ),
    varsToKeep1: Type.Optional(NameList('Variables of the left dataset to write (keys always are).')),
    varsToDrop1: Type.Optional(NameList('Variables of the left dataset not to write.')),
    newVarNames1: Renames('left'),
    varsToKeep2: Type.Optional(NameList('Variables of the right dataset to write (keys always are).')),
    varsToDrop2: Type.Optional(NameList('Variables of the right dataset not to write.')),
    newVarNames2: Renames('right'),
    rowsPerOutputBlock: Type.Optional(
      Type.Integer({
        minimum: 1,
        maximum: 10_000_000,
        description: 'Rows per chunk of the output (a target).',
      }),
    ),
    outName: OutName,
  },
  { additionalProperties: false },
);
export type MergeParams = Static<typeof MergeParamsSchema>;

/** How a side's stored column becomes the merged column: as it is, factor codes renumbered, or labels. */
export type Conversion =
  | { kind: 'same' }
  | { kind: 'remap'; codes: number[] }
  | { kind: 'labels'; levels: string[] };

/** One column a side writes to its run files. */
export interface SideColumn {
  /** The stored variable (its name in the dataset, type and levels). */
  source: VarInfo;
  conversion: Conversion;
}

export interface SidePlan {
  /** Run columns: for joins, the keys first (in matchVars order), then the side's other kept variables. */
  columns: SideColumn[];
  rowsPerChunk: number;
  step: number;
  /** Stored bytes per row, to estimate what a partition task holds. */
  bytesPerRow: number;
}

/** Where an output column comes from: a key (either side), or a column of one side's runs. */
export type OutputSource = { from: 'key'; key: number } | { from: 'left' | 'right'; column: number };

export interface MergePlan {
  type: MergeType;
  right: string;
  /** Chunks of the left dataset (union numbers the right's pieces after them). */
  leftChunks: number;
  /** Rows per chunk of the right dataset (oneToOne finds row ranges in it). */
  rightChunkRows: number[];
  name: string;
  rowsPerChunk: number;
  left: SidePlan;
  rightSide: SidePlan;
  keyCount: number;
  orders: KeyOrder[];
  variables: VarInfo[];
  sources: OutputSource[];
  warnings: string[];
}

/** A variable under its output name, remembering its stored one. */
interface Renamed {
  name: string;
  source: VarInfo;
}

function renamedVariables(
  meta: DatasetMeta,
  renames: Record<string, string> | undefined,
  kept: readonly VarInfo[],
  param: string,
): Renamed[] {
  for (const old of Object.keys(renames ?? {})) variableNamed(meta, old, param);
  const out = kept.map((source) => ({ name: renames?.[source.name] ?? source.name, source }));
  checkDistinct(
    out.map((v) => v.name),
    `${param} (the names after renaming)`,
  );
  return out;
}

const NUMBER_TYPES: readonly VarType[] = ['logical', 'integer', 'numeric'];

function levelMap(from: readonly string[], to: readonly string[]): number[] {
  const index = new Map(to.map((level, i) => [level, i]));
  return from.map((level) => index.get(level)!);
}

/**
 * The common type of a variable present on both sides (match variables, union columns), and how each
 * side's column converts to it: logical < integer < numeric widen; factors unify their levels (the left
 * levels, then the right's new ones in its order); a factor meets a string by label (as strings).
 */
export function unifyTypes(
  left: VarInfo,
  right: VarInfo,
  name: string,
): { variable: VarInfo; left: Conversion; right: Conversion } {
  const same = { kind: 'same' } as const;
  const base = { name, low: null, high: null, missing: 0 };
  if (left.type === right.type && left.type !== 'factor')
    return { variable: { ...base, type: left.type }, left: same, right: same };
  if (NUMBER_TYPES.includes(left.type) && NUMBER_TYPES.includes(right.type)) {
    const type = NUMBER_TYPES[Math.max(NUMBER_TYPES.indexOf(left.type), NUMBER_TYPES.indexOf(right.type))]!;
    return { variable: { ...base, type }, left: same, right: same };
  }
  if (left.type === 'factor' && right.type === 'factor') {
    const leftLevels = left.levels ?? [];
    const known = new Set(leftLevels);
    const levels = [...leftLevels, ...(right.levels ?? []).filter((level) => !known.has(level))];
    return {
      variable: { ...base, type: 'factor', levels },
      left: same,
      right: { kind: 'remap', codes: levelMap(right.levels ?? [], levels) },
    };
  }
  const textual = (v: VarInfo) => v.type === 'factor' || v.type === 'string';
  if (textual(left) && textual(right)) {
    const labels = (v: VarInfo): Conversion =>
      v.type === 'factor' ? { kind: 'labels', levels: v.levels ?? [] } : same;
    return { variable: { ...base, type: 'string' }, left: labels(left), right: labels(right) };
  }
  throw new EngineError(
    'INCOMPATIBLE_TYPES',
    `variable '${name}' is ${left.type} on the left and ${right.type} on the right; they cannot be matched or stacked`,
    422,
    { variable: name, left: left.type, right: right.type },
  );
}

/** A side's stored column read from a chunk and converted for the merge. */
export function readSideColumn(table: Table, column: SideColumn): ColumnValues {
  const values = readColumn(table, column.source);
  const { conversion } = column;
  if (conversion.kind === 'same' || values.kind !== 'codes') return values;
  const { codes, valid } = values;
  if (conversion.kind === 'remap') {
    const remapped = new Int32Array(codes.length);
    for (let i = 0; i < codes.length; i++) remapped[i] = conversion.codes[codes[i]!] ?? 0;
    return { kind: 'codes', codes: remapped, valid };
  }
  const present = (i: number) => valid === null || valid[i] === 1;
  return { kind: 'text', ...stringsFromCodes(codes, present, conversion.levels, codes.length), valid };
}

function sidePlan(meta: DatasetMeta, columns: SideColumn[]): SidePlan {
  return {
    columns,
    rowsPerChunk: meta.rowsPerChunk,
    step: sampleStep(meta.rowsPerChunk),
    bytesPerRow: meta.numRows > 0 ? meta.bytes / meta.numRows : 0,
  };
}

function outputVariable(name: string, source: VarInfo): VarInfo {
  return { ...source, name, low: null, high: null, missing: 0 };
}

function defaultExtensions(left: DatasetMeta, right: DatasetMeta): [string, string] {
  return left.name !== right.name ? [left.name, right.name] : ['1', '2'];
}

/** Plans a merge of `left` (the job's dataset) with `right` (params.right). */
export function planMerge(params: MergeParams, left: DatasetMeta, right: DatasetMeta): MergePlan {
  checkParams(MergeParamsSchema, params, 'merge');
  const type: MergeType = params.type ?? 'inner';
  const warnings: string[] = [];
  const matchVars = asList(params.matchVars) ?? [];
  const joins = type !== 'oneToOne' && type !== 'union';
  if (joins && matchVars.length === 0) {
    throw new EngineError(
      'INVALID_PARAMS',
      `a merge of type '${type}' needs matchVars (the key variables)`,
      400,
    );
  }
  if (!joins && matchVars.length > 0) warnings.push(`matchVars is not used by a merge of type '${type}'`);
  if (!joins && params.rowsPerOutputBlock !== undefined)
    warnings.push(
      `rowsPerOutputBlock is not used by a merge of type '${type}': its chunks follow the input's`,
    );
  checkDistinct(matchVars, 'matchVars');

  // A side's variables after varsToKeep<n> / varsToDrop<n> (stored names, so the keys are found by their
  // stored names and can never be dropped) and newVarNames<n>.
  const sideVariables = (meta: DatasetMeta, n: 1 | 2): Renamed[] => {
    const renames = params[`newVarNames${n}`];
    const stored = (name: string) => Object.entries(renames ?? {}).find(([, to]) => to === name)?.[0] ?? name;
    const kept = keptVariables(meta, asList(params[`varsToKeep${n}`]), asList(params[`varsToDrop${n}`]), {
      always: new Set(joins ? matchVars.map(stored) : []),
      params: { keep: `varsToKeep${n}`, drop: `varsToDrop${n}` },
      allowNone: true,
    });
    return renamedVariables(meta, renames, kept, `newVarNames${n}`);
  };
  const leftVars = sideVariables(left, 1);
  const rightVars = sideVariables(right, 2);
  const find = (vars: Renamed[], name: string, meta: DatasetMeta, side: string) => {
    const found = vars.find((v) => v.name === name);
    if (found === undefined) {
      throw new EngineError(
        'UNKNOWN_VARIABLE',
        `matchVars: '${name}' is not a variable of the ${side} dataset '${meta.name}' (after newVarNames)`,
        400,
        { variable: name, dataset: meta.id },
      );
    }
    return found;
  };
  const name = outputName(params.outName, left, 'merge');
  const [extLeft, extRight] =
    (params.duplicateVarExt as [string, string] | undefined) ?? defaultExtensions(left, right);
  const missingsLow = params.missingsLow ?? true;
  const decreasing = params.decreasing ?? false;

  if (type === 'union') {
    const rightByName = new Map(rightVars.map((v) => [v.name, v]));
    const missing = [
      ...leftVars.filter((v) => !rightByName.has(v.name)).map((v) => `${v.name} (left only)`),
      ...rightVars
        .filter((v) => !leftVars.some((l) => l.name === v.name))
        .map((v) => `${v.name} (right only)`),
    ];
    if (missing.length > 0) {
      throw new EngineError(
        'VARIABLES_DIFFER',
        `a union needs the same variables on both sides; not on both: ${missing.join(', ')}`,
        422,
        { variables: missing },
      );
    }
    const unified = leftVars.map((v) => unifyTypes(v.source, rightByName.get(v.name)!.source, v.name));
    return {
      type,
      right: params.right,
      leftChunks: left.numChunks,
      rightChunkRows: [],
      name,
      rowsPerChunk: left.rowsPerChunk,
      left: sidePlan(
        left,
        leftVars.map((v, j) => ({ source: v.source, conversion: unified[j]!.left })),
      ),
      rightSide: sidePlan(
        right,
        leftVars.map((v, j) => ({ source: rightByName.get(v.name)!.source, conversion: unified[j]!.right })),
      ),
      keyCount: 0,
      orders: [],
      variables: unified.map((u) => u.variable),
      sources: leftVars.map((_, j) => ({ from: 'left', column: j })),
      warnings,
    };
  }

  const leftKeys = joins ? matchVars.map((key) => find(leftVars, key, left, 'left')) : [];
  const rightKeys = joins ? matchVars.map((key) => find(rightVars, key, right, 'right')) : [];
  const keyTypes = matchVars.map((key, k) => unifyTypes(leftKeys[k]!.source, rightKeys[k]!.source, key));
  const leftRest = leftVars.filter((v) => !matchVars.includes(v.name));
  const rightRest = rightVars.filter((v) => !matchVars.includes(v.name));
  const shared = new Set(leftRest.filter((v) => rightRest.some((r) => r.name === v.name)).map((v) => v.name));
  const suffix = (v: Renamed, ext: string) => (shared.has(v.name) ? `${v.name}.${ext}` : v.name);

  const variables: VarInfo[] = [
    ...keyTypes.map((u) => u.variable),
    ...leftRest.map((v) => outputVariable(suffix(v, extLeft), v.source)),
    ...rightRest.map((v) => outputVariable(suffix(v, extRight), v.source)),
  ];
  checkDistinct(
    variables.map((v) => v.name),
    'the merged variables (choose other duplicateVarExt or newVarNames)',
  );
  const same = { kind: 'same' } as const;
  const leftColumns: SideColumn[] = [
    ...leftKeys.map((v, k) => ({ source: v.source, conversion: keyTypes[k]!.left })),
    ...leftRest.map((v) => ({ source: v.source, conversion: same })),
  ];
  const rightColumns: SideColumn[] = [
    ...rightKeys.map((v, k) => ({ source: v.source, conversion: keyTypes[k]!.right })),
    ...rightRest.map((v) => ({ source: v.source, conversion: same })),
  ];
  const keyCount = matchVars.length;
  const sources: OutputSource[] = [
    ...matchVars.map((_, key): OutputSource => ({ from: 'key', key })),
    ...leftRest.map((_, j): OutputSource => ({ from: 'left', column: keyCount + j })),
    ...rightRest.map((_, j): OutputSource => ({ from: 'right', column: keyCount + j })),
  ];
  const bytesPerRow =
    (left.numRows > 0 ? left.bytes / left.numRows : 0) +
    (right.numRows > 0 ? right.bytes / right.numRows : 0);
  return {
    type,
    right: params.right,
    leftChunks: left.numChunks,
    rightChunkRows: type === 'oneToOne' ? right.chunkRows : [],
    name,
    rowsPerChunk: joins ? (params.rowsPerOutputBlock ?? rowsPerChunkFor(bytesPerRow)) : left.rowsPerChunk,
    left: sidePlan(left, leftColumns),
    rightSide: sidePlan(right, rightColumns),
    keyCount,
    orders: keyTypes.map(
      (u): KeyOrder => ({ kind: kindOf(u.variable.type), decreasing, missingsLow, foldCase: false }),
    ),
    variables,
    sources,
    warnings,
  };
}
