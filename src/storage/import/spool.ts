import { type FileHandle, open } from 'node:fs/promises';
import type { Readable } from 'node:stream';

/**
 * A copy of the upload on disk, written as it streams past, for a second read or random access.
 * One vectored write is in flight while the caller parses the next block; the caller waits only when
 * the disk is slower than parsing.
 */
export class Spool {
  private handle: Promise<FileHandle>;
  private inFlight: Promise<unknown> = Promise.resolve();
  bytes = 0;

  constructor(readonly file: string) {
    this.handle = open(file, 'w');
    this.handle.catch(() => {});
  }

  async write(chunks: readonly Buffer[]): Promise<void> {
    const handle = await this.handle;
    await this.inFlight;
    for (const chunk of chunks) this.bytes += chunk.length;
    this.inFlight = handle.writev(chunks);
    this.inFlight.catch(() => {});
  }

  async close(): Promise<void> {
    const handle = await this.handle;
    try {
      await this.inFlight;
    } finally {
      await handle.close();
    }
  }
}

/**
 * The input in groups of pieces of at least `size` bytes together (the last group may be smaller),
 * copied to `spool` on the way. Pieces are not joined here: the parser joins them once, with its own
 * unfinished record.
 */
export async function* readBlocks(
  input: Readable | AsyncIterable<Buffer>,
  size: number,
  spool?: Spool,
): AsyncGenerator<Buffer[]> {
  let parts: Buffer[] = [];
  let length = 0;
  for await (const piece of input) {
    const chunk: Buffer =
      typeof piece === 'string'
        ? Buffer.from(piece, 'utf8')
        : Buffer.from(piece.buffer, piece.byteOffset, piece.byteLength);
    parts.push(chunk);
    length += chunk.length;
    if (length >= size) {
      if (spool) await spool.write(parts);
      yield parts;
      parts = [];
      length = 0;
    }
  }
  if (length > 0) {
    if (spool) await spool.write(parts);
    yield parts;
  }
}
