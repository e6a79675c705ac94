/**
 * The random numbers of exec runs: one independent stream per (seed, run index), so a run draws the same
 * numbers whichever worker runs it and however many workers there are (RevoScaleR's MT2203 substreams
 * are per worker, which ties results to the cluster; per-run streams do not).
 *
 * - Seeding: SplitMix64 (Steele, Lea, Flood 2014) over the 64-bit key `seed * 2^32 + runIndex`. SplitMix64's
 *   output function is a bijection, so distinct keys give distinct first outputs: no two runs of a job
 *   (and no two seeds for one run) start from the same state.
 * - Generator: xoshiro128** 1.1 (Blackman and Vigna 2018), 32-bit arithmetic only, so it is as fast in
 *   plain JavaScript as in the sandbox. A double takes two outputs (53 random bits), as `Math.random`.
 *
 * The sandbox cannot call into this process, so it gets the generator as source text (RANDOM_SOURCE);
 * test/engine/execRandom.test.ts checks that both give identical streams, and both against outputs of
 * the authors' C reference code.
 */

export type RandomState = readonly [number, number, number, number];

const MASK64 = (1n << 64n) - 1n;

/** The four 32-bit state words of run `runIndex`'s generator (both arguments in 0 .. 2^32 - 1). */
export function seedState(seed: number, runIndex: number): RandomState {
  if (!Number.isInteger(seed) || seed < 0 || seed > 0xffffffff) throw new RangeError(`seed ${seed}`);
  if (!Number.isInteger(runIndex) || runIndex < 0 || runIndex > 0xffffffff)
    throw new RangeError(`runIndex ${runIndex}`);
  let x = (BigInt(seed) << 32n) | BigInt(runIndex);
  const next = (): bigint => {
    x = (x + 0x9e3779b97f4a7c15n) & MASK64;
    let z = x;
    z = ((z ^ (z >> 30n)) * 0xbf58476d1ce4e5b9n) & MASK64;
    z = ((z ^ (z >> 27n)) * 0x94d049bb133111ebn) & MASK64;
    return z ^ (z >> 31n);
  };
  const a = next();
  const b = next();
  const words: [number, number, number, number] = [
    Number(a >> 32n),
    Number(a & 0xffffffffn),
    Number(b >> 32n),
    Number(b & 0xffffffffn),
  ];
  // xoshiro must not start from all zeros (it would stay there); SplitMix64 makes that impossible in
  // practice, and this keeps it impossible in principle.
  if ((words[0] | words[1] | words[2] | words[3]) === 0) words[3] = 1;
  return words;
}

/** xoshiro128** over `state`: each call returns the next 32-bit output. */
export function xoshiro128ss(state: RandomState): () => number {
  let [s0, s1, s2, s3] = state;
  return () => {
    const times5 = Math.imul(s1, 5);
    const result = Math.imul((times5 << 7) | (times5 >>> 25), 9) >>> 0;
    const t = s1 << 9;
    s2 ^= s0;
    s3 ^= s1;
    s1 ^= s2;
    s0 ^= s3;
    s2 ^= t;
    s3 = (s3 << 11) | (s3 >>> 21);
    return result;
  };
}

/** `random()` in [0, 1) with 53 random bits, for run `runIndex` of a job seeded with `seed`. */
export function runRandom(seed: number, runIndex: number): () => number {
  const next = xoshiro128ss(seedState(seed, runIndex));
  return () => {
    const high = next() >>> 5;
    const low = next() >>> 6;
    return (high * 67108864 + low) / 9007199254740992;
  };
}

/**
 * The same generator as a function expression, as source, taking the four state words and returning
 * `random()`: what sandboxed code gets as `ctx.random` (written in ES5 so it needs nothing from the
 * sandbox's globals beyond Math.imul, captured before user code runs).
 */
export const RANDOM_SOURCE = `(function (imul, s0, s1, s2, s3) {
  s0 >>>= 0; s1 >>>= 0; s2 >>>= 0; s3 >>>= 0;
  function next() {
    var times5 = imul(s1, 5);
    var result = imul((times5 << 7) | (times5 >>> 25), 9) >>> 0;
    var t = (s1 << 9) >>> 0;
    s2 = (s2 ^ s0) >>> 0;
    s3 = (s3 ^ s1) >>> 0;
    s1 = (s1 ^ s2) >>> 0;
    s0 = (s0 ^ s3) >>> 0;
    s2 = (s2 ^ t) >>> 0;
    s3 = ((s3 << 11) | (s3 >>> 21)) >>> 0;
    return result;
  }
  return function random() {
    var high = next() >>> 5;
    var low = next() >>> 6;
    return (high * 67108864 + low) / 9007199254740992;
  };
})`;
