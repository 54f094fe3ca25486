/**
 * The sans-I/O Mooring client core: every client rule of the spec as a state machine. A driver feeds
 * it inputs with the current time (`handle(input, now)`, `request(...)`) and performs the actions it
 * returns; it arms one timer at `nextDeadline()` and feeds `tick` then. No timers, clock, randomness
 * or sockets in here: `random` is injected and `now` comes with every call.
 */
import { SUBPROTOCOL } from '../../../schemas/v1/messages.js';
import type {
  ClientMessage,
  Json,
  ServerMessage,
  SessionParams,
  SubscribedMessage,
  PushMessage,
  ResponseMessage,
} from '../../../schemas/v1/messages.js';
import { closeClass, parseCloseReason, CLOSE, type CloseClass } from '../../../schemas/v1/close-codes.js';
import { DEFAULT_BACKOFF, DEFAULT_PARAMS } from '../../../schemas/v1/defaults.js';
import type { ErrorCode } from '../../../schemas/v1/error-codes.js';
import { planReconnect, type ReconnectPolicy } from './backoff.js';
import { EventLog } from './event-log.js';
import { SubscriptionTable } from './subscriptions.js';
import { parseInbound } from './inbound.js';
import type {
  ClientEvent,
  ClientState,
  CoreAction,
  CoreInput,
  Diagnostics,
  PendingRequestInfo,
  TokenReason,
} from './types.js';

export interface ClientCoreOptions {
  /** The server's WebSocket URL. */
  url: string;
  /** Randomness for the backoff jitter, in [0, 1) (`Math.random` in drivers, seeded in tests). */
  random: () => number;
  /** Backoff policy (RECON-1, RECON-2, RECON-4); defaults from `DEFAULT_BACKOFF`. */
  backoff?: ReconnectPolicy & {
    /**
     * A session must stay authenticated this long before the attempt counter resets (RECON-2).
     * @default 10000
     */
    stableAfterMs?: number;
  };
  /**
   * How long one connection attempt (token, socket open, `authenticated`) may take before the client
   * gives up on it (closes with 4001) and backs off.
   * @default 15000
   */
  connectTimeoutMs?: number;
  /**
   * Requests made while not authenticated fail at once with `disconnected` instead of waiting for
   * authentication up to their timeout.
   * @default false
   */
  failFast?: boolean;
  /**
   * Entries kept in the diagnostics event log.
   * @default 200
   */
  logSize?: number;
  /** HTTP-4: interval of the HTTP heartbeat, posted from connect() on; undefined: see `followAdvertisedHttpHeartbeat`. */
  httpHeartbeatIntervalMs?: number;
  /**
   * HTTP-9: when `httpHeartbeatIntervalMs` is undefined, post HTTP heartbeats once a server advertises
   * `params.httpHeartbeat`, at its interval and path (the reference client's driver turns this on).
   * @default false
   */
  followAdvertisedHttpHeartbeat?: boolean;
  /**
   * Give up (state `gave_up`, no further reconnect) after this many consecutive failed attempts
   * (the RECON-2 attempt counter).
   * @default Infinity (never give up)
   */
  maxAttempts?: number;
  /**
   * Emit one `down` event when the client has had no authenticated session for this long (from the
   * loss of the last session, or from `connect()`): the "reconnecting for 5 minutes" banner.
   * @default 300000
   */
  downAlertMs?: number;
}

interface PendingRequest extends PendingRequestInfo {
  payload: Json;
  /** The socket the request was sent on (status `sent`). */
  conn?: number;
}

type Params = Diagnostics['params'];

const CONNECT_TIMEOUT_MS = 15_000;
const DOWN_ALERT_MS = 300_000;

/**
 * Error codes whose `requestId` names a request the server refused outright (it gets no `response`),
 * so the client fails that request with the code at once (LIMIT-5).
 */
const REFUSED_REQUEST_CODES: ReadonlySet<string> = new Set<ErrorCode>(['too_many_requests']);

export class ClientCore {
  private state: ClientState = 'idle';
  private readonly log: EventLog;
  private readonly subs = new SubscriptionTable();
  private readonly requests = new Map<string, PendingRequest>();
  private out: CoreAction[] = [];

  private connSeq = 0;
  /** The current socket, 0 when none. */
  private conn = 0;
  private phase: 'token' | 'socket' | 'auth' | undefined;
  private fetchSeq = 0;
  private connectFetch: number | undefined;
  private reauthFetch: { fetch: number; conn: number } | undefined;
  private token: string | undefined;
  private nextTokenReason: TokenReason = 'connect';

