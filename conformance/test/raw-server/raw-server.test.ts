/**
 * The raw server works unbroken, and a few of its breaks demonstrably change its behaviour.
 * Real sockets on 127.0.0.1 port 0; no fixed sleeps (every wait is on an event).
 */
import { afterEach, describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import WebSocket from 'ws';
import { BREAKS } from './server.js';
import { Client, cleanups, handshakeStatus, runCleanups, server } from './test-client.js';

afterEach(runCleanups);

describe('raw server, unbroken', () => {
  it('AUTH-5, VER-2: authenticates with userId, sessionId, protocol and params; selects mooring.v1', async () => {
    const s = await server({ heartbeatIntervalMs: 5_000 });
    const c = await Client.connect(s.url);
    expect(c.ws.protocol).toBe('mooring.v1');
    c.send({ type: 'auth', token: 'T1', extra: 'ignored' });
    const a = await c.next();
    expect(a).toMatchObject({ type: 'authenticated', userId: 'alice', protocol: 'mooring.v1' });
    expect(typeof a.sessionId).toBe('string');
    expect(a.params).toMatchObject({ heartbeatIntervalMs: 5_000, rateLimit: { messages: 60, windowMs: 10_000 }, sessionPolicy: 'single', tokenExpiresAt: null });
  });

  it('VER-3, VER-4, AUTH-7, SEC-1: handshake refusals', async () => {
    const s = await server({ allowedOrigins: ['https://app.example'] });
    expect(await handshakeStatus(s.url, { protocols: ['other.v9'] })).toBe(400);
    expect(await handshakeStatus(s.url, { protocols: [] })).toBe(101);
    expect(await handshakeStatus(`${s.url}?token=T1`)).toBe(400);
    expect(await handshakeStatus(s.url, { headers: { Origin: 'https://evil.example' } })).toBe(403);
    expect(await handshakeStatus(s.url, { headers: { Origin: 'https://app.example' } })).toBe(101);
    expect(await handshakeStatus(s.url, { headers: { Origin: s.httpUrl } })).toBe(101);
  });

  it('CONF-1, REQ-1, REQ-2, REQ-4, CONF-3: echo, unknown action, duplicate pending id, sleep', async () => {
    const s = await server();
    const c = await Client.authed(s.url);
    expect(await c.request('echo', { x: [1, 'two'] })).toMatchObject({ success: true, data: { x: [1, 'two'] } });
    expect(await c.request('echo')).not.toHaveProperty('data');
    expect(await c.request('sleep', { ms: 1.5 })).toMatchObject({ success: false, error: { code: 'invalid_payload' } });
    expect(await c.request('nope')).toMatchObject({ success: false, error: { code: 'unknown_action' } });
    c.send({ type: 'request', id: 'dup', action: 'sleep', payload: { ms: 100 } });
    c.send({ type: 'request', id: 'dup', action: 'echo', payload: 1 });
    expect(await c.next((m) => m.type === 'error')).toMatchObject({ code: 'duplicate_request_id', requestId: 'dup' });
    expect(await c.next((m) => m.requestId === 'dup')).toMatchObject({ success: true, data: { slept: 100 } });
  });

  it('ERR-1, ERR-2, VER-6: bad input gets an error and the connection stays open', async () => {
    const s = await server();
    const c = await Client.authed(s.url);
    c.send('{not json');
    expect(await c.next()).toMatchObject({ type: 'error', code: 'invalid_json' });
    c.send({ type: 'frobnicate' });
    expect(await c.next()).toMatchObject({ type: 'error', code: 'invalid_message' });
    c.send({ type: 'constructor' });
    expect(await c.next()).toMatchObject({ type: 'error', code: 'invalid_message' });
    c.send({ type: 'request', id: '', action: 'echo' });
    expect(await c.next()).toMatchObject({ type: 'error', code: 'invalid_message' });
    c.send({ type: 'subscribe', channel: '-bad' });
    expect(await c.next()).toMatchObject({ type: 'error', code: 'invalid_message' });
    c.ws.send(Buffer.from('{}'), { binary: true });
    expect(await c.next()).toMatchObject({ type: 'error', code: 'binary_not_supported' });
    expect(await c.request('echo', 7)).toMatchObject({ success: true, data: 7 });
  });

  it('SUB-2, SUB-5, CONF-2, SUB-7: subscribe, publish, positions, unsubscribe', async () => {
    const s = await server();
    const c = await Client.authed(s.url);
    c.send({ type: 'subscribe', channel: 'news' });
    const sub = await c.next();
    expect(sub).toMatchObject({ type: 'subscribed', channel: 'news', position: { offset: 0 } });
    const r1 = await c.request('publish', { channel: 'news', data: 'a' });
    s.publish('news', 'b');
    const p1 = await c.next((m) => m.type === 'push');
    const p2 = await c.next((m) => m.type === 'push');
    expect(p1).toMatchObject({ channel: 'news', data: 'a', position: { epoch: sub.position.epoch, offset: 1 } });
    expect(p2).toMatchObject({ data: 'b', position: { epoch: sub.position.epoch, offset: 2 } });
    expect(r1.data.position).toEqual(p1.position);
    expect(typeof p1.ts).toBe('number');
    c.send({ type: 'unsubscribe', channel: 'news' });
    expect(await c.next()).toMatchObject({ type: 'unsubscribed', channel: 'news' });
    s.publish('news', 'c');
    c.send({ type: 'request', id: 'barrier', action: 'echo' });
    expect((await c.until((m) => m.requestId === 'barrier')).filter((m) => m.type === 'push')).toEqual([]);
  });

  it('SUB-8, SUB-9: resume after a reconnect replays the missed pushes; an unknown epoch is unavailable', async () => {
    const s = await server();
    const c1 = await Client.authed(s.url);
    c1.send({ type: 'subscribe', channel: 'feed' });
    await c1.next();
    s.publish('feed', 1);
    const last = (await c1.next((m) => m.type === 'push')).position;
    c1.ws.close();
    await c1.closed;
    s.publish('feed', 2);
    s.publish('feed', 3);
    const c2 = await Client.authed(s.url);
    c2.send({ type: 'subscribe', channel: 'feed', since: last });
    expect(await c2.next()).toMatchObject({ type: 'subscribed', resume: 'replayed', replayed: 2, position: { offset: 3 } });
    expect(await c2.next()).toMatchObject({ type: 'push', data: 2, replay: true, position: { offset: 2 } });
    expect(await c2.next()).toMatchObject({ type: 'push', data: 3, replay: true, position: { offset: 3 } });
    s.publish('feed', 4);
    expect(await c2.next()).toMatchObject({ type: 'push', data: 4, position: { offset: 4 } });
    // SUB-3: a repeated subscribe replays nothing: replayed 0 for the last delivered position, else unavailable.
    c2.send({ type: 'subscribe', channel: 'feed', since: last });
    expect(await c2.next()).toMatchObject({ type: 'subscribed', resume: 'unavailable', position: { offset: 4 } });
    c2.send({ type: 'subscribe', channel: 'feed', since: { epoch: last.epoch, offset: 4 } });
    expect(await c2.next()).toMatchObject({ type: 'subscribed', resume: 'replayed', replayed: 0 });
    const c3 = await Client.authed(s.url, 'T2');
    c3.send({ type: 'subscribe', channel: 'feed', since: { epoch: 'nope', offset: 1 } });
    expect(await c3.next()).toMatchObject({ type: 'subscribed', resume: 'unavailable', position: { offset: 4 } });
  });

  it('HB-2, HB-1: answers ping with pong; sends ping frames; ends a connection that stays silent', async () => {
    const s = await server({ heartbeatIntervalMs: 50, heartbeatTimeoutMs: 100 });
    const c = await Client.authed(s.url);
    c.send({ type: 'ping' });
    expect(await c.next()).toMatchObject({ type: 'pong' });
    await new Promise((resolve) => c.ws.once('ping', resolve));
    const silent = await Client.connect(s.url, { autoPong: false });
    silent.send({ type: 'auth', token: 'T2' });
    await silent.next();
    const { code } = await silent.closed;
    expect([4001, 1006]).toContain(code);
    expect(c.ws.readyState).toBe(WebSocket.OPEN);
  });

  it('AUTH-2, AUTH-3, AUTH-4, AUTH-11: close codes before authentication', async () => {
    const s = await server({ authTimeoutMs: 100 });
    expect((await (await Client.connect(s.url)).closed).code).toBe(4408);
    const early = await Client.connect(s.url);
    // Invalid frames get their errors in every state; only a valid non-auth message closes.
    early.send('nope');
    expect(await early.next()).toMatchObject({ type: 'error', code: 'invalid_json' });
    early.send({ type: 'frobnicate' });
    expect(await early.next()).toMatchObject({ type: 'error', code: 'invalid_message' });
    early.ws.send(Buffer.from('x'), { binary: true });
    expect(await early.next()).toMatchObject({ type: 'error', code: 'binary_not_supported' });
    early.send({ type: 'ping' });
    expect((await early.closed).code).toBe(4400);
    const bad = await Client.connect(s.url);
    bad.send({ type: 'auth', token: 'nope' });
    expect((await bad.closed).code).toBe(4401);
    const expired = s.createToken('carol', { expiresAt: Date.now() - 1 });
    const exp = await Client.connect(s.url);
    exp.send({ type: 'auth', token: expired });
    expect((await exp.closed).code).toBe(4419);
  });

  it('AUTH-8, AUTH-9: token_expiring, in-band re-auth keeps subscriptions, user_mismatch', async () => {
    const s = await server({ tokenWarningMs: 60_000 });
    const short = s.createToken('alice', { ttlMs: 30_000 });
    const c = await Client.authed(s.url, short);
    expect(await c.next()).toMatchObject({ type: 'token_expiring' });
    c.send({ type: 'subscribe', channel: 'room' });
    await c.next();
    c.send({ type: 'auth', token: 'T1' });
    expect(await c.next()).toMatchObject({ type: 'authenticated', userId: 'alice', params: { tokenExpiresAt: null } });
    c.send({ type: 'auth', token: 'T2' });
    expect(await c.next()).toMatchObject({ type: 'error', code: 'user_mismatch' });
    s.publish('room', 'still here');
    expect(await c.next()).toMatchObject({ type: 'push', data: 'still here' });
  });

  it('SESS-1, SUB-4: a new session replaces the older one with 4002; user channels are private', async () => {
    const s = await server();
    const first = await Client.authed(s.url);
    const second = await Client.authed(s.url);
    expect((await first.closed).code).toBe(4002);
    second.send({ type: 'subscribe', channel: 'user:bob' });
    expect(await second.next()).toMatchObject({ type: 'error', code: 'forbidden', channel: 'user:bob' });
    second.send({ type: 'subscribe', channel: 'user:alice' });
    expect(await second.next()).toMatchObject({ type: 'subscribed', channel: 'user:alice' });
  });

  it('RATE-1, RATE-3: the (N+1)-th message closes every connection of the user with 4429; a reconnect does not reset it', async () => {
    const s = await server({ rateLimit: { messages: 5, windowMs: 60_000 }, sessionPolicy: 'multiple' });
    const a = await Client.authed(s.url);
    const b = await Client.authed(s.url);
    for (let i = 0; i < 6; i++) a.send({ type: 'ping' });
    const [ca, cb] = await Promise.all([a.closed, b.closed]);
    expect(ca.code).toBe(4429);
    expect(ca.reason).toMatch(/^rate_limited;retry=\d+$/);
    expect(cb.code).toBe(4429);
    const again = await Client.authed(s.url);
    again.send({ type: 'ping' });
    expect((await again.closed).code).toBe(4429);
  });

  it('LIMIT-1, LIMIT-4: too large a message closes with 1009; too many subscriptions get subscription_limit', async () => {
    const s = await server({ maxPayloadBytes: 1_000, maxSubscriptions: 1 });
    const c = await Client.authed(s.url);
    c.send({ type: 'subscribe', channel: 'a' });
    await c.next();
    c.send({ type: 'subscribe', channel: 'b' });
    expect(await c.next()).toMatchObject({ type: 'error', code: 'subscription_limit', channel: 'b' });
    c.send({ type: 'request', id: 'big', action: 'echo', payload: 'x'.repeat(2_000) });
    expect((await c.closed).code).toBe(1009);
  });

  it('SHUT-1, SHUT-2: shutdown closes with 1012 and a retry hint, then refuses upgrades', async () => {
    const s = await server({ shutdownSpreadMs: 1_000 });
    const c = await Client.authed(s.url);
    const done = s.shutdown();
    const { code, reason } = await c.closed;
    expect(code).toBe(1012);
    expect(reason).toMatch(/^service_restart;retry=\d+$/);
    await done;
  });

  it('HTTP-1, HTTP-2, HTTP-3: heartbeat and presence on the WebSocket port', async () => {
    const s = await server();
    expect((await fetch(`${s.httpUrl}/heartbeat`, { method: 'POST', headers: { authorization: 'Bearer T1' } })).status).toBe(204);
    expect((await fetch(`${s.httpUrl}/heartbeat`, { method: 'POST', headers: { authorization: 'Bearer nope' } })).status).toBe(401);
    const p = await fetch(`${s.httpUrl}/presence`, { headers: { authorization: 'Bearer T1' } });
    expect(await p.json()).toMatchObject({ userId: 'alice', connected: true, sessions: 0 });
    expect((await fetch(`${s.httpUrl}/presence`)).status).toBe(401);
    expect((await fetch(`${s.httpUrl}/healthz`)).status).toBe(200);
  });

  it('SHUT-2: main.ts prints its URL and answers SIGTERM with 1012', async () => {
    const main = fileURLToPath(new URL('./main.ts', import.meta.url));
    const child = spawn(process.execPath, ['--import', 'tsx', main, '--port', '0', '--token', 'T1=alice', '--token', 'T2=bob'], { stdio: ['ignore', 'pipe', 'inherit'] });
    cleanups.push(() => {
      if (child.exitCode === null) child.kill('SIGKILL');
    });
    const lines = createInterface({ input: child.stdout! });
    const url = await new Promise<string>((resolve) => lines.on('line', (l) => {
      const m = /^listening on (ws:\/\/\S+)$/.exec(l);
      if (m) resolve(m[1]!);
    }));
    const c = await Client.authed(url, 'T2');
    const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
    child.kill('SIGTERM');
    expect((await c.closed).code).toBe(1012);
    expect(await exited).toBe(0);
  });
});

describe('raw server, broken', () => {
  it('BREAKS cite only server rules of the registry', () => {
    const registry = JSON.parse(readFileSync(new URL('../../../spec/rules.json', import.meta.url), 'utf8')) as { rules: { id: string; party: string }[] };
    const serverRules = new Set(registry.rules.filter((r) => r.party === 'server' || r.party === 'both').map((r) => r.id));
    for (const [name, b] of Object.entries(BREAKS)) {
      expect(b.rules.length, name).toBeGreaterThan(0);
      for (const id of b.rules) expect(serverRules.has(id), `${name} cites ${id}`).toBe(true);
    }
  });

  it('BREAKS are all listed in the README table', () => {
    const readme = readFileSync(new URL('./README.md', import.meta.url), 'utf8');
    const listed = [...readme.matchAll(/^\| `([a-z0-9-]+)` \| ([A-Z0-9-, ]+) \|/gm)].map((m) => `${m[1]} ${m[2]}`);
    expect(listed.sort()).toEqual(Object.entries(BREAKS).map(([n, b]) => `${n} ${b.rules.join(',')}`).sort());
  });

  it('HB-2: no-pong never answers a ping message', async () => {
    const s = await server({ break: 'no-pong' });
    const c = await Client.authed(s.url);
    c.send({ type: 'ping' });
    c.send({ type: 'request', id: 'after', action: 'echo' });
    expect(await c.next()).toMatchObject({ type: 'response', requestId: 'after' });
  });

  it('AUTH-2: wrong-auth-timeout-code closes with 1000', async () => {
    const s = await server({ break: 'wrong-auth-timeout-code', authTimeoutMs: 50 });
    expect((await (await Client.connect(s.url)).closed).code).toBe(1000);
  });

  it('AUTH-3: accepts-before-auth answers a request sent before auth', async () => {
    const s = await server({ break: 'accepts-before-auth' });
    const c = await Client.connect(s.url);
    expect(await c.request('echo', 1)).toMatchObject({ success: true, data: 1 });
  });

  it('SUB-7: leaks-subscription keeps pushing after unsubscribed', async () => {
    const s = await server({ break: 'leaks-subscription' });
    const c = await Client.authed(s.url);
    c.send({ type: 'subscribe', channel: 'news' });
    await c.next();
    c.send({ type: 'unsubscribe', channel: 'news' });
    expect(await c.next()).toMatchObject({ type: 'unsubscribed' });
    s.publish('news', 'leak');
    expect(await c.next()).toMatchObject({ type: 'push', data: 'leak' });
  });

  it('ERR-1, ERR-4: crash-on-bad-json drops every connection and stops listening', async () => {
    const s = await server({ break: 'crash-on-bad-json' });
    const bystander = await Client.authed(s.url, 'T2');
    const c = await Client.authed(s.url);
    c.send('{oops');
    expect((await bystander.closed).code).toBe(1006);
    await expect(Client.connect(s.url)).rejects.toThrow();
  });

  it('ERR-1: closes-on-bad-json closes instead of answering invalid_json', async () => {
    const s = await server({ break: 'closes-on-bad-json' });
    const c = await Client.authed(s.url);
    c.send('{oops');
    expect((await c.closed).code).toBe(1007);
  });

  it('RATE-3: rate-limit-per-connection forgets the count on reconnect', async () => {
    const s = await server({ break: 'rate-limit-per-connection', rateLimit: { messages: 3, windowMs: 60_000 } });
    const a = await Client.authed(s.url);
    for (let i = 0; i < 4; i++) a.send({ type: 'ping' });
    expect((await a.closed).code).toBe(4429);
    const b = await Client.authed(s.url);
    b.send({ type: 'ping' });
    expect(await b.next()).toMatchObject({ type: 'pong' });
  });

  it('SUB-3: no-idempotent-subscribe delivers a push twice after two subscribes', async () => {
    const s = await server({ break: 'no-idempotent-subscribe' });
    const c = await Client.authed(s.url);
    c.send({ type: 'subscribe', channel: 'x' });
    c.send({ type: 'subscribe', channel: 'x' });
    await c.next();
    await c.next();
    s.publish('x', 1);
    c.send({ type: 'request', id: 'barrier', action: 'echo' });
    const seen = await c.until((m) => m.requestId === 'barrier');
    expect(seen.filter((m) => m.type === 'push')).toHaveLength(2);
  });

  it('SUB-8: no-resume answers unavailable inside the history', async () => {
    const s = await server({ break: 'no-resume' });
    const pos = s.publish('feed', 1);
    const c = await Client.authed(s.url);
    c.send({ type: 'subscribe', channel: 'feed', since: pos });
    expect(await c.next()).toMatchObject({ type: 'subscribed', resume: 'unavailable' });
  });

  it('SEC-1, VER-3, SHUT-2: origin-not-checked, no-subprotocol-check and shutdown-1001 change the handshake and the shutdown', async () => {
    const o = await server({ break: 'origin-not-checked' });
    expect(await handshakeStatus(o.url, { headers: { Origin: 'https://evil.example' } })).toBe(101);
    const v = await server({ break: 'no-subprotocol-check' });
    expect(await handshakeStatus(v.url, { protocols: ['other.v9'] })).toBe(101);
    const sd = await server({ break: 'shutdown-1001' });
    const c = await Client.authed(sd.url);
    void sd.shutdown();
    expect((await c.closed).code).toBe(1001);
  });

  it('HB-1: keeps-half-open never ends a silent connection (it stays open across several ping frames)', async () => {
    const s = await server({ break: 'keeps-half-open', heartbeatIntervalMs: 20, heartbeatTimeoutMs: 30 });
    const silent = await Client.connect(s.url, { autoPong: false });
    silent.send({ type: 'auth', token: 'T1' });
    await silent.next();
    let pings = 0;
    await new Promise<void>((resolve) => silent.ws.on('ping', () => ++pings === 6 && resolve()));
    expect(silent.ws.readyState).toBe(WebSocket.OPEN);
  });
});
