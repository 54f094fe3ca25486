import { describe, expect, it } from 'vitest';
import { CLOSE, parseCloseReason } from '../../../schemas/v1/index.js';
import { MemoryBroker } from '../index.js';
import { auth, connect, handshakeStatus, start, useHarness, type Client } from './helpers.js';

useHarness();

function socketOf(c: Client): import('node:net').Socket {
  return (c.ws as unknown as { _socket: import('node:net').Socket })._socket;
}

describe('graceful shutdown', () => {
  it('SHUT-1: refuses new upgrades with 503 (and /healthz says 503) while shutting down', async () => {
    const s = await start({ closeGraceMs: 300 });
    const lingering = await auth(s, 'alice');
    socketOf(lingering).pause(); // never answers the close: shutdown lasts until it is terminated
    const done = s.shutdown();
    expect(await handshakeStatus(s.url, 'mooring.v1')).toBe(503);
    expect((await fetch(`${s.httpUrl}/healthz`)).status).toBe(503);
    await done;
    expect(s.logs.some((e) => e.event === 'handshake_rejected' && e.status === 503)).toBe(true);
    expect(s.logs.map((e) => e.event)).toEqual(expect.arrayContaining(['shutdown_started', 'shutdown_completed']));
  });

  it('SHUT-2: closes every connection with 1012 and a close frame carrying a retry hint', async () => {
    const s = await start({ shutdownSpreadMs: 2_000 });
    const clients = [await auth(s, 'a'), await auth(s, 'b'), await connect(s) /* not yet authenticated */];
    await s.shutdown();
    for (const c of clients) {
      const closed = await c.closed;
      expect(closed.code).toBe(CLOSE.SERVICE_RESTART); // a close frame, not 1006
      const r = parseCloseReason(closed.reason);
      expect(r.name).toBe('service_restart');
      expect(r.retryAfterMs).toBeGreaterThanOrEqual(0);
      expect(r.retryAfterMs).toBeLessThanOrEqual(2_000);
    }
    expect(s.connectionCount()).toBe(0);
  });

  it('SHUT-3: spreads the retry hints uniformly over [0, shutdownSpreadMs]', async () => {
    const s = await start({ shutdownSpreadMs: 5_000, sessionPolicy: 'multiple' });
    const clients = await Promise.all(Array.from({ length: 40 }, () => connect(s)));
    await s.shutdown();
    const hints = await Promise.all(clients.map(async (c) => parseCloseReason((await c.closed).reason).retryAfterMs!));
    expect(Math.min(...hints)).toBeGreaterThanOrEqual(0);
    expect(Math.max(...hints)).toBeLessThanOrEqual(5_000);
    expect(new Set(hints).size).toBeGreaterThan(30);
    // both halves of the window are used
    expect(hints.filter((h) => h < 2_500).length).toBeGreaterThan(5);
    expect(hints.filter((h) => h >= 2_500).length).toBeGreaterThan(5);
  });

  it('SHUT-4: a restarted server (same broker) accepts a reconnect storm; no 1011, subscriptions resume', async () => {
    const broker = new MemoryBroker();
    const users = Array.from({ length: 60 }, (_, i) => `u${i}`);
    const first = await start({ broker, shutdownSpreadMs: 200 });
    const tokens = await Promise.all(users.map((u) => first.createToken(u)));
    const before = await Promise.all(users.map((u, i) => auth(first, u, { token: tokens[i] })));
    await Promise.all(before.map((c) => c.subscribe('storm')));
    await first.publish('storm', 'a');
    const last = await Promise.all(before.map(async (c) => (await c.next('push')).position));
    await first.shutdown();
    await second(broker, users, last);
  });
});

async function second(broker: MemoryBroker, users: string[], last: { epoch: string; offset: number }[]): Promise<void> {
  const s = await start({ broker });
  await s.publish('storm', 'missed');
  const tokens = await Promise.all(users.map((u) => s.createToken(u)));
  const after = await Promise.all(users.map((u, i) => auth(s, u, { token: tokens[i] })));
  const acks = await Promise.all(after.map((c, i) => c.subscribe('storm', last[i])));
  for (const a of acks) expect(a).toMatchObject({ resume: 'replayed', replayed: 1 });
  for (const c of after) expect((await c.next('push')).data).toBe('missed');
  expect(s.logs.some((e) => e.event === 'connection_closed' && e.code === 1011)).toBe(false);
  expect(s.connectionCount()).toBe(users.length);
}
