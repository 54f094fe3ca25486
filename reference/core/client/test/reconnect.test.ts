import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { Harness, seeded } from './harness.js';
import { backoffDelay } from '../backoff.js';

/** Fails `n` connection attempts in a row (refused before open), returning the delays waited. */
function failAttempts(h: Harness, n: number): number[] {
  const delays: number[] = [];
  for (let i = 0; i < n; i++) {
    h.giveToken();
    h.serverClose(1006);
    delays.push(h.runToReconnect());
  }
  return delays;
}

describe('RECON-1, RECON-2: backoff in the client', () => {
  it('RECON-1: consecutive failed attempts wait backoffDelay(0), (1), (2), ... drawn with the injected random', () => {
    const h = new Harness({ random: seeded(99) });
    h.do({ type: 'connect' });
    const delays = failAttempts(h, 8);
    const replay = seeded(99);
    expect(delays).toEqual([0, 1, 2, 3, 4, 5, 6, 7].map((n) => backoffDelay(n, replay)));
    delays.forEach((x, n) => {
      const d = Math.min(30_000, 1_000 * 2 ** n);
      expect(x).toBeGreaterThanOrEqual(d / 2);
      expect(x).toBeLessThanOrEqual(d);
    });
  });

  it('RECON-1: the reconnecting event carries the attempt and the next delay', () => {
    const h = new Harness({ random: () => 0.5 });
    h.connectAndAuth();
    const m = h.mark();
    h.serverClose(1006);
    expect(h.events(m)).toEqual([
      expect.objectContaining({ type: 'closed', code: 1006, willRetry: true, closeClass: 'reconnect' }),
      { type: 'reconnecting', attempt: 0, delayMs: 750, at: h.now + 750 },
    ]);
  });

  it('RECON-2: the attempt counter resets only after a session stayed authenticated for stableAfterMs', () => {
    const h = new Harness({ random: () => 0 });
    h.do({ type: 'connect' });
    failAttempts(h, 4); // attempt counter now 4
    h.completeConnect({ heartbeatIntervalMs: 600_000 });
    h.advance(9_999); // not stable yet
    h.serverClose(1006);
    expect(h.runToReconnect()).toBe(backoffDelay(4, () => 0)); // kept growing: 8 s
    h.completeConnect({ heartbeatIntervalMs: 600_000 });
    h.advance(10_000); // stable
    h.serverClose(1006);
    expect(h.runToReconnect()).toBe(500); // attempt 0 again
  });

  it('RECON-2: a custom stableAfterMs is honoured', () => {
    const h = new Harness({ random: () => 0, backoff: { stableAfterMs: 100 } });
    h.do({ type: 'connect' });
    failAttempts(h, 3);
    h.completeConnect({ heartbeatIntervalMs: 600_000 });
    h.advance(100);
    h.serverClose(1006);
    expect(h.runToReconnect()).toBe(500);
  });
});

