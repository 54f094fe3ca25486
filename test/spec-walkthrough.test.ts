/**
 * Spec walkthrough: a raw Mooring client written from `spec/mooring-v1.md` alone, with the plain `ws`
 * package, against the reference server. It proves the acceptance criterion "someone who reads only
 * spec/ can write a client that authenticates, calls echo, subscribes, triggers publish, receives the
 * push with its position, resumes after a reconnect without loss, and pings — and every listed bad
 * input gets the specified error or close code while the server keeps serving everyone else".
 *
 * Nothing here imports project client code or schemas; message shapes are checked against the tables
 * of the spec's "Message catalogue".
 */
import WebSocket from 'ws';
import { afterEach, describe, expect, it } from 'vitest';
import { startServer } from '../reference/server/index.js';

// ---------------------------------------------------------------------------------------------------
// Spec constants (from spec/mooring-v1.md)
// ---------------------------------------------------------------------------------------------------

const SUBPROTOCOL = 'mooring.v1'; // VER-1
const CHANNEL_RE = /^[A-Za-z0-9_][A-Za-z0-9_.:/-]{0,127}$/; // SUB-1
const CLOSE_NAMES: Record<number, string> = {
  1000: 'normal_closure', 1001: 'going_away', 1008: 'policy_violation', 1009: 'message_too_big',
  1011: 'internal_error', 1012: 'service_restart', 1013: 'try_again_later', 4001: 'heartbeat_timeout',
  4002: 'session_replaced', 4400: 'not_authenticated', 4401: 'unauthorized', 4408: 'auth_timeout',
  4419: 'token_expired', 4429: 'rate_limited', 4509: 'slow_consumer',
};
const WIRE_ERROR_CODES = new Set([
  'invalid_json', 'invalid_message', 'binary_not_supported', 'duplicate_request_id', 'forbidden',
  'subscription_limit', 'user_mismatch', 'unknown_action', 'invalid_payload', 'internal_error',
]);

const BASE_OPTIONS = {
  port: 0,
  tokensFile: ':memory:',
  logger: false,
  heartbeatIntervalMs: 300,
  heartbeatTimeoutMs: 300,
  authTimeoutMs: 500,
} as const;

type Msg = Record<string, any>;
type Server = Awaited<ReturnType<typeof startServer>>;
type Closed = { code: number; reason: string };

// ---------------------------------------------------------------------------------------------------
// Shape checks (Message catalogue)
// ---------------------------------------------------------------------------------------------------

const isInt = (v: unknown): v is number => Number.isInteger(v);
const recentTs = (v: unknown) => {
  expect(isInt(v), `timestamp ${String(v)} is an integer`).toBe(true);
  expect(Math.abs((v as number) - Date.now())).toBeLessThan(60_000);
};

function expectPosition(p: any): void {
  expect(typeof p?.epoch).toBe('string');
  expect(p.epoch.length).toBeGreaterThanOrEqual(1);
  expect(p.epoch.length).toBeLessThanOrEqual(64);
  expect(isInt(p.offset) && p.offset >= 0, `offset ${p?.offset} is an integer >= 0`).toBe(true);
}

function expectAuthenticated(m: Msg, userId: string): void {
  expect(m.type).toBe('authenticated');
  expect(m.userId).toBe(userId);
  expect(typeof m.sessionId).toBe('string');
  expect(m.sessionId.length).toBeLessThanOrEqual(128);
  expect(m.protocol).toBe(SUBPROTOCOL);
  const p = m.params;
  for (const k of ['heartbeatIntervalMs', 'heartbeatTimeoutMs', 'authTimeoutMs', 'requestTimeoutMs',
    'maxPayloadBytes', 'maxSubscriptions', 'maxBufferedBytes', 'historySize']) {
    expect(isInt(p[k]) && p[k] > 0, `params.${k} = ${p[k]}`).toBe(true);
  }
  expect(isInt(p.rateLimit?.messages) && isInt(p.rateLimit?.windowMs)).toBe(true);
  expect(['single', 'multiple']).toContain(p.sessionPolicy);
  expect(p.tokenExpiresAt === null || isInt(p.tokenExpiresAt)).toBe(true);
  expect('tokenExpiresAt' in p, 'params.tokenExpiresAt is required (may be null)').toBe(true);
  if (m.server !== undefined) {
    expect(typeof m.server.name).toBe('string');
    expect(m.server.name.length).toBeLessThanOrEqual(128);
    expect(typeof m.server.version).toBe('string');
    expect(m.server.version.length).toBeLessThanOrEqual(64);
  }
}

