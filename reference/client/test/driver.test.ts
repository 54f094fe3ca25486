/**
 * The driver (`MooringClient`) over a fake WebSocket with fake timers: deterministic checks that it
 * wires the core to sockets, one timer, promises, handlers, visibility and the HTTP heartbeat.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { MooringClient } from '../client.js';
import { TEST_PARAMS } from '../../core/client/test/harness.js';
import { heartbeatUrlFor, resolveOptions, type WebSocketLike } from '../options.js';

class FakeSocket implements WebSocketLike {
  static all: FakeSocket[] = [];
  readyState = 0;
  protocol = '';
  sent: any[] = [];
  closedWith: [number | undefined, string | undefined] | undefined;
  onopen: ((ev: unknown) => void) | null = null;
  onmessage: ((ev: { data: unknown }) => void) | null = null;
  onclose: ((ev: { code: number; reason: string }) => void) | null = null;
  onerror: ((ev: unknown) => void) | null = null;
  constructor(readonly url: string, readonly protocols?: string | string[]) {
    FakeSocket.all.push(this);
  }
  send(data: string): void {
    this.sent.push(JSON.parse(data));
  }
  close(code?: number, reason?: string): void {
    this.closedWith = [code, reason];
    this.readyState = 3;
  }
  // server side
  accept(): void {
    this.readyState = 1;
    this.protocol = 'mooring.v1';
    this.onopen?.({});
  }
  receive(msg: unknown): void {
    this.onmessage?.({ data: JSON.stringify(msg) });
  }
  drop(code = 1006, reason = ''): void {
    this.readyState = 3;
    this.onclose?.({ code, reason });
  }
  authenticate(params = {}): void {
    this.receive({ type: 'authenticated', userId: 'alice', sessionId: 's', protocol: 'mooring.v1', params: { ...TEST_PARAMS, ...params } });
  }
}

const last = () => FakeSocket.all.at(-1)!;
const flush = () => vi.advanceTimersByTimeAsync(0);

function makeClient(extra: Partial<ConstructorParameters<typeof MooringClient>[0]> = {}) {
  const reasons: string[] = [];
  const client = new MooringClient({
    url: 'ws://example.test/ws',
    token: ({ reason }) => {
      reasons.push(reason);
      return `tok-${reasons.length}`;
    },
    WebSocket: FakeSocket,
    random: () => 0.5,
    ...extra,
  });
  return { client, reasons };
}

async function authenticated(client: MooringClient, params = {}) {
  client.connect();
  await flush();
  last().accept();
  last().authenticate(params);
}

beforeEach(() => {
  FakeSocket.all = [];
  vi.useFakeTimers();
});
afterEach(() => {
  vi.useRealTimers();
  vi.unstubAllGlobals();
});

describe('MooringClient driver', () => {
  it('VER-1, AUTH-1: opens the socket offering mooring.v1 and sends auth with the token function result first', async () => {
    const { client, reasons } = makeClient();
    client.connect();
    expect(FakeSocket.all).toHaveLength(0); // the token comes first
    await flush();
    expect(last().protocols).toEqual(['mooring.v1']);
    last().accept();
    expect(last().sent).toEqual([{ type: 'auth', token: 'tok-1' }]);
    expect(reasons).toEqual(['connect']);
    client.close();
  });

  it('HB-3: arms one timer at the core deadline and pings on it; close() leaves no timer behind', async () => {
    const { client } = makeClient();
    await authenticated(client, { heartbeatIntervalMs: 1_000, heartbeatTimeoutMs: 500 });
    expect(vi.getTimerCount()).toBe(1);
    await vi.advanceTimersByTimeAsync(1_000);
    expect(last().sent.at(-1)).toEqual({ type: 'ping' });
    last().receive({ type: 'pong' });
    expect(vi.getTimerCount()).toBe(1);
    client.close();
    expect(vi.getTimerCount()).toBe(0);
    expect(last().closedWith).toEqual([1000, 'normal_closure']);
  });

  it('HB-3: no answer to a ping: closes with 4001 and reconnects on a new socket', async () => {
    const { client, reasons } = makeClient();
    await authenticated(client, { heartbeatIntervalMs: 1_000, heartbeatTimeoutMs: 500 });
    const first = last();
    await vi.advanceTimersByTimeAsync(1_500);
    expect(first.closedWith).toEqual([4001, 'heartbeat_timeout']);
    expect(client.state).toBe('reconnecting');
    await vi.advanceTimersByTimeAsync(1_000); // backoff attempt 0 with random 0.5: 750 ms
    expect(FakeSocket.all).toHaveLength(2);
    expect(reasons).toEqual(['connect', 'reconnect']);
    client.close();
  });

  it('REQ-5, REQ-6: request promises resolve, time out with code timeout, and fail with disconnected on a drop', async () => {
    const { client } = makeClient();
    await authenticated(client, { heartbeatIntervalMs: 600_000 });
    const ok = client.request('echo', 1);
    const req = last().sent.at(-1);
    last().receive({ type: 'response', requestId: req.id, success: true, data: 1 });
    await expect(ok).resolves.toBe(1);

    const slow = client.request('sleep', { ms: 10 }, { timeout: 100 });
    const slowCheck = expect(slow).rejects.toMatchObject({ name: 'MooringError', code: 'timeout' });
    await vi.advanceTimersByTimeAsync(100);
    await slowCheck;

    const dropped = client.request('echo', 2);
    last().drop();
    await expect(dropped).rejects.toMatchObject({ code: 'disconnected' });
    client.close();
  });

  it('REQ-6: a request before connect() fails at once with closed', async () => {
    const { client } = makeClient();
    await expect(client.request('echo')).rejects.toMatchObject({ code: 'closed' });
  });

  it('SUB-10: handlers share one subscription; each unsubscribe function is idempotent; the last sends unsubscribe', async () => {
    const { client } = makeClient();
    await authenticated(client, { heartbeatIntervalMs: 600_000 });
    const a: unknown[] = [];
    const b: unknown[] = [];
    const offA = client.subscribe('news', (d) => a.push(d));
    const offB = client.subscribe('news', (d) => b.push(d));
    expect(last().sent.filter((m) => m.type === 'subscribe')).toHaveLength(1);
    last().receive({ type: 'push', channel: 'news', data: 1, position: { epoch: 'e', offset: 1 }, ts: 1 });
    offA();
    offA();
    expect(last().sent.filter((m) => m.type === 'unsubscribe')).toHaveLength(0);
    last().receive({ type: 'push', channel: 'news', data: 2, position: { epoch: 'e', offset: 2 }, ts: 1 });
    offB();
    expect(last().sent.filter((m) => m.type === 'unsubscribe')).toHaveLength(1);
    expect(a).toEqual([1]);
    expect(b).toEqual([1, 2]);
    client.close();
  });

  it('SUB-10: onGap is called with the gap when the server cannot replay', async () => {
    const { client } = makeClient();
    const gaps: unknown[] = [];
    client.subscribe('news', () => undefined, { onGap: (g) => gaps.push(g) });
    await authenticated(client, { heartbeatIntervalMs: 600_000 });
    last().receive({ type: 'subscribed', channel: 'news', position: { epoch: 'e', offset: 4 } });
    last().drop();
    await vi.advanceTimersByTimeAsync(1_000);
    last().accept();
    last().authenticate({ heartbeatIntervalMs: 600_000 });
    expect(last().sent.at(-1)).toEqual({ type: 'subscribe', channel: 'news', since: { epoch: 'e', offset: 4 } });
    last().receive({ type: 'subscribed', channel: 'news', position: { epoch: 'f', offset: 0 }, resume: 'unavailable' });
    expect(gaps).toEqual([{ channel: 'news', reason: 'unavailable', from: { epoch: 'e', offset: 4 }, to: { epoch: 'f', offset: 0 } }]);
    client.close();
  });

  it('AUTH-10: token_expiring calls the token function (reason expiring) and sends auth on the same socket', async () => {
    const { client, reasons } = makeClient();
    await authenticated(client, { heartbeatIntervalMs: 600_000 });
    last().receive({ type: 'token_expiring', expiresAt: Date.now() + 1_000 });
    await flush();
    expect(reasons).toEqual(['connect', 'expiring']);
    expect(last().sent.at(-1)).toEqual({ type: 'auth', token: 'tok-2' });
    expect(FakeSocket.all).toHaveLength(1);
    client.close();
  });

  it('RECON-1: a token function that throws is a failed attempt: token_error event, then backoff', async () => {
    const errors: string[] = [];
    const client = new MooringClient({
      url: 'ws://example.test/ws', WebSocket: FakeSocket, random: () => 0,
      token: () => {
        throw new Error('no token today');
      },
    });
    client.on('token_error', (e) => errors.push(e.message));
    const states: string[] = [];
    client.on('state', (e) => states.push(e.type));
    client.connect();
    await flush();
    expect(errors).toEqual(['no token today']);
    expect(states).toEqual(['connecting', 'closed', 'reconnecting']);
    expect(FakeSocket.all).toHaveLength(0);
    client.close();
  });

  it('HB-6: when the page becomes visible the client pings at once', async () => {
    const listeners = new Map<string, () => void>();
    const doc = { visibilityState: 'hidden', addEventListener: (t: string, f: () => void) => listeners.set(t, f), removeEventListener: (t: string) => listeners.delete(t) };
    vi.stubGlobal('document', doc);
    const { client } = makeClient();
    await authenticated(client, { heartbeatIntervalMs: 600_000 });
    const before = last().sent.length;
    doc.visibilityState = 'visible';
    listeners.get('visibilitychange')!();
    expect(last().sent.slice(before)).toEqual([{ type: 'ping' }]);
    client.close();
    expect(listeners.has('visibilitychange')).toBe(false);
  });

  it('HTTP-4: posts /heartbeat with the Bearer token every intervalMs, even while the WebSocket is down', async () => {
    const calls: { url: string; init: RequestInit }[] = [];
    vi.stubGlobal('fetch', async (url: string, init: RequestInit) => {
      calls.push({ url, init });
      return { ok: true, status: 204 };
    });
    const { client } = makeClient({ httpHeartbeat: { intervalMs: 30_000 } });
    client.connect(); // the socket never opens
    await flush();
    expect(calls).toHaveLength(1);
    expect(calls[0]!.url).toBe('http://example.test/heartbeat');
    expect(calls[0]!.init).toMatchObject({ method: 'POST', headers: { authorization: expect.stringMatching(/^Bearer tok-\d$/) } });
    await vi.advanceTimersByTimeAsync(30_000);
    expect(calls).toHaveLength(2);
    expect(client.diagnostics().httpHeartbeat).toMatchObject({ ok: true, status: 204 });
    client.close();
    await vi.advanceTimersByTimeAsync(90_000);
    expect(calls).toHaveLength(2);
  });

  it('options: url and token are checked, defaults documented in one place', () => {
    expect(() => new MooringClient({ url: 'http://x', token: () => 't', WebSocket: FakeSocket })).toThrow(/ws:\/\//);
    expect(() => new MooringClient({ url: 'ws://x', token: 't' as never, WebSocket: FakeSocket })).toThrow(/token/);
    const o = resolveOptions({ url: 'wss://h.example/ws', token: () => 't', WebSocket: FakeSocket, httpHeartbeat: {} });
    expect(o).toMatchObject({
      backoffBaseMs: 1_000, backoffCapMs: 30_000, stableAfterMs: 10_000, reconnectNowJitterMs: 500,
      connectTimeoutMs: 15_000, failFast: false, logSize: 200, watchVisibility: true,
      httpHeartbeat: { url: 'https://h.example/heartbeat', intervalMs: 30_000 },
    });
    expect(heartbeatUrlFor('ws://127.0.0.1:8080/ws?x=1')).toBe('http://127.0.0.1:8080/heartbeat');
  });
});
