import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { JobKeys } from '../../src/jobs/keys.ts';
import { runJob, uploadCsv } from '../helpers/api.ts';
import { startServer, type TestServer } from '../helpers/server.ts';

/**
 * Work stealing under load, with real worker processes: many small jobs of many chunks (one task per
 * chunk) on three uneven workers, each job's answer compared bit for bit with a one-worker run. The
 * first worker runs the reference jobs alone, so it caches every chunk and steals from both others;
 * they cache their own shares, so they steal tasks back from it too (the move that once lost a
 * partial when it crossed a steal still under way). Several jobs run at once, and iterative ones
 * (logit, kmeans) end many rounds, each a chance to steal.
 */

type Body = { type: string; dataset: string; params: Record<string, unknown> };

/** 240 rows in 16 chunks: two numeric columns, a factor, and a 0/1 response that x predicts, not perfectly. */
function csv(): string {
  const lines = ['x,z,g,y'];
  for (let i = 0; i < 240; i++) {
    const x = (i * 37) % 101;
    const z = ((i * 53) % 89) / 7;
    const g = ['a', 'b', 'c'][(i * 7) % 3];
    const y = (i * 7919) % 13 < 3 + (x > 50 ? 6 : 0) ? 1 : 0;
    lines.push(`${x},${z.toFixed(4)},${g},${y}`);
  }
  return `${lines.join('\n')}\n`;
}

/** The answer without what names this run (a fitted model's id). */
function answer(result: unknown): string {
  const { modelId: _id, ...rest } = result as Record<string, unknown>;
  return JSON.stringify(rest);
}

const REPEATS = 6;
const AT_ONCE = 4;

describe('work stealing under load: 3 uneven workers, TASK_STEALING=1', () => {
  let server: TestServer;
  let dataset: string;
  before(async () => {
    server = await startServer({ TASK_STEALING: '1' });
    dataset = (await uploadCsv(server.url, csv(), { rowsPerChunk: 15 })).id;
  });
  after(() => server.close());

  it('completes every job with the answer of a one-worker run', async () => {
    const bodies: Record<string, Body> = {
      summary: { type: 'summary', dataset, params: { formula: '~ x + z + g' } },
      crossTabs: { type: 'crossTabs', dataset, params: { formula: '~ g:F(y)' } },
      logit: { type: 'logit', dataset, params: { formula: 'y ~ x + z + g' } },
      kmeans: { type: 'kmeans', dataset, params: { formula: '~ x + z', numClusters: 3, seed: 11 } },
    };
    await server.startWorkers(1);
    const reference = new Map<string, string>();
    for (const [name, body] of Object.entries(bodies))
      reference.set(name, answer(await runJob(server.url, body)));

    // Uneven on purpose: one worker slow, one a little slow, the first (caching everything) fast.
    await server.startWorkers(1, { env: { TASK_DELAY_MS: '40' } });
    await server.startWorkers(1, { env: { TASK_DELAY_MS: '8' } });
    const stolenKey = new JobKeys(server.config.queuePrefix).tasksStolen;
    const stolenBefore = Number((await server.redis.get(stolenKey)) ?? 0);

    const runs = Array.from({ length: REPEATS }, () => Object.keys(bodies)).flat();
    let next = 0;
    const mismatches: string[] = [];
    const lane = async () => {
      while (next < runs.length) {
        const name = runs[next++]!;
        const got = answer(await runJob(server.url, bodies[name]!));
        if (got !== reference.get(name)) mismatches.push(`${name}: ${got}`);
      }
    };
    await Promise.all(Array.from({ length: AT_ONCE }, lane));
    assert.deepEqual(mismatches, [], 'every answer as with one worker');

    const stolen = Number((await server.redis.get(stolenKey)) ?? 0) - stolenBefore;
    assert.ok(stolen >= 10, `only ${stolen} tasks were stolen: the test did not exercise stealing`);
  });
});