function expectPush(m: Msg, channel: string): void {
  expect(m.type).toBe('push');
  expect(m.channel).toBe(channel);
  expect('data' in m).toBe(true);
  expectPosition(m.position);
  recentTs(m.ts);
  if ('replay' in m) expect(typeof m.replay).toBe('boolean');
}

function expectError(m: Msg, code: string): void {
  expect(m.type).toBe('error');
  expect(m.code).toBe(code);
  expect(typeof m.message).toBe('string');
  expect(m.message.length).toBeLessThanOrEqual(1024);
}

/** ERR-6: empty, or the registry name optionally followed by ;retry=<ms>, at most 123 bytes. */
function expectCloseReason(c: Closed): void {
  expect(Buffer.byteLength(c.reason)).toBeLessThanOrEqual(123);
  const name = CLOSE_NAMES[c.code];
  if (c.reason !== '') {
    expect(name, `close code ${c.code} is in the registry`).toBeDefined();
    expect(c.reason).toMatch(new RegExp(`^${name}(;retry=\\d{1,9})?$`));
  }
}

function retryHint(reason: string): number | undefined {
  const m = /;retry=(\d{1,9})$/.exec(reason);
  return m ? Number(m[1]) : undefined;
}

// ---------------------------------------------------------------------------------------------------
// The raw client: one socket, an inbox, and waits on events (never fixed sleeps)
// ---------------------------------------------------------------------------------------------------

const openPeers: Peer[] = [];
let ids = 0;

class Peer {
  /** Every message ever received, in order (for sequence checks). */
  readonly log: Msg[] = [];
  /** Received frames that break VER-5 (binary, not JSON, no string type). */
  readonly violations: string[] = [];
  private readonly inbox: Msg[] = [];
  private waiters: Array<{ pred: (m: Msg) => boolean; resolve: (m: Msg) => void }> = [];
  private closeInfo: Closed | undefined;
  readonly closed: Promise<Closed>;

  private constructor(readonly ws: WebSocket) {
    this.closed = new Promise((resolve) => {
      ws.on('close', (code, reason) => {
        this.closeInfo = { code, reason: reason.toString() };
        resolve(this.closeInfo);
      });
    });
    ws.on('error', () => {}); // surfaced through 'close'
    ws.on('message', (data, isBinary) => {
      if (isBinary) return void this.violations.push('binary frame');
      let m: unknown;
      try {
        m = JSON.parse(data.toString());
      } catch {
        return void this.violations.push(`not JSON: ${data.toString().slice(0, 80)}`);
      }
      if (typeof m !== 'object' || m === null || Array.isArray(m) || typeof (m as Msg).type !== 'string') {
        return void this.violations.push(`not a typed object: ${data.toString().slice(0, 80)}`);
      }
      const msg = m as Msg;
      this.log.push(msg);
      const w = this.waiters.find((x) => x.pred(msg));
      if (w) {
        this.waiters = this.waiters.filter((x) => x !== w);
        w.resolve(msg);
      } else {
        this.inbox.push(msg);
      }
    });
  }

