import { describe, expect, it } from 'vitest';
import { ActionError } from '../index.js';
import { auth, start, useHarness } from './helpers.js';

useHarness();

describe('requests and the conformance profile', () => {
  it('REQ-1: sends exactly one response per request, with requestId equal to the request id', async () => {
    const s = await start();
    const c = await auth(s, 'alice');
    const ids = ['a', 'b', 'c-with-dashes', 'x'.repeat(64)];
    for (const id of ids) c.send({ type: 'request', id, action: 'echo', payload: id });
    for (const id of ids) expect(await c.next('response', (m) => m.requestId === id)).toMatchObject({ success: true, data: id });
    await c.roundTrip();
    expect(c.received.filter((m) => m.type === 'response')).toHaveLength(ids.length);
  });

  it('REQ-2: a request for an unknown action gets a failed response unknown_action', async () => {
    const s = await start();
    const c = await auth(s, 'alice');
    const r = await c.request('nope');
    expect(r).toMatchObject({ success: false, error: { code: 'unknown_action' } });
  });

  it('REQ-3: a slow request does not delay the response to a fast one', async () => {
    const s = await start();
    const c = await auth(s, 'alice');
    c.send({ type: 'request', id: 'slow', action: 'sleep', payload: { ms: 300 } });
    c.send({ type: 'request', id: 'fast', action: 'echo', payload: 1 });
    const first = await c.next('response');
    expect(first.requestId).toBe('fast');
    expect((await c.next('response')).requestId).toBe('slow');
  });

  it('REQ-4: a request reusing a pending id gets duplicate_request_id and is not executed', async () => {
    let runs = 0;
    const s = await start({ actions: { count: async () => (++runs, new Promise((r) => setTimeout(() => r(runs), 100))) } });
    const c = await auth(s, 'alice');
    c.send({ type: 'request', id: 'dup', action: 'count' });
    c.send({ type: 'request', id: 'dup', action: 'count' });
    const err = await c.next('error');
    expect(err).toMatchObject({ code: 'duplicate_request_id', requestId: 'dup' });
    expect(await c.next('response')).toMatchObject({ requestId: 'dup', success: true, data: 1 });
    await c.roundTrip();
    expect(runs).toBe(1);
    expect(c.received.filter((m) => m.type === 'response')).toHaveLength(1);
    // once answered, the id may be used again
    expect(await c.request('echo', 2, 'dup')).toMatchObject({ success: true, data: 2 });
  });

  it('LIMIT-5: a request beyond maxPendingRequests gets error too_many_requests, is not executed, and the connection stays open', async () => {
    // A handler that settles only when the test says so (the "never settles" case of LIMIT-5).
    const held = new Map<string, () => void>();
    let runs = 0;
    const s = await start({
      maxPendingRequests: 3,
      actions: { hold: (payload) => (++runs, new Promise((r) => held.set(payload as string, () => r(payload)))) },
    });
    const c = await auth(s, 'alice');
    expect(c.authenticated.params.maxPendingRequests).toBe(3); // advertised
    for (const id of ['a', 'b', 'c']) c.send({ type: 'request', id, action: 'hold', payload: id });
    c.send({ type: 'request', id: 'd', action: 'hold', payload: 'd' });
    expect(await c.next('error')).toMatchObject({ code: 'too_many_requests', requestId: 'd' });
    await c.roundTrip();
    expect(runs).toBe(3); // d was not executed
    expect(c.isOpen).toBe(true);
    // the earlier ones still answer; after one completes a new request is accepted
    held.get('b')!();
    expect(await c.next('response')).toMatchObject({ requestId: 'b', success: true, data: 'b' });
    expect(await c.request('echo', 1, 'e')).toMatchObject({ success: true, data: 1 });
    held.get('a')!();
    held.get('c')!();
    expect(await c.next('response', (m) => m.requestId === 'a')).toMatchObject({ success: true });
    expect(await c.next('response', (m) => m.requestId === 'c')).toMatchObject({ success: true });
    await c.roundTrip();
    expect(c.received.filter((m) => m.type === 'response' && m.requestId === 'd')).toEqual([]);
  });

  it('LIMIT-5: N sleep requests pending, the N+1th gets too_many_requests; the sleeps still answer', async () => {
    const s = await start({ maxPendingRequests: 2 });
    const c = await auth(s, 'alice');
    c.send({ type: 'request', id: 's1', action: 'sleep', payload: { ms: 50 } });
    c.send({ type: 'request', id: 's2', action: 'sleep', payload: { ms: 300 } });
    c.send({ type: 'request', id: 's3', action: 'sleep', payload: { ms: 0 } });
    expect(await c.next('error')).toMatchObject({ code: 'too_many_requests', requestId: 's3' });
    expect(await c.next('response')).toMatchObject({ requestId: 's1', success: true, data: { slept: 50 } });
    expect(await c.request('sleep', { ms: 0 }, 's3')).toMatchObject({ success: true, data: { slept: 0 } });
    expect(await c.next('response')).toMatchObject({ requestId: 's2', success: true });
  });

  it('REQ-7: a failing handler gets internal_error without details; the connection stays open', async () => {
    const s = await start({ actions: { boom: () => { throw new Error('secret stack detail /etc/passwd'); } } });
    const c = await auth(s, 'alice');
    const r = await c.request('boom');
    expect(r).toMatchObject({ success: false, error: { code: 'internal_error' } });
    expect(JSON.stringify(r)).not.toMatch(/secret|passwd|at /);
    expect((await c.request('echo', 1)).success).toBe(true);
    expect(s.logs.some((e) => e.event === 'request_failed' && e.action === 'boom')).toBe(true);
  });

  it('REQ-7: a handler result that cannot be serialized fails with internal_error, not a crash', async () => {
    const s = await start({ actions: { big: () => ({ n: 10n }), async: async () => { await null; throw new Error('later'); } } });
    const c = await auth(s, 'alice');
    expect((await c.request('big')).error?.code).toBe('internal_error');
    expect((await c.request('async')).error).toEqual({ code: 'internal_error', message: 'the action failed' });
    expect((await c.request('echo', 'still fine')).data).toBe('still fine');
  });

  it('REQ-8: a payload that does not fit the action gets invalid_payload', async () => {
    const s = await start({ actions: { strict: () => { throw new ActionError('invalid_payload', 'expected a number'); } } });
    const c = await auth(s, 'alice');
    for (const payload of [undefined, { ms: -1 }, { ms: 60_001 }, { ms: 1.5 }, { ms: '10' }]) {
      expect((await c.request('sleep', payload)).error?.code).toBe('invalid_payload');
    }
    for (const payload of [undefined, { channel: 'bad channel', data: 1 }, { channel: 'ok' }]) {
      expect((await c.request('publish', payload)).error?.code).toBe('invalid_payload');
    }
    expect((await c.request('strict', 'x')).error).toEqual({ code: 'invalid_payload', message: 'expected a number' });
  });

  it('CONF-1: echo answers its payload as data', async () => {
    const s = await start();
    const c = await auth(s, 'alice');
    const payload = { nested: [1, 'two', { three: null }], unicode: 'åß∂' };
    expect(await c.request('echo', payload)).toMatchObject({ success: true, data: payload });
  });

  it('CONF-2: publish pushes to the channel subscribers and answers {position}', async () => {
    const s = await start();
    const pub = await auth(s, 'alice');
    const sub = await auth(s, 'bob');
    const ack = await sub.subscribe('room');
    const r = await pub.request('publish', { channel: 'room', data: { hi: 1 } });
    expect(r.data).toEqual({ position: { epoch: ack.position.epoch, offset: 1 } });
    expect(await sub.next('push')).toMatchObject({ channel: 'room', data: { hi: 1 }, position: r.data.position });
    expect((await pub.request('publish', { channel: 'user:bob', data: 1 })).error?.code).toBe('forbidden');
  });

  it('CONF-3: sleep answers {slept: ms} after ms milliseconds', async () => {
    const s = await start();
    const c = await auth(s, 'alice');
    const t0 = Date.now();
    expect(await c.request('sleep', { ms: 120 })).toMatchObject({ success: true, data: { slept: 120 } });
    expect(Date.now() - t0).toBeGreaterThanOrEqual(115);
    const off = await start({ testActions: false });
    const d = await auth(off, 'alice');
    expect((await d.request('echo', 1)).error?.code).toBe('unknown_action');
  });
});
