/**
 * The sans-I/O Mooring server: `handle(event)` returns the actions the driver must perform, and
 * `nextDeadline()` says when to feed the next `tick`. No clock, timer, randomness or socket in here.
 */
import {
  CLOSE_CODES,
  formatCloseReason,
  type CloseCodeKey,
  parseClientFrame,
  SUBPROTOCOL,
  type ClientMessage,
  type ErrorCode,
  type ServerMessage,
} from '../../../schemas/v1/index.js';
import { judgeToken, randomId, warnAt } from './auth.js';
import { depthExceeds, userChannelName } from './limits.js';
import { DeadlineHeap } from './deadlines.js';
import { Liveness } from './heartbeat.js';
import { RateLimiter } from './rate-limit.js';
import { SessionRegistry } from './session-registry.js';
import { ChannelIndex, ConnSubscriptions, pushMessage } from './subscriptions.js';
import {
  defaultAuthorize,
  type Authorize,
  type ConnId,
  type CoreParams,
  type LogLevel,
  type ServerAction,
  type ServerCoreOptions,
  type ServerEvent,
  type TokenRecord,
  type ChannelPush,
} from './types.js';

interface Conn {
  id: ConnId;
  phase: 'awaiting_auth' | 'verifying' | 'authenticated';
  closing: boolean;
  authDeadline: number;
  /** The id of the token verification in flight, if any. */
  verifyId: number | null;
  /** AUTH-9: re-auth tokens that arrived while a verification was in flight, answered in order after it. */
  reauthQueue: string[] | null;
  userId: string | null;
  sessionId: string | null;
  expiresAt: number | null;
  /** AUTH-14: the id of the token the session was (last re-)authenticated with. */
  tokenId: string | null;
  warned: boolean;
  liveness: Liveness;
  subs: ConnSubscriptions;
  /** RATE-4: subscribe frames this connection may still send without counting against the rate limit. */
  restoreLeft: number;
  /** LIMIT-8: data frames received before authentication. */
  preAuthFrames: number;
  /** REQ-4, LIMIT-5: ids of requests dispatched and not yet answered (created at the first request: an idle connection holds none). */
  pending: Set<string> | null;
  terminateAt: number;
  /** Earliest entry of this connection in the deadline heap. */
  scheduledAt: number;
}

const PRUNE_KEY = -1;

/** SUB-6: the connections of `ids` that take this live push now (pending ones buffer it, duplicates are dropped). */
function* deliveries(conns: ReadonlyMap<ConnId, Conn>, ids: ReadonlySet<ConnId>, push: ChannelPush): Generator<ConnId, void, undefined> {
  for (const id of ids) if (conns.get(id)!.subs.deliver(push)) yield id;
}

export class ServerCore {
  readonly params: CoreParams;
  private readonly random: () => number;
  private readonly authorize: Authorize;
  private readonly tokenWarningMs: number;
  private readonly shutdownSpreadMs: number;
  private readonly closeGraceMs: number;
  private readonly preAuthFrames: number;
  private readonly reportRateHits: boolean;
  private readonly serverInfo: { name: string; version: string };

  private readonly conns = new Map<ConnId, Conn>();
  private readonly sessions = new SessionRegistry();
  private readonly index = new ChannelIndex();
  private readonly limiter: RateLimiter;
  private readonly heap = new DeadlineHeap<ConnId>();
  private pruneAt = Infinity;
  private seq = 0;
  private shuttingDown = false;
  private out: ServerAction[] = [];
  /** The subscribers of the last fan-out, walked lazily by the driver (see the `fanout` action). */
  private fanout: Iterator<ConnId> & Iterable<ConnId> | undefined;

