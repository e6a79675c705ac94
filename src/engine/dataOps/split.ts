import { type Static, Type } from 'typebox';
import type { DatasetMeta, VarInfo } from '../../storage/datasetMeta.ts';
import type { Analysis } from '../analysis.ts';
import { EngineError } from '../errors.ts';
import { checkParams } from '../params.ts';
import { completeRows, readColumn, rowsOf, selectRows } from './columnValues.ts';
import {
  keptVariables,
  MAX_NAME_LENGTH,
  RowsPerChunk,
  VarsToDrop,
  VarsToKeep,
  variableNamed,
} from './dataOpParams.ts';
import {
  type AssembleState,
  assemblyInput,
  emptyPiecesPartial,
  finishAssembly,
  finishWriting,
  mapAssembly,
  mergeOutputs,
  type OutputPartial,
  type OutputRequest,
  type Outputs,
  type StreamPieces,
  streamRows,
  wholeStreams,
  writePiece,
} from './dataStepOutput.ts';

/**
 * rxSplit: one dataset per level of a factor (`splitByFactor`), or `numOut` datasets of contiguous rows
 * (`splitBy: "rows"`, as uniform as possible, the extra rows to the last outputs by default: RevoScaleR's
 * "uniform partition", not round-robin) or of whole input chunks (`splitBy: "blocks"`). Rows keep their
 * input order within each output. Every level gives a dataset, an empty one (no rows, no chunks) when
 * no row has that level; rows whose split factor is missing go to no output.
 *
 * Names follow rxSplit's: `<outFilesBase>.<suffix>`, the suffix being `outFileSuffixes[i]`, else the
 * level or the 1-based output number; `outFilesBase` defaults to `<input name>.<factor name>` or
 * `<input name>.rows` / `.blocks` (RevoScaleR's names for the list of data frames, e.g.
 * `iris.Species.setosa`, `iris.rows.2`).
 */

/** At most this many datasets from one split. */
export const MAX_SPLIT_OUTPUTS = 1000;

export const SplitParamsSchema = Type.Object(
  {
    splitByFactor: Type.Optional(
      Type.String({
        minLength: 1,
        description: 'Factor variable: one dataset per level. Not with numOut or splitBy.',
      }),
    ),
    numOut: Type.Optional(
      Type.Integer({
        minimum: 1,
        maximum: MAX_SPLIT_OUTPUTS,
        description: 'Number of datasets to split the rows into (default: the number of outFileSuffixes).',
      }),
    ),
    splitBy: Type.Optional(
      Type.Union([Type.Literal('rows'), Type.Literal('blocks')], {
        default: 'rows',
        description: 'rows: contiguous runs of rows as equal as possible; blocks: whole input chunks.',
      }),
    ),
    fill: Type.Optional(
      Type.Union([Type.Literal('left'), Type.Literal('center'), Type.Literal('right')], {
        default: 'right',
        description: 'Which outputs get the remaining rows (or blocks) when they do not divide evenly.',
      }),
    ),
    outFilesBase: Type.Optional(
      Type.String({ minLength: 1, maxLength: 150, description: 'Start of the new datasets’ names.' }),
    ),
    outFileSuffixes: Type.Optional(
      Type.Array(Type.String({ minLength: 1, maxLength: 100 }), {
        minItems: 1,
        maxItems: MAX_SPLIT_OUTPUTS,
        description: 'Name suffix of each output, in output order (levels order with splitByFactor).',
      }),
    ),
    varsToKeep: VarsToKeep,
    varsToDrop: VarsToDrop,
    removeMissings: Type.Optional(
      Type.Boolean({
        default: false,
        description: 'Drop rows with a missing value (or NaN) in any variable written.',
      }),
    ),
    rowsPerChunk: RowsPerChunk,
    updateLowHigh: Type.Optional(
      Type.Boolean({
        default: false,
        description:
          'false: every output keeps the input’s low/high of each variable; true: each output’s own.',
      }),
    ),
  },
  { additionalProperties: false },
);
export type SplitParams = Static<typeof SplitParamsSchema>;

/** The new datasets in output order (factor level order with splitByFactor). */
export type SplitResult = Outputs;

export const SplitResultSchema = Type.Object({
  datasets: Type.Array(Type.Record(Type.String(), Type.Unknown())),
  rowsRead: Type.Integer(),
  rowsWritten: Type.Integer(),
});

