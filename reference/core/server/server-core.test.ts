/** The sans-I/O core driven with a fake clock and injected randomness: no sockets, no waits. */
import { describe, expect, it } from 'vitest';
import { CLOSE, DEFAULT_PARAMS } from '../../../schemas/v1/index.js';
import { ServerCore } from './server-core.js';
import type { ChannelPush, ServerAction, ServerCoreOptions, TokenRecord } from './types.js';

type Params = Partial<ServerCoreOptions['params']>;

function setup(params: Params = {}, extra: Partial<ServerCoreOptions> = {}) {
  const core = new ServerCore({ params: { ...DEFAULT_PARAMS, ...params }, random: () => 0.5, tokenWarningMs: 1_000, ...extra });
  const tokens = new Map<string, TokenRecord>();
  const run = (ev: Parameters<ServerCore['handle']>[0]) => core.handle(ev).filter((a) => a.type !== 'log');
  const sent = (acts: ServerAction[], conn?: number) => acts.flatMap((a) =>
    a.type === 'send' ? (conn === undefined || a.conn === conn ? [a.message as any] : [])
      : a.type === 'fanout' ? [...a.conns].filter((c) => conn === undefined || c === conn).map(() => a.message as any) : []);
  const closes = (acts: ServerAction[]) => acts.flatMap((a) => (a.type === 'close' ? [{ conn: a.conn, code: a.code, reason: a.reason }] : []));
  /** Opens conn and authenticates it as user (token lookups answered from `tokens`). */
  function login(conn: number, user: string, now = 0, expiresAt: number | null = null): ServerAction[] {
    run({ type: 'open', now, conn, ip: '127.0.0.1' });
    const acts = run({ type: 'text', now, conn, text: JSON.stringify({ type: 'auth', token: `t-${user}` }) });
    const v = acts.find((a) => a.type === 'verifyToken')!;
    if (v.type !== 'verifyToken') throw new Error();
    return run({ type: 'tokenResult', now, conn, verifyId: v.verifyId, record: tokens.get(v.token) ?? { userId: user, expiresAt } });
  }
  const text = (conn: number, m: object, now = 0) => run({ type: 'text', now, conn, text: JSON.stringify(m) });
  const tick = (now: number) => run({ type: 'tick', now });
  return { core, run, sent, closes, login, text, tick, tokens };
}

const push = (offset: number, data: unknown = offset, epoch = 'e'): ChannelPush => ({ channel: 'c', data, position: { epoch, offset }, ts: 1_000 + offset });