  /** Opens a WebSocket (offering mooring.v1 unless told otherwise); rejects with the HTTP status if refused. */
  static open(url: string, opts: { protocols?: string[]; origin?: string } = {}): Promise<Peer> {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(url, opts.protocols ?? [SUBPROTOCOL], opts.origin ? { origin: opts.origin } : {});
      const peer = new Peer(ws);
      openPeers.push(peer);
      ws.once('open', () => resolve(peer));
      ws.once('unexpected-response', (req, res) => {
        reject(Object.assign(new Error(`HTTP ${res.statusCode}`), { status: res.statusCode }));
        res.resume();
        req.destroy();
      });
      ws.once('error', (err) => reject(err));
    });
  }

  /** Resolves with the HTTP status of a refused handshake; fails if the upgrade succeeds. */
  static async refusedStatus(url: string, opts: { protocols?: string[]; origin?: string } = {}): Promise<number> {
    try {
      const p = await Peer.open(url, opts);
      p.ws.close();
      throw new Error(`handshake was accepted (protocol ${JSON.stringify(p.ws.protocol)})`);
    } catch (e: any) {
      if (typeof e.status === 'number') return e.status;
      throw e;
    }
  }

  send(m: Msg | string | Buffer): void {
    if (Buffer.isBuffer(m)) this.ws.send(m, { binary: true });
    else this.ws.send(typeof m === 'string' ? m : JSON.stringify(m));
  }

  /** The next (oldest unconsumed) message matching `want` (a type or a predicate). */
  next(want: string | ((m: Msg) => boolean), timeoutMs = 3000): Promise<Msg> {
    const pred = typeof want === 'string' ? (m: Msg) => m.type === want : want;
    const i = this.inbox.findIndex(pred);
    if (i >= 0) return Promise.resolve(this.inbox.splice(i, 1)[0]!);
    return new Promise((resolve, reject) => {
      const waiter = { pred, resolve: (m: Msg) => { clearTimeout(timer); resolve(m); } };
      const fail = (why: string) => {
        this.waiters = this.waiters.filter((x) => x !== waiter);
        reject(new Error(`waiting for ${typeof want === 'string' ? want : 'a message'}: ${why}; ` +
          `unconsumed: ${JSON.stringify(this.inbox).slice(0, 400)}`));
      };
      const timer = setTimeout(() => fail(`no match within ${timeoutMs} ms`), timeoutMs);
      this.closed.then((c) => { clearTimeout(timer); if (this.waiters.includes(waiter)) fail(`closed ${c.code} ${c.reason}`); });
      this.waiters.push(waiter);
    });
  }

  /** Waits for the server to close this connection. */
  async expectClose(timeoutMs = 3000): Promise<Closed> {
    let timer: NodeJS.Timeout | undefined;
    const c = await Promise.race([
      this.closed,
      new Promise<never>((_, reject) => { timer = setTimeout(() => reject(new Error(`not closed within ${timeoutMs} ms`)), timeoutMs); }),
    ]).finally(() => clearTimeout(timer));
    expectCloseReason(c);
    return c;
  }

  async auth(token: string, userId: string): Promise<Msg> {
    this.send({ type: 'auth', token });
    const m = await this.next((x) => x.type === 'authenticated' || x.type === 'error');
    expectAuthenticated(m, userId);
    return m;
  }

  async request(action: string, payload?: unknown, id = `r${++ids}`): Promise<Msg> {
    this.send(payload === undefined ? { type: 'request', id, action } : { type: 'request', id, action, payload });
    const r = await this.next((m) => m.type === 'response' && m.requestId === id);
    expect(typeof r.success).toBe('boolean');
    if (!r.success) {
      expect(WIRE_ERROR_CODES.has(r.error?.code), `error code ${r.error?.code}`).toBe(true);
      expect(typeof r.error.message).toBe('string');
    }
    return r;
  }

  async subscribe(channel: string, since?: { epoch: string; offset: number }): Promise<Msg> {
    this.send(since ? { type: 'subscribe', channel, since } : { type: 'subscribe', channel });
    const m = await this.next((x) => (x.type === 'subscribed' && x.channel === channel) || x.type === 'error');
    expect(m.type, JSON.stringify(m)).toBe('subscribed');
    expectPosition(m.position);
    return m;
  }

  async echoWorks(): Promise<void> {
    const payload = { still: 'alive', n: ++ids };
    const r = await this.request('echo', payload);
    expect(r).toMatchObject({ type: 'response', success: true, data: payload });
  }
}

afterEach(() => {
  for (const p of openPeers.splice(0)) {
    expect(p.violations, 'every server frame is a JSON text frame with a string type (VER-5)').toEqual([]);
    p.ws.terminate();
  }
});

async function withServer<T>(extra: Record<string, unknown>, fn: (s: Server) => Promise<T>): Promise<T> {
  const server = await startServer({ ...BASE_OPTIONS, ...extra } as Parameters<typeof startServer>[0]);
  try {
    return await fn(server);
  } finally {
    for (const p of openPeers) p.ws.terminate();
    await server.shutdown();
  }
}

