/**
 * The wire toolkit: one suite connection to the server under test. It records every frame sent and
 * received (with timestamps) into the case transcript, validates everything the server sends
 * (VER-5, ERR-3) and offers domain-level waits: `next(type)`, `expectClose(code)`, `request()`.
 */
import WebSocket from 'ws';
import {
  closeCodeInfo,
  parseServerFrame,
  ERROR_CODES,
  SUBPROTOCOL,
  type AuthenticatedMessage,
  type ServerMessage,
  type ResponseMessage,
} from '../../schemas/v1/index.js';
import type { CloseSeen } from '../types.js';
import { redact } from './redact.js';

/** What a connection reports to the case that owns it. */
export interface WireHost {
  elapsed(): number;
  record(conn: string, dir: 'out' | 'in' | 'event', kind: string, data?: string): void;
  violation(rule: string, message: string): void;
  /** The rule the case is checking now (a schema-invalid message fails it). */
  currentRule: string;
  closeSeen(c: CloseSeen): void;
  errorCodeSeen(code: string): void;
  acquire(user: string | undefined): Promise<void>;
  userOfToken(token: string): string | undefined;
  /** Scaled default wait for a single answer. */
  waitMs: number;
  /** What the connection waits for now (undefined: nothing), for progress lines. */
  waiting?(what: string | undefined): void;
}

export interface ConnectOptions {
  /** Defaults to the URL under test (or the proxy's when `via` is set by the context). */
  url?: string;
  /** Subprotocols offered: default `['mooring.v1']`; `null` offers none (VER-4). */
  protocols?: string[] | null;
  /** `Origin` header; none by default (SEC-1). `null`: none, even when the run adapted to a server refusing that. */
  origin?: string | null;
  headers?: Record<string, string>;
  /** Certificate authorities trusted for wss:// (PEM). @default Node's roots */
  ca?: string | Buffer;
  /** Answer WebSocket pings automatically (default true; HB-5). */
  autoPong?: boolean;
  label?: string;
}

export class TimeoutError extends Error {}
/** A conformance-profile action misbehaved: charged to that rule, not to the rule the case checks. */
export class ProfileError extends Error {
  constructor(public rule: string, message: string) {
    super(message);
  }
}
export class HandshakeRefused extends Error {
  constructor(public status: number, public body: string) {
    super(status ? `handshake refused with HTTP ${status}` : `connection failed: ${redact(body)}`);
    // A refusal body may echo the request (URL query and all): never carry a token into a report.
    this.body = redact(body);
  }
}

type Inbound = { msg: ServerMessage; at: number; consumed: boolean };
type Waiter = { pred: (m: ServerMessage) => boolean; resolve: (m: ServerMessage) => void };

