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

const rateLimit = { messages: 10, windowMs: 10_000 };

describe('rate limit across nodes', () => {
  it('NODE-8: a user over the limit with frames spread over two nodes is closed 4429 on both, with a retry hint', async () => {
    const [a, b] = await startNodes(2, redis.url, { rateLimit, sessionPolicy: 'multiple' });
    const ca = await auth(a!, 'flooder');
    const cb = await auth(b!, 'flooder');
    for (let i = 0; i < 6; i++) ca.send({ type: 'ping' }); // 6 + 6 > 10, while each node alone sees 6
    for (let i = 0; i < 6; i++) cb.send({ type: 'ping' });
    const [x, y] = await Promise.all([ca.closed, cb.closed]);
    for (const c of [x, y]) {
      expect(c.code).toBe(4429);
      const m = /^rate_limited;retry=(\d+)$/.exec(c.reason);
      expect(m).not.toBeNull();
      expect(Number(m![1])).toBeGreaterThan(0);
      expect(Number(m![1])).toBeLessThanOrEqual(rateLimit.windowMs);
    }
  });

  it('NODE-8: a user within the limit across nodes is not closed (RATE-2 holds over the shared window)', async () => {
    const [a, b] = await startNodes(2, redis.url, { rateLimit, sessionPolicy: 'multiple' });
    const ca = await auth(a!, 'polite');
    const cb = await auth(b!, 'polite');
    await ca.subscribe('sync'); // RATE-4: restore subscribes do not count
    await cb.subscribe('sync');
    for (let i = 0; i < 4; i++) await ca.roundTrip(); // 4 + 4 pings, + 2 for the final checks: 10
    for (let i = 0; i < 4; i++) await cb.roundTrip();
    await ca.roundTrip();
    await cb.roundTrip();
    // A push published after every hit was counted reaches each node after any control message those hits caused.
    await a!.publish('sync', 1);
    await Promise.all([ca.next('push'), cb.next('push')]);
    expect(ca.isOpen && cb.isOpen).toBe(true);
  });
});
