import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { after, before } from 'node:test';
import type { DatasetMeta } from '../../src/storage/datasetMeta.ts';
import { importDataset } from '../../src/storage/import/index.ts';
import {
  type ColInfo,
  ImportError,
  type ImportFormat,
  type ImportOutcome,
} from '../../src/storage/importTypes.ts';
import { datasetMetaOf } from '../../src/storage/uploadDataset.ts';

export interface Imported {
  dir: string;
  outcome: ImportOutcome;
  meta: DatasetMeta;
}

export interface ImportBytesOptions {
  rowsPerChunk?: number;
  colInfo?: ColInfo;
  /** Size of the pieces the body arrives in; small pieces put record and quote boundaries across reads. */
  pieceBytes?: number;
}

/**
 * A temporary folder for the importing test file that calls it (removed after its tests), and an
 * importer of in-memory bodies into fresh staging folders below it.
 */
export function importer(prefix: string) {
  let root = '';
  let counter = 0;
  before(async () => {
    root = await mkdtemp(path.join(os.tmpdir(), prefix));
  });
  after(async () => {
    await rm(root, { recursive: true, force: true });
  });
  return async function importBytes(
    format: ImportFormat,
    body: string | Uint8Array,
    options: ImportBytesOptions = {},
  ): Promise<Imported> {
    const dir = path.join(root, `ds${counter++}`);
    const bytes = typeof body === 'string' ? Buffer.from(body, 'utf8') : Buffer.from(body);
    const size = options.pieceBytes ?? 1 << 16;
    const pieces: Buffer[] = [];
    for (let at = 0; at < bytes.length; at += size) pieces.push(bytes.subarray(at, at + size));
    const outcome = await importDataset(Readable.from(pieces), {
      format,
      stagingDir: dir,
      rowsPerChunk: options.rowsPerChunk,
      colInfo: options.colInfo,
    });
    const meta = datasetMetaOf(outcome, {
      id: 'ds_test',
      name: 'test',
      tenant: 'local',
      source: format,
      createdAt: new Date(0).toISOString(),
    });
    return { dir, outcome, meta };
  };
}

export async function rejectsWith(
  promise: Promise<unknown>,
  code: string,
  status = 400,
): Promise<ImportError> {
  try {
    await promise;
  } catch (error) {
    assert.ok(error instanceof ImportError, `expected ImportError ${code}, got ${String(error)}`);
    assert.equal(error.code, code, error.message);
    assert.equal(error.status, status);
    return error;
  }
  assert.fail(`expected ImportError ${code}`);
}