  constructor(options: ServerCoreOptions) {
    this.params = options.params;
    this.random = options.random;
    this.authorize = options.authorize ?? defaultAuthorize;
    this.tokenWarningMs = options.tokenWarningMs ?? 60_000;
    this.shutdownSpreadMs = options.shutdownSpreadMs ?? 5_000;
    this.closeGraceMs = options.closeGraceMs ?? 1_000;
    this.preAuthFrames = options.preAuthFrames ?? 8;
    this.reportRateHits = options.reportRateHits ?? false;
    this.serverInfo = options.server ?? { name: 'mooring-reference', version: '0.0.0' };
    this.limiter = new RateLimiter(this.params.rateLimit.messages, this.params.rateLimit.windowMs);
  }

  /** Feeds one event; returns the actions to perform, in order. */
  handle(ev: ServerEvent): ServerAction[] {
    if (this.fanout) {
      for (const _ of this.fanout); // a fan-out the driver did not drain still updates every subscriber's position
      this.fanout = undefined;
    }
    this.out = [];
    const touched = 'conn' in ev && ev.conn !== undefined ? this.conns.get(ev.conn) : undefined;
    switch (ev.type) {
      case 'open': this.onOpen(ev.conn, ev.ip, ev.origin, ev.urlToken, ev.now); break;
      case 'text': if (touched) this.onText(touched, ev.text, ev.now); break;
      case 'binary': if (touched) this.onBinary(touched, ev.now); break;
      case 'activity': touched?.liveness.seen(); break;
      case 'tokenResult': if (touched) this.onTokenResult(touched, ev.verifyId, ev.record, ev.now); break;
      case 'actionResult':
        // REQ-1: exactly one response; a response for a closed connection is dropped.
        if (touched && !touched.closing && touched.pending !== null && touched.pending.delete(ev.requestId)) {
          const o = ev.outcome;
          this.send(touched, o.ok
            ? { type: 'response', requestId: ev.requestId, success: true, ...(o.data === undefined ? {} : { data: o.data }) }
            : { type: 'response', requestId: ev.requestId, success: false, error: { code: o.code, message: o.message } });
        }
        break;
      case 'channelRead': if (touched && !touched.closing) this.onChannelRead(touched, ev.channel, ev.fetchId, ev.read, ev.now); break;
      case 'brokerPush': this.onBrokerPush(ev.push); break;
      case 'slowConsumer':
        if (touched && !touched.closing) {
          this.log('warn', 'slow_consumer', { conn: touched.id, userId: touched.userId, bufferedBytes: ev.bufferedBytes });
          this.close(touched, 'SLOW_CONSUMER', ev.now); // LIMIT-3
        }
        break;
      case 'overBudget':
        if (touched && !touched.closing) {
          const preAuth = ev.budget === 'pre_auth_bytes';
          this.log('info', preAuth ? 'auth_failed' : 'message_invalid', { conn: touched.id, userId: touched.userId, reason: ev.budget });
          this.close(touched, preAuth ? 'NOT_AUTHENTICATED' : 'MESSAGE_TOO_BIG', ev.now); // LIMIT-8
        }
        break;
      case 'tick': this.onTick(ev.now); break;
      case 'shutdown': this.onShutdown(ev.now); break;
      case 'tokensChanged': this.onTokensChanged(ev.revoked, ev.expiry, ev.now); break;
      case 'closed': if (touched) this.onClosed(touched, ev.code); break;
      case 'sessionSuperseded':
        // A session still being verified was claimed (the driver claims before authenticated) and is
        // already older than another: it is closed before its authenticated.
        if (touched && !touched.closing && touched.phase !== 'awaiting_auth') {
          this.log('info', 'session_replaced', { conn: touched.id, userId: touched.userId, by: 'another_node' });
          this.close(touched, 'SESSION_REPLACED', ev.now); // NODE-6, SESS-1
        }
        break;
      case 'userRateLimited': {
        const conns = this.sessions.conns(ev.userId);
        if (conns.length) this.log('warn', 'rate_limited', { userId: ev.userId, retryAfterMs: ev.retryAfterMs, connections: conns.length, shared: true });
        for (const id of conns) this.close(this.conns.get(id)!, 'RATE_LIMITED', ev.now, ev.retryAfterMs); // NODE-8, RATE-1
        break;
      }
      case 'channelGap':
        // NODE-4: never a silent gap: the subscribers resume from their last position on reconnect.
        for (const id of [...(this.index.get(ev.channel) ?? [])]) this.close(this.conns.get(id)!, 'TRY_AGAIN_LATER', ev.now, this.retryHint());
        break;
      case 'unavailable': {
        const targets = ev.conn !== undefined ? (touched ? [touched] : []) : [...this.conns.values()];
        // NODE-11: 1013 with a hint, spread so that the clients of a node do not all come back at once.
        for (const c of targets) this.close(c, 'TRY_AGAIN_LATER', ev.now, ev.retryAfterMs + this.retryHint());
        break;
      }
    }
    if (touched && this.conns.has(touched.id)) this.schedule(touched);
    return this.out;
  }