describe('ServerCore: auth', () => {
  it('AUTH-14, AUTH-17, AUTH-18: tokensChanged closes sessions of revoked tokens 4401, moves expiries of changed ones, and follows re-authentication to the new token', () => {
    const { run, closes, sent, login, text, tick, tokens } = setup({ sessionPolicy: 'multiple', heartbeatIntervalMs: 600_000 });
    tokens.set('t-a', { userId: 'a', expiresAt: null, tokenId: 'ta' });
    tokens.set('t-b', { userId: 'b', expiresAt: null, tokenId: 'tb' });
    tokens.set('t-c', { userId: 'c', expiresAt: null, tokenId: 'tc' });
    tokens.set('t-c2', { userId: 'c', expiresAt: null, tokenId: 'tc2' });
    login(1, 'a');
    login(2, 'b');
    login(3, 'c');
    // AUTH-18: conn 3 moves to token tc2 in-band
    const v = text(3, { type: 'auth', token: 't-c2' }).find((x) => x.type === 'verifyToken')!;
    run({ type: 'tokenResult', now: 0, conn: 3, verifyId: (v as any).verifyId, record: tokens.get('t-c2')! });
    // AUTH-14: ta revoked (and tc, no longer conn 3's current token); AUTH-17: tb expires at 5_000
    const acts = run({ type: 'tokensChanged', now: 10, revoked: ['ta', 'tc'], expiry: [{ id: 'tb', expiresAt: 5_000 }] });
    expect(closes(acts)).toEqual([{ conn: 1, code: CLOSE.UNAUTHORIZED, reason: 'unauthorized' }]);
    expect(sent(acts, 2)).toEqual([]); // the new expiry is 4_990 ms away; the warning comes tokenWarningMs (1_000) before it
    expect(sent(tick(3_999), 2)).toEqual([]);
    expect(sent(tick(4_000), 2)).toEqual([{ type: 'token_expiring', expiresAt: 5_000 }]);
    expect(closes(tick(5_000))).toEqual([{ conn: 2, code: CLOSE.TOKEN_EXPIRED, reason: 'token_expired' }]);
    expect(closes(tick(10_000))).toEqual([]); // conn 3 stays
  });

  it('AUTH-2: closes 4408 exactly at authTimeoutMs and terminates after the grace', () => {
    const { core, run, tick, closes } = setup({ authTimeoutMs: 500, heartbeatIntervalMs: 10_000 }, { closeGraceMs: 100 });
    run({ type: 'open', now: 0, conn: 1, ip: 'x' });
    expect(core.nextDeadline()).toBe(500);
    expect(closes(tick(499))).toEqual([]);
    expect(closes(tick(500))).toEqual([{ conn: 1, code: CLOSE.AUTH_TIMEOUT, reason: 'auth_timeout' }]);
    expect(core.nextDeadline()).toBe(600);
    expect(tick(600)).toEqual([{ type: 'terminate', conn: 1 }]);
    run({ type: 'closed', now: 601, conn: 1, code: 1006, reason: '' });
    expect(core.connectionCount()).toBe(0);
    expect(core.nextDeadline()).toBeUndefined();
  });

  it('AUTH-3: any message while the verification is in flight closes 4400; the late result is ignored', () => {
    const { run, closes, text } = setup();
    run({ type: 'open', now: 0, conn: 1, ip: 'x' });
    const v = text(1, { type: 'auth', token: 't' })[0]!;
    expect(v.type).toBe('verifyToken');
    expect(closes(text(1, { type: 'ping' }))).toEqual([{ conn: 1, code: CLOSE.NOT_AUTHENTICATED, reason: 'not_authenticated' }]);
    expect(run({ type: 'tokenResult', now: 1, conn: 1, verifyId: (v as any).verifyId, record: { userId: 'u', expiresAt: null } })).toEqual([]);
  });

  it('AUTH-4, AUTH-11: unknown token closes 4401, expired 4419', () => {
    const { run, closes, text } = setup();
    for (const [conn, record, code] of [[1, null, CLOSE.UNAUTHORIZED], [2, { userId: 'u', expiresAt: 10 }, CLOSE.TOKEN_EXPIRED]] as const) {
      run({ type: 'open', now: 0, conn, ip: 'x' });
      const v = text(conn, { type: 'auth', token: 't' })[0] as any;
      expect(closes(run({ type: 'tokenResult', now: 10, conn, verifyId: v.verifyId, record }))[0]!.code).toBe(code);
    }
  });

  it('AUTH-5: authenticated carries userId, a session id from the injected random, protocol and params', () => {
    const { sent, login } = setup();
    const [a] = sent(login(1, 'alice', 0, 5_000));
    expect(a).toEqual({
      type: 'authenticated', userId: 'alice', sessionId: 'ffffffffffffffff', protocol: 'mooring.v1',
      params: { ...DEFAULT_PARAMS, tokenExpiresAt: 5_000 }, userChannel: 'user:alice', server: { name: 'mooring-reference', version: '0.0.0' },
    });
  });

  it('AUTH-8: token_expiring at expiresAt - tokenWarningMs, close 4419 at expiry, unless re-authenticated', () => {
    const { core, sent, closes, login, tick, text, run } = setup({ heartbeatIntervalMs: 100_000 });
    login(1, 'alice', 0, 5_000);
    expect(core.nextDeadline()).toBe(4_000);
    expect(sent(tick(3_999))).toEqual([]);
    expect(sent(tick(4_000))).toEqual([{ type: 'token_expiring', expiresAt: 5_000 }]);
    expect(core.nextDeadline()).toBe(5_000);
    expect(closes(tick(5_000))).toEqual([{ conn: 1, code: CLOSE.TOKEN_EXPIRED, reason: 'token_expired' }]);
    // a re-auth moves the expiry
    login(2, 'bob', 0, 5_000);
    const v = text(2, { type: 'auth', token: 'new' }, 4_500)[0] as any;
    const re = sent(run({ type: 'tokenResult', now: 4_600, conn: 2, verifyId: v.verifyId, record: { userId: 'bob', expiresAt: 50_000 } }));
    expect(re[0]).toMatchObject({ type: 'authenticated', userId: 'bob', params: { tokenExpiresAt: 50_000 } });
    expect(closes(tick(5_000))).toEqual([]);
    expect(sent(tick(48_999))).toEqual([]);
    expect(sent(tick(49_000))).toEqual([{ type: 'token_expiring', expiresAt: 50_000 }]);
  });

  it('AUTH-8: a token already inside the warning window is warned at once', () => {
    const { sent, login } = setup();
    expect(sent(login(1, 'alice', 0, 500)).map((m) => m.type)).toEqual(['authenticated', 'token_expiring']);
  });

  it('AUTH-9: re-auth as another user gets user_mismatch and keeps identity; unknown token closes 4401', () => {
    const { run, sent, closes, login, text } = setup();
    login(1, 'alice');
    let v = text(1, { type: 'auth', token: 'x' })[0] as any;
    expect(sent(run({ type: 'tokenResult', now: 1, conn: 1, verifyId: v.verifyId, record: { userId: 'bob', expiresAt: null } }))).toEqual([
      { type: 'error', code: 'user_mismatch', message: 'the token belongs to another user' },
    ]);
    expect(sent(text(1, { type: 'ping' }, 2))).toEqual([{ type: 'pong', ts: 2 }]); // other messages still served, during and after
    v = text(1, { type: 'auth', token: 'y' })[0] as any;
    expect(closes(run({ type: 'tokenResult', now: 3, conn: 1, verifyId: v.verifyId, record: null }))[0]!.code).toBe(CLOSE.UNAUTHORIZED);
  });
});

