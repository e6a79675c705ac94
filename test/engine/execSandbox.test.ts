import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { loadConfig } from '../../src/config.ts';
import { type ExecResult, exec } from '../../src/engine/analyses/exec.ts';
import type { RunOutcome } from '../../src/engine/exec/runtime.ts';
import { noDatasetMeta } from '../../src/engine/noDataset.ts';
import { runInProcess } from '../../src/engine/runInProcess.ts';
import { ExecService } from '../../src/exec/service.ts';
import type { UserError } from '../../src/userError.ts';

const sandbox = new ExecService(
  loadConfig({ EXEC_SANDBOX: '1', API_KEYS: 'k1:alice,k2:bob', EXEC_SANDBOX_TENANTS: 'alice' }),
);
await sandbox.load();
after(() => sandbox.close());

function runCode(code: string, runIndex = 0, timeoutMs = 1000): Promise<RunOutcome> {
  return sandbox.runCode({ code, args: { n: 3 }, runIndex, seed: 1, timeoutMs });
}

async function fails(code: string, errorCode: string, message: RegExp, timeoutMs = 1000): Promise<void> {
  const outcome = await runCode(code, 0, timeoutMs);
  assert.equal(outcome.ok, false, `${code} => ${JSON.stringify(outcome)}`);
  if (outcome.ok) return;
  assert.equal(outcome.error.code, errorCode, `${code} => ${outcome.error.message}`);
  assert.match(outcome.error.message, message);
}

/** A successful outcome, with `bytes` as the length of the value's JSON. */
function okWith(value: unknown): RunOutcome {
  return { ok: true, value, bytes: Buffer.byteLength(JSON.stringify(value)) };
}

/** The sandbox still answers, correctly, after whatever came before. */
async function healthy(): Promise<void> {
  const outcome = await runCode('(args, ctx) => args.n * 2 + ctx.runIndex', 4);
  assert.deepEqual(outcome, { ok: true, value: 10, bytes: 2 });
}

describe('sandboxed code: what it can do', () => {
  it('runs fn(args, ctx) and returns a JSON copy of its value', async () => {
    assert.deepEqual(
      await runCode('(args, ctx) => ({ n: args.n, run: ctx.runIndex, list: [1, "a", null] })', 2),
      okWith({ n: 3, run: 2, list: [1, 'a', null] }),
    );
    // Async functions are awaited; undefined comes back as null.
    assert.deepEqual(await runCode('async (args) => { await null; return args.n + 1 }'), {
      ok: true,
      value: 4,
      bytes: 1,
    });
    assert.deepEqual(await runCode('() => {}'), { ok: true, value: null, bytes: 4 });
  });

  it('runs as the exec analysis: elemArgs, seeded random, run order', async () => {
    const params = {
      code: '(args, ctx) => ({ who: args.who, u: ctx.random() })',
      args: { who: 'shared' },
      elemArgs: [{}, { who: 'second' }, {}],
      seed: 77,
    };
    const result = (await runInProcess(exec, params, noDatasetMeta('local'), [], {
      exec: sandbox,
    })) as ExecResult;
    assert.deepEqual(
      result.results.map((r) => r.ok && (r.value as { who: string }).who),
      ['shared', 'second', 'shared'],
    );
    const again = await runInProcess(exec, { ...params, taskChunkSize: 2 }, noDatasetMeta('local'), [], {
      exec: sandbox,
    });
    assert.deepEqual(again, result);
  });
});