async function connectAs(server: Server, userId: string, token?: string): Promise<Peer> {
  const peer = await Peer.open(server.url);
  await peer.auth(token ?? (await server.createToken(userId)), userId);
  return peer;
}

// ---------------------------------------------------------------------------------------------------
// 1. Happy path, in the order of the criterion
// ---------------------------------------------------------------------------------------------------

describe('spec walkthrough: happy path', () => {
  it('VER-1, VER-2, AUTH-5, CONF-1, SUB-2, CONF-2, SUB-5, SUB-11, SUB-8, SUB-6, HB-2, HB-1: connect, auth, echo, subscribe, publish, resume after reconnect, ping', async () => {
    await withServer({}, async (server) => {
      const token = await server.createToken('alice');

      // Connect offering the subprotocol; the server selects it (VER-1, VER-2).
      const a = await Peer.open(server.url);
      expect(a.ws.protocol).toBe(SUBPROTOCOL);
      const serverPing = new Promise<void>((r) => a.ws.once('ping', () => r()));

      // Authenticate; read the advertised params (AUTH-5, Session parameters).
      const auth1 = await a.auth(token, 'alice');
      expect(auth1.params).toMatchObject({ heartbeatIntervalMs: 300, heartbeatTimeoutMs: 300, authTimeoutMs: 500 });
      const params = auth1.params;

      // echo (CONF-1): payload back as data; absent payload -> absent data.
      const e1 = await a.request('echo', { hello: 'world' }, 'r1');
      expect(e1).toMatchObject({ type: 'response', requestId: 'r1', success: true, data: { hello: 'world' } });
      const e2 = await a.request('echo', undefined, 'r2');
      expect(e2.success).toBe(true);
      expect('data' in e2).toBe(false);

      // Unknown action is a failed response, connection stays (example flow 1).
      const bad = await a.request('nope', undefined, 'r3');
      expect(bad).toMatchObject({ success: false, error: { code: 'unknown_action' } });

      // Subscribe (SUB-2): fresh subscription, no resume field, position offset 0 on a new channel.
      const sub = await a.subscribe('news');
      expect(sub.position.offset).toBe(0);
      expect('resume' in sub).toBe(false);
      const epoch = sub.position.epoch;

      // publish (CONF-2) -> push with position and ts (SUB-5); the response carries the same position.
      a.send({ type: 'request', id: 'p1', action: 'publish', payload: { channel: 'news', data: { headline: 'hi' } } });
      const push1 = await a.next('push');
      expectPush(push1, 'news');
      expect(push1.data).toEqual({ headline: 'hi' });
      expect(push1.position).toEqual({ epoch, offset: 1 });
      expect(push1.replay === true).toBe(false);
      const pubRes = await a.next((m) => m.type === 'response' && m.requestId === 'p1');
      expect(pubRes).toMatchObject({ success: true, data: { position: { epoch, offset: 1 } } });
      // SUB-11: nothing of 'news' came before the subscribed.
      const newsLog = a.log.filter((m) => m.channel === 'news');
      expect(newsLog[0]!.type).toBe('subscribed');
      let lastSeen = push1.position;

      // The server sends WebSocket ping frames every heartbeatIntervalMs (HB-1).
      await serverPing;

      // Disconnect; three pushes are published while away.
      a.ws.close(1000);
      expect((await a.closed).code).toBe(1000);
      for (const n of [2, 3, 4]) await server.publish('news', { n });

      // Reconnect, re-auth (a new session), re-subscribe with the last position seen.
      const b = await Peer.open(server.url);
      expect(b.ws.protocol).toBe(SUBPROTOCOL);
      const auth2 = await b.auth(token, 'alice');
      expect(auth2.sessionId).not.toBe(auth1.sessionId);
      const resumed = await b.subscribe('news', lastSeen);
      expect(resumed).toMatchObject({ resume: 'replayed', replayed: 3, position: { epoch, offset: 4 } });

      // Exactly the missed pushes, flagged as replays, in order (SUB-8, SUB-6) ...
      for (const n of [2, 3, 4]) {
        const p = await b.next('push');
        expectPush(p, 'news');
        expect(p).toMatchObject({ data: { n }, position: { epoch, offset: n }, replay: true });
        lastSeen = p.position;
      }
      // ... then live ones, not flagged.
      const live = await b.request('publish', { channel: 'news', data: { n: 5 } });
      expect(live).toMatchObject({ success: true, data: { position: { epoch, offset: 5 } } });
      const p5 = await b.next('push');
      expectPush(p5, 'news');
      expect(p5).toMatchObject({ data: { n: 5 }, position: { epoch, offset: 5 } });
      expect(p5.replay === true).toBe(false);
      // The whole 'news' stream on the new connection: subscribed, 2, 3, 4 (replays), 5 (live). No gap, no duplicate.
      expect(b.log.filter((m) => m.channel === 'news').map((m) => (m.type === 'push' ? m.position.offset : m.type)))
        .toEqual(['subscribed', 2, 3, 4, 5]);

      // ping -> pong (HB-2).
      b.send({ type: 'ping' });
      const pong = await b.next('pong');
      if ('ts' in pong) recentTs(pong.ts);
      // We stayed well within the advertised budget (RATE-2): about a dozen frames per user.
      expect(params.rateLimit.messages).toBeGreaterThan(12);
    });
  });

  it('VER-4: a handshake offering no subprotocol is accepted and speaks v1', async () => {
    await withServer({}, async (server) => {
      const p = await Peer.open(server.url, { protocols: [] });
      expect(p.ws.protocol).toBe('');
      await p.auth(await server.createToken('dave'), 'dave');
      await p.echoWorks();
    });
  });

  it('SHUT-2, SHUT-3, SUB-8: a graceful restart closes with 1012 and a retry hint; the client resumes with replay on the restarted server', async () => {
    const first = await startServer({ ...BASE_OPTIONS, shutdownSpreadMs: 200 });
    const port = Number(new URL(first.url).port);
    const broker = first.broker;
    const token = await first.createToken('alice');
    const a = await connectAs(first, 'alice', token);
    const sub = await a.subscribe('news');
    const r = await a.request('publish', { channel: 'news', data: { n: 1 } });
    const p1 = await a.next('push');
    expect(r.data.position).toEqual(p1.position);
    expect(sub.position.offset).toBe(0);

    const [closed] = await Promise.all([a.expectClose(), first.shutdown()]);
    expect(closed.code).toBe(1012);
    expect(closed.reason).toMatch(/^service_restart;retry=\d{1,9}$/);
    const hint = retryHint(closed.reason)!;
    expect(hint).toBeLessThanOrEqual(200);

    const second = await startServer({ ...BASE_OPTIONS, port, broker, tokensFile: ':memory:' });
    try {
      await second.publish('news', { n: 2 }); // published while the client waited for its hint
      // RECON-4: the client waits at least the hint (≤ 200 ms here) before reconnecting.
      await new Promise((res) => setTimeout(res, hint));
      const b = await Peer.open(second.url);
      await b.auth(await second.createToken('alice'), 'alice');
      const resumed = await b.subscribe('news', p1.position);
      expect(resumed).toMatchObject({ resume: 'replayed', replayed: 1, position: { epoch: p1.position.epoch, offset: 2 } });
      expect(await b.next('push')).toMatchObject({ data: { n: 2 }, replay: true, position: { offset: 2 } });
    } finally {
      for (const p of openPeers) p.ws.terminate();
      await second.shutdown();
    }
  });
});

