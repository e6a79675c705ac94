import { type ChildProcess, fork } from 'node:child_process';
import type { FromChild, ToChild } from './hostProtocol.ts';

/** The helper could not start: its setup failed (isolated-vm does not load, say). Permanent. */
export class HostUnavailableError extends Error {
  override name = 'HostUnavailableError';
}

/** The helper died while it worked on a request (a V8 crash, an out-of-memory kill). */
export class HostCrashedError extends Error {
  override name = 'HostCrashedError';
}

/** The request outlived its deadline; the helper was killed (the next request starts a fresh one). */
export class HostDeadlineError extends Error {
  override name = 'HostDeadlineError';
}

export interface RunHostOptions {
  /** For messages: 'sandbox', 'plugin host'. */
  name: string;
  /** Absolute path of the child's module. */
  entry: string;
  execArgv: string[];
  /** The child's whole environment (the sandbox gets an empty one: no Redis URL, no keys). */
  env: NodeJS.ProcessEnv;
  /** Sent to the child's `setup`. */
  init: unknown;
  /** How long the child may take to start. @defaultValue 30000 */
  startTimeoutMs?: number;
  /** The child is ended after this long without a request, and started again on demand. @defaultValue 60000 */
  idleMs?: number;
}

export interface RequestOptions {
  /** The child is killed when the answer takes longer than this (from the moment the child has it). */
  deadlineMs: number;
  /** Answers the child's calls during this request; without it, calls are refused. */
  onCall?: (payload: unknown) => Promise<unknown>;
}

/**
 * A helper process that answers requests one at a time: started on first use, killed when a request
 * outruns its deadline, replaced after a crash, ended when idle. Whatever happens inside it, the owner
 * gets an answer or one of the errors above, never a hang.
 */
export class RunHost {
  private child: ChildProcess | null = null;
  private starting: Promise<ChildProcess> | null = null;
  private unavailable: string | null = null;
  private queue: Promise<unknown> = Promise.resolve();
  private idleTimer: NodeJS.Timeout | null = null;
  private nextId = 0;
  private closed = false;

  constructor(private readonly options: RunHostOptions) {}

  /** Why the helper cannot start, once a start was tried and failed; null otherwise. */
  get unavailableReason(): string | null {
    return this.unavailable;
  }

  /** Starts the helper if needed; throws HostUnavailableError when it cannot run here. */
  async ensureStarted(): Promise<void> {
    await this.start();
    this.releaseWhenIdle();
  }