describe('ServerCore: heartbeat', () => {
  it('HB-1: pings every interval; 4001 when nothing arrives within the timeout; any frame resets (HB-4)', () => {
    const { core, run, tick, closes } = setup({ heartbeatIntervalMs: 1_000, heartbeatTimeoutMs: 300, authTimeoutMs: 100_000 });
    run({ type: 'open', now: 0, conn: 1, ip: 'x' });
    expect(tick(1_000)).toEqual([{ type: 'ping', conn: 1 }]);
    expect(core.nextDeadline()).toBe(1_300);
    run({ type: 'activity', now: 1_100, conn: 1 }); // pong frame
    expect(closes(tick(1_300))).toEqual([]);
    expect(tick(2_000)).toEqual([{ type: 'ping', conn: 1 }]);
    run({ type: 'binary', now: 2_200, conn: 1 }); // any data frame counts too
    expect(tick(3_000)).toEqual([{ type: 'ping', conn: 1 }]);
    expect(closes(tick(3_300))).toEqual([{ conn: 1, code: CLOSE.HEARTBEAT_TIMEOUT, reason: 'heartbeat_timeout' }]);
  });

  it('HB-5: a connection that answers ping frames but never sends app pings is never closed', () => {
    const { tick, run, closes, login } = setup({ heartbeatIntervalMs: 1_000, heartbeatTimeoutMs: 300 });
    login(1, 'alice');
    for (let t = 1_000; t <= 60_000; t += 1_000) {
      expect(closes(tick(t))).toEqual([]);
      run({ type: 'activity', now: t + 10, conn: 1 });
    }
  });
});

describe('ServerCore: rate limit and sessions', () => {
  it('RATE-1: the excess message closes every connection of the user with a retry hint', () => {
    const { text, closes, login } = setup({ rateLimit: { messages: 2, windowMs: 1_000 }, sessionPolicy: 'multiple' });
    login(1, 'alice');
    login(2, 'alice');
    login(3, 'bob');
    text(1, { type: 'ping' }, 100);
    text(2, { type: 'ping' }, 200);
    expect(closes(text(1, { type: 'ping' }, 300))).toEqual([
      { conn: 1, code: CLOSE.RATE_LIMITED, reason: 'rate_limited;retry=800' },
      { conn: 2, code: CLOSE.RATE_LIMITED, reason: 'rate_limited;retry=800' },
    ]);
  });

  it('SESS-1: single policy closes the older session with 4002; multiple keeps both', () => {
    const single = setup();
    single.login(1, 'alice');
    expect(single.closes(single.login(2, 'alice'))).toEqual([{ conn: 1, code: CLOSE.SESSION_REPLACED, reason: 'session_replaced' }]);
    expect(single.core.sessionCount('alice')).toBe(1);
    const multi = setup({ sessionPolicy: 'multiple' });
    multi.login(1, 'alice');
    expect(multi.closes(multi.login(2, 'alice'))).toEqual([]);
    expect(multi.core.sessionCount('alice')).toBe(2);
  });
});

