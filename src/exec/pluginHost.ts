/**
 * The plugin host: a helper process of each worker that runs registered functions (src/exec/plugins.ts).
 * Plugins are the operator's trusted code, but they may still hang, spin or crash: running them here
 * lets the worker stop a run at its timeoutMs by ending this process, and keeps the worker's event loop
 * (BullMQ's lock renewals) free while a run computes.
 *
 * This process has no storage of its own: a plugin reads datasets through calls to the worker, which
 * answers them with the job's JobIO (the tenant's datasets only).
 */
import { type Table, tableFromIPC } from 'apache-arrow';
import { readFactorCodes } from '../engine/columns.ts';
import { runRandom } from '../engine/exec/random.ts';
import type { ExecPartition } from '../engine/exec/runtime.ts';
import type { DatasetMeta } from '../storage/datasetMeta.ts';
import { CallError, serveHost } from './hostProtocol.ts';
import type { ExecContext, PartitionPiece } from './pluginApi.ts';
import { loadPlugins, type PluginSet } from './plugins.ts';

export interface PluginHostInit {
  dirs: string[];
}

export interface PluginRunRequest {
  function: string;
  args: Record<string, unknown>;
  runIndex: number;
  seed: number;
  dataset: string | null;
  partition: ExecPartition | null;
  maxResultBytes: number;
}

/** What a plugin asks the worker for. */
export type PluginCall =
  | { op: 'readChunk'; dataset: string; index: number; columns: string[] | null }
  | { op: 'datasetMeta'; dataset: string };

export type PluginReply =
  | { ok: true; json: string; bytes: number }
  | { ok: false; error: { code: string; message: string } };

let plugins: PluginSet;

function describe(error: unknown): string {
  if (error instanceof Error) return `${error.name}: ${error.message}`;
  return `a non-Error value was thrown: ${String(error)}`;
}

function contextFor(request: PluginRunRequest, call: (payload: PluginCall) => Promise<unknown>): ExecContext {
  const readChunk = async (dataset: string, index: number, columns?: readonly string[]): Promise<Table> => {
    const bytes = await call({ op: 'readChunk', dataset, index, columns: columns ? [...columns] : null });
    return tableFromIPC(bytes as Uint8Array);
  };
  const datasetMeta = async (dataset: string): Promise<DatasetMeta> =>
    (await call({ op: 'datasetMeta', dataset })) as DatasetMeta;
  const { dataset, partition } = request;

  async function* readPartition(columns?: readonly string[]): AsyncGenerator<PartitionPiece> {
    if (dataset === null || partition === null)
      throw new Error('readPartition is for rxExecBy runs: submit the job with a dataset');
    if (partition.kind === 'chunk') {
      yield { chunk: partition.chunk, table: await readChunk(dataset, partition.chunk, columns), rows: null };
      return;
    }
    const meta = await datasetMeta(dataset);
    const levels = meta.variables.find((v) => v.name === partition.variable)?.levels ?? [];
    const code = levels.indexOf(partition.level);
    const read = columns === undefined ? undefined : [...new Set([...columns, partition.variable])];
    for (let chunk = 0; chunk < meta.numChunks; chunk++) {
      const table = await readChunk(dataset, chunk, read);
      const factor = readFactorCodes(table, partition.variable, levels);
      const rows: number[] = [];
      for (let i = 0; i < table.numRows; i++) {
        if (factor.codes[i] === code && (factor.valid === null || factor.valid[i] === 1)) rows.push(i);
      }
      if (rows.length > 0) yield { chunk, table, rows: Int32Array.from(rows) };
    }
  }

  return {
    runIndex: request.runIndex,
    random: runRandom(request.seed, request.runIndex),
    dataset,
    partition,
    readChunk,
    datasetMeta,
    readPartition,
  };
}

async function run(
  request: PluginRunRequest,
  call: (payload: PluginCall) => Promise<unknown>,
): Promise<PluginReply> {
  const plugin = plugins.get(request.function);
  if (plugin === undefined) {
    return {
      ok: false,
      error: {
        code: 'UNKNOWN_FUNCTION',
        message: `no registered function '${request.function}' on this worker`,
      },
    };
  }
  let value: unknown;
  try {
    value = await plugin.run(request.args, contextFor(request, call));
  } catch (error) {
    // A dataset the worker refused (404 and the like) keeps its code: it says more than RUN_FAILED.
    if (error instanceof CallError) return { ok: false, error: { code: error.code, message: error.message } };
    return { ok: false, error: { code: 'RUN_FAILED', message: describe(error).slice(0, 2000) } };
  }
  let json: string | undefined;
  try {
    json = JSON.stringify(value ?? null);
  } catch (error) {
    return { ok: false, error: { code: 'RESULT_NOT_JSON', message: describe(error) } };
  }
  json ??= 'null';
  const bytes = Buffer.byteLength(json);
  if (bytes > request.maxResultBytes) {
    return {
      ok: false,
      error: {
        code: 'RESULT_TOO_LARGE',
        message: `the value is ${bytes} bytes of JSON; a run may return at most ${request.maxResultBytes} bytes`,
      },
    };
  }
  return { ok: true, json, bytes };
}

serveHost({
  async setup(init) {
    plugins = await loadPlugins((init as PluginHostInit).dirs);
  },
  handle: (request, call) =>
    run(request as PluginRunRequest, call as (payload: PluginCall) => Promise<unknown>),
});
