import { type Readable, Transform, type TransformCallback } from 'node:stream';
import type { DatasetMeta } from './datasetMeta.ts';
import type { DatasetStore } from './datasetStore.ts';
import { newId } from './ids.ts';
import { importDataset } from './import/index.ts';
import { type ColInfo, ImportError, type ImportFormat, type ImportOutcome } from './importTypes.ts';

export interface UploadRequest {
  tenant: string;
  name: string;
  format: ImportFormat;
  rowsPerChunk?: number | undefined;
  colInfo?: ColInfo | undefined;
  /** Bytes past which the upload is refused with 413 (MAX_UPLOAD_BYTES). */
  maxBytes: number;
}

/** The meta.json of an imported dataset: the import's outcome plus who owns it and where it came from. */
export function datasetMetaOf(
  outcome: ImportOutcome,
  identity: { id: string; name: string; tenant: string; source: string; createdAt?: string },
): DatasetMeta {
  return {
    id: identity.id,
    name: identity.name,
    tenant: identity.tenant,
    createdAt: identity.createdAt ?? new Date().toISOString(),
    numRows: outcome.numRows,
    numChunks: outcome.chunkRows.length,
    rowsPerChunk: outcome.rowsPerChunk,
    chunkRows: outcome.chunkRows,
    bytes: outcome.bytes,
    source: identity.source,
    variables: outcome.variables,
  };
}

/** The one 413 for an upload over MAX_UPLOAD_BYTES, whether told by Content-Length or found by counting. */
export function uploadTooLarge(maxBytes: number): ImportError {
  return new ImportError(
    'PAYLOAD_TOO_LARGE',
    `upload is larger than MAX_UPLOAD_BYTES (${maxBytes} bytes); split the file or raise the limit`,
    413,
    { maxBytes },
  );
}

/** Passes bytes through and fails the stream once more than `maxBytes` went by. */
function byteLimit(maxBytes: number): Transform {
  let seen = 0;
  return new Transform({
    transform(chunk: Buffer, _encoding, callback: TransformCallback) {
      seen += chunk.length;
      if (seen > maxBytes) {
        callback(uploadTooLarge(maxBytes));
        return;
      }
      callback(null, chunk);
    },
  });
}

/**
 * Imports an upload into a staging folder and publishes it as a new dataset. On any failure the
 * staging folder is removed, so a failed, oversized or aborted upload leaves nothing behind.
 */
export async function uploadDataset(
  store: DatasetStore,
  body: Readable,
  request: UploadRequest,
): Promise<DatasetMeta> {
  const stagingDir = await store.createStaging();
  try {
    const limited = byteLimit(request.maxBytes);
    body.on('error', (error) => limited.destroy(error));
    body.pipe(limited);
    const outcome = await importDataset(limited, {
      format: request.format,
      stagingDir,
      ...(request.rowsPerChunk !== undefined ? { rowsPerChunk: request.rowsPerChunk } : {}),
      ...(request.colInfo !== undefined ? { colInfo: request.colInfo } : {}),
    });
    const meta = datasetMetaOf(outcome, {
      id: newId('ds'),
      name: request.name,
      tenant: request.tenant,
      source: request.format,
    });
    await store.commit(stagingDir, meta);
    return meta;
  } catch (error) {
    // The client may still be sending: drain the rest so the error response can be written.
    body.resume();
    await store.discardStaging(stagingDir);
    throw error;
  }
}
