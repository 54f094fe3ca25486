import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { FileTokenStore, MemoryTokenStore } from '../index.js';

async function tempFile(): Promise<string> {
  return join(await mkdtemp(join(tmpdir(), 'mooring-tokens-')), 'tokens.json');
}

describe('token stores', () => {
  it('AUTH-6: a burst of concurrent lookups on a freshly started store finds every token (reconnect storm)', async () => {
    const file = await tempFile();
    const users = Array.from({ length: 300 }, (_, i) => ({ userId: `u${i}`, ttlMs: null }));
    const tokens = await new FileTokenStore(file).createMany(users);
    const fresh = new FileTokenStore(file); // a restarted server
    const pending = [];
    for (const t of tokens) {
      pending.push(fresh.lookup(t));
      await new Promise((r) => setImmediate(r)); // spread over I/O turns, as sockets deliver auths
    }
    const records = await Promise.all(pending);
    expect(records.map((r) => r?.userId)).toEqual(users.map((u) => u.userId));
  });

  it('AUTH-6: tokens written by another process after start are found; unknown ones are not', async () => {
    const file = await tempFile();
    const server = new FileTokenStore(file);
    expect(await server.lookup('nothing-yet')).toBeNull();
    const cli = new FileTokenStore(file);
    const [a, b] = await Promise.all([cli.create('alice', { ttlMs: 1_000 }), cli.create('bob')]);
    expect(await server.lookup(a)).toMatchObject({ userId: 'alice', expiresAt: expect.any(Number) });
    expect(await server.lookup(b)).toEqual({ userId: 'bob', expiresAt: null, tokenId: expect.any(String) });
    expect(await server.lookup('still-unknown')).toBeNull();
    await expect(cli.create('x'.repeat(257))).rejects.toThrow(RangeError);
  });

  it('AUTH-6: the memory store keeps hashes only and expires nothing itself', async () => {
    const m = new MemoryTokenStore();
    const t = await m.create('alice', { ttlMs: 0 });
    expect(await m.lookup(t)).toMatchObject({ userId: 'alice' }); // expiry is judged by the core (AUTH-11)
    expect(await m.lookup(`${t}x`)).toBeNull();
  });
});
