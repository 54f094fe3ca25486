/**
 * The harness's server: a scriptable Mooring server on 127.0.0.1 (real sockets) that plays the
 * protocol by default (auth, echo, subscribe with positions, pong) and lets each case misbehave on
 * purpose: refuse upgrades, delay or corrupt answers, close with any code, stop answering pings.
 * Everything the client sends is recorded with its time, and checked against the rules that hold on
 * every connection (VER-1, AUTH-1, RECON-6, VER-5, ERR-6), like the server suite's meta checks.
 */
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer, WebSocket } from 'ws';
import { SUBPROTOCOL, type ClientMessage, type SessionParams } from '../../schemas/v1/messages.js';
import { validateClientMessage } from '../../schemas/v1/validate.js';
import { closeReasonProblem } from '../wire/conn.js';

export interface Frame {
  at: number;
  text?: string;
  binary?: boolean;
  msg?: ClientMessage;
}

export interface Attempt {
  at: number;
  /** The request path (cases running several clients give each its own path). */
  path: string;
  /** The subprotocols the client offered (VER-1). */
  protocols: string[];
  refused?: number;
  conn?: ClientConn;
}

export type Observe = (rule: string, message: string) => void;

/** One accepted connection, seen from the server side. */
export class ClientConn {
  readonly frames: Frame[] = [];
  path = '';
  authenticatedAt: number | undefined;
  /** The close frame the client started (code, reason), if it closed first. */
  clientClose: { code: number; reason: string; at: number } | undefined;
  closedAt: number | undefined;
  serverClosed = false;
  private waiters: { pred: (f: Frame) => boolean; resolve: (f: Frame) => void }[] = [];
  private closeWaiters: (() => void)[] = [];
  sessionId: string;

  constructor(readonly n: number, readonly ws: WebSocket, readonly openedAt: number, private readonly srv: ScriptServer) {
    this.sessionId = `s${n}`;
  }

  get open(): boolean {
    return this.closedAt === undefined && this.ws.readyState === WebSocket.OPEN;
  }

  messages(): ClientMessage[] {
    return this.frames.flatMap((f) => (f.msg ? [f.msg] : []));
  }

  send(m: object | string): void {
    if (this.ws.readyState !== WebSocket.OPEN) return;
    const text = typeof m === 'string' ? m : JSON.stringify(m);
    this.srv.log(`c${this.n}`, 'out', text);
    this.ws.send(text);
  }

  sendBinary(b: Buffer): void {
    if (this.ws.readyState !== WebSocket.OPEN) return;
    this.srv.log(`c${this.n}`, 'out', `<binary ${b.length} bytes>`);
    this.ws.send(b, { binary: true });
  }

  /** A WebSocket ping control frame (not a message). */
  wsPing(): void {
    if (this.ws.readyState === WebSocket.OPEN) this.ws.ping();
  }

  authenticate(params: SessionParams = this.srv.params, extra: Record<string, unknown> = {}): void {
    this.authenticatedAt = Date.now();
    this.send({ type: 'authenticated', userId: 'harness-user', sessionId: this.sessionId, protocol: SUBPROTOCOL, params, ...extra });
  }

  /** When the server sent its close frame (or dropped the connection). */
  closeSentAt: number | undefined;

  close(code: number, reason = ''): void {
    this.serverClosed = true;
    this.closeSentAt ??= Date.now();
    this.srv.log(`c${this.n}`, 'event', `server closes ${code} ${reason}`);
    try {
      this.ws.close(code, reason);
    } catch {
      this.ws.terminate();
    }
    // Do not wait for the client's answer: the case judges the reconnect, not the closing handshake.
    setTimeout(() => this.ws.terminate(), 300).unref();
  }

  /** Drops the TCP connection without a close frame (the client sees 1006). */
  terminate(): void {
    this.serverClosed = true;
    this.closeSentAt ??= Date.now();
    this.srv.log(`c${this.n}`, 'event', 'server drops the connection (no close frame)');
    this.ws.terminate();
  }

