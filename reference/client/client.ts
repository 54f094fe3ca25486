/**
 * `MooringClient`: the I/O driver over the sans-I/O client core (`reference/core/client`). It owns
 * the socket, one timer armed at the core's next deadline, the token function, the promises of
 * requests and the handlers of subscriptions; every protocol decision is the core's.
 * Runs in browsers and in Node: nothing here imports Node modules (the Node entry adds `ws`).
 */
import { ClientCore } from '../core/client/client-core.js';
import type {
  ClientEvent,
  ClientState,
  CoreAction,
  CoreInput,
  Diagnostics,
  GapInfo,
  PushMeta,
  TokenReason,
} from '../core/client/types.js';
import { heartbeatUrlFor, resolveOptions, type ClientOptions, type ResolvedOptions, type WebSocketLike } from './options.js';

/** An error of a request: `code` is `timeout`, `disconnected`, `closed` or the server's error code. */
export class MooringError extends Error {
  override readonly name = 'MooringError';
  constructor(readonly code: string, message: string) {
    super(message);
  }
}

export type PushHandler<T = unknown> = (data: T, meta: PushMeta) => void;

export interface SubscribeOptions {
  /** SUB-10: called when the stream lost continuity (the server could not replay): refetch. */
  onGap?: (gap: GapInfo) => void;
}

export interface RequestOptions {
  /** Request timeout in ms. @default the server's `requestTimeoutMs` (10 000 before the first session) */
  timeout?: number;
  /** Fail at once with `disconnected` when not authenticated. @default the client's `failFast` */
  failFast?: boolean;
}

/** State change events, as passed to `on('state', ...)`. */
export type StateEvent = Extract<ClientEvent, { type: 'connecting' | 'authenticated' | 'reconnecting' | 'closed' | 'gave_up' | 'down' }>;

export interface ClientEventMap {
  /**
   * Every state change: connecting, authenticated, reconnecting, closed, gave_up (after `maxAttempts`
   * failed attempts), and `down` once when the client has had no session for `downAlertMs`.
   */
  state: StateEvent;
  gave_up: Extract<ClientEvent, { type: 'gave_up' }>;
  down: Extract<ClientEvent, { type: 'down' }>;
  /** ROBUST-1: a server frame failed the schema and was ignored (also in `diagnostics().log`). */
  invalid_frame: Extract<ClientEvent, { type: 'invalid_frame' }>;
  connecting: Extract<ClientEvent, { type: 'connecting' }>;
  authenticated: Extract<ClientEvent, { type: 'authenticated' }>;
  reconnecting: Extract<ClientEvent, { type: 'reconnecting' }>;
  closed: Extract<ClientEvent, { type: 'closed' }>;
  /** The server acknowledged a channel subscription (after every (re)connect; `resume` says how it resumed). */
  subscribed: Extract<ClientEvent, { type: 'subscribed' }>;
  /** An `error` message from the server (the connection stays open). */
  server_error: Extract<ClientEvent, { type: 'server_error' }>;
  /** An HTTP heartbeat (HTTP-4) finished. */
  http_heartbeat: Extract<ClientEvent, { type: 'http_heartbeat' }>;
  /** The token function failed. */
  token_error: Extract<ClientEvent, { type: 'token_error' }>;
}

interface HandlerEntry {
  handler: PushHandler;
  onGap?: (gap: GapInfo) => void;
}

const MAX_TIMER_MS = 2 ** 31 - 1;

export class MooringClient {
  private readonly o: ResolvedOptions;
  private readonly core: ClientCore;
  private readonly sockets = new Map<number, WebSocketLike>();
  private readonly pending = new Map<string, { resolve: (v: unknown) => void; reject: (e: MooringError) => void }>();
  private readonly handlers = new Map<string, Set<HandlerEntry>>();
  private readonly listeners = new Map<keyof ClientEventMap, Set<(e: never) => void>>();
  private timer: ReturnType<typeof setTimeout> | undefined;
  private timerAt: number | undefined;
  private visibilityHook: (() => void) | undefined;

  constructor(options: ClientOptions) {
    this.o = resolveOptions(options);
    this.core = new ClientCore({
      url: this.o.url,
      random: this.o.random,
      backoff: {
        baseMs: this.o.backoffBaseMs,
        capMs: this.o.backoffCapMs,
        stableAfterMs: this.o.stableAfterMs,
        reconnectNowJitterMs: this.o.reconnectNowJitterMs,
      },
      connectTimeoutMs: this.o.connectTimeoutMs,
      failFast: this.o.failFast,
      logSize: this.o.logSize,
      httpHeartbeatIntervalMs: this.o.httpHeartbeat?.intervalMs,
      followAdvertisedHttpHeartbeat: this.o.followAdvertisedHttpHeartbeat, // HTTP-9
      maxAttempts: this.o.maxAttempts,
      downAlertMs: this.o.downAlertMs,
    });
  }

  /** The connection state: idle, connecting, authenticated, reconnecting, closed or gave_up. */
  get state(): ClientState {
    return this.core.currentState;
  }

