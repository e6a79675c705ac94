import { randomInt } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { tableToIPC } from 'apache-arrow';
import type { Config } from '../config.ts';
import { seedState } from '../engine/exec/random.ts';
import type {
  CodeRunRequest,
  ExecLimits,
  ExecRuntime,
  FunctionRunRequest,
  RegisteredFunctionInfo,
  RunOutcome,
} from '../engine/exec/runtime.ts';
import { lookupVariable } from '../engine/formula/variables.ts';
import type { JobIO } from '../engine/jobIO.ts';
import { UserError } from '../userError.ts';
import type { PluginCall, PluginHostInit, PluginReply, PluginRunRequest } from './pluginHost.ts';
import { loadPlugins, type PluginSet } from './plugins.ts';
import { HostCrashedError, HostDeadlineError, HostUnavailableError, RunHost } from './runHost.ts';
import type { SandboxInit, SandboxReply, SandboxRequest } from './sandboxHost.ts';

export type ExecSettings = Pick<
  Config,
  | 'execPluginDirs'
  | 'execSandbox'
  | 'execSandboxTenants'
  | 'execMaxTimeoutMs'
  | 'execSandboxMemoryMb'
  | 'execMaxResultBytes'
  | 'execMaxJobResultBytes'
  | 'execMaxRuns'
>;

export interface ExecServiceOptions {
  /** The sandbox's isolation module; tests name a missing one to see the 501 path. @defaultValue isolated-vm */
  sandboxModule?: string;
  /** Helpers end after this long without work. @defaultValue 60000 */
  idleMs?: number;
}

const PLUGIN_HOST = fileURLToPath(new URL('./pluginHost.ts', import.meta.url));
const SANDBOX_HOST = fileURLToPath(new URL('./sandboxHost.ts', import.meta.url));
/** The helpers are TypeScript like the rest: they load through tsx, found from here (not from the cwd). */
const TSX = import.meta.resolve('tsx');
/** How long the sandbox may overrun a run's own limit before its process is killed (it enforces the limit itself). */
const SANDBOX_DEADLINE_GRACE_MS = 5000;
const COMPILE_DEADLINE_MS = 10_000;

/**
 * The exec machinery of one process (a worker, or the API for checks at submit): the registered
 * functions, the plugin host that runs them, and the sandbox that runs request code. Implements the
 * engine's ExecRuntime. Helpers start on first use and end when idle.
 */
export class ExecService implements ExecRuntime {
  readonly limits: ExecLimits;
  private plugins: PluginSet | null = null;
  private loading: Promise<PluginSet> | null = null;
  private readonly pluginHost: RunHost;
  private readonly sandbox: RunHost | null;

  constructor(
    private readonly settings: ExecSettings,
    options: ExecServiceOptions = {},
  ) {
    this.limits = {
      maxRuns: settings.execMaxRuns,
      maxTimeoutMs: settings.execMaxTimeoutMs,
      maxResultBytes: settings.execMaxResultBytes,
      maxJobResultBytes: settings.execMaxJobResultBytes,
    };
    const idleMs = options.idleMs ?? 60_000;
    this.pluginHost = new RunHost({
      name: 'plugin host',
      entry: PLUGIN_HOST,
      execArgv: ['--import', TSX],
      env: process.env,
      init: { dirs: settings.execPluginDirs } satisfies PluginHostInit,
      idleMs,
    });
    this.sandbox = settings.execSandbox
      ? new RunHost({
          name: 'sandbox',
          entry: SANDBOX_HOST,
          // isolated-vm on Node 20+ needs --no-node-snapshot. The empty environment keeps the worker's
          // secrets (REDIS_URL, API_KEYS) out of the process that runs untrusted code.
          execArgv: ['--import', TSX, '--no-node-snapshot'],
          env: {},
          init: { module: options.sandboxModule ?? 'isolated-vm' } satisfies SandboxInit,
          idleMs,
        })
      : null;
  }

  /** Loads the registered functions once; the synchronous lookups below need it done. */
  async load(): Promise<PluginSet> {
    this.loading ??= loadPlugins(this.settings.execPluginDirs).then((set) => {
      this.plugins = set;
      return set;
    });
    return this.loading;
  }

