import type { Table } from 'apache-arrow';
import { Type } from 'typebox';
import { tableFromData } from '../../arrowData.ts';
import { readChunkFile } from '../../storage/chunkFiles.ts';
import type { DatasetMeta, VarInfo } from '../../storage/datasetMeta.ts';
import type { FinalizeOutcome, MapContext, RoundInput } from '../analysis.ts';
import type { JobIO } from '../jobIO.ts';
import { arrowData, concatColumns, kindOf, readColumn, sliceRows, wholeColumn } from './columnValues.ts';
import { DatasetRef } from './dataOpParams.ts';
import { addTableStats, emptyStats, mergeSomeStats, type VarStats, withStats } from './outputStats.ts';
import { MAX_TASKS, movePiece, partitionsOfTask, sortedPieces } from './pieces.ts';

/**
 * How the data operations write their output datasets, chunk by chunk and in parallel, with the same
 * chunks whatever the number of workers:
 *
 * 1. The round over the input writes, for every input chunk, its surviving rows as a *piece* of a
 *    *stream* (`s<stream>/chunks/<input chunk index>`): rxDataStep and rxFactors have one stream,
 *    rxSplit by factor one per level. Empty pieces are not written. The partials say every piece's row
 *    count and the stats (low/high/missing) of each stream.
 * 2. Each output dataset is a row range of one stream. An output whose pieces already form a valid
 *    dataset (the whole stream, every piece but the last exactly `rowsPerChunk` rows) is published by
 *    renaming its pieces into place (`o<output>/chunks/<n>`), with no copy.
 * 3. The others are assembled by a round of partition tasks: each output chunk's rows come from the
 *    few pieces that overlap its range (known from the piece row counts), so a task holds at most a
 *    couple of pieces and the chunk it builds.
 *
 * Every output satisfies the dataset contract: all chunks but the last hold exactly `rowsPerChunk` rows.
 */

/** Partial of the round that writes pieces. */
export interface PiecesPartial {
  kind: 'pieces';
  /** Rows the round's map received (after the runner's transforms and rowSelection). */
  rowsRead: number;
  /** Non-empty pieces as flat triples [stream, input chunk index, rows]. */
  pieces: number[];
  /** Stats of each stream's rows (null: no rows yet), per output variable. */
  stats: Array<VarStats[] | null>;
}

/** Partial of an assembly round: the stats of what each assembled output received. */
export interface AssembledPartial {
  kind: 'assembled';
  stats: Array<VarStats[] | null>;
}

export function emptyPiecesPartial(streams: number, rowsRead: number): PiecesPartial {
  return { kind: 'pieces', rowsRead, pieces: [], stats: new Array<VarStats[] | null>(streams).fill(null) };
}

function mergeStatLists(a: Array<VarStats[] | null>, b: Array<VarStats[] | null>): Array<VarStats[] | null> {
  return a.map((x, s) => mergeSomeStats(x, b[s] ?? null));
}

/** Merges two pieces partials (in place into `a`: the runner folds left and never reuses `a`). */
export function mergePieces(a: PiecesPartial, b: PiecesPartial): PiecesPartial {
  for (const value of b.pieces) a.pieces.push(value);
  return {
    kind: 'pieces',
    rowsRead: a.rowsRead + b.rowsRead,
    pieces: a.pieces,
    stats: mergeStatLists(a.stats, b.stats),
  };
}

export function mergeAssembled(a: AssembledPartial, b: AssembledPartial): AssembledPartial {
  return { kind: 'assembled', stats: mergeStatLists(a.stats, b.stats) };
}

function streamFolder(stream: number): string {
  return `s${stream}`;
}

function outputFolder(output: number): string {
  return `o${output}`;
}

/**
 * Writes `table` (rows of input chunk `chunk` bound for `stream`) as a piece and records it in
 * `partial`. Nothing is written for an empty table.
 */
