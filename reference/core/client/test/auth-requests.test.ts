import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { Harness } from './harness.js';

describe('VER-1, AUTH-1, AUTH-10: connecting and authenticating', () => {
  it('VER-1: every socket is opened offering the subprotocol mooring.v1', () => {
    const h = new Harness();
    h.do({ type: 'connect' });
    h.giveToken();
    expect(h.last('open_socket')).toMatchObject({ url: 'ws://test/ws', protocols: ['mooring.v1'] });
  });

  it('AUTH-1: the token function is asked on every (re)connect and auth {token} is the first message', () => {
    const h = new Harness();
    h.do({ type: 'connect' });
    expect(h.last('fetch_token')).toMatchObject({ reason: 'connect' });
    h.giveToken('first');
    expect(h.sent()).toEqual([]); // nothing before the socket is open
    h.open();
    expect(h.sent()).toEqual([{ type: 'auth', token: 'first' }]);
    h.authenticated();
    expect(h.state).toBe('authenticated');

    h.serverClose(1006);
    const m = h.mark();
    h.runToReconnect();
    expect(h.all('fetch_token', m)).toEqual([expect.objectContaining({ reason: 'reconnect' })]);
    h.giveToken('second');
    h.open();
    expect(h.sent(m)[0]).toEqual({ type: 'auth', token: 'second' });
  });

  it('AUTH-1: the token never appears in diagnostics', () => {
    const h = new Harness();
    h.do({ type: 'connect' });
    h.giveToken('s3cret-token');
    h.open();
    expect(JSON.stringify(h.core.diagnostics())).not.toContain('s3cret-token');
  });

  it('AUTH-10: on token_expiring the client gets a fresh token and re-authenticates in-band, keeping its session', () => {
    const h = new Harness();
    h.do({ type: 'subscribe', channel: 'news' });
    h.connectAndAuth();
    const conn = h.conn;
    const m = h.mark();
    h.server({ type: 'token_expiring', expiresAt: h.now + 60_000 });
    expect(h.all('fetch_token', m)).toEqual([expect.objectContaining({ reason: 'expiring' })]);
    h.giveToken('fresh');
    expect(h.sent(m)).toEqual([{ type: 'auth', token: 'fresh' }]);
    expect(h.all('send', m)[0]!.conn).toBe(conn);
    const m2 = h.mark();
    h.authenticated({ tokenExpiresAt: h.now + 3_600_000 });
    expect(h.state).toBe('authenticated');
    expect(h.sent(m2)).toEqual([]); // no re-subscribe on an in-band re-auth: the server kept them
    expect(h.events(m2)).toEqual([expect.objectContaining({ type: 'authenticated', reauth: true })]);
    expect(h.all('open_socket', m)).toEqual([]);
  });

  it('AUTH-10: a token that arrives after the connection ended is not sent anywhere', () => {
    const h = new Harness();
    h.connectAndAuth();
    h.server({ type: 'token_expiring', expiresAt: h.now + 60_000 });
    const f = h.last('fetch_token')!;
    h.serverClose(1006);
    const m = h.mark();
    h.do({ type: 'token', fetch: f.fetch, token: 'late' });
    expect(h.sent(m)).toEqual([]);
  });
});