describe('RECON-3, RECON-6: order after a reconnect, nothing replayed', () => {
  it('RECON-3: after reconnecting the client sends auth first and subscribes only after authenticated', () => {
    const h = new Harness();
    h.do({ type: 'subscribe', channel: 'a' });
    h.connectAndAuth();
    h.serverClose(1006);
    h.do({ type: 'subscribe', channel: 'b' });
    h.runToReconnect();
    const m = h.mark();
    h.giveToken();
    h.open();
    h.server({ type: 'pong' }); // anything before authenticated must not trigger sends
    expect(h.sent(m)).toEqual([{ type: 'auth', token: 'tok2' }]);
    h.authenticated();
    expect(h.sent(m).map((x) => x.type)).toEqual(['auth', 'subscribe', 'subscribe']);
  });

  it('RECON-6: property: on every connection auth is the first message, nothing else precedes authenticated, and no request is sent twice', () => {
    type Step =
      | { k: 'req' } | { k: 'sub'; ch: string } | { k: 'unsub'; ch: string } | { k: 'time'; ms: number }
      | { k: 'drop'; code: number } | { k: 'progress' } | { k: 'expiring' } | { k: 'liveness' };
    const step: fc.Arbitrary<Step> = fc.oneof(
      { arbitrary: fc.constant<Step>({ k: 'progress' }), weight: 4 },
      { arbitrary: fc.constant<Step>({ k: 'req' }), weight: 2 },
      fc.constantFrom('a', 'b', 'c').map((ch): Step => ({ k: 'sub', ch })),
      fc.constantFrom('a', 'b', 'c').map((ch): Step => ({ k: 'unsub', ch })),
      fc.integer({ min: 0, max: 1_500 }).map((ms): Step => ({ k: 'time', ms })),
      fc.constantFrom(1006, 1012, 4001, 4419, 1011, 4429).map((code): Step => ({ k: 'drop', code })),
      fc.constant<Step>({ k: 'expiring' }),
      fc.constant<Step>({ k: 'liveness' }),
    );
    fc.assert(
      fc.property(fc.integer(), fc.array(step, { minLength: 10, maxLength: 100, size: 'max' }), (seed, steps) => {
        const h = new Harness({ random: seeded(seed) });
        h.do({ type: 'connect' });
        for (const s of steps) {
          const st = h.state;
          switch (s.k) {
            case 'req': h.request('echo', 1, { timeoutMs: 20_000 }); break;
            case 'sub': h.do({ type: 'subscribe', channel: s.ch }); break;
            case 'unsub': h.do({ type: 'unsubscribe', channel: s.ch }); break;
            case 'time': h.advance(s.ms); break;
            case 'liveness': h.do({ type: 'check_liveness' }); break;
            case 'expiring': if (st === 'authenticated') h.server({ type: 'token_expiring', expiresAt: 0 }); break;
            case 'drop': if (h.conn && st !== 'reconnecting') h.serverClose(s.code); break;
            case 'progress': {
              const phase = (h.core as unknown as { phase?: string }).phase;
              if (st === 'connecting' && phase === 'token') h.giveToken();
              else if (st === 'connecting' && phase === 'socket') h.open();
              else if (st === 'connecting' && phase === 'auth') h.authenticated();
              else if (st === 'authenticated') {
                const f = h.last('fetch_token');
                if (f && f.reason === 'expiring') h.do({ type: 'token', fetch: f.fetch, token: 'fresh' });
              }
              break;
            }
          }
        }
        // Check the transcript per connection. First: where each connection became authenticated.
        const authedAt = new Map<number, number>();
        let current = 0;
        h.actions.forEach((a, i) => {
          if (a.type === 'open_socket') current = a.conn;
          if (a.type === 'emit' && a.event.type === 'authenticated' && !a.event.reauth && !authedAt.has(current)) {
            authedAt.set(current, h.batchStart[i]!); // sends of the same input follow authenticated
          }
        });
        const count = new Map<number, number>();
        const requestIds = new Set<string>();
        h.actions.forEach((a, i) => {
          if (a.type !== 'send') return;
          const n = (count.get(a.conn) ?? 0) + 1;
          count.set(a.conn, n);
          if (n === 1 && a.message.type !== 'auth') throw new Error(`first message ${a.message.type}`);
          if (a.message.type !== 'auth' && (authedAt.get(a.conn) ?? Infinity) > i) throw new Error(`${a.message.type} before authenticated`);
          if (a.message.type === 'request') {
            if (requestIds.has(a.message.id)) throw new Error(`request ${a.message.id} sent twice`);
            requestIds.add(a.message.id);
          }
        });
        return true;
      }),
      { numRuns: 300 },
    );
  });
});

