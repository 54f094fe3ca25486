import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import schema from '../../../../schemas/v1/messages.schema.json' with { type: 'json' };
import { validateServerMessage } from '../../../../schemas/v1/validate.js';
import { closeCodeInfo, parseCloseReason } from '../../../../schemas/v1/close-codes.js';
import { parseInbound, SUPPORTED_KEYWORDS } from '../inbound.js';
import { Harness, TEST_PARAMS } from './harness.js';

/** Schema-invalid and hostile frames a broken server might send (the client-suite battery has more). */
export const HOSTILE: string[] = [
  '{', '', 'null', '42', '"push"', '[]', '{}', '{"type":5}', '{"type":"nope"}', '{"type":"__proto__"}',
  '{"type":"push","channel":"news","data":1,"ts":1}',
  '{"type":"push","channel":"news","data":1,"ts":1,"position":{"epoch":"e","offset":-1}}',
  '{"type":"push","channel":"news","data":1,"ts":1,"position":"e:1"}',
  '{"type":"push","channel":"news","ts":1,"position":{"epoch":"e","offset":1}}',
  '{"type":"push","channel":"news","data":1,"ts":"now","position":{"epoch":"e","offset":1}}',
  '{"type":"push","channel":".bad","data":1,"ts":1,"position":{"epoch":"e","offset":1}}',
  '{"type":"response","requestId":"r1","success":false}',
  '{"type":"response","success":true}',
  '{"type":"response","requestId":"r1","success":"yes"}',
  '{"type":"subscribed","channel":"news"}',
  '{"type":"subscribed","channel":"news","position":{"epoch":"e","offset":0},"resume":"maybe"}',
  '{"type":"unsubscribed"}',
  '{"type":"token_expiring"}',
  '{"type":"error","message":"no code"}',
  '{"type":"pong","ts":"x"}',
];

function authed(): Harness {
  const h = new Harness();
  h.connectAndAuth({ heartbeatIntervalMs: 600_000 });
  h.do({ type: 'subscribe', channel: 'news' });
  h.server({ type: 'subscribed', channel: 'news', position: { epoch: 'e', offset: 0 } });
  return h;
}