export async function writePiece(
  io: JobIO,
  partial: PiecesPartial,
  stream: number,
  chunk: number,
  table: Table,
  variables: readonly VarInfo[],
): Promise<void> {
  if (table.numRows === 0) return;
  await io.writeChunk(streamFolder(stream), chunk, table);
  partial.pieces.push(stream, chunk, table.numRows);
  partial.stats[stream] = addTableStats(partial.stats[stream] ?? null, table, variables);
}

/** One stream's non-empty pieces in input chunk order. */
export interface StreamPieces {
  chunks: number[];
  rows: number[];
}

/** The pieces of each of `streams` streams, sorted by input chunk (whatever order partials came in). */
export function piecesByStream(partial: PiecesPartial, streams: number): StreamPieces[] {
  const out: StreamPieces[] = Array.from({ length: streams }, () => ({ chunks: [], rows: [] }));
  for (const [stream, chunk, rows] of sortedPieces(partial.pieces)) {
    const target = out[stream];
    if (target === undefined) throw new Error(`piece of unknown stream ${stream}`);
    target.chunks.push(chunk);
    target.rows.push(rows);
  }
  return out;
}

export function streamRows(pieces: StreamPieces): number {
  return pieces.rows.reduce((a, b) => a + b, 0);
}

/** One dataset to publish: rows [from, to) of a stream. */
export interface OutputRequest {
  name: string;
  stream: number;
  from: number;
  to: number;
}

/** An output being assembled by the partition round. */
interface AssemblyOutput extends OutputRequest {
  /** Index of this output among all outputs (its folder and its place in the result). */
  output: number;
  numChunks: number;
  /** Index of its first chunk among all chunks the round builds. */
  firstChunk: number;
}

/** The plan of an assembly round; plain JSON, part of the analysis state. */
export interface AssemblyPlan {
  rowsPerChunk: number;
  variables: VarInfo[];
  source: string;
  /** Pieces of the streams the assembled outputs read. */
  streams: StreamPieces[];
  outputs: AssemblyOutput[];
  totalChunks: number;
  partitions: number;
  /** Outputs published already (by renaming their pieces), by output index; null where assembled. */
  published: Array<DatasetMeta | null>;
  /** Per output variable: fixed low/high to publish instead of the written data's (rxSplit's updateLowHigh = FALSE). */
  lowHigh: Array<{ low: number | null; high: number | null }> | null;
}

export interface PublishOptions {
  rowsPerChunk: number;
  /** Output variables in column order (their stats are replaced by the written data's). */
  variables: VarInfo[];
  /** meta.source of the new datasets, e.g. `job:dataStep`. */
  source: string;
  lowHigh?: Array<{ low: number | null; high: number | null }> | null;
}

function chunkRowsOf(rows: number, rowsPerChunk: number): number[] {
  const out: number[] = [];
  for (let at = 0; at < rows; at += rowsPerChunk) out.push(Math.min(rowsPerChunk, rows - at));
  return out;
}

function finalVariables(
  variables: readonly VarInfo[],
  stats: readonly VarStats[] | null,
  lowHigh: AssemblyPlan['lowHigh'],
): VarInfo[] {
  const withData = withStats(variables, stats ?? emptyStats(variables.length));
  // An output with no rows has no range to report, whatever the input's was.
  if (lowHigh === null || stats === null) return withData;
  return withData.map((variable, j) => ({ ...variable, ...(lowHigh[j] ?? {}) }));
}

/** Pieces [first, last) of `pieces` that hold stream rows [from, to), or null when the range cuts a piece. */
function wholePieces(pieces: StreamPieces, from: number, to: number): { first: number; last: number } | null {
  let at = 0;
  let first = -1;
  let last = -1;
  for (let i = 0; i < pieces.rows.length; i++) {
    if (at === from && first < 0) first = i;
    at += pieces.rows[i]!;
    if (at === to && first >= 0) last = i + 1;
  }
  if (from === to) return { first: 0, last: 0 };
  return first >= 0 && last >= first ? { first, last } : null;
}