describe('REQ-5, REQ-6: requests', () => {
  it('REQ-5: request ids are unique for the lifetime of the client, across sessions', () => {
    fc.assert(
      fc.property(fc.array(fc.constantFrom('req', 'drop'), { maxLength: 200, size: 'max' }), (steps) => {
        const h = new Harness();
        h.connectAndAuth();
        const ids = new Set<string>();
        for (const s of steps) {
          if (s === 'req') {
            const id = h.request('echo');
            if (ids.has(id)) return false;
            ids.add(id);
          } else {
            h.serverClose(1006);
            h.runToReconnect();
            h.completeConnect();
          }
        }
        return true;
      }),
      { numRuns: 50 },
    );
  });

  it('REQ-5: a request sent when authenticated resolves with its response', () => {
    const h = new Harness();
    h.connectAndAuth();
    const id = h.request('echo', { x: 1 });
    expect(h.sent().at(-1)).toEqual({ type: 'request', id, action: 'echo', payload: { x: 1 } });
    h.server({ type: 'response', requestId: id, success: true, data: { x: 1 } });
    expect(h.last('resolve')).toEqual({ type: 'resolve', id, data: { x: 1 } });
    expect(h.core.diagnostics().pending.count).toBe(0);
  });

  it('REQ-5: a failed response rejects with the server error code', () => {
    const h = new Harness();
    h.connectAndAuth();
    const id = h.request('nope');
    h.server({ type: 'response', requestId: id, success: false, error: { code: 'unknown_action', message: 'no' } });
    expect(h.last('reject')).toMatchObject({ id, code: 'unknown_action' });
  });

  it('REQ-5: the default timeout is the advertised requestTimeoutMs; then timeout, and a late response is dropped', () => {
    const h = new Harness();
    h.connectAndAuth({ requestTimeoutMs: 2_000, heartbeatIntervalMs: 60_000 });
    const id = h.request('sleep', { ms: 5_000 });
    h.advance(1_999);
    expect(h.last('reject')).toBeUndefined();
    h.advance(1);
    expect(h.last('reject')).toMatchObject({ id, code: 'timeout' });
    const m = h.mark();
    h.server({ type: 'response', requestId: id, success: true, data: 'late' });
    expect(h.all('resolve', m)).toEqual([]);
    expect(h.all('reject', m)).toEqual([]);
    expect(h.core.diagnostics().log.at(-1)!.detail).toContain('dropped');
  });

  it('REQ-5: a per-request timeout overrides the default', () => {
    const h = new Harness();
    h.connectAndAuth({ heartbeatIntervalMs: 60_000 });
    const id = h.request('sleep', { ms: 5_000 }, { timeoutMs: 300 });
    h.advance(300);
    expect(h.last('reject')).toMatchObject({ id, code: 'timeout' });
  });

  it('REQ-5: before the first session the default timeout is DEFAULT_PARAMS.requestTimeoutMs (10 s)', () => {
    const h = new Harness();
    h.do({ type: 'connect' });
    const id = h.request('echo');
    h.advance(9_999);
    expect(h.all('reject').filter((r) => r.id === id)).toEqual([]);
    h.advance(1);
    expect(h.all('reject').filter((r) => r.id === id)).toEqual([expect.objectContaining({ code: 'timeout' })]);
  });

  it('REQ-6: when the connection ends every pending request fails with disconnected and is never replayed', () => {
    const h = new Harness();
    h.connectAndAuth({ heartbeatIntervalMs: 60_000 });
    const a = h.request('sleep', { ms: 1_000 });
    const b = h.request('echo', 1);
    const m = h.mark();
    h.serverClose(1006);
    expect(h.all('reject', m).map((r) => [r.id, r.code])).toEqual([[a, 'disconnected'], [b, 'disconnected']]);
    const m2 = h.mark();
    h.runToReconnect();
    h.completeConnect();
    h.advance(10_000);
    expect(h.sent(m2).filter((x) => x.type === 'request')).toEqual([]);
    // A response to the old id on the new connection is dropped too.
    h.server({ type: 'response', requestId: a, success: true, data: 1 });
    expect(h.all('resolve', m2)).toEqual([]);
  });

  it('REQ-6: close() fails pending requests with closed; requests after close() fail at once', () => {
    const h = new Harness();
    h.connectAndAuth();
    const a = h.request('sleep', { ms: 1_000 });
    h.do({ type: 'close' });
    expect(h.last('reject')).toMatchObject({ id: a, code: 'closed' });
    expect(h.last('close_socket')).toMatchObject({ code: 1000 });
    const b = h.request('echo');
    expect(h.last('reject')).toMatchObject({ id: b, code: 'closed' });
  });

  it('REQ-5: a request made while reconnecting waits for authentication and is sent then (documented behaviour)', () => {
    const h = new Harness();
    h.connectAndAuth({ heartbeatIntervalMs: 60_000 });
    h.serverClose(1006);
    const id = h.request('echo', 'x', { timeoutMs: 5_000 });
    expect(h.sent().filter((x) => x.type === 'request')).toEqual([]);
    expect(h.core.diagnostics().pending.requests[0]).toMatchObject({ id, status: 'waiting' });
    h.runToReconnect();
    const m = h.mark();
    h.completeConnect();
    const sent = h.sent(m);
    expect(sent[0]).toMatchObject({ type: 'auth' });
    expect(sent.filter((x) => x.type === 'request')).toEqual([{ type: 'request', id, action: 'echo', payload: 'x' }]);
  });

  it('REQ-5: a waiting request fails with timeout when no session comes within its timeout', () => {
    const h = new Harness();
    h.do({ type: 'connect' });
    h.giveToken();
    const id = h.request('echo', 1, { timeoutMs: 700 });
    h.advance(700);
    expect(h.last('reject')).toMatchObject({ id, code: 'timeout' });
    h.open();
    h.authenticated();
    expect(h.sent().filter((x) => x.type === 'request')).toEqual([]);
  });

  it('REQ-6: failFast rejects at once with disconnected when not authenticated (option or per call)', () => {
    const h = new Harness({ failFast: true });
    h.do({ type: 'connect' });
    const a = h.request('echo');
    expect(h.last('reject')).toMatchObject({ id: a, code: 'disconnected' });
    const h2 = new Harness();
    h2.do({ type: 'connect' });
    const b = h2.request('echo', 1, { failFast: true });
    expect(h2.last('reject')).toMatchObject({ id: b, code: 'disconnected' });
  });

  it('REQ-6: a stop close fails waiting requests with closed: they can never be sent', () => {
    const h = new Harness();
    h.connectAndAuth();
    h.serverClose(1006);
    const id = h.request('echo');
    h.runToReconnect();
    h.giveToken();
    h.open();
    h.serverClose(4401, 'unauthorized');
    expect(h.last('reject')).toMatchObject({ id, code: 'closed' });
  });

  it('LIMIT-5: error too_many_requests naming a pending request fails it at once with that code, not at its timeout', () => {
    const h = new Harness();
    h.connectAndAuth();
    const kept = h.request('sleep', { ms: 1_000 });
    const id = h.request('echo', 1, { timeoutMs: 60_000 });
    const m = h.mark();
    h.server({ type: 'error', code: 'too_many_requests', message: 'at most 1 pending requests per connection', requestId: id });
    expect(h.all('reject', m)).toEqual([expect.objectContaining({ id, code: 'too_many_requests' })]);
    expect(h.core.diagnostics().pending.requests.map((p) => p.id)).toEqual([kept]);
    // the other request still gets its response; a late response for the refused id is dropped
    h.server({ type: 'response', requestId: kept, success: true, data: { slept: 1_000 } });
    expect(h.last('resolve')).toMatchObject({ id: kept });
    const m2 = h.mark();
    h.server({ type: 'response', requestId: id, success: true, data: 1 });
    expect(h.all('resolve', m2)).toEqual([]);
  });

  it('REQ-4: error duplicate_request_id does not fail the pending request it names (that one is still answered)', () => {
    const h = new Harness();
    h.connectAndAuth();
    const id = h.request('echo');
    const m = h.mark();
    h.server({ type: 'error', code: 'duplicate_request_id', message: 'dup', requestId: id });
    expect(h.all('reject', m)).toEqual([]);
    h.server({ type: 'response', requestId: id, success: true, data: 1 });
    expect(h.last('resolve')).toMatchObject({ id, data: 1 });
  });
});