describe('ROBUST-1, ROBUST-2: the client validates every server frame', () => {
  it('ROBUST-1: the inbound validator understands every keyword the generated schema uses', () => {
    const seen = new Set<string>();
    const walk = (x: unknown, inProps = false): void => {
      if (Array.isArray(x)) x.forEach((y) => walk(y));
      else if (x && typeof x === 'object') {
        for (const [k, v] of Object.entries(x)) {
          if (!inProps) seen.add(k);
          walk(v, k === 'properties' || k === 'definitions');
        }
      }
    };
    walk(schema);
    expect([...seen].filter((k) => !SUPPORTED_KEYWORDS.includes(k))).toEqual([]);
  });

  it('ROBUST-1: property: the inbound validator agrees with ajv on mutated server messages', () => {
    const base = [
      { type: 'authenticated', userId: 'u', sessionId: 's', protocol: 'mooring.v1', params: TEST_PARAMS },
      { type: 'push', channel: 'news', data: { a: 1 }, position: { epoch: 'e', offset: 3 }, ts: 5, replay: true },
      { type: 'response', requestId: 'r1', success: false, error: { code: 'timeout', message: 'm' } },
      { type: 'response', requestId: 'r1', success: true, data: null },
      { type: 'subscribed', channel: 'news', position: { epoch: 'e', offset: 0 }, resume: 'replayed', replayed: 0 },
      { type: 'error', code: 'forbidden', message: 'x', channel: 'c' },
      { type: 'token_expiring', expiresAt: 1 },
      { type: 'pong' },
    ];
    const value = fc.oneof(fc.constant(undefined), fc.integer({ min: -2, max: 2 }), fc.string({ maxLength: 3 }), fc.constant(null), fc.boolean(), fc.constant(0).map(() => ({})), fc.double());
    fc.assert(
      fc.property(fc.constantFrom(...base), fc.array(fc.tuple(fc.nat(20), value), { maxLength: 3 }), (m, edits) => {
        const msg = structuredClone(m) as Record<string, unknown>;
        for (const [i, v] of edits) {
          const keys = Object.keys(msg);
          const k = keys[i % keys.length]!;
          const target = typeof msg[k] === 'object' && msg[k] !== null && i % 2 === 0 ? (msg[k] as Record<string, unknown>) : msg;
          const kk = target === msg ? k : Object.keys(target)[i % Math.max(1, Object.keys(target).length)] ?? 'x';
          if (v === undefined) delete target[kk];
          else target[kk] = v;
        }
        const text = JSON.stringify(msg);
        expect(parseInbound(text).kind === 'message').toBe(validateServerMessage(JSON.parse(text)).ok);
      }),
      { numRuns: 400 },
    );
  });

  it.each(HOSTILE.map((f) => [f]))('ROBUST-1: ignores and logs %s, stays connected and delivers the next push', (frame) => {
    const h = authed();
    const m = h.mark();
    expect(() => h.do({ type: 'socket_message', conn: h.conn, text: frame })).not.toThrow();
    expect(h.all('close_socket', m)).toEqual([]);
    expect(h.all('push', m)).toEqual([]);
    expect(h.events(m)).toContainEqual({ type: 'invalid_frame', message: expect.any(String) });
    expect(h.core.diagnostics().log.some((e) => e.kind === 'invalid')).toBe(true);
    expect(h.core.diagnostics().invalidFrames).toBe(1);
    h.server({ type: 'push', channel: 'news', data: 'ok', position: { epoch: 'e', offset: 1 }, ts: 1 });
    expect(h.all('push', m)).toHaveLength(1);
    expect(h.state).toBe('authenticated');
  });

  it('ROBUST-1: a __proto__ property is only data (no prototype pollution)', () => {
    const h = authed();
    h.do({ type: 'socket_message', conn: h.conn, text: '{"type":"push","channel":"news","data":1,"ts":1,"position":{"epoch":"e","offset":1},"__proto__":{"polluted":true}}' });
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(h.state).toBe('authenticated');
  });

  it('ROBUST-1: a failed response without error does not settle the pending request; the real one does', () => {
    const h = authed();
    const id = h.request('echo', 1);
    h.server({ type: 'response', requestId: id, success: false });
    expect(h.all('reject')).toEqual([]);
    h.server({ type: 'response', requestId: id, success: true, data: 1 });
    expect(h.last('resolve')).toEqual({ type: 'resolve', id, data: 1 });
  });

  it('VER-7: unknown properties (also in params) are ignored', () => {
    const h = new Harness();
    h.do({ type: 'connect' });
    h.giveToken();
    h.open();
    h.server({ type: 'authenticated', userId: 'u', sessionId: 's', protocol: 'mooring.v1', params: { ...TEST_PARAMS, future: 1 }, extra: { x: 1 } });
    expect(h.state).toBe('authenticated');
  });

  it('ROBUST-2: an authenticated with invalid params while connecting closes (1000 normal_closure) and backs off as a failed attempt', () => {
    const h = new Harness({ random: () => 0 });
    h.do({ type: 'connect' });
    h.giveToken();
    h.open();
    const m = h.mark();
    h.server({ type: 'authenticated', userId: 'u', sessionId: 's', protocol: 'mooring.v1', params: {} });
    expect(h.all('close_socket', m)).toEqual([{ type: 'close_socket', conn: 1, code: 1000, reason: 'normal_closure' }]);
    expect(h.state).toBe('reconnecting');
    expect(h.core.diagnostics().attempt).toBe(1);
    expect(h.runToReconnect()).toBe(500);
  });

  it('ROBUST-2: a second authenticated without params closes and reconnects; the session params are never reset', () => {
    const h = authed();
    const m = h.mark();
    h.server({ type: 'authenticated', userId: 'u', sessionId: 's' });
    expect(h.all('close_socket', m)).toHaveLength(1);
    expect(h.state).toBe('reconnecting');
    expect(h.core.sessionParams.requestTimeoutMs).toBe(TEST_PARAMS.requestTimeoutMs);
  });

  it('ROBUST-2: params {} in a re-authentication never turn off pings and request timeouts', () => {
    const h = authed();
    h.server({ type: 'authenticated', userId: 'u', sessionId: 's', protocol: 'mooring.v1', params: {} });
    expect(h.core.sessionParams.heartbeatIntervalMs).toBe(600_000);
    expect(h.state).toBe('reconnecting');
  });
});

