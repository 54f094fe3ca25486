/**
 * Presence for the application (HTTP-6..HTTP-8): the HTTP heartbeat channel decides `connected`,
 * sessions are reported beside it, changes are announced, the window is configurable and advertised.
 */
import { describe, expect, it } from 'vitest';
import { MemoryPresence, type PresenceChange } from '../index.js';
import { auth, start, useHarness, type TestServer } from './helpers.js';

useHarness();

const heartbeat = (s: TestServer, token: string) => fetch(`${s.httpUrl}/heartbeat`, { method: 'POST', headers: { authorization: `Bearer ${token}` } });

/** Collects the server's presence changes; `next(pred)` waits (bounded) for the first matching one not yet taken. */
function changes(s: TestServer) {
  const seen: PresenceChange[] = [];
  const waiters: { pred: (c: PresenceChange) => boolean; resolve: (c: PresenceChange) => void }[] = [];
  s.on('presence', (c) => {
    seen.push(c);
    const i = waiters.findIndex((w) => w.pred(c));
    if (i >= 0) waiters.splice(i, 1)[0]!.resolve(c);
  });
  return {
    seen,
    next(pred: (c: PresenceChange) => boolean, ms = 2_000): Promise<PresenceChange> {
      const hit = seen.find(pred);
      if (hit) return Promise.resolve(hit);
      return new Promise((resolve, reject) => {
        const t = setTimeout(() => reject(new Error(`no presence change within ${ms} ms`)), ms);
        waiters.push({ pred, resolve: (c) => (clearTimeout(t), resolve(c)) });
      });
    },
  };
}

describe('presence', () => {
  it('HTTP-6: a WebSocket session alone does not make a user connected; an HTTP heartbeat does, and GET /presence agrees with server.presence', async () => {
    const s = await start();
    const a = await auth(s, 'alice');
    expect(await s.presence('alice')).toEqual({ userId: 'alice', connected: false, lastSeen: null, sessions: 1 });
    expect((await heartbeat(s, a.token)).status).toBe(204);
    const p = await s.presence('alice');
    expect(p).toEqual({ userId: 'alice', connected: true, lastSeen: expect.any(Number), sessions: 1 });
    const http = await (await fetch(`${s.httpUrl}/presence`, { headers: { authorization: `Bearer ${a.token}` } })).json();
    expect(http).toEqual(p);
    expect(await s.presence('nobody')).toEqual({ userId: 'nobody', connected: false, lastSeen: null, sessions: 0 });
  });

  it('HTTP-7, HTTP-8: changes are announced in order (session opened, connected, window expired on time, session closed) with a configured window', async () => {
    const s = await start({ presenceWindowMs: 300, httpHeartbeatIntervalMs: 100 });
    const log = changes(s);
    const a = await auth(s, 'bob');
    await log.next((c) => c.cause === 'session_opened');
    await heartbeat(s, a.token);
    const on = await log.next((c) => c.cause === 'heartbeat');
    expect(on).toMatchObject({ userId: 'bob', connected: true, sessions: 1 });
    const off = await log.next((c) => c.cause === 'window_expired', 1_500);
    expect(off).toMatchObject({ userId: 'bob', connected: false, lastSeen: on.lastSeen });
    // on time: not before the window ended, and soon after (one timer, no per-user polling)
    expect(off.at - on.lastSeen!).toBeGreaterThanOrEqual(300);
    expect(off.at - on.lastSeen!).toBeLessThan(450);
    expect((await s.presence('bob')).connected).toBe(false);
    a.ws.close();
    expect(await log.next((c) => c.cause === 'session_closed')).toMatchObject({ userId: 'bob', sessions: 0, connected: false });
    expect(log.seen.map((c) => c.cause)).toEqual(['session_opened', 'heartbeat', 'window_expired', 'session_closed']);
  });

  it('HTTP-8: the server advertises its HTTP heartbeat channel (path, interval, window) and refuses a window not longer than the interval', async () => {
    const s = await start({ presenceWindowMs: 90_000, httpHeartbeatIntervalMs: 20_000 });
    const a = await auth(s, 'carl');
    expect(a.authenticated.params.httpHeartbeat).toEqual({ path: '/heartbeat', intervalMs: 20_000, presenceWindowMs: 90_000 });
    expect(s.params.httpHeartbeat).toEqual({ path: '/heartbeat', intervalMs: 20_000, presenceWindowMs: 90_000 });
    await expect(start({ presenceWindowMs: 30_000, httpHeartbeatIntervalMs: 30_000 })).rejects.toThrow(/presenceWindowMs \(30000\) must be greater than httpHeartbeatIntervalMs \(30000\)/);
  });

  it('HTTP-7: windows expire in deadline order from one heap and one timer; a renewed window is not expired early; a heartbeat flood keeps one deadline per user', () => {
    let now = 1_000;
    const p = new MemoryPresence({ windowMs: 100, now: () => now });
    const out: string[] = [];
    p.on((c) => out.push(`${c.userId}:${c.cause}@${c.at}`));
    p.heartbeat('u1', 1_000);
    p.heartbeat('u2', 1_010);
    for (let t = 1_011; t <= 1_050; t++) p.heartbeat('u1', t); // renews u1 to 1_150
    expect(p.pendingDeadlines).toBe(2);
    expect(p.expire(1_100)).toBe(1_110); // u1's first entry is stale; next deadline: u2's
    expect(p.expire(1_110)).toBe(1_150);
    expect(p.expire(1_150)).toBeUndefined();
    expect(out).toEqual(['u1:heartbeat@1000', 'u2:heartbeat@1010', 'u2:window_expired@1110', 'u1:window_expired@1150']);
    now = 1_200;
    p.close();
  });
});