/**
 * Publishes every output that needs no copy and plans the assembly of the others. Returns the plan
 * (to run as a partition round) or null when everything is published.
 */
export async function publishOrPlan(
  io: JobIO,
  requests: readonly OutputRequest[],
  partial: PiecesPartial,
  streams: StreamPieces[],
  options: PublishOptions,
): Promise<{ published: Array<DatasetMeta | null>; plan: AssemblyPlan | null }> {
  const { rowsPerChunk } = options;
  const lowHigh = options.lowHigh ?? null;
  const published: Array<DatasetMeta | null> = [];
  const outputs: AssemblyOutput[] = [];
  let totalChunks = 0;
  for (let output = 0; output < requests.length; output++) {
    const request = requests[output]!;
    const pieces = streams[request.stream]!;
    const rows = request.to - request.from;
    const whole = wholePieces(pieces, request.from, request.to);
    const direct =
      whole !== null &&
      pieces.rows
        .slice(whole.first, whole.last)
        .every((n, i, all) => (i < all.length - 1 ? n === rowsPerChunk : n <= rowsPerChunk));
    // The stream's stats are the output's only when the output is the whole stream.
    const wholeStream = request.from === 0 && request.to === streamRows(pieces);
    if (whole !== null && direct && (wholeStream || rows === 0)) {
      for (let i = whole.first; i < whole.last; i++) {
        const from = { folder: streamFolder(request.stream), index: pieces.chunks[i]! };
        await movePiece(io, from, { folder: outputFolder(output), index: i - whole.first });
      }
      const chunkRows = pieces.rows.slice(whole.first, whole.last);
      published.push(
        await io.publish(outputFolder(output), {
          name: request.name,
          numRows: rows,
          numChunks: chunkRows.length,
          rowsPerChunk,
          chunkRows,
          source: options.source,
          variables: finalVariables(
            options.variables,
            rows === 0 ? null : (partial.stats[request.stream] ?? null),
            lowHigh,
          ),
        }),
      );
      continue;
    }
    published.push(null);
    const numChunks = Math.ceil(rows / rowsPerChunk);
    outputs.push({ ...request, output, numChunks, firstChunk: totalChunks });
    totalChunks += numChunks;
  }
  if (outputs.length === 0) return { published, plan: null };
  return {
    published,
    plan: {
      rowsPerChunk,
      variables: options.variables,
      source: options.source,
      streams,
      outputs,
      totalChunks,
      partitions: Math.min(MAX_TASKS, totalChunks),
      published,
      lowHigh,
    },
  };
}

/** Start offsets of a stream's pieces (prefix sums of their rows). */
function pieceStarts(pieces: StreamPieces): number[] {
  const starts = [0];
  for (const n of pieces.rows) starts.push(starts[starts.length - 1]! + n);
  return starts;
}

/** Index of the last piece starting at or before `row`. */
function pieceAt(starts: readonly number[], row: number): number {
  let lo = 0;
  let hi = starts.length - 2;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (starts[mid]! <= row) lo = mid;
    else hi = mid - 1;
  }
  return lo;
}

