/**
 * A deliberately simple Mooring v1 server, written from the protocol description only (the rule
 * registry `spec/rules.json`, the message types in `schemas/v1/messages.ts` and the close/error-code
 * tables). It shares no code with `reference/`: plain `ws` + `node:http`, one object per connection,
 * one `setTimeout`/`setInterval` per deadline, hand-written input checks.
 *
 * The conformance suite uses it twice:
 *  - unbroken, as "a server written by someone who only read the spec" that it must grade correctly;
 *  - with `break: NAME`, as a server that violates exactly one rule (see `BREAKS`), which the cases
 *    citing that rule must catch.
 */
import http from 'node:http';
import type { Duplex } from 'node:stream';
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { WebSocketServer, WebSocket, type RawData } from 'ws';
import type {
  AuthenticatedMessage,
  ErrorMessage,
  Position,
  PushMessage,
  ServerMessage,
  SessionParams,
} from '../../../schemas/v1/messages.js';
import { CLOSE } from '../../../schemas/v1/close-codes.js';
import type { ErrorCode } from '../../../schemas/v1/error-codes.js';

// ---------------------------------------------------------------------------------------------
// Breaks: each one violates exactly one rule (or, for crash-on-bad-json, one behaviour that two
// rules describe). Everything else stays conformant.
// ---------------------------------------------------------------------------------------------

export const BREAKS = {
  // Transport and versioning
  'no-subprotocol-selected': { rules: ['VER-2'], description: 'Accepts the handshake but never selects mooring.v1 (no Sec-WebSocket-Protocol in the answer).' },
  'no-subprotocol-check': { rules: ['VER-3'], description: 'Accepts a client that offers only unknown subprotocols (selects the first one offered) instead of HTTP 400.' },
  'rejects-no-subprotocol': { rules: ['VER-4'], description: 'Refuses with HTTP 400 a client that offers no subprotocol.' },
  'binary-frame-out': { rules: ['VER-5'], description: 'Sends every pong as a binary frame instead of a text frame.' },
  'binary-closes': { rules: ['VER-6'], description: 'Closes the connection with 1003 on a binary frame instead of answering error binary_not_supported.' },
  'rejects-unknown-props': { rules: ['VER-7'], description: 'Answers error invalid_message to a known message carrying a property it does not know.' },
  // Authentication
  'wrong-auth-timeout-code': { rules: ['AUTH-2'], description: 'Closes a connection that sent no auth in time with 1000 instead of 4408.' },
  'no-auth-deadline': { rules: ['AUTH-2'], description: 'Never closes a connection that does not authenticate.' },
  'accepts-before-auth': { rules: ['AUTH-3'], description: 'Processes messages sent before auth (answers requests, pings, subscribes) instead of closing with 4400.' },
  'wrong-before-auth-code': { rules: ['AUTH-3'], description: 'Closes a connection that sends a message before auth with 1008 instead of 4400.' },
  'accepts-bad-token': { rules: ['AUTH-4'], description: 'Authenticates an unknown token as user "anonymous" instead of closing with 4401.' },
  'wrong-bad-token-code': { rules: ['AUTH-4'], description: 'Closes on an unknown token with 1008 instead of 4401.' },
  'no-session-id': { rules: ['AUTH-5'], description: 'Leaves sessionId out of authenticated.' },
  'token-in-url-accepted': { rules: ['AUTH-7'], description: 'Accepts a handshake whose URL carries ?token= instead of HTTP 400.' },
  'no-token-expiry': { rules: ['AUTH-8'], description: 'Never sends token_expiring and never closes a session whose token expired.' },
  'reauth-switches-user': { rules: ['AUTH-9'], description: "An in-band auth with another user's valid token switches the session to that user instead of error user_mismatch." },
  'reauth-drops-subscriptions': { rules: ['AUTH-9'], description: 'An in-band re-auth of the same user drops the subscriptions of the connection.' },
  'reauth-new-session-id': { rules: ['AUTH-9'], description: 'An in-band re-auth of the same user answers authenticated with a new sessionId.' },
  'accepts-expired-token': { rules: ['AUTH-11'], description: 'Authenticates an already expired token instead of closing with 4419.' },
  // Requests and responses
  'duplicate-response': { rules: ['REQ-1'], description: 'Sends every response twice.' },
  'unknown-action-wrong-code': { rules: ['REQ-2'], description: 'Fails an unknown action with code not_found instead of unknown_action.' },
  'serial-requests': { rules: ['REQ-3'], description: 'Runs the requests of a connection one after the other: a slow request delays the next one.' },
  'executes-duplicate-request': { rules: ['REQ-4'], description: 'Executes a request that reuses a pending id instead of error duplicate_request_id.' },
  'no-invalid-payload': { rules: ['REQ-8'], description: 'Fails a request whose payload does not fit its action with internal_error instead of invalid_payload.' },
  // Publish and subscribe
  'no-channel-check': { rules: ['SUB-1'], description: 'Accepts any channel name.' },
  'no-subscribe-ack': { rules: ['SUB-2'], description: 'Subscribes without sending subscribed.' },
  'no-idempotent-subscribe': { rules: ['SUB-3'], description: 'Subscribing twice to a channel delivers each push twice.' },
  'no-channel-auth': { rules: ['SUB-4'], description: "Lets any user subscribe to another user's user:<id> channel." },
  'offset-skips': { rules: ['SUB-5'], description: 'Channel offsets grow by 2 per push (1, 3, 5, ...).' },
  'duplicate-push': { rules: ['SUB-6'], description: 'Delivers every second live push of a channel twice.' },
  'leaks-subscription': { rules: ['SUB-7'], description: 'Acknowledges unsubscribe but keeps pushing the channel.' },
  'no-resume': { rules: ['SUB-8'], description: 'Answers every subscribe with since with resume "unavailable", never replays.' },
  'replay-skips-one': { rules: ['SUB-8'], description: 'Replays the missed pushes but leaves out the first one.' },
  'sends-last-value-first': { rules: ['SUB-11'], description: "A fresh subscribe without since first gets the channel's latest retained push (a last-value cache), before subscribed." },
  'resume-always-replayed': { rules: ['SUB-9'], description: 'Answers resume "replayed" (with what history it has) even when since is outside the history.' },
  // Heartbeat
  'no-ws-ping': { rules: ['HB-1'], description: 'Never sends WebSocket ping frames (so it never detects half-open connections).' },
  'keeps-half-open': { rules: ['HB-1'], description: 'Sends ping frames but never ends a connection from which nothing arrives.' },
  'heartbeat-no-close-frame': { rules: ['HB-1'], description: 'Ends a connection from which nothing arrived after a ping by dropping the TCP connection, without a 4001 close frame.' },
  'no-pong': { rules: ['HB-2'], description: 'Never answers a ping message.' },
  'requires-app-ping': { rules: ['HB-5'], description: 'Closes with 4001 an authenticated connection that sent no ping message within heartbeatIntervalMs + heartbeatTimeoutMs.' },
  // Rate limiting
  'no-rate-limit': { rules: ['RATE-1'], description: 'Never rate-limits.' },
  'rate-limit-one-connection': { rules: ['RATE-1'], description: "Closes only the connection that went over the limit, not every connection of the user." },
  'rate-limit-no-retry-hint': { rules: ['RATE-1'], description: 'Closes with 4429 and reason "rate_limited" without a retry hint.' },
  'rate-limit-off-by-one': { rules: ['RATE-2'], description: 'Closes at the messages-th message of a window instead of the (messages+1)-th.' },
  'rate-limit-per-connection': { rules: ['RATE-3'], description: 'Counts per connection: reconnecting resets the count.' },
  'rate-limit-fixed-window': { rules: ['RATE-1'], description: 'Counts in a fixed window that starts at the first frame after the previous window ended, instead of a sliding window.' },
  // Sessions
  'no-session-replace': { rules: ['SESS-1'], description: 'With sessionPolicy single, a new session leaves the older one open.' },
  'session-replace-wrong-code': { rules: ['SESS-1'], description: 'Closes the replaced session with 1000 instead of 4002.' },
  // Limits
  'no-payload-limit': { rules: ['LIMIT-1'], description: 'Accepts inbound messages of any size.' },
  'no-ip-limit': { rules: ['LIMIT-2'], description: 'Never refuses connections from one IP address.' },
  'no-slow-consumer-limit': { rules: ['LIMIT-3'], description: 'Buffers without bound for a connection that does not read.' },
  'no-subscription-limit': { rules: ['LIMIT-4'], description: 'Accepts subscriptions beyond maxSubscriptions.' },
  'no-pending-limit': { rules: ['LIMIT-5'], description: 'Advertises maxPendingRequests but executes every request beyond it instead of error too_many_requests.' },
  // Errors
  'closes-on-bad-json': { rules: ['ERR-1'], description: 'Closes the connection with 1007 on a frame that is not JSON instead of error invalid_json.' },
  'crash-on-bad-json': { rules: ['ERR-1', 'ERR-4'], description: 'Behaves like a process crash on a frame that is not JSON: drops every connection without a close frame and stops listening.' },
  'ignores-invalid-message': { rules: ['ERR-2'], description: 'Silently ignores a schema-invalid message (unknown type, bad field) instead of error invalid_message.' },
  'closes-on-invalid-message': { rules: ['ERR-2'], description: 'Closes with 1008 on a schema-invalid message instead of error invalid_message.' },
  'free-form-close-reason': { rules: ['ERR-6'], description: 'Closes a replaced session with 4002 and the reason "New session started elsewhere" instead of "session_replaced".' },
  'leaks-internal-details': { rules: ['ERR-3'], description: 'Puts the JSON parser\'s stack trace in the message of error invalid_json.' },
  // Graceful shutdown
  'fails-reconnect-storm': { rules: ['SHUT-4'], description: 'Closes with 1011 every connection upgraded while more than 50 upgrades arrived within the last second.' },
  'shutdown-accepts-upgrades': { rules: ['SHUT-1'], description: 'Keeps accepting upgrades while shutting down.' },
  'shutdown-1001': { rules: ['SHUT-2'], description: 'Closes connections with 1001 instead of 1012 on shutdown.' },
  'shutdown-no-retry-hint': { rules: ['SHUT-2'], description: 'Closes with 1012 on shutdown but the reason carries no retry hint.' },
  'shutdown-abrupt': { rules: ['SHUT-2'], description: 'Drops connections on shutdown without a close frame (clients see 1006).' },
  'shutdown-same-retry': { rules: ['SHUT-3'], description: 'Gives every connection the same retry hint on shutdown.' },
  // Security
  'origin-not-checked': { rules: ['SEC-1'], description: 'Accepts any Origin.' },
  'rejects-no-origin': { rules: ['SEC-1'], description: 'Refuses with 403 a handshake without Origin.' },
  // Conformance profile
  'echo-wrong-data': { rules: ['CONF-1'], description: 'The echo action answers data null instead of its payload.' },
  'publish-no-position': { rules: ['CONF-2'], description: 'The publish action pushes but answers {} without the position.' },
  'sleep-returns-early': { rules: ['CONF-3'], description: 'The sleep action answers {slept: ms} at once instead of after ms.' },
  // HTTP heartbeat channel
  'no-heartbeat-endpoint': { rules: ['HTTP-1'], description: 'POST /heartbeat answers 404.' },
  'heartbeat-accepts-bad-token': { rules: ['HTTP-1'], description: 'POST /heartbeat answers 204 to a bad token.' },
  'healthz-ignores-shutdown': { rules: ['HTTP-5'], description: 'GET /healthz answers 200 while shutting down instead of 503.' },
  'no-presence': { rules: ['HTTP-2'], description: 'GET /presence answers 404.' },
} as const satisfies Record<string, { rules: string[]; description: string }>;