type Fill = 'left' | 'center' | 'right';

interface SplitPlan {
  names: string[];
  variables: VarInfo[];
  /** The split factor (read even when not written), or null for rows / blocks. */
  factor: VarInfo | null;
  splitBy: 'rows' | 'blocks';
  fill: Fill;
  removeMissings: boolean;
  rowsPerChunk: number;
  inputChunks: number;
  lowHigh: Array<{ low: number | null; high: number | null }> | null;
}

type SplitState = ({ phase: 'write' } & SplitPlan) | AssembleState;

/** Sizes of `count` parts of `total` units, as equal as possible; `fill` says which parts get one more. */
export function uniformParts(total: number, count: number, fill: Fill): number[] {
  const base = Math.floor(total / count);
  const extra = total - base * count;
  const first = fill === 'left' ? 0 : fill === 'right' ? count - extra : Math.floor((count - extra) / 2);
  return Array.from({ length: count }, (_, i) => base + (i >= first && i < first + extra ? 1 : 0));
}

function invalid(message: string, details?: Record<string, unknown>): EngineError {
  return new EngineError('INVALID_PARAMS', message, 400, details);
}

function namesOf(base: string, suffixes: readonly string[]): string[] {
  return suffixes.map((suffix) => {
    const room = MAX_NAME_LENGTH - suffix.length - 1;
    return `${base.slice(0, Math.max(0, room))}.${suffix}`.slice(0, MAX_NAME_LENGTH);
  });
}

function planSplit(params: SplitParams, meta: DatasetMeta): SplitPlan {
  const variables = keptVariables(meta, params.varsToKeep, params.varsToDrop);
  const suffixes = params.outFileSuffixes;
  if (suffixes !== undefined && new Set(suffixes).size !== suffixes.length) {
    throw invalid('outFileSuffixes: each suffix must be different', { outFileSuffixes: suffixes });
  }
  let factor: VarInfo | null = null;
  let count: number;
  let defaultSuffixes: string[];
  let kind: string;
  if (params.splitByFactor !== undefined) {
    if (params.numOut !== undefined || params.splitBy !== undefined) {
      throw invalid('give splitByFactor, or numOut / splitBy, not both');
    }
    factor = variableNamed(meta, params.splitByFactor, 'splitByFactor');
    if (factor.type !== 'factor') {
      throw new EngineError(
        'WRONG_VARIABLE_TYPE',
        `splitByFactor: '${factor.name}' is ${factor.type}, not a factor (make one with a factors job first)`,
        422,
        { variable: factor.name },
      );
    }
    const levels = factor.levels ?? [];
    if (levels.length === 0) {
      throw new EngineError('NO_LEVELS', `splitByFactor: '${factor.name}' has no levels`, 422, {
        variable: factor.name,
      });
    }
    if (levels.length > MAX_SPLIT_OUTPUTS) {
      throw new EngineError(
        'TOO_MANY_OUTPUTS',
        `splitByFactor: '${factor.name}' has ${levels.length} levels; a split makes at most ${MAX_SPLIT_OUTPUTS} datasets`,
        422,
        { variable: factor.name, limit: MAX_SPLIT_OUTPUTS },
      );
    }
    count = levels.length;
    defaultSuffixes = levels;
    kind = factor.name;
  } else {
    const numOut = params.numOut ?? suffixes?.length;
    if (numOut === undefined) throw invalid('give numOut (or outFileSuffixes), or splitByFactor');
    count = numOut;
    defaultSuffixes = Array.from({ length: count }, (_, i) => String(i + 1));
    kind = params.splitBy ?? 'rows';
  }
  if (suffixes !== undefined && suffixes.length !== count) {
    throw invalid(`outFileSuffixes has ${suffixes.length} names for ${count} outputs`, { outputs: count });
  }
  const base = params.outFilesBase ?? `${meta.name}.${kind}`;
  return {
    names: namesOf(base, suffixes ?? defaultSuffixes),
    variables,
    factor,
    splitBy: params.splitBy ?? 'rows',
    fill: params.fill ?? 'right',
    removeMissings: params.removeMissings ?? false,
    rowsPerChunk: params.rowsPerChunk ?? meta.rowsPerChunk,
    inputChunks: meta.numChunks,
    lowHigh: params.updateLowHigh === true ? null : variables.map((v) => ({ low: v.low, high: v.high })),
  };
}