  functionInfo(name: string): RegisteredFunctionInfo | undefined {
    const plugin = this.loaded().get(name);
    if (plugin === undefined) return undefined;
    return {
      name: plugin.name,
      argsSchema: plugin.argsSchema,
      ...(plugin.description === undefined ? {} : { description: plugin.description }),
    };
  }

  functionNames(): string[] {
    return this.loaded().names();
  }

  /** Whether the sandbox can run here: null when it can, else why not (EXEC_SANDBOX off, no isolated-vm). */
  async sandboxProblem(): Promise<string | null> {
    if (!this.sandbox) return 'EXEC_SANDBOX is off';
    try {
      await this.sandbox.ensureStarted();
      return null;
    } catch (error) {
      return (error as Error).message;
    }
  }

  /**
   * What the API checks of an exec job before it is queued, beyond its params schema and `init`: that
   * sandboxed code is allowed for this tenant and compiles. Returns the params with the seed the job
   * will use (picked here when absent, and recorded with the job, so a run can be repeated).
   */
  async preflight(tenant: string, params: Record<string, unknown>): Promise<Record<string, unknown>> {
    for (const name of ['transforms', 'rowSelection']) {
      if (params[name] !== undefined) {
        throw new UserError(
          400,
          'NOT_SUPPORTED',
          `exec does not take ${name}: a registered function reads the data itself (ctx.readChunk)`,
        );
      }
    }
    if (typeof params['code'] === 'string') await this.checkCode(tenant, params['code']);
    if (params['seed'] === undefined) return { ...params, seed: randomInt(0, 2 ** 32) };
    return params;
  }

  async runFunction(request: FunctionRunRequest, io: JobIO): Promise<RunOutcome> {
    const payload: PluginRunRequest = {
      function: request.function,
      args: request.args,
      runIndex: request.runIndex,
      seed: request.seed,
      dataset: request.dataset,
      partition: request.partition,
      maxResultBytes: this.limits.maxResultBytes,
    };
    try {
      const reply = (await this.pluginHost.request(payload, {
        deadlineMs: request.timeoutMs,
        onCall: (call) => answerCall(call as PluginCall, io),
      })) as PluginReply;
      return this.outcome(reply);
    } catch (error) {
      return hostFailure(error, request.timeoutMs, 'RUN_CRASHED', 'the run ended the plugin host process');
    }
  }

  async runCode(request: CodeRunRequest): Promise<RunOutcome> {
    if (!this.sandbox) {
      return {
        ok: false,
        error: {
          code: 'SANDBOX_DISABLED',
          message: 'this worker does not run sandboxed code (EXEC_SANDBOX is off)',
        },
      };
    }
    const payload: SandboxRequest = {
      type: 'run',
      code: request.code,
      argsJson: JSON.stringify(request.args),
      runIndex: request.runIndex,
      state: seedState(request.seed, request.runIndex),
      timeoutMs: request.timeoutMs,
      memoryMb: this.settings.execSandboxMemoryMb,
      maxResultBytes: this.limits.maxResultBytes,
    };
    try {
      const reply = (await this.sandbox.request(payload, {
        deadlineMs: request.timeoutMs + SANDBOX_DEADLINE_GRACE_MS,
      })) as SandboxReply;
      return this.outcome(reply);
    } catch (error) {
      return hostFailure(
        error,
        request.timeoutMs,
        'SANDBOX_CRASHED',
        'the sandbox process died during the run (V8 gave up on it, typically out of memory)',
      );
    }
  }

  async close(): Promise<void> {
    await Promise.all([this.pluginHost.close(), this.sandbox?.close()]);
  }

  private loaded(): PluginSet {
    if (this.plugins === null) throw new Error('ExecService: call load() before looking functions up');
    return this.plugins;
  }

