import { describe, expect, it } from 'vitest';
import { Harness } from './harness.js';

const HB = { heartbeatIntervalMs: 1_000, heartbeatTimeoutMs: 500 };

describe('HB-3, HB-4, HB-6: heartbeat', () => {
  it('HB-3: pings every heartbeatIntervalMs advertised by the server while authenticated', () => {
    const h = new Harness();
    h.connectAndAuth(HB);
    const m = h.mark();
    const t0 = h.now;
    for (let i = 0; i < 5; i++) {
      h.advance(1_000);
      h.server({ type: 'pong' });
    }
    const pings = h.actions.slice(m).filter((a) => a.type === 'send' && a.message.type === 'ping');
    expect(pings).toHaveLength(5);
    expect(h.core.diagnostics().lastPingAt).toBe(t0 + 5_000);
  });

  it('HB-3: uses the advertised params, not the defaults (interval 25 s here)', () => {
    const h = new Harness();
    h.connectAndAuth({ heartbeatIntervalMs: 25_000, heartbeatTimeoutMs: 10_000 });
    const m = h.mark();
    h.advance(24_999);
    expect(h.sent(m)).toEqual([]);
    h.advance(1);
    expect(h.sent(m)).toEqual([{ type: 'ping' }]);
  });

  it('HB-3: when nothing arrives within heartbeatTimeoutMs of a ping the client closes with 4001 and reconnects', () => {
    const h = new Harness();
    h.connectAndAuth(HB);
    const conn = h.conn;
    h.advance(1_000); // ping
    const m = h.mark();
    h.advance(499);
    expect(h.all('close_socket', m)).toEqual([]);
    h.advance(1);
    expect(h.all('close_socket', m)).toEqual([{ type: 'close_socket', conn, code: 4001, reason: 'heartbeat_timeout' }]);
    expect(h.events(m)).toContainEqual(expect.objectContaining({ type: 'closed', code: 4001, willRetry: true, byClient: true }));
    expect(h.state).toBe('reconnecting');
    h.runToReconnect();
    expect(h.state).toBe('connecting');
  });

  it('HB-3: no ping is sent before authenticated', () => {
    const h = new Harness();
    h.do({ type: 'connect' });
    h.giveToken();
    h.open();
    h.advance(14_000);
    expect(h.sent()).toEqual([{ type: 'auth', token: 'tok1' }]);
  });

  it('HB-4: any inbound message (not only pong) proves liveness', () => {
    const h = new Harness();
    h.do({ type: 'subscribe', channel: 'c' });
    h.connectAndAuth(HB);
    h.advance(1_000);
    h.advance(400);
    h.server({ type: 'push', channel: 'c', data: 1, position: { epoch: 'e', offset: 1 }, ts: 1 });
    const m = h.mark();
    h.advance(500);
    expect(h.all('close_socket', m)).toEqual([]);
    expect(h.state).toBe('authenticated');
  });

  it('HB-4: a WebSocket control frame (driver-reported activity) proves liveness', () => {
    const h = new Harness();
    h.connectAndAuth(HB);
    h.advance(1_000);
    h.do({ type: 'socket_activity', conn: h.conn });
    const m = h.mark();
    h.advance(499);
    expect(h.all('close_socket', m)).toEqual([]);
  });

  it('HB-6: check_liveness (page visible again) pings at once and the timeout applies', () => {
    const h = new Harness();
    h.connectAndAuth({ heartbeatIntervalMs: 60_000, heartbeatTimeoutMs: 500 });
    h.advance(10_000);
    const m = h.mark();
    h.do({ type: 'check_liveness' });
    expect(h.sent(m)).toEqual([{ type: 'ping' }]);
    h.advance(500);
    expect(h.last('close_socket')).toMatchObject({ code: 4001 });
  });

  it('HB-6: a timer that fires far too late (frozen tab, sleeping device) re-checks instead of closing a live connection', () => {
    const h = new Harness();
    h.connectAndAuth(HB);
    h.advance(1_000); // ping, deadline +500
    const m = h.mark();
    h.now += 120_000; // the process was frozen; the timer fires two minutes late
    h.do({ type: 'tick' });
    expect(h.all('close_socket', m)).toEqual([]);
    expect(h.sent(m)).toEqual([{ type: 'ping' }]);
    h.server({ type: 'pong' });
    h.advance(600);
    expect(h.state).toBe('authenticated');
  });

  it('HB-3: an unanswered ping is not extended by the next ping', () => {
    const h = new Harness();
    h.connectAndAuth({ heartbeatIntervalMs: 300, heartbeatTimeoutMs: 500 });
    h.advance(300); // ping 1 at +300, deadline +800
    h.advance(300); // ping 2 at +600
    const m = h.mark();
    h.advance(200); // +800
    expect(h.all('close_socket', m)).toEqual([expect.objectContaining({ code: 4001 })]);
  });
});