describe('ServerCore: requests', () => {
  it('REQ-1, REQ-4: one response per request; duplicate pending ids are refused; late results for closed connections dropped', () => {
    const { run, sent, login, text } = setup();
    login(1, 'alice');
    expect(text(1, { type: 'request', id: 'a', action: 'echo', payload: 1 })).toEqual([
      { type: 'dispatch', conn: 1, requestId: 'a', action: 'echo', payload: 1, userId: 'alice' },
    ]);
    expect(sent(text(1, { type: 'request', id: 'a', action: 'echo' }))).toEqual([
      { type: 'error', code: 'duplicate_request_id', message: 'a request with this id is still pending', requestId: 'a' },
    ]);
    const res = { type: 'actionResult', now: 1, conn: 1, requestId: 'a', outcome: { ok: true, data: 1 } } as const;
    expect(sent(run(res))).toEqual([{ type: 'response', requestId: 'a', success: true, data: 1 }]);
    expect(run(res)).toEqual([]); // never a second response
    text(1, { type: 'request', id: 'b', action: 'sleep' });
    run({ type: 'closed', now: 2, conn: 1, code: 1000, reason: '' });
    expect(run({ ...res, requestId: 'b' })).toEqual([]);
  });

  it('LIMIT-5: a request beyond maxPendingRequests gets error too_many_requests, is not dispatched, and the connection stays open', () => {
    const { run, sent, closes, login, text } = setup({ maxPendingRequests: 2 });
    login(1, 'alice');
    login(2, 'bob');
    const dispatched = (acts: ServerAction[]) => acts.filter((a) => a.type === 'dispatch').map((a) => (a as any).requestId);
    expect(dispatched(text(1, { type: 'request', id: 'a', action: 'sleep' }))).toEqual(['a']);
    expect(dispatched(text(1, { type: 'request', id: 'b', action: 'sleep' }))).toEqual(['b']);
    const refused = text(1, { type: 'request', id: 'c', action: 'echo' });
    expect(dispatched(refused)).toEqual([]);
    expect(closes(refused)).toEqual([]);
    expect(sent(refused)).toEqual([
      { type: 'error', code: 'too_many_requests', message: 'at most 2 pending requests per connection', requestId: 'c' },
    ]);
    // REQ-4 is checked first: a duplicate of a pending id is still a duplicate at the limit.
    expect(sent(text(1, { type: 'request', id: 'a', action: 'echo' }))[0]).toMatchObject({ code: 'duplicate_request_id', requestId: 'a' });
    // the limit is per connection: another connection is not affected
    expect(dispatched(text(2, { type: 'request', id: 'a', action: 'echo' }))).toEqual(['a']);
    // the pending ones are still answered; a refused id never gets a response
    expect(sent(run({ type: 'actionResult', now: 1, conn: 1, requestId: 'c', outcome: { ok: true } }))).toEqual([]);
    expect(sent(run({ type: 'actionResult', now: 1, conn: 1, requestId: 'a', outcome: { ok: true } }))).toEqual([{ type: 'response', requestId: 'a', success: true }]);
    // one slot is free again
    expect(dispatched(text(1, { type: 'request', id: 'c', action: 'echo' }))).toEqual(['c']);
    expect(sent(text(1, { type: 'request', id: 'd', action: 'echo' }))[0]).toMatchObject({ code: 'too_many_requests', requestId: 'd' });
  });

  it('LIMIT-5: without maxPendingRequests in the params there is no limit', () => {
    // A core configured like a revision 1.0 server: the optional param is absent.
    const { maxPendingRequests: _omitted, ...params } = { ...DEFAULT_PARAMS, rateLimit: { messages: 1_000, windowMs: 10_000 } };
    const core = new ServerCore({ params, random: () => 0.5 });
    core.handle({ type: 'open', now: 0, conn: 1, ip: 'x' });
    const v = core.handle({ type: 'text', now: 0, conn: 1, text: JSON.stringify({ type: 'auth', token: 't' }) }).find((a) => a.type === 'verifyToken') as any;
    const [auth] = core.handle({ type: 'tokenResult', now: 0, conn: 1, verifyId: v.verifyId, record: { userId: 'u', expiresAt: null } }).filter((a) => a.type === 'send') as any[];
    expect(auth.message.params).not.toHaveProperty('maxPendingRequests');
    for (let i = 0; i < 150; i++) {
      const acts = core.handle({ type: 'text', now: 0, conn: 1, text: JSON.stringify({ type: 'request', id: `r${i}`, action: 'sleep' }) });
      expect(acts.filter((a) => a.type !== 'log')[0]).toMatchObject({ type: 'dispatch' });
    }
  });
});

