import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { writeNumericDataset } from '../../bench/generatedDataset.ts';
import { ChunkCache } from '../../src/storage/chunkCache.ts';
import type { DatasetMeta } from '../../src/storage/datasetMeta.ts';
import { DatasetMissingError, DatasetStore } from '../../src/storage/datasetStore.ts';

/** A temporary data folder holding one 100-row, 2-chunk dataset, removed after `run`. */
async function withStoredDataset(
  run: (dir: string, writer: DatasetStore, meta: DatasetMeta) => Promise<void>,
): Promise<void> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'rxserve-cache-'));
  try {
    const writer = new DatasetStore(dir);
    await writer.open({ clearStaging: true });
    await run(dir, writer, await writeNumericDataset(writer, { rows: 100, columns: 2, rowsPerChunk: 50 }));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

describe('chunk cache', () => {
  it('keeps the most recently used chunks within its byte budget', () => {
    const cache = new ChunkCache(30);
    cache.set('ds_a/0', Buffer.alloc(10));
    cache.set('ds_a/1', Buffer.alloc(10));
    cache.set('ds_b/0', Buffer.alloc(10));
    assert.ok(cache.get('ds_a/0'), 'touching a/0 makes a/1 the oldest');
    cache.set('ds_b/1', Buffer.alloc(10));
    assert.equal(cache.get('ds_a/1'), undefined);
    assert.ok(cache.get('ds_a/0'));
    assert.deepEqual(cache.size, { entries: 3, bytes: 30 });
    cache.set('huge', Buffer.alloc(31));
    assert.equal(cache.get('huge'), undefined, 'larger than the budget: not kept');
    cache.dropDataset('ds_b');
    assert.deepEqual(cache.size, { entries: 1, bytes: 10 });
  });

  it('keeps a chunk read for another worker only where it fits without evicting', async () => {
    const cache = new ChunkCache(30);
    cache.set('own/0', Buffer.alloc(10));
    cache.set('own/1', Buffer.alloc(10));
    cache.set('stolen/0', Buffer.alloc(10), { evict: false });
    assert.ok(cache.has('stolen/0'), 'room to spare: kept');
    cache.set('stolen/1', Buffer.alloc(10), { evict: false });
    assert.equal(cache.has('stolen/1'), false, 'full: not kept');
    assert.ok(cache.has('own/0') && cache.has('own/1'), 'and nothing of its own pushed out');
    // has() is not a use: own/0 is still the oldest, and goes first.
    cache.set('own/2', Buffer.alloc(10));
    assert.equal(cache.has('own/0'), false);

    await withStoredDataset(async (dir, _writer, meta) => {
      const worker = new DatasetStore(dir, { chunkCacheBytes: 1 << 20 });
      assert.equal(worker.isChunkCached(meta.id, 0), false);
      await worker.readChunk(meta.id, 0);
      assert.equal(worker.isChunkCached(meta.id, 0), true);
      assert.equal(new DatasetStore(dir).isChunkCached(meta.id, 0), false, 'no cache, nothing cached');
    });
  });

  it('never serves a dataset that was deleted, even from memory', async () => {
    await withStoredDataset(async (dir, writer, meta) => {
      // A second store stands for a worker process with its own cache.
      const worker = new DatasetStore(dir, { chunkCacheBytes: 1 << 20 });
      const first = await worker.readChunk(meta.id, 1);
      assert.equal(first.numRows, 50);
      assert.equal((await worker.readChunk(meta.id, 1, ['x2'])).numCols, 1);
      await writer.delete(meta.id);
      await assert.rejects(worker.readChunk(meta.id, 1), DatasetMissingError);
    });
  });
});