/** Builds partition `partition`'s share of the output chunks. */
export async function assemblePartition(
  partition: number,
  plan: AssemblyPlan,
  io: JobIO,
): Promise<AssembledPartial> {
  const stats: Array<VarStats[] | null> = new Array<VarStats[] | null>(plan.outputs.length).fill(null);
  const [first, last] = partitionsOfTask(partition, plan.partitions, plan.totalChunks);
  const starts = new Map<number, number[]>();
  // Consecutive output chunks mostly share pieces: keep the last two read.
  const cache: Array<{ key: string; table: Table }> = [];
  const piece = async (stream: number, chunk: number): Promise<Table> => {
    const key = `${stream}/${chunk}`;
    const hit = cache.find((entry) => entry.key === key);
    if (hit) return hit.table;
    const table = await readChunkFile(await io.folder(streamFolder(stream)), chunk);
    cache.push({ key, table });
    if (cache.length > 2) cache.shift();
    return table;
  };
  let o = 0;
  for (let global = first; global < last; global++) {
    while (global >= plan.outputs[o]!.firstChunk + plan.outputs[o]!.numChunks) o++;
    const out = plan.outputs[o]!;
    const pieces = plan.streams[out.stream]!;
    let pieceStart = starts.get(out.stream);
    if (pieceStart === undefined) {
      pieceStart = pieceStarts(pieces);
      starts.set(out.stream, pieceStart);
    }
    const k = global - out.firstChunk;
    const begin = out.from + k * plan.rowsPerChunk;
    const end = Math.min(out.to, begin + plan.rowsPerChunk);
    const sources: PieceRows[] = [];
    for (let p = pieceAt(pieceStart, begin); p < pieces.rows.length && pieceStart[p]! < end; p++) {
      const from = Math.max(begin, pieceStart[p]!) - pieceStart[p]!;
      const to = Math.min(end, pieceStart[p + 1]!) - pieceStart[p]!;
      sources.push({ table: await piece(out.stream, pieces.chunks[p]!), from, to });
    }
    const table = joinPieces(plan.variables, sources, end - begin);
    await io.writeChunk(outputFolder(out.output), k, table);
    stats[o] = addTableStats(stats[o] ?? null, table, plan.variables);
  }
  return { kind: 'assembled', stats };
}

/** Rows [from, to) of a piece. */
interface PieceRows {
  table: Table;
  from: number;
  to: number;
}

/** One output chunk from the rows of one or more pieces, in order: one copy per column at most. */
function joinPieces(variables: readonly VarInfo[], sources: readonly PieceRows[], rows: number): Table {
  const only = sources.length === 1 ? sources[0]! : null;
  const whole = only !== null && only.from === 0 && only.to === only.table.numRows;
  const columns = variables.map((variable, j) => {
    if (whole) return wholeColumn(only.table, variable, j);
    const parts = sources.map((s) => sliceRows(readColumn(s.table, variable), s.from, s.to));
    return arrowData(variable, concatColumns(kindOf(variable.type), parts), rows, j);
  });
  return tableFromData(
    variables.map((v) => v.name),
    columns,
    rows,
  );
}

/** Publishes the assembled outputs; returns every output's meta in output order. */
export async function publishAssembled(
  io: JobIO,
  plan: AssemblyPlan,
  partial: AssembledPartial,
): Promise<DatasetMeta[]> {
  const metas = [...plan.published];
  for (let i = 0; i < plan.outputs.length; i++) {
    const out = plan.outputs[i]!;
    const rows = out.to - out.from;
    const chunkRows = chunkRowsOf(rows, plan.rowsPerChunk);
    metas[out.output] = await io.publish(outputFolder(out.output), {
      name: out.name,
      numRows: rows,
      numChunks: chunkRows.length,
      rowsPerChunk: plan.rowsPerChunk,
      chunkRows,
      source: plan.source,
      variables: finalVariables(plan.variables, partial.stats[i] ?? null, plan.lowHigh),
    });
  }
  return metas.map((meta, i) => {
    if (meta === null) throw new Error(`output ${i} was neither published nor assembled`);
    return meta;
  });
}

// The parts of the Analysis that every operation writing through this module has in common.

/** The assembly round's state. */
export interface AssembleState {
  phase: 'assemble';
  plan: AssemblyPlan;
  rowsRead: number;
  rowsWritten: number;
}

export type OutputPartial = PiecesPartial | AssembledPartial;

/** The new datasets in output order, and the rows read and written. */
export interface Outputs {
  datasets: DatasetMeta[];
  rowsRead: number;
  rowsWritten: number;
}

