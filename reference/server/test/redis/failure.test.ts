import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { auth, handshakeStatus, useHarness, type Client } from '../helpers.js';
import type { TestServer } from '../helpers.js';
import { RedisProcess, startNodes } from './harness.js';

let redis: RedisProcess;
beforeAll(async () => {
  redis = await RedisProcess.start();
});
afterAll(async () => {
  await redis?.stop();
});
useHarness();

/** Short failure timings so that the outage paths run in well under a second. */
const fast = { redis: { healthIntervalMs: 100, outageCloseMs: 400, commandTimeoutMs: 500, connectTimeoutMs: 3_000 } };
/** Fast detection and recovery, but no outage close: for the tests where a 1013 would be a failure, not the point. */
const patient = { redis: { ...fast.redis, outageCloseMs: 10_000 } };

/** Connects and authenticates once the node takes upgrades again (it answers 503 while Redis is away). */
async function authWhenUp(node: TestServer, user: string, timeoutMs = 5_000): Promise<Client & { authenticated: { [k: string]: any } }> {
  const t0 = Date.now();
  for (;;) {
    const status = await handshakeStatus(node.url, 'mooring.v1').catch(() => 101);
    if (status !== 503) {
      try {
        return await auth(node, user);
      } catch {
        /* raced with the outage: try again */
      }
    }
    if (Date.now() - t0 > timeoutMs) throw new Error('node did not take connections again');
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('failure behaviour', () => {
  it('NODE-4: a node whose subscriber connection drops catches up from history: no push lost, none twice, in order', async () => {
    const [a, b] = await startNodes(2, redis.url, patient);
    const c = await auth(a!, 'u');
    await c.subscribe('ticks');
    await b!.publish('ticks', 0);
    await c.next('push');
    const admin = new Redis(redis.url);
    try {
      await admin.call('CLIENT', 'KILL', 'TYPE', 'pubsub'); // both nodes' subscriber connections
      for (let i = 1; i <= 20; i++) await b!.publish('ticks', i).catch(() => undefined);
    } finally {
      admin.disconnect();
    }
    const published = (await a!.broker.read('ticks')).head.offset;
    const got = [];
    for (let i = 1; i < published; i++) got.push(await c.next('push'));
    expect(got.map((m) => m.position.offset)).toEqual([...Array(published - 1).keys()].map((i) => i + 2));
    expect(c.isOpen).toBe(true);
  });

  it('NODE-10: Redis down: upgrades and /healthz get 503, publishes fail, connections close 1013 with a retry hint, no crash; service and a new epoch come back with Redis', async () => {
    const [a] = await startNodes(1, redis.url, fast);
    const c = await auth(a!, 'u');
    const s = await c.subscribe('news');
    await redis.kill(); // all data lost (no persistence)
    const closed = await c.closed;
    expect(closed.code).toBe(1013);
    expect(closed.reason).toMatch(/^try_again_later;retry=\d+$/);
    expect(await handshakeStatus(a!.url, 'mooring.v1')).toBe(503);
    expect((await fetch(`${a!.httpUrl}/healthz`)).status).toBe(503);
    await expect(a!.publish('news', 1)).rejects.toThrow();
    await redis.up();
    const again = await authWhenUp(a!, 'u');
    // NODE-5: Redis lost the channel: its epoch changed, so the resume is refused, never a silent gap.
    const r = await again.subscribe('news', s.position);
    expect(r.resume).toBe('unavailable');
    expect(r.position.epoch).not.toBe(s.position.epoch);
  });

  it('NODE-5: Redis restarted empty within the outage grace: the subscribers of a channel are closed 1013 rather than left with a gap', async () => {
    const [a, b] = await startNodes(2, redis.url, patient);
    const c = await auth(a!, 'u');
    const s = await c.subscribe('news');
    await redis.kill();
    await redis.up();
    // Publish on B as soon as it is back: A's live feed sees a new epoch and cannot fill the hole.
    for (let t0 = Date.now(); ; ) {
      if (await b!.publish('news', 'after').then(() => true, () => false)) break;
      if (Date.now() - t0 > 5_000) throw new Error('B did not recover');
      await new Promise((r) => setTimeout(r, 50));
    }
    const closed = await c.closed;
    expect(closed.code).toBe(1013);
    const again = await authWhenUp(b!, 'u');
    expect((await again.subscribe('news', s.position)).resume).toBe('unavailable');
  });

  it('NODE-11: a partition (Redis stops answering) is noticed by the command timeout; clients are closed 1013 and the node recovers', async () => {
    const [a] = await startNodes(1, redis.url, fast);
    const c = await auth(a!, 'u');
    await c.subscribe('news');
    await a!.publish('news', 1);
    const p = (await c.next('push')).position;
    redis.pause();
    try {
      expect((await c.closed).code).toBe(1013);
      expect(await handshakeStatus(a!.url, 'mooring.v1')).toBe(503);
    } finally {
      redis.resume();
    }
    const again = await authWhenUp(a!, 'u');
    // The data survived the partition: the resume replays nothing and keeps the epoch.
    const r = await again.subscribe('news', p);
    expect(r.resume).toBe('replayed');
    await a!.publish('news', 2);
    expect((await again.next('push')).data).toBe(2);
  });

  it('NODE-12: after Redis came back, sessions, the shared rate limit and channels work across nodes again, without a restart', async () => {
    const [a, b] = await startNodes(2, redis.url, { ...patient, rateLimit: { messages: 6, windowMs: 10_000 } });
    await redis.kill();
    await redis.up();
    const old = await authWhenUp(a!, 'erin');
    const fresh = await authWhenUp(b!, 'erin');
    expect((await old.closed).code).toBe(4002); // NODE-6 again
    await fresh.subscribe('back');
    await a!.publish('back', 'hello');
    expect((await fresh.next('push')).data).toBe('hello'); // NODE-1 again
    // The shared rate window (RATE-3 across nodes): 3 frames on A, then 4 on B after moving there, exceed 6,
    // though B alone saw 4.
    const [fa, other] = [await authWhenUp(a!, 'frank'), await authWhenUp(b!, 'grace')];
    for (let i = 0; i < 3; i++) await fa.roundTrip();
    const fb = await authWhenUp(b!, 'frank');
    expect((await fa.closed).code).toBe(4002);
    for (let i = 0; i < 4; i++) fb.send({ type: 'ping' });
    expect((await fb.closed).code).toBe(4429);
    expect(other.isOpen).toBe(true);
  });

  it('NODE-3: a full restart of every node keeps history: a client resumes with exactly what it missed', async () => {
    const prefix = `full${Date.now()}:`;
    const [a, b] = await startNodes(2, redis.url, {}, prefix);
    const c = await auth(a!, 'u');
    await c.subscribe('feed');
    await b!.publish('feed', 1);
    const p = (await c.next('push')).position;
    await a!.publish('feed', 2);
    await a!.shutdown();
    await b!.shutdown();
    const [a2] = await startNodes(1, redis.url, { tokenStore: a!.tokenStore }, prefix);
    const c2 = await auth(a2!, 'u');
    const r = await c2.subscribe('feed', p);
    expect(r.resume).toBe('replayed');
    const m = await c2.next('push');
    expect([m.data, m.position.offset, m.position.epoch]).toEqual([2, 2, p.epoch]);
  });
});