  private attempt = 0;
  private reconnects = 0;
  private reconnectAt: number | undefined;
  private connectDeadline: number | undefined;
  private authenticatedAt: number | undefined;
  private params: Params = { ...DEFAULT_PARAMS };
  private userId: string | undefined;
  private sessionId: string | undefined;
  private nextPingAt: number | undefined;
  private pongDeadline: number | undefined;
  private lastPingAt: number | undefined;
  private lastPongAt: number | undefined;
  private lastMessageAt: number | undefined;
  private lastClose: Diagnostics['lastClose'];
  private reqSeq = 0;
  private httpNextAt: number | undefined;
  /** HTTP-9: the HTTP heartbeat channel the server advertised (when followed). */
  private httpAdvertised: { path: string; intervalMs: number } | undefined;
  private httpLast: Diagnostics['httpHeartbeat'] = {};
  private invalidFrames = 0;
  private server: { name: string; version: string } | undefined;
  /** Since when the client has had no authenticated session (undefined while it has one). */
  private downSince: number | undefined;
  /** When to emit the `down` event (once per outage). */
  private downAlertAt: number | undefined;

  constructor(private readonly opts: ClientCoreOptions) {
    this.log = new EventLog(opts.logSize ?? 200);
  }

  get currentState(): ClientState {
    return this.state;
  }

  /** The current session parameters: `DEFAULT_PARAMS` until the server advertised its own. */
  get sessionParams(): Params {
    return { ...this.params };
  }

  // -------------------------------------------------------------------------------------------
  // Inputs
  // -------------------------------------------------------------------------------------------

  handle(input: CoreInput, now: number): CoreAction[] {
    switch (input.type) {
      case 'connect': this.onConnect(now); break;
      case 'close': this.onAppClose(now); break;
      case 'reconnect': this.onAppReconnect(now); break;
      case 'token': this.onToken(input.fetch, input.token, now); break;
      case 'token_failed': this.onTokenFailed(input.fetch, input.message, now); break;
      case 'socket_open': if (input.conn === this.conn) this.onOpen(input.protocol, now); break;
      case 'socket_message': if (input.conn === this.conn) this.onText(input.text, now); break;
      case 'socket_activity': if (input.conn === this.conn) this.onActivity(now); break;
      case 'socket_closed':
        if (input.conn === this.conn && this.conn !== 0) {
          this.log.add(now, 'close', `server/network ${input.code} ${input.reason}`);
          this.connectionLost(now, input.code, input.reason, false);
        }
        break;
      case 'subscribe': this.onSubscribe(input.channel, now); break;
      case 'unsubscribe': this.onUnsubscribe(input.channel, now); break;
      case 'check_liveness': this.onCheckLiveness(now); break;
      case 'http_heartbeat_result':
        this.httpLast = {
          lastAt: now,
          ok: input.ok,
          ...(input.status !== undefined ? { status: input.status } : {}),
          ...(input.message !== undefined ? { message: input.message } : {}),
        };
        this.log.add(now, 'http_heartbeat', input.ok ? `ok ${input.status ?? ''}` : `failed ${input.status ?? ''} ${input.message ?? ''}`);
        this.emit({
          type: 'http_heartbeat',
          ok: input.ok,
          ...(input.status !== undefined ? { status: input.status } : {}),
          ...(input.message !== undefined ? { message: input.message } : {}),
        });
        break;
      case 'tick': this.onTick(now); break;
    }
    return this.flush();
  }

  /**
   * REQ-5: starts a request with a fresh id (unique for the lifetime of this client). Sent at once
   * when authenticated; otherwise it waits for authentication up to its own timeout (or fails at
   * once with `disconnected` when `failFast`). It is never sent on a later session once it was
   * sent on one (REQ-6, RECON-6).
   */
  request(
    action: string,
    payload: Json,
    opts: { timeoutMs?: number; failFast?: boolean },
    now: number,
  ): { id: string; actions: CoreAction[] } {
    const id = `r${(++this.reqSeq).toString(36)}`;
    const timeout = opts.timeoutMs ?? this.params.requestTimeoutMs;
    if (this.state === 'idle' || this.state === 'closed' || this.state === 'gave_up') {
      this.out.push({ type: 'reject', id, code: 'closed', message: `client is ${this.state}: call connect() first` });
      return { id, actions: this.flush() };
    }
    const req: PendingRequest = { id, action, payload, status: 'waiting', startedAt: now, deadline: now + timeout };
    if (this.state === 'authenticated') {
      this.sendRequest(req, now);
    } else if (opts.failFast ?? this.opts.failFast ?? false) {
      this.log.add(now, 'request', `${id} ${action} failed fast: not authenticated`);
      this.out.push({ type: 'reject', id, code: 'disconnected', message: 'not connected (failFast)' });
      return { id, actions: this.flush() };
    } else {
      this.log.add(now, 'request', `${id} ${action} waits for authentication`);
    }
    this.requests.set(id, req);
    return { id, actions: this.flush() };
  }

