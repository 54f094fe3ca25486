import { describe, expect, it } from 'vitest';
import { CLOSE } from '../../../schemas/v1/index.js';
import { auth, connect, expectClosedWith, start, until, useHarness } from './helpers.js';

useHarness();

const fast = { heartbeatIntervalMs: 100, heartbeatTimeoutMs: 100 };

describe('heartbeat', () => {
  it('HB-1: sends ping frames every heartbeatIntervalMs and closes 4001 when nothing answers', async () => {
    const s = await start(fast);
    const c = await auth(s, 'alice', { autoPong: false });
    const t0 = Date.now();
    const closed = await expectClosedWith(c, CLOSE.HEARTBEAT_TIMEOUT);
    expect(closed.reason).toBe('heartbeat_timeout');
    expect(c.pings).toBeGreaterThanOrEqual(1);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(150); // one interval + the timeout
    expect(s.logs.some((e) => e.event === 'heartbeat_timeout')).toBe(true);
  });

  it('HB-1: a half-open peer that never answers the close is terminated', async () => {
    const s = await start({ ...fast, closeGraceMs: 100 });
    const c = await auth(s, 'alice', { autoPong: false });
    const socket = (c.ws as unknown as { _socket: import('node:net').Socket })._socket;
    await new Promise<void>((r) => c.ws.once('ping', () => r()));
    socket.pause(); // stop reading: the close frame is never answered
    await until(() => s.connectionCount() === 0);
    expect(s.logs.some((e) => e.event === 'connection_closed' && e.code === 1006)).toBe(true);
  });

  it('HB-2: answers each ping message with a pong carrying the server time', async () => {
    const s = await start();
    const c = await auth(s, 'alice');
    const t0 = Date.now();
    for (let i = 0; i < 3; i++) c.send({ type: 'ping' });
    for (let i = 0; i < 3; i++) {
      const p = await c.next('pong');
      expect(p.ts).toBeGreaterThanOrEqual(t0 - 1);
    }
    const pre = await connect(s); // also before auth? No: AUTH-3 — ping before auth closes 4400
    pre.send({ type: 'ping' });
    await expectClosedWith(pre, CLOSE.NOT_AUTHENTICATED);
  });

  it('HB-4: any inbound message counts as liveness (no pong frames at all)', async () => {
    const s = await start(fast);
    const c = await auth(s, 'alice', { autoPong: false });
    let answered = 0;
    await new Promise<void>((resolve) => {
      c.ws.on('ping', () => {
        c.send({ type: 'request', id: `hb${answered}`, action: 'echo' }); // a data message instead of a pong
        if (++answered === 5) resolve();
      });
    });
    await c.roundTrip();
    expect(c.isOpen).toBe(true);
  });

  it('HB-5: never closes a connection that sends no ping messages while it answers ping frames', async () => {
    const s = await start(fast);
    const c = await auth(s, 'alice'); // auto-pong on, no app-level pings ever
    await new Promise<void>((resolve) => c.ws.on('ping', () => c.pings >= 6 && resolve()));
    expect(c.isOpen).toBe(true);
    await c.roundTrip();
  });
});
