import { mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CLOSE } from '../../../schemas/v1/index.js';
import { FileTokenStore, hashToken } from '../index.js';
import { auth, connect, expectClosedWith, start, useHarness } from './helpers.js';

useHarness();

const EVENTS = new Set([
  'server_listening', 'connection_opened', 'connection_closed', 'handshake_rejected', 'auth_succeeded', 'auth_failed',
  'auth_timeout', 'token_expired', 'session_replaced', 'rate_limited', 'message_invalid', 'heartbeat_timeout',
  'slow_consumer', 'request_failed', 'shutdown_started', 'shutdown_completed',
]);

describe('logs and token storage', () => {
  it('LOG-1: logs JSON entries with ts, level, event (spec names) and never a token', async () => {
    const s = await start({ allowTokenInUrl: true });
    const t1 = await s.createToken('alice');
    const c = await auth(s, 'alice', { token: t1 });
    c.send({ type: 'auth', token: 'wrong-token-value' });
    await expectClosedWith(c, CLOSE.UNAUTHORIZED);
    const t2 = await s.createToken('bob');
    const u = await connect(s, { url: `${s.url}?token=${t2}` });
    await u.next('authenticated');
    u.ws.send('{bad json');
    await u.next('error');
    await s.shutdown();
    expect(s.logs.length).toBeGreaterThan(5);
    for (const e of s.logs) {
      expect(Date.parse(e.ts)).not.toBeNaN();
      expect(['debug', 'info', 'warn', 'error']).toContain(e.level);
      expect(EVENTS).toContain(e.event);
    }
    const text = s.logs.map((e) => JSON.stringify(e)).join('\n');
    for (const secret of [t1, t2, 'wrong-token-value', 'token=']) expect(text).not.toContain(secret);
  });

  it('AUTH-6: the token file holds only SHA-256 hashes, and a running server sees tokens added later', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'mooring-tokens-'));
    const file = join(dir, 'tokens.json');
    const s = await start({ tokensFile: file });
    const token = await s.createToken('alice', { ttlMs: 60_000 });
    const later = await new FileTokenStore(file).create('bob'); // as `mooring token create` would
    const text = await readFile(file, 'utf8');
    expect(text).not.toContain(token);
    expect(text).not.toContain(later);
    const records = JSON.parse(text);
    expect(records).toEqual([
      { id: expect.stringMatching(/^t[0-9a-f]{12}$/), hash: hashToken(token), userId: 'alice', createdAt: expect.any(Number), expiresAt: expect.any(Number) },
      { id: expect.stringMatching(/^t[0-9a-f]{12}$/), hash: hashToken(later), userId: 'bob', createdAt: expect.any(Number), expiresAt: null },
    ]);
    expect(hashToken(token)).toMatch(/^[0-9a-f]{64}$/);
    expect((await auth(s, 'bob', { token: later })).authenticated.userId).toBe('bob');
  });
});
