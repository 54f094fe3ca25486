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
import { Socket, type AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { WebSocketServer, WebSocket } from 'ws';
import { SUBPROTOCOL, isChannelName, validateServerMessage, type Position, type SessionParams, type ServerMessage } from '../../schemas/v1/index.js';
import { RawJson, ServerCore, type ConnId, type LogLevel, type ServerAction, type ServerEvent } from '../core/server/index.js';
import { FrameGuard } from './frame-guard.js';
import { jsonDepth, MAX_PAYLOAD_DEPTH, runAction, testActions, type ActionHandler } from './actions.js';
import { MemoryBroker, type Broker } from './broker.js';
import { createHttpHandler } from './http.js';
import { makeEntry, stderrSink } from './logger.js';
import { SERVER_DEFAULTS, sessionParams, type ServerOptions } from './options.js';
import { openTokenStore, type TokenStore } from './tokens-file.js';
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
  /** e.g. 'ws://127.0.0.1:PORT/ws' */
  readonly url: string;
  /** e.g. 'http://127.0.0.1:PORT' */
  readonly httpUrl: string;
  readonly port: number;
  /** The HTTP server Mooring listens on. */
  readonly httpServer: HttpServer;
}

/** Mooring sharing an app's HTTP server (`attach`). */
export interface AttachedMooring extends Mooring {
  /** Stops taking the server's upgrades and requests, after a graceful shutdown of Mooring's connections; the app's server stays up. */
  detach(): Promise<void>;
}

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
  const tokens = options.tokenStore ?? openTokenStore(o.tokensFile);
  const broker = options.broker ?? new MemoryBroker({ historySize: params.historySize, historyBytes: params.historyBytes, maxHistoryBytes: o.maxHistoryBytes });
  const sink = options.logger === false ? null : (options.logger ?? stderrSink);
  const strict = options.strictOutbound ?? (process.env.NODE_ENV === 'test' || !!process.env.VITEST);
  const random = options.random ?? Math.random;
  const core = new ServerCore({
    params, random, authorize: o.authorize, tokenWarningMs: o.tokenWarningMs, shutdownSpreadMs: o.shutdownSpreadMs,
    closeGraceMs: o.closeGraceMs, preAuthFrames: o.preAuthFrames, server: { name: SERVER_NAME, version: SERVER_VERSION },
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
      while (queue.length) {
        const event = queue.shift()!;
        try {
          for (const a of core.handle(event)) perform(a);
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

  /** Outbound messages, validated and serialized once per object (a push fans out as one string). */
  const serialized = new WeakMap<ServerMessage, string>();
  function serialize(m: ServerMessage): string | null {
    let s = serialized.get(m);
    if (s !== undefined) return s;
    // LIMIT-7: a push whose data the broker serialized is checked without it and spliced in as is.
    const raw = m.type === 'push' && m.data instanceof RawJson ? m.data.json : undefined;
    const v = validateServerMessage(raw === undefined ? m : { ...m, data: null });
    if (!v.ok) {
      if (strict) throw new Error(`outbound message fails the schema: ${v.error}: ${JSON.stringify(m).slice(0, 200)}`);
      log('error', 'message_invalid', { direction: 'outbound', type: m.type, detail: v.error });
      return null;
    }
    if (raw !== undefined && m.type === 'push') {
      const head = JSON.stringify({ type: 'push', channel: m.channel });
      s = `${head.slice(0, -1)},"data":${raw},"position":${JSON.stringify(m.position)},"ts":${JSON.stringify(m.ts)}${m.replay ? ',"replay":true' : ''}}`;
    } else s = JSON.stringify(m);
    serialized.set(m, s);
    return s;
  }

  function perform(a: ServerAction): void {
    switch (a.type) {
      case 'send': {
        const ws = sockets.get(a.conn);
        if (!ws || ws.readyState !== WebSocket.OPEN) return;
        const text = serialize(a.message);
        if (text === null) return;
        if (a.message.type === 'authenticated') guards.get(a.conn)?.markAuthenticated(); // LIMIT-8
        ws.send(text);
        // LIMIT-3: a slow consumer is closed; sends never wait for it, so others are not slowed.
        if (ws.bufferedAmount > params.maxBufferedBytes) queue.push({ type: 'slowConsumer', now: Date.now(), conn: a.conn, bufferedBytes: ws.bufferedAmount });
        return;
      }
      case 'close': {
        const ws = sockets.get(a.conn);
        if (ws && ws.readyState === WebSocket.OPEN) ws.close(a.code, a.reason);
        return;
      }
      case 'terminate':
        sockets.get(a.conn)?.terminate();
        return;
      case 'ping': {
        const ws = sockets.get(a.conn);
        if (ws?.readyState === WebSocket.OPEN) ws.ping();
        return;
      }
      case 'verifyToken': {
        const { conn, verifyId } = a;
        tokens.lookup(a.token).then(
          (record) => feed({ type: 'tokenResult', now: Date.now(), conn, verifyId, record }),
          (err: unknown) => {
            log('error', 'auth_failed', { conn, reason: 'token_store_error', detail: String((err as Error)?.message ?? err) });
            feed({ type: 'tokenResult', now: Date.now(), conn, verifyId, record: null });
          },
        );
        return;
      }
      case 'dispatch': {
        const { conn, requestId, action, payload, userId } = a;
        void runAction(handlers, action, payload, { userId, conn }, (err) =>
          log('error', 'request_failed', { conn, userId, action, requestId, detail: String((err as Error)?.message ?? err) }),
        ).then((outcome) => feed({ type: 'actionResult', now: Date.now(), conn, requestId, outcome }));
        return;
      }
      case 'readChannel': {
        const { conn, fetchId, channel, since } = a;
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
        return;
    }
  }

  function listen(channel: string): Promise<() => void> {
    let sub = brokerSubs.get(channel);
    if (!sub) {
      sub = broker.subscribe(channel, (push) => feed({ type: 'brokerPush', now: Date.now(), push }));
      brokerSubs.set(channel, sub);
      sub.catch(() => brokerSubs.get(channel) === sub && brokerSubs.delete(channel));
    }
    return sub;
  }

  // --- HTTP and the WebSocket handshake -----------------------------------------------------------
  const http = createHttpHandler({
    tokens, wsPath: o.path, staticFiles: options.staticFiles ?? {},
    shuttingDown: () => shuttingDown, sessionCount: (u) => core.sessionCount(u),
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
  function trackSocket(socket: Socket): void {
    if (rawSockets.has(socket)) return;
    const ip = socket.remoteAddress ?? 'unknown';
    const n = (socketsPerIp.get(ip) ?? 0) + 1;
    socketsPerIp.set(ip, n);
    rawSockets.add(socket);
    socket.once('close', () => {
      rawSockets.delete(socket);
      const left = (socketsPerIp.get(ip) ?? 1) - 1;
      if (left > 0) socketsPerIp.set(ip, left);
      else socketsPerIp.delete(ip);
    });
    // LIMIT-9: far beyond the per-IP limit, not even an HTTP answer: the socket is dropped at accept.
    if (n > maxSocketsPerIp) socket.destroy();
  }

  /** LOG-2: at most a short prefix of anything a client sent where a token could be. */
  function prefix(text: string, n = 16): string {
    return text.length <= n ? text : `${text.slice(0, n)}…(${text.length} chars)`;
  }

  function refuse(socket: Duplex, status: number, reason: string, req: IncomingMessage, path: string): void {
    log('info', 'handshake_rejected', { status, reason, ip: req.socket.remoteAddress, path: prefix(path) });
    const body = JSON.stringify({ error: reason });
    socket.end(`HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`);
    // LIMIT-9: a peer that keeps its side open (or vanished) must not hold the fd: destroy after a short linger.
    const linger = setTimeout(() => socket.destroy(), o.refuseLingerMs);
    linger.unref();
    socket.once('close', () => clearTimeout(linger));
  }

  function originAllowed(req: IncomingMessage): boolean {
    const origin = req.headers.origin;
    if (origin === undefined) return true; // SEC-1: no Origin, not refused for it
    if (o.allowedOrigins.includes(origin)) return true;
    const host = req.headers.host;
    return o.allowSameOrigin && host !== undefined && (origin === `http://${host}` || origin === `https://${host}`);
  }

  /** The request target's URL, or null when it is none (`//host:99999/ws`, on which `new URL` would throw: ERR-4). */
  function requestUrl(req: IncomingMessage): URL | null {
    return URL.canParse(req.url ?? '/', 'http://localhost') ? new URL(req.url ?? '/', 'http://localhost') : null;
  }

  function handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer, opts: { refuseOtherPaths?: boolean } = {}): boolean {
    const url = requestUrl(req);
    if (url !== null && url.pathname !== o.path && !opts.refuseOtherPaths) return false; // another route's upgrade: not ours
    socket.on('error', () => socket.destroy());
    // An attached server's sockets are counted from the upgrade on (the app's HTTP is not Mooring's to limit).
    if (socket instanceof Socket) trackSocket(socket);
    try {
      upgrade(req, socket, head, url);
    } catch (err) {
      // ERR-4: nothing a peer sends in a handshake may take the server down.
      if (strict) throw err;
      log('error', 'handshake_rejected', { status: 500, reason: 'internal_error', ip: req.socket.remoteAddress, detail: String((err as Error)?.message ?? err) });
      socket.destroy();
    }
    return true;
  }

  function upgrade(req: IncomingMessage, socket: Duplex, head: Buffer, url: URL | null): void {
    if (url === null) return refuse(socket, 400, 'bad_request', req, '(invalid)');
    const path = url.pathname; // never log the query: it may hold a token
    if (path !== o.path) return refuse(socket, 404, 'not_found', req, path);
    if (shuttingDown) return refuse(socket, 503, 'shutting_down', req, path); // SHUT-1
    const offered = parseProtocols(req.headers['sec-websocket-protocol'] as string | undefined);
    if (offered.length && !offered.includes(SUBPROTOCOL)) return refuse(socket, 400, 'unsupported_subprotocol', req, path); // VER-3
    if (!originAllowed(req)) return refuse(socket, 403, 'origin_not_allowed', req, path); // SEC-1
    const urlToken = url.searchParams.get('token') ?? undefined;
    if (urlToken !== undefined && !o.allowTokenInUrl) return refuse(socket, 400, 'token_in_url', req, path); // AUTH-7
    const ip = req.socket.remoteAddress ?? 'unknown';
    // LIMIT-2: this socket and every other one of the IP (open connections, upgrades in progress).
    if ((socketsPerIp.get(ip) ?? 0) > o.maxConnectionsPerIp) return refuse(socket, 429, 'too_many_connections', req, path);
    wss.handleUpgrade(req, socket, head, (ws) => onConnection(ws, socket, ip, req.headers.origin, urlToken));
  }

  const guards = new Map<ConnId, FrameGuard>();

  function onConnection(ws: WebSocket, socket: Duplex, ip: string, origin: string | undefined, urlToken: string | undefined): void {
    const conn = nextConn++;
    sockets.set(conn, ws);
    // LIMIT-8: fragments per message and bytes before authentication, read from the frame headers.
    const guard = new FrameGuard({ maxFragments: o.maxFragments, preAuthBytes: o.preAuthBytes });
    guards.set(conn, guard);
    let tripped = false;
    const admit = (chunk: Buffer): boolean => {
      if (tripped) return false;
      if (guard.feed(chunk) === 'ok') return true;
      // Nothing more reaches ws's parser, not even this chunk (it would buffer its fragments); the
      // core closes the connection and terminates it after closeGraceMs.
      tripped = true;
      socket.pause();
      feed({ type: 'overBudget', now: Date.now(), conn, budget: guard.lastVerdict });
      return false;
    };
    // The guard sits in front of ws's own 'data' listener: each of those is wrapped, and the wrapper
    // carries `.listener` so that ws's removeListener('data', its listener) still removes it.
    for (const l of socket.listeners('data') as ((chunk: Buffer) => void)[]) {
      socket.removeListener('data', l);
      const wrapped = Object.assign((chunk: Buffer) => {
        if (admit(chunk)) l.call(socket, chunk);
      }, { listener: l });
      socket.on('data', wrapped);
    }
    ws.on('message', (data, isBinary) => {
      const now = Date.now();
      if (isBinary) feed({ type: 'binary', now, conn });
      else feed({ type: 'text', now, conn, text: Array.isArray(data) ? Buffer.concat(data).toString('utf8') : data.toString('utf8') });
    });
    ws.on('pong', () => feed({ type: 'activity', now: Date.now(), conn })); // HB-4
    ws.on('ping', () => feed({ type: 'activity', now: Date.now(), conn }));
    ws.on('error', (err: Error & { code?: string }) => {
      // LIMIT-1: ws has already closed with 1009 (or 1002/1007 for protocol errors).
      const reason = err.code === 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH' ? 'payload_too_large' : (err.code ?? 'socket_error');
      log('info', 'message_invalid', { conn, reason });
    });
    ws.on('close', (code, reason) => {
      sockets.delete(conn);
      guards.delete(conn);
      feed({ type: 'closed', now: Date.now(), conn, code, reason: reason.toString() });
      if (sockets.size === 0) onDrained?.();
    });
    feed({ type: 'open', now: Date.now(), conn, ip, origin, urlToken });
  }

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
    for (const sub of brokerSubs.values()) sub.then((stop) => stop(), () => undefined);
    brokerSubs.clear();
    wss.close();
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
    createToken: (userId, opts) => tokens.create(userId, opts),
    publish,
    shutdown: () => (shutdownPromise ??= shutdown()),
    connectionCount: () => sockets.size,
    handleUpgrade,
    handleRequest,
    trackSocket,
  };
}

/**
 * Mooring on an app's existing HTTP server: the upgrades of `path` and Mooring's HTTP endpoints are
 * Mooring's; every other request goes to the app's own request listeners (those registered before
 * `attach`), and other upgrades to the app's upgrade listeners (with none, they get 404).
 */
export function attach(httpServer: HttpServer, options: ServerOptions = {}): AttachedMooring {
  const m = createMooring(options);
  const appListeners = httpServer.listeners('request') as ((req: IncomingMessage, res: ServerResponse) => void)[];
  const onRequest = (req: IncomingMessage, res: ServerResponse) => {
    if (m.handleRequest(req, res)) return;
    if (appListeners.length === 0) {
      res.writeHead(404, { 'content-type': 'application/json; charset=utf-8' }).end('{"error":"not_found"}');
      return;
    }
    for (const l of appListeners) l.call(httpServer, req, res);
  };
  // With no upgrade listener of the app's, other paths get 404 rather than a hanging socket.
  const onUpgrade = (req: IncomingMessage, socket: Duplex, head: Buffer) =>
    void m.handleUpgrade(req, socket, head, { refuseOtherPaths: httpServer.listenerCount('upgrade') === 1 });
  for (const l of appListeners) httpServer.removeListener('request', l);
  httpServer.on('request', onRequest);
  httpServer.on('upgrade', onUpgrade);
  let detached: Promise<void> | undefined;
  return {
    ...m,
    detach: () => (detached ??= m.shutdown().then(() => {
      httpServer.removeListener('request', onRequest);
      httpServer.removeListener('upgrade', onUpgrade);
      for (const l of appListeners) httpServer.on('request', l);
    })),
  };
}

/** Mooring on its own HTTP server: listens on `host:port` and serves nothing but Mooring. */
export async function startServer(options: ServerOptions = {}): Promise<MooringServer> {
  const o = { ...SERVER_DEFAULTS, ...stripUndefined(options) };
  const m = createMooring(options);
  // LIMIT-9: a header timeout well below Node's 60 s default, checked every second (Node checks every 30 s by default).
  const httpServer = createServer({ headersTimeout: o.headersTimeoutMs, requestTimeout: Math.max(o.headersTimeoutMs, 30_000), connectionsCheckingInterval: Math.min(1_000, o.headersTimeoutMs) }, (req, res) => {
    if (!m.handleRequest(req, res)) res.writeHead(404, { 'content-type': 'application/json; charset=utf-8', 'content-length': 21 }).end('{"error":"not_found"}');
  });
  httpServer.on('clientError', (_err, socket) => socket.destroy());
  // LIMIT-2, LIMIT-9: on its own port, every socket counts against its IP from accept on.
  httpServer.on('connection', (socket: Socket) => m.trackSocket(socket));
  httpServer.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => void m.handleUpgrade(req, socket, head, { refuseOtherPaths: true }));

  await new Promise<void>((resolve, reject) => {
    httpServer.once('error', reject);
    httpServer.listen(o.port, o.host, () => {
      httpServer.off('error', reject);
      resolve();
    });
  });
  const port = (httpServer.address() as AddressInfo).port;
  const hostForUrl = o.host.includes(':') ? `[${o.host}]` : o.host;
  const url = `ws://${hostForUrl}:${port}${o.path}`;
  const httpUrl = `http://${hostForUrl}:${port}`;
  const sink = options.logger === false ? null : (options.logger ?? stderrSink);
  sink?.(makeEntry('info', 'server_listening', { url, httpUrl }));

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