// ---------------------------------------------------------------------------------------------------
// 2. Every listed bad input, with the bystander check
// ---------------------------------------------------------------------------------------------------

type Outcome =
  | { kind: 'error'; code: string; requestId?: string; channel?: string }
  | { kind: 'response'; code: string }
  | { kind: 'close'; code: number }
  | { kind: 'http'; status: number };

interface Ctx {
  server: Server;
  /** An authenticated connection of the misbehaving user `mallory`. */
  authed(): Promise<Peer>;
}

interface Row {
  title: string;
  options?: Record<string, unknown>;
  expected: Outcome;
  /** Sends the bad input and reports what the server did. */
  provoke(ctx: Ctx): Promise<{ outcome: Outcome; peer?: Peer }>;
  /** Extra checks on the misbehaving connection afterwards (for non-fatal errors). */
  after?(peer: Peer, ctx: Ctx): Promise<void>;
}

async function errorAfter(peer: Peer, frame: Msg | string | Buffer): Promise<{ outcome: Outcome; peer: Peer }> {
  peer.send(frame);
  const m = await peer.next('error');
  expectError(m, m.code);
  const outcome: Outcome = { kind: 'error', code: m.code };
  if ('requestId' in m) outcome.requestId = m.requestId;
  if ('channel' in m) outcome.channel = m.channel;
  return { outcome, peer };
}