  /** The earliest time at which the driver must feed `tick`, or undefined when nothing is due. */
  nextDeadline(): number | undefined {
    let min: number | undefined;
    const consider = (t: number | undefined) => {
      if (t !== undefined && (min === undefined || t < min)) min = t;
    };
    consider(this.reconnectAt);
    consider(this.connectDeadline);
    consider(this.nextPingAt);
    consider(this.pongDeadline);
    consider(this.httpNextAt);
    consider(this.downAlertAt);
    for (const r of this.requests.values()) consider(r.deadline);
    return min;
  }

  diagnostics(): Diagnostics {
    const requests = [...this.requests.values()].map(({ id, action, status, startedAt, deadline }) => ({
      id, action, status, startedAt, deadline,
    }));
    return {
      state: this.state,
      url: this.opts.url,
      ...(this.userId !== undefined ? { userId: this.userId } : {}),
      ...(this.sessionId !== undefined ? { sessionId: this.sessionId } : {}),
      reconnects: this.reconnects,
      attempt: this.attempt,
      invalidFrames: this.invalidFrames,
      ...(this.server ? { server: { ...this.server } } : {}),
      ...(this.downSince !== undefined ? { downSince: this.downSince } : {}),
      ...(this.reconnectAt !== undefined ? { nextReconnectAt: this.reconnectAt } : {}),
      ...(this.authenticatedAt !== undefined ? { connectedSince: this.authenticatedAt } : {}),
      subscriptions: this.subs.info(),
      pending: { count: requests.length, requests },
      ...(this.lastClose ? { lastClose: { ...this.lastClose } } : {}),
      params: { ...this.params },
      ...(this.lastPingAt !== undefined ? { lastPingAt: this.lastPingAt } : {}),
      ...(this.lastPongAt !== undefined ? { lastPongAt: this.lastPongAt } : {}),
      ...(this.lastMessageAt !== undefined ? { lastMessageAt: this.lastMessageAt } : {}),
      ...(this.opts.httpHeartbeatIntervalMs !== undefined || this.httpAdvertised ? { httpHeartbeat: { ...this.httpLast } } : {}),
      log: this.log.snapshot(),
    };
  }

  // -------------------------------------------------------------------------------------------
  // Connection lifecycle
  // -------------------------------------------------------------------------------------------

  private startDown(now: number): void {
    this.downSince = now;
    this.downAlertAt = now + (this.opts.downAlertMs ?? DOWN_ALERT_MS);
  }

  private onConnect(now: number): void {
    if (this.state === 'connecting' || this.state === 'authenticated' || this.state === 'reconnecting') return;
    this.attempt = 0;
    this.reconnects = 0;
    this.nextTokenReason = 'connect';
    this.startDown(now);
    if (this.opts.httpHeartbeatIntervalMs !== undefined) {
      // HTTP-4: the HTTP heartbeat runs from connect() to close(), whatever the WebSocket does.
      this.out.push({ type: 'http_heartbeat' });
      this.httpNextAt = now + this.opts.httpHeartbeatIntervalMs;
    }
    this.startAttempt(now);
  }

  private startAttempt(now: number): void {
    this.setState('connecting', now);
    this.phase = 'token';
    this.connectDeadline = now + (this.opts.connectTimeoutMs ?? CONNECT_TIMEOUT_MS);
    this.connectFetch = ++this.fetchSeq;
    const reason = this.nextTokenReason;
    this.log.add(now, 'token', `fetch (${reason})`);
    this.out.push({ type: 'fetch_token', fetch: this.connectFetch, reason });
    this.emit({ type: 'connecting', attempt: this.attempt, url: this.opts.url });
  }

  private onToken(fetch: number, token: string, now: number): void {
    if (fetch === this.connectFetch && this.state === 'connecting' && this.phase === 'token') {
      this.connectFetch = undefined;
      this.token = token;
      this.phase = 'socket';
      this.conn = ++this.connSeq;
      this.log.add(now, 'open', `socket #${this.conn} ${this.opts.url}`);
      // VER-1: offer the subprotocol of this version.
      this.out.push({ type: 'open_socket', conn: this.conn, url: this.opts.url, protocols: [SUBPROTOCOL] });
      return;
    }
    if (this.reauthFetch && fetch === this.reauthFetch.fetch) {
      const conn = this.reauthFetch.conn;
      this.reauthFetch = undefined;
      if (conn === this.conn && this.state === 'authenticated') {
        // AUTH-10: re-authenticate in-band on the live connection.
        this.log.add(now, 'auth', 're-auth in-band');
        this.send({ type: 'auth', token }, now, false);
      }
    }
  }