describe('RECON-4, RECON-5, SESS-2: close codes', () => {
  it.each([
    [1000, 'normal_closure'],
    [4002, 'session_replaced'],
    [4400, 'not_authenticated'],
    [4401, 'unauthorized'],
  ])('RECON-5: stop code %i ends reconnection: state closed, willRetry false, nothing scheduled', (code, reason) => {
    const h = new Harness();
    h.connectAndAuth();
    const m = h.mark();
    h.serverClose(code, reason);
    expect(h.state).toBe('closed');
    expect(h.events(m)).toEqual([expect.objectContaining({ type: 'closed', code, reason, willRetry: false, closeClass: 'stop' })]);
    expect(h.core.nextDeadline()).toBeUndefined();
    h.advance(3_600_000);
    expect(h.all('open_socket', m)).toEqual([]);
  });

  it('SESS-2: a client closed with 4002 session_replaced does not reconnect', () => {
    const h = new Harness();
    h.connectAndAuth();
    h.serverClose(4002, 'session_replaced');
    const m = h.mark();
    h.advance(24 * 3_600_000);
    expect(h.all('fetch_token', m)).toEqual([]);
    expect(h.core.diagnostics()).toMatchObject({ state: 'closed', lastClose: { code: 4002, closeClass: 'stop' } });
  });

  it('RECON-5: 4419 token_expired asks the token function for a fresh token (reason expired) before reconnecting', () => {
    const h = new Harness({ random: () => 0 });
    h.connectAndAuth();
    const m = h.mark();
    h.serverClose(4419, 'token_expired');
    expect(h.events(m)).toContainEqual(expect.objectContaining({ type: 'closed', willRetry: true, closeClass: 'refresh_token' }));
    h.runToReconnect();
    expect(h.all('fetch_token', m)).toEqual([expect.objectContaining({ reason: 'expired' })]);
    h.giveToken('new');
    h.open();
    expect(h.sent(m)[0]).toEqual({ type: 'auth', token: 'new' });
  });

  it('RECON-4: 1012 service_restart reconnects after the retry hint (plus a small jitter), not the backoff', () => {
    const h = new Harness({ random: () => 0 });
    h.do({ type: 'connect' });
    failAttempts(h, 5); // backoff would now be ≥ 16 s
    h.completeConnect();
    h.serverClose(1012, 'service_restart;retry=1234');
    expect(h.runToReconnect()).toBe(1_234);
  });

  it('RECON-4: 1012 without a hint reconnects almost at once (jitter ≤ 500 ms)', () => {
    const h = new Harness({ random: () => 0.99 });
    h.connectAndAuth();
    h.serverClose(1012, 'service_restart');
    expect(h.runToReconnect()).toBeLessThanOrEqual(500);
  });

  it('RECON-4: a reconnect-class close with a retry hint longer than the backoff waits the hint', () => {
    const h = new Harness({ random: () => 0.5 });
    h.connectAndAuth();
    h.serverClose(4429, 'rate_limited;retry=7000');
    expect(h.runToReconnect()).toBe(7_000);
  });

  it.each([1001, 1006, 1009, 1011, 1013, 4001, 4408, 4509, 4999, 1002])(
    'RECON-5: code %i (class reconnect) backs off and retries',
    (code) => {
      const h = new Harness({ random: () => 0 });
      h.connectAndAuth();
      h.serverClose(code, 'x');
      expect(h.state).toBe('reconnecting');
      expect(h.runToReconnect()).toBe(500);
      expect(h.state).toBe('connecting');
    },
  );

  it('RECON-5: a failing token function counts as a failed attempt and backs off', () => {
    const h = new Harness({ random: () => 0 });
    h.do({ type: 'connect' });
    const f = h.last('fetch_token')!;
    const m = h.mark();
    h.do({ type: 'token_failed', fetch: f.fetch, message: 'offline' });
    expect(h.events(m)).toContainEqual({ type: 'token_error', reason: 'connect', message: 'offline' });
    expect(h.state).toBe('reconnecting');
    expect(h.runToReconnect()).toBe(500);
  });

  it('RECON-1: an attempt that hangs (no authenticated within connectTimeoutMs) is abandoned with 4001 and backs off', () => {
    const h = new Harness({ connectTimeoutMs: 3_000, random: () => 0 });
    h.do({ type: 'connect' });
    h.giveToken();
    h.advance(3_000);
    expect(h.last('close_socket')).toMatchObject({ code: 4001, reason: 'heartbeat_timeout' });
    expect(h.state).toBe('reconnecting');
  });
});