export type BreakName = keyof typeof BREAKS;

export function isBreakName(name: string): name is BreakName {
  return Object.prototype.hasOwnProperty.call(BREAKS, name);
}

// ---------------------------------------------------------------------------------------------
// Options
// ---------------------------------------------------------------------------------------------

export interface TokenEntry {
  userId: string;
  /** ms since the Unix epoch; null or absent: never expires. */
  expiresAt?: number | null;
}

export interface RawServerOptions {
  /** @default '127.0.0.1' */
  host?: string;
  /** @default 0 (a free port) */
  port?: number;
  /**
   * token → user (a string) or {userId, expiresAt}. Only SHA-256 hashes are kept (AUTH-6).
   * @default two generated tokens, for users 'alice' and 'bob'
   */
  tokens?: Record<string, string | TokenEntry>;
  /** @default 25_000 */
  heartbeatIntervalMs?: number;
  /** @default 10_000 */
  heartbeatTimeoutMs?: number;
  /** @default 30_000 */
  authTimeoutMs?: number;
  /** Advertised only (REQ-5 is a client rule). @default 10_000 */
  requestTimeoutMs?: number;
  /** @default { messages: 60, windowMs: 10_000 } */
  rateLimit?: { messages: number; windowMs: number };
  /** @default 65_536 */
  maxPayloadBytes?: number;
  /** @default 100 */
  maxSubscriptions?: number;
  /** @default 1_048_576 */
  maxBufferedBytes?: number;
  /** Requests pending per connection (LIMIT-5); advertised. @default 100 */
  maxPendingRequests?: number;
  /** @default 100 */
  historySize?: number;
  /** @default 'single' */
  sessionPolicy?: 'single' | 'multiple';
  /** token_expiring is sent this long before the token expires (AUTH-8). @default 60_000 */
  tokenWarningMs?: number;
  /** @default 256 */
  maxConnectionsPerIp?: number;
  /** Exact Origin values accepted besides the server's own origin (SEC-1). @default [] */
  allowedOrigins?: string[];
  /** Accept ?token= in the URL as the auth (AUTH-7 opt-in). @default false */
  allowTokenInUrl?: boolean;
  /** Retry hints of a shutdown are spread over [0, shutdownSpreadMs) (SHUT-3). @default 5_000 */
  shutdownSpreadMs?: number;
  /** After a 4509 close, the socket is destroyed if the close has not completed by then. @default 1_000 */
  slowConsumerGraceMs?: number;
  /** A user is "connected" in /presence when its last HTTP heartbeat is younger than this. @default 60_000 */
  presenceWindowMs?: number;
  /** Violate exactly one rule (see BREAKS). @default none */
  break?: BreakName;
}