  /** Listens to an event; returns a function that removes the listener. */
  on<K extends keyof ClientEventMap>(event: K, listener: (e: ClientEventMap[K]) => void): () => void {
    let set = this.listeners.get(event);
    if (!set) this.listeners.set(event, (set = new Set()));
    set.add(listener as (e: never) => void);
    return () => set.delete(listener as (e: never) => void);
  }

  /** Starts connecting (and reconnecting after losses) until `close()` or a stop code. */
  connect(): void {
    this.watchVisibility();
    this.input({ type: 'connect' });
  }

  /** Closes the connection for good: no reconnect; pending requests fail with `closed`. */
  close(): void {
    this.input({ type: 'close' });
    this.unwatchVisibility();
  }

  /** Drops the current connection and connects again at once (debug pages: "force reconnect"). */
  reconnect(): void {
    this.input({ type: 'reconnect' });
  }

  /** HB-6: pings at once to check the connection (browsers do this when the page becomes visible). */
  checkLiveness(): void {
    this.input({ type: 'check_liveness' });
  }

  /**
   * Calls a server action. Resolves with the response data; rejects with a `MooringError` whose code
   * is `timeout` (REQ-5), `disconnected` (the connection ended while pending, REQ-6; it is never
   * replayed), `closed` (the client was closed) or the server's error code. Made while not
   * authenticated, the request waits for authentication up to its timeout, unless `failFast`.
   */
  request<T = unknown>(action: string, payload?: unknown, opts: RequestOptions = {}): Promise<T> {
    const { id, actions } = this.core.request(
      action,
      payload,
      {
        ...(opts.timeout !== undefined ? { timeoutMs: opts.timeout } : {}),
        ...(opts.failFast !== undefined ? { failFast: opts.failFast } : {}),
      },
      this.o.now(),
    );
    const promise = new Promise<T>((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
    });
    this.run(actions);
    return promise;
  }

  /**
   * Subscribes `handler` to `channel` (SUB-10). Works in any state: the subscription is remembered
   * and (re)sent after every authentication, resuming from the last position seen. Several handlers
   * of one channel share one server subscription. Returns the function that unsubscribes.
   */
  subscribe<T = unknown>(channel: string, handler: PushHandler<T>, opts: SubscribeOptions = {}): () => void {
    const entry: HandlerEntry = { handler: handler as PushHandler, ...(opts.onGap ? { onGap: opts.onGap } : {}) };
    let set = this.handlers.get(channel);
    if (!set) this.handlers.set(channel, (set = new Set()));
    set.add(entry);
    this.input({ type: 'subscribe', channel });
    let active = true;
    return () => {
      if (!active) return;
      active = false;
      const s = this.handlers.get(channel);
      s?.delete(entry);
      if (s && s.size === 0) this.handlers.delete(channel);
      this.input({ type: 'unsubscribe', channel });
    };
  }

  /** A snapshot for debug pages: state, URL, reconnects, subscriptions, pending requests, log. */
  diagnostics(): Diagnostics {
    return this.core.diagnostics();
  }

  // -------------------------------------------------------------------------------------------
  // Driving the core
  // -------------------------------------------------------------------------------------------

  private input(i: CoreInput): void {
    this.run(this.core.handle(i, this.o.now()));
  }

  private run(actions: CoreAction[]): void {
    for (const a of actions) this.perform(a);
    this.arm();
  }

