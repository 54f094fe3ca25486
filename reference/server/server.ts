/**
 * The reference server's I/O driver: `ws` (noServer) on a Node `http` server, one port for WebSocket
 * and HTTP (HTTP-3). Everything protocol-shaped happens in the sans-I/O core; this file feeds it
 * socket events with `Date.now()`, performs its actions, and keeps one timer at its next deadline.
 *
 * Three ways in, one engine (`createMooring`):
 *  - `startServer(options)`: Mooring's own HTTP server on its own port (the CLI, the tests);
 *  - `attach(httpServer, options)`: shares an app's existing `http.Server` (Express, Next.js custom
 *    server, plain node:http): Mooring takes the upgrades of its path and its own HTTP endpoints,
 *    and leaves every other route and upgrade to the app;
 *  - `createMooring(options)`: the engine alone, for apps that route themselves
 *    (`handleUpgrade(req, socket, head)`, `handleRequest(req, res)`).
 */
import { createServer, STATUS_CODES, type IncomingMessage, type Server as HttpServer, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { Socket, type AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { WebSocketServer, WebSocket, type RawData } from 'ws';
import { SUBPROTOCOL, isChannelName, validateServerMessage, type Position, type PushMessage, type SessionParams, type ServerMessage } from '../../schemas/v1/index.js';
import { judgeToken, RawJson, ServerCore, type ConnId, type LogLevel, type ServerAction, type ServerEvent } from '../core/server/index.js';
import { FrameGuard } from './frame-guard.js';
import { jsonDepth, MAX_PAYLOAD_DEPTH, runAction, testActions, type ActionHandler } from './actions.js';
import { MemoryBroker, type Broker } from './broker.js';
import { RedisNode, redisConfig } from './redis/node.js';
import { RedisTokenStore } from './redis/token-store.js';
import { createHttpHandler } from './http.js';
import { makeEntry, stderrSink } from './logger.js';
import { SERVER_DEFAULTS, sessionParams, type ServerOptions } from './options.js';
import { openTokenStore } from './tokens-file.js';
import { hashToken, type RevokeSelector, type TokenInfo, type TokenStore } from './token-store.js';
import { MemoryPresence, type PresenceChange, type PresenceInfo } from './presence.js';
import { createMetrics, type ServerMetrics } from './metrics.js';
import { ProxyTrust, type ClientOrigin } from './proxy.js';
import { SERVER_NAME, SERVER_VERSION } from './version.js';

/** The protocol engine without a port of its own: what `attach` and `startServer` are built on. */
export interface Mooring {
  /** The session params the server advertises (minus tokenExpiresAt). */
  readonly params: Omit<SessionParams, 'tokenExpiresAt'>;
  readonly broker: Broker;
  readonly tokenStore: TokenStore;
  /** Creates a token (returned once; only its hash is stored). `ttlMs` null or absent: never expires. */
  createToken(userId: string, options?: { ttlMs?: number | null }): Promise<string>;
  /** Publishes to a channel; resolves with the push's position. */
  publish(channel: string, data: unknown): Promise<Position>;
  /** Graceful shutdown (SHUT-1..3) of Mooring's connections; an attached app's server stays up. Idempotent. */
  shutdown(): Promise<void>;
  connectionCount(): number;
  /** AUTH-13, AUTH-14: revokes one token (by id) or all of a user's; their live sessions close with 4401. Resolves with the ids revoked. */
  revokeToken(selector: RevokeSelector): Promise<string[]>;
  /** AUTH-17: a new token for the user; older ones revoked (or expiring after `overlapMs`). The token is returned once. */
  rotateToken(userId: string, options?: { ttlMs?: number | null; overlapMs?: number }): Promise<{ token: string; id: string; revoked: string[] }>;
  /** AUTH-15: the stored tokens, never the tokens themselves. */
  listTokens(filter?: { userId?: string }): Promise<TokenInfo[]>;
  /** HTTP-6: is the user connected (an HTTP heartbeat within the presence window), when last seen, how many sessions. */
  presence(userId: string): Promise<PresenceInfo>;
  /** HTTP-7: presence changes (connected/disconnected, first session opened/last closed); returns an unsubscribe. */
  on(event: 'presence', listener: (change: PresenceChange) => void): () => void;
  /** OPS-1: the metrics (null when off, the default). */
  readonly metrics: ServerMetrics | null;
  /** Resolves once the backends are connected (Redis: or after its `connectTimeoutMs`; upgrades get 503 until it is up). */
  ready(): Promise<void>;
  /**
   * Takes an HTTP upgrade whose path is Mooring's (`path` option) and returns true, refusing it with
   * an HTTP status where the handshake rules say so; returns false, touching nothing, for any other
   * path, unless `refuseOtherPaths` (then 404, as a server of Mooring's own does).
   */
  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer, opts?: { refuseOtherPaths?: boolean }): boolean;
  /**
   * Answers Mooring's own HTTP endpoints (`/healthz`, `POST /heartbeat`, `GET /presence`, the static
   * files, 426 on the WebSocket path) and returns true; returns false, touching nothing, for any other route.
   */
  handleRequest(req: IncomingMessage, res: ServerResponse): boolean;
  /** LIMIT-2, LIMIT-9: counts a socket against its IP from accept to close (a standalone server calls it at accept). */
  trackSocket(socket: Socket): void;
}

/** Mooring on its own HTTP server and port (`startServer`). */
export interface MooringServer extends Mooring {
  /** e.g. 'ws://127.0.0.1:PORT/ws' ('wss://' with `tls`) */
  readonly url: string;
  /** e.g. 'http://127.0.0.1:PORT' ('https://' with `tls`) */
  readonly httpUrl: string;
  readonly port: number;
  /** The HTTP server Mooring listens on (an https.Server with `tls`). */
  readonly httpServer: HttpServer;
}

/** Mooring sharing an app's HTTP server (`attach`). */
export interface AttachedMooring extends Mooring {
  /** Stops taking the server's upgrades and requests, after a graceful shutdown of Mooring's connections; the app's server stays up. */
  detach(): Promise<void>;
}

/** The connection id on a connection's WebSocket and socket, for the listeners all connections share. */
const CONN = Symbol('mooring.conn');
type Tagged = { [CONN]?: ConnId };


function destroySelf(this: Duplex): void {
  this.destroy();
}

/** ws.send options for a text frame given as bytes (a fan-out's frame, encoded once). */
const TEXT_FRAME = { binary: false } as const;

function parseProtocols(header: string | undefined): string[] {
  return (header ?? '').split(',').map((s) => s.trim()).filter(Boolean);
}

/**
 * The engine: core loop, WebSocket connections, HTTP endpoints. Nothing listens until the caller
 * routes upgrades and requests to it (`attach` and `startServer` do).
 */
export function createMooring(options: ServerOptions = {}): Mooring {
  const o = { ...SERVER_DEFAULTS, ...stripUndefined(options) };
  const params = sessionParams(options);
  // NODE-15: `redis: { tokens: true }` keeps the tokens in Redis, shared by every node.
  const tokens = options.tokenStore ?? (options.redis !== undefined && redisConfig(options.redis).tokens ? new RedisTokenStore(options.redis) : openTokenStore(o.tokensFile));
  // NODE-1: with `redis`, channels, sessions, the rate limit and presence are shared by every node on that Redis.
  const redis = options.redis !== undefined ? new RedisNode(options.redis, {
    historySize: params.historySize, historyBytes: params.historyBytes!, rateLimit: params.rateLimit, sessionPolicy: params.sessionPolicy ?? 'single',
    feed: (ev) => feed(ev), log: (level, event, fields) => log(level, event, fields),
  }) : null;
  const presence = options.presence ?? redis?.presence ?? new MemoryPresence({ windowMs: params.httpHeartbeat!.presenceWindowMs });
  /** Connections that are sessions (authenticated), with their user: presence counts them. */
  const sessionUsers = new Map<ConnId, string>();
  const broker = options.broker ?? redis?.broker ?? new MemoryBroker({ historySize: params.historySize, historyBytes: params.historyBytes, maxHistoryBytes: o.maxHistoryBytes });
  const sink = options.logger === false ? null : (options.logger ?? stderrSink);
  const strict = options.strictOutbound ?? (process.env.NODE_ENV === 'test' || !!process.env.VITEST);
  const random = options.random ?? Math.random;
  const core = new ServerCore({
    params, random, authorize: o.authorize, tokenWarningMs: o.tokenWarningMs, shutdownSpreadMs: o.shutdownSpreadMs,
    closeGraceMs: o.closeGraceMs, preAuthFrames: o.preAuthFrames, reportRateHits: redis !== null, server: { name: SERVER_NAME, version: SERVER_VERSION },
  });

  const log = (level: LogLevel, event: string, fields: Record<string, unknown> = {}) => sink?.(makeEntry(level, event, fields));
  const publish = async (channel: string, data: unknown) => {
    if (!isChannelName(channel)) throw new TypeError(`invalid channel name: ${JSON.stringify(channel).slice(0, 140)}`); // SUB-1
    // CONF-2: data that cannot be serialized would get a position and never reach anyone.
    if (jsonDepth(data) > MAX_PAYLOAD_DEPTH) throw new TypeError(`data nested more than ${MAX_PAYLOAD_DEPTH} levels`);
    return (await broker.publish(channel, data, Date.now())).position;
  };
  const handlers = new Map<string, ActionHandler>(Object.entries({
    ...(o.testActions ? testActions({ authorize: o.authorize, publish }) : {}),
    ...(options.actions ?? {}),
  }));

  const sockets = new Map<ConnId, WebSocket>();
  // OPS-1: off by default; every hook below is `metrics?.…`, a null check when off.
  const metrics = options.metrics ? createMetrics(options.metrics, { connections: () => sockets.size, sessions: () => sessionUsers.size, actions: handlers }) : null;
  // OPS-1: startServer fails when the metrics listener cannot listen; an attached engine logs it (LOG-1).
  metrics?.ready.catch((err: unknown) => log('error', 'request_failed', { reason: 'metrics_listen_failed', detail: String((err as Error)?.message ?? err) }));
  const brokerSubs = new Map<string, Promise<() => void>>();
  let nextConn = 1;
  let shuttingDown = false;

  // --- the core loop: events in (queued, never re-entrant), actions out, one timer ----------------
  const queue: ServerEvent[] = [];
  let busy = false;
  let timer: NodeJS.Timeout | undefined;
  let timerAt = Infinity;

  function feed(ev: ServerEvent): void {
    queue.push(ev);
    if (busy) return;
    busy = true;
    try {
      // An index, not shift(): events that performing actions queues (a sync action's result, a slow
      // consumer) are appended and handled in this same loop.
      for (let i = 0; i < queue.length; i++) {
        const event = queue[i]!;
        try {
          const actions = core.handle(event);
          for (let j = 0; j < actions.length; j++) perform(actions[j]!);
        } catch (err) {
          // ERR-4: a bug costs at most the event that hit it, never the server nor the events queued
          // behind it (another connection's close, say); tests (strict) see it as a failure.
          if (strict) throw err;
          // LOG-1: the line's event is request_failed; the core event that failed is a field of its own.
          log('error', 'request_failed', { reason: 'internal_error', coreEvent: event.type, detail: String((err as Error)?.message ?? err) });
        }
      }
    } finally {
      busy = false;
      queue.length = 0;
    }
    arm();
  }

  function arm(): void {
    const at = core.nextDeadline();
    if (at === timerAt) return;
    clearTimeout(timer);
    timerAt = at ?? Infinity;
    if (at === undefined) return;
    timer = setTimeout(() => {
      timerAt = Infinity;
      feed({ type: 'tick', now: Date.now() });
    }, Math.max(0, at - Date.now()));
    timer.unref();
  }

  /**
   * Outbound messages, validated and serialized. Data already serialized (`RawJson`: a push's data
   * as the broker keeps it, LIMIT-7; an action's result as `runAction` checked it) is spliced in as is.
   */
  function serialize(m: ServerMessage): string | null {
    const raw = (m.type === 'push' || m.type === 'response') && (m as { data?: unknown }).data instanceof RawJson
      ? ((m as { data?: unknown }).data as RawJson).json : undefined;
    // In production, frames the server builds from parts it validated itself skip the schema check:
    // a pong (a number), a push (channel checked at publish, SUB-1; position and ts from the broker,
    // data serialized by the broker) and a successful response whose data runAction serialized (the
    // requestId is the validated request's, REQ-1). Every other frame, and every frame under tests
    // (strict), is validated as ARCHITECTURE.md "Validation" says.
    if (strict || !(m.type === 'pong' || (raw !== undefined && (m.type === 'push' || (m.type === 'response' && m.success))))) {
      const v = validateServerMessage(raw === undefined ? m : { ...m, data: null });
      if (!v.ok) {
        if (strict) throw new Error(`outbound message fails the schema: ${v.error}: ${JSON.stringify(m).slice(0, 200)}`);
        log('error', 'message_invalid', { direction: 'outbound', type: m.type, detail: v.error });
        return null;
      }
    }
    if (raw === undefined) return JSON.stringify(m);
    if (m.type === 'response') return `{"type":"response","requestId":${JSON.stringify(m.requestId)},"success":true,"data":${raw}}`;
    const p = m as PushMessage;
    return `{"type":"push","channel":${JSON.stringify(p.channel)},"data":${raw},"position":{"epoch":${JSON.stringify(p.position.epoch)},"offset":${p.position.offset}},"ts":${p.ts}${p.replay ? ',"replay":true' : ''}}`;
  }

  function perform(a: ServerAction): void {
    switch (a.type) {
      case 'send': {
        const ws = sockets.get(a.conn);
        if (!ws || ws.readyState !== WebSocket.OPEN) return;
        const text = serialize(a.message);
        if (text === null) return;
        if (a.message.type === 'authenticated') authenticated(a.conn, a.message.userId);
        ws.send(text);
        metrics?.sent(a.message.type);
        // LIMIT-3: a slow consumer is closed; sends never wait for it, so others are not slowed.
        if (ws.bufferedAmount > params.maxBufferedBytes) queue.push({ type: 'slowConsumer', now: Date.now(), conn: a.conn, bufferedBytes: ws.bufferedAmount });
        return;
      }
      case 'fanout': {
        // SUB-6: framed once; the UTF-8 bytes are encoded once too (ws would encode a string per socket).
        const text = serialize(a.message);
        if (text === null) return;
        const bytes = Buffer.from(text);
        const max = params.maxBufferedBytes;
        for (const conn of a.conns) {
          const ws = sockets.get(conn);
          if (!ws || ws.readyState !== WebSocket.OPEN) continue;
          ws.send(bytes, TEXT_FRAME);
          metrics?.sent('push');
          // LIMIT-3: as for 'send'
          if (ws.bufferedAmount > max) queue.push({ type: 'slowConsumer', now: Date.now(), conn, bufferedBytes: ws.bufferedAmount });
        }
        return;
      }
      case 'close': {
        const ws = sockets.get(a.conn);
        if (ws && ws.readyState === WebSocket.OPEN) ws.close(a.code, a.reason);
        metrics?.closeSent(a.code);
        return;
      }
      case 'terminate':
        sockets.get(a.conn)?.terminate();
        return;
      case 'ping': {
        const ws = sockets.get(a.conn);
        if (ws?.readyState === WebSocket.OPEN) ws.ping();
        metrics?.pinged(a.conn);
        return;
      }
      case 'verifyToken': {
        const { conn, verifyId } = a;
        tokens.lookupHash(hashToken(a.token)).then(
          async (record) => {
            // NODE-6: a new session is claimed in Redis before it is authenticated (re-auths claim none).
            if (redis && record && judgeToken(record, Date.now()).ok && !sessionUsers.has(conn)) {
              try {
                await redis.claimSession(conn, record.userId, () => sockets.has(conn));
                if (sockets.has(conn)) {
                  sessionUsers.set(conn, record.userId);
                  await redis.presence.sessionOpened(record.userId, Date.now()); // NODE-14: counted before authenticated
                }
              } catch (err) {
                log('error', 'auth_failed', { conn, reason: 'redis_unavailable', detail: String((err as Error)?.message ?? err) });
                return feed({ type: 'unavailable', now: Date.now(), conn, retryAfterMs: redis.config.healthIntervalMs }); // NODE-10
              }
            }
            feed({ type: 'tokenResult', now: Date.now(), conn, verifyId, record });
          },
          (err: unknown) => {
            log('error', 'auth_failed', { conn, reason: 'token_store_error', detail: String((err as Error)?.message ?? err) });
            feed({ type: 'tokenResult', now: Date.now(), conn, verifyId, record: null });
          },
        );
        return;
      }
      case 'dispatch': {
        const { conn, requestId, action, payload, userId } = a;
        const started = metrics?.requestStarted();
        const outcome = runAction(handlers, action, payload, { userId, conn }, (err) =>
          log('error', 'request_failed', { conn, userId, action, requestId, detail: String((err as Error)?.message ?? err) }),
        );
        // A sync handler's outcome joins this loop's queue: no promise hop per request.
        if (outcome instanceof Promise) {
          outcome.then((o) => {
            metrics?.requestEnded(action, started!, o.ok);
            feed({ type: 'actionResult', now: Date.now(), conn, requestId, outcome: o });
          });
        } else {
          metrics?.requestEnded(action, started!, outcome.ok);
          queue.push({ type: 'actionResult', now: Date.now(), conn, requestId, outcome });
        }
        return;
      }
      case 'readChannel': {
        const { conn, fetchId, channel, since } = a;
        if (since) metrics?.resumed();
        // Live first, then history: the core merges both and drops duplicates (race-free resume).
        listen(channel)
          .then(() => broker.read(channel, since))
          .then(
            (read) => feed({ type: 'channelRead', now: Date.now(), conn, fetchId, channel, read }),
            (err: unknown) => {
              log('error', 'request_failed', { conn, channel, reason: 'broker_error', detail: String((err as Error)?.message ?? err) });
              feed({ type: 'channelRead', now: Date.now(), conn, fetchId, channel, read: null });
            },
          );
        return;
      }
      case 'channelIdle': {
        const sub = brokerSubs.get(a.channel);
        brokerSubs.delete(a.channel);
        sub?.then((stop) => stop(), () => undefined);
        return;
      }
      case 'log':
        log(a.level, a.event, a.fields);
        metrics?.logged(a.event, a.fields);
        return;
      case 'rateHit':
        redis?.rateHit(a.userId); // NODE-8
        return;
    }
  }

  function listen(channel: string): Promise<() => void> {
    let sub = brokerSubs.get(channel);
    if (!sub) {
      sub = broker.subscribe(channel, (push) => feed({ type: 'brokerPush', now: Date.now(), push }), () => feed({ type: 'channelGap', now: Date.now(), channel }));
      brokerSubs.set(channel, sub);
      sub.catch(() => brokerSubs.get(channel) === sub && brokerSubs.delete(channel));
    }
    return sub;
  }

  // --- HTTP and the WebSocket handshake -----------------------------------------------------------
  const http = createHttpHandler({
    tokens, wsPath: o.path, staticFiles: options.staticFiles ?? {},
    shuttingDown: () => shuttingDown, unavailable: () => redis !== null && !redis.available, presence, metrics,
  });
  const wss = new WebSocketServer({
    noServer: true,
    maxPayload: params.maxPayloadBytes, // LIMIT-1: ws closes with 1009
    handleProtocols: (offered) => (offered.has(SUBPROTOCOL) ? SUBPROTOCOL : false), // VER-2, VER-4
  });

  // LIMIT-2, LIMIT-9: every socket of the port is counted per IP from accept to close, whatever it
  // carries (an upgrade in progress, a refused one, a WebSocket, HTTP), so that sockets a peer holds
  // before or during the upgrade count against the same limit as its connections.
  const rawSockets = new Set<Socket>();
  const socketsPerIp = new Map<string, number>();
  const maxSocketsPerIp = o.maxSocketsPerIp ?? o.maxConnectionsPerIp + 64;
  const trust = new ProxyTrust(o.trustProxy, o.forwardedHeader); // DEPLOY-7: a bad entry throws here, at start
  // Sockets counted, by connection 4-tuple: a TLS socket and the TCP socket under it are one socket.
  const counted = new Set<string>();
  const tupleOf = (s: Socket) => `${s.remoteAddress}|${s.remotePort}|${s.localAddress}|${s.localPort}`;
  /** Counts `socket` against `ip` until it closes; the count after it, or 0 when it was already counted. */
  function count(socket: Socket, ip: string): number {
    const key = tupleOf(socket);
    if (counted.has(key)) return 0;
    counted.add(key);
    const n = (socketsPerIp.get(ip) ?? 0) + 1;
    socketsPerIp.set(ip, n);
    socket.once('close', () => {
      counted.delete(key);
      const left = (socketsPerIp.get(ip) ?? 1) - 1;
      if (left > 0) socketsPerIp.set(ip, left);
      else socketsPerIp.delete(ip);
    });
    return n;
  }
  function trackSocket(socket: Socket): void {
    if (rawSockets.has(socket)) return;
    rawSockets.add(socket);
    socket.once('close', () => rawSockets.delete(socket));
    // DEPLOY-4: a trusted proxy's sockets carry many clients: none is counted as the proxy's own; its
    // upgrades count against their client's address from the upgrade on. Every other peer's
    // sockets count from accept (an untrusted flood is still dropped here).
    if (trust.trusts(socket.remoteAddress)) return;
    // LIMIT-9: far beyond the per-IP limit, not even an HTTP answer: the socket is dropped at accept.
    if (count(socket, socket.remoteAddress ?? 'unknown') > maxSocketsPerIp) socket.destroy();
  }

  /** LOG-2: at most a short prefix of anything a client sent where a token could be. */
  function prefix(text: string, n = 16): string {
    return text.length <= n ? text : `${text.slice(0, n)}…(${text.length} chars)`;
  }

  function refuse(socket: Duplex, status: number, reason: string, req: IncomingMessage, path: string): void {
    const client = clientOf(req);
    log('info', 'handshake_rejected', { status, reason, ip: client.ip, ...(client.peer ? { peer: client.peer } : {}), path: prefix(path) });
    const body = JSON.stringify({ error: reason });
    socket.end(`HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`);
    // LIMIT-9: a peer that keeps its side open (or vanished) must not hold the fd: destroy after a short linger.
    const linger = setTimeout(() => socket.destroy(), o.refuseLingerMs);
    linger.unref();
    socket.once('close', () => clearTimeout(linger));
  }

  /** DEPLOY-1, DEPLOY-2: the client behind the request (its peer unless that is a trusted proxy). */
  const origins = new WeakMap<IncomingMessage, ClientOrigin>();
  function clientOf(req: IncomingMessage): ClientOrigin {
    let c = origins.get(req);
    if (!c) origins.set(req, (c = trust.clientOf(req.socket.remoteAddress, req.headers)));
    return c;
  }

  function originAllowed(req: IncomingMessage): boolean {
    const origin = req.headers.origin;
    if (origin === undefined) return true; // SEC-1: no Origin, not refused for it
    if (o.allowedOrigins.includes(origin)) return true;
    if (!o.allowSameOrigin) return false;
    // DEPLOY-5: behind a trusted proxy, the own origin is the scheme and host the client used.
    const client = clientOf(req);
    const host = client.host ?? req.headers.host;
    if (host === undefined) return false;
    if (client.proto) return origin === `${client.proto}://${host}`;
    return origin === `http://${host}` || origin === `https://${host}`;
  }

  /** The request target's URL, or null when it is none (`//host:99999/ws`, on which `new URL` would throw: ERR-4). */
  function requestUrl(req: IncomingMessage): URL | null {
    return URL.canParse(req.url ?? '/', 'http://localhost') ? new URL(req.url ?? '/', 'http://localhost') : null;
  }

  function handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer, opts: { refuseOtherPaths?: boolean } = {}): boolean {
    const url = requestUrl(req);
    if (url !== null && url.pathname !== o.path && !opts.refuseOtherPaths) return false; // another route's upgrade: not ours
    socket.on('error', destroySelf);
    // An attached server's sockets are counted from the upgrade on (the app's HTTP is not Mooring's to
    // limit); a standalone server's were counted at accept (the same 4-tuple: not twice).
    if (socket instanceof Socket) trackSocket(socket);
    try {
      upgrade(req, socket, head, url);
    } catch (err) {
      // ERR-4: nothing a peer sends in a handshake may take the server down.
      if (strict) throw err;
      log('error', 'handshake_rejected', { status: 500, reason: 'internal_error', ip: clientOf(req).ip, detail: String((err as Error)?.message ?? err) });
      socket.destroy();
    }
    return true;
  }

  function upgrade(req: IncomingMessage, socket: Duplex, head: Buffer, url: URL | null): void {
    if (url === null) return refuse(socket, 400, 'bad_request', req, '(invalid)');
    const path = url.pathname; // never log the query: it may hold a token
    if (path !== o.path) return refuse(socket, 404, 'not_found', req, path);
    if (shuttingDown) return refuse(socket, 503, 'shutting_down', req, path); // SHUT-1
    if (redis && !redis.available) return refuse(socket, 503, 'unavailable', req, path); // NODE-10
    const offered = parseProtocols(req.headers['sec-websocket-protocol'] as string | undefined);
    if (offered.length && !offered.includes(SUBPROTOCOL)) return refuse(socket, 400, 'unsupported_subprotocol', req, path); // VER-3
    if (!originAllowed(req)) return refuse(socket, 403, 'origin_not_allowed', req, path); // SEC-1
    const urlToken = url.searchParams.get('token') ?? undefined;
    if (urlToken !== undefined && !o.allowTokenInUrl) return refuse(socket, 400, 'token_in_url', req, path); // AUTH-7
    const { ip } = clientOf(req);
    // DEPLOY-4: through a trusted proxy, the upgrade counts against its client from here to close.
    if (socket instanceof Socket && trust.trusts(socket.remoteAddress)) count(socket, ip);
    // LIMIT-2: this socket and every other one of the IP (open connections, upgrades in progress).
    if ((socketsPerIp.get(ip) ?? 0) > o.maxConnectionsPerIp) return refuse(socket, 429, 'too_many_connections', req, path);
    wss.handleUpgrade(req, socket, head, (ws) => onConnection(ws, socket, ip, req.headers.origin, urlToken));
  }

  /** LIMIT-8: each connection's frame guard; null once it tripped (nothing more reaches ws's parser). */
  const guards = new Map<ConnId, FrameGuard | null>();

  // One set of listeners for every connection, which finds its connection id on the emitter (`this`):
  // an idle connection costs no closures of its own.
  function admitChunk(socket: Duplex, chunk: Buffer): boolean {
    const conn = (socket as Tagged)[CONN]!;
    const guard = guards.get(conn);
    if (guard === undefined) return true;
    if (guard === null) return false;
    if (guard.feed(chunk) === 'ok') return true;
    // Nothing more reaches ws's parser, not even this chunk (it would buffer its fragments); the
    // core closes the connection and terminates it after closeGraceMs.
    guards.set(conn, null);
    socket.pause();
    feed({ type: 'overBudget', now: Date.now(), conn, budget: guard.lastVerdict });
    return false;
  }
  /** ws's 'data' listener → the same listener behind the guard (ws shares one across its sockets). */
  const guardedListeners = new WeakMap<(chunk: Buffer) => void, (chunk: Buffer) => void>();
  function guarded(l: (chunk: Buffer) => void): (chunk: Buffer) => void {
    let w = guardedListeners.get(l);
    if (!w) {
      // `.listener` lets ws's removeListener('data', its listener) still remove the wrapper.
      w = Object.assign(function (this: Duplex, chunk: Buffer) {
        if (admitChunk(this, chunk)) l.call(this, chunk);
      }, { listener: l });
      guardedListeners.set(l, w);
    }
    return w;
  }
  function onWsMessage(this: WebSocket, data: RawData, isBinary: boolean): void {
    const conn = (this as Tagged)[CONN]!;
    const now = Date.now();
    metrics?.received(data, isBinary);
    if (isBinary) feed({ type: 'binary', now, conn });
    else feed({ type: 'text', now, conn, text: Array.isArray(data) ? Buffer.concat(data).toString('utf8') : data.toString('utf8') });
  }
  function onWsActivity(this: WebSocket): void {
    feed({ type: 'activity', now: Date.now(), conn: (this as Tagged)[CONN]! }); // HB-4
  }
  function onWsPong(this: WebSocket): void {
    const conn = (this as Tagged)[CONN]!;
    metrics?.ponged(conn);
    feed({ type: 'activity', now: Date.now(), conn }); // HB-4
  }
  function onWsError(this: WebSocket, err: Error & { code?: string }): void {
    // LIMIT-1: ws has already closed with 1009 (or 1002/1007 for protocol errors).
    const reason = err.code === 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH' ? 'payload_too_large' : (err.code ?? 'socket_error');
    log('info', 'message_invalid', { conn: (this as Tagged)[CONN], reason });
  }
  function onWsClose(this: WebSocket, code: number, reason: Buffer): void {
    const conn = (this as Tagged)[CONN]!;
    sockets.delete(conn);
    guards.delete(conn);
    const user = sessionUsers.get(conn);
    redis?.sessionEnded(conn);
    if (user !== undefined) {
      sessionUsers.delete(conn);
      // HTTP-7; NODE-14: a shared presence's write may fail (Redis down): presence is best effort.
      void Promise.resolve(presence.sessionClosed(user, Date.now())).catch(() => undefined);
    }
    metrics?.closed(conn, code);
    feed({ type: 'closed', now: Date.now(), conn, code, reason: reason.toString() });
    if (sockets.size === 0) onDrained?.();
  }

  function onConnection(ws: WebSocket, socket: Duplex, ip: string, origin: string | undefined, urlToken: string | undefined): void {
    const conn = nextConn++;
    sockets.set(conn, ws);
    (ws as Tagged)[CONN] = conn;
    (socket as Tagged)[CONN] = conn;
    // LIMIT-8: fragments per message and bytes before authentication, read from the frame headers.
    guards.set(conn, new FrameGuard({ maxFragments: o.maxFragments, preAuthBytes: o.preAuthBytes }));
    // The guard sits in front of ws's own 'data' listener.
    for (const l of socket.listeners('data') as ((chunk: Buffer) => void)[]) {
      socket.removeListener('data', l);
      socket.on('data', guarded(l));
    }
    ws.on('message', onWsMessage);
    ws.on('pong', onWsPong);
    ws.on('ping', onWsActivity);
    ws.on('error', onWsError);
    ws.on('close', onWsClose);
    feed({ type: 'open', now: Date.now(), conn, ip, origin, urlToken });
  }

  /** LIMIT-8 and HTTP-7: a connection's `authenticated` (first or re-auth) is on its way. */
  function authenticated(conn: ConnId, userId: string): void {
    guards.get(conn)?.markAuthenticated(); // LIMIT-8
    if (sessionUsers.has(conn)) return;
    sessionUsers.set(conn, userId);
    presence.sessionOpened(userId, Date.now());
  }

  // AUTH-14: revocations (by this process, the CLI, another node) close live sessions with 4401.
  const unwatchTokens = tokens.watch((change) => feed({ type: 'tokensChanged', now: Date.now(), revoked: change.revoked, expiry: change.expiry }));

  let onDrained: (() => void) | undefined;
  let shutdownPromise: Promise<void> | undefined;

  async function shutdown(): Promise<void> {
    shuttingDown = true; // SHUT-1: upgrades now get 503
    log('info', 'shutdown_started', { connections: sockets.size });
    const drained = new Promise<void>((resolve) => {
      onDrained = resolve;
      if (sockets.size === 0) resolve();
    });
    feed({ type: 'shutdown', now: Date.now() }); // SHUT-2, SHUT-3: the core closes everyone with 1012 + hint
    // The core terminates stragglers after closeGraceMs; this is a backstop.
    const backstop = setTimeout(() => sockets.forEach((ws) => ws.terminate()), o.closeGraceMs + 500);
    await drained;
    clearTimeout(backstop);
    clearTimeout(timer);
    unwatchTokens();
    if (!options.tokenStore) await tokens.close?.();
    if (!options.presence) presence.close();
    await metrics?.close();
    for (const sub of brokerSubs.values()) sub.then((stop) => stop(), () => undefined);
    brokerSubs.clear();
    wss.close();
    await redis?.close();
    // LIMIT-9: sockets http no longer tracks (refused upgrades whose peer keeps them open, upgrades
    // in progress) would keep the process alive after SIGTERM: destroy them all.
    for (const socket of rawSockets) socket.destroy();
    log('info', 'shutdown_completed', {});
  }

  function handleRequest(req: IncomingMessage, res: ServerResponse): boolean {
    if (!http.owns(req)) return false;
    http.handler(req, res);
    return true;
  }

  return {
    params, broker, tokenStore: tokens,
    ready: async () => void (await redis?.ready()),
    createToken: (userId, opts) => tokens.create(userId, opts),
    publish,
    shutdown: () => (shutdownPromise ??= shutdown()),
    connectionCount: () => sockets.size,
    revokeToken: (selector) => tokens.revoke(selector),
    rotateToken: (userId, opts) => tokens.rotate(userId, opts),
    listTokens: (filter) => tokens.list(filter),
    presence: (userId) => presence.get(userId),
    on: (_event, listener) => presence.on(listener),
    metrics,
    handleUpgrade,
    handleRequest,
    trackSocket,
  };
}