describe('ERR-6: the client closes with registry names only', () => {
  const registryReason = (code: number, reason: string) => {
    const p = parseCloseReason(reason);
    return reason === '' || (closeCodeInfo(code)?.name === p.name && /^[a-z_]+(;retry=\d{1,9})?$/.test(reason));
  };
  it('ERR-6: close(), reconnect(), heartbeat and connect timeouts and protocol errors use registry reasons', () => {
    const h = new Harness({ connectTimeoutMs: 3_000 });
    h.connectAndAuth();
    h.do({ type: 'reconnect' }); // force reconnect: 1000
    h.advance(0);
    h.completeConnect();
    h.advance(TEST_PARAMS.heartbeatIntervalMs + TEST_PARAMS.heartbeatTimeoutMs); // 4001
    h.runToReconnect();
    h.giveToken();
    h.advance(3_000); // connect timeout: 4001
    h.runToReconnect();
    h.completeConnect();
    h.server({ type: 'authenticated' }); // protocol error
    h.runToReconnect();
    h.completeConnect();
    h.do({ type: 'close' });
    const closes = h.all('close_socket');
    expect(closes.map((c) => c.code)).toEqual([1000, 4001, 4001, 1000, 1000]);
    for (const c of closes) expect(registryReason(c.code, c.reason), `${c.code} ${c.reason}`).toBe(true);
  });
});

describe('maxAttempts and the down alert', () => {
  it('RECON-1: maxAttempts consecutive failed attempts end in state gave_up; connect() starts again', () => {
    const h = new Harness({ maxAttempts: 3, random: () => 0 });
    h.do({ type: 'connect' });
    const waiting = h.request('echo', 1);
    h.giveToken();
    h.serverClose(1006);
    h.runToReconnect();
    h.giveToken();
    h.serverClose(1006);
    h.runToReconnect();
    h.giveToken();
    const m = h.mark();
    h.serverClose(1006);
    expect(h.state).toBe('gave_up');
    expect(h.events(m)).toContainEqual({ type: 'gave_up', attempts: 3, lastCode: 1006 });
    expect(h.all('reject', m)).toContainEqual(expect.objectContaining({ id: waiting, code: 'closed' }));
    expect(h.core.nextDeadline()).toBeUndefined();
    h.do({ type: 'connect' });
    expect(h.state).toBe('connecting');
  });

  it('RECON-2: a stable session resets the count towards maxAttempts', () => {
    const h = new Harness({ maxAttempts: 2, random: () => 0, backoff: { stableAfterMs: 100 } });
    h.do({ type: 'connect' });
    h.giveToken();
    h.serverClose(1006);
    h.runToReconnect();
    h.completeConnect({ heartbeatIntervalMs: 600_000 });
    h.advance(100);
    h.serverClose(1006);
    expect(h.state).toBe('reconnecting');
  });

  it('RECON-1: a down event fires once when there was no session for downAlertMs, counted from the loss', () => {
    const h = new Harness({ downAlertMs: 5_000, random: () => 0 });
    h.connectAndAuth({ heartbeatIntervalMs: 600_000 });
    h.advance(60_000);
    expect(h.events().filter((e) => e.type === 'down')).toEqual([]);
    const lost = h.now;
    h.serverClose(1006);
    for (let i = 0; i < 6; i++) {
      h.runToReconnect();
      h.giveToken();
      h.serverClose(1006);
    }
    h.advance(20_000);
    const downs = h.events().filter((e) => e.type === 'down');
    expect(downs).toEqual([{ type: 'down', since: lost, forMs: 5_000 }]);
    expect(h.core.diagnostics().downSince).toBe(lost);
  });
});

describe('ROBUST-3: each push at most once, in order', () => {
  it('ROBUST-3: a replay overlapping what was delivered is deduplicated; older and equal positions are dropped', () => {
    const h = authed();
    const push = (offset: number, replay = false) =>
      h.server({ type: 'push', channel: 'news', data: offset, position: { epoch: 'e', offset }, ts: 1, ...(replay ? { replay } : {}) });
    push(1);
    push(2);
    push(3);
    push(2, true);
    push(3, true);
    push(1);
    push(4, true);
    push(5);
    expect(h.all('push').map((p) => p.data)).toEqual([1, 2, 3, 4, 5]);
  });
});
