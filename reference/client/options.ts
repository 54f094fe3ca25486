/**
 * The one options object of `MooringClient`, with its defaults in one place (`resolveOptions`).
 */
import { DEFAULT_BACKOFF, DEFAULT_HTTP_HEARTBEAT } from '../../schemas/v1/defaults.js';
import type { TokenReason } from '../core/client/types.js';

/** The part of a WebSocket the client uses: the browser's `WebSocket` and `ws` both fit. */
export interface WebSocketLike {
  readonly readyState: number;
  readonly protocol: string;
  send(data: string): void;
  close(code?: number, reason?: string): void;
  onopen: ((ev: unknown) => void) | null;
  onmessage: ((ev: { data: unknown }) => void) | null;
  onclose: ((ev: { code: number; reason: string }) => void) | null;
  onerror: ((ev: unknown) => void) | null;
}

export type WebSocketConstructor = new (url: string, protocols?: string | string[]) => WebSocketLike;

export interface ClientOptions {
  /** The server's WebSocket URL, e.g. `ws://127.0.0.1:8080/ws`. */
  url: string;
  /**
   * Returns the bearer token. Called before every connection attempt and when the server says the
   * token is about to expire (AUTH-10), so a refreshed token is always used; `reason` tells why
   * (`expired` after a 4419 close: do not return the old token).
   */
  token: (ctx: { reason: TokenReason }) => string | Promise<string>;
  /**
   * Upper bound of the first reconnect delay (RECON-1).
   * @default 1000
   */
  backoffBaseMs?: number;
  /**
   * Largest reconnect delay bound, applied before the jitter (RECON-1).
   * @default 30000
   */
  backoffCapMs?: number;
  /**
   * A session must stay authenticated this long before the backoff attempt counter resets (RECON-2).
   * @default 10000
   */
  stableAfterMs?: number;
  /**
   * Largest extra random wait added to the retry hint of a 1012 service_restart close (RECON-4).
   * @default 500
   */
  reconnectNowJitterMs?: number;
  /**
   * How long one connection attempt (token, socket, `authenticated`) may take before it is abandoned.
   * @default 15000
   */
  connectTimeoutMs?: number;
  /**
   * Requests made while not authenticated fail at once with code `disconnected` instead of waiting for
   * authentication up to their timeout. Can be overridden per request.
   * @default false
   */
  failFast?: boolean;
  /**
   * Entries kept in the diagnostics event log.
   * @default 200
   */
  logSize?: number;
  /**
   * Stop reconnecting after this many consecutive failed attempts: state `gave_up`, event `gave_up`,
   * pending requests fail with `closed`; `connect()` starts again.
   * @default Infinity (never give up)
   */
  maxAttempts?: number;
  /**
   * Emit a `down` state event once when the client has had no authenticated session for this long
   * (an outage banner such as "reconnecting for 5 minutes").
   * @default 300000
   */
  downAlertMs?: number;
  /**
   * HTTP-4, HTTP-9: the HTTP heartbeat (`POST` with the token as Bearer, whatever the WebSocket state:
   * the seeds' dual channel, authoritative for presence).
   * - undefined (default): on as soon as a server advertises `params.httpHeartbeat`, at its interval
   *   and path (on the WebSocket URL's origin), until `close()`;
   * - `{ url?, intervalMs? }`: on from `connect()`, at `intervalMs` (30 s) to `url` (the WebSocket
   *   URL's origin + `/heartbeat`), whatever the server advertises;
   * - `false`: off.
   * @default undefined (follow the server)
   */
  httpHeartbeat?: { url?: string; intervalMs?: number } | false;
  /**
   * HB-6: in browsers, check liveness (ping at once) when the page becomes visible again.
   * @default true
   */
  watchVisibility?: boolean;
  /**
   * The WebSocket constructor.
   * @default globalThis.WebSocket (browsers, Node ≥ 22); the Node entry falls back to `ws`
   */
  WebSocket?: WebSocketConstructor;
  /**
   * Randomness for the backoff jitter.
   * @default Math.random
   */
  random?: () => number;
  /**
   * The clock, in ms since the Unix epoch.
   * @default Date.now
   */
  now?: () => number;
}

export interface ResolvedOptions {
  url: string;
  token: ClientOptions['token'];
  backoffBaseMs: number;
  backoffCapMs: number;
  stableAfterMs: number;
  reconnectNowJitterMs: number;
  connectTimeoutMs: number;
  failFast: boolean;
  logSize: number;
  maxAttempts: number;
  downAlertMs: number;
  /** Explicit HTTP heartbeat (from connect()); undefined: see `followAdvertisedHttpHeartbeat`. */
  httpHeartbeat: { url: string; intervalMs: number } | undefined;
  /** HTTP-9: post to the channel a server advertises (`httpHeartbeat` left undefined). */
  followAdvertisedHttpHeartbeat: boolean;
  watchVisibility: boolean;
  WebSocket: WebSocketConstructor;
  random: () => number;
  now: () => number;
}

/** The HTTP heartbeat URL derived from the WebSocket URL: same origin, path `/heartbeat`. */
export function heartbeatUrlFor(wsUrl: string, path = '/heartbeat'): string {
  const u = new URL(wsUrl);
  u.protocol = u.protocol === 'wss:' ? 'https:' : 'http:';
  u.pathname = path;
  u.search = '';
  u.hash = '';
  return u.toString();
}

export function resolveOptions(o: ClientOptions): ResolvedOptions {
  const {
    url,
    token,
    backoffBaseMs = DEFAULT_BACKOFF.baseMs,
    backoffCapMs = DEFAULT_BACKOFF.capMs,
    stableAfterMs = DEFAULT_BACKOFF.stableAfterMs,
    reconnectNowJitterMs = 500,
    connectTimeoutMs = 15_000,
    failFast = false,
    logSize = 200,
    maxAttempts = Infinity,
    downAlertMs = 300_000,
    httpHeartbeat,
    watchVisibility = true,
    WebSocket = (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket,
    random = Math.random,
    now = Date.now,
  } = o;
  if (typeof url !== 'string' || !/^wss?:\/\//.test(url)) throw new TypeError('MooringClient: options.url must be a ws:// or wss:// URL');
  if (typeof token !== 'function') throw new TypeError('MooringClient: options.token must be a function returning the token');
  if (!(maxAttempts >= 1)) throw new TypeError('MooringClient: options.maxAttempts must be at least 1');
  if (!WebSocket) throw new TypeError('MooringClient: no WebSocket available: pass options.WebSocket (or use the Node entry, which uses ws)');
  return {
    url, token, backoffBaseMs, backoffCapMs, stableAfterMs, reconnectNowJitterMs, connectTimeoutMs, failFast, logSize, maxAttempts, downAlertMs,
    httpHeartbeat: httpHeartbeat
      ? { url: httpHeartbeat.url ?? heartbeatUrlFor(url), intervalMs: httpHeartbeat.intervalMs ?? DEFAULT_HTTP_HEARTBEAT.intervalMs }
      : undefined,
    followAdvertisedHttpHeartbeat: httpHeartbeat === undefined,
    watchVisibility, WebSocket, random, now,
  };
}