  private async checkCode(tenant: string, code: string): Promise<void> {
    if (!this.sandbox) {
      throw new UserError(
        403,
        'SANDBOX_DISABLED',
        'this server does not run code sent in requests (EXEC_SANDBOX is off): call a registered function instead',
      );
    }
    const tenants = this.settings.execSandboxTenants;
    if (tenants !== '*' && !tenants.has(tenant)) {
      throw new UserError(
        403,
        'SANDBOX_NOT_ALLOWED',
        `your API key (tenant '${tenant}') may not run sandboxed code; the operator allows tenants in EXEC_SANDBOX_TENANTS`,
      );
    }
    let reply: SandboxReply;
    try {
      reply = (await this.sandbox.request({ type: 'compile', code } satisfies SandboxRequest, {
        deadlineMs: COMPILE_DEADLINE_MS,
      })) as SandboxReply;
    } catch (error) {
      if (error instanceof HostUnavailableError) {
        throw new UserError(
          501,
          'SANDBOX_UNAVAILABLE',
          `sandboxed code cannot run on this server: ${error.message}`,
        );
      }
      throw new UserError(
        503,
        'SANDBOX_UNAVAILABLE',
        `the sandbox did not answer: ${(error as Error).message}`,
      );
    }
    if (!reply.ok) {
      throw new UserError(
        400,
        'INVALID_CODE',
        `code is not a valid JavaScript expression: ${reply.error.message}`,
      );
    }
  }

  /** A helper's reply as a run outcome; its JSON is parsed here, so nothing but JSON data gets through. */
  private outcome(reply: PluginReply | SandboxReply): RunOutcome {
    if (typeof reply !== 'object' || reply === null) return malformed();
    if (reply.ok === false) {
      const { code, message } = reply.error ?? {};
      if (typeof code !== 'string' || typeof message !== 'string') return malformed();
      return { ok: false, error: { code, message } };
    }
    if (typeof reply.json !== 'string') return malformed();
    const bytes = Buffer.byteLength(reply.json);
    if (bytes > this.limits.maxResultBytes) {
      return {
        ok: false,
        error: {
          code: 'RESULT_TOO_LARGE',
          message: `the value is ${bytes} bytes of JSON; a run may return at most ${this.limits.maxResultBytes} bytes`,
        },
      };
    }
    try {
      return { ok: true, value: JSON.parse(reply.json), bytes };
    } catch {
      return malformed();
    }
  }
}

function malformed(): RunOutcome {
  return { ok: false, error: { code: 'RUN_FAILED', message: 'the run handed back a malformed result' } };
}

function hostFailure(error: unknown, timeoutMs: number, crashCode: string, crashMessage: string): RunOutcome {
  if (error instanceof HostDeadlineError) {
    return {
      ok: false,
      error: { code: 'RUN_TIMEOUT', message: `the run took longer than its timeoutMs of ${timeoutMs} ms` },
    };
  }
  if (error instanceof HostCrashedError) {
    return { ok: false, error: { code: crashCode, message: `${crashMessage}: ${error.message}` } };
  }
  if (error instanceof HostUnavailableError) {
    return { ok: false, error: { code: 'EXEC_UNAVAILABLE', message: error.message } };
  }
  throw error;
}

/** A plugin's request for data, answered through the job's JobIO (so only the tenant's datasets). */
async function answerCall(call: PluginCall, io: JobIO): Promise<unknown> {
  if (call.op === 'readChunk' && typeof call.dataset === 'string' && Number.isInteger(call.index)) {
    const meta = await io.datasetMeta(call.dataset);
    if (call.index < 0 || call.index >= meta.numChunks) {
      throw new UserError(
        400,
        'CHUNK_OUT_OF_RANGE',
        `dataset '${call.dataset}' has chunks 0..${meta.numChunks - 1}, not ${call.index}`,
      );
    }
    for (const column of call.columns ?? []) lookupVariable(meta, column);
    const table = await io.readChunk(call.dataset, call.index, call.columns ?? undefined);
    return tableToIPC(table, 'stream');
  }
  if (call.op === 'datasetMeta' && typeof call.dataset === 'string') return io.datasetMeta(call.dataset);
  throw new UserError(400, 'BAD_CALL', 'the plugin host asked for something it may not');
}