/**
 * Mooring on an app's existing HTTP server (DEPLOY-9): the upgrades of `path` and Mooring's HTTP
 * endpoints are Mooring's; every other request and upgrade goes to the app's own listeners, those
 * registered before `attach` and after it alike (a Next.js custom server adds its upgrade handler
 * late). Mooring sees each `request` and `upgrade` event first, by wrapping the server's `emit`,
 * rather than by moving the app's listeners around: a listener added later can then never also
 * answer one of Mooring's routes. With no request listener of the app's, other routes get 404; with
 * no upgrade listener, other upgrades get 404.
 */
export function attach(httpServer: HttpServer, options: ServerOptions = {}): AttachedMooring {
  const m = createMooring(options);
  // Node emits 'upgrade' only when the server has an upgrade listener (else the upgrade is handed to
  // the request listeners as a plain request): this one keeps upgrades coming; it never runs for
  // Mooring's path, and does nothing for others.
  const keepUpgrades = () => undefined;
  const emit = httpServer.emit;
  const wrapped = function (this: HttpServer, event: string | symbol, ...args: unknown[]): boolean {
    if (event === 'request') {
      const [req, res] = args as [IncomingMessage, ServerResponse];
      if (m.handleRequest(req, res)) return true;
      if (this.listenerCount('request') === 0) {
        res.writeHead(404, { 'content-type': 'application/json; charset=utf-8', 'content-length': 21 }).end('{"error":"not_found"}');
        return true;
      }
    } else if (event === 'upgrade') {
      const [req, socket, head] = args as [IncomingMessage, Duplex, Buffer];
      if (m.handleUpgrade(req, socket, head, { refuseOtherPaths: this.listenerCount('upgrade') <= 1 })) return true;
    }
    return (emit as (this: HttpServer, event: string | symbol, ...args: unknown[]) => boolean).call(this, event, ...args);
  };
  httpServer.emit = wrapped as HttpServer['emit'];
  httpServer.on('upgrade', keepUpgrades);
  let detached: Promise<void> | undefined;
  return {
    ...m,
    detach: () => (detached ??= m.shutdown().then(() => {
      if (httpServer.emit === wrapped) httpServer.emit = emit;
      httpServer.removeListener('upgrade', keepUpgrades);
    })),
  };
}