  private onTokenFailed(fetch: number, message: string, now: number): void {
    if (fetch === this.connectFetch && this.state === 'connecting' && this.phase === 'token') {
      this.connectFetch = undefined;
      const reason = this.nextTokenReason;
      this.log.add(now, 'token', `failed: ${message}`);
      this.emit({ type: 'token_error', reason, message });
      // A failed attempt like any other: back off (RECON-1). The next fetch keeps the same reason.
      this.connectionLost(now, CLOSE.ABNORMAL, 'token_unavailable', true);
      if (reason === 'expired') this.nextTokenReason = 'expired';
      return;
    }
    if (this.reauthFetch && fetch === this.reauthFetch.fetch) {
      this.reauthFetch = undefined;
      this.log.add(now, 'token', `re-auth token failed: ${message}`);
      // The server closes with 4419 at expiry; the refresh_token class then gets a token again.
      this.emit({ type: 'token_error', reason: 'expiring', message });
    }
  }

  private onOpen(protocol: string, now: number): void {
    if (this.state !== 'connecting' || this.phase !== 'socket') return;
    if (protocol !== SUBPROTOCOL) this.log.add(now, 'open', `server selected subprotocol "${protocol}"`);
    this.phase = 'auth';
    const token = this.token!;
    this.token = undefined;
    // AUTH-1: the first message on the connection is auth. RECON-6: nothing else until authenticated.
    this.log.add(now, 'auth', 'sent');
    this.send({ type: 'auth', token }, now, false);
  }

  private onAppClose(now: number): void {
    const wasRunning = this.state !== 'idle' && this.state !== 'closed' && this.state !== 'gave_up';
    if (this.conn !== 0) {
      this.out.push({ type: 'close_socket', conn: this.conn, code: CLOSE.NORMAL, reason: 'normal_closure' });
    }
    this.resetConnection();
    this.reconnectAt = undefined;
    this.httpNextAt = undefined;
    this.connectFetch = undefined;
    this.authenticatedAt = undefined;
    this.downSince = undefined;
    this.downAlertAt = undefined;
    // REQ-6: close() fails everything pending with `closed`.
    for (const r of [...this.requests.values()]) this.rejectRequest(r, 'closed', 'client closed', now);
    if (!wasRunning) {
      this.setState('closed', now);
      return;
    }
    this.lastClose = { code: CLOSE.NORMAL, reason: 'normal_closure', at: now, closeClass: 'stop', byClient: true };
    this.log.add(now, 'close', 'client close()');
    this.setState('closed', now);
    this.emit({ type: 'closed', code: CLOSE.NORMAL, reason: 'normal_closure', willRetry: false, closeClass: 'stop', byClient: true });
  }

  private onAppReconnect(now: number): void {
    if (this.state === 'idle' || this.state === 'closed' || this.state === 'gave_up') return this.onConnect(now);
    if (this.state === 'reconnecting') {
      this.reconnectAt = now;
      this.onTick(now);
      return;
    }
    // ERR-6: the client's own close frames carry registry codes and reasons only (4000 is not in the
    // registry): the application ended this connection on purpose.
    const code = CLOSE.NORMAL;
    const reason = 'normal_closure';
    if (this.conn !== 0) this.out.push({ type: 'close_socket', conn: this.conn, code, reason });
    this.log.add(now, 'close', 'client reconnect()');
    this.connectionLost(now, code, reason, true, 0);
  }

  /** Forget the current socket and every per-connection timer. */
  private resetConnection(): void {
    this.conn = 0;
    this.phase = undefined;
    this.token = undefined;
    this.connectDeadline = undefined;
    this.nextPingAt = undefined;
    this.pongDeadline = undefined;
    this.reauthFetch = undefined;
    this.subs.resetConnection();
  }