type OutputsOutcome = FinalizeOutcome<AssembleState, Outputs>;

/** rxDataStep's and rxFactors' result: one new dataset. */
export interface DataStepResult {
  dataset: DatasetMeta;
  /** Rows the step read (after transforms and rowSelection). */
  rowsRead: number;
  rowsWritten: number;
}

export const DataStepResultSchema = Type.Object({
  dataset: DatasetRef,
  rowsRead: Type.Integer(),
  rowsWritten: Type.Integer(),
});

function isAssembling(state: { phase: string }): state is AssembleState {
  return state.phase === 'assemble';
}

/** `roundInput`: the assembly round runs partition tasks; the rounds before it read the input. */
export function assemblyInput(state: { phase: string }): RoundInput | null {
  return isAssembling(state) ? { kind: 'partitions', count: state.plan.partitions } : null;
}

/** `mapPartition`: only the assembly round has partitions. */
export function mapAssembly(
  partition: number,
  state: { phase: string },
  context: MapContext,
): Promise<AssembledPartial> {
  if (!isAssembling(state)) throw new Error(`a partition task in phase ${state.phase}`);
  return assemblePartition(partition, state.plan, context.io);
}

export function mergeOutputs(a: OutputPartial, b: OutputPartial): OutputPartial {
  if (a.kind === 'pieces' && b.kind === 'pieces') return mergePieces(a, b);
  if (a.kind === 'assembled' && b.kind === 'assembled') return mergeAssembled(a, b);
  throw new Error('partials of different rounds');
}

/** Each stream whole, as the output of that name (one stream, or rxSplit's one per level). */
export function wholeStreams(names: readonly string[]): (streams: StreamPieces[]) => OutputRequest[] {
  return (streams) => names.map((name, s) => ({ name, stream: s, from: 0, to: streamRows(streams[s]!) }));
}

/**
 * `finalize` of the writing round: publishes the outputs whose pieces are valid chunks as they are and
 * returns the assembly round for the others. `requests` says which rows of which stream each output is.
 */
export async function finishWriting(
  io: JobIO,
  partial: OutputPartial,
  streamCount: number,
  requests: (streams: StreamPieces[]) => OutputRequest[],
  options: PublishOptions,
): Promise<OutputsOutcome> {
  if (partial.kind !== 'pieces') throw new Error('the writing round gave no pieces');
  const streams = piecesByStream(partial, streamCount);
  const outputs = requests(streams);
  const rowsRead = partial.rowsRead;
  const rowsWritten = outputs.reduce((n, r) => n + r.to - r.from, 0);
  const { published, plan } = await publishOrPlan(io, outputs, partial, streams, options);
  if (plan === null)
    return { done: true, result: { datasets: published.map((m) => m!), rowsRead, rowsWritten } };
  return {
    done: false,
    state: { phase: 'assemble', plan, rowsRead, rowsWritten },
    message: `writing ${plan.totalChunks} chunks of ${plan.rowsPerChunk} rows`,
  };
}

/** `finalize` of the assembly round. */
export async function finishAssembly(
  io: JobIO,
  state: AssembleState,
  partial: OutputPartial,
): Promise<OutputsOutcome> {
  if (partial.kind !== 'assembled') throw new Error('the assembly round gave no chunks');
  const datasets = await publishAssembled(io, state.plan, partial);
  return { done: true, result: { datasets, rowsRead: state.rowsRead, rowsWritten: state.rowsWritten } };
}

/** The outcome of an operation with one output, as its result says it. */
export function oneOutput(outcome: OutputsOutcome): FinalizeOutcome<AssembleState, DataStepResult> {
  if (!outcome.done) return outcome;
  const { datasets, rowsRead, rowsWritten } = outcome.result;
  return { done: true, result: { dataset: datasets[0]!, rowsRead, rowsWritten } };
}