export interface RawServer {
  /** 'ws://HOST:PORT/ws' */
  url: string;
  /** 'http://HOST:PORT' */
  httpUrl: string;
  port: number;
  /** The session params advertised in authenticated (minus tokenExpiresAt). */
  params: Omit<SessionParams, 'tokenExpiresAt'>;
  /** The tokens of `options.tokens` (or the two generated ones), as the caller's handle: the server itself keeps hashes only. */
  tokens: { token: string; userId: string }[];
  /** Adds a token (returns it); `ttlMs` sets its expiry relative to now. */
  createToken(userId: string, opts?: { ttlMs?: number; expiresAt?: number | null; token?: string }): string;
  /** Publishes to a channel as the server; returns the position of the push. */
  publish(channel: string, data: unknown): Position;
  /** Graceful shutdown (SHUT-1..3): 503 to new upgrades, 1012 + retry hint to every connection. */
  shutdown(): Promise<void>;
  /** Hard stop: drops every connection and stops listening. */
  close(): Promise<void>;
  connectionCount(): number;
  readonly breakName: BreakName | undefined;
}

// ---------------------------------------------------------------------------------------------
// Internal state
// ---------------------------------------------------------------------------------------------

const SUBPROTOCOL = 'mooring.v1';
const CHANNEL_RE = /^[A-Za-z0-9_][A-Za-z0-9_.:/-]{0,127}$/;
const ACTION_RE = /^[A-Za-z][A-Za-z0-9_.:-]{0,63}$/;
const MAX_TIMEOUT = 2_000_000_000; // setTimeout's limit is 2^31-1 ms

interface Channel {
  epoch: string;
  head: number;
  history: PushMessage[];
  liveCount: number;
}

interface Sub {
  /** How many times each push is delivered: always 1 unless no-idempotent-subscribe. */
  times: number;
  /** The last position delivered on this subscription (SUB-3): subscribed.position, then each push. */
  last: Position;
}

interface Conn {
  id: number;
  ws: WebSocket;
  ip: string;
  userId: string | null;
  sessionId: string;
  tokenExpiresAt: number | null;
  closing: boolean;
  /** channel → its subscription on this connection. */
  subs: Map<string, Sub>;
  pending: Set<string>;
  /** For serial-requests: the tail of this connection's request chain. */
  requestChain: Promise<void>;
  /** For rate-limit-per-connection. */
  ownTimestamps: number[];
  timers: {
    auth?: NodeJS.Timeout;
    ping?: NodeJS.Timeout;
    pingDeadline?: NodeJS.Timeout;
    expiryWarn?: NodeJS.Timeout;
    expiry?: NodeJS.Timeout;
    appPing?: NodeJS.Timeout;
    grace?: NodeJS.Timeout;
  };
}