  /**
   * The connection ended (closed by the server, the network, or the client itself). REQ-6: every
   * request sent on it fails with `disconnected` and is never sent again. RECON-2, RECON-4,
   * RECON-5: the close class decides whether and when to reconnect.
   */
  private connectionLost(now: number, code: number, reason: string, byClient: boolean, forceDelayMs?: number, asClass?: CloseClass): void {
    const wasAuthenticated = this.state === 'authenticated';
    const lostConn = this.conn;
    this.resetConnection();
    for (const r of [...this.requests.values()]) {
      if (r.status === 'sent' && r.conn === lostConn) this.rejectRequest(r, 'disconnected', `connection closed (${code})`, now);
    }
    // RECON-2: the attempt counter resets only after a session that stayed up long enough.
    const stableAfter = this.opts.backoff?.stableAfterMs ?? DEFAULT_BACKOFF.stableAfterMs;
    if (this.authenticatedAt !== undefined && now - this.authenticatedAt >= stableAfter) this.attempt = 0;
    this.authenticatedAt = undefined;

    const cls: CloseClass = asClass ?? closeClass(code);
    const hint = parseCloseReason(reason).retryAfterMs;
    // The "down for long" alert counts from the loss of the last session (or from connect()).
    if (wasAuthenticated || this.downSince === undefined) this.startDown(now);
    this.lastClose = { code, reason, at: now, closeClass: cls, byClient };
    const plan = forceDelayMs !== undefined
      ? { retry: true, delayMs: forceDelayMs, countsAsAttempt: false, refreshToken: false }
      : planReconnect(cls, hint, this.attempt, this.opts.random, this.opts.backoff);

    if (!plan.retry) {
      // RECON-5, SESS-2: a stop code ends reconnection; requests still waiting can never be sent.
      this.reconnectAt = undefined;
      this.httpNextAt = undefined;
      this.downAlertAt = undefined;
      for (const r of [...this.requests.values()]) this.rejectRequest(r, 'closed', `client stopped (${code} ${reason})`, now);
      this.setState('closed', now);
      this.emit({ type: 'closed', code, reason, willRetry: false, closeClass: cls, byClient });
      return;
    }
    const maxAttempts = this.opts.maxAttempts ?? Infinity;
    if (plan.countsAsAttempt && this.attempt + 1 >= maxAttempts) {
      // `maxAttempts` consecutive failed attempts: give up (no further reconnect) and say so.
      this.attempt += 1;
      this.reconnectAt = undefined;
      this.httpNextAt = undefined;
      this.downAlertAt = undefined;
      for (const r of [...this.requests.values()]) this.rejectRequest(r, 'closed', `client gave up after ${this.attempt} attempts`, now);
      this.log.add(now, 'state', `gave up after ${this.attempt} failed attempts`);
      this.emit({ type: 'closed', code, reason, willRetry: false, closeClass: cls, byClient });
      this.setState('gave_up', now);
      this.emit({ type: 'gave_up', attempts: this.attempt, lastCode: code });
      return;
    }
    const attemptForDelay = this.attempt;
    if (plan.countsAsAttempt) this.attempt += 1;
    this.nextTokenReason = plan.refreshToken ? 'expired' : 'reconnect';
    this.reconnectAt = now + plan.delayMs;
    this.log.add(now, 'state', `reconnect in ${Math.round(plan.delayMs)} ms (class ${cls}, attempt ${attemptForDelay})`);
    this.emit({ type: 'closed', code, reason, willRetry: true, closeClass: cls, byClient });
    this.setState('reconnecting', now);
    this.emit({ type: 'reconnecting', attempt: attemptForDelay, delayMs: plan.delayMs, at: this.reconnectAt });
  }

  /** The client closes its own socket (heartbeat or connect timeout) and reconnects. */
  private closeAndReconnect(now: number, code: number, reason: string, protocolError = false): void {
    if (this.conn !== 0) this.out.push({ type: 'close_socket', conn: this.conn, code, reason });
    this.log.add(now, 'close', `client ${code} ${reason}${protocolError ? ' (protocol error)' : ''}`);
    // ROBUST-2: a protocol error closes with 1000 (browsers can send no other standard code) but is
    // a failed attempt of class `reconnect`, not a stop.
    this.connectionLost(now, code, reason, true, undefined, protocolError ? 'reconnect' : undefined);
  }

  // -------------------------------------------------------------------------------------------
  // Time
  // -------------------------------------------------------------------------------------------

