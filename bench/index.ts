/**
 * `npm run bench`: every benchmark, one after the other. Each prints medians of several runs and ratios
 * against a baseline measured in the same process. BENCH_ONLY=import|jobs|linalg|models|glm runs one of them.
 */
import { benchGlm } from './glm.ts';
import { benchImport } from './import.ts';
import { benchJobs } from './jobs.ts';
import { benchLinalg } from './linalg.ts';
import { benchModels } from './models.ts';

const only = process.env['BENCH_ONLY'];
if (!only || only === 'import') await benchImport();
if (!only || only === 'jobs') await benchJobs();
if (!only || only === 'linalg') await benchLinalg();
if (!only || only === 'models') await benchModels();
if (!only || only === 'glm') await benchGlm();
process.exit(0);
