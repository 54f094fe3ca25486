/**
 * The Node client against the real reference server on loopback: faults injected by restarting the
 * server, a TCP proxy, short token lifetimes and a second session of the same user.
 */
import { describe, expect, it } from 'vitest';
import { MooringError } from '../index.js';
import { MemoryBroker } from '../../server/index.js';
import { Observed, restart, start, TcpProxy, useCleanup } from './helpers.js';

useCleanup();

const offsets = (o: Observed) => o.pushes.map((p) => p.meta.position.offset);
const datas = (o: Observed) => o.pushes.map((p) => p.data);

describe('basics on the wire', () => {
  it('VER-1, AUTH-1: connects offering mooring.v1, authenticates with the token, echoes', async () => {
    const server = await start();
    const token = await server.createToken('alice');
    const o = new Observed({ url: server.url, token: () => token });
    o.client.connect();
    await o.sessions(1);
    expect(await o.client.request('echo', { x: 1 })).toEqual({ x: 1 });
    const d = o.client.diagnostics();
    expect(d).toMatchObject({ state: 'authenticated', userId: 'alice', params: { heartbeatIntervalMs: 200 } });
    expect(d.log.map((e) => e.kind)).toContain('authenticated');
  });

  it('SUB-12: the authenticated event carries the user channel the server names, also for a user id outside the channel grammar', async () => {
    const server = await start();
    const token = await server.createToken('alice smith');
    const o = new Observed({ url: server.url, token: () => token });
    o.client.connect();
    const a = await o.nth('authenticated', 1);
    expect(a.userChannel).toMatch(/^uid:[A-Za-z0-9_-]{43}$/);
    o.subscribe(a.userChannel!);
    await o.subscribed();
  });

  it('SUB-10: two handlers on one channel share one server subscription; both get each push', async () => {
    const server = await start();
    const token = await server.createToken('alice');
    const o = new Observed({ url: server.url, token: () => token });
    const got: unknown[] = [];
    o.subscribe('news');
    const off2 = o.client.subscribe('news', (d) => got.push(d));
    o.client.connect();
    await o.sessions(1);
    await o.subscribed();
    await server.publish('news', 1);
    await o.pushCount(1);
    expect(got).toEqual([1]);
    expect(o.count('subscribed')).toBe(1);
    off2();
    await server.publish('news', 2);
    await o.pushCount(2);
    expect(got).toEqual([1]);
  });

  it('RECON-6, RECON-3: calls made while connecting wait for authenticated (the server would close 4400 otherwise) and then go out once', async () => {
    const server = await start();
    const token = await server.createToken('alice');
    const o = new Observed({ url: server.url, token: async () => token });
    o.subscribe('news');
    o.client.connect();
    const early = o.client.request('echo', 'early'); // made while connecting: waits for authentication
    const fast = o.client.request('echo', 'fast', { failFast: true });
    await expect(fast).rejects.toMatchObject({ code: 'disconnected' });
    expect(await early).toBe('early');
    await o.subscribed();
    await server.publish('news', 1);
    await o.pushCount(1);
    expect(o.count('closed')).toBe(0);
    expect(o.count('subscribed')).toBe(1);
  });

  it('REQ-5: a request times out with code timeout and its late response is dropped', async () => {
    const server = await start();
    const token = await server.createToken('alice');
    const o = new Observed({ url: server.url, token: () => token });
    o.client.connect();
    await o.sessions(1);
    const err = await o.client.request('sleep', { ms: 300 }, { timeout: 50 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(MooringError);
    expect((err as MooringError).code).toBe('timeout');
    // The late response arrives while the next request is pending: it is logged as dropped, nothing else.
    await o.client.request('sleep', { ms: 400 });
    expect(o.client.diagnostics().log.some((e) => e.kind === 'response' && e.detail.includes('dropped'))).toBe(true);
    expect(o.client.diagnostics().pending.count).toBe(0);
  });

  it('REQ-5: an unknown action rejects with the server code unknown_action', async () => {
    const server = await start();
    const token = await server.createToken('alice');
    const o = new Observed({ url: server.url, token: () => token });
    o.client.connect();
    await expect(o.client.request('nope')).rejects.toMatchObject({ code: 'unknown_action' });
  });

  it('LIMIT-5: a request beyond maxPendingRequests rejects at once with MooringError too_many_requests; the pending one still resolves', async () => {
    const server = await start({ maxPendingRequests: 1 });
    const token = await server.createToken('alice');
    const o = new Observed({ url: server.url, token: () => token });
    o.client.connect();
    await o.sessions(1);
    const held = o.client.request('sleep', { ms: 300 });
    const t0 = Date.now();
    const err = await o.client.request('echo', 1, { timeout: 5_000 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(MooringError);
    expect((err as MooringError).code).toBe('too_many_requests');
    expect(Date.now() - t0).toBeLessThan(1_000); // not at its 5 s timeout
    await expect(held).resolves.toEqual({ slept: 300 });
    await expect(o.client.request('echo', 2)).resolves.toBe(2);
    expect(o.client.state).toBe('authenticated');
  });

  it('RECON-5: a bad token (4401 unauthorized) stops: closed, willRetry false', async () => {
    const server = await start();
    const o = new Observed({ url: server.url, token: () => 'not-a-token' });
    o.client.connect();
    const closed = await o.nth('closed', 1);
    expect(closed).toMatchObject({ code: 4401, willRetry: false });
    expect(o.client.state).toBe('closed');
    expect(o.client.diagnostics().nextReconnectAt).toBeUndefined();
  });

  it('HTTP-4: the optional HTTP heartbeat posts /heartbeat with the Bearer token and the server sees the user', async () => {
    const server = await start();
    const token = await server.createToken('alice');
    const o = new Observed({ url: server.url, token: () => token, httpHeartbeat: { intervalMs: 100 } });
    o.client.connect();
    await o.sessions(1);
    await o.nth('http_heartbeat', 1);
    const res = await fetch(`${server.httpUrl}/presence`, { headers: { authorization: `Bearer ${token}` } });
    expect(await res.json()).toMatchObject({ userId: 'alice', connected: true });
    await o.nth('http_heartbeat', 3); // every intervalMs
    expect(o.client.diagnostics().httpHeartbeat).toMatchObject({ ok: true, status: 204 });
  });
});

describe('faults: the client ends where the spec says, subscriptions restored, nothing lost that the server could replay', () => {
  it('SHUT-2, RECON-4, SUB-10: server shut down mid-session and restarted on the same port with its broker: 1012 obeyed, missed pushes replayed, no duplicate, no gap', async () => {
    let server = await start();
    const token = await server.createToken('alice');
    const o = new Observed({ url: server.url, token: () => token });
    o.subscribe('news');
    o.client.connect();
    await o.sessions(1);
    await o.subscribed();
    await server.publish('news', 'a');
    await o.pushCount(1);

    const broker = server.broker;
    const restarted = restart(server, true);
    const closed = await o.nth('closed', 1);
    expect(closed).toMatchObject({ code: 1012, willRetry: true, closeClass: 'reconnect_now' });
    // Published while the client is away: the shared broker keeps them for resume.
    await broker.publish('news', 'b', Date.now());
    await broker.publish('news', 'c', Date.now());
    server = await restarted;
    await o.sessions(2);
    await o.pushCount(3);
    await server.publish('news', 'd');
    await o.pushCount(4);
    expect(datas(o)).toEqual(['a', 'b', 'c', 'd']);
    expect(offsets(o)).toEqual([1, 2, 3, 4]);
    expect(o.pushes.map((p) => p.meta.replay)).toEqual([false, true, true, false]);
    expect(o.gaps).toEqual([]);
    expect(o.events.find((e) => e.type === 'subscribed' && e.resume !== undefined)).toMatchObject({ resume: 'replayed', replayed: 2 });
    expect(o.client.state).toBe('authenticated');
  });

  it('SUB-10: server restarted without its history: the resume is unavailable and the handler gets a gap, then live pushes flow', async () => {
    let server = await start({ broker: new MemoryBroker({ epoch: 'first' }) });
    const token = await server.createToken('alice');
    const o = new Observed({ url: server.url, token: () => token });
    o.subscribe('news');
    o.client.connect();
    await o.sessions(1);
    await o.subscribed();
    await server.publish('news', 'a');
    await o.pushCount(1);
    server = await restart(server, false);
    await o.sessions(2);
    await o.signal.until(() => o.gaps.length === 1, 'gap');
    expect(o.gaps[0]).toMatchObject({ channel: 'news', reason: 'unavailable', from: { epoch: 'first', offset: 1 } });
    await o.subscribed();
    await server.publish('news', 'b');
    await o.pushCount(2);
    expect(datas(o)).toEqual(['a', 'b']);
    expect(o.pushes[1]!.meta.position.epoch).not.toBe('first');
  });

  it('REQ-6, RECON-1, SUB-10: the network drops the connection: pending requests fail with disconnected, the client backs off, resumes and gets the pushes it missed', async () => {
    const server = await start();
    const proxy = await TcpProxy.start(server.port);
    const token = await server.createToken('alice');
    const o = new Observed({ url: proxy.url(), token: () => token });
    o.subscribe('news');
    o.client.connect();
    await o.sessions(1);
    await o.subscribed();
    await server.publish('news', 1);
    await o.pushCount(1);

    const pending = o.client.request('sleep', { ms: 2_000 });
    proxy.refuse = true; // the server stays unreachable for a while
    proxy.dropAll();
    await expect(pending).rejects.toMatchObject({ code: 'disconnected' });
    const closed = await o.nth('closed', 1);
    expect(closed).toMatchObject({ code: 1006, willRetry: true, closeClass: 'reconnect' });
    // RECON-1: failed attempts back off with growing bounds (base 50 ms, cap 400 ms in this test).
    const delays = await Promise.all([1, 2, 3].map((n) => o.nth('reconnecting', n)));
    delays.forEach((r, n) => {
      const d = Math.min(400, 50 * 2 ** n);
      expect(r.attempt).toBe(n);
      expect(r.delayMs).toBeGreaterThanOrEqual(d / 2);
      expect(r.delayMs).toBeLessThanOrEqual(d);
    });
    await server.publish('news', 2); // missed while away
    proxy.refuse = false;
    await o.sessions(2);
    await o.pushCount(2);
    await server.publish('news', 3);
    await o.pushCount(3);
    expect(datas(o)).toEqual([1, 2, 3]);
    expect(o.pushes.map((p) => p.meta.replay)).toEqual([false, true, false]);
    expect(o.gaps).toEqual([]);
    // REQ-6: the sleep request was never sent again.
    expect(o.client.diagnostics().log.filter((e) => e.kind === 'request' && e.detail.includes('sleep'))).toHaveLength(1);
  });

  it('HB-3, HB-4: pongs withheld (a half-dead path): the client closes with 4001, reconnects, and replays what it missed', async () => {
    const server = await start();
    const proxy = await TcpProxy.start(server.port);
    const token = await server.createToken('alice');
    const o = new Observed({ url: proxy.url(), token: () => token });
    o.subscribe('news');
    o.client.connect();
    await o.sessions(1);
    await o.subscribed();
    proxy.withholdServerBytes();
    await server.publish('news', 'lost-on-the-wire');
    const closed = await o.nth('closed', 1);
    expect(closed).toMatchObject({ code: 4001, reason: 'heartbeat_timeout', byClient: true, willRetry: true });
    await o.sessions(2);
    await o.pushCount(1);
    expect(o.pushes[0]).toMatchObject({ data: 'lost-on-the-wire', meta: { replay: true } });
    expect(o.client.diagnostics().log.some((e) => e.kind === 'ping')).toBe(true);
  });

  it('AUTH-10: token about to expire: the client fetches a fresh token and re-authenticates in-band, the session outlives the old token', async () => {
    const server = await start({ tokenWarningMs: 900 });
    const first = await server.createToken('alice', { ttlMs: 1_200 });
    const firstExpiry = Date.now() + 1_200;
    const fresh = await server.createToken('alice', { ttlMs: 60_000 });
    const o = new Observed({ url: server.url, token: ({ reason }) => (reason === 'expiring' ? fresh : first) });
    o.subscribe('news');
    o.client.connect();
    await o.sessions(1);
    const reauth = await o.nth('authenticated', 1, (e) => e.reauth);
    // HTTP-9: the HTTP heartbeat the server advertises asks for the token too (reason heartbeat)
    expect(o.tokenReasons.filter((r) => r !== 'heartbeat')).toEqual(['connect', 'expiring']);
    expect(reauth.params.tokenExpiresAt).toBeGreaterThan(firstExpiry);
    // Outlive the first token on the same connection (a server-side wait, not a sleep here).
    await o.client.request('sleep', { ms: Math.max(0, firstExpiry - Date.now()) + 200 }, { timeout: 5_000 });
    await server.publish('news', 'still here');
    await o.pushCount(1);
    expect(o.count('closed')).toBe(0);
  });

  it('RECON-5: token expired (4419) without re-auth: the token function is asked again (reason expired) and the client reconnects with subscriptions restored', async () => {
    const server = await start({ tokenWarningMs: 200 });
    const short = await server.createToken('alice', { ttlMs: 600 });
    const fresh = await server.createToken('alice', { ttlMs: 60_000 });
    const o = new Observed({
      url: server.url,
      token: ({ reason }) => {
        if (reason === 'expiring') throw new Error('token service down'); // no in-band refresh this time
        return reason === 'expired' ? fresh : short;
      },
    });
    o.subscribe('news');
    o.client.connect();
    await o.sessions(1);
    const closed = await o.nth('closed', 1);
    expect(closed).toMatchObject({ code: 4419, closeClass: 'refresh_token', willRetry: true });
    await o.sessions(2);
    // HTTP-9: the HTTP heartbeat the server advertises asks for the token too (reason heartbeat)
    expect(o.tokenReasons.filter((r) => r !== 'heartbeat')).toEqual(['connect', 'expiring', 'expired']);
    await o.subscribed();
    await server.publish('news', 'after refresh');
    await o.pushCount(1);
  });

  it('SESS-2: a second session of the same user replaces the first: the first stops with 4002, willRetry false, and stays closed', async () => {
    const server = await start();
    const token = await server.createToken('alice');
    const first = new Observed({ url: server.url, token: () => token });
    first.subscribe('news');
    first.client.connect();
    await first.sessions(1);
    const second = new Observed({ url: server.url, token: () => token });
    second.subscribe('news');
    second.client.connect();
    const closed = await first.nth('closed', 1);
    expect(closed).toMatchObject({ code: 4002, willRetry: false, closeClass: 'stop' });
    await second.sessions(1);
    await second.subscribed();
    await server.publish('news', 'x');
    await second.pushCount(1);
    expect(first.client.state).toBe('closed');
    expect(first.client.diagnostics().nextReconnectAt).toBeUndefined();
    expect(first.count('connecting')).toBe(1);
    expect(server.connectionCount()).toBe(1);
    await expect(first.client.request('echo')).rejects.toMatchObject({ code: 'closed' });
  });
});