const STACK_LIKE = /(?:^|[\s("'=:])\/(?:[\w.-]+\/)+[\w.-]+\.(?:py|js|ts|mjs|cjs|go|rb|java|rs|php|cs|c|cpp|h)\b|\bat [^\s]+ \(|\.(?:js|ts|mjs|cjs|py|go|rb|java):\d+|Traceback|node_modules|\/home\/|\/usr\/|[A-Z]:\\|\bErrno\b|ECONNREFUSED|TypeError|ReferenceError|SyntaxError:/;

/** ERR-3: a text the server shows a client looks like it leaks internals. */
export function looksInternal(text: string): boolean {
  return STACK_LIKE.test(text);
}

/**
 * ERR-6: a close reason is empty, or the code's registry name with an optional `;retry=<ms>` (at most
 * 9 digits), at most 123 bytes. Returns what is wrong, or undefined.
 */
export function closeReasonProblem(code: number, reason: Buffer): string | undefined {
  const text = reason.toString('utf8');
  if (reason.length > 123) return `close ${code} has a ${reason.length}-byte reason (at most 123)`;
  if (text === '') return undefined;
  const m = /^([a-z0-9_]+)(;retry=\d{1,9})?$/.exec(text);
  const name = closeCodeInfo(code)?.name;
  if (!m) return `close ${code} reason "${clip(text, 60)}" is not "<name>" or "<name>;retry=<ms>"`;
  if (name && m[1] !== name) return `close ${code} reason "${clip(text, 60)}" does not carry the registry name "${name}"`;
  if (!name) return `close ${code} is not in the registry, so its reason "${clip(text, 60)}" names nothing`;
  return undefined;
}

export { redact };

const clip = (s: string, n = 400) => (s.length > n ? `${s.slice(0, n)}… (${s.length} chars)` : s);

export class Conn {
  readonly ws: WebSocket;
  readonly label: string;
  readonly inbox: Inbound[] = [];
  /** Arrival times (ms since case start) of WebSocket ping frames from the server (HB-1). */
  readonly pings: number[] = [];
  protocol = '';
  user: string | undefined;
  authenticated: AuthenticatedMessage | undefined;
  closed: CloseSeen | undefined;
  private closingByUs = false;
  /** An auth was sent on this connection (later ones count toward the rate limit). */
  private authSent = false;
  /** SUB-11: per channel, the position acknowledged by the last subscribed (undefined: not subscribed). */
  private subs = new Map<string, { epoch: string; offset: number } | 'unsubscribed'>();
  private waiters: Waiter[] = [];
  private closeWaiters: ((c: CloseSeen) => void)[] = [];
  readonly opened: Promise<void>;

  constructor(private host: WireHost, url: string, opts: ConnectOptions & { label: string }) {
    this.label = opts.label;
    const protocols = opts.protocols === undefined ? [SUBPROTOCOL] : opts.protocols ?? undefined;
    const headers: Record<string, string> = { ...(opts.headers ?? {}) };
    host.record(this.label, 'event', 'connect', `${redact(url)} protocols=${JSON.stringify(protocols ?? [])}${opts.origin ? ` origin=${opts.origin}` : ''}`);
    this.ws = new WebSocket(url, protocols ?? [], {
      headers,
      origin: opts.origin ?? undefined,
      ca: opts.ca,
      perMessageDeflate: false, // the proxy reads frames; compression would hide message types
      autoPong: opts.autoPong ?? true,
      handshakeTimeout: Math.max(2000, host.waitMs),
      maxPayload: 256 * 1024 * 1024,
    });
    this.opened = new Promise<void>((resolve, reject) => {
      this.ws.once('open', () => {
        this.protocol = this.ws.protocol;
        host.record(this.label, 'event', 'open', `protocol=${this.ws.protocol || '(none)'}`);
        resolve();
      });
      this.ws.once('unexpected-response', (req, res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (body += d.length + body.length < 2000 ? d : ''));
        const done = () => {
          host.record(this.label, 'event', 'http', `HTTP ${res.statusCode} ${clip(redact(body), 200)}`);
          if (looksInternal(body)) host.violation('ERR-3', `handshake refusal body looks like it leaks internals: ${clip(redact(body), 120)}`);
          reject(new HandshakeRefused(res.statusCode ?? 0, body));
          req.destroy();
        };
        res.once('end', done);
        res.once('error', done);
        setTimeout(done, 1000).unref();
      });
      this.ws.once('error', (e) => {
        host.record(this.label, 'event', 'error', redact(e.message));
        reject(new HandshakeRefused(0, e.message));
      });
    });
    this.opened.catch(() => {});
    this.ws.on('ping', () => {
      this.pings.push(host.elapsed());
      host.record(this.label, 'in', 'ws-ping');
    });
    this.ws.on('pong', () => host.record(this.label, 'in', 'ws-pong'));
    this.ws.on('message', (data, isBinary) => this.onMessage(data as Buffer, isBinary));
    this.ws.on('close', (code, reasonBuf) => {
      const reason = reasonBuf.toString('utf8');
      const c: CloseSeen = { conn: this.label, code, reason, frame: code !== 1006, atMs: host.elapsed(), byClient: this.closingByUs };
      this.closed = c;
      host.record(this.label, 'event', 'close', `${code}${reason ? ` "${reason}"` : ''}${c.frame ? '' : ' (no close frame)'}`);
      if (c.frame && looksInternal(reason)) host.violation('ERR-3', `close reason leaks internals: ${clip(reason, 120)}`);
      if (c.frame && !this.closingByUs) {
        const bad = closeReasonProblem(code, reasonBuf);
        if (bad) host.violation('ERR-6', bad);
      }
      host.closeSeen(c);
      for (const w of this.closeWaiters.splice(0)) w(c);
    });
  }

  get isOpen(): boolean {
    return this.ws.readyState === WebSocket.OPEN;
  }

  private onMessage(data: Buffer, isBinary: boolean): void {
    if (isBinary) {
      this.host.record(this.label, 'in', 'binary', `${data.length} bytes`);
      this.host.violation('VER-5', 'the server sent a binary frame; v1 data frames are JSON text');
      return;
    }
    const text = data.toString('utf8');
    this.host.record(this.label, 'in', 'text', clip(redact(text)));
    const parsed = parseServerFrame(text);
    let msg: ServerMessage | undefined;
    if (parsed.kind === 'invalid_json') {
      this.host.violation('VER-5', `the server sent a text frame that is not JSON: ${clip(text, 80)}`);
      return;
    }
    if (parsed.kind === 'invalid_message') {
      const v = JSON.parse(text) as unknown;
      if (v && typeof v === 'object' && !Array.isArray(v) && typeof (v as { type?: unknown }).type === 'string') {
        // A JSON object with a type (VER-5 holds) whose shape is wrong: it fails the rule being checked.
        this.host.violation(this.host.currentRule, `the server sent a message that fails the schema (${parsed.error}): ${clip(text, 160)}`);
        msg = v as ServerMessage;
      } else {
        this.host.violation('VER-5', `the server sent a text frame that is not a JSON object with a string "type": ${clip(text, 80)}`);
        return;
      }
    } else msg = parsed.message;
    this.inspectErrors(msg);
    this.inspectOrder(msg);
    const entry: Inbound = { msg, at: this.host.elapsed(), consumed: false };
    this.inbox.push(entry);
    for (let i = 0; i < this.waiters.length; i++) {
      const w = this.waiters[i]!;
      if (w.pred(msg)) {
        entry.consumed = true;
        this.waiters.splice(i, 1);
        w.resolve(msg);
        break;
      }
    }
  }

  /** SUB-11: no push before its subscribed; live pushes come after subscribed.position. */
  private inspectOrder(m: ServerMessage): void {
    if (m.type === 'subscribed') this.subs.set(m.channel, m.position);
    else if (m.type === 'unsubscribed') this.subs.set(m.channel, 'unsubscribed');
    else if (m.type === 'push') {
      const at = this.subs.get(m.channel);
      if (at === undefined) this.host.violation('SUB-11', `a push of ${m.channel} arrived before any "subscribed" for it`);
      else if (at !== 'unsubscribed' && !m.replay && m.position.epoch === at.epoch && m.position.offset <= at.offset) {
        this.host.violation('SUB-11', `a live push of ${m.channel} at ${m.position.epoch}/${m.position.offset} is not after subscribed.position ${at.epoch}/${at.offset}`);
      }
    }
  }

  /** ERR-3: error codes come from the registry; messages carry no internals. */
  private inspectErrors(m: ServerMessage): void {
    const err = m.type === 'error' ? m : m.type === 'response' && m.success === false ? m.error : undefined;
    if (!err) return;
    this.host.errorCodeSeen(err.code);
    const known = (ERROR_CODES as Record<string, { in: string }>)[err.code];
    if (!known || known.in === 'client') this.host.violation('ERR-3', `error code "${err.code}" is not a server code of the registry`);
    if (looksInternal(err.message)) this.host.violation('ERR-3', `error message leaks internals: ${clip(err.message, 160)}`);
  }

  /** Sends a message (object → JSON text; string → raw text; Buffer → binary), paced by the rate governor. */
  async send(m: object | string | Buffer, opts: { unpaced?: boolean } = {}): Promise<void> {
    // Rate limiting counts only frames after authentication: a connection's first auth is never held
    // by the governor (a held auth would meet the server's AUTH-2 deadline) and does not count.
    const isAuth = typeof m === 'object' && !Buffer.isBuffer(m) && (m as { type?: unknown }).type === 'auth';
    const firstAuth = isAuth && !this.authSent;
    if (isAuth) this.authSent = true;
    if (!opts.unpaced && !firstAuth) await this.host.acquire(this.user);
    this.sendNow(m);
  }

  /** Sends at once, bypassing the governor (floods). */
  sendNow(m: object | string | Buffer): void {
    if (this.ws.readyState !== WebSocket.OPEN) throw new Error(`${this.label}: cannot send, the connection is ${this.closed ? `closed (${this.closed.code})` : 'not open'}`);
    if (Buffer.isBuffer(m)) {
      this.host.record(this.label, 'out', 'binary', `${m.length} bytes`);
      this.ws.send(m, { binary: true });
      return;
    }
    const text = typeof m === 'string' ? m : JSON.stringify(m);
    this.host.record(this.label, 'out', 'text', clip(redact(text)));
    this.ws.send(text);
  }

  /**
   * The next not-yet-consumed message of this type (or matching the predicate), waiting up to
   * `timeoutMs`. Throws a TimeoutError naming what was awaited, or when the connection closes first.
   */
  next<T extends ServerMessage['type']>(
    type: T,
    opts: { where?: (m: Extract<ServerMessage, { type: T }>) => boolean; timeoutMs?: number; what?: string } = {},
  ): Promise<Extract<ServerMessage, { type: T }>> {
    const pred = (m: ServerMessage) => m.type === type && (!opts.where || opts.where(m as Extract<ServerMessage, { type: T }>));
    return this.waitFor(pred, opts.timeoutMs, opts.what ?? `a "${type}" message`) as Promise<Extract<ServerMessage, { type: T }>>;
  }

  waitFor(pred: (m: ServerMessage) => boolean, timeoutMs = this.host.waitMs, what = 'a message'): Promise<ServerMessage> {
    const hit = this.inbox.find((e) => !e.consumed && pred(e.msg));
    if (hit) {
      hit.consumed = true;
      return Promise.resolve(hit.msg);
    }
    this.host.waiting?.(`${what} on ${this.label}`);
    return new Promise<ServerMessage>((resolve, reject) => {
      const w: Waiter = {
        pred,
        resolve: (m) => {
          cleanup();
          resolve(m);
        },
      };
      const onClose = (c: CloseSeen) => {
        cleanup();
        reject(new TimeoutError(`${this.label}: connection closed (${c.code}${c.reason ? ` "${c.reason}"` : ''}) while waiting for ${what}`));
      };
      const timer = setTimeout(() => {
        cleanup();
        reject(new TimeoutError(`${this.label}: no ${what} within ${timeoutMs} ms`));
      }, timeoutMs);
      const cleanup = () => {
        clearTimeout(timer);
        this.host.waiting?.(undefined);
        const i = this.waiters.indexOf(w);
        if (i >= 0) this.waiters.splice(i, 1);
        const j = this.closeWaiters.indexOf(onClose);
        if (j >= 0) this.closeWaiters.splice(j, 1);
      };
      this.waiters.push(w);
      if (this.closed) onClose(this.closed);
      else this.closeWaiters.push(onClose);
    });
  }

  /** Messages received so far that match (consumed or not). */
  received(pred: (m: ServerMessage) => boolean = () => true): ServerMessage[] {
    return this.inbox.filter((e) => pred(e.msg)).map((e) => e.msg);
  }

  /** Waits for the connection to close (any code), up to `timeoutMs`; undefined when still open. */
  waitClose(timeoutMs = this.host.waitMs): Promise<CloseSeen | undefined> {
    if (this.closed) return Promise.resolve(this.closed);
    return new Promise((resolve) => {
      const t = setTimeout(() => {
        const i = this.closeWaiters.indexOf(done);
        if (i >= 0) this.closeWaiters.splice(i, 1);
        resolve(undefined);
      }, timeoutMs);
      const done = (c: CloseSeen) => {
        clearTimeout(t);
        resolve(c);
      };
      this.closeWaiters.push(done);
    });
  }

  /** Sends auth and waits for `authenticated` (AUTH-5). Throws if the server closes or does not answer. */
  async auth(token: string, extra: Record<string, unknown> = {}): Promise<AuthenticatedMessage> {
    this.user = this.host.userOfToken(token) ?? this.user;
    await this.send({ type: 'auth', token, ...extra });
    const m = await this.next('authenticated', { what: '"authenticated" after auth' });
    this.authenticated = m;
    this.user = m.userId;
    return m;
  }

  /** Sends a request and waits for its response (REQ-1). */
  async request(action: string, payload?: unknown, opts: { id?: string; timeoutMs?: number } = {}): Promise<ResponseMessage> {
    const id = opts.id ?? `r${Math.random().toString(36).slice(2, 10)}`;
    await this.send(payload === undefined ? { type: 'request', id, action } : { type: 'request', id, action, payload });
    return this.next('response', { where: (r) => r.requestId === id, timeoutMs: opts.timeoutMs, what: `the response to request ${id} (${action})` });
  }

  /** Publishes through the conformance profile's `publish` action (CONF-2); returns the position. */
  async publish(channel: string, data: unknown): Promise<{ epoch: string; offset: number }> {
    const r = await this.request('publish', { channel, data });
    if (!r.success) throw new ProfileError('CONF-2', `publish to ${channel} failed: ${r.error.code} ${r.error.message}`);
    const pos = (r.data as { position?: { epoch: string; offset: number } } | undefined)?.position;
    if (!pos || typeof pos.epoch !== 'string' || typeof pos.offset !== 'number') throw new ProfileError('CONF-2', `publish answered without a position: ${JSON.stringify(r.data)}`);
    return pos;
  }

  /** Subscribes and waits for the acknowledgement (SUB-2). */
  async subscribe(channel: string, since?: { epoch: string; offset: number }) {
    await this.send(since ? { type: 'subscribe', channel, since } : { type: 'subscribe', channel });
    return this.next('subscribed', { where: (m) => m.channel === channel, what: `"subscribed" for ${channel}` });
  }

  close(code = 1000): void {
    this.closingByUs = true;
    if (this.ws.readyState === WebSocket.OPEN || this.ws.readyState === WebSocket.CONNECTING) {
      try {
        this.ws.close(code);
      } catch {
        this.ws.terminate();
      }
      setTimeout(() => this.ws.terminate(), 500).unref();
    }
  }

  terminate(): void {
    this.closingByUs = true;
    this.ws.terminate();
  }
}
