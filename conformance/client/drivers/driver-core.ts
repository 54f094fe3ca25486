/**
 * The driver logic of the reference client, independent of where it runs: the Node driver feeds it
 * stdin lines, the Chromium driver runs it inside a page on the browser bundle. It maps the contract's
 * commands (spec/client-driver.md) to `MooringClient` calls and the client's events to contract events.
 * Nothing here imports Node or DOM modules.
 */
import type { DriverCommand, DriverEvent } from '../contract.js';

/** The part of `MooringClient` the driver uses (the Node and the browser builds both fit). */
export interface ClientLike {
  on(event: string, listener: (e: never) => void): () => void;
  connect(): void;
  close(): void;
  checkLiveness(): void;
  request(action: string, payload?: unknown, opts?: { timeout?: number }): Promise<unknown>;
  subscribe(channel: string, handler: (data: unknown, meta: never) => void, opts?: { onGap?: (g: never) => void }): () => void;
}

export interface DriverHooks {
  /** Extra client options (tests of broken clients patch behaviour through them). */
  clientOptions?: Record<string, unknown>;
  /** Called with the new client (before `connect()`). */
  onClient?: (client: ClientLike) => void;
}

export function createDriver(
  Client: new (opts: Record<string, unknown>) => ClientLike,
  emit: (e: DriverEvent) => void,
  hooks: DriverHooks = {},
): { handle(cmd: DriverCommand): Promise<void> } {
  let client: ClientLike | undefined;
  let fetchSeq = 0;
  const waiting = new Map<number, { resolve: (t: string) => void; reject: (e: Error) => void }>();
  const subs = new Map<string, () => void>();

  const token = ({ reason }: { reason: string }) =>
    new Promise<string>((resolve, reject) => {
      const fetch = ++fetchSeq;
      waiting.set(fetch, { resolve, reject });
      emit({ event: 'token_request', fetch, reason });
    });

  function make(url: string, settings: { backoffBaseMs: number; backoffCapMs: number; stableAfterMs: number }): ClientLike {
    const c = new Client({
      url,
      token,
      backoffBaseMs: settings.backoffBaseMs,
      backoffCapMs: settings.backoffCapMs,
      stableAfterMs: settings.stableAfterMs,
      ...hooks.clientOptions,
    });
    c.on('state', ((e: { type: string; code?: number; reason?: string; closeClass?: string; willRetry?: boolean; delayMs?: number }) => {
      emit({
        event: 'state',
        state: e.type,
        ...(e.code !== undefined ? { code: e.code } : {}),
        ...(e.reason !== undefined ? { reason: e.reason } : {}),
        ...(e.closeClass !== undefined ? { closeClass: e.closeClass } : {}),
        ...(e.willRetry !== undefined ? { willRetry: e.willRetry } : {}),
        ...(e.delayMs !== undefined ? { delayMs: Math.round(e.delayMs) } : {}),
      });
    }) as (e: never) => void);
    c.on('server_error', ((e: { code: string; message: string }) => emit({ event: 'server_error', code: e.code, message: e.message })) as (e: never) => void);
    c.on('invalid_frame', ((e: { message: string }) => emit({ event: 'log', message: `ignored invalid frame: ${e.message}` })) as (e: never) => void);
    hooks.onClient?.(c);
    return c;
  }

  async function handle(cmd: DriverCommand): Promise<void> {
    switch (cmd.cmd) {
      case 'connect':
        client ??= make(cmd.url, cmd.settings);
        client.connect();
        return;
      case 'token': {
        const w = waiting.get(cmd.fetch);
        waiting.delete(cmd.fetch);
        if (!w) throw new Error(`no token request ${cmd.fetch}`);
        if (typeof cmd.token === 'string') w.resolve(cmd.token);
        else w.reject(new Error(cmd.error ?? 'no token'));
        return;
      }
      case 'subscribe': {
        if (!client) throw new Error('connect first');
        if (subs.has(cmd.channel)) return;
        const channel = cmd.channel;
        subs.set(
          channel,
          client.subscribe(
            channel,
            ((data: unknown, meta: { position: { epoch: string; offset: number }; replay: boolean }) =>
              emit({ event: 'push', channel, data, position: meta.position, replay: meta.replay })) as (d: unknown, m: never) => void,
            { onGap: ((g: { reason: string }) => emit({ event: 'gap', channel, reason: g.reason })) as (g: never) => void },
          ),
        );
        return;
      }
      case 'unsubscribe':
        subs.get(cmd.channel)?.();
        subs.delete(cmd.channel);
        return;
      case 'request': {
        if (!client) throw new Error('connect first');
        const ref = cmd.ref;
        client.request(cmd.action, cmd.payload, cmd.timeoutMs !== undefined ? { timeout: cmd.timeoutMs } : {}).then(
          (data) => emit({ event: 'response', ref, ok: true, ...(data !== undefined ? { data } : {}) }),
          (err: { code?: string; message?: string }) => emit({ event: 'response', ref, ok: false, code: err.code ?? 'error', message: err.message ?? '' }),
        );
        return;
      }
      case 'close':
        client?.close();
        return;
      case 'liveness':
        client?.checkLiveness();
        return;
      case 'visibility':
        throw new Error('unsupported');
      case 'exit':
        client?.close();
        return;
    }
  }

  return { handle };
}