/** Rows [from, to) of stream 0 for each output of a rows / blocks split. */
function rangeRequests(plan: SplitPlan, pieces: StreamPieces): OutputRequest[] {
  const requests: OutputRequest[] = [];
  const count = plan.names.length;
  if (plan.splitBy === 'rows') {
    let from = 0;
    uniformParts(streamRows(pieces), count, plan.fill).forEach((rows, i) => {
      requests.push({ name: plan.names[i]!, stream: 0, from, to: from + rows });
      from += rows;
    });
    return requests;
  }
  // Blocks: whole input chunks; the rows of an output are those its chunks kept.
  const rowsBefore = (chunk: number): number => {
    let rows = 0;
    for (let i = 0; i < pieces.chunks.length && pieces.chunks[i]! < chunk; i++) rows += pieces.rows[i]!;
    return rows;
  };
  let chunk = 0;
  uniformParts(plan.inputChunks, count, plan.fill).forEach((chunks, i) => {
    requests.push({
      name: plan.names[i]!,
      stream: 0,
      from: rowsBefore(chunk),
      to: rowsBefore(chunk + chunks),
    });
    chunk += chunks;
  });
  return requests;
}

export const split: Analysis<SplitParams, SplitState, OutputPartial, SplitResult> = {
  name: 'split',
  paramsSchema: SplitParamsSchema,
  resultSchema: SplitResultSchema,

  init(params, meta) {
    checkParams(SplitParamsSchema, params, 'split');
    return { phase: 'write', ...planSplit(params, meta) };
  },

  columnsUsed(state) {
    if (state.phase !== 'write') return [];
    const names = state.variables.map((v) => v.name);
    if (state.factor !== null && !names.includes(state.factor.name)) names.push(state.factor.name);
    return names;
  },

  roundInput: assemblyInput,
  mapPartition: mapAssembly,
  merge: mergeOutputs,

  async map(chunk, state, context) {
    if (state.phase !== 'write') throw new Error('split: map outside the write round');
    const { table } = chunk;
    const rows = table.numRows;
    const streams = state.factor === null ? 1 : state.names.length;
    const partial = emptyPiecesPartial(streams, rows);
    const { mask, columns } = state.removeMissings ? completeRows(table, state.variables) : { mask: null };
    if (state.factor === null) {
      const out = selectRows(table, state.variables, mask === null ? null : rowsOf(mask, rows), columns);
      await writePiece(context.io, partial, 0, chunk.index, out, state.variables);
      return partial;
    }
    const split = readColumn(table, state.factor);
    if (split.kind !== 'codes') throw new Error('split: the split variable is not a factor');
    // Rows of each level, in input order (a counting sort of the row indices by level).
    const counts = new Int32Array(streams + 1);
    const level = new Int32Array(rows).fill(-1);
    for (let r = 0; r < rows; r++) {
      if ((split.valid !== null && split.valid[r] === 0) || (mask !== null && mask[r] === 0)) continue;
      const code = split.codes[r]!;
      if (code < 0 || code >= streams) continue;
      level[r] = code;
      counts[code + 1]!++;
    }
    for (let s = 0; s < streams; s++) counts[s + 1]! += counts[s]!;
    const order = new Int32Array(counts[streams]!);
    const next = counts.slice(0, streams);
    for (let r = 0; r < rows; r++) if (level[r]! >= 0) order[next[level[r]!]!++] = r;
    for (let s = 0; s < streams; s++) {
      if (counts[s + 1] === counts[s]) continue;
      const out = selectRows(table, state.variables, order.subarray(counts[s]!, counts[s + 1]!), columns);
      await writePiece(context.io, partial, s, chunk.index, out, state.variables);
    }
    return partial;
  },

  async finalize(partial, state, { io }) {
    if (state.phase === 'assemble') return finishAssembly(io, state, partial);
    const byFactor = state.factor !== null;
    const requests = byFactor
      ? wholeStreams(state.names)
      : (streams: StreamPieces[]) => rangeRequests(state, streams[0]!);
    return finishWriting(io, partial, byFactor ? state.names.length : 1, requests, {
      rowsPerChunk: state.rowsPerChunk,
      variables: state.variables,
      source: 'job:split',
      lowHigh: state.lowHigh,
    });
  },
};