describe('HTTP-4: HTTP heartbeat', () => {
  it('HTTP-4: posts every 30 s from connect() to close(), whatever the WebSocket state', () => {
    const h = new Harness({ httpHeartbeatIntervalMs: 30_000, random: () => 0 });
    h.do({ type: 'connect' });
    expect(h.all('http_heartbeat')).toHaveLength(1);
    h.advance(30_000); // still connecting: the socket never opened
    expect(h.all('http_heartbeat')).toHaveLength(2);
    h.giveToken();
    h.serverClose(1006);
    h.advance(30_000); // reconnecting / connecting
    expect(h.all('http_heartbeat')).toHaveLength(3);
    h.do({ type: 'close' });
    h.advance(120_000);
    expect(h.all('http_heartbeat')).toHaveLength(3);
  });

  it('HTTP-4: off by default', () => {
    const h = new Harness();
    h.connectAndAuth();
    h.advance(120_000);
    expect(h.all('http_heartbeat')).toEqual([]);
  });
  it('HTTP-9: follows the advertised channel from the first authenticated on (its path and interval), also while the WebSocket is down, until close()', () => {
    const h = new Harness({ followAdvertisedHttpHeartbeat: true, random: () => 0 });
    h.do({ type: 'connect' });
    expect(h.all('http_heartbeat')).toEqual([]); // nothing advertised yet
    h.completeConnect({ heartbeatIntervalMs: 600_000, httpHeartbeat: { path: '/app/heartbeat', intervalMs: 20_000, presenceWindowMs: 50_000 } });
    expect(h.all('http_heartbeat')).toEqual([{ type: 'http_heartbeat', path: '/app/heartbeat' }]);
    h.advance(20_000);
    expect(h.all('http_heartbeat')).toHaveLength(2);
    h.serverClose(1006);
    h.advance(20_000); // reconnecting: the HTTP channel goes on
    expect(h.all('http_heartbeat')).toHaveLength(3);
    h.do({ type: 'close' });
    h.advance(120_000);
    expect(h.all('http_heartbeat')).toHaveLength(3);
  });

  it('HTTP-9: an application that opted out (or a server that advertises nothing) gets no HTTP heartbeat', () => {
    const advertised = { heartbeatIntervalMs: 600_000, httpHeartbeat: { path: '/heartbeat', intervalMs: 20_000, presenceWindowMs: 50_000 } };
    const optedOut = new Harness({ followAdvertisedHttpHeartbeat: false });
    optedOut.connectAndAuth(advertised);
    optedOut.advance(120_000);
    expect(optedOut.all('http_heartbeat')).toEqual([]);
    const silent = new Harness({ followAdvertisedHttpHeartbeat: true });
    silent.connectAndAuth({ heartbeatIntervalMs: 600_000 });
    silent.advance(120_000);
    expect(silent.all('http_heartbeat')).toEqual([]);
  });
});

describe('diagnostics', () => {
  it('diagnostics: state, url, reconnects, subscriptions with positions, pending requests, last close, params and a bounded log', () => {
    const h = new Harness({ logSize: 20 });
    h.do({ type: 'subscribe', channel: 'news' });
    h.connectAndAuth({ heartbeatIntervalMs: 600_000 });
    h.server({ type: 'subscribed', channel: 'news', position: { epoch: 'e', offset: 3 } });
    h.serverClose(1006);
    h.runToReconnect();
    h.completeConnect({ heartbeatIntervalMs: 600_000 });
    const id = h.request('sleep', { ms: 1 });
    for (let i = 0; i < 50; i++) h.server({ type: 'pong' });
    const d = h.core.diagnostics();
    expect(d).toMatchObject({
      state: 'authenticated', url: 'ws://test/ws', reconnects: 1, userId: 'alice',
      subscriptions: [{ channel: 'news', handlers: 1, status: 'subscribing', position: { epoch: 'e', offset: 3 } }],
      pending: { count: 1, requests: [{ id, action: 'sleep', status: 'sent' }] },
      lastClose: { code: 1006, closeClass: 'reconnect', byClient: false },
      params: { heartbeatIntervalMs: 600_000 },
    });
    expect(d.log).toHaveLength(20);
    expect(d.log.at(-1)).toMatchObject({ kind: 'pong', ts: h.now });
  });
});
