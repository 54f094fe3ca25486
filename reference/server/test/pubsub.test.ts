import { describe, expect, it } from 'vitest';
import { MemoryBroker } from '../index.js';
import { auth, start, useHarness } from './helpers.js';

useHarness();

describe('pub/sub', () => {
  it.each(['', ' news', '.dot', '-dash', 'a b', 'ümlaut', 'x'.repeat(129), 'a?b'])(
    'SUB-1: a subscribe to the invalid channel name %j gets invalid_message',
    async (channel) => {
      const s = await start();
      const c = await auth(s, 'alice');
      c.send({ type: 'subscribe', channel });
      expect((await c.next('error')).code).toBe('invalid_message');
      expect((await c.subscribe('ok_channel-1.a:b/c')).type).toBe('subscribed');
    },
  );

  it('SUB-2: acknowledges a subscribe with subscribed and the channel position', async () => {
    const s = await start();
    const c = await auth(s, 'alice');
    const empty = await c.subscribe('fresh');
    expect(empty.position.offset).toBe(0);
    await s.publish('busy', 1);
    const p = await s.publish('busy', 2);
    const ack = await c.subscribe('busy');
    expect(ack).toEqual({ type: 'subscribed', channel: 'busy', position: p });
    expect(ack.position.epoch).toBe(empty.position.epoch);
  });

  it('SUB-3: subscribing twice is acknowledged twice and delivers once', async () => {
    const s = await start();
    const c = await auth(s, 'alice');
    c.send({ type: 'subscribe', channel: 'news' });
    c.send({ type: 'subscribe', channel: 'news' });
    await c.next('subscribed');
    await c.next('subscribed');
    await c.subscribe('news');
    await s.publish('news', 'once');
    await c.next('push');
    await c.roundTrip();
    expect(c.received.filter((m) => m.type === 'push')).toHaveLength(1);
  });

  it('SUB-4: refuses an unauthorized subscribe with forbidden; user:<id> belongs to <id> alone', async () => {
    const s = await start({ authorize: (user, channel) => channel !== 'secret' || user === 'root' });
    const c = await auth(s, 'alice');
    c.send({ type: 'subscribe', channel: 'secret' });
    expect(await c.next('error')).toMatchObject({ code: 'forbidden', channel: 'secret' });
    const d = await start();
    const alice = await auth(d, 'alice');
    alice.send({ type: 'subscribe', channel: 'user:bob' });
    expect(await alice.next('error')).toMatchObject({ code: 'forbidden', channel: 'user:bob' });
    expect((await alice.subscribe('user:alice')).type).toBe('subscribed');
  });

  it('ERR-3, ERR-4: an authorize hook that throws gets error internal_error naming the channel, no details; the connection keeps working', async () => {
    const s = await start({ authorize: (_user, channel) => { if (channel === 'boom') throw new Error('SECRET db down'); return true; } });
    const c = await auth(s, 'alice');
    c.send({ type: 'subscribe', channel: 'boom' });
    const e = await c.next('error');
    expect(e).toMatchObject({ code: 'internal_error', channel: 'boom' });
    expect(JSON.stringify(e)).not.toContain('SECRET');
    expect((await c.subscribe('fine')).type).toBe('subscribed');
    expect(s.logs.some((l) => l.event === 'request_failed' && (l as any).reason === 'authorize_failed')).toBe(true);
  });

  it('SUB-5: pushes carry {epoch, offset} growing by 1 and a server timestamp', async () => {
    const s = await start();
    const c = await auth(s, 'alice');
    const ack = await c.subscribe('news');
    const t0 = Date.now();
    for (let i = 0; i < 5; i++) await s.publish('news', i);
    for (let i = 0; i < 5; i++) {
      const p = await c.next('push');
      expect(p.position).toEqual({ epoch: ack.position.epoch, offset: i + 1 });
      expect(p.ts).toBeGreaterThanOrEqual(t0 - 1);
      expect(p.ts).toBeLessThanOrEqual(Date.now());
      expect(p.replay).toBeUndefined();
    }
  });

  it('SUB-6: a subscriber receives every push in order, once, while others publish concurrently', async () => {
    const s = await start();
    const subs = await Promise.all(['a', 'b', 'c'].map((u) => auth(s, u)));
    for (const c of subs) await c.subscribe('feed');
    const pubs = await Promise.all(['p1', 'p2'].map((u) => auth(s, u)));
    await Promise.all(pubs.map(async (p, j) => { for (let i = 0; i < 20; i++) p.send({ type: 'request', id: `${j}-${i}`, action: 'publish', payload: { channel: 'feed', data: `${j}-${i}` } }); }));
    for (const c of subs) {
      const offsets: number[] = [];
      for (let i = 0; i < 40; i++) offsets.push((await c.next('push')).position.offset);
      expect(offsets).toEqual(Array.from({ length: 40 }, (_, i) => i + 1));
    }
  });

  it('SUB-7: acknowledges unsubscribe (also when not subscribed) and sends no push after it', async () => {
    const s = await start();
    const c = await auth(s, 'alice');
    c.send({ type: 'unsubscribe', channel: 'never' });
    expect(await c.next('unsubscribed')).toEqual({ type: 'unsubscribed', channel: 'never' });
    await c.subscribe('news');
    c.send({ type: 'unsubscribe', channel: 'news' });
    await c.next('unsubscribed');
    await s.publish('news', 'late');
    await c.roundTrip();
    expect(c.received.filter((m) => m.type === 'push')).toEqual([]);
    expect((s.broker as MemoryBroker).listenerCount('news')).toBe(0);
  });

  it('SUB-8: a resume inside history replays the missed pushes in order, then live, no gap, no dup', async () => {
    const s = await start();
    const a = await auth(s, 'alice');
    await a.subscribe('news');
    await s.publish('news', 1);
    const last = (await a.next('push')).position;
    a.ws.close();
    await a.closed;
    for (const d of [2, 3, 4]) await s.publish('news', d);
    const b = await auth(s, 'alice');
    const ack = await b.subscribe('news', last);
    expect(ack).toMatchObject({ resume: 'replayed', replayed: 3, position: { offset: 4 } });
    await s.publish('news', 5);
    const got = [];
    for (let i = 0; i < 4; i++) got.push(await b.next('push'));
    expect(got.map((p) => [p.data, p.position.offset, p.replay ?? false])).toEqual([[2, 2, true], [3, 3, true], [4, 4, true], [5, 5, false]]);
    // nothing missed: since == head replays 0
    const c = await auth(s, 'carol');
    expect(await c.subscribe('news', { epoch: last.epoch, offset: 5 })).toMatchObject({ resume: 'replayed', replayed: 0 });
  });

  it('SUB-9: a resume the server cannot replay is acknowledged with resume unavailable', async () => {
    const s = await start({ historySize: 2 });
    const c = await auth(s, 'alice');
    const epoch = (await c.subscribe('probe')).position.epoch;
    for (let i = 1; i <= 5; i++) await s.publish('news', i);
    const cases = [
      { epoch: 'other-epoch', offset: 4 }, // unknown epoch
      { epoch, offset: 1 }, // older than history (3..5 kept, 2 missed)
      { epoch, offset: 9 }, // ahead of the channel
    ];
    for (const since of cases) {
      const d = await auth(s, `u${since.offset}${since.epoch.length}`);
      const ack = await d.subscribe('news', since);
      expect(ack).toMatchObject({ resume: 'unavailable', position: { epoch, offset: 5 } });
      expect(ack.replayed).toBeUndefined();
    }
    const ok = await auth(s, 'bob');
    expect(await ok.subscribe('news', { epoch, offset: 3 })).toMatchObject({ resume: 'replayed', replayed: 2 });
  });

  it('SUB-11: no push before the subscribed ack; after it, every live push is after subscribed.position', async () => {
    const s = await start();
    const pub = await auth(s, 'publisher');
    const subs = await Promise.all(['a', 'b', 'c', 'd'].map((u) => auth(s, u)));
    // publish continuously while the subscribes are in flight
    for (let i = 0; i < 30; i++) pub.send({ type: 'request', id: `p${i}`, action: 'publish', payload: { channel: 'race', data: i } });
    for (const c of subs) c.send({ type: 'subscribe', channel: 'race', since: undefined });
    for (let i = 30; i < 60; i++) pub.send({ type: 'request', id: `p${i}`, action: 'publish', payload: { channel: 'race', data: i } });
    for (let i = 0; i < 60; i++) await pub.next('response');
    for (const c of subs) {
      await c.roundTrip();
      const seen = c.received.filter((m) => m.type === 'subscribed' || m.type === 'push');
      expect(seen[0]!.type).toBe('subscribed');
      const from = seen[0]!.position.offset;
      const offsets = seen.slice(1).map((m) => m.position.offset);
      expect(offsets).toEqual(Array.from({ length: 60 - from }, (_, i) => from + 1 + i));
    }
  });

  it('LIMIT-4: a subscribe beyond maxSubscriptions gets subscription_limit; the connection keeps its subscriptions', async () => {
    const s = await start({ maxSubscriptions: 2 });
    const c = await auth(s, 'alice');
    await c.subscribe('a');
    await c.subscribe('b');
    c.send({ type: 'subscribe', channel: 'c' });
    expect(await c.next('error')).toMatchObject({ code: 'subscription_limit', channel: 'c' });
    expect((await c.subscribe('a')).channel).toBe('a'); // re-subscribing an existing one is fine
    await s.publish('b', 'still here');
    expect((await c.next('push')).channel).toBe('b');
    c.send({ type: 'unsubscribe', channel: 'a' });
    await c.next('unsubscribed');
    expect((await c.subscribe('c')).channel).toBe('c');
  });

  it('SUB-2: subscriptions die with the connection (no broker listener leaks)', async () => {
    const s = await start();
    const c = await auth(s, 'alice');
    await c.subscribe('x');
    await c.subscribe('y');
    expect((s.broker as MemoryBroker).listenerCount()).toBe(2);
    c.ws.close();
    await c.closed;
    await auth(s, 'bob'); // a round trip through the server after the close was processed
    expect((s.broker as MemoryBroker).listenerCount()).toBe(0);
  });
});