  /** When the driver must feed the next `tick` (undefined: nothing scheduled). */
  nextDeadline(): number | undefined {
    return this.heap.peek();
  }

  connectionCount(): number {
    return this.conns.size;
  }

  /** Live authenticated sessions of a user (HTTP-2). */
  sessionCount(userId: string): number {
    return this.sessions.count(userId);
  }

  // --- events -----------------------------------------------------------------------------------

  private onOpen(id: ConnId, ip: string, origin: string | undefined, urlToken: string | undefined, now: number): void {
    const c: Conn = {
      id, phase: 'awaiting_auth', closing: false, authDeadline: now + this.params.authTimeoutMs, verifyId: null, reauthQueue: null,
      userId: null, sessionId: null, expiresAt: null, tokenId: null, warned: false,
      liveness: new Liveness(now, this.params.heartbeatIntervalMs, this.params.heartbeatTimeoutMs),
      subs: new ConnSubscriptions(), restoreLeft: 0, preAuthFrames: 0, pending: null, terminateAt: Infinity, scheduledAt: Infinity,
    };
    this.conns.set(id, c);
    // LOG-2: a client-sent header is logged bounded (an Origin is at most a scheme, a host and a port).
    this.log('info', 'connection_opened', { conn: id, ip, origin: origin !== undefined && origin.length > 128 ? `${origin.slice(0, 128)}…(${origin.length} chars)` : origin });
    if (this.shuttingDown) return this.close(c, 'SERVICE_RESTART', now, this.retryHint());
    if (urlToken !== undefined) this.verify(c, urlToken); // AUTH-7: the operator opted in
    this.schedule(c);
  }

  private onText(c: Conn, text: string, now: number): void {
    c.liveness.seen(); // HB-4
    if (c.closing || !this.preAuthBudget(c, now)) return;
    const maxDepth = this.params.maxDepth;
    // LIMIT-6: a message nested too deep is refused before it is parsed, so it never reaches a channel.
    if (maxDepth !== undefined && depthExceeds(text, maxDepth)) {
      if (!this.admit(c, now)) return;
      return this.reject(c, 'too_deep', `the message nests deeper than maxDepth (${maxDepth})`);
    }
    const parsed = parseClientFrame(text);
    // RATE-4: the first restoreAllowance subscribes after authenticated do not count against the rate limit.
    const restoring = parsed.kind === 'message' && parsed.message.type === 'subscribe' && c.phase === 'authenticated' && c.restoreLeft > 0;
    if (restoring) c.restoreLeft--;
    else if (!this.admit(c, now)) return;
    if (parsed.kind === 'invalid_json') return this.reject(c, 'invalid_json', 'the frame is not valid JSON'); // ERR-1
    if (parsed.kind === 'invalid_message') return this.reject(c, 'invalid_message', parsed.error); // ERR-2, SUB-1
    const m = parsed.message;
    if (c.phase !== 'authenticated') {
      // AUTH-3: nothing but one auth before authenticated — also while its verification is in flight.
      if (m.type === 'auth' && c.phase === 'awaiting_auth') return this.verify(c, m.token);
      this.log('info', 'auth_failed', { conn: c.id, reason: 'not_authenticated', messageType: m.type });
      return this.close(c, 'NOT_AUTHENTICATED', now);
    }
    this.onMessage(c, m, now);
  }

