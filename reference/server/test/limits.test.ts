import { describe, expect, it } from 'vitest';
import { CLOSE, parseCloseReason } from '../../../schemas/v1/index.js';
import { auth, connect, expectClosedWith, start, until, useHarness } from './helpers.js';

useHarness();

describe('rate limit, sessions and limits', () => {
  it('RATE-1: closes every connection of a user over the limit with 4429 and a retry hint', async () => {
    const s = await start({ rateLimit: { messages: 5, windowMs: 10_000 }, sessionPolicy: 'multiple' });
    const a = await auth(s, 'alice');
    const b = await auth(s, 'alice');
    const other = await auth(s, 'bob');
    for (let i = 0; i < 3; i++) a.send({ type: 'ping' });
    for (let i = 0; i < 3; i++) b.send({ type: 'ping' }); // the 6th message of alice, across connections
    const [ca, cb] = await Promise.all([expectClosedWith(a, CLOSE.RATE_LIMITED), expectClosedWith(b, CLOSE.RATE_LIMITED)]);
    for (const c of [ca, cb]) {
      const r = parseCloseReason(c.reason);
      expect(r.name).toBe('rate_limited');
      expect(r.retryAfterMs).toBeGreaterThan(9_000);
      expect(r.retryAfterMs).toBeLessThanOrEqual(10_000);
    }
    await other.roundTrip(); // bob is not affected
    expect(s.logs.some((e) => e.event === 'rate_limited' && e.userId === 'alice')).toBe(true);
  });

  it('RATE-2: never closes a user who stays within the limit', async () => {
    const s = await start({ rateLimit: { messages: 10, windowMs: 10_000 } });
    const c = await auth(s, 'alice');
    for (let i = 0; i < 9; i++) c.send({ type: 'ping' });
    for (let i = 0; i < 9; i++) await c.next('pong');
    await c.roundTrip(); // the 10th message: exactly at the limit
    expect(c.isOpen).toBe(true);
  });

  it('RATE-3: the limit counts per user across connections: reconnecting does not reset it', async () => {
    const s = await start({ rateLimit: { messages: 4, windowMs: 10_000 } });
    const a = await auth(s, 'alice');
    for (let i = 0; i < 4; i++) await a.roundTrip();
    a.ws.close();
    await a.closed;
    const b = await auth(s, 'alice'); // auth itself is not counted
    b.send({ type: 'ping' });
    expect(parseCloseReason((await expectClosedWith(b, CLOSE.RATE_LIMITED)).reason).name).toBe('rate_limited');
  });

  it('SESS-1: with sessionPolicy single, a new session closes the older one with 4002', async () => {
    const s = await start();
    const old = await auth(s, 'alice');
    const bob = await auth(s, 'bob');
    const fresh = await auth(s, 'alice');
    expect((await expectClosedWith(old, CLOSE.SESSION_REPLACED)).reason).toBe('session_replaced');
    await fresh.roundTrip();
    await bob.roundTrip();
    expect(s.logs.some((e) => e.event === 'session_replaced')).toBe(true);
    const m = await start({ sessionPolicy: 'multiple' });
    const x = await auth(m, 'alice');
    const y = await auth(m, 'alice');
    await x.roundTrip();
    await y.roundTrip();
    expect(x.isOpen && y.isOpen).toBe(true);
  });

  it('LIMIT-1: closes with 1009 a connection that sends more than maxPayloadBytes', async () => {
    const s = await start({ maxPayloadBytes: 1024 });
    const c = await auth(s, 'alice');
    const ok = await auth(s, 'bob');
    expect((await c.request('echo', 'x'.repeat(900))).success).toBe(true);
    c.send({ type: 'request', id: 'big', action: 'echo', payload: 'x'.repeat(2000) });
    await expectClosedWith(c, CLOSE.MESSAGE_TOO_BIG);
    await ok.roundTrip();
    expect(s.logs.some((e) => e.event === 'message_invalid' && e.reason === 'payload_too_large')).toBe(true);
  });

  it('LIMIT-3: closes a slow consumer with 4509 while other subscribers keep receiving', async () => {
    const s = await start({ maxBufferedBytes: 64 * 1024, closeGraceMs: 200 });
    const slow = await auth(s, 'slow');
    const fastC = await auth(s, 'fast');
    await slow.subscribe('firehose');
    await fastC.subscribe('firehose');
    const socket = (slow.ws as unknown as { _socket: import('node:net').Socket })._socket;
    socket.pause(); // the slow client stops reading
    const payload = 'y'.repeat(8 * 1024);
    let received = 0;
    // Publish until the server gives up on the slow consumer; the fast one reads everything.
    for (let i = 0; i < 2000 && !s.logs.some((e) => e.event === 'slow_consumer'); i++) {
      await s.publish('firehose', payload);
      await fastC.next('push');
      received++;
    }
    expect(s.logs.some((e) => e.event === 'slow_consumer' && e.userId === 'slow')).toBe(true);
    for (let i = 0; i < 10; i++) {
      await s.publish('firehose', 'after');
      expect((await fastC.next('push')).data).toBe('after');
    }
    socket.resume();
    const closed = await slow.closed;
    expect([CLOSE.SLOW_CONSUMER, 1006]).toContain(closed.code); // 4509, unless terminated before the frame got through
    expect(received).toBeGreaterThan(0);
    await until(() => s.logs.some((e) => e.event === 'connection_closed' && e.userId === 'slow'));
  });

  it('LIMIT-2: (see handshake.test.ts) per-IP slots are released when connections close', async () => {
    const s = await start({ maxConnectionsPerIp: 1 });
    for (let i = 0; i < 3; i++) {
      const c = await connect(s);
      c.ws.close();
      await c.closed;
    }
  });
});