  /** Resolves with the first frame (already received or future) matching `pred`, or undefined at the timeout. */
  waitFrame(pred: (f: Frame) => boolean, timeoutMs: number, from = 0): Promise<Frame | undefined> {
    const had = this.frames.slice(from).find(pred);
    if (had) return Promise.resolve(had);
    return new Promise((resolve) => {
      const w = { pred, resolve: (f: Frame | undefined) => { clearTimeout(t); this.waiters = this.waiters.filter((x) => x !== w); resolve(f); } };
      const t = setTimeout(() => w.resolve(undefined), timeoutMs);
      this.waiters.push(w as never);
    });
  }

  waitMsg<T extends ClientMessage['type']>(type: T, timeoutMs: number, pred: (m: Extract<ClientMessage, { type: T }>) => boolean = () => true, from = 0): Promise<Extract<ClientMessage, { type: T }> | undefined> {
    return this.waitFrame((f) => f.msg?.type === type && pred(f.msg as never), timeoutMs, from).then((f) => f?.msg as never);
  }

  /** Resolves true when the connection closes within `timeoutMs`. */
  waitClosed(timeoutMs: number): Promise<boolean> {
    if (this.closedAt !== undefined) return Promise.resolve(true);
    return new Promise((resolve) => {
      const done = () => { clearTimeout(t); resolve(true); };
      const t = setTimeout(() => { this.closeWaiters = this.closeWaiters.filter((x) => x !== done); resolve(false); }, timeoutMs);
      this.closeWaiters.push(done);
    });
  }

  /** @internal */
  onFrame(f: Frame): void {
    this.frames.push(f);
    for (const w of [...this.waiters]) if (w.pred(f)) w.resolve(f);
  }

  /** @internal */
  onClosed(): void {
    this.closedAt = Date.now();
    for (const w of this.closeWaiters.splice(0)) w();
  }
}

export interface Behaviour {
  /** Answer upgrades with this HTTP status instead of accepting them (RECON-1 cases). */
  refuse?: (attempt: Attempt) => number | undefined;
  /** The answer to `auth` (default: `authenticated` at once; re-auth: `authenticated` again). */
  auth?: (c: ClientConn, token: string, reauth: boolean) => void;
  request?: (c: ClientConn, m: Extract<ClientMessage, { type: 'request' }>) => void;
  subscribe?: (c: ClientConn, m: Extract<ClientMessage, { type: 'subscribe' }>) => void;
  /** false: pings get no pong. */
  pong?: boolean;
  /** Called after a connection is accepted. */
  connected?: (c: ClientConn) => void;
}

interface Channel {
  epoch: string;
  offset: number;
  history: { offset: number; data: unknown; ts: number }[];
}

export class ScriptServer {
  readonly attempts: Attempt[] = [];
  readonly conns: ClientConn[] = [];
  behaviour: Behaviour = {};
  /** The tokens the client presented in `auth`, in order, with the connection. */
  readonly auths: { conn: number; token: string; at: number; reauth: boolean }[] = [];
  private http!: Server;
  private wss!: WebSocketServer;
  private channels = new Map<string, Channel>();
  private connWaiters: ((c: ClientConn) => void)[] = [];
  private attemptWaiters: ((a: Attempt) => void)[] = [];
  url = '';

  constructor(
    public params: SessionParams,
    readonly log: (conn: string, dir: 'in' | 'out' | 'event', data: string) => void,
    private readonly observe: Observe,
  ) {}

