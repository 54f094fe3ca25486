import { describe, expect, it } from 'vitest';
import { CLOSE_CODES, ERROR_CODES, closeCodeInfo } from '../../../schemas/v1/index.js';
import { auth, start, useHarness } from './helpers.js';

useHarness();

describe('errors and versioning', () => {
  it('VER-5: every frame the server sends is a text frame with one JSON object and a string type', async () => {
    // The Client helper asserts this for every frame it receives (parseServerFrame + !isBinary).
    const s = await start();
    const c = await auth(s, 'alice');
    await c.subscribe('n');
    await s.publish('n', [1, 2]);
    await c.next('push');
    await c.request('echo', 'x');
    expect(c.received.every((m) => typeof m.type === 'string')).toBe(true);
  });

  it('VER-6: answers a binary frame with error binary_not_supported and stays open', async () => {
    const s = await start();
    const c = await auth(s, 'alice');
    c.ws.send(Buffer.from(JSON.stringify({ type: 'ping' })), { binary: true });
    expect((await c.next('error')).code).toBe('binary_not_supported');
    await c.roundTrip();
  });

  it('VER-7: ignores unknown properties in known messages', async () => {
    const s = await start();
    const c = await auth(s, 'alice');
    c.send({ type: 'request', id: 'v7', action: 'echo', payload: 1, extra: { future: true } });
    expect((await c.next('response')).data).toBe(1);
    c.send({ type: 'ping', hello: 'world' });
    await c.next('pong');
  });

  it('ERR-1: a text frame that is not JSON gets error invalid_json; the connection stays open', async () => {
    const s = await start();
    const c = await auth(s, 'alice');
    c.ws.send('{"type":"ping"');
    expect(await c.next('error')).toMatchObject({ code: 'invalid_json' });
    await c.roundTrip();
  });

  it.each([
    ['a JSON array', [1, 2]],
    ['a JSON string', 'ping'],
    ['no type', { id: 'x' }],
    ['an unknown type', { type: 'teleport' }],
    ['a request without id', { type: 'request', action: 'echo' }],
    ['a request with an over-long id', { type: 'request', id: 'x'.repeat(65), action: 'echo' }],
    ['a bad action name', { type: 'request', id: '1', action: '9lives' }],
    ['a subscribe with a bad since', { type: 'subscribe', channel: 'a', since: { epoch: 'e', offset: -1 } }],
    ['an auth with a numeric token', { type: 'auth', token: 42 }],
  ])('ERR-2: %s gets error invalid_message; the connection stays open', async (_name, message) => {
    const s = await start();
    const c = await auth(s, 'alice');
    c.ws.send(JSON.stringify(message));
    const e = await c.next('error');
    expect(e.code).toBe('invalid_message');
    expect(e.message.length).toBeGreaterThan(0);
    await c.roundTrip();
  });

  it('ERR-3: error codes come from the registry and messages carry no internal details', async () => {
    const s = await start({ actions: { boom: () => { throw new TypeError('Cannot read properties of undefined at /srv/app.js:1:1'); } } });
    const c = await auth(s, 'alice');
    c.ws.send('nope');
    c.ws.send(JSON.stringify({ type: 'nope' }));
    c.ws.send(Buffer.from([0]));
    await c.request('boom');
    await c.request('missing');
    c.send({ type: 'subscribe', channel: 'user:bob' });
    await c.roundTrip();
    const codes = c.received.flatMap((m) => (m.type === 'error' ? [m.code] : m.type === 'response' && !m.success ? [m.error.code] : []));
    expect(codes).toHaveLength(6);
    for (const code of codes) expect(Object.keys(ERROR_CODES)).toContain(code);
    expect(JSON.stringify(c.received)).not.toMatch(/\/srv|TypeError|undefined at/);
  });

  it('ERR-4: bad input on one connection never crashes the server nor disturbs another', async () => {
    const s = await start();
    const bad = await auth(s, 'mallory');
    const good = await auth(s, 'alice');
    await good.subscribe('news');
    const junk = ['', '\u0000', 'null', '{}', '{"type":null}', '[]'.repeat(1000), '{"type":"request","id":"1","action":"echo","payload":' + '['.repeat(500) + ']'.repeat(500) + '}', '\ud800'];
    for (const j of junk) bad.ws.send(j);
    await bad.roundTrip();
    await s.publish('news', 'fine');
    expect((await good.next('push')).data).toBe('fine');
    expect((await good.request('echo', 1)).data).toBe(1);
  });

  it('ERR-6: close reasons are the registry name of the code, optionally with ;retry=<ms>, at most 123 bytes', async () => {
    const s = await start({ authTimeoutMs: 100, rateLimit: { messages: 1, windowMs: 60_000 } });
    const timedOut = await (await import('./helpers.js')).connect(s);
    const limited = await auth(s, 'alice');
    limited.send({ type: 'ping' });
    limited.send({ type: 'ping' });
    const replaced = await auth(s, 'bob');
    await auth(s, 'bob');
    const closes = await Promise.all([timedOut.closed, limited.closed, replaced.closed]);
    expect(closes.map((c) => c.code)).toEqual([4408, 4429, 4002]);
    for (const { code, reason } of closes) {
      const m = /^([a-z_]+)(?:;retry=(\d{1,9}))?$/.exec(reason);
      expect(m).not.toBeNull();
      expect(m![1]).toBe(closeCodeInfo(code)!.name);
      expect(Buffer.byteLength(reason)).toBeLessThanOrEqual(123);
    }
  });

  it('ERR-5: every close code the server sent in these tests is in the close-code registry', async () => {
    const s = await start({ authTimeoutMs: 50 });
    const c = await (await import('./helpers.js')).connect(s);
    const closed = await c.closed;
    expect(closeCodeInfo(closed.code)?.name).toBe('auth_timeout');
    for (const info of Object.values(CLOSE_CODES)) expect(info.code).toBeGreaterThan(999);
    const codes = s.logs.filter((e) => e.event === 'connection_closed').map((e) => e.code as number);
    for (const code of codes) expect(closeCodeInfo(code)).toBeDefined();
  });
});
