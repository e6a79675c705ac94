import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { loadConfig } from '../../src/config.ts';
import { runRandom, seedState, xoshiro128ss } from '../../src/engine/exec/random.ts';
import { ExecService } from '../../src/exec/service.ts';

/**
 * Expected values from the authors' C reference code (splitmix64.c and xoshiro128starstar.c, as published
 * at prng.di.unimi.it), compiled with gcc and seeded the way random.ts documents: SplitMix64 from
 * x = seed * 2^32 + runIndex, two outputs split into the four 32-bit state words; then six raw outputs.
 */
const REFERENCE = [
  {
    seed: 0,
    runIndex: 0,
    state: [3793791033, 2065550767, 1853398634, 2713282036],
    outputs: [513008459, 2795874746, 972916236, 1374099887, 2042740824, 3697851841],
  },
  {
    seed: 42,
    runIndex: 7,
    state: [743975838, 425796879, 1469041510, 536083674],
    outputs: [163697591, 275134886, 1479572796, 559753699, 3686254851, 1771115250],
  },
  {
    seed: 4294967295,
    runIndex: 123456,
    state: [1470046906, 2451136584, 3790079628, 3326516510],
    outputs: [989222869, 2969900595, 3064982223, 1237671385, 3228712466, 4248147090],
  },
];

describe('exec random streams', () => {
  it('seed the state with SplitMix64 and step xoshiro128** as the C reference does', () => {
    for (const ref of REFERENCE) {
      assert.deepEqual([...seedState(ref.seed, ref.runIndex)], ref.state);
      const next = xoshiro128ss(seedState(ref.seed, ref.runIndex));
      assert.deepEqual(
        ref.outputs.map(() => next()),
        ref.outputs,
      );
    }
  });

  it('random() takes 53 bits from two outputs, as Math.random-style doubles', () => {
    for (const ref of REFERENCE) {
      const random = runRandom(ref.seed, ref.runIndex);
      for (let k = 0; k < 3; k++) {
        const high = (ref.outputs[2 * k] as number) >>> 5;
        const low = (ref.outputs[2 * k + 1] as number) >>> 6;
        assert.equal(random(), (high * 2 ** 26 + low) / 2 ** 53);
      }
    }
  });

  it('gives every run of a job its own stream', () => {
    const firsts = new Set<number>();
    for (let run = 0; run < 10_000; run++) firsts.add(runRandom(99, run)());
    assert.equal(firsts.size, 10_000);
    assert.notEqual(runRandom(1, 5)(), runRandom(2, 5)());
  });

  it('looks uniform: mean and variance of 200000 draws', () => {
    const random = runRandom(7, 0);
    let sum = 0;
    let sumSq = 0;
    const n = 200_000;
    for (let i = 0; i < n; i++) {
      const u = random();
      assert.ok(u >= 0 && u < 1);
      sum += u;
      sumSq += u * u;
    }
    const mean = sum / n;
    // Standard error of the mean of U(0,1) draws: sqrt(1/12/n) ~ 0.00065; 5 of them.
    assert.ok(Math.abs(mean - 0.5) < 0.0033, `mean ${mean}`);
    assert.ok(Math.abs(sumSq / n - mean * mean - 1 / 12) < 0.002);
  });

  describe('inside the sandbox', () => {
    const exec = new ExecService(loadConfig({ EXEC_SANDBOX: '1' }));
    after(() => exec.close());

    it('ctx.random draws the same stream as registered functions get', async () => {
      for (const [seed, runIndex] of [
        [0, 0],
        [42, 7],
        [4294967295, 123456],
      ] as const) {
        const outcome = await exec.runCode({
          code: '(args, ctx) => Array.from({ length: 50 }, () => ctx.random())',
          args: {},
          runIndex,
          seed,
          timeoutMs: 5000,
        });
        assert.ok(outcome.ok, JSON.stringify(outcome));
        const random = runRandom(seed, runIndex);
        assert.deepEqual(
          outcome.value,
          Array.from({ length: 50 }, () => random()),
        );
      }
    });

    it('user code that replaces Math.imul does not change ctx.random', async () => {
      const outcome = await exec.runCode({
        code: '(args, ctx) => { Math.imul = () => 0; return [ctx.random(), ctx.random()] }',
        args: {},
        runIndex: 3,
        seed: 11,
        timeoutMs: 5000,
      });
      const random = runRandom(11, 3);
      assert.deepEqual(outcome, {
        ok: true,
        value: [random(), random()],
        bytes: outcome.ok ? outcome.bytes : 0,
      });
    });
  });
});