/** Mooring on its own HTTP server: listens on `host:port` and serves nothing but Mooring. */
export async function startServer(options: ServerOptions = {}): Promise<MooringServer> {
  const o = { ...SERVER_DEFAULTS, ...stripUndefined(options) };
  const m = createMooring(options);
  await m.ready();
  // LIMIT-9: a header timeout well below Node's 60 s default, checked every second (Node checks every 30 s by default).
  const serverOptions = { headersTimeout: o.headersTimeoutMs, requestTimeout: Math.max(o.headersTimeoutMs, 30_000), connectionsCheckingInterval: Math.min(1_000, o.headersTimeoutMs) };
  const onRequest = (req: IncomingMessage, res: ServerResponse) => {
    if (!m.handleRequest(req, res)) res.writeHead(404, { 'content-type': 'application/json; charset=utf-8', 'content-length': 21 }).end('{"error":"not_found"}');
  };
  // DEPLOY-6: with a certificate, TLS on the same port (wss://, https://); a TLS handshake is held no
  // longer than the headers are (LIMIT-9).
  const httpServer: HttpServer = o.tls
    ? createHttpsServer({ ...serverOptions, cert: o.tls.cert, key: o.tls.key, ca: o.tls.ca, handshakeTimeout: o.headersTimeoutMs }, onRequest)
    : createServer(serverOptions, onRequest);
  if (o.tls) httpServer.on('tlsClientError', (_err: Error, socket: Duplex) => socket.destroy());
  httpServer.on('clientError', (_err, socket) => socket.destroy());
  // LIMIT-2, LIMIT-9: on its own port, every socket counts against its IP from accept on.
  httpServer.on('connection', (socket: Socket) => m.trackSocket(socket));
  httpServer.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => void m.handleUpgrade(req, socket, head, { refuseOtherPaths: true }));

  // OPS-1: a metrics listener that cannot listen fails the start, as the main port would.
  const metricsUrl = await m.metrics?.ready.catch(async (err: unknown) => {
    await m.shutdown();
    throw err;
  });
  await new Promise<void>((resolve, reject) => {
    httpServer.once('error', reject);
    httpServer.listen(o.port, o.host, () => {
      httpServer.off('error', reject);
      resolve();
    });
  }).catch(async (err: unknown) => {
    await m.shutdown(); // the token watcher and the metrics listener must not outlive a failed start
    throw err;
  });
  const port = (httpServer.address() as AddressInfo).port;
  const hostForUrl = o.host.includes(':') ? `[${o.host}]` : o.host;
  const secure = o.tls ? 's' : '';
  const url = `ws${secure}://${hostForUrl}:${port}${o.path}`;
  const httpUrl = `http${secure}://${hostForUrl}:${port}`;
  const sink = options.logger === false ? null : (options.logger ?? stderrSink);
  sink?.(makeEntry('info', 'server_listening', { url, httpUrl, ...(metricsUrl ? { metricsUrl } : {}) }));

  let closed: Promise<void> | undefined;
  return {
    ...m,
    url, httpUrl, port, httpServer,
    // SHUT-1: while the engine drains, new upgrades get 503; the port closes once they are gone.
    shutdown: () => (closed ??= m.shutdown().then(() => new Promise<void>((resolve) => {
      httpServer.close(() => resolve());
      httpServer.closeAllConnections();
    }))),
  };
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