  /** One timer, armed at the core's next deadline. */
  private arm(): void {
    const at = this.core.nextDeadline();
    if (at === this.timerAt) return;
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    this.timerAt = at;
    if (at === undefined) return;
    const delay = Math.min(MAX_TIMER_MS, Math.max(0, at - this.o.now()));
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.timerAt = undefined;
      this.input({ type: 'tick' });
    }, delay);
  }

  private perform(a: CoreAction): void {
    switch (a.type) {
      case 'fetch_token': return this.fetchToken(a.fetch, a.reason);
      case 'open_socket': return this.open(a.conn, a.url, a.protocols);
      case 'send': {
        const ws = this.sockets.get(a.conn);
        if (ws && ws.readyState === 1) {
          try {
            ws.send(JSON.stringify(a.message));
          } catch {
            // The close event follows; the core handles the loss.
          }
        }
        return;
      }
      case 'close_socket': {
        const ws = this.sockets.get(a.conn);
        this.sockets.delete(a.conn);
        if (ws) {
          try {
            ws.close(a.code, a.reason);
          } catch {
            // Already closing.
          }
          // HB-3: a connection declared dead will not answer the close handshake; on `ws` (Node), do
          // not keep its socket around for the library's 30 s close timeout.
          const t = ws as unknown as { terminate?: () => void };
          if (a.code === 4001 && typeof t.terminate === 'function') {
            const timer = setTimeout(() => t.terminate!(), 1_000) as { unref?: () => void };
            timer.unref?.();
          }
        }
        return;
      }
      case 'emit': return this.emit(a.event);
      case 'resolve': {
        const p = this.pending.get(a.id);
        this.pending.delete(a.id);
        p?.resolve(a.data);
        return;
      }
      case 'reject': {
        const p = this.pending.get(a.id);
        this.pending.delete(a.id);
        p?.reject(new MooringError(a.code, a.message));
        return;
      }
      case 'push': {
        for (const h of [...(this.handlers.get(a.channel) ?? [])]) this.safely(() => h.handler(a.data, a.meta));
        return;
      }
      case 'gap': {
        for (const h of [...(this.handlers.get(a.gap.channel) ?? [])]) if (h.onGap) this.safely(() => h.onGap!(a.gap));
        return;
      }
      case 'http_heartbeat': return this.httpHeartbeat(a.path);
    }
  }

  private fetchToken(fetch: number, reason: TokenReason): void {
    Promise.resolve()
      .then(() => this.o.token({ reason }))
      .then(
        (token) => {
          if (typeof token !== 'string' || token.length === 0) throw new Error('token function returned no token');
          this.input({ type: 'token', fetch, token });
        },
        (err: unknown) => this.input({ type: 'token_failed', fetch, message: errorMessage(err) }),
      )
      .catch((err: unknown) => this.input({ type: 'token_failed', fetch, message: errorMessage(err) }));
  }

  private open(conn: number, url: string, protocols: string[]): void {
    let ws: WebSocketLike;
    try {
      ws = new this.o.WebSocket(url, protocols);
    } catch (err) {
      // An invalid URL or a refused construction is a failed attempt like a refused connection.
      queueMicrotask(() => this.input({ type: 'socket_closed', conn, code: 1006, reason: errorMessage(err).slice(0, 100) }));
      return;
    }
    this.sockets.set(conn, ws);
    ws.onopen = () => this.input({ type: 'socket_open', conn, protocol: ws.protocol });
    ws.onmessage = (ev) => {
      if (typeof ev.data === 'string') this.input({ type: 'socket_message', conn, text: ev.data });
      else this.input({ type: 'socket_activity', conn }); // v1 has no binary frames; still proof of life
    };
    ws.onerror = () => {
      // The close event follows with the details.
    };
    ws.onclose = (ev) => {
      this.sockets.delete(conn);
      this.input({ type: 'socket_closed', conn, code: ev.code, reason: ev.reason ?? '' });
    };
    // HB-4: on `ws` (Node), WebSocket ping and pong frames are visible: they prove liveness too.
    const emitter = ws as unknown as { on?: (e: string, f: () => void) => void };
    if (typeof emitter.on === 'function') {
      emitter.on('ping', () => this.input({ type: 'socket_activity', conn }));
      emitter.on('pong', () => this.input({ type: 'socket_activity', conn }));
    }
  }

  private httpHeartbeat(path: string | undefined): void {
    // HTTP-9: the advertised path on the WebSocket URL's origin, unless the application gave a URL.
    const url = this.o.httpHeartbeat?.url ?? (path !== undefined ? heartbeatUrlFor(this.o.url, path) : undefined);
    if (url === undefined) return;
    // HTTP-4: POST /heartbeat with the token as Bearer, independent of the WebSocket.
    Promise.resolve()
      .then(() => this.o.token({ reason: 'heartbeat' }))
      .then((token) => fetch(url, { method: 'POST', headers: { authorization: `Bearer ${token}` } }))
      .then(
        (res) => this.input({ type: 'http_heartbeat_result', ok: res.ok, status: res.status }),
        (err: unknown) => this.input({ type: 'http_heartbeat_result', ok: false, message: errorMessage(err) }),
      );
  }

  private emit(event: ClientEvent): void {
    const fire = (name: keyof ClientEventMap) => {
      for (const l of [...(this.listeners.get(name) ?? [])]) this.safely(() => (l as (e: ClientEvent) => void)(event));
    };
    if (event.type === 'connecting' || event.type === 'authenticated' || event.type === 'reconnecting' || event.type === 'closed' || event.type === 'gave_up' || event.type === 'down') {
      fire('state');
    }
    fire(event.type);
  }

  /** An application handler that throws must not break the client: rethrow outside the loop. */
  private safely(f: () => void): void {
    try {
      f();
    } catch (err) {
      setTimeout(() => {
        throw err;
      }, 0);
    }
  }

  private watchVisibility(): void {
    // HB-6: a page that was hidden (timers throttled) checks its connection when visible again.
    const doc = (globalThis as { document?: { visibilityState?: string; addEventListener?: (t: string, f: () => void) => void } }).document;
    if (!this.o.watchVisibility || !doc?.addEventListener || this.visibilityHook) return;
    this.visibilityHook = () => {
      if (doc.visibilityState === 'visible') this.checkLiveness();
    };
    doc.addEventListener('visibilitychange', this.visibilityHook);
  }

  private unwatchVisibility(): void {
    const doc = (globalThis as { document?: { removeEventListener?: (t: string, f: () => void) => void } }).document;
    if (this.visibilityHook && doc?.removeEventListener) doc.removeEventListener('visibilitychange', this.visibilityHook);
    this.visibilityHook = undefined;
  }
}

function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