  private onBinary(c: Conn, now: number): void {
    c.liveness.seen();
    if (c.closing || !this.preAuthBudget(c, now) || !this.admit(c, now)) return;
    this.reject(c, 'binary_not_supported', 'v1 carries JSON text frames only'); // VER-6
  }

  /** LIMIT-8: before authentication a connection gets `preAuthFrames` data frames; one more closes it 4400. */
  private preAuthBudget(c: Conn, now: number): boolean {
    if (c.phase === 'authenticated') return true;
    if (++c.preAuthFrames <= this.preAuthFrames) return true;
    this.log('info', 'auth_failed', { conn: c.id, reason: 'pre_auth_budget', frames: c.preAuthFrames });
    this.close(c, 'NOT_AUTHENTICATED', now);
    return false;
  }

  private onMessage(c: Conn, m: ClientMessage, now: number): void {
    const userId = c.userId!;
    switch (m.type) {
      case 'auth': return this.verify(c, m.token); // AUTH-9: in-band re-auth
      case 'ping': return this.send(c, { type: 'pong', ts: now }); // HB-2
      case 'request':
        if (c.pending?.has(m.id)) {
          // REQ-4: not executed, no response.
          return this.send(c, { type: 'error', code: 'duplicate_request_id', message: 'a request with this id is still pending', requestId: m.id });
        }
        if (this.params.maxPendingRequests !== undefined && (c.pending?.size ?? 0) >= this.params.maxPendingRequests) {
          // LIMIT-5: the connection is at its pending-request limit: not executed, no response, stays open.
          return this.send(c, { type: 'error', code: 'too_many_requests', message: `at most ${this.params.maxPendingRequests} pending requests per connection`, requestId: m.id });
        }
        (c.pending ??= new Set()).add(m.id);
        this.out.push({ type: 'dispatch', conn: c.id, requestId: m.id, action: m.action, payload: m.payload, userId });
        return;
      case 'subscribe': {
        const { channel, since } = m;
        // SUB-2, SUB-3, SUB-7: while the channel's first subscribe awaits its read, later subscribes and
        // unsubscribes of it wait too, so every one is answered, in order, after that ack.
        if (c.subs.state(channel) === 'pending') return c.subs.defer(m);
        let allowed: boolean;
        try {
          allowed = this.authorize(userId, channel, 'subscribe');
        } catch (err) {
          // ERR-3, ERR-4: the operator's hook failed; the client gets a clear error, no details.
          this.log('error', 'request_failed', { conn: c.id, channel, reason: 'authorize_failed', detail: String((err as Error)?.message ?? err) });
          return this.send(c, { type: 'error', code: 'internal_error', message: 'the subscription failed', channel });
        }
        if (!allowed) {
          return this.send(c, { type: 'error', code: 'forbidden', message: 'not allowed to subscribe to this channel', channel }); // SUB-4
        }
        if (c.subs.state(channel) === 'active') return this.send(c, c.subs.resubscribe(channel, since)); // SUB-3
        if (c.subs.size >= this.params.maxSubscriptions) {
          return this.send(c, { type: 'error', code: 'subscription_limit', message: `at most ${this.params.maxSubscriptions} subscriptions per connection`, channel }); // LIMIT-4
        }
        const fetchId = ++this.seq;
        c.subs.begin(channel, fetchId, since);
        this.index.add(channel, c.id);
        this.out.push({ type: 'readChannel', conn: c.id, fetchId, channel, ...(since ? { since } : {}) });
        return;
      }
      case 'unsubscribe':
        if (c.subs.state(m.channel) === 'pending') return c.subs.defer(m); // see subscribe
        if (c.subs.remove(m.channel)) this.unindex(m.channel, c.id);
        return this.send(c, { type: 'unsubscribed', channel: m.channel }); // SUB-7
    }
  }

