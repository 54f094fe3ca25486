import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { RedisNode } from '../../redis/node.js';
import type { PresenceChange } from '../../presence.js';
import { RedisProcess } from './redis-process.js';

let redis: RedisProcess;
beforeAll(async () => {
  redis = await RedisProcess.start();
});
afterAll(async () => {
  await redis?.stop();
});
const nodes: RedisNode[] = [];
afterEach(async () => {
  await Promise.all(nodes.splice(0).map((n) => n.close()));
});

/** A node's Redis side alone (no WebSocket server): presence is driven as the server drives it. */
async function node(name: string, prefix: string, presenceWindowMs = 60_000): Promise<RedisNode> {
  const n = new RedisNode({ url: redis.url, keyPrefix: prefix, nodeName: name, presenceWindowMs, healthIntervalMs: 50 }, {
    historySize: 10, historyBytes: 1 << 20, rateLimit: { messages: 60, windowMs: 10_000 }, sessionPolicy: 'single',
    feed: () => undefined, log: () => undefined,
  });
  nodes.push(n);
  expect(await n.ready()).toBe(true);
  return n;
}

function changes(n: RedisNode) {
  const seen: PresenceChange[] = [];
  const waiters: [(c: PresenceChange) => boolean, (c: PresenceChange) => void][] = [];
  n.presence.on((c) => {
    seen.push(c);
    const i = waiters.findIndex(([p]) => p(c));
    if (i >= 0) waiters.splice(i, 1)[0]![1](c);
  });
  const next = (p: (c: PresenceChange) => boolean) => new Promise<PresenceChange>((resolve) => {
    const c = seen.find(p);
    if (c) return resolve(c);
    waiters.push([p, resolve]);
  });
  return { seen, next };
}

describe('presence across nodes', () => {
  it('NODE-14: a heartbeat on node A and sessions on A and B answer presence on B, and B hears the changes once', async () => {
    const prefix = `pr${Date.now()}:`;
    const [a, b] = [await node('A', prefix), await node('B', prefix)];
    const onB = changes(b);
    const now = Date.now();
    a.presence.heartbeat('ann', now);
    expect((await onB.next((c) => c.cause === 'heartbeat')).connected).toBe(true);
    a.presence.heartbeat('ann', now + 1); // already connected: no second change
    a.presence.sessionOpened('ann', now);
    a.presence.sessionOpened('ann', now);
    b.presence.sessionOpened('ann', now);
    await onB.next((c) => c.cause === 'session_opened');
    const info = await b.presence.get('ann');
    expect(info).toMatchObject({ userId: 'ann', connected: true, lastSeen: now + 1, sessions: 3 });
    expect(onB.seen.filter((c) => c.cause === 'heartbeat')).toHaveLength(1);
    expect(onB.seen.filter((c) => c.cause === 'session_opened')).toHaveLength(1);
    for (const n of [a, a, b]) n.presence.sessionClosed('ann', now);
    expect((await onB.next((c) => c.cause === 'session_closed')).sessions).toBe(0);
  });

  it('NODE-14: a window ends on every node (window_expired), unless a heartbeat on another node renewed it', async () => {
    const prefix = `pw${Date.now()}:`;
    const [a, b] = [await node('A', prefix, 200), await node('B', prefix, 200)];
    const onA = changes(a);
    b.presence.heartbeat('bo', Date.now());
    await onA.next((c) => c.cause === 'heartbeat');
    const t0 = Date.now();
    const expired = await onA.next((c) => c.cause === 'window_expired');
    expect(expired.connected).toBe(false);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(150);
    expect((await a.presence.get('bo')).connected).toBe(false);
  });

  it('NODE-14: the sessions of a node that is gone stop counting', async () => {
    const prefix = `pd${Date.now()}:`;
    const [a, b] = [await node('A', prefix), await node('B', prefix)];
    a.presence.sessionOpened('cy', Date.now());
    b.presence.sessionOpened('cy', Date.now());
    const onB = changes(b);
    a.presence.heartbeat('cy', Date.now()); // on A's connection after A's write: its change implies the write landed
    await onB.next((c) => c.cause === 'heartbeat');
    expect((await b.presence.get('cy')).sessions).toBe(2);
    await a.close(); // its liveness key goes (a crash: it expires within 3 health intervals + a command timeout)
    expect((await b.presence.get('cy')).sessions).toBe(1);
  });
});
