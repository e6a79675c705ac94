import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after } from 'node:test';
import { DatasetStore } from '../../src/storage/datasetStore.ts';
import { JobFiles } from '../../src/storage/jobFiles.ts';

let jobs = 0;

/**
 * A real JobIO (storage/jobFiles.ts) on a temporary data folder, removed when the test file ends: for
 * in-process runs of analyses that store a model or write a dataset. Each call is a new job.
 */
export async function tempJobIO(): Promise<{ io: JobFiles; store: DatasetStore }> {
  const dataDir = await mkdtemp(path.join(tmpdir(), 'rxserve-engine-'));
  after(() => rm(dataDir, { recursive: true, force: true }));
  const store = new DatasetStore(dataDir);
  await store.open({ clearStaging: true });
  jobs += 1;
  const jobId = `job_${String(jobs).padStart(20, '0')}`;
  return { io: new JobFiles(store, dataDir, jobId, 'local', 'ds_test'), store };
}