async function closeAfter(peer: Peer, frame?: Msg | string | Buffer): Promise<{ outcome: Outcome; peer: Peer }> {
  if (frame !== undefined) peer.send(frame);
  const c = await peer.expectClose();
  return { outcome: { kind: 'close', code: c.code }, peer };
}

async function httpStatus(url: string, opts: { protocols?: string[]; origin?: string } = {}): Promise<{ outcome: Outcome }> {
  return { outcome: { kind: 'http', status: await Peer.refusedStatus(url, opts) } };
}

const rows: Row[] = [
  {
    title: 'ERR-1: a text frame that is not JSON gets error invalid_json, connection stays open',
    expected: { kind: 'error', code: 'invalid_json' },
    provoke: async (c) => errorAfter(await c.authed(), '{"type": "request", '),
  },
  {
    title: 'ERR-1, AUTH-3: invalid JSON before auth gets error invalid_json (not a close); auth still works',
    expected: { kind: 'error', code: 'invalid_json' },
    provoke: async (c) => errorAfter(await Peer.open(c.server.url), 'not json at all'),
    after: async (p, c) => { await p.auth(await c.server.createToken('mallory'), 'mallory'); },
  },
  {
    title: 'ERR-2: a message that fails the schema (request without action) gets error invalid_message',
    expected: { kind: 'error', code: 'invalid_message' },
    provoke: async (c) => errorAfter(await c.authed(), { type: 'request', id: 'x1' }),
  },
  {
    title: 'ERR-2, VER-5: a JSON value that is not an object gets error invalid_message',
    expected: { kind: 'error', code: 'invalid_message' },
    provoke: async (c) => errorAfter(await c.authed(), '[1,2,3]'),
  },
  {
    title: 'ERR-2: a message of an unknown type gets error invalid_message',
    expected: { kind: 'error', code: 'invalid_message' },
    provoke: async (c) => errorAfter(await c.authed(), { type: 'frobnicate' }),
  },
  {
    title: 'VER-6: a binary frame gets error binary_not_supported, connection stays open',
    expected: { kind: 'error', code: 'binary_not_supported' },
    provoke: async (c) => errorAfter(await c.authed(), Buffer.from([0x7b, 0x7d])),
  },
  {
    title: 'VER-6, AUTH-3: a binary frame before auth gets error binary_not_supported; auth still works',
    expected: { kind: 'error', code: 'binary_not_supported' },
    provoke: async (c) => errorAfter(await Peer.open(c.server.url), Buffer.from([1, 2, 3])),
    after: async (p, c) => { await p.auth(await c.server.createToken('mallory'), 'mallory'); },
  },
  {
    title: 'SUB-1: a subscribe to a bad channel name gets error invalid_message',
    expected: { kind: 'error', code: 'invalid_message' },
    provoke: async (c) => {
      expect(CHANNEL_RE.test('.hidden')).toBe(false);
      return errorAfter(await c.authed(), { type: 'subscribe', channel: '.hidden' });
    },
  },
  {
    title: 'REQ-2: a request for an unknown action gets a failed response unknown_action',
    expected: { kind: 'response', code: 'unknown_action' },
    provoke: async (c) => {
      const peer = await c.authed();
      const r = await peer.request('no_such_action', { a: 1 });
      expect(r.success).toBe(false);
      return { outcome: { kind: 'response', code: r.error.code }, peer };
    },
  },
  {
    title: 'REQ-4: a request reusing a pending id gets error duplicate_request_id, is not executed, and the pending one is answered',
    expected: { kind: 'error', code: 'duplicate_request_id', requestId: 'dup' },
    provoke: async (c) => {
      const peer = await c.authed();
      await peer.subscribe('dupcheck');
      peer.send({ type: 'request', id: 'dup', action: 'sleep', payload: { ms: 300 } });
      // If this duplicate were executed, it would push offset 1 on 'dupcheck'.
      return errorAfter(peer, { type: 'request', id: 'dup', action: 'publish', payload: { channel: 'dupcheck', data: 'dup' } });
    },
    after: async (peer) => {
      const pending = await peer.next((m) => m.type === 'response' && m.requestId === 'dup');
      expect(pending).toMatchObject({ success: true, data: { slept: 300 } });
      const r = await peer.request('publish', { channel: 'dupcheck', data: 'real' });
      expect(r.data.position.offset).toBe(1); // the duplicate never published
      expect(await peer.next('push')).toMatchObject({ channel: 'dupcheck', data: 'real', position: { offset: 1 } });
      expect(peer.log.filter((m) => m.type === 'response' && m.requestId === 'dup')).toHaveLength(1);
    },
  },
  {
    title: 'AUTH-3: a message other than auth before authentication closes with 4400',
    expected: { kind: 'close', code: 4400 },
    provoke: async (c) => closeAfter(await Peer.open(c.server.url), { type: 'ping' }),
  },
  {
    title: 'AUTH-4: an unknown token closes with 4401',
    expected: { kind: 'close', code: 4401 },
    provoke: async (c) => closeAfter(await Peer.open(c.server.url), { type: 'auth', token: 'definitely-not-a-token' }),
  },
  {
    title: 'AUTH-2: no auth within authTimeoutMs closes with 4408',
    expected: { kind: 'close', code: 4408 },
    provoke: async (c) => closeAfter(await Peer.open(c.server.url)),
  },
  {
    title: 'LIMIT-1: a message larger than maxPayloadBytes closes with 1009',
    options: { maxPayloadBytes: 1024 },
    expected: { kind: 'close', code: 1009 },
    provoke: async (c) => {
      const peer = await c.authed();
      const auth = peer.log.find((m) => m.type === 'authenticated')!;
      expect(auth.params.maxPayloadBytes).toBe(1024);
      return closeAfter(peer, { type: 'request', id: 'big', action: 'echo', payload: 'x'.repeat(2048) });
    },
  },
  {
    title: 'RATE-1, RATE-2: more than rateLimit.messages frames in the window closes every connection of the user with 4429 and a retry hint',
    options: { rateLimit: { messages: 10, windowMs: 10_000 }, sessionPolicy: 'multiple' },
    expected: { kind: 'close', code: 4429 },
    provoke: async (c) => {
      const peer = await c.authed();
      const sibling = await c.authed(); // same user, second connection (multiple policy)
      expect(peer.log[0]!.params).toMatchObject({ rateLimit: { messages: 10, windowMs: 10_000 }, sessionPolicy: 'multiple' });
      // RATE-2: exactly the budget (auth does not count) is served ...
      for (let i = 0; i < 10; i++) peer.send({ type: 'ping' });
      for (let i = 0; i < 10; i++) await peer.next('pong');
      // ... and one frame more closes every connection of the user.
      peer.send({ type: 'ping' });
      const [a, b] = await Promise.all([peer.expectClose(), sibling.expectClose()]);
      for (const x of [a, b]) {
        expect(x.code).toBe(4429);
        expect(x.reason).toMatch(/^rate_limited;retry=\d{1,9}$/);
      }
      return { outcome: { kind: 'close', code: a.code }, peer };
    },
  },
  {
    title: 'LIMIT-4: a subscribe beyond maxSubscriptions gets error subscription_limit naming the channel; existing subscriptions keep working',
    options: { maxSubscriptions: 2 },
    expected: { kind: 'error', code: 'subscription_limit', channel: 'c3' },
    provoke: async (c) => {
      const peer = await c.authed();
      await peer.subscribe('c1');
      await peer.subscribe('c2');
      await peer.subscribe('c2'); // SUB-3: a repeat does not count against the limit
      return errorAfter(peer, { type: 'subscribe', channel: 'c3' });
    },
    after: async (peer) => {
      await peer.request('publish', { channel: 'c1', data: 'still subscribed' });
      expect(await peer.next('push')).toMatchObject({ channel: 'c1', data: 'still subscribed' });
    },
  },
  {
    title: 'SUB-4: a subscribe to another user\'s channel user:<other> gets error forbidden naming the channel; the own one is allowed',
    expected: { kind: 'error', code: 'forbidden', channel: 'user:bob' },
    provoke: async (c) => errorAfter(await c.authed(), { type: 'subscribe', channel: 'user:bob' }),
    after: async (peer) => { await peer.subscribe('user:mallory'); },
  },
  {
    title: 'AUTH-7: a token in the URL query is refused with HTTP 400 at the handshake',
    expected: { kind: 'http', status: 400 },
    provoke: async (c) => httpStatus(`${c.server.url}?token=${encodeURIComponent(await c.server.createToken('mallory'))}`),
  },
  {
    title: 'SEC-1: a foreign Origin is refused with HTTP 403 at the handshake (own origin and no Origin are accepted)',
    expected: { kind: 'http', status: 403 },
    provoke: async (c) => {
      const own = new URL(c.server.url);
      const ok = await Peer.open(c.server.url, { origin: `http://${own.host}` });
      ok.ws.close();
      return httpStatus(c.server.url, { origin: 'https://evil.example' });
    },
  },
  {
    title: 'VER-3: a handshake offering only an unknown subprotocol is refused with HTTP 400',
    expected: { kind: 'http', status: 400 },
    provoke: async (c) => httpStatus(c.server.url, { protocols: ['mooring.v9'] }),
  },
];

