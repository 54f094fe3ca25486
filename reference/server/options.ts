/** `startServer` options: one object, defaults in one place (session params from schemas/v1/defaults.ts). */
import { DEFAULT_HTTP_HEARTBEAT, DEFAULT_PARAMS } from '../../schemas/v1/index.js';
import { defaultAuthorize, type Authorize, type CoreParams } from '../core/server/index.js';
import type { ActionHandler } from './actions.js';
import type { Broker } from './broker.js';
import type { LogSink } from './logger.js';
import type { MetricsOptions } from './metrics.js';
import type { Presence } from './presence.js';
import type { RedisOption } from './redis/node.js';
import type { TokenStore } from './token-store.js';

export interface ServerOptions {
  /** @default '127.0.0.1' */
  host?: string;
  /** 0 picks a free port. @default 8080 */
  port?: number;
  /** The WebSocket path; upgrades elsewhere get HTTP 404. @default '/ws' */
  path?: string;
  /** Token hashes file; ':memory:' keeps them in memory only. Ignored when `tokenStore` is given. @default './mooring-tokens.json' */
  tokensFile?: string;
  /** A custom token store. @default a store over `tokensFile` */
  tokenStore?: TokenStore;
  /** A user is `connected` while its last HTTP heartbeat is younger than this; advertised (HTTP-6, HTTP-8). @default 60_000 */
  presenceWindowMs?: number;
  /** How often clients should post their HTTP heartbeat; advertised (HTTP-4, HTTP-8). @default 30_000 */
  httpHeartbeatIntervalMs?: number;
  /** Where presence is kept (a shared store for several nodes). @default a MemoryPresence with `presenceWindowMs` */
  presence?: Presence;
  /** Prometheus metrics (OPS-1..OPS-9): off unless given. @default undefined (off) */
  metrics?: MetricsOptions;
  /** Where pushes go and history lives. @default a new MemoryBroker with `historySize` */
  broker?: Broker;
  /**
   * NODE-1: share channels and history, sessions and the rate limit with every node on this Redis
   * (a URL such as 'redis://10.0.0.5:6379', or `RedisConfig`); the Redis broker replaces the
   * in-memory one unless `broker` is given. @default none (one process, in memory)
   */
  redis?: RedisOption;
  /** WebSocket ping frames this often (HB-1). @default 25_000 */
  heartbeatIntervalMs?: number;
  /** Close 4001 when nothing arrives this long after a ping (HB-1). @default 10_000 */
  heartbeatTimeoutMs?: number;
  /** Close 4408 when no auth arrives this long after open (AUTH-2). @default 30_000 */
  authTimeoutMs?: number;
  /** Advertised to clients as their request timeout (REQ-5). @default 10_000 */
  requestTimeoutMs?: number;
  /** Per user: at most `messages` inbound messages in any `windowMs` (RATE-1). @default { messages: 60, windowMs: 10_000 } */
  rateLimit?: { messages: number; windowMs: number };
  /** Largest inbound message; larger ones close with 1009 (LIMIT-1). @default 65_536 */
  maxPayloadBytes?: number;
  /** Subscriptions per connection (LIMIT-4). @default 100 */
  maxSubscriptions?: number;
  /** Requests pending per connection; one more gets error too_many_requests (LIMIT-5). @default 100 */
  maxPendingRequests?: number;
  /** Outbound bytes buffered per connection before closing it 4509 (LIMIT-3). @default 1_048_576 */
  maxBufferedBytes?: number;
  /** Pushes kept per channel for resume, when the server creates its broker (SUB-8). @default 100 */
  historySize?: number;
  /** Bytes of history kept per channel (UTF-8 of each push's serialized data), when the server creates its broker; advertised (LIMIT-7). @default 1_048_576 */
  historyBytes?: number;
  /** Bytes of history kept over all channels, when the server creates its broker; not advertised (LIMIT-7). @default 67_108_864 */
  maxHistoryBytes?: number;
  /** Subscribes after authenticated that do not count against the rate limit; advertised (RATE-4). @default 100 */
  restoreAllowance?: number;
  /** Deepest nesting of an inbound message; deeper gets error too_deep; advertised (LIMIT-6). @default 32 */
  maxDepth?: number;
  /** Data frames a connection may send before it is authenticated; one more closes it 4400 (LIMIT-8). @default 8 */
  preAuthFrames?: number;
  /** Bytes a connection may send before it is authenticated; more closes it 4400 (LIMIT-8). @default 16_384 */
  preAuthBytes?: number;
  /** Fragments one inbound message may have; more closes the connection 1009 (LIMIT-8). @default 64 */
  maxFragments?: number;
  /** An HTTP request (or upgrade) whose headers take longer than this is dropped (LIMIT-9). @default 10_000 */
  headersTimeoutMs?: number;
  /** A refused upgrade's socket is destroyed this long after its response was flushed (LIMIT-9). @default 500 */
  refuseLingerMs?: number;
  /** 'single': a new session of a user closes the older one with 4002 (SESS-1). @default 'single' */
  sessionPolicy?: 'single' | 'multiple';
  /** Sockets per client IP (WebSocket connections, upgrades in progress, HTTP); an upgrade beyond it gets HTTP 429 (LIMIT-2, LIMIT-9). @default 256 */
  maxConnectionsPerIp?: number;
  /** Sockets per client IP beyond which a new socket is destroyed at accept, before any HTTP (LIMIT-9). @default maxConnectionsPerIp + 64 */
  maxSocketsPerIp?: number;
  /**
   * Reverse proxies whose forwarding headers are believed (DEPLOY-1..7): addresses ('10.0.0.5'), CIDRs
   * ('10.0.0.0/8', 'fd00::/8') or 'loopback', 'private', 'linklocal'. A request from one of them is
   * the client's named by `forwardedHeader` (the right-most untrusted hop) for per-IP limits, logs and
   * the same-origin check. @default [] (no proxy trusted; the TCP peer is the client)
   */
  trustProxy?: string[];
  /**
   * The one header a trusted proxy names the client in (DEPLOY-3): 'x-forwarded-for' (with
   * X-Forwarded-Proto and X-Forwarded-Host) or 'forwarded' (RFC 7239). The other is ignored. @default 'x-forwarded-for'
   */
  forwardedHeader?: 'x-forwarded-for' | 'forwarded';
  /**
   * TLS for a server of its own (`startServer`; DEPLOY-6): PEM certificate chain and key (and CA
   * certificates to send along). URLs become wss:// and https://. Ignored by `attach` (the app's server decides). @default none (plain ws://)
   */
  tls?: { cert: string | Buffer; key: string | Buffer; ca?: string | Buffer | (string | Buffer)[] };
  /** Origins allowed exactly, e.g. 'https://app.example.com' (SEC-1). @default [] */
  allowedOrigins?: string[];
  /** Also allow the server's own origin (http(s):// + Host) (SEC-1). @default true */
  allowSameOrigin?: boolean;
  /** Accept `?token=` in the WebSocket URL and authenticate at open (AUTH-7). @default false */
  allowTokenInUrl?: boolean;
  /** token_expiring this long before a session's token expires (AUTH-8). @default 60_000 */
  tokenWarningMs?: number;
  /** Shutdown retry hints are spread over [0, shutdownSpreadMs] (SHUT-3). @default 5_000 */
  shutdownSpreadMs?: number;
  /** Terminate a connection this long after closing it when the peer does not complete the close. @default 1_000 */
  closeGraceMs?: number;
  /** Offer the conformance profile actions echo, publish, sleep (CONF-1..3). @default true */
  testActions?: boolean;
  /** Extra request handlers by action name (they override the test actions). @default {} */
  actions?: Record<string, ActionHandler>;
  /** May `userId` subscribe to / publish on `channel` (SUB-4)? @default user:<id> channels for <id> only, others open */
  authorize?: Authorize;
  /** URL path → file path, served by GET (example pages, the browser bundle). @default {} */
  staticFiles?: Record<string, string>;
  /** Log sink (JSON lines on stderr), or false for none. @default stderrSink */
  logger?: LogSink | false;
  /** Throw (instead of logging) when the server is about to send a message that fails the schema. @default true under NODE_ENV=test or vitest */
  strictOutbound?: boolean;
  /** Randomness for session ids and retry hints. @default Math.random */
  random?: () => number;
}

