import { type Static, Type } from 'typebox';
import type { DatasetMeta, VarInfo } from '../../storage/datasetMeta.ts';
import type { Analysis } from '../analysis.ts';
import { andMasks } from '../columns.ts';
import { checkParams } from '../params.ts';
import {
  type AssembledPartial,
  type AssemblyPlan,
  assemblePartition,
  emptyPiecesPartial,
  mergeAssembled,
  mergePieces,
  type PiecesPartial,
  piecesByStream,
  publishAssembled,
  publishOrPlan,
  streamRows,
  writePiece,
} from './dataStepOutput.ts';
import { presentMask, readColumn, rowsOf, selectRows } from './dataStepRows.ts';
import { keptVariables, OutName, outputName, RowsPerChunk, VarsToDrop, VarsToKeep } from './dataStepVars.ts';

/**
 * rxDataStep: a new dataset from the job's dataset (after the runner's transforms and rowSelection),
 * with `varsToKeep` / `varsToDrop`, `removeMissings` and re-chunking to `rowsPerChunk`. Rows keep their
 * input order. Round 0 writes each chunk's surviving rows as a piece; the output is then published
 * from the pieces as they are, or assembled into chunks of exactly `rowsPerChunk` rows by a partition
 * round (see dataStepOutput.ts). A result with no rows is a valid dataset with no chunks, as an import
 * of a header-only CSV is.
 */

export const DataStepParamsSchema = Type.Object(
  {
    varsToKeep: VarsToKeep,
    varsToDrop: VarsToDrop,
    removeMissings: Type.Optional(
      Type.Boolean({
        default: false,
        description: 'Drop rows with a missing value (or NaN) in any of the variables written.',
      }),
    ),
    rowsPerChunk: RowsPerChunk,
    outName: OutName,
  },
  { additionalProperties: false },
);
export type DataStepParams = Static<typeof DataStepParamsSchema>;

export interface DataStepResult {
  /** The new dataset's meta. */
  dataset: DatasetMeta;
  /** Rows the step read (after transforms and rowSelection). */
  rowsRead: number;
  rowsWritten: number;
}

const DatasetRef = Type.Record(Type.String(), Type.Unknown(), {
  description: 'The new dataset (as GET /v1/datasets/{id})',
});
export const DataStepResultSchema = Type.Object({
  dataset: DatasetRef,
  rowsRead: Type.Integer(),
  rowsWritten: Type.Integer(),
});

type DataStepState =
  | {
      phase: 'write';
      name: string;
      variables: VarInfo[];
      removeMissings: boolean;
      rowsPerChunk: number;
    }
  | { phase: 'assemble'; plan: AssemblyPlan; rowsRead: number; rowsWritten: number };

type DataStepPartial = PiecesPartial | AssembledPartial;

export const dataStep: Analysis<DataStepParams, DataStepState, DataStepPartial, DataStepResult> = {
  name: 'dataStep',
  paramsSchema: DataStepParamsSchema,
  resultSchema: DataStepResultSchema,

  init(params, meta) {
    checkParams(DataStepParamsSchema, params, 'dataStep');
    return {
      phase: 'write',
      name: outputName(params.outName, meta, 'dataStep'),
      variables: keptVariables(meta, params),
      removeMissings: params.removeMissings ?? false,
      rowsPerChunk: params.rowsPerChunk ?? meta.rowsPerChunk,
    };
  },

  columnsUsed: (state) => (state.phase === 'write' ? state.variables.map((v) => v.name) : []),

  roundInput: (state) =>
    state.phase === 'assemble' ? { kind: 'partitions', count: state.plan.partitions } : null,

  async map(chunk, state, context) {
    if (state.phase !== 'write') throw new Error('dataStep: map outside the write round');
    const partial = emptyPiecesPartial(1, chunk.numRows);
    const { table } = chunk;
    let rows: Int32Array | null = null;
    let values: ReturnType<typeof readColumn>[] | undefined;
    if (state.removeMissings) {
      values = state.variables.map((variable) => readColumn(table, variable));
      const mask = andMasks(
        table.numRows,
        values.map((column) => presentMask(column, table.numRows)),
      );
      if (mask !== null) rows = rowsOf(mask, table.numRows);
    }
    const out = selectRows(table, state.variables, rows, values);
    await writePiece(context.io, partial, 0, chunk.index, out, state.variables);
    return partial;
  },

  async mapPartition(partition, state, context) {
    if (state.phase !== 'assemble') throw new Error('dataStep: partition outside the assembly round');
    return assemblePartition(partition, state.plan, context.io);
  },

  merge: (a, b) => {
    if (a.kind === 'pieces' && b.kind === 'pieces') return mergePieces(a, b);
    if (a.kind === 'assembled' && b.kind === 'assembled') return mergeAssembled(a, b);
    throw new Error('dataStep: partials of different rounds');
  },

  async finalize(partial, state, { io }) {
    if (state.phase === 'write') {
      if (partial.kind !== 'pieces') throw new Error('dataStep: unexpected partial');
      const streams = piecesByStream(partial, 1);
      const rowsWritten = streamRows(streams[0]!);
      const { published, plan } = await publishOrPlan(
        io,
        [{ name: state.name, stream: 0, from: 0, to: rowsWritten }],
        partial,
        streams,
        { rowsPerChunk: state.rowsPerChunk, variables: state.variables, source: 'job:dataStep' },
      );
      if (plan !== null) {
        return {
          done: false,
          state: { phase: 'assemble', plan, rowsRead: partial.rowsRead, rowsWritten },
          message: `writing ${plan.totalChunks} chunks of ${state.rowsPerChunk} rows`,
        };
      }
      return { done: true, result: { dataset: published[0]!, rowsRead: partial.rowsRead, rowsWritten } };
    }
    if (partial.kind !== 'assembled') throw new Error('dataStep: unexpected partial');
    const [dataset] = await publishAssembled(io, state.plan, partial);
    return {
      done: true,
      result: { dataset: dataset!, rowsRead: state.rowsRead, rowsWritten: state.rowsWritten },
    };
  },
};