describe('spec walkthrough: every listed bad input, with a bystander that keeps working (ERR-4)', () => {
  it.each(rows.map((r) => [r.title, r] as const))('%s', async (_title, row) => {
    await withServer(row.options ?? {}, async (server) => {
      // The bystander: another user, authenticated and subscribed before the bad input.
      const bob = await connectAs(server, 'bob');
      await bob.subscribe('watch');

      const ctx: Ctx = {
        server,
        authed: async () => connectAs(server, 'mallory'),
      };
      const { outcome, peer } = await row.provoke(ctx);
      expect(outcome).toEqual(row.expected);

      if (outcome.kind === 'error' || outcome.kind === 'response') {
        // Errors are local: the misbehaving connection stays open and usable.
        await row.after?.(peer!, ctx);
        if (peer!.log.some((m) => m.type === 'authenticated')) await peer!.echoWorks();
        else await peer!.auth(await server.createToken('mallory'), 'mallory');
      }

      // ERR-4: the bystander is undisturbed (echo + a push), and a new user is served.
      await bob.echoWorks();
      const carol = await connectAs(server, 'carol');
      const pub = await carol.request('publish', { channel: 'watch', data: { from: 'carol' } });
      expect(pub.success).toBe(true);
      const push = await bob.next('push');
      expectPush(push, 'watch');
      expect(push).toMatchObject({ data: { from: 'carol' }, position: pub.data.position });
      expect(bob.ws.readyState).toBe(WebSocket.OPEN);
    });
  });
});

// ---------------------------------------------------------------------------------------------------
// 3. Repeated subscribes in flight (found by this walkthrough, fixed in the core's subscriptions).
// ---------------------------------------------------------------------------------------------------

describe('spec walkthrough: repeated subscribes in flight', () => {
  it('SUB-3, SUB-9: a subscribe with since, sent while a subscribe to the same channel is still unanswered, is acknowledged with a resume field', async () => {
    await withServer({}, async (server) => {
      const a = await connectAs(server, 'alice');
      // Two subscribes with an unknown epoch, back to back: whichever of SUB-9 (starts the
      // subscription) or SUB-3 (repeat) applies, each answer must say resume: "unavailable".
      a.send({ type: 'subscribe', channel: 'twice', since: { epoch: 'unknown-epoch', offset: 0 } });
      a.send({ type: 'subscribe', channel: 'twice', since: { epoch: 'unknown-epoch', offset: 0 } });
      const first = await a.next('subscribed');
      const second = await a.next('subscribed');
      expect(first.resume).toBe('unavailable');
      expect(second.resume).toBe('unavailable');
    });
  });
});
