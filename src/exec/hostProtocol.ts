/**
 * The messages between a worker (or the API) and one of its exec helper processes (runHost.ts on the
 * parent side, `serveHost` here on the child side). Requests are answered one at a time; while it works
 * on a request the child may call back into the parent (a plugin reading a chunk through the job's
 * JobIO), so everything the child can reach goes through the parent's checks.
 */

export type ToChild =
  | { kind: 'init'; payload: unknown }
  | { kind: 'request'; id: number; payload: unknown }
  | { kind: 'callResult'; callId: number; ok: true; value: unknown }
  | { kind: 'callResult'; callId: number; ok: false; error: { code: string; message: string } };

export type FromChild =
  | { kind: 'ready' }
  | { kind: 'unavailable'; reason: string }
  | { kind: 'reply'; id: number; payload: unknown }
  | { kind: 'call'; id: number; callId: number; payload: unknown };

/** An error the parent answered a call with; `code` is the parent's (e.g. DATASET_NOT_FOUND). */
export class CallError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'CallError';
  }
}

export interface HostHandlers {
  /** Runs once, with the parent's init payload; throwing reports the host unavailable (with the reason). */
  setup(init: unknown): Promise<void>;
  /** Answers one request; `call` asks the parent something and waits for its answer. */
  handle(request: unknown, call: (payload: unknown) => Promise<unknown>): Promise<unknown>;
}

/** The child side: serves requests until the parent goes away. */
export function serveHost(handlers: HostHandlers): void {
  const send = (message: FromChild): void => {
    process.send?.(message);
  };
  const pending = new Map<number, { resolve(value: unknown): void; reject(error: Error): void }>();
  let nextCall = 0;
  let ready = false;
  // The parent going away (a killed worker) ends this process: nothing here outlives its owner.
  process.on('disconnect', () => process.exit(0));
  process.on('message', (raw: ToChild) => {
    if (raw.kind === 'init') {
      handlers.setup(raw.payload).then(
        () => {
          ready = true;
          send({ kind: 'ready' });
        },
        (error: unknown) => {
          send({ kind: 'unavailable', reason: (error as Error).message ?? String(error) });
          // Let the message go out before leaving.
          setTimeout(() => process.exit(0), 50);
        },
      );
    } else if (raw.kind === 'callResult') {
      const waiter = pending.get(raw.callId);
      pending.delete(raw.callId);
      if (raw.ok) waiter?.resolve(raw.value);
      else waiter?.reject(new CallError(raw.error.code, raw.error.message));
    } else if (raw.kind === 'request' && ready) {
      const id = raw.id;
      const call = (payload: unknown): Promise<unknown> =>
        new Promise((resolve, reject) => {
          const callId = nextCall++;
          pending.set(callId, { resolve, reject });
          send({ kind: 'call', id, callId, payload });
        });
      handlers.handle(raw.payload, call).then(
        (payload) => send({ kind: 'reply', id, payload }),
        (error: unknown) =>
          send({
            kind: 'reply',
            id,
            payload: { ok: false, error: { code: 'HOST_ERROR', message: (error as Error).message } },
          }),
      );
    }
  });
}
