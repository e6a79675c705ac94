/**
 * `npm run bench`: every benchmark, one after the other. Each prints medians of several runs and ratios
 * against a baseline measured in the same process. BENCH_ONLY=import|jobs|expr runs one of them.
 */
import { benchExpr } from './expr.ts';
import { benchImport } from './import.ts';
import { benchJobs } from './jobs.ts';

const only = process.env['BENCH_ONLY'];
if (!only || only === 'import') await benchImport();
if (!only || only === 'jobs') await benchJobs();
if (!only || only === 'expr') await benchExpr();
process.exit(0);