  private onTick(now: number): void {
    if (this.downAlertAt !== undefined && now >= this.downAlertAt && this.downSince !== undefined) {
      this.downAlertAt = undefined;
      this.log.add(now, 'state', `down for ${now - this.downSince} ms`);
      this.emit({ type: 'down', since: this.downSince, forMs: now - this.downSince });
    }
    if (this.reconnectAt !== undefined && now >= this.reconnectAt && this.state === 'reconnecting') {
      this.reconnectAt = undefined;
      this.reconnects += 1;
      this.startAttempt(now);
    }
    if (this.connectDeadline !== undefined && now >= this.connectDeadline && this.state === 'connecting') {
      this.connectDeadline = undefined;
      if (this.phase === 'token') this.connectFetch = undefined;
      // ERR-5, ERR-6: nothing (no `authenticated`) arrived in time: the connection is presumed dead,
      // like a heartbeat timeout; the reason is the registry name.
      this.closeAndReconnect(now, CLOSE.HEARTBEAT_TIMEOUT, 'heartbeat_timeout');
    }
    // REQ-5: a request fails with `timeout` at its deadline; its late response is then dropped.
    for (const r of [...this.requests.values()]) {
      if (now >= r.deadline) {
        this.log.add(now, 'timeout', `${r.id} ${r.action}`);
        this.rejectRequest(r, 'timeout', `request ${r.action} timed out`, now);
      }
    }
    if (this.state === 'authenticated') {
      const hbTimeout = this.params.heartbeatTimeoutMs;
      if (this.pongDeadline !== undefined && now >= this.pongDeadline) {
        if (now - this.pongDeadline > hbTimeout) {
          // HB-6: the timer fired far too late, so this process was frozen (device sleep, a
          // throttled tab) and could not have seen a pong: check liveness again instead of
          // declaring a live connection dead.
          this.pongDeadline = undefined;
          this.sendPing(now, 'late timer: re-check');
        } else {
          // HB-3: nothing arrived within heartbeatTimeoutMs of the ping.
          this.closeAndReconnect(now, CLOSE.HEARTBEAT_TIMEOUT, 'heartbeat_timeout');
        }
      }
    }
    if (this.state === 'authenticated' && this.nextPingAt !== undefined && now >= this.nextPingAt) {
      this.sendPing(now, 'interval');
    }
    const httpInterval = this.opts.httpHeartbeatIntervalMs ?? this.httpAdvertised?.intervalMs;
    if (this.httpNextAt !== undefined && now >= this.httpNextAt && httpInterval !== undefined) {
      // HTTP-4: every interval while the client runs, whatever the WebSocket state.
      this.out.push(this.httpHeartbeatAction());
      this.httpNextAt = now + httpInterval;
    }
  }

  /** HB-3: ping; the deadline of an outstanding ping is kept (a new ping does not extend it). */
  private sendPing(now: number, why: string): void {
    this.send({ type: 'ping' }, now, false);
    this.lastPingAt = now;
    this.log.add(now, 'ping', why);
    this.pongDeadline ??= now + this.params.heartbeatTimeoutMs;
    this.nextPingAt = now + this.params.heartbeatIntervalMs;
  }

  private onCheckLiveness(now: number): void {
    // HB-6: a page that becomes visible (or a device that resumes) checks the connection at once.
    if (this.state === 'authenticated') this.sendPing(now, 'liveness check');
  }

  private onActivity(now: number): void {
    // HB-4: any inbound traffic proves liveness.
    this.lastMessageAt = now;
    this.pongDeadline = undefined;
  }

  // -------------------------------------------------------------------------------------------
  // Inbound messages
  // -------------------------------------------------------------------------------------------

  private onText(text: string, now: number): void {
    this.onActivity(now);
    // ROBUST-1: every frame is validated against the schema; one that fails is logged and ignored, so
    // a broken or hostile server can neither crash nor stall the client. VER-7: unknown properties
    // pass the schema and are ignored.
    const parsed = parseInbound(text);
    if (parsed.kind !== 'message') {
      this.invalidFrames += 1;
      const what = parsed.kind === 'invalid' ? `invalid ${parsed.type}: ${parsed.error}` : `${parsed.error}: ${text.slice(0, 80)}`;
      this.log.add(now, 'invalid', what);
      this.emit({ type: 'invalid_frame', message: what });
      // ROBUST-2: an `authenticated` that fails the schema is a protocol error, never a silent reset
      // of the session params: close and reconnect with backoff.
      if (parsed.kind === 'invalid' && parsed.type === 'authenticated' && (this.state === 'authenticated' || this.phase === 'auth')) {
        this.closeAndReconnect(now, CLOSE.NORMAL, 'normal_closure', true);
      }
      return;
    }
    const msg = parsed.message;
    if (this.state === 'connecting') {
      if (msg.type === 'authenticated' && this.phase === 'auth') return this.onAuthenticated(msg, now, false);
      if (msg.type === 'error') return this.onServerError(msg, now);
      this.log.add(now, 'receive', `${msg.type} before authenticated (ignored)`);
      return;
    }
    if (this.state !== 'authenticated') return;
    switch (msg.type) {
      case 'authenticated': return this.onAuthenticated(msg, now, true);
      case 'response': return this.onResponse(msg, now);
      case 'subscribed': return this.onSubscribed(msg, now);
      case 'unsubscribed': this.log.add(now, 'receive', `unsubscribed ${msg.channel}`); return;
      case 'push': return this.onPush(msg, now);
      case 'pong':
        this.lastPongAt = now;
        this.log.add(now, 'pong', '');
        return;
      case 'token_expiring':
        this.log.add(now, 'token', `expiring at ${msg.expiresAt}`);
        if (!this.reauthFetch) {
          // AUTH-10: get a fresh token and re-authenticate in-band.
          this.reauthFetch = { fetch: ++this.fetchSeq, conn: this.conn };
          this.out.push({ type: 'fetch_token', fetch: this.reauthFetch.fetch, reason: 'expiring' });
        }
        return;
      case 'error': return this.onServerError(msg, now);
    }
  }