  async start(): Promise<void> {
    this.wss = new WebSocketServer({ noServer: true, perMessageDeflate: false, handleProtocols: (p) => (p.has(SUBPROTOCOL) ? SUBPROTOCOL : false) });
    this.http = createServer((_req, res) => res.writeHead(404).end());
    this.http.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => this.onUpgrade(req, socket, head));
    await new Promise<void>((resolve) => this.http.listen(0, '127.0.0.1', resolve));
    const addr = this.http.address() as { port: number };
    this.url = `ws://127.0.0.1:${addr.port}/ws`;
  }

  async stop(): Promise<void> {
    for (const c of this.conns) c.ws.terminate();
    this.wss.close();
    this.http.closeAllConnections?.();
    await new Promise<void>((resolve) => this.http.close(() => resolve()));
  }

  /** Resolves with the next connection accepted from now on (or undefined at the timeout). */
  nextConn(timeoutMs: number, after = this.conns.length): Promise<ClientConn | undefined> {
    if (this.conns.length > after) return Promise.resolve(this.conns[after]);
    return new Promise((resolve) => {
      const w = (c: ClientConn) => { clearTimeout(t); resolve(c); };
      const t = setTimeout(() => { this.connWaiters = this.connWaiters.filter((x) => x !== w); resolve(undefined); }, timeoutMs);
      this.connWaiters.push(w);
    });
  }

  /** Resolves with the next upgrade attempt (accepted or refused) from index `after` on. */
  nextAttempt(timeoutMs: number, after = this.attempts.length): Promise<Attempt | undefined> {
    if (this.attempts.length > after) return Promise.resolve(this.attempts[after]);
    return new Promise((resolve) => {
      const w = (a: Attempt) => { clearTimeout(t); resolve(a); };
      const t = setTimeout(() => { this.attemptWaiters = this.attemptWaiters.filter((x) => x !== w); resolve(undefined); }, timeoutMs);
      this.attemptWaiters.push(w);
    });
  }

  /** Publishes on a channel: every connection subscribed to it gets the push. Returns its position. */
  publish(channel: string, data: unknown, to?: ClientConn[]): { epoch: string; offset: number } {
    const ch = this.channel(channel);
    ch.offset += 1;
    const ts = Date.now();
    ch.history.push({ offset: ch.offset, data, ts });
    const position = { epoch: ch.epoch, offset: ch.offset };
    for (const c of to ?? this.subscribers(channel)) c.send({ type: 'push', channel, data, position, ts });
    return position;
  }

  channel(name: string): Channel {
    let ch = this.channels.get(name);
    if (!ch) this.channels.set(name, (ch = { epoch: `ep${Math.random().toString(36).slice(2, 8)}`, offset: 0, history: [] }));
    return ch;
  }

  /** Starts a new epoch (the server "lost" its history). */
  newEpoch(name: string): void {
    const ch = this.channel(name);
    ch.epoch = `ep${Math.random().toString(36).slice(2, 8)}`;
    ch.offset = 0;
    ch.history = [];
  }

  private subs = new Map<ClientConn, Set<string>>();
  subscribers(channel: string): ClientConn[] {
    return [...this.subs].filter(([c, s]) => c.open && s.has(channel)).map(([c]) => c);
  }

  /** The default answer to a subscribe: SUB-2, SUB-8, SUB-9 semantics over the channel's history. */
  answerSubscribe(c: ClientConn, m: Extract<ClientMessage, { type: 'subscribe' }>): void {
    const ch = this.channel(m.channel);
    const position = { epoch: ch.epoch, offset: ch.offset };
    this.subs.set(c, (this.subs.get(c) ?? new Set()).add(m.channel));
    if (!m.since) return c.send({ type: 'subscribed', channel: m.channel, position });
    const s = m.since;
    const first = ch.history[0]?.offset ?? ch.offset + 1;
    if (s.epoch !== ch.epoch || s.offset > ch.offset || s.offset + 1 < first) {
      return c.send({ type: 'subscribed', channel: m.channel, position, resume: 'unavailable' });
    }
    const missed = ch.history.filter((h) => h.offset > s.offset);
    c.send({ type: 'subscribed', channel: m.channel, position, resume: 'replayed', replayed: missed.length });
    for (const h of missed) c.send({ type: 'push', channel: m.channel, data: h.data, position: { epoch: ch.epoch, offset: h.offset }, ts: h.ts, replay: true });
  }

  private onUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    const protocols = String(req.headers['sec-websocket-protocol'] ?? '').split(',').map((s) => s.trim()).filter(Boolean);
    const attempt: Attempt = { at: Date.now(), path: req.url ?? '', protocols };
    this.attempts.push(attempt);
    this.log('server', 'event', `upgrade #${this.attempts.length} offering [${protocols.join(', ')}]`);
    // VER-1: every handshake offers mooring.v1.
    if (!protocols.includes(SUBPROTOCOL)) this.observe('VER-1', `handshake #${this.attempts.length} offered [${protocols.join(', ')}], not ${SUBPROTOCOL}`);
    const status = this.behaviour.refuse?.(attempt);
    for (const w of this.attemptWaiters.splice(0)) w(attempt);
    if (status !== undefined) {
      attempt.refused = status;
      socket.end(`HTTP/1.1 ${status} Refused\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
      return;
    }
    this.wss.handleUpgrade(req, socket, head, (ws) => this.onConnection(ws, attempt));
  }

  private onConnection(ws: WebSocket, attempt: Attempt): void {
    const c = new ClientConn(this.conns.length + 1, ws, Date.now(), this);
    attempt.conn = c;
    c.path = attempt.path;
    this.conns.push(c);
    const label = `c${c.n}`;
    this.log(label, 'event', 'open');
    ws.on('message', (data, isBinary) => {
      const at = Date.now();
      if (isBinary) {
        this.log(label, 'in', `<binary ${(data as Buffer).length} bytes>`);
        this.observe('VER-5', `connection ${c.n}: the client sent a binary frame`);
        c.onFrame({ at, binary: true });
        return;
      }
      const text = data.toString();
      this.log(label, 'in', text);
      let value: unknown;
      try {
        value = JSON.parse(text);
      } catch {
        this.observe('VER-5', `connection ${c.n}: the client sent a text frame that is not JSON: ${text.slice(0, 60)}`);
        c.onFrame({ at, text });
        return;
      }
      const v = validateClientMessage(value);
      if (!v.ok) {
        this.observe('VER-5', `connection ${c.n}: the client sent a message that fails the schema (${v.error}): ${text.slice(0, 80)}`);
        c.onFrame({ at, text });
        return;
      }
      const msg = v.message;
      const before = c.messages();
      // AUTH-1: the first message on a connection is auth. RECON-6: nothing else before authenticated.
      if (before.length === 0 && msg.type !== 'auth') this.observe('AUTH-1', `connection ${c.n}: the first message was ${msg.type}, not auth`);
      else if (c.authenticatedAt === undefined && msg.type !== 'auth') this.observe('RECON-6', `connection ${c.n}: the client sent ${msg.type} before authenticated`);
      c.onFrame({ at, text, msg });
      this.dispatch(c, msg);
    });
    ws.on('close', (code, reason) => {
      if (!c.serverClosed) {
        c.clientClose = { code, reason: reason.toString(), at: Date.now() };
        this.log(label, 'event', `client closed ${code} ${reason.toString()}`);
        // ERR-6: the reason of a close the client started.
        if (code !== 1006 && code !== 1005) {
          const p = closeReasonProblem(code, reason);
          if (p) this.observe('ERR-6', `connection ${c.n}: the client's ${p}`);
        }
      } else this.log(label, 'event', 'closed');
      c.onClosed();
    });
    ws.on('error', () => {});
    this.behaviour.connected?.(c);
    for (const w of this.connWaiters.splice(0)) w(c);
  }

  private dispatch(c: ClientConn, msg: ClientMessage): void {
    const b = this.behaviour;
    switch (msg.type) {
      case 'auth': {
        const reauth = c.authenticatedAt !== undefined;
        this.auths.push({ conn: c.n, token: msg.token, at: Date.now(), reauth });
        if (b.auth) b.auth(c, msg.token, reauth);
        else c.authenticate();
        return;
      }
      case 'request':
        if (b.request) b.request(c, msg);
        else c.send({ type: 'response', requestId: msg.id, success: true, ...(msg.payload !== undefined ? { data: msg.payload } : {}) });
        return;
      case 'subscribe':
        if (b.subscribe) b.subscribe(c, msg);
        else this.answerSubscribe(c, msg);
        return;
      case 'unsubscribe':
        this.subs.get(c)?.delete(msg.channel);
        c.send({ type: 'unsubscribed', channel: msg.channel });
        return;
      case 'ping':
        if (b.pong !== false) c.send({ type: 'pong', ts: Date.now() });
        return;
    }
  }
}