  private onTokenResult(c: Conn, verifyId: number, record: TokenRecord | null, now: number): void {
    if (c.closing || c.verifyId !== verifyId) return;
    c.verifyId = null;
    this.judgeAuth(c, record, now);
    // AUTH-9: every re-auth gets its own answer, in order (found by mooring fuzz: of two pipelined
    // re-auths only the second was answered).
    const next = c.reauthQueue?.shift();
    if (next !== undefined && !c.closing) this.verify(c, next);
  }

  private judgeAuth(c: Conn, record: TokenRecord | null, now: number): void {
    const verdict = judgeToken(record, now);
    const reauth = c.phase === 'authenticated';
    if (!verdict.ok) {
      this.log('info', 'auth_failed', { conn: c.id, reason: verdict.reason, reauth });
      return verdict.reason === 'token_expired'
        ? this.close(c, 'TOKEN_EXPIRED', now) // AUTH-11
        : this.close(c, 'UNAUTHORIZED', now); // AUTH-4, AUTH-9
    }
    const { userId, expiresAt } = verdict.record;
    if (reauth && userId !== c.userId) {
      this.log('info', 'auth_failed', { conn: c.id, reason: 'user_mismatch', reauth });
      return this.send(c, { type: 'error', code: 'user_mismatch', message: 'the token belongs to another user' }); // AUTH-9
    }
    if (!reauth) {
      c.phase = 'authenticated';
      c.restoreLeft = this.params.restoreAllowance ?? 0; // RATE-4
      c.userId = userId;
      c.sessionId = randomId(this.random);
      if (this.params.sessionPolicy === 'single') {
        for (const other of this.sessions.conns(userId)) {
          const o = this.conns.get(other)!;
          this.log('info', 'session_replaced', { conn: other, userId, by: c.id });
          this.close(o, 'SESSION_REPLACED', now); // SESS-1
        }
      }
      this.sessions.add(userId, c.id);
    }
    c.expiresAt = expiresAt;
    c.tokenId = verdict.record.tokenId ?? null;
    c.warned = false;
    this.log('info', 'auth_succeeded', { conn: c.id, userId, sessionId: c.sessionId, reauth, expiresAt });
    // AUTH-5
    this.send(c, {
      type: 'authenticated', userId, sessionId: c.sessionId!, protocol: SUBPROTOCOL,
      params: { ...this.params, tokenExpiresAt: expiresAt }, userChannel: userChannelName(userId), server: this.serverInfo, // SUB-12
    });
    this.checkExpiry(c, now);
  }

  private onChannelRead(c: Conn, channel: string, fetchId: number, read: Parameters<ConnSubscriptions['complete']>[2] | null, now: number): void {
    let deferred;
    if (read === null) {
      deferred = c.subs.fail(channel, fetchId);
      if (deferred === null) return;
      this.unindex(channel, c.id);
      this.log('error', 'request_failed', { conn: c.id, channel, reason: 'broker_read_failed' });
      this.send(c, { type: 'error', code: 'internal_error', message: 'the subscription failed', channel });
    } else {
      const done = c.subs.complete(channel, fetchId, read);
      if (done === null) return;
      for (const m of done.messages) this.send(c, m);
      deferred = done.deferred;
    }
    for (const m of deferred) this.onMessage(c, m, now); // in arrival order, now that the channel is settled
  }

  private onBrokerPush(push: Parameters<ConnSubscriptions['deliver']>[0]): void {
    const ids = this.index.get(push.channel);
    if (!ids) return;
    // One action for every subscriber: the driver frames the push once and writes it to each socket
    // while it walks the subscribers (SUB-6: each one's position is checked as it is reached).
    this.fanout = deliveries(this.conns, ids, push);
    this.out.push({ type: 'fanout', conns: this.fanout, message: pushMessage(push) });
  }