describe('ServerCore: pub/sub', () => {
  it('SUB-8: live pushes during the history read are merged with the replay, no gap, no duplicate', () => {
    const { run, sent, login, text } = setup();
    login(1, 'alice');
    const [read] = text(1, { type: 'subscribe', channel: 'c', since: { epoch: 'e', offset: 1 } });
    expect(read).toMatchObject({ type: 'readChannel', channel: 'c', since: { epoch: 'e', offset: 1 } });
    // the driver listens first: pushes 4 and 5 arrive before the history read (which already has 4)
    expect(sent(run({ type: 'brokerPush', now: 5, push: push(4) }))).toEqual([]);
    expect(sent(run({ type: 'brokerPush', now: 5, push: push(5) }))).toEqual([]);
    const out = sent(run({ type: 'channelRead', now: 6, conn: 1, fetchId: (read as any).fetchId, channel: 'c', read: { head: { epoch: 'e', offset: 4 }, missed: [push(2), push(3), push(4)] } }));
    expect(out.map((m) => [m.type, m.position?.offset, m.replay ?? m.resume])).toEqual([
      ['subscribed', 4, 'replayed'], ['push', 2, true], ['push', 3, true], ['push', 4, true], ['push', 5, undefined],
    ]);
    expect(out[0].replayed).toBe(3);
    // a duplicate delivery from the broker (e.g. two listeners during a handover) is dropped
    expect(sent(run({ type: 'brokerPush', now: 7, push: push(5) }))).toEqual([]);
    expect(sent(run({ type: 'brokerPush', now: 7, push: push(6) }))[0].position.offset).toBe(6);
  });

  it('SUB-9: an unavailable resume is acknowledged as such; live pushes after the head follow', () => {
    const { run, sent, login, text } = setup();
    login(1, 'alice');
    const [read] = text(1, { type: 'subscribe', channel: 'c', since: { epoch: 'old', offset: 9 } }) as any[];
    run({ type: 'brokerPush', now: 1, push: push(3) });
    const out = sent(run({ type: 'channelRead', now: 2, conn: 1, fetchId: read.fetchId, channel: 'c', read: { head: { epoch: 'e', offset: 2 }, missed: 'unavailable' } }));
    expect(out).toEqual([
      { type: 'subscribed', channel: 'c', position: { epoch: 'e', offset: 2 }, resume: 'unavailable' },
      { type: 'push', channel: 'c', data: 3, position: { epoch: 'e', offset: 3 }, ts: 1_003 },
    ]);
  });

  it('SUB-2, SUB-3, SUB-7: subscribe, unsubscribe, subscribe sent back to back are answered in order, each subscribe acked', () => {
    const { run, sent, login, text } = setup();
    login(1, 'alice');
    const [read] = text(1, { type: 'subscribe', channel: 'c' }) as any[];
    expect(text(1, { type: 'unsubscribe', channel: 'c' })).toEqual([]);
    expect(text(1, { type: 'subscribe', channel: 'c', since: { epoch: 'e', offset: 0 } })).toEqual([]);
    const acts = run({ type: 'channelRead', now: 1, conn: 1, fetchId: read.fetchId, channel: 'c', read: { head: { epoch: 'e', offset: 0 } } });
    expect(sent(acts)).toEqual([
      { type: 'subscribed', channel: 'c', position: { epoch: 'e', offset: 0 } },
      { type: 'unsubscribed', channel: 'c' },
    ]);
    const again = acts.find((a) => a.type === 'readChannel') as any; // the third message starts a new subscription
    expect(again).toMatchObject({ channel: 'c', since: { epoch: 'e', offset: 0 } });
    expect(sent(run({ type: 'channelRead', now: 2, conn: 1, fetchId: again.fetchId, channel: 'c', read: { head: { epoch: 'e', offset: 0 }, missed: [] } }))).toEqual([
      { type: 'subscribed', channel: 'c', position: { epoch: 'e', offset: 0 }, resume: 'replayed', replayed: 0 },
    ]);
  });

  it('SUB-3, SUB-7, LIMIT-4: idempotent subscribe, unsubscribe releases the channel, limit per connection', () => {
    const { run, sent, login, text } = setup({ maxSubscriptions: 1 });
    login(1, 'alice');
    const [read] = text(1, { type: 'subscribe', channel: 'c' }) as any[];
    expect(text(1, { type: 'subscribe', channel: 'c' })).toEqual([]); // deferred: answered after the first ack
    const acks = sent(run({ type: 'channelRead', now: 1, conn: 1, fetchId: read.fetchId, channel: 'c', read: { head: { epoch: 'e', offset: 0 } } }));
    expect(acks).toHaveLength(2);
    expect(sent(text(1, { type: 'subscribe', channel: 'c' }))).toEqual([{ type: 'subscribed', channel: 'c', position: { epoch: 'e', offset: 0 } }]);
    expect(sent(text(1, { type: 'subscribe', channel: 'd' }))[0]).toMatchObject({ code: 'subscription_limit', channel: 'd' });
    expect(text(1, { type: 'unsubscribe', channel: 'c' })).toEqual([
      { type: 'channelIdle', channel: 'c' },
      { type: 'send', conn: 1, message: { type: 'unsubscribed', channel: 'c' } },
    ]);
    expect(run({ type: 'brokerPush', now: 2, push: push(1) })).toEqual([]);
  });

  it('SUB-4: the authorize hook refuses with forbidden naming the channel', () => {
    const { sent, login, text } = setup();
    login(1, 'alice');
    expect(sent(text(1, { type: 'subscribe', channel: 'user:bob' }))[0]).toMatchObject({ type: 'error', code: 'forbidden', channel: 'user:bob' });
    expect(text(1, { type: 'subscribe', channel: 'user:alice' })[0]!.type).toBe('readChannel');
  });

  it('SUB-6: one fanout action carries the push to all subscribers (framed once by the driver)', () => {
    const { run, login, text, sent } = setup({ sessionPolicy: 'multiple' });
    for (const conn of [1, 2]) {
      login(conn, `u${conn}`);
      const [read] = text(conn, { type: 'subscribe', channel: 'c' }) as any[];
      run({ type: 'channelRead', now: 1, conn, fetchId: read.fetchId, channel: 'c', read: { head: { epoch: 'e', offset: 0 } } });
    }
    const acts = run({ type: 'brokerPush', now: 2, push: push(1) });
    expect(acts).toHaveLength(1);
    const [fan] = acts as Extract<ServerAction, { type: 'fanout' }>[];
    expect(fan!.message).toMatchObject({ type: 'push', channel: 'c' });
    expect([...fan!.conns]).toEqual([1, 2]);
    // an undrained fan-out still moves every subscriber's position on: the push is not sent twice
    run({ type: 'brokerPush', now: 3, push: push(2) });
    expect(sent(run({ type: 'brokerPush', now: 4, push: push(2) }))).toEqual([]);
  });
});

