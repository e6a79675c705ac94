import { type FileHandle, open, rename, writeFile } from 'node:fs/promises';
import type { ColumnKind, ColumnValues } from './columnValues.ts';

/**
 * Scratch files of the external sort and merge: one sorted run (or bucket) of rows, stored column by
 * column so that a partition task reads exactly the rows [from, to) of the columns it needs with a few
 * positioned reads, and never the whole file. Arrow IPC would do for whole files, but reads of a row
 * range of it load every batch that overlaps; this format has no batches at all.
 *
 * Layout: a 4-byte little-endian header length, the header (JSON: row count and, per column, its kind
 * and the byte offsets of its sections), then the sections: numbers as float64, codes as int32, text as
 * int32 offsets (rows + 1, starting at 0) and its UTF-8 bytes, and one validity byte per row for columns
 * with a missing value. Bytes are in the platform's order (little-endian on every platform Node runs
 * rxserve on); the file never leaves the job that wrote it.
 */

interface ColumnLayout {
  kind: ColumnKind;
  /** Offset of the values (number, codes) or of the text offsets. */
  values: number;
  /** Offset of the text bytes. */
  bytes?: number;
  /** Offset of the validity bytes; absent when no row is missing. */
  valid?: number;
}

interface Header {
  rows: number;
  columns: ColumnLayout[];
}

function bytesOf(view: ArrayBufferView): Uint8Array {
  return new Uint8Array(view.buffer, view.byteOffset, view.byteLength);
}

/**
 * Writes `columns` (all of `rows` rows) to `file`. Written under a temporary name and renamed, so a task
 * killed mid-write never leaves a torn file that its retry or a partition task would take for whole.
 */
export async function writeRunFile(
  file: string,
  columns: readonly ColumnValues[],
  rows: number,
): Promise<void> {
  const sections: Uint8Array[] = [];
  const layouts: ColumnLayout[] = [];
  let at = 0;
  const add = (view: ArrayBufferView): number => {
    const start = at;
    sections.push(bytesOf(view));
    at += view.byteLength;
    return start;
  };
  for (const column of columns) {
    let layout: ColumnLayout;
    if (column.kind === 'number') layout = { kind: 'number', values: add(column.values.subarray(0, rows)) };
    else if (column.kind === 'codes') layout = { kind: 'codes', values: add(column.codes.subarray(0, rows)) };
    else {
      const base = column.offsets[0]!;
      const offsets = base === 0 ? column.offsets.subarray(0, rows + 1) : column.offsets.map((o) => o - base);
      layout = {
        kind: 'text',
        values: add(offsets.subarray(0, rows + 1)),
        bytes: add(column.bytes.subarray(base, column.offsets[rows]!)),
      };
    }
    const valid = column.valid?.subarray(0, rows);
    if (valid?.includes(0)) layout.valid = add(valid);
    layouts.push(layout);
  }
  const header = Buffer.from(JSON.stringify({ rows, columns: layouts } satisfies Header));
  const prefix = Buffer.alloc(4);
  prefix.writeUInt32LE(header.length, 0);
  const temporary = `${file}.${process.pid}.tmp`;
  await writeFile(temporary, [prefix, header, ...sections]);
  await rename(temporary, file);
}

async function readExactly(handle: FileHandle, target: Uint8Array, position: number): Promise<void> {
  let done = 0;
  while (done < target.length) {
    const { bytesRead } = await handle.read(target, done, target.length - done, position + done);
    if (bytesRead === 0) throw new Error('run file ended early (truncated scratch file)');
    done += bytesRead;
  }
}

/** Positioned reads of row ranges of one run file. Close it when done. */
export class RunFileReader {
  private constructor(
    private readonly handle: FileHandle,
    private readonly header: Header,
    /** File offset of the first section. */
    private readonly base: number,
  ) {}

  static async open(file: string): Promise<RunFileReader> {
    const handle = await open(file, 'r');
    try {
      const prefix = new Uint8Array(4);
      await readExactly(handle, prefix, 0);
      const length = Buffer.from(prefix).readUInt32LE(0);
      const text = new Uint8Array(length);
      await readExactly(handle, text, 4);
      const header = JSON.parse(Buffer.from(text).toString('utf8')) as Header;
      return new RunFileReader(handle, header, 4 + length);
    } catch (error) {
      await handle.close();
      throw error;
    }
  }

  get rows(): number {
    return this.header.rows;
  }

  /** Rows [from, to) of column `index`, in a fresh column (text offsets rebased to 0). */
  async read(index: number, from: number, to: number): Promise<ColumnValues> {
    const layout = this.header.columns[index];
    if (layout === undefined) throw new Error(`run file has no column ${index}`);
    if (from < 0 || to > this.header.rows || from > to) throw new Error(`rows ${from}..${to} out of range`);
    const n = to - from;
    let valid: Uint8Array | null = null;
    if (layout.valid !== undefined) {
      valid = new Uint8Array(n);
      await readExactly(this.handle, valid, this.base + layout.valid + from);
    }
    if (layout.kind === 'number') {
      const values = new Float64Array(n);
      await readExactly(this.handle, bytesOf(values), this.base + layout.values + from * 8);
      return { kind: 'number', values, valid };
    }
    if (layout.kind === 'codes') {
      const codes = new Int32Array(n);
      await readExactly(this.handle, bytesOf(codes), this.base + layout.values + from * 4);
      return { kind: 'codes', codes, valid };
    }
    const offsets = new Int32Array(n + 1);
    await readExactly(this.handle, bytesOf(offsets), this.base + layout.values + from * 4);
    const start = offsets[0]!;
    const bytes = new Uint8Array(offsets[n]! - start);
    await readExactly(this.handle, bytes, this.base + layout.bytes! + start);
    if (start !== 0) for (let i = 0; i <= n; i++) offsets[i] = offsets[i]! - start;
    return { kind: 'text', offsets, bytes, valid };
  }

  async close(): Promise<void> {
    await this.handle.close();
  }
}

/** Reads rows [from, to) of the columns `indexes` of `file` and closes it. */
export async function readRunRange(
  file: string,
  indexes: readonly number[],
  from: number,
  to: number,
): Promise<ColumnValues[]> {
  const reader = await RunFileReader.open(file);
  try {
    const out: ColumnValues[] = [];
    for (const index of indexes) out.push(await reader.read(index, from, to));
    return out;
  } finally {
    await reader.close();
  }
}