  private onTick(now: number): void {
    if (now >= this.pruneAt) {
      this.pruneAt = Infinity;
      this.limiter.prune(now);
      this.schedulePrune(now);
    }
    for (const id of this.heap.popDue(now)) {
      if (id === PRUNE_KEY) continue;
      const c = this.conns.get(id);
      if (!c) continue;
      c.scheduledAt = Infinity;
      this.tickConn(c, now);
      if (this.conns.has(id)) this.schedule(c);
    }
  }

  private tickConn(c: Conn, now: number): void {
    if (c.closing) {
      if (now >= c.terminateAt) {
        c.terminateAt = Infinity;
        this.out.push({ type: 'terminate', conn: c.id });
      }
      return;
    }
    // AUTH-2, AUTH-12: the deadline is for the arrival of auth; an auth under verification is answered.
    if (c.phase === 'awaiting_auth' && now >= c.authDeadline) {
      this.log('info', 'auth_timeout', { conn: c.id });
      return this.close(c, 'AUTH_TIMEOUT', now); // AUTH-2
    }
    const due = c.liveness.due(now);
    if (due === 'timeout') {
      this.log('info', 'heartbeat_timeout', { conn: c.id, userId: c.userId });
      return this.close(c, 'HEARTBEAT_TIMEOUT', now); // HB-1 (terminated after closeGraceMs)
    }
    if (due === 'ping') this.out.push({ type: 'ping', conn: c.id });
    this.checkExpiry(c, now);
  }

  /** AUTH-8: warn before the token expires, close at expiry unless re-authenticated. */
  private checkExpiry(c: Conn, now: number): void {
    if (c.phase !== 'authenticated' || c.expiresAt === null) return;
    if (now >= c.expiresAt) {
      this.log('info', 'token_expired', { conn: c.id, userId: c.userId });
      return this.close(c, 'TOKEN_EXPIRED', now);
    }
    if (!c.warned && now >= warnAt(c.expiresAt, this.tokenWarningMs)) {
      c.warned = true;
      this.send(c, { type: 'token_expiring', expiresAt: c.expiresAt });
    }
  }

  /** AUTH-14, AUTH-17: revocations close live sessions with 4401; changed expiries apply at once. */
  private onTokensChanged(revoked: string[], expiry: { id: string; expiresAt: number | null }[], now: number): void {
    const gone = new Set(revoked);
    const until = new Map(expiry.map((e) => [e.id, e.expiresAt]));
    for (const c of this.conns.values()) {
      if (c.closing || c.phase !== 'authenticated' || c.tokenId === null) continue;
      if (gone.has(c.tokenId)) {
        this.log('info', 'auth_failed', { conn: c.id, userId: c.userId, reason: 'token_revoked', revokedId: c.tokenId });
        this.close(c, 'UNAUTHORIZED', now); // AUTH-14
      } else if (until.has(c.tokenId)) {
        c.expiresAt = until.get(c.tokenId)!;
        c.warned = false;
        this.checkExpiry(c, now); // AUTH-8, AUTH-17
        this.schedule(c); // an earlier deadline is pushed; a later one is found when the old entry fires
      }
    }
  }

  private onShutdown(now: number): void {
    this.shuttingDown = true;
    // SHUT-2, SHUT-3: 1012 with a retry hint spread uniformly over [0, shutdownSpreadMs].
    for (const c of this.conns.values()) {
      if (!c.closing) this.close(c, 'SERVICE_RESTART', now, this.retryHint());
    }
  }

  private onClosed(c: Conn, code: number): void {
    if (!c.closing) this.release(c);
    this.conns.delete(c.id);
    this.log('info', 'connection_closed', { conn: c.id, userId: c.userId, code });
  }