describe('ServerCore: limits, errors, shutdown', () => {
  it('LIMIT-3: a slow consumer is closed 4509 and terminated after the grace; others unaffected', () => {
    const { core, run, closes, login, tick } = setup({ sessionPolicy: 'multiple' }, { closeGraceMs: 50 });
    login(1, 'a');
    login(2, 'b');
    expect(closes(run({ type: 'slowConsumer', now: 10, conn: 1, bufferedBytes: 2e6 }))).toEqual([{ conn: 1, code: CLOSE.SLOW_CONSUMER, reason: 'slow_consumer' }]);
    expect(tick(60)).toEqual([{ type: 'terminate', conn: 1 }]);
    expect(core.sessionCount('b')).toBe(1);
  });

  it('ERR-1, ERR-2, VER-6: bad frames get errors and the connection stays open', () => {
    const { run, sent, closes, login } = setup();
    login(1, 'alice');
    const acts = [
      ...run({ type: 'text', now: 1, conn: 1, text: '{' }),
      ...run({ type: 'text', now: 1, conn: 1, text: '{"type":"nope"}' }),
      ...run({ type: 'binary', now: 1, conn: 1 }),
    ];
    expect(sent(acts).map((m) => m.code)).toEqual(['invalid_json', 'invalid_message', 'binary_not_supported']);
    expect(closes(acts)).toEqual([]);
  });

  it('SHUT-2, SHUT-3: shutdown closes everyone with 1012 and a retry hint drawn from the injected random', () => {
    let r = 0;
    const seq = [0.1, 0.9, 0.5];
    const { run, closes, login } = setup({}, { shutdownSpreadMs: 1_000, random: () => seq[r++ % 3]! });
    login(1, 'a');
    run({ type: 'open', now: 0, conn: 2, ip: 'x' });
    r = 0;
    expect(closes(run({ type: 'shutdown', now: 5 }))).toEqual([
      { conn: 1, code: 1012, reason: 'service_restart;retry=100' },
      { conn: 2, code: 1012, reason: 'service_restart;retry=900' },
    ]);
    expect(closes(run({ type: 'open', now: 6, conn: 3, ip: 'x' }))[0]!.code).toBe(1012);
  });
});

