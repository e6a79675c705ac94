import { mkdtemp } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { writeNumericDataset } from './bench/generatedDataset.ts';
import { getAnalysis } from './src/engine/registry.ts';
import { DatasetStore } from './src/storage/datasetStore.ts';

const dir = process.env.D ?? (await mkdtemp(path.join(os.tmpdir(), 'prof2-')));
const store = new DatasetStore(dir, { chunkCacheBytes: 2e9 });
await store.open({ clearStaging: false });
let meta = (await store.list('local'))[0];
if (!meta) {
  meta = await writeNumericDataset(store, { rows: 5_000_000, columns: 10, rowsPerChunk: 200_000 });
  console.log(dir);
  process.exit(0);
}
const names = meta.variables.map((v) => v.name);
const a = getAnalysis('summary')!;
const state = a.init({ formula: `~ ${names.join(' + ')}` }, meta);
for (let rep = 0; rep < 10; rep++) {
  const c0 = process.cpuUsage();
  const t = performance.now();
  for (let i = 0; i < meta.numChunks; i++) {
    const table = await store.readChunk(meta.id, i, a.columnsUsed(state));
    a.map({ index: i, numRows: table.numRows, startRow: 0, table }, state, { round: 0 });
  }
  const c = process.cpuUsage(c0);
  if (rep >= 6)
    console.log(
      process.argv[2],
      `wall ${(performance.now() - t).toFixed(0)} ms cpu ${((c.user + c.system) / 1000).toFixed(0)} ms`,
    );
}
