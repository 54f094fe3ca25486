import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RedisTokenStore } from '../../redis/token-store.js';
import { hashToken, type TokenChange } from '../../token-store.js';
import { auth, useHarness } from '../helpers.js';
import { RedisProcess, startNodes } from './harness.js';

let redis: RedisProcess;
beforeAll(async () => {
  redis = await RedisProcess.start();
});
afterAll(async () => {
  await redis?.stop();
});
useHarness();

/** Rejects when `p` takes longer than `ms` (the bound under test). */
function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let t: NodeJS.Timeout;
  return Promise.race([p, new Promise<never>((_, reject) => (t = setTimeout(() => reject(new Error(`${what}: not within ${ms} ms`)), ms)))]).finally(() => clearTimeout(t));
}

describe('token store in Redis', () => {
  it('NODE-15: a token created on node A authenticates on node B; revoked by another store (as the CLI), B closes the session 4401 within 1 s', async () => {
    const keyPrefix = `tk${randomBytes(4).toString('hex')}:`;
    const [a, b] = await startNodes(2, redis.url, { tokensFile: ':memory:', redis: { url: redis.url, tokens: true } }, keyPrefix);
    expect(a!.tokenStore).toBeInstanceOf(RedisTokenStore);
    const token = await a!.tokenStore.create('carol');
    await (b!.tokenStore as RedisTokenStore).watching();
    const onB = await auth(b!, 'carol', { token });
    expect(onB.authenticated.userId).toBe('carol');

    // Redis holds the hash only, never the token.
    const raw = new Redis(redis.url);
    const stored = await raw.hgetall(`${keyPrefix}tokens`);
    await raw.quit();
    expect(Object.keys(stored)).toEqual([hashToken(token)]);
    expect(JSON.stringify(stored)).not.toContain(token);

    const cli = new RedisTokenStore({ url: redis.url, keyPrefix });
    try {
      const [info] = await cli.list({ userId: 'carol' });
      const t0 = performance.now();
      expect(await cli.revoke({ id: info!.id })).toEqual([info!.id]);
      const closed = await within(onB.closed, 1_000, 'close on node B');
      expect(closed.code).toBe(4401);
      console.log(`NODE-15 revocation to 4401 on another node: ${(performance.now() - t0).toFixed(1)} ms`);
      expect(await b!.tokenStore.lookupHash(hashToken(token))).toBeNull();
    } finally {
      await cli.close();
    }
  });

  it('NODE-15: list and rotate (at once, and with overlap) are seen by every store, and watchers hear the change', async () => {
    const o = { url: redis.url, keyPrefix: `tr${randomBytes(4).toString('hex')}:` };
    const [s1, s2] = [new RedisTokenStore(o), new RedisTokenStore(o)];
    try {
      const heard: TokenChange[] = [];
      let wake: () => void = () => undefined;
      s2.watch((c) => {
        heard.push(c);
        wake();
      });
      await s2.watching();
      const next = () => within(new Promise<void>((r) => (wake = r)), 1_000, 'change on s2');

      const t1 = await s1.create('dan', { ttlMs: null });
      const t2 = await s1.create('dan', { ttlMs: 60_000 });
      await s1.create('eve');
      expect((await s2.list({ userId: 'dan' })).map((t) => t.hashPrefix)).toEqual([hashToken(t1).slice(0, 8), hashToken(t2).slice(0, 8)]);
      expect(await s2.list()).toHaveLength(3);
      const [id1, id2] = (await s2.list({ userId: 'dan' })).map((t) => t.id);
      expect(await s2.lookupHash(hashToken(t1))).toMatchObject({ userId: 'dan', expiresAt: null, tokenId: id1 });

      // Rotation with overlap: the older tokens expire then; s2's watchers hear the new expiry.
      const before = Date.now();
      let heardChange = next();
      const r1 = await s1.rotate('dan', { overlapMs: 30_000 });
      await heardChange;
      expect(r1.revoked).toEqual([]);
      const expiry = heard.at(-1)!.expiry;
      expect(expiry.map((e) => e.id).sort()).toEqual([id1, id2].sort());
      for (const e of expiry) expect(e.expiresAt).toBeGreaterThanOrEqual(before + 30_000);
      expect((await s2.lookupHash(hashToken(t1)))!.expiresAt).toBe(expiry[0]!.expiresAt);

      // Rotation at once: every older token revoked, only the newest stays.
      heardChange = next();
      const r2 = await s1.rotate('dan');
      await heardChange;
      expect(r2.revoked.sort()).toEqual([id1, id2, r1.id].sort());
      expect(heard.at(-1)!.revoked.sort()).toEqual(r2.revoked.sort());
      expect((await s2.list({ userId: 'dan' })).map((t) => t.id)).toEqual([r2.id]);
      expect(await s2.lookupHash(hashToken(r2.token))).toMatchObject({ userId: 'dan', tokenId: r2.id });
      expect(await s2.lookupHash(hashToken(t2))).toBeNull();
    } finally {
      await Promise.all([s1.close(), s2.close()]);
    }
  });
});