describe('ServerCore: revision 1.2', () => {
  it('RATE-4: the first restoreAllowance subscribes after authenticated do not count against the rate limit', () => {
    const { login, text, closes, sent } = setup({ rateLimit: { messages: 5, windowMs: 10_000 }, maxSubscriptions: 20, restoreAllowance: 20 });
    login(1, 'alice');
    for (let i = 0; i < 20; i++) expect(closes(text(1, { type: 'subscribe', channel: `c${i}` }, 1))).toEqual([]);
    // every other frame still counts: 5 pings pass, the 6th closes 4429
    for (let i = 0; i < 5; i++) expect(sent(text(1, { type: 'ping' }, 2))).toHaveLength(1);
    expect(closes(text(1, { type: 'ping' }, 3))).toEqual([{ conn: 1, code: CLOSE.RATE_LIMITED, reason: expect.stringMatching(/^rate_limited;retry=\d+$/) }]);
  });

  it('RATE-4: the 21st subscribe counts; an in-band re-auth does not renew the allowance', () => {
    const { login, text, closes, run } = setup({ rateLimit: { messages: 2, windowMs: 10_000 }, maxSubscriptions: 2, restoreAllowance: 2 });
    login(1, 'alice');
    text(1, { type: 'subscribe', channel: 'a' }, 1);
    text(1, { type: 'subscribe', channel: 'b' }, 1);
    const acts = text(1, { type: 'auth', token: 't-alice' }, 2); // counts 1
    const v = acts.find((a) => a.type === 'verifyToken')!;
    if (v.type !== 'verifyToken') throw new Error();
    run({ type: 'tokenResult', now: 2, conn: 1, verifyId: v.verifyId, record: { userId: 'alice', expiresAt: null } });
    expect(closes(text(1, { type: 'subscribe', channel: 'a' }, 3))).toEqual([]); // counts 2
    expect(closes(text(1, { type: 'subscribe', channel: 'b' }, 4)).map((c) => c.code)).toEqual([CLOSE.RATE_LIMITED]);
  });

  it('RATE-4: without restoreAllowance every subscribe counts (revision 1.1 behaviour)', () => {
    const { login, text, closes } = setup({ rateLimit: { messages: 3, windowMs: 10_000 }, restoreAllowance: undefined });
    login(1, 'alice');
    for (let i = 0; i < 3; i++) expect(closes(text(1, { type: 'subscribe', channel: `c${i}` }, 1))).toEqual([]);
    expect(closes(text(1, { type: 'subscribe', channel: 'c3' }, 1)).map((c) => c.code)).toEqual([CLOSE.RATE_LIMITED]);
  });

  it('LIMIT-6: a message nested deeper than maxDepth gets error too_deep and reaches nothing; the connection stays open', () => {
    const { login, run, sent, closes } = setup({ maxDepth: 4 });
    login(1, 'alice');
    const deep = `{"type":"request","id":"d","action":"publish","payload":{"channel":"c","data":[[[1]]]}}`;
    const acts = run({ type: 'text', now: 1, conn: 1, text: deep });
    expect(sent(acts)).toEqual([{ type: 'error', code: 'too_deep', message: expect.stringContaining('maxDepth') }]);
    expect(acts.some((a) => a.type === 'dispatch')).toBe(false);
    expect(closes(acts)).toEqual([]);
    // brackets inside strings do not count; exactly maxDepth passes
    const ok = run({ type: 'text', now: 2, conn: 1, text: `{"type":"request","id":"e","action":"echo","payload":{"a":[["[[[[[{{{{"]]}}` });
    expect(ok.some((a) => a.type === 'dispatch')).toBe(true);
  });

  it('LIMIT-8: the 9th data frame before authentication closes 4400', () => {
    const { run, closes, sent } = setup();
    run({ type: 'open', now: 0, conn: 1, ip: 'x' });
    for (let i = 0; i < 8; i++) expect(sent(run({ type: 'text', now: 1, conn: 1, text: '{bad' }))).toHaveLength(1);
    const acts = run({ type: 'binary', now: 2, conn: 1 });
    expect(sent(acts)).toEqual([]);
    expect(closes(acts)).toEqual([{ conn: 1, code: CLOSE.NOT_AUTHENTICATED, reason: 'not_authenticated' }]);
  });

  it('LIMIT-8: the frame guard closes 4400 (pre-auth bytes) and 1009 (fragments)', () => {
    const { run, closes, login } = setup();
    run({ type: 'open', now: 0, conn: 1, ip: 'x' });
    expect(closes(run({ type: 'overBudget', now: 1, conn: 1, budget: 'pre_auth_bytes' }))).toEqual([{ conn: 1, code: CLOSE.NOT_AUTHENTICATED, reason: 'not_authenticated' }]);
    login(2, 'alice');
    expect(closes(run({ type: 'overBudget', now: 1, conn: 2, budget: 'fragments' }))).toEqual([{ conn: 2, code: 1009, reason: 'message_too_big' }]);
  });

  it('AUTH-12: an auth that arrived before the deadline is answered even when its verification ends after it', () => {
    const { run, tick, sent, closes } = setup({ authTimeoutMs: 500, heartbeatIntervalMs: 10_000 });
    run({ type: 'open', now: 0, conn: 1, ip: 'x' });
    const v = run({ type: 'text', now: 499, conn: 1, text: JSON.stringify({ type: 'auth', token: 't' }) }).find((a) => a.type === 'verifyToken')!;
    if (v.type !== 'verifyToken') throw new Error();
    expect(closes(tick(600))).toEqual([]);
    const acts = run({ type: 'tokenResult', now: 700, conn: 1, verifyId: v.verifyId, record: { userId: 'alice', expiresAt: null } });
    expect(sent(acts)[0]).toMatchObject({ type: 'authenticated', userId: 'alice' });
  });

  it('SUB-12: userChannel is user:<id> when it fits the grammar, uid:<sha256> otherwise; only its user may subscribe', () => {
    const { login, sent, text } = setup();
    expect(sent(login(1, 'alice'))[0].userChannel).toBe('user:alice');
    const odd = 'alice smith'.padEnd(200, '!');
    const ch = sent(login(2, odd))[0].userChannel as string;
    expect(ch).toMatch(/^uid:[A-Za-z0-9_-]{43}$/);
    expect(sent(text(2, { type: 'subscribe', channel: ch }))).toEqual([]); // accepted: a readChannel follows
    expect(sent(text(1, { type: 'subscribe', channel: ch }))).toEqual([{ type: 'error', code: 'forbidden', message: expect.any(String), channel: ch }]);
  });
});

describe('ServerCore: close precedence (ERR-7)', () => {
  it('ERR-7: a connection is closed once: a slow-consumer report after a heartbeat close, or a heartbeat deadline after a 4509, closes nothing more', () => {
    const { login, run, tick, closes } = setup({ heartbeatIntervalMs: 100, heartbeatTimeoutMs: 50 }, { closeGraceMs: 1_000 });
    login(1, 'alice');
    login(2, 'bob');
    expect(closes(run({ type: 'slowConsumer', now: 10, conn: 1, bufferedBytes: 2e6 }))).toEqual([{ conn: 1, code: CLOSE.SLOW_CONSUMER, reason: 'slow_consumer' }]);
    tick(100); // pings both
    const hb = closes(tick(150));
    expect(hb).toEqual([{ conn: 2, code: CLOSE.HEARTBEAT_TIMEOUT, reason: 'heartbeat_timeout' }]); // conn 1 is not closed again
    expect(closes(run({ type: 'slowConsumer', now: 151, conn: 2, bufferedBytes: 2e6 }))).toEqual([]);
  });

  it('ERR-7: LIMIT-3 is judged at every send, so an outbound buffer over the cap is 4509 before any heartbeat deadline can pass', () => {
    const { login, run, closes } = setup({ heartbeatIntervalMs: 100, heartbeatTimeoutMs: 50 });
    login(1, 'alice');
    // the driver reports the slow consumer at the send that crossed maxBufferedBytes (reference/server/server.ts)
    expect(closes(run({ type: 'slowConsumer', now: 1, conn: 1, bufferedBytes: 2e6 })).map((c) => c.code)).toEqual([CLOSE.SLOW_CONSUMER]);
  });
});

