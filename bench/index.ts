/**
 * `npm run bench`: every benchmark, one after the other. Each prints medians of several runs and ratios
 * against a baseline measured in the same process. BENCH_ONLY=<name> runs one of them (names below).
 */
import { benchCrossTabs } from './crosstabs.ts';
import { benchExpr } from './expr.ts';
import { benchGlm } from './glm.ts';
import { benchImport } from './import.ts';
import { benchJobs } from './jobs.ts';
import { benchKmeans } from './kmeans.ts';
import { benchLinalg } from './linalg.ts';
import { benchModels } from './models.ts';
import { benchTrees } from './trees.ts';

const benches: Record<string, () => Promise<void>> = {
  import: benchImport,
  jobs: benchJobs,
  expr: benchExpr,
  linalg: benchLinalg,
  crosstabs: benchCrossTabs,
  models: benchModels,
  glm: benchGlm,
  kmeans: benchKmeans,
  trees: benchTrees,
};

const only = process.env['BENCH_ONLY'];
if (only !== undefined && !(only in benches)) {
  console.error(`BENCH_ONLY=${only}: no such benchmark (${Object.keys(benches).join(', ')})`);
  process.exit(2);
}
for (const [name, run] of Object.entries(benches)) if (!only || only === name) await run();
process.exit(0);