export function sessionParams(o: ServerOptions): CoreParams {
  const d = DEFAULT_PARAMS;
  const hbInterval = o.httpHeartbeatIntervalMs ?? DEFAULT_HTTP_HEARTBEAT.intervalMs;
  const window = o.presence?.windowMs ?? o.presenceWindowMs ?? DEFAULT_HTTP_HEARTBEAT.presenceWindowMs;
  // HTTP-8: a window no longer than the interval would show users offline between two heartbeats.
  if (!(window > hbInterval)) throw new RangeError(`presenceWindowMs (${window}) must be greater than httpHeartbeatIntervalMs (${hbInterval})`);
  return {
    heartbeatIntervalMs: o.heartbeatIntervalMs ?? d.heartbeatIntervalMs,
    heartbeatTimeoutMs: o.heartbeatTimeoutMs ?? d.heartbeatTimeoutMs,
    authTimeoutMs: o.authTimeoutMs ?? d.authTimeoutMs,
    requestTimeoutMs: o.requestTimeoutMs ?? d.requestTimeoutMs,
    rateLimit: { ...(o.rateLimit ?? d.rateLimit) },
    maxPayloadBytes: o.maxPayloadBytes ?? d.maxPayloadBytes,
    maxSubscriptions: o.maxSubscriptions ?? d.maxSubscriptions,
    maxBufferedBytes: o.maxBufferedBytes ?? d.maxBufferedBytes,
    maxPendingRequests: o.maxPendingRequests ?? d.maxPendingRequests,
    historySize: o.historySize ?? d.historySize,
    restoreAllowance: o.restoreAllowance ?? Math.max(d.restoreAllowance!, o.maxSubscriptions ?? d.maxSubscriptions),
    historyBytes: o.historyBytes ?? Math.max(d.historyBytes!, o.maxPayloadBytes ?? d.maxPayloadBytes),
    maxDepth: o.maxDepth ?? d.maxDepth,
    sessionPolicy: o.sessionPolicy ?? d.sessionPolicy,
    // HTTP-8: the HTTP heartbeat channel, advertised so that clients use it (HTTP-9).
    httpHeartbeat: { path: '/heartbeat', intervalMs: hbInterval, presenceWindowMs: window },
  };
}

export const SERVER_DEFAULTS = {
  host: '127.0.0.1',
  port: 8080,
  path: '/ws',
  tokensFile: './mooring-tokens.json',
  maxConnectionsPerIp: 256,
  allowedOrigins: [] as string[],
  trustProxy: [] as string[],
  forwardedHeader: 'x-forwarded-for',
  allowSameOrigin: true,
  allowTokenInUrl: false,
  tokenWarningMs: 60_000,
  shutdownSpreadMs: 5_000,
  closeGraceMs: 1_000,
  maxHistoryBytes: 64 * 1024 * 1024,
  preAuthFrames: 8,
  preAuthBytes: 16 * 1024,
  maxFragments: 64,
  headersTimeoutMs: 10_000,
  refuseLingerMs: 500,
  testActions: true,
  authorize: defaultAuthorize,
} as const;