describe('ServerCore: events of a multi-node driver (revision 1.3)', () => {
  it('NODE-6: sessionSuperseded closes that connection 4002 and nothing else, also while its token is verified (claimed, not yet authenticated); ignored before an auth', () => {
    const { run, login, closes, text } = setup();
    login(1, 'alice');
    login(2, 'bob');
    run({ type: 'open', now: 0, conn: 3, ip: 'x' });
    expect(closes(run({ type: 'sessionSuperseded', now: 1, conn: 3 }))).toEqual([]);
    const v = text(3, { type: 'auth', token: 't' }).find((a) => a.type === 'verifyToken') as any;
    expect(closes(run({ type: 'sessionSuperseded', now: 1, conn: 3 }))).toEqual([{ conn: 3, code: CLOSE.SESSION_REPLACED, reason: 'session_replaced' }]);
    expect(run({ type: 'tokenResult', now: 2, conn: 3, verifyId: v.verifyId, record: { userId: 'alice', expiresAt: null } }).filter((a) => a.type === 'send')).toEqual([]);
    expect(closes(run({ type: 'sessionSuperseded', now: 1, conn: 1 }))).toEqual([{ conn: 1, code: CLOSE.SESSION_REPLACED, reason: 'session_replaced' }]);
    expect(closes(run({ type: 'sessionSuperseded', now: 2, conn: 1 }))).toEqual([]); // one close per connection (ERR-7)
  });

  it('NODE-8: with reportRateHits every admitted frame is reported once; userRateLimited closes all the user\'s connections 4429 with the hint', () => {
    const { run, login, closes, text } = setup({ sessionPolicy: 'multiple' }, { reportRateHits: true });
    login(1, 'u');
    login(2, 'u');
    login(3, 'v');
    const hits = text(1, { type: 'ping' }).filter((a) => a.type === 'rateHit');
    expect(hits).toEqual([{ type: 'rateHit', userId: 'u' }]);
    expect(closes(run({ type: 'userRateLimited', now: 5, userId: 'u', retryAfterMs: 1234 }))).toEqual([
      { conn: 1, code: CLOSE.RATE_LIMITED, reason: 'rate_limited;retry=1234' },
      { conn: 2, code: CLOSE.RATE_LIMITED, reason: 'rate_limited;retry=1234' },
    ]);
  });

  it('NODE-8: without reportRateHits no rateHit action is emitted', () => {
    const { login, text } = setup();
    login(1, 'u');
    expect(text(1, { type: 'ping' }).some((a) => a.type === 'rateHit')).toBe(false);
  });

  it('NODE-4: channelGap closes the channel\'s subscribers 1013 with a retry hint, and only them', () => {
    const { run, login, closes, text } = setup();
    login(1, 'a');
    login(2, 'b');
    const read = text(1, { type: 'subscribe', channel: 'c' }).find((a) => a.type === 'readChannel') as any;
    run({ type: 'channelRead', now: 0, conn: 1, fetchId: read.fetchId, channel: 'c', read: { head: { epoch: 'e', offset: 0 } } });
    const acts = run({ type: 'channelGap', now: 1, channel: 'c' });
    expect(closes(acts)).toEqual([{ conn: 1, code: CLOSE.TRY_AGAIN_LATER, reason: 'try_again_later;retry=2500' }]);
    expect(acts.some((a) => a.type === 'channelIdle')).toBe(true);
  });

  it('NODE-10, NODE-11: unavailable closes one connection or all of them 1013, with a hint of at least retryAfterMs', () => {
    const { run, login, closes } = setup();
    login(1, 'a');
    login(2, 'b');
    run({ type: 'open', now: 0, conn: 3, ip: 'x' });
    expect(closes(run({ type: 'unavailable', now: 1, conn: 3, retryAfterMs: 1_000 }))).toEqual([{ conn: 3, code: CLOSE.TRY_AGAIN_LATER, reason: 'try_again_later;retry=3500' }]);
    expect(closes(run({ type: 'unavailable', now: 2, retryAfterMs: 1_000 })).map((c) => c.conn)).toEqual([1, 2]);
  });
});
