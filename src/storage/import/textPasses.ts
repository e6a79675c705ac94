import { createReadStream } from 'node:fs';
import { rm, unlink } from 'node:fs/promises';
import path from 'node:path';
import type { Readable } from 'node:stream';
import type { ImportOptions, ImportOutcome } from '../importTypes.ts';
import { readBlocks, Spool } from './spool.ts';

const BLOCK_BYTES = 1 << 20;

export interface PassResult {
  /** Absent when a column turned lossy: `lossyColumns` must then be read as text. */
  outcome?: ImportOutcome;
  lossyColumns: string[];
  rowsPerChunk: number;
}

/** One read of a text upload (CSV, NDJSON), fed block by block. */
export interface TextPass {
  /** Bytes of the record left unfinished by the last block. */
  readonly pendingBytes: number;
  consume(blocks: Buffer[], atEnd: boolean): Promise<void>;
  result(): Promise<PassResult>;
}

type PassFactory = (
  textColumns: ReadonlySet<string> | undefined,
  rowsPerChunk: number | undefined,
) => TextPass;

/**
 * The optimistic pass over the upload while it is spooled to `spoolName` in the staging folder, and,
 * only when a typed column turned to text (see csv.ts), a second pass over the spool with those columns
 * read as text from the start.
 */
export async function importInPasses(
  input: Readable,
  options: ImportOptions,
  spoolName: string,
  makePass: PassFactory,
): Promise<ImportOutcome> {
  const spool = new Spool(path.join(options.stagingDir, spoolName));
  let first: PassResult;
  try {
    first = await runPass(readBlocks(input, BLOCK_BYTES, spool), makePass(undefined, options.rowsPerChunk));
  } finally {
    await spool.close().catch(() => {});
  }
  if (first.outcome) {
    await unlink(spool.file);
    return first.outcome;
  }
  await rm(path.join(options.stagingDir, 'chunks'), { recursive: true, force: true });
  const second = await runPass(
    readBlocks(createReadStream(spool.file, { highWaterMark: BLOCK_BYTES }), BLOCK_BYTES),
    makePass(new Set(first.lossyColumns), first.rowsPerChunk),
  );
  await unlink(spool.file);
  if (!second.outcome) throw new Error('import: a column changed type during the second pass');
  return second.outcome;
}

async function runPass(blocks: AsyncIterable<Buffer[]>, pass: TextPass): Promise<PassResult> {
  let waiting: Buffer[] = [];
  let waitingBytes = 0;
  for await (const block of blocks) {
    for (const piece of block) {
      waiting.push(piece);
      waitingBytes += piece.length;
    }
    // A record longer than a block is re-scanned from its start on every block; waiting until the new
    // bytes at least match the unfinished ones keeps that linear.
    if (waitingBytes < pass.pendingBytes) continue;
    await pass.consume(waiting, false);
    waiting = [];
    waitingBytes = 0;
  }
  await pass.consume(waiting, true);
  return pass.result();
}