  request(payload: unknown, options: RequestOptions): Promise<unknown> {
    const run = this.queue.then(() => this.exchange(payload, options));
    this.queue = run.catch(() => undefined);
    return run;
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.idleTimer) clearTimeout(this.idleTimer);
    await this.starting?.catch(() => undefined);
    const child = this.child;
    this.child = null;
    if (child) await stop(child, 'SIGTERM');
  }

  private async exchange(payload: unknown, options: RequestOptions): Promise<unknown> {
    const child = await this.start();
    if (this.idleTimer) clearTimeout(this.idleTimer);
    child.channel?.ref();
    const id = this.nextId++;
    try {
      return await new Promise<unknown>((resolve, reject) => {
        const timer = setTimeout(() => {
          cleanup();
          this.kill(child);
          reject(
            new HostDeadlineError(`the ${this.options.name} did not answer within ${options.deadlineMs} ms`),
          );
        }, options.deadlineMs);
        const onExit = (code: number | null, signal: NodeJS.Signals | null) => {
          cleanup();
          reject(
            new HostCrashedError(`the ${this.options.name} process ended (${signal ?? `exit ${code}`})`),
          );
        };
        const onMessage = (message: FromChild) => {
          if (message.kind === 'reply' && message.id === id) {
            cleanup();
            resolve(message.payload);
          } else if (message.kind === 'call' && message.id === id) {
            this.answerCall(child, message.callId, message.payload, options.onCall);
          }
        };
        const cleanup = () => {
          clearTimeout(timer);
          child.off('exit', onExit);
          child.off('message', onMessage);
        };
        child.on('exit', onExit);
        child.on('message', onMessage);
        this.send(child, { kind: 'request', id, payload });
      });
    } finally {
      this.releaseWhenIdle();
    }
  }

  private answerCall(
    child: ChildProcess,
    callId: number,
    payload: unknown,
    onCall: ((payload: unknown) => Promise<unknown>) | undefined,
  ): void {
    const reply = (message: ToChild) => this.send(child, message);
    if (!onCall) {
      reply({
        kind: 'callResult',
        callId,
        ok: false,
        error: { code: 'NOT_ALLOWED', message: 'no calls here' },
      });
      return;
    }
    onCall(payload).then(
      (value) => reply({ kind: 'callResult', callId, ok: true, value }),
      (error: unknown) => {
        const e = error as { code?: unknown; message?: unknown };
        reply({
          kind: 'callResult',
          callId,
          ok: false,
          error: {
            code: typeof e.code === 'string' ? e.code : 'CALL_FAILED',
            message: typeof e.message === 'string' ? e.message : String(error),
          },
        });
      },
    );
  }

  private send(child: ChildProcess, message: ToChild): void {
    if (child.connected) child.send(message, (error) => error && undefined);
  }

  private start(): Promise<ChildProcess> {
    if (this.closed) return Promise.reject(new HostUnavailableError(`the ${this.options.name} is closed`));
    if (this.unavailable !== null) return Promise.reject(new HostUnavailableError(this.unavailable));
    if (this.child) return Promise.resolve(this.child);
    this.starting ??= this.launch().finally(() => {
      this.starting = null;
    });
    return this.starting;
  }

  private launch(): Promise<ChildProcess> {
    const { name, entry, execArgv, env, init } = this.options;
    const child = fork(entry, [], {
      execArgv,
      env,
      serialization: 'advanced',
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    return new Promise<ChildProcess>((resolve, reject) => {
      const timer = setTimeout(() => {
        cleanup();
        this.kill(child);
        reject(
          new HostCrashedError(
            `the ${name} did not start within ${this.options.startTimeoutMs ?? 30_000} ms`,
          ),
        );
      }, this.options.startTimeoutMs ?? 30_000);
      const onExit = (code: number | null, signal: NodeJS.Signals | null) => {
        cleanup();
        reject(
          new HostCrashedError(`the ${name} process ended while starting (${signal ?? `exit ${code}`})`),
        );
      };
      const onError = (error: Error) => {
        cleanup();
        reject(new HostCrashedError(`the ${name} process could not be started: ${error.message}`));
      };
      const onMessage = (message: FromChild) => {
        if (message.kind === 'ready') {
          cleanup();
          this.child = child;
          child.once('exit', () => {
            if (this.child === child) this.child = null;
          });
          resolve(child);
        } else if (message.kind === 'unavailable') {
          cleanup();
          this.unavailable = message.reason;
          this.kill(child);
          reject(new HostUnavailableError(message.reason));
        }
      };
      const cleanup = () => {
        clearTimeout(timer);
        child.off('exit', onExit);
        child.off('error', onError);
        child.off('message', onMessage);
      };
      child.on('exit', onExit);
      child.on('error', onError);
      child.on('message', onMessage);
      this.send(child, { kind: 'init', payload: init });
    });
  }

  /** Lets the owner's process exit while the helper waits, and ends the helper after idleMs. */
  private releaseWhenIdle(): void {
    const child = this.child;
    if (!child) return;
    child.channel?.unref();
    child.unref();
    if (this.idleTimer) clearTimeout(this.idleTimer);
    this.idleTimer = setTimeout(() => {
      if (this.child === child) {
        this.child = null;
        void stop(child, 'SIGTERM');
      }
    }, this.options.idleMs ?? 60_000);
    this.idleTimer.unref();
  }

  private kill(child: ChildProcess): void {
    if (this.child === child) this.child = null;
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  }
}

function stop(child: ChildProcess, signal: NodeJS.Signals): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    // Held again (it was let go while idle), so the owner waits for the exit it asked for.
    child.ref();
    child.once('exit', () => resolve());
    child.kill(signal);
    // A helper stuck in native code may ignore SIGTERM.
    setTimeout(() => child.kill('SIGKILL'), 2000).unref();
  });
}
