/**
 * Import throughput: a numeric CSV of BENCH_IMPORT_MB megabytes (default 1024; 10 numeric columns) is
 * generated into a temp file, then imported 3 times; the same data as an Arrow IPC stream likewise. Prints
 * the median MB/s and rows/s of each, and both as a ratio of reading the file with no parsing at all.
 * `npx tsx bench/import.ts` runs it alone; `npm run bench` runs it with the others.
 *
 * Reading the figures: a CSV import writes about twice its input (the spooled upload and the chunks),
 * so once the page cache's dirty limit is reached the disk's write speed caps it; run on a quiet machine.
 */
import { once } from 'node:events';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { fileURLToPath } from 'node:url';
import { exportArrow } from '../src/storage/export.ts';
import { importDataset } from '../src/storage/import/index.ts';
import type { ImportFormat } from '../src/storage/importTypes.ts';
import { datasetMetaOf } from '../src/storage/uploadDataset.ts';

const RUNS = 3;
const COLUMNS = 10;
const MB = 1024 * 1024;
/** Read size for both the baseline and the imports: fs streams' 64 KiB default makes a file read wait on
 * the disk between parses, which an HTTP upload (read from the socket buffer) does not. */
const READ_BYTES = MB;

interface Measure {
  seconds: number;
  rows: number;
}

export async function benchImport(): Promise<void> {
  const targetMb = Number(process.env['BENCH_IMPORT_MB'] ?? 1024);
  const dir = await mkdtemp(path.join(os.tmpdir(), 'rxserve-bench-import-'));
  try {
    const csvFile = path.join(dir, 'data.csv');
    const rows = await writeNumericCsv(csvFile, targetMb * MB);
    const csvBytes = (await stat(csvFile)).size;
    console.log(
      `import bench: ${(csvBytes / MB).toFixed(0)} MB of CSV, ${rows} rows x ${COLUMNS} numeric columns`,
    );

    const raw = median(await repeat(() => rawRead(csvFile)));
    const rawMbs = csvBytes / MB / raw;
    console.log(`  raw read (no parsing)     ${rawMbs.toFixed(0)} MB/s`);

    const csvRuns = await repeat(() => timeImport(csvFile, 'csv', dir));
    report('CSV import', csvBytes, csvRuns, rawMbs);

    const arrowFile = path.join(dir, 'data.arrows');
    await writeArrowStream(csvFile, arrowFile, dir);
    const arrowBytes = (await stat(arrowFile)).size;
    const arrowRaw = median(await repeat(() => rawRead(arrowFile)));
    console.log(`  raw read of the Arrow file ${(arrowBytes / MB / arrowRaw).toFixed(0)} MB/s`);
    const arrowRuns = await repeat(() => timeImport(arrowFile, 'arrow', dir));
    report(
      `Arrow import (${(arrowBytes / MB).toFixed(0)} MB stream)`,
      arrowBytes,
      arrowRuns,
      arrowBytes / MB / arrowRaw,
    );
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** Writes rows of 10 decimal columns in a mix of widths until `bytes` is reached; returns the row count. */
async function writeNumericCsv(file: string, bytes: number): Promise<number> {
  const out = createWriteStream(file);
  const header = `${Array.from({ length: COLUMNS }, (_, j) => `x${j + 1}`).join(',')}\n`;
  out.write(header);
  let written = header.length;
  let rows = 0;
  let seed = 12345;
  const random = () => {
    seed = (seed * 1103515245 + 12345) % 2147483648;
    return seed / 2147483648;
  };
  while (written < bytes) {
    let block = '';
    for (let r = 0; r < 10000; r++) {
      for (let j = 0; j < COLUMNS; j++) {
        const value = (random() - 0.3) * 10 ** (j % 5);
        block += (j > 0 ? ',' : '') + value.toFixed(2 + (j % 4));
      }
      block += '\n';
    }
    rows += 10000;
    written += block.length;
    if (!out.write(block)) await once(out, 'drain');
  }
  await new Promise<void>((resolve, reject) =>
    out.end((error?: Error | null) => (error ? reject(error) : resolve())),
  );
  return rows;
}

async function rawRead(file: string): Promise<Measure> {
  const started = performance.now();
  let total = 0;
  for await (const chunk of createReadStream(file, { highWaterMark: READ_BYTES }))
    total += (chunk as Buffer).length;
  return { seconds: (performance.now() - started) / 1000, rows: total };
}

async function timeImport(file: string, format: ImportFormat, dir: string): Promise<Measure> {
  const stagingDir = await mkdtemp(path.join(dir, 'staging-'));
  try {
    const started = performance.now();
    const outcome = await importDataset(createReadStream(file, { highWaterMark: READ_BYTES }), {
      format,
      stagingDir,
    });
    return { seconds: (performance.now() - started) / 1000, rows: outcome.numRows };
  } finally {
    await rm(stagingDir, { recursive: true, force: true });
  }
}

/** The same data as an Arrow IPC stream, through an import of the CSV and the stream export. */
async function writeArrowStream(csvFile: string, arrowFile: string, dir: string): Promise<void> {
  const stagingDir = await mkdtemp(path.join(dir, 'staging-'));
  try {
    const outcome = await importDataset(createReadStream(csvFile, { highWaterMark: READ_BYTES }), {
      format: 'csv',
      stagingDir,
    });
    const meta = datasetMetaOf(outcome, { id: 'ds_bench', name: 'bench', tenant: 'local', source: 'csv' });
    await pipeline(exportArrow(stagingDir, meta), createWriteStream(arrowFile));
  } finally {
    await rm(stagingDir, { recursive: true, force: true });
  }
}

async function repeat(run: () => Promise<Measure>): Promise<Measure[]> {
  const results: Measure[] = [];
  for (let k = 0; k < RUNS; k++) results.push(await run());
  return results;
}

function median(measures: Measure[]): number {
  const seconds = measures.map((measure) => measure.seconds).sort((a, b) => a - b);
  return seconds[Math.floor(seconds.length / 2)]!;
}

function report(label: string, bytes: number, runs: Measure[], baselineMbs: number): void {
  const seconds = median(runs);
  const mbs = bytes / MB / seconds;
  const rowsPerSecond = runs[0]!.rows / seconds;
  console.log(
    `  ${label.padEnd(25)} ${mbs.toFixed(0)} MB/s, ${(rowsPerSecond / 1e6).toFixed(2)} M rows/s (median of ${RUNS}: ${seconds.toFixed(2)} s; ${((mbs / baselineMbs) * 100).toFixed(0)}% of raw read)`,
  );
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  await benchImport();
}
