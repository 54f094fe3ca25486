import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { auth, useHarness } from '../helpers.js';
import { RedisProcess, startNodes } from './harness.js';

let redis: RedisProcess;
beforeAll(async () => {
  redis = await RedisProcess.start();
});
afterAll(async () => {
  await redis?.stop();
});
useHarness();

describe('Redis broker across nodes', () => {
  it('NODE-1: a push published on one node reaches subscribers on every node, in one order', async () => {
    const [a, b, c] = await startNodes(3, redis.url);
    const ca = await auth(a!, 'u1');
    const cb = await auth(b!, 'u2');
    const sa = await ca.subscribe('news');
    await cb.subscribe('news');
    expect(sa.position.offset).toBe(0);
    for (let i = 0; i < 20; i++) await [a, b, c][i % 3]!.publish('news', { i });
    for (const cl of [ca, cb]) {
      const got = [];
      for (let i = 0; i < 20; i++) got.push(await cl.next('push'));
      expect(got.map((m) => m.position.offset)).toEqual([...Array(20).keys()].map((i) => i + 1));
      expect(got.map((m) => m.data.i)).toEqual([...Array(20).keys()]);
      expect(new Set(got.map((m) => m.position.epoch)).size).toBe(1);
    }
  });

  it('NODE-2: concurrent publishers on three nodes: offsets assigned once, every subscriber on every node sees the same order', async () => {
    const nodes = await startNodes(3, redis.url);
    const subs = await Promise.all(nodes.map(async (n, i) => {
      const c = await auth(n, `s${i}`);
      await c.subscribe('race');
      return c;
    }));
    const positions = await Promise.all([...Array(60).keys()].map((i) => nodes[i % 3]!.publish('race', { i })));
    expect(positions.map((p) => p.offset).sort((x, y) => x - y)).toEqual([...Array(60).keys()].map((i) => i + 1));
    const seen = await Promise.all(subs.map(async (c) => {
      const got = [];
      for (let i = 0; i < 60; i++) got.push(await c.next('push'));
      return got.map((m) => `${m.position.offset}:${m.data.i}`);
    }));
    expect(seen[0]!.map((x) => Number(x.split(':')[0]))).toEqual([...Array(60).keys()].map((i) => i + 1));
    expect(seen[1]).toEqual(seen[0]);
    expect(seen[2]).toEqual(seen[0]);
  });

  it('NODE-3: a client resumes on another node with exactly the pushes it missed', async () => {
    const [a, b] = await startNodes(2, redis.url);
    const ca = await auth(a!, 'u1');
    await ca.subscribe('feed');
    await a!.publish('feed', 1);
    const p1 = (await ca.next('push')).position;
    ca.ws.terminate();
    await a!.publish('feed', 2);
    await b!.publish('feed', 3);
    const cb = await auth(b!, 'u1');
    const s = await cb.subscribe('feed', p1);
    expect(s.resume).toBe('replayed');
    const r = [await cb.next('push'), await cb.next('push')];
    expect(r.map((m) => [m.data, m.position.offset, m.replay])).toEqual([[2, 2, true], [3, 3, true]]);
  });

  it('NODE-5: a channel unused for channelTtlMs is forgotten by Redis (bounded memory); its next use is a new epoch and an old position gets unavailable', async () => {
    const prefix = `ttl${Date.now()}:`;
    const [a] = await startNodes(1, redis.url, { redis: { channelTtlMs: 60_000 } }, prefix);
    const p = await a!.publish('once', 1);
    const admin = new Redis(redis.url);
    try {
      for (const key of [`${prefix}{once}:m`, `${prefix}{once}:h`]) {
        const ttl = await admin.pttl(key);
        expect(ttl).toBeGreaterThan(0);
        expect(ttl).toBeLessThanOrEqual(60_000);
      }
      await admin.del(`${prefix}{once}:m`, `${prefix}{once}:h`); // what the expiry does, without the wait
    } finally {
      admin.disconnect();
    }
    const c = await auth(a!, 'late');
    const s = await c.subscribe('once', p);
    expect(s.resume).toBe('unavailable');
    expect(s.position.epoch).not.toBe(p.epoch);
  });
});
