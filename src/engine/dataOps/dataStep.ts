import { type Static, Type } from 'typebox';
import type { VarInfo } from '../../storage/datasetMeta.ts';
import type { Analysis } from '../analysis.ts';
import { checkParams } from '../params.ts';
import { completeRows, rowsOf, selectRows } from './columnValues.ts';
import { keptVariables, OutName, outputName, RowsPerChunk, VarsToDrop, VarsToKeep } from './dataOpParams.ts';
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

export { type DataStepResult, DataStepResultSchema };

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

type DataStepState =
  | {
      phase: 'write';
      name: string;
      variables: VarInfo[];
      removeMissings: boolean;
      rowsPerChunk: number;
    }
  | AssembleState;

export const dataStep: Analysis<DataStepParams, DataStepState, OutputPartial, DataStepResult> = {
  name: 'dataStep',
  paramsSchema: DataStepParamsSchema,
  resultSchema: DataStepResultSchema,

  init(params, meta) {
    checkParams(DataStepParamsSchema, params, 'dataStep');
    return {
      phase: 'write',
      name: outputName(params.outName, meta, 'dataStep'),
      variables: keptVariables(meta, params.varsToKeep, params.varsToDrop),
      removeMissings: params.removeMissings ?? false,
      rowsPerChunk: params.rowsPerChunk ?? meta.rowsPerChunk,
    };
  },

  columnsUsed: (state) => (state.phase === 'write' ? state.variables.map((v) => v.name) : []),
  roundInput: assemblyInput,
  mapPartition: mapAssembly,
  merge: mergeOutputs,

  async map(chunk, state, context) {
    if (state.phase !== 'write') throw new Error('dataStep: map outside the write round');
    const partial = emptyPiecesPartial(1, chunk.numRows);
    const { table } = chunk;
    const { mask, columns } = state.removeMissings ? completeRows(table, state.variables) : { mask: null };
    const out = selectRows(
      table,
      state.variables,
      mask === null ? null : rowsOf(mask, table.numRows),
      columns,
    );
    await writePiece(context.io, partial, 0, chunk.index, out, state.variables);
    return partial;
  },

  async finalize(partial, state, { io }) {
    if (state.phase === 'assemble') return oneOutput(await finishAssembly(io, state, partial));
    const { rowsPerChunk, variables } = state;
    const options = { rowsPerChunk, variables, source: 'job:dataStep' };
    return oneOutput(await finishWriting(io, partial, 1, wholeStreams([state.name]), options));
  },
};