  /** HTTP-4, HTTP-9: the action posting one HTTP heartbeat (to the advertised path when followed). */
  private httpHeartbeatAction(): Extract<CoreAction, { type: 'http_heartbeat' }> {
    return this.opts.httpHeartbeatIntervalMs === undefined && this.httpAdvertised ? { type: 'http_heartbeat', path: this.httpAdvertised.path } : { type: 'http_heartbeat' };
  }

  private onAuthenticated(msg: Extract<ServerMessage, { type: 'authenticated' }>, now: number, reauth: boolean): void {
    this.params = { ...msg.params };
    const hb = msg.params.httpHeartbeat;
    if (hb && this.opts.followAdvertisedHttpHeartbeat && this.opts.httpHeartbeatIntervalMs === undefined) {
      // HTTP-9: the server advertises its HTTP heartbeat channel: post to it from now until close().
      this.httpAdvertised = { path: hb.path, intervalMs: hb.intervalMs };
      if (this.httpNextAt === undefined) {
        this.out.push(this.httpHeartbeatAction());
        this.httpNextAt = now + hb.intervalMs;
      } else this.httpNextAt = Math.min(this.httpNextAt, now + hb.intervalMs);
    }
    if (msg.server) this.server = { name: msg.server.name, version: msg.server.version };
    this.userId = msg.userId;
    this.sessionId = msg.sessionId;
    if (reauth) {
      this.log.add(now, 'authenticated', `re-auth ok, token expires ${msg.params.tokenExpiresAt ?? 'never'}`);
      this.emit({ type: 'authenticated', userId: msg.userId, sessionId: msg.sessionId, params: { ...msg.params }, reauth: true, ...(msg.userChannel !== undefined ? { userChannel: msg.userChannel } : {}) });
      return;
    }
    this.phase = undefined;
    this.connectDeadline = undefined;
    this.authenticatedAt = now;
    this.downSince = undefined;
    this.downAlertAt = undefined;
    this.nextPingAt = now + msg.params.heartbeatIntervalMs;
    this.pongDeadline = undefined;
    this.setState('authenticated', now);
    this.log.add(now, 'authenticated', `user ${msg.userId} session ${msg.sessionId}`);
    // RECON-3, SUB-10: only now re-subscribe, each channel once, with the last position seen.
    for (const channel of this.subs.channelNames()) this.sendSubscribe(channel, now);
    // Requests that waited for authentication (made while not connected) go out now.
    for (const r of this.requests.values()) if (r.status === 'waiting') this.sendRequest(r, now);
    this.emit({ type: 'authenticated', userId: msg.userId, sessionId: msg.sessionId, params: { ...msg.params }, reauth: false, ...(msg.userChannel !== undefined ? { userChannel: msg.userChannel } : {}) });
  }

  private onResponse(msg: ResponseMessage, now: number): void {
    const r = this.requests.get(msg.requestId);
    if (!r || r.status !== 'sent' || r.conn !== this.conn) {
      // REQ-5: a late (or unknown) response is dropped.
      this.log.add(now, 'response', `${msg.requestId} dropped (no pending request)`);
      return;
    }
    this.requests.delete(r.id);
    if (msg.success) {
      this.log.add(now, 'response', `${r.id} ${r.action} ok`);
      this.out.push({ type: 'resolve', id: r.id, data: msg.data });
    } else {
      this.log.add(now, 'response', `${r.id} ${r.action} failed: ${msg.error.code}`);
      this.out.push({ type: 'reject', id: r.id, code: msg.error.code, message: msg.error.message });
    }
  }

  private onSubscribed(msg: SubscribedMessage, now: number): void {
    this.log.add(now, 'subscribe', `${msg.channel} at ${msg.position.epoch}:${msg.position.offset}${msg.resume ? ` resume ${msg.resume}${msg.replayed !== undefined ? ` (${msg.replayed})` : ''}` : ''}`);
    if (!this.subs.has(msg.channel)) return;
    const gap = this.subs.onSubscribed(msg);
    if (gap) {
      // SUB-10: the server cannot replay: tell the handler so the application refetches.
      this.log.add(now, 'gap', `${gap.channel} ${gap.reason}`);
      this.out.push({ type: 'gap', gap });
    }
    this.emit({
      type: 'subscribed',
      channel: msg.channel,
      position: { ...msg.position },
      ...(msg.resume !== undefined ? { resume: msg.resume } : {}),
      ...(msg.replayed !== undefined ? { replayed: msg.replayed } : {}),
    });
  }