  // --- helpers ----------------------------------------------------------------------------------

  /** RATE-1..3: counts a data frame of an authenticated user; closes all the user's connections on excess. */
  private admit(c: Conn, now: number): boolean {
    if (c.phase !== 'authenticated') return true;
    const v = this.limiter.hit(c.userId!, now);
    this.schedulePrune(now);
    if (v.ok) {
      if (this.reportRateHits) this.out.push({ type: 'rateHit', userId: c.userId! }); // NODE-8
      return true;
    }
    const conns = this.sessions.conns(c.userId!);
    this.log('warn', 'rate_limited', { userId: c.userId, retryAfterMs: v.retryAfterMs, connections: conns.length });
    for (const id of conns) this.close(this.conns.get(id)!, 'RATE_LIMITED', now, v.retryAfterMs);
    return false;
  }

  private verify(c: Conn, token: string): void {
    if (c.phase === 'authenticated' && c.verifyId !== null) {
      (c.reauthQueue ??= []).push(token); // AUTH-9: answered after the re-auth in flight (bounded by the rate limit)
      return;
    }
    c.verifyId = ++this.seq;
    if (c.phase === 'awaiting_auth') c.phase = 'verifying';
    this.out.push({ type: 'verifyToken', conn: c.id, verifyId: c.verifyId, token });
  }

  private reject(c: Conn, code: ErrorCode, message: string): void {
    this.log('info', 'message_invalid', { conn: c.id, userId: c.userId, code, detail: message });
    this.send(c, { type: 'error', code, message });
  }

  private send(c: Conn, message: ServerMessage): void {
    if (!c.closing) this.out.push({ type: 'send', conn: c.id, message });
  }

  /** The one place the core closes a connection: close frame now, terminate after closeGraceMs. */
  private close(c: Conn, key: CloseCodeKey, now: number, retryAfterMs?: number): void {
    if (c.closing) return;
    this.release(c);
    c.closing = true;
    c.terminateAt = now + this.closeGraceMs;
    // ERR-5, ERR-6: the registry's code, and its registry name as the reason (plus a retry hint).
    const { code, name } = CLOSE_CODES[key];
    this.out.push({ type: 'close', conn: c.id, code, reason: formatCloseReason(name, retryAfterMs) });
    this.schedule(c);
  }

  /** Subscriptions, pending requests and the session die with the connection (no leaks). */
  private release(c: Conn): void {
    for (const ch of [...c.subs.channels()]) {
      c.subs.remove(ch);
      this.unindex(ch, c.id);
    }
    c.pending = null;
    if (c.userId !== null) this.sessions.remove(c.userId, c.id);
  }

  private unindex(channel: string, id: ConnId): void {
    if (this.index.remove(channel, id)) this.out.push({ type: 'channelIdle', channel });
  }

  private retryHint(): number {
    return Math.round(this.random() * this.shutdownSpreadMs);
  }

  private deadlineOf(c: Conn): number {
    if (c.closing) return c.terminateAt;
    let d = c.liveness.deadline();
    if (c.phase === 'awaiting_auth') d = Math.min(d, c.authDeadline);
    else if (c.expiresAt !== null) d = Math.min(d, c.warned ? c.expiresAt : warnAt(c.expiresAt, this.tokenWarningMs));
    return d;
  }

  private schedule(c: Conn): void {
    const d = this.deadlineOf(c);
    if (d < c.scheduledAt) {
      c.scheduledAt = d;
      this.heap.push(d, c.id);
    }
  }

  private schedulePrune(now: number): void {
    if (this.pruneAt !== Infinity || this.limiter.trackedUsers === 0) return;
    this.pruneAt = now + this.params.rateLimit.windowMs;
    this.heap.push(this.pruneAt, PRUNE_KEY);
  }

  private log(level: LogLevel, event: string, fields: Record<string, unknown>): void {
    this.out.push({ type: 'log', level, event, fields });
  }
}