function sha256(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function isChannelName(v: unknown): v is string {
  return typeof v === 'string' && CHANNEL_RE.test(v);
}

/** Known properties per client message type (for the rejects-unknown-props break only). */
const KNOWN_PROPS: Record<string, string[]> = {
  auth: ['type', 'token'],
  request: ['type', 'id', 'action', 'payload'],
  subscribe: ['type', 'channel', 'since'],
  unsubscribe: ['type', 'channel'],
  ping: ['type'],
};

/** Hand-written schema check of a client message; returns a problem description or null. */
function checkClientMessage(msg: Record<string, unknown>, brk: BreakName | undefined): string | null {
  const type = msg.type;
  if (typeof type !== 'string') return 'type must be a string';
  if (!Object.hasOwn(KNOWN_PROPS, type)) return 'unknown message type';
  if (brk === 'rejects-unknown-props') {
    for (const key of Object.keys(msg)) if (!KNOWN_PROPS[type]!.includes(key)) return `unknown property ${key}`;
  }
  const channelOk = (v: unknown) => (brk === 'no-channel-check' ? typeof v === 'string' : isChannelName(v));
  switch (type) {
    case 'auth':
      if (typeof msg.token !== 'string' || msg.token.length < 1 || msg.token.length > 512) return 'token must be a string of 1 to 512 characters';
      return null;
    case 'request':
      if (typeof msg.id !== 'string' || msg.id.length < 1 || msg.id.length > 64) return 'id must be a string of 1 to 64 characters';
      if (typeof msg.action !== 'string' || !ACTION_RE.test(msg.action)) return 'action is not a valid action name';
      return null;
    case 'subscribe': {
      if (!channelOk(msg.channel)) return 'channel is not a valid channel name';
      if (msg.since !== undefined) {
        const s = msg.since;
        if (!isObject(s)) return 'since must be an object';
        if (typeof s.epoch !== 'string' || s.epoch.length < 1 || s.epoch.length > 64) return 'since.epoch must be a string of 1 to 64 characters';
        if (typeof s.offset !== 'number' || !Number.isInteger(s.offset) || s.offset < 0) return 'since.offset must be a non-negative integer';
      }
      return null;
    }
    case 'unsubscribe':
      if (!channelOk(msg.channel)) return 'channel is not a valid channel name';
      return null;
    case 'ping':
      return null;
  }
  return 'unknown message type';
}

class ActionError extends Error {
  constructor(public code: ErrorCode | 'not_found', message: string) {
    super(message);
  }
}

/** Runs `fn` after `ms`, also for delays beyond setTimeout's 24.8-day limit. */
function longTimeout(ms: number, fn: () => void, set: (t: NodeJS.Timeout) => void): void {
  if (ms > MAX_TIMEOUT) {
    set(setTimeout(() => longTimeout(ms - MAX_TIMEOUT, fn, set), MAX_TIMEOUT));
  } else {
    set(setTimeout(fn, Math.max(0, ms)));
  }
}

function rejectUpgrade(socket: Duplex, status: number): void {
  const text = http.STATUS_CODES[status] ?? 'Error';
  socket.end(`HTTP/1.1 ${status} ${text}\r\nConnection: close\r\nContent-Type: text/plain\r\nContent-Length: ${Buffer.byteLength(text)}\r\n\r\n${text}`);
}

// ---------------------------------------------------------------------------------------------
// The server
// ---------------------------------------------------------------------------------------------

export async function startRawServer(options: RawServerOptions = {}): Promise<RawServer> {
  const brk = options.break;
  if (brk !== undefined && !isBreakName(brk)) throw new Error(`unknown break: ${String(brk)}`);
  const host = options.host ?? '127.0.0.1';
  const maxPendingRequests = options.maxPendingRequests ?? 100;
  const params: Omit<SessionParams, 'tokenExpiresAt'> = {
    heartbeatIntervalMs: options.heartbeatIntervalMs ?? 25_000,
    heartbeatTimeoutMs: options.heartbeatTimeoutMs ?? 10_000,
    authTimeoutMs: options.authTimeoutMs ?? 30_000,
    requestTimeoutMs: options.requestTimeoutMs ?? 10_000,
    rateLimit: { ...(options.rateLimit ?? { messages: 60, windowMs: 10_000 }) },
    maxPayloadBytes: options.maxPayloadBytes ?? 64 * 1024,
    maxSubscriptions: options.maxSubscriptions ?? 100,
    maxBufferedBytes: options.maxBufferedBytes ?? 1024 * 1024,
    maxPendingRequests,
    historySize: options.historySize ?? 100,
    sessionPolicy: options.sessionPolicy ?? 'single',
  };
  const tokenWarningMs = options.tokenWarningMs ?? 60_000;
  const maxConnectionsPerIp = options.maxConnectionsPerIp ?? 256;
  const allowedOrigins = options.allowedOrigins ?? [];
  const allowTokenInUrl = options.allowTokenInUrl ?? false;
  const shutdownSpreadMs = options.shutdownSpreadMs ?? 5_000;
  const slowConsumerGraceMs = options.slowConsumerGraceMs ?? 1_000;
  const presenceWindowMs = options.presenceWindowMs ?? 60_000;

  // AUTH-6: token hash → user. The plain tokens are never stored by the server.
  const tokenHashes = new Map<string, { userId: string; expiresAt: number | null }>();
  const handleTokens: { token: string; userId: string }[] = [];
  function addToken(token: string, userId: string, expiresAt: number | null): void {
    tokenHashes.set(sha256(token), { userId, expiresAt });
  }
  if (options.tokens) {
    for (const [token, entry] of Object.entries(options.tokens)) {
      const e = typeof entry === 'string' ? { userId: entry, expiresAt: null } : entry;
      addToken(token, e.userId, e.expiresAt ?? null);
      handleTokens.push({ token, userId: e.userId });
    }
  } else {
    for (const userId of ['alice', 'bob']) {
      const token = randomBytes(24).toString('base64url');
      addToken(token, userId, null);
      handleTokens.push({ token, userId });
    }
  }
  function lookupToken(token: string): { userId: string; expiresAt: number | null } | undefined {
    return tokenHashes.get(sha256(token));
  }

  const conns = new Set<Conn>();
  const ipCounts = new Map<string, number>();
  const channels = new Map<string, Channel>();
  const userTimestamps = new Map<string, number[]>(); // RATE-1/RATE-3: per user, across connections
  const lastSeen = new Map<string, number>(); // HTTP-1
  let nextConnId = 1;
  const recentUpgrades: number[] = []; // for the fails-reconnect-storm break only
  let shuttingDown = false;
  let crashed = false;

  // ----- sending -----------------------------------------------------------------------------

  function send(conn: Conn, msg: ServerMessage): void {
    if (conn.closing || conn.ws.readyState !== WebSocket.OPEN) return;
    const binary = brk === 'binary-frame-out' && msg.type === 'pong';
    conn.ws.send(binary ? Buffer.from(JSON.stringify(msg)) : JSON.stringify(msg), { binary });
    // LIMIT-3: a connection that does not read is closed once too much waits to be sent.
    if (brk !== 'no-slow-consumer-limit' && conn.ws.bufferedAmount > params.maxBufferedBytes) {
      closeConn(conn, CLOSE.SLOW_CONSUMER, 'slow_consumer');
      conn.timers.grace = setTimeout(() => conn.ws.terminate(), slowConsumerGraceMs);
    }
  }

  function sendError(conn: Conn, code: ErrorCode, message: string, extra: Partial<ErrorMessage> = {}): void {
    send(conn, { type: 'error', code, message, ...extra });
  }

  function closeConn(conn: Conn, code: number, reason: string): void {
    if (conn.closing) return;
    conn.closing = true;
    stopTimers(conn, false);
    conn.ws.close(code, reason);
  }

  function stopTimers(conn: Conn, includeGrace: boolean): void {
    const t = conn.timers;
    clearTimeout(t.auth);
    clearInterval(t.ping);
    clearTimeout(t.pingDeadline);
    clearTimeout(t.expiryWarn);
    clearTimeout(t.expiry);
    clearTimeout(t.appPing);
    if (includeGrace) clearTimeout(t.grace);
  }

  // ----- channels ----------------------------------------------------------------------------

  function getChannel(name: string): Channel {
    let ch = channels.get(name);
    if (!ch) {
      ch = { epoch: randomBytes(8).toString('hex'), head: 0, history: [], liveCount: 0 };
      channels.set(name, ch);
    }
    return ch;
  }

  function publish(channel: string, data: unknown): Position {
    const ch = getChannel(channel);
    // SUB-5: offsets grow by exactly 1 per push within an epoch, starting at 1.
    const offset = brk === 'offset-skips' && ch.head > 0 ? ch.head + 2 : ch.head + 1;
    ch.head = offset;
    const push: PushMessage = { type: 'push', channel, data: data === undefined ? null : data, position: { epoch: ch.epoch, offset }, ts: Date.now() };
    if (params.historySize > 0) {
      ch.history.push(push);
      while (ch.history.length > params.historySize) ch.history.shift();
    }
    ch.liveCount++;
    const twice = brk === 'duplicate-push' && ch.liveCount % 2 === 0;
    for (const conn of conns) {
      const sub = conn.subs.get(channel);
      if (!sub) continue;
      sub.last = push.position;
      for (let i = 0; i < sub.times; i++) send(conn, push);
      if (twice) send(conn, push);
    }
    return { epoch: ch.epoch, offset };
  }

  // ----- rate limit --------------------------------------------------------------------------

  /** RATE-1: returns true when this frame put the user over the limit (and closed its connections). */
  function overRateLimit(conn: Conn): boolean {
    if (brk === 'no-rate-limit' || conn.userId === null) return false;
    const now = Date.now();
    const { messages, windowMs } = params.rateLimit;
    let stamps: number[];
    if (brk === 'rate-limit-per-connection') {
      stamps = conn.ownTimestamps;
    } else {
      stamps = userTimestamps.get(conn.userId) ?? [];
      userTimestamps.set(conn.userId, stamps);
    }
    if (brk === 'rate-limit-fixed-window') {
      // A fixed window: the count resets once windowMs have passed since the window's first frame.
      if (stamps.length > 0 && stamps[0]! <= now - windowMs) stamps.length = 0;
    } else while (stamps.length > 0 && stamps[0]! <= now - windowMs) stamps.shift();
    stamps.push(now);
    const limit = brk === 'rate-limit-off-by-one' ? Math.max(1, messages - 1) : messages;
    if (stamps.length <= limit) return false;
    // The next message is allowed once the window holds at most limit-1 of these stamps.
    const retry = Math.max(0, Math.ceil(stamps[stamps.length - limit]! + windowMs - now));
    const reason = brk === 'rate-limit-no-retry-hint' ? 'rate_limited' : `rate_limited;retry=${retry}`;
    const victims = brk === 'rate-limit-one-connection' ? [conn] : [...conns].filter((c) => c.userId === conn.userId);
    for (const c of victims) closeConn(c, CLOSE.RATE_LIMITED, reason);
    return true;
  }

  // ----- heartbeat ---------------------------------------------------------------------------

  function sawTraffic(conn: Conn): void {
    // HB-4: any inbound frame proves liveness.
    clearTimeout(conn.timers.pingDeadline);
    conn.timers.pingDeadline = undefined;
  }

  function startHeartbeat(conn: Conn): void {
    if (brk === 'no-ws-ping') return;
    // HB-1: ping every heartbeatIntervalMs; end the connection if nothing arrives within heartbeatTimeoutMs.
    conn.timers.ping = setInterval(() => {
      if (conn.closing || conn.ws.readyState !== WebSocket.OPEN) return;
      conn.ws.ping();
      if (brk === 'keeps-half-open' || conn.timers.pingDeadline) return;
      conn.timers.pingDeadline = setTimeout(() => {
        if (brk !== 'heartbeat-no-close-frame') closeConn(conn, CLOSE.HEARTBEAT_TIMEOUT, 'heartbeat_timeout');
        conn.ws.terminate();
      }, params.heartbeatTimeoutMs);
    }, params.heartbeatIntervalMs);
  }

  function armAppPingCheck(conn: Conn): void {
    // Only for the requires-app-ping break (HB-5 forbids this).
    if (brk !== 'requires-app-ping') return;
    clearTimeout(conn.timers.appPing);
    conn.timers.appPing = setTimeout(
      () => closeConn(conn, CLOSE.HEARTBEAT_TIMEOUT, 'heartbeat_timeout'),
      params.heartbeatIntervalMs + params.heartbeatTimeoutMs,
    );
  }

  // ----- auth --------------------------------------------------------------------------------

  function scheduleExpiry(conn: Conn): void {
    clearTimeout(conn.timers.expiryWarn);
    clearTimeout(conn.timers.expiry);
    const expiresAt = conn.tokenExpiresAt;
    if (expiresAt === null || brk === 'no-token-expiry') return;
    const now = Date.now();
    // AUTH-8: warn tokenWarningMs before expiry, close with 4419 at expiry.
    longTimeout(expiresAt - tokenWarningMs - now, () => send(conn, { type: 'token_expiring', expiresAt }), (t) => (conn.timers.expiryWarn = t));
    longTimeout(expiresAt - now, () => closeConn(conn, CLOSE.TOKEN_EXPIRED, 'token_expired'), (t) => (conn.timers.expiry = t));
  }

  function sendAuthenticated(conn: Conn): void {
    const msg: AuthenticatedMessage = {
      type: 'authenticated',
      userId: conn.userId!,
      sessionId: conn.sessionId,
      protocol: SUBPROTOCOL,
      params: { ...params, rateLimit: { ...params.rateLimit }, tokenExpiresAt: conn.tokenExpiresAt },
      server: { name: 'mooring-raw-server', version: '1.0.0' },
    };
    if (brk === 'no-session-id') delete (msg as Partial<AuthenticatedMessage>).sessionId;
    send(conn, msg);
  }

  function handleAuth(conn: Conn, token: string): void {
    let entry = lookupToken(token);
    if (!entry && brk === 'accepts-bad-token') entry = { userId: 'anonymous', expiresAt: null };
    if (!entry) {
      // AUTH-4 (first auth) and AUTH-9 (re-auth): unknown token closes with 4401.
      if (brk === 'wrong-bad-token-code') closeConn(conn, 1008, '');
      else closeConn(conn, CLOSE.UNAUTHORIZED, 'unauthorized');
      return;
    }
    let expiresAt = entry.expiresAt;
    if (expiresAt !== null && expiresAt <= Date.now()) {
      if (brk === 'accepts-expired-token') {
        expiresAt = null;
      } else {
        // AUTH-11
        closeConn(conn, CLOSE.TOKEN_EXPIRED, 'token_expired');
        return;
      }
    }
    if (conn.userId !== null) {
      // AUTH-9: in-band re-auth.
      if (entry.userId !== conn.userId && brk !== 'reauth-switches-user') {
        sendError(conn, 'user_mismatch', 'the token belongs to another user; the session keeps its identity');
        return;
      }
      if (brk === 'reauth-drops-subscriptions') conn.subs.clear();
      if (brk === 'reauth-new-session-id') conn.sessionId = randomUUID();
      conn.userId = entry.userId;
      conn.tokenExpiresAt = expiresAt;
      scheduleExpiry(conn);
      sendAuthenticated(conn);
      return;
    }
    clearTimeout(conn.timers.auth);
    conn.userId = entry.userId;
    conn.sessionId = randomUUID();
    conn.tokenExpiresAt = expiresAt;
    // SESS-1: a new session of the same user closes the older one.
    if (params.sessionPolicy === 'single' && brk !== 'no-session-replace') {
      for (const other of conns) {
        if (other !== conn && other.userId === conn.userId && !other.closing) {
          if (brk === 'session-replace-wrong-code') closeConn(other, 1000, 'normal_closure');
          else closeConn(other, CLOSE.SESSION_REPLACED, brk === 'free-form-close-reason' ? 'New session started elsewhere' : 'session_replaced');
        }
      }
    }
    scheduleExpiry(conn);
    armAppPingCheck(conn);
    sendAuthenticated(conn);
  }

  // ----- requests ----------------------------------------------------------------------------

  async function runAction(conn: Conn, action: string, payload: unknown): Promise<unknown> {
    const invalid = (message: string) => new ActionError(brk === 'no-invalid-payload' ? 'internal_error' : 'invalid_payload', brk === 'no-invalid-payload' ? 'internal error' : message);
    switch (action) {
      case 'echo': // CONF-1
        return brk === 'echo-wrong-data' ? null : payload; // absent when the payload was absent
      case 'publish': { // CONF-2
        if (!isObject(payload) || !isChannelName(payload.channel)) throw invalid('payload must be {channel, data} with a valid channel name');
        const channel = payload.channel;
        if (channel.startsWith('user:') && channel !== `user:${conn.userId}`) throw new ActionError('forbidden', 'this channel belongs to another user');
        const position = publish(channel, payload.data);
        return brk === 'publish-no-position' ? {} : { position };
      }
      case 'sleep': { // CONF-3
        const ms = isObject(payload) ? payload.ms : undefined;
        if (typeof ms !== 'number' || !Number.isInteger(ms) || ms < 0) throw invalid('payload must be {ms} with an integer ms >= 0');
        if (brk !== 'sleep-returns-early') await new Promise<void>((resolve) => longTimeout(ms, resolve, () => {}));
        return { slept: ms };
      }
      default: // REQ-2
        if (brk === 'unknown-action-wrong-code') throw new ActionError('not_found', 'no such action');
        throw new ActionError('unknown_action', 'no handler for this action');
    }
  }

  function handleRequest(conn: Conn, id: string, action: string, payload: unknown): void {
    // REQ-4: a pending id is refused and not executed.
    if (conn.pending.has(id) && brk !== 'executes-duplicate-request') {
      sendError(conn, 'duplicate_request_id', 'a request with this id is still pending', { requestId: id });
      return;
    }
    // LIMIT-5: at the advertised cap the request is refused with its own id, not run, and gets no response.
    if (brk !== 'no-pending-limit' && conn.pending.size >= maxPendingRequests) {
      sendError(conn, 'too_many_requests', 'too many requests pending on this connection', { requestId: id });
      return;
    }
    conn.pending.add(id);
    const run = async () => {
      let response: ServerMessage;
      try {
        const data = await runAction(conn, action, payload);
        response = { type: 'response', requestId: id, success: true, data };
      } catch (err) {
        // REQ-7 / ERR-3: no internal details in a failed response.
        const body = err instanceof ActionError ? { code: err.code, message: err.message } : { code: 'internal_error', message: 'internal error' };
        response = { type: 'response', requestId: id, success: false, error: body };
      }
      conn.pending.delete(id);
      // REQ-1: exactly one response.
      send(conn, response);
      if (brk === 'duplicate-response') send(conn, response);
    };
    if (brk === 'serial-requests') {
      conn.requestChain = conn.requestChain.then(run);
    } else {
      void run(); // REQ-3: each request runs on its own.
    }
  }

  // ----- subscriptions -----------------------------------------------------------------------

  function handleSubscribe(conn: Conn, channel: string, since: Position | undefined): void {
    // SUB-4: user:<id> belongs to that user alone.
    if (brk !== 'no-channel-auth' && channel.startsWith('user:') && channel !== `user:${conn.userId ?? ''}`) {
      sendError(conn, 'forbidden', 'not allowed to subscribe to this channel', { channel });
      return;
    }
    const already = conn.subs.has(channel);
    // LIMIT-4
    if (!already && brk !== 'no-subscription-limit' && conn.subs.size >= params.maxSubscriptions) {
      sendError(conn, 'subscription_limit', 'too many subscriptions on this connection', { channel });
      return;
    }
    const ch = getChannel(channel);
    const position = { epoch: ch.epoch, offset: ch.head };
    const existing = conn.subs.get(channel);
    if (existing) {
      // SUB-3: a repeated subscribe is acknowledged again and replays nothing; a since equal to the
      // last position delivered on the subscription is "replayed: 0", any other since "unavailable".
      if (brk === 'no-idempotent-subscribe') existing.times++;
      let resume: { resume: 'replayed'; replayed: 0 } | { resume: 'unavailable' } | object = {};
      if (since) {
        const same = since.epoch === existing.last.epoch && since.offset === existing.last.offset;
        resume = same ? { resume: 'replayed', replayed: 0 } : { resume: 'unavailable' };
      }
      if (brk !== 'no-subscribe-ack') send(conn, { type: 'subscribed', channel, position, ...resume });
      return;
    }
    let replay: PushMessage[] | null = null;
    let resume: 'replayed' | 'unavailable' | undefined;
    if (since) {
      // Inside the retained history: same epoch, and since.offset is the head or the push after it is retained.
      const oldest = ch.history.length > 0 ? ch.history[0]!.position.offset : ch.head + 1;
      const inHistory = since.epoch === ch.epoch && since.offset >= oldest - 1 && since.offset <= ch.head;
      if ((inHistory && brk !== 'no-resume') || brk === 'resume-always-replayed') {
        // SUB-8: every missed push, in order.
        replay = ch.history.filter((p) => since.epoch !== ch.epoch || p.position.offset > since.offset);
        if (brk === 'replay-skips-one') replay = replay.slice(1);
        resume = 'replayed';
      } else {
        resume = 'unavailable'; // SUB-9
      }
    }
    if (brk === 'sends-last-value-first' && !since && ch.history.length > 0) {
      send(conn, ch.history[ch.history.length - 1]!);
    }
    if (brk !== 'no-subscribe-ack') {
      send(conn, {
        type: 'subscribed',
        channel,
        position,
        ...(resume ? { resume } : {}),
        ...(replay ? { replayed: replay.length } : {}),
      });
    }
    // SUB-11: nothing of the channel before subscribed; replayed pushes follow it, flagged.
    for (const p of replay ?? []) send(conn, { ...p, replay: true });
    conn.subs.set(channel, { times: 1, last: position });
  }

  function handleUnsubscribe(conn: Conn, channel: string): void {
    // SUB-7: acknowledge always; nothing of the channel follows.
    if (brk !== 'leaks-subscription') conn.subs.delete(channel);
    send(conn, { type: 'unsubscribed', channel });
  }

  // ----- inbound frames ----------------------------------------------------------------------

  function crash(): void {
    // crash-on-bad-json: what a process crash looks like from outside, without killing the test process.
    crashed = true;
    for (const c of conns) {
      c.closing = true;
      stopTimers(c, true);
      c.ws.terminate();
    }
    httpServer.close();
    httpServer.closeAllConnections();
  }

  function onFrame(conn: Conn, data: RawData, isBinary: boolean): void {
    if (conn.closing || crashed) return;
    sawTraffic(conn);
    const authenticated = conn.userId !== null;
    // RATE-1: every data frame after auth counts.
    if (authenticated && overRateLimit(conn)) return;

    if (isBinary) {
      // VER-6
      if (brk === 'binary-closes') closeConn(conn, 1003, '');
      else sendError(conn, 'binary_not_supported', 'only JSON text frames are supported');
      return;
    }
    const text = Buffer.isBuffer(data) ? data.toString('utf8') : Array.isArray(data) ? Buffer.concat(data).toString('utf8') : Buffer.from(data).toString('utf8');
    let msg: unknown;
    try {
      msg = JSON.parse(text);
    } catch (err) {
      // ERR-1
      if (brk === 'crash-on-bad-json') return crash();
      if (brk === 'closes-on-bad-json') return closeConn(conn, 1007, '');
      const message = brk === 'leaks-internal-details' && err instanceof Error ? String(err.stack) : 'the frame is not valid JSON';
      sendError(conn, 'invalid_json', message.slice(0, 1024));
      return;
    }
    // ERR-2 (in every state, AUTH-3): a frame that is not a valid message gets invalid_message.
    if (!isObject(msg) || typeof msg.type !== 'string') return invalidMessage(conn, 'a message is a JSON object with a string type');
    const problem = checkClientMessage(msg, brk);
    if (problem) return invalidMessage(conn, problem);
    // AUTH-3: a valid message other than auth before authenticated closes the connection.
    if (!authenticated && msg.type !== 'auth' && brk !== 'accepts-before-auth') return rejectBeforeAuth(conn);

    switch (msg.type) {
      case 'auth':
        return handleAuth(conn, msg.token as string);
      case 'request':
        return handleRequest(conn, msg.id as string, msg.action as string, msg.payload);
      case 'subscribe': {
        const since = msg.since as Position | undefined;
        return handleSubscribe(conn, msg.channel as string, since ? { epoch: since.epoch, offset: since.offset } : undefined);
      }
      case 'unsubscribe':
        return handleUnsubscribe(conn, msg.channel as string);
      case 'ping':
        armAppPingCheck(conn);
        // HB-2
        if (brk !== 'no-pong') send(conn, { type: 'pong', ts: Date.now() });
        return;
    }
  }

  function rejectBeforeAuth(conn: Conn): void {
    // AUTH-3
    if (brk === 'wrong-before-auth-code') closeConn(conn, 1008, '');
    else closeConn(conn, CLOSE.NOT_AUTHENTICATED, 'not_authenticated');
  }

  function invalidMessage(conn: Conn, problem: string): void {
    // ERR-2
    if (brk === 'ignores-invalid-message') return;
    if (brk === 'closes-on-invalid-message') return closeConn(conn, 1008, '');
    sendError(conn, 'invalid_message', problem);
  }

  // ----- connections -------------------------------------------------------------------------

  function onConnection(ws: WebSocket, ip: string, urlToken: string | null): Conn {
    const conn: Conn = {
      id: nextConnId++,
      ws,
      ip,
      userId: null,
      sessionId: '',
      tokenExpiresAt: null,
      closing: false,
      subs: new Map(),
      pending: new Set(),
      requestChain: Promise.resolve(),
      ownTimestamps: [],
      timers: {},
    };
    conns.add(conn);
    ipCounts.set(ip, (ipCounts.get(ip) ?? 0) + 1);

    ws.on('message', (data, isBinary) => {
      try {
        onFrame(conn, data, isBinary);
      } catch {
        // ERR-4: a bug triggered by one input must not take the process (or anyone else) down.
        sendError(conn, 'invalid_message', 'the message could not be processed');
      }
    });
    ws.on('pong', () => sawTraffic(conn));
    ws.on('ping', () => sawTraffic(conn));
    ws.on('error', () => {
      /* the close event follows; a bad frame (e.g. 1009) is handled by ws */
    });
    ws.on('close', () => {
      conn.closing = true;
      stopTimers(conn, true);
      conns.delete(conn);
      const n = (ipCounts.get(ip) ?? 1) - 1;
      if (n <= 0) ipCounts.delete(ip);
      else ipCounts.set(ip, n);
    });

    // AUTH-2: auth must arrive within authTimeoutMs.
    if (brk !== 'no-auth-deadline') {
      conn.timers.auth = setTimeout(() => {
        if (conn.userId !== null) return;
        if (brk === 'wrong-auth-timeout-code') closeConn(conn, 1000, 'normal_closure');
        else closeConn(conn, CLOSE.AUTH_TIMEOUT, 'auth_timeout');
      }, params.authTimeoutMs);
    }
    startHeartbeat(conn);
    if (urlToken !== null) handleAuth(conn, urlToken); // only when the operator opted in (AUTH-7)
    return conn;
  }

  const wss = new WebSocketServer({
    noServer: true,
    perMessageDeflate: false,
    // LIMIT-1: ws closes with 1009 above maxPayload (0 = unlimited).
    maxPayload: brk === 'no-payload-limit' ? 0 : params.maxPayloadBytes,
    handleProtocols: (offered) => {
      // VER-2
      if (brk === 'no-subprotocol-selected') return false;
      if (offered.has(SUBPROTOCOL)) return SUBPROTOCOL;
      if (brk === 'no-subprotocol-check') return offered.values().next().value ?? false;
      return false;
    },
  });

  function originAllowed(req: http.IncomingMessage): boolean {
    const origin = req.headers.origin;
    if (origin === undefined) return brk !== 'rejects-no-origin';
    if (brk === 'origin-not-checked') return true;
    if (allowedOrigins.includes(origin)) return true;
    const hostHeader = req.headers.host;
    return hostHeader !== undefined && (origin === `http://${hostHeader}` || origin === `https://${hostHeader}`);
  }

  function onUpgrade(req: http.IncomingMessage, socket: Duplex, head: Buffer): void {
    socket.on('error', () => socket.destroy());
    const url = new URL(req.url ?? '/', 'http://localhost');
    if (url.pathname !== '/ws') return rejectUpgrade(socket, 404);
    // SHUT-1
    if (shuttingDown && brk !== 'shutdown-accepts-upgrades') return rejectUpgrade(socket, 503);
    // VER-3 / VER-4
    const header = req.headers['sec-websocket-protocol'];
    if (header === undefined) {
      if (brk === 'rejects-no-subprotocol') return rejectUpgrade(socket, 400);
    } else {
      const offered = header.split(',').map((p) => p.trim()).filter((p) => p !== '');
      if (!offered.includes(SUBPROTOCOL) && brk !== 'no-subprotocol-check') return rejectUpgrade(socket, 400);
    }
    // SEC-1
    if (!originAllowed(req)) return rejectUpgrade(socket, 403);
    // AUTH-7
    const urlToken = url.searchParams.get('token');
    if (urlToken !== null && !allowTokenInUrl && brk !== 'token-in-url-accepted') return rejectUpgrade(socket, 400);
    // LIMIT-2
    const ip = req.socket.remoteAddress ?? 'unknown';
    if (brk !== 'no-ip-limit' && (ipCounts.get(ip) ?? 0) >= maxConnectionsPerIp) return rejectUpgrade(socket, 429);
    wss.handleUpgrade(req, socket, head, (ws) => {
      const acceptUrlToken = urlToken !== null && (allowTokenInUrl || brk === 'token-in-url-accepted');
      const conn = onConnection(ws, ip, acceptUrlToken ? urlToken : null);
      if (brk === 'fails-reconnect-storm') {
        const now = Date.now();
        recentUpgrades.push(now);
        while (recentUpgrades[0]! <= now - 1_000) recentUpgrades.shift();
        if (recentUpgrades.length > 50) closeConn(conn, 1011, 'internal_error');
      }
    });
  }

  // ----- HTTP endpoints (HTTP-1..3: same port) -----------------------------------------------

  function bearerUser(req: http.IncomingMessage): string | null {
    const m = /^Bearer (.+)$/.exec(req.headers.authorization ?? '');
    if (!m) return null;
    const entry = lookupToken(m[1]!);
    if (!entry || (entry.expiresAt !== null && entry.expiresAt <= Date.now())) return null;
    return entry.userId;
  }

  function onHttpRequest(req: http.IncomingMessage, res: http.ServerResponse): void {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const reply = (status: number, body?: unknown) => {
      if (body === undefined) {
        res.writeHead(status).end();
      } else {
        const json = JSON.stringify(body);
        res.writeHead(status, { 'content-type': 'application/json' }).end(json);
      }
    };
    req.resume();
    // HTTP-5: 200 while serving, 503 while shutting down.
    if (url.pathname === '/healthz' && req.method === 'GET') {
      return shuttingDown && brk !== 'healthz-ignores-shutdown' ? reply(503, { ok: false }) : reply(200, { ok: true });
    }
    if (url.pathname === '/heartbeat' && req.method === 'POST' && brk !== 'no-heartbeat-endpoint') {
      let userId = bearerUser(req);
      if (userId === null && brk === 'heartbeat-accepts-bad-token') userId = 'anonymous';
      if (userId === null) return reply(401, { error: 'unauthorized' });
      lastSeen.set(userId, Date.now());
      return reply(204);
    }
    if (url.pathname === '/presence' && req.method === 'GET' && brk !== 'no-presence') {
      const userId = bearerUser(req);
      if (userId === null) return reply(401, { error: 'unauthorized' });
      const seen = lastSeen.get(userId) ?? null;
      const sessions = [...conns].filter((c) => c.userId === userId && !c.closing).length;
      return reply(200, { userId, connected: seen !== null && Date.now() - seen < presenceWindowMs, lastSeen: seen, sessions });
    }
    reply(404, { error: 'not_found' });
  }

  const httpServer = http.createServer(onHttpRequest);
  httpServer.on('upgrade', onUpgrade);
  await new Promise<void>((resolve, reject) => {
    httpServer.once('error', reject);
    httpServer.listen(options.port ?? 0, host, () => {
      httpServer.off('error', reject);
      resolve();
    });
  });
  const address = httpServer.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  const hostForUrl = host.includes(':') ? `[${host}]` : host;

  function waitForAllClosed(timeoutMs: number): Promise<void> {
    return new Promise((resolve) => {
      const deadline = Date.now() + timeoutMs;
      const check = () => {
        if (conns.size === 0) return resolve();
        if (Date.now() >= deadline) {
          for (const c of conns) c.ws.terminate();
          return resolve();
        }
        setTimeout(check, 10);
      };
      check();
    });
  }

  function stopListening(): Promise<void> {
    return new Promise((resolve) => {
      if (!httpServer.listening) return resolve();
      httpServer.close(() => resolve());
      httpServer.closeIdleConnections();
    });
  }

  let shutdownPromise: Promise<void> | null = null;

  return {
    url: `ws://${hostForUrl}:${port}/ws`,
    httpUrl: `http://${hostForUrl}:${port}`,
    port,
    params,
    tokens: handleTokens,
    breakName: brk,
    createToken(userId, opts = {}) {
      const token = opts.token ?? randomBytes(24).toString('base64url');
      const expiresAt = opts.expiresAt !== undefined ? opts.expiresAt : opts.ttlMs !== undefined ? Date.now() + opts.ttlMs : null;
      addToken(token, userId, expiresAt);
      return token;
    },
    publish,
    connectionCount: () => conns.size,
    shutdown() {
      if (shutdownPromise) return shutdownPromise;
      shuttingDown = true; // SHUT-1
      const list = [...conns];
      const sameRetry = Math.round(shutdownSpreadMs / 2);
      list.forEach((conn) => {
        stopTimers(conn, true);
        if (brk === 'shutdown-abrupt') {
          conn.closing = true;
          conn.ws.terminate();
          return;
        }
        // SHUT-2/SHUT-3: 1012 with a retry hint drawn over [0, shutdownSpreadMs).
        const retry = brk === 'shutdown-same-retry' ? sameRetry : Math.floor(Math.random() * shutdownSpreadMs);
        if (brk === 'shutdown-1001') return closeConn(conn, 1001, `going_away;retry=${retry}`);
        const reason = brk === 'shutdown-no-retry-hint' ? 'service_restart' : `service_restart;retry=${retry}`;
        closeConn(conn, CLOSE.SERVICE_RESTART, reason);
      });
      shutdownPromise = waitForAllClosed(3_000).then(stopListening);
      return shutdownPromise;
    },
    async close() {
      shuttingDown = true;
      for (const c of conns) {
        c.closing = true;
        stopTimers(c, true);
        c.ws.terminate();
      }
      await waitForAllClosed(1_000);
      wss.close();
      httpServer.closeAllConnections();
      await stopListening();
    },
  };
}
