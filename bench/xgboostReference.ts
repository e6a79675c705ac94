import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtemp, open, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

/**
 * The reference implementation the tree benchmark compares with: the XGBoost command-line program
 * (Debian's `xgboost` package, 1.7.4 here), a histogram GBM in C++, trained on the same generated
 * rows with the same boosting settings, its held-out predictions scored by the same AUC function.
 * Factors are given to it as their level codes (its CLI takes numbers only), which a tree can still
 * split by ranges. Absent program: the comparison is skipped, not faked.
 */

export interface BoostSettings {
  trees: number;
  depth: number;
  learningRate: number;
  sampRate: number;
  maxBins: number;
}

export interface ReferenceRun {
  program: string;
  /** Seconds from its first to its last boosting round, from its own log (1 s resolution). */
  trainSeconds: number;
  /** Seconds of the whole training run, CSV parsing included. */
  totalSeconds: number;
  /** Held-out predictions (probabilities), in row order. */
  predictions: Float64Array;
}

function version(): string | null {
  try {
    return execFileSync('xgboost', ['--version'], { encoding: 'utf8' }).trim().split('\n')[0] ?? 'xgboost';
  } catch {
    return null;
  }
}

/** Written 100,000 rows at a time: ten million rows are more text than one string may hold. */
async function writeCsv(file: string, columns: readonly (Float64Array | Int32Array)[]): Promise<void> {
  const rows = columns[0]?.length ?? 0;
  const handle = await open(file, 'w');
  try {
    for (let start = 0; start < rows; start += 100_000) {
      const lines: string[] = [];
      for (let i = start; i < Math.min(rows, start + 100_000); i++)
        lines.push(columns.map((c) => c[i]).join(','));
      await handle.write(`${lines.join('\n')}\n`);
    }
  } finally {
    await handle.close();
  }
}

/** Seconds between the first and last `[hh:mm:ss] [k]` round lines of its log. */
function roundSpan(log: string): number {
  const times = [...log.matchAll(/^\[(\d\d):(\d\d):(\d\d)\] \[\d+\]/gm)].map(
    (m) => Number(m[1]) * 3600 + Number(m[2]) * 60 + Number(m[3]),
  );
  if (times.length < 2) return Number.NaN;
  const span = (times.at(-1) as number) - (times[0] as number);
  return span < 0 ? span + 86400 : span;
}

/** Trains XGBoost on `train` (label first, then predictors) and predicts `holdout`; null without it. */
export async function runXgboost(
  train: readonly (Float64Array | Int32Array)[],
  holdout: readonly (Float64Array | Int32Array)[],
  settings: BoostSettings,
): Promise<ReferenceRun | null> {
  const program = version();
  if (program === null) return null;
  const dir = await mkdtemp(path.join(os.tmpdir(), 'rxserve-xgb-'));
  try {
    const trainFile = path.join(dir, 'train.csv');
    const testFile = path.join(dir, 'test.csv');
    await writeCsv(trainFile, train);
    await writeCsv(testFile, holdout);
    const model = path.join(dir, 'model.bin');
    const common = [
      'booster = gbtree',
      'objective = binary:logistic',
      'tree_method = hist',
      `nthread = ${os.availableParallelism()}`,
    ];
    const trainConf = path.join(dir, 'train.conf');
    await writeFile(
      trainConf,
      [
        ...common,
        `eta = ${settings.learningRate}`,
        `max_depth = ${settings.depth}`,
        `subsample = ${settings.sampRate}`,
        `max_bin = ${settings.maxBins}`,
        `num_round = ${settings.trees}`,
        `data = "${trainFile}?format=csv&label_column=0"`,
        // A tiny eval set: its per-round log line gives the rounds' timing.
        `eval[holdout] = "${testFile}?format=csv&label_column=0"`,
        `model_out = ${model}`,
      ].join('\n'),
    );
    const started = process.hrtime.bigint();
    const trained = spawnSync('xgboost', [trainConf], { cwd: dir, encoding: 'utf8' });
    const totalSeconds = Number(process.hrtime.bigint() - started) / 1e9;
    if (trained.status !== 0) throw new Error(`xgboost failed: ${trained.stderr}`);
    const predConf = path.join(dir, 'pred.conf');
    const predFile = path.join(dir, 'pred.txt');
    await writeFile(
      predConf,
      [
        ...common,
        'task = pred',
        `model_in = ${model}`,
        `test:data = "${testFile}?format=csv&label_column=0"`,
        `name_pred = ${predFile}`,
      ].join('\n'),
    );
    const predicted = spawnSync('xgboost', [predConf], { cwd: dir, encoding: 'utf8' });
    if (predicted.status !== 0) throw new Error(`xgboost predict failed: ${predicted.stderr}`);
    const predictions = Float64Array.from((await readFile(predFile, 'utf8')).trim().split('\n').map(Number));
    return {
      program,
      trainSeconds: roundSpan(`${trained.stdout}\n${trained.stderr}`),
      totalSeconds,
      predictions,
    };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
