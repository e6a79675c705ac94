/**
 * The sandbox: a helper process (started by src/exec/service.ts with `--no-node-snapshot`, which
 * isolated-vm needs on Node 20, and an EMPTY environment) that runs untrusted JavaScript in isolated-vm
 * isolates. Each run gets a fresh isolate (its own V8 heap, capped at memoryMb) and a fresh context:
 * only ECMAScript's built-ins, no `process`, `require`, `import()`, timers, file system or network,
 * and nothing of this process is handed in (no References, no callbacks: arguments go in as copies,
 * the result comes out as one string). Runs share nothing, so a run cannot see or disturb another.
 *
 * Defence in depth: this process holds no secrets (empty env), has no data access (it answers only
 * `check`, `compile` and `run`), and the worker kills and replaces it when a request outlives its
 * deadline or it dies (V8 can abort a whole process on some out-of-memory paths).
 */
import type IsolatedVm from 'isolated-vm';
import { serveHost } from './hostProtocol.ts';
import { checkSource, runSource } from './sandboxSource.ts';

type Ivm = typeof IsolatedVm;

export interface SandboxInit {
  /** The module to load; tests point it elsewhere to see the unavailable path. */
  module: string;
}

export type SandboxRequest =
  | { type: 'compile'; code: string }
  | {
      type: 'run';
      code: string;
      argsJson: string;
      runIndex: number;
      state: readonly [number, number, number, number];
      timeoutMs: number;
      memoryMb: number;
      maxResultBytes: number;
    };

export type SandboxReply =
  | { ok: true; json?: string; bytes?: number }
  | { ok: false; error: { code: string; message: string } };

/** Codes a run may report from inside the isolate; anything else it claims is not believed. */
const INSIDE_CODES = new Set(['RUN_FAILED', 'RESULT_NOT_JSON', 'RESULT_TOO_LARGE', 'CODE_NOT_A_FUNCTION']);
/** Grace for the isolate's own timeout before this process disposes the isolate itself. */
const DISPOSE_GRACE_MS = 250;

let ivm: Ivm;

function errorMessage(error: unknown): string {
  // Errors here come from isolated-vm or V8 (errors thrown by user code are turned into text inside).
  return error instanceof Error ? error.message : String(error);
}

async function compile(code: string): Promise<SandboxReply> {
  const isolate = new ivm.Isolate({ memoryLimit: 32 });
  try {
    await isolate.compileScript(checkSource(code), { filename: 'code.js' });
    return { ok: true };
  } catch (error) {
    return { ok: false, error: { code: 'INVALID_CODE', message: errorMessage(error) } };
  } finally {
    if (!isolate.isDisposed) isolate.dispose();
  }
}

/** Reads the one string a run hands back; nothing in it is taken on trust. */
function fromIsolate(text: unknown, maxResultBytes: number): SandboxReply {
  const malformed: SandboxReply = {
    ok: false,
    error: { code: 'RUN_FAILED', message: 'the run handed back something other than its result' },
  };
  if (typeof text !== 'string') return malformed;
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return malformed;
  }
  if (typeof parsed !== 'object' || parsed === null) return malformed;
  const reply = parsed as { ok?: unknown; value?: unknown; code?: unknown; message?: unknown };
  if (reply.ok === true) {
    const json = JSON.stringify(reply.value ?? null);
    const bytes = Buffer.byteLength(json);
    if (bytes > maxResultBytes) {
      return {
        ok: false,
        error: {
          code: 'RESULT_TOO_LARGE',
          message: `the value is ${bytes} bytes of JSON; a run may return at most ${maxResultBytes} bytes`,
        },
      };
    }
    return { ok: true, json, bytes };
  }
  if (reply.ok !== false || typeof reply.code !== 'string' || !INSIDE_CODES.has(reply.code)) return malformed;
  return {
    ok: false,
    error: {
      code: reply.code,
      message: typeof reply.message === 'string' ? reply.message.slice(0, 2100) : '',
    },
  };
}

async function run(request: Extract<SandboxRequest, { type: 'run' }>): Promise<SandboxReply> {
  const isolate = new ivm.Isolate({
    memoryLimit: request.memoryMb,
    // isolated-vm's last resort when V8 lost control of the isolate: this process cannot be trusted
    // any more. The worker sees it die, fails the run, and starts a fresh sandbox for the next one.
    onCatastrophicError: (message) => {
      console.error(`sandbox: catastrophic V8 error, ending the sandbox process: ${message}`);
      process.abort();
    },
  });
  let disposedByGuard = false;
  // The isolate's timeout covers the run's synchronous part and its microtasks; a promise that never
  // settles would leave evalClosure waiting, so the isolate is disposed a little after the limit.
  const guard = setTimeout(() => {
    disposedByGuard = true;
    if (!isolate.isDisposed) isolate.dispose();
  }, request.timeoutMs + DISPOSE_GRACE_MS);
  try {
    const context = await isolate.createContext();
    const text = await context.evalClosure(
      runSource(request.code),
      [request.argsJson, request.runIndex, ...request.state, request.maxResultBytes],
      {
        timeout: request.timeoutMs,
        filename: 'code.js',
        arguments: { copy: true },
        result: { copy: true, promise: true },
      },
    );
    return fromIsolate(text, request.maxResultBytes);
  } catch (error) {
    const message = errorMessage(error);
    if (disposedByGuard || /timed out/i.test(message)) {
      return {
        ok: false,
        error: {
          code: 'RUN_TIMEOUT',
          message: `the run took longer than its timeoutMs of ${request.timeoutMs} ms`,
        },
      };
    }
    if (/memory limit/i.test(message)) {
      return {
        ok: false,
        error: {
          code: 'RUN_MEMORY_LIMIT',
          message: `the run used more than the sandbox's ${request.memoryMb} MB of memory (EXEC_SANDBOX_MEMORY_MB)`,
        },
      };
    }
    if (error instanceof SyntaxError || /^SyntaxError/.test(message)) {
      return { ok: false, error: { code: 'INVALID_CODE', message } };
    }
    return { ok: false, error: { code: 'SANDBOX_ERROR', message } };
  } finally {
    clearTimeout(guard);
    if (!isolate.isDisposed) isolate.dispose();
  }
}

serveHost({
  async setup(init) {
    const { module } = init as SandboxInit;
    let loaded: { default?: Ivm } & Ivm;
    try {
      loaded = (await import(module)) as { default?: Ivm } & Ivm;
    } catch (error) {
      throw new Error(`the ${module} package does not load here: ${errorMessage(error)}`);
    }
    ivm = loaded.default ?? loaded;
    // A first isolate proves the native addon works in this Node (and with these flags).
    const isolate = new ivm.Isolate({ memoryLimit: 8 });
    try {
      const context = await isolate.createContext();
      if ((await context.eval('6 * 7')) !== 42) throw new Error('a test isolate computed a wrong answer');
    } finally {
      isolate.dispose();
    }
  },
  async handle(raw) {
    const request = raw as SandboxRequest;
    if (request.type === 'compile') return compile(request.code);
    return run(request);
  },
});