describe('sandboxed code: escape attempts fail with clear errors and the sandbox stays healthy', () => {
  const cases: [string, string, string, RegExp][] = [
    [
      'the Function constructor reaching for process',
      '() => constructor.constructor("return process")()',
      'RUN_FAILED',
      /ReferenceError: process is not defined/,
    ],
    [
      'this.constructor',
      'function () { return this.constructor.constructor("return process")() }',
      'RUN_FAILED',
      /process is not defined/,
    ],
    [
      'through ctx',
      '(args, ctx) => ctx.random.constructor("return process.env")()',
      'RUN_FAILED',
      /process is not defined/,
    ],
    [
      'require',
      '() => require("fs").readFileSync("/etc/passwd", "utf8")',
      'RUN_FAILED',
      /require is not defined/,
    ],
    [
      'import()',
      'async () => (await import("node:fs")).readFileSync("/etc/passwd", "utf8")',
      'RUN_FAILED',
      /Not supported/,
    ],
    ['an infinite loop', '() => { while (true) {} }', 'RUN_TIMEOUT', /timeoutMs of 1000 ms/],
    ['an endless chain of microtasks', 'async () => { for (;;) await null }', 'RUN_TIMEOUT', /timeoutMs/],
    ['a promise that never settles', '() => new Promise(() => {})', 'RUN_TIMEOUT', /timeoutMs/],
    [
      'a looping getter on the thrown error',
      '() => { const e = new Error("x"); Object.defineProperty(e, "message", { get() { for (;;); } }); throw e }',
      'RUN_TIMEOUT',
      /timeoutMs/,
    ],
    ['a looping toJSON', '() => ({ toJSON() { for (;;); } })', 'RUN_TIMEOUT', /timeoutMs/],
    [
      'a thrown non-Error with a looping getter',
      '() => { throw { get message() { for (;;); } } }',
      'RUN_FAILED',
      /non-Error value/,
    ],
    [
      'a memory bomb',
      '() => { const keep = []; for (;;) keep.push(new Array(1e6).fill(1.5)) }',
      'RUN_MEMORY_LIMIT',
      /64 MB/,
    ],
    ['a huge buffer', '() => new ArrayBuffer(2 ** 31).byteLength', 'RUN_FAILED', /RangeError/],
    ['a huge result', '() => "x".repeat(5e6)', 'RESULT_TOO_LARGE', /at most 1048576 bytes/],
    ['a cyclic result', '() => { const o = {}; o.self = o; return o }', 'RESULT_NOT_JSON', /circular/i],
    ['a BigInt result', '() => 10n ** 30n', 'RESULT_NOT_JSON', /BigInt/],
    ['code that is not a function', '"just a string"', 'CODE_NOT_A_FUNCTION', /function expression/],
  ];
  for (const [name, code, errorCode, message] of cases) {
    it(name, async () => {
      await fails(code, errorCode, message);
      await healthy();
    });
  }

  it('sees only ECMAScript built-ins: none of Node globals exist', async () => {
    const outcome = await runCode(
      '() => ["process", "require", "module", "Buffer", "setTimeout", "setImmediate", "fetch", "console", "WebAssembly", "SharedArrayBuffer", "global"].filter((n) => typeof globalThis[n] !== "undefined")',
    );
    // WebAssembly, SharedArrayBuffer and console are V8's own built-ins (V8's console writes nowhere
    // without an inspector); none of them leads out of the isolate.
    assert.ok(outcome.ok);
    assert.deepEqual(
      (outcome.value as string[]).filter((n) => !['WebAssembly', 'SharedArrayBuffer', 'console'].includes(n)),
      [],
    );
  });

  it('prototype pollution stays in its run: every run gets a fresh isolate', async () => {
    const polluted = await runCode(
      '() => { Object.prototype.polluted = "yes"; Array.prototype.map = null; JSON.stringify = () => "forged"; globalThis.leak = 1; return 1 }',
    );
    assert.deepEqual(polluted, { ok: true, value: 1, bytes: 1 });
    const next = await runCode('() => [({}).polluted ?? "clean", typeof [].map, typeof globalThis.leak]');
    assert.deepEqual(next, okWith(['clean', 'function', 'undefined']));
  });

  it('replacing JSON.stringify inside the run does not forge its envelope', async () => {
    const outcome = await runCode(
      '() => { JSON.stringify = () => \'{"ok":true,"value":"forged"}\'; return "real" }',
    );
    assert.deepEqual(outcome, { ok: true, value: 'real', bytes: 6 });
  });
});

describe('sandboxed code: who may send it', () => {
  const reason = (promise: Promise<unknown>) =>
    promise.then(
      () => assert.fail('expected a refusal'),
      (error: UserError) => ({ status: error.status, code: error.code, message: error.message }),
    );

  it('an allowed tenant gets its code compiled and a seed picked', async () => {
    const params = await sandbox.preflight('alice', { code: '(a, ctx) => ctx.random()', timesToRun: 2 });
    assert.ok(Number.isInteger(params['seed']) && (params['seed'] as number) >= 0);
    assert.deepEqual(await sandbox.preflight('alice', { code: 'x => x', seed: 5 }), {
      code: 'x => x',
      seed: 5,
    });
  });

  it('syntax errors are 400 INVALID_CODE with the line', async () => {
    const refused = await reason(sandbox.preflight('alice', { code: '(a) =>\n  a +' }));
    assert.equal(refused.status, 400);
    assert.equal(refused.code, 'INVALID_CODE');
    assert.match(refused.message, /code\.js:3/);
    // Code that would close the wrapper's parenthesis and return early does not compile on its own.
    const breakout = await reason(sandbox.preflight('alice', { code: '0); return "forged"; (0' }));
    assert.equal(breakout.code, 'INVALID_CODE');
  });

  it('another tenant: 403 SANDBOX_NOT_ALLOWED', async () => {
    const refused = await reason(sandbox.preflight('bob', { code: 'x => x' }));
    assert.deepEqual([refused.status, refused.code], [403, 'SANDBOX_NOT_ALLOWED']);
    assert.match(refused.message, /EXEC_SANDBOX_TENANTS/);
  });

  it('EXEC_SANDBOX off: 403 SANDBOX_DISABLED, and workers refuse code too', async () => {
    const off = new ExecService(loadConfig({}));
    try {
      const refused = await reason(off.preflight('local', { code: 'x => x' }));
      assert.deepEqual([refused.status, refused.code], [403, 'SANDBOX_DISABLED']);
      const outcome = await off.runCode({ code: '() => 1', args: {}, runIndex: 0, seed: 0, timeoutMs: 1000 });
      assert.equal(!outcome.ok && outcome.error.code, 'SANDBOX_DISABLED');
    } finally {
      await off.close();
    }
  });

  it('isolation that cannot load: 501 SANDBOX_UNAVAILABLE with the reason, never an unsandboxed run', async () => {
    const broken = new ExecService(loadConfig({ EXEC_SANDBOX: '1' }), {
      sandboxModule: 'isolated-vm-not-installed',
    });
    try {
      assert.match((await broken.sandboxProblem()) ?? '', /isolated-vm-not-installed.*does not load/);
      const refused = await reason(broken.preflight('local', { code: 'x => x' }));
      assert.deepEqual([refused.status, refused.code], [501, 'SANDBOX_UNAVAILABLE']);
      const outcome = await broken.runCode({
        code: '() => 1',
        args: {},
        runIndex: 0,
        seed: 0,
        timeoutMs: 1000,
      });
      assert.equal(!outcome.ok && outcome.error.code, 'EXEC_UNAVAILABLE');
    } finally {
      await broken.close();
    }
  });
});
