import { describe, expect, it } from 'vitest';
import { CLOSE, DEFAULT_PARAMS } from '../../../schemas/v1/index.js';
import { MemoryTokenStore, type TokenStore } from '../index.js';
import { auth, connect, expectClosedWith, start, useHarness } from './helpers.js';

useHarness();

/** A token store whose lookups wait until released (verification in flight). */
function gatedStore(): TokenStore & { release(): void } {
  const inner = new MemoryTokenStore();
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  return Object.assign(Object.create(inner) as MemoryTokenStore, {
    lookupHash: async (h: string) => (await gate, inner.lookupHash(h)),
    release: () => release(),
  });
}

describe('auth', () => {
  it('AUTH-2: closes with 4408 a connection that sends no auth within authTimeoutMs', async () => {
    const s = await start({ authTimeoutMs: 150 });
    const c = await connect(s);
    const t0 = Date.now();
    const closed = await expectClosedWith(c, CLOSE.AUTH_TIMEOUT);
    expect(closed.reason).toBe('auth_timeout');
    expect(Date.now() - t0).toBeGreaterThanOrEqual(100);
    expect(s.logs.some((e) => e.event === 'auth_timeout')).toBe(true);
  });

  it('AUTH-3: closes with 4400 a connection that sends another message before auth', async () => {
    const s = await start();
    const c = await connect(s);
    c.send({ type: 'subscribe', channel: 'news' });
    expect((await expectClosedWith(c, CLOSE.NOT_AUTHENTICATED)).reason).toBe('not_authenticated');
  });

  it('AUTH-3: closes with 4400 a message sent while the token verification is in flight', async () => {
    const tokenStore = gatedStore();
    const s = await start({ tokenStore });
    const token = await tokenStore.create('alice');
    const c = await connect(s);
    c.send({ type: 'auth', token });
    c.send({ type: 'ping' });
    await expectClosedWith(c, CLOSE.NOT_AUTHENTICATED);
    tokenStore.release();
    expect(c.received.filter((m) => m.type === 'authenticated')).toEqual([]);
  });

  it('AUTH-4: closes with 4401 a connection whose token is unknown', async () => {
    const s = await start();
    const c = await connect(s);
    c.send({ type: 'auth', token: 'not-a-token' });
    expect((await expectClosedWith(c, CLOSE.UNAUTHORIZED)).reason).toBe('unauthorized');
    expect(s.logs.some((e) => e.event === 'auth_failed' && e.reason === 'unknown_token')).toBe(true);
  });

  it('AUTH-5: answers a valid auth with authenticated: userId, sessionId, protocol, params, server', async () => {
    const s = await start({ heartbeatIntervalMs: 12_345 });
    const token = await s.createToken('alice', { ttlMs: 3_600_000 });
    const c = await auth(s, 'alice', { token });
    const a = c.authenticated;
    expect(a).toMatchObject({ type: 'authenticated', userId: 'alice', protocol: 'mooring.v1', server: { name: 'mooring-reference' } });
    expect(a.sessionId).toMatch(/^[A-Za-z0-9]{16}$/);
    expect(a.params).toEqual({ ...DEFAULT_PARAMS, heartbeatIntervalMs: 12_345, tokenExpiresAt: expect.any(Number), httpHeartbeat: { path: "/heartbeat", intervalMs: 30_000, presenceWindowMs: 60_000 } });
    expect(a.params.tokenExpiresAt).toBeGreaterThan(Date.now());
    expect(s.params.heartbeatIntervalMs).toBe(12_345);
    const other = await auth(s, 'bob');
    expect(other.authenticated.sessionId).not.toBe(a.sessionId);
    expect(other.authenticated.params.tokenExpiresAt).toBeNull();
  });

  it('AUTH-8: sends token_expiring before expiry and closes with 4419 at expiry', async () => {
    const s = await start({ tokenWarningMs: 200 });
    const token = await s.createToken('alice', { ttlMs: 400 });
    const c = await auth(s, 'alice', { token });
    const warn = await c.next('token_expiring');
    expect(warn.expiresAt).toBe(c.authenticated.params.tokenExpiresAt);
    expect(Date.now()).toBeLessThan(warn.expiresAt);
    expect((await expectClosedWith(c, CLOSE.TOKEN_EXPIRED)).reason).toBe('token_expired');
    expect(Date.now()).toBeGreaterThanOrEqual(warn.expiresAt - 5);
    expect(s.logs.some((e) => e.event === 'token_expired')).toBe(true);
  });

  it('AUTH-8: a session that re-authenticates in-band is not closed at the old expiry', async () => {
    const s = await start({ tokenWarningMs: 10_000, sessionPolicy: 'multiple' });
    const short = await s.createToken('alice', { ttlMs: 300 });
    const c = await auth(s, 'alice', { token: short });
    const witness = await auth(s, 'alice', { token: short }); // never re-authenticates
    await c.next('token_expiring'); // at once: already inside the warning window
    c.send({ type: 'auth', token: await s.createToken('alice', { ttlMs: 60_000 }) });
    const re = await c.next('authenticated');
    expect(re.params.tokenExpiresAt).toBeGreaterThan(c.authenticated.params.tokenExpiresAt);
    await expectClosedWith(witness, CLOSE.TOKEN_EXPIRED); // the old expiry has passed
    await c.roundTrip();
    expect(c.isOpen).toBe(true);
  });

  it('AUTH-9: in-band re-auth: same user keeps subscriptions, other user gets user_mismatch, bad token closes 4401', async () => {
    const s = await start();
    const c = await auth(s, 'alice');
    await c.subscribe('news');
    c.send({ type: 'auth', token: await s.createToken('alice') });
    const re = await c.next('authenticated');
    expect(re.sessionId).toBe(c.authenticated.sessionId);
    await s.publish('news', 1);
    expect((await c.next('push')).data).toBe(1);
    c.send({ type: 'auth', token: await s.createToken('mallory') });
    expect((await c.next('error')).code).toBe('user_mismatch');
    await s.publish('news', 2);
    expect((await c.next('push')).data).toBe(2); // identity and subscriptions unchanged
    c.send({ type: 'auth', token: 'garbage' });
    await expectClosedWith(c, CLOSE.UNAUTHORIZED);
  });

  it('AUTH-11: closes with 4419 a connection whose token has already expired', async () => {
    const s = await start();
    const token = await s.createToken('alice', { ttlMs: 0 });
    const c = await connect(s);
    c.send({ type: 'auth', token });
    expect((await expectClosedWith(c, CLOSE.TOKEN_EXPIRED)).reason).toBe('token_expired');
  });
});