  private onPush(msg: PushMessage, now: number): void {
    const d = this.subs.onPush(msg);
    const where = `${msg.channel} ${msg.position.epoch}:${msg.position.offset}${msg.replay ? ' replay' : ''}`;
    if (!d.deliver) {
      this.log.add(now, 'push', `${where} dropped (${d.why})`);
      return;
    }
    if (d.gap) {
      this.log.add(now, 'gap', `${d.gap.channel} ${d.gap.reason}`);
      this.out.push({ type: 'gap', gap: d.gap });
    }
    this.log.add(now, 'push', where);
    this.out.push({
      type: 'push',
      channel: msg.channel,
      data: msg.data,
      meta: { channel: msg.channel, position: { ...msg.position }, ts: msg.ts, replay: msg.replay === true },
    });
  }

  private onServerError(msg: Extract<ServerMessage, { type: 'error' }>, now: number): void {
    this.log.add(now, 'error', `${msg.code}: ${msg.message}`);
    // LIMIT-5: `too_many_requests` names the refused request itself: it will never get a response, so it
    // fails at once rather than at its timeout. Other errors with a `requestId` fail nothing: for
    // `duplicate_request_id` (REQ-4) the id is the *pending* original, which is still answered.
    if (msg.requestId !== undefined && REFUSED_REQUEST_CODES.has(msg.code)) {
      const r = this.requests.get(msg.requestId);
      if (r && r.status === 'sent' && r.conn === this.conn) this.rejectRequest(r, msg.code, msg.message, now);
    }
    this.emit({
      type: 'server_error',
      code: msg.code,
      message: msg.message,
      ...(msg.requestId !== undefined ? { requestId: msg.requestId } : {}),
      ...(msg.channel !== undefined ? { channel: msg.channel } : {}),
    });
  }

  // -------------------------------------------------------------------------------------------
  // Application subscriptions and requests
  // -------------------------------------------------------------------------------------------

  private onSubscribe(channel: string, now: number): void {
    // SUB-10: one server subscription per channel, whatever the number of handlers.
    const isNew = this.subs.add(channel);
    if (isNew && this.state === 'authenticated') this.sendSubscribe(channel, now);
    // Otherwise remembered, and sent after the next `authenticated` (RECON-6).
  }

  private onUnsubscribe(channel: string, now: number): void {
    const status = this.subs.remove(channel);
    if (status === undefined) return;
    this.log.add(now, 'unsubscribe', channel);
    if (this.state === 'authenticated' && status !== 'pending') this.send({ type: 'unsubscribe', channel }, now, true);
  }

  private sendSubscribe(channel: string, now: number): void {
    const msg = this.subs.subscribeMessage(channel);
    this.log.add(now, 'subscribe', `${channel}${msg.since ? ` since ${msg.since.epoch}:${msg.since.offset}` : ''}`);
    this.send(msg, now, false);
  }

  private sendRequest(r: PendingRequest, now: number): void {
    r.status = 'sent';
    r.conn = this.conn;
    this.log.add(now, 'request', `${r.id} ${r.action}`);
    const msg: ClientMessage = r.payload === undefined
      ? { type: 'request', id: r.id, action: r.action }
      : { type: 'request', id: r.id, action: r.action, payload: r.payload };
    this.send(msg, now, false);
  }

  private rejectRequest(r: PendingRequest, code: string, message: string, _now: number): void {
    this.requests.delete(r.id);
    this.out.push({ type: 'reject', id: r.id, code, message });
  }

  // -------------------------------------------------------------------------------------------
  // Helpers
  // -------------------------------------------------------------------------------------------

  private send(message: ClientMessage, now: number, logIt: boolean): void {
    if (this.conn === 0) return;
    if (logIt) this.log.add(now, 'send', message.type);
    this.out.push({ type: 'send', conn: this.conn, message });
  }

  private setState(state: ClientState, now: number): void {
    if (this.state === state) return;
    this.state = state;
    this.log.add(now, 'state', state);
  }

  private emit(event: ClientEvent): void {
    this.out.push({ type: 'emit', event });
  }

  private flush(): CoreAction[] {
    const out = this.out;
    this.out = [];
    return out;
  }
}
