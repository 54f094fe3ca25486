/**
 * Token lifecycle (AUTH-13..AUTH-19): revocation reaches new auths and live sessions within a second,
 * whoever revoked (the server's API, `mooring token revoke` in another process, a file rewritten by
 * hand on a filesystem without change events); rotation; listings that never show a token.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rename, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { CLOSE } from '../../../schemas/v1/index.js';
import { FileTokenStore, hashToken, MemoryTokenStore, type TokenChange } from '../index.js';
import { auth, connect, start, useHarness, type Client, type Closed } from './helpers.js';

useHarness();

const ROOT = resolve(import.meta.dirname, '../../..');
const CLI = join(ROOT, 'cli/mooring.ts');
const TSX = pathToFileURL(join(ROOT, 'node_modules/tsx/dist/loader.mjs')).href;

async function tempFile(): Promise<string> {
  return join(await mkdtemp(join(tmpdir(), 'mooring-lifecycle-')), 'tokens.json');
}

/** Runs `mooring ...` as a real process; resolves when it exited. */
async function mooring(args: string[], cwd = ROOT): Promise<{ code: number | null; stdout: string; stderr: string; exitedAt: number }> {
  const p = spawn(process.execPath, ['--import', TSX, CLI, ...args], { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  p.stdout.on('data', (d) => (stdout += d));
  p.stderr.on('data', (d) => (stderr += d));
  const code = await new Promise<number | null>((r) => p.on('exit', r));
  return { code, stdout, stderr, exitedAt: Date.now() };
}

/** The close of `c`, or a failure after `ms` (a bound, not a sleep). */
async function closedWithin(c: Client, ms: number): Promise<Closed & { at: number }> {
  let timer: NodeJS.Timeout | undefined;
  const bound = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`not closed within ${ms} ms`)), ms)));
  try {
    const closed = await Promise.race([c.closed, bound]);
    return { ...closed, at: Date.now() };
  } finally {
    clearTimeout(timer);
  }
}

/** The next change a store announces. */
function nextChange(store: { watch(l: (c: TokenChange) => void): () => void }): Promise<TokenChange> {
  return new Promise((resolve) => {
    const off = store.watch((c) => {
      off();
      resolve(c);
    });
  });
}

describe('token lifecycle', () => {
  it('AUTH-13, AUTH-14: revoking through the server closes the live session with 4401 and refuses the token afterwards (memory store)', async () => {
    const s = await start();
    const alice = await auth(s, 'alice');
    const bob = await auth(s, 'bob');
    const [info] = await s.listTokens({ userId: 'alice' });
    const t0 = Date.now();
    expect(await s.revokeToken({ id: info!.id })).toEqual([info!.id]);
    const closed = await closedWithin(alice, 1_000);
    expect(closed).toMatchObject({ code: CLOSE.UNAUTHORIZED, reason: 'unauthorized' });
    expect(closed.at - t0).toBeLessThan(1_000);
    expect(s.logs.find((e) => e.event === 'auth_failed' && e['reason'] === 'token_revoked')).toMatchObject({ userId: 'alice', revokedId: info!.id });
    // AUTH-13: the revoked token is refused like an unknown one, over WebSocket and HTTP.
    const again = await connect(s);
    again.send({ type: 'auth', token: alice.token });
    expect((await closedWithin(again, 1_000)).code).toBe(CLOSE.UNAUTHORIZED);
    const hb = await fetch(`${s.httpUrl}/heartbeat`, { method: 'POST', headers: { authorization: `Bearer ${alice.token}` } });
    expect(hb.status).toBe(401);
    // bob's session is untouched
    bob.send({ type: 'ping' });
    expect((await bob.next('pong')).type).toBe('pong');
  });

  it('AUTH-14, AUTH-15, AUTH-16: `mooring token revoke` in another process closes the live session with 4401 within a second; create, list and revoke work against a running server', async () => {
    const file = await tempFile();
    const s = await start({ tokensFile: file });
    const created = await mooring(['token', 'create', '--user', 'carol', '--ttl', '1h', '--tokens-file', file]);
    expect(created.code).toBe(0);
    const token = created.stdout.trim();
    const carol = await auth(s, 'carol', { token }); // created after the server started: found at once
    const dave = await auth(s, 'dave', { token: await s.createToken('dave') });
    // AUTH-15: list shows ids, users, times and a hash prefix: never a token, never a whole hash.
    const listed = await mooring(['token', 'list', '--json', '--tokens-file', file]);
    expect(listed.code).toBe(0);
    const rows = JSON.parse(listed.stdout) as { id: string; userId: string; hashPrefix: string }[];
    expect(rows.map((r) => r.userId)).toEqual(['carol', 'dave']);
    expect(rows[0]).toEqual({ id: expect.any(String), userId: 'carol', createdAt: expect.any(Number), expiresAt: expect.any(Number), hashPrefix: hashToken(token).slice(0, 8) });
    expect(listed.stdout).not.toContain(token);
    expect(listed.stdout).not.toContain(hashToken(token));
    const spawnedAt = Date.now();
    const revoked = await mooring(['token', 'revoke', '--user', 'carol', '--tokens-file', file]);
    expect(revoked).toMatchObject({ code: 0, stdout: `${rows[0]!.id}\n` });
    const closed = await closedWithin(carol, 1_000);
    expect(closed.code).toBe(CLOSE.UNAUTHORIZED);
    console.log(`[figures] revocation by another process: live session closed ${closed.at - revoked.exitedAt} ms after \`mooring token revoke\` exited (${closed.at - spawnedAt} ms after it was spawned)`);
    expect(closed.at - revoked.exitedAt).toBeLessThan(1_000);
    dave.send({ type: 'ping' });
    await dave.next('pong');
    const none = await mooring(['token', 'revoke', '--id', 'tnosuchtoken', '--tokens-file', file]);
    expect(none.code).toBe(1);
    expect(none.stderr).toMatch(/^mooring token: no token matches id tnosuchtoken in /);
  });

  it('AUTH-16: with no fs change events (polling alone), a file rewritten by another writer still revokes within a second', async () => {
    const file = await tempFile();
    const store = new FileTokenStore(file, { fsWatch: false, pollMs: 200 });
    const s = await start({ tokenStore: store });
    const t = await store.create('erin');
    const erin = await auth(s, 'erin', { token: t });
    // a hand-made atomic rewrite without erin's record (as any tool replacing the file would)
    const records = JSON.parse(await readFile(file, 'utf8')) as { userId: string }[];
    await writeFile(`${file}.new`, JSON.stringify(records.filter((r) => r.userId !== 'erin')));
    const t0 = Date.now();
    await rename(`${file}.new`, file);
    const closed = await closedWithin(erin, 1_000);
    expect(closed.code).toBe(CLOSE.UNAUTHORIZED);
    console.log(`[figures] revocation seen by the stat poll alone (pollMs 200): session closed ${closed.at - t0} ms after the rename`);
    expect(closed.at - t0).toBeLessThan(1_000);
    await store.close();
  });

  it('AUTH-17: rotate revokes the older tokens at once (their session closes 4401); the new token works', async () => {
    const s = await start();
    const old = await auth(s, 'frank');
    const { token, revoked } = await s.rotateToken('frank');
    expect(revoked).toHaveLength(1);
    expect((await closedWithin(old, 1_000)).code).toBe(CLOSE.UNAUTHORIZED);
    expect((await auth(s, 'frank', { token })).authenticated.userId).toBe('frank');
  });

  it('AUTH-17, AUTH-18: rotate with an overlap moves the older session\'s expiry (token_expiring, then 4419); a session re-authenticated with the new token survives the old one\'s revocation', async () => {
    const s = await start({ tokenWarningMs: 10_000 });
    const a = await auth(s, 'gina');
    const b = await auth(s, 'hank');
    const gina = await s.rotateToken('gina', { overlapMs: 300 });
    const expiring = await a.next('token_expiring');
    expect(expiring.expiresAt).toBeGreaterThan(Date.now() - 50);
    expect((await closedWithin(a, 1_500)).code).toBe(CLOSE.TOKEN_EXPIRED);
    expect((await auth(s, 'gina', { token: gina.token })).authenticated.params.tokenExpiresAt).toBeNull();
    // AUTH-18: hank moves his session to a new token in-band; revoking the old one leaves it open.
    const hank = await s.rotateToken('hank', { overlapMs: 60_000 });
    b.send({ type: 'auth', token: hank.token });
    await b.next('authenticated');
    const [oldHank] = (await s.listTokens({ userId: 'hank' })).filter((t) => t.id !== hank.id);
    await s.revokeToken({ id: oldHank!.id });
    b.send({ type: 'ping' });
    expect((await b.next('pong')).type).toBe('pong');
    await s.revokeToken({ id: hank.id });
    expect((await closedWithin(b, 1_000)).code).toBe(CLOSE.UNAUTHORIZED);
  });

  it('AUTH-13: concurrent writers never undo each other: a revoke racing creates in another store on the same file stays revoked', async () => {
    const file = await tempFile();
    const a = new FileTokenStore(file);
    const b = new FileTokenStore(file);
    const victim = await a.create('ivan');
    const [[revokedIds]] = await Promise.all([
      Promise.all([a.revoke({ userId: 'ivan' })]),
      Promise.all(Array.from({ length: 8 }, (_, i) => b.create(`user${i}`))),
    ]);
    expect(revokedIds).toHaveLength(1);
    const fresh = new FileTokenStore(file);
    expect(await fresh.lookup(victim)).toBeNull();
    expect(await fresh.list()).toHaveLength(8);
  });

  it('AUTH-14: the stores announce revocations and expiry changes to watchers (memory and file alike)', async () => {
    const file = await tempFile();
    for (const store of [new MemoryTokenStore(), new FileTokenStore(file)]) {
      await store.create('judy');
      const id = (await store.list())[0]!.id;
      const revoked = nextChange(store);
      await store.revoke({ id });
      expect(await revoked).toEqual({ revoked: [id], expiry: [] });
      await store.create('kim');
      const kimId = (await store.list({ userId: 'kim' }))[0]!.id;
      const moved = nextChange(store);
      const r = await store.rotate('kim', { overlapMs: 5_000 });
      expect((await moved).expiry).toEqual([{ id: kimId, expiresAt: expect.any(Number) }]);
      expect(r.revoked).toEqual([]);
      await store.close?.();
    }
  });

  it('AUTH-19: the token CLI prints a token only from create and rotate, once; usage mistakes get one line and exit 2, no stack trace', async () => {
    const file = await tempFile();
    const rotated = await mooring(['token', 'rotate', '--user', 'lena', '--ttl', 'never', '--tokens-file', file]);
    expect(rotated.code).toBe(0);
    const token = rotated.stdout.trim();
    expect(token).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(rotated.stderr).not.toContain(token);
    expect(await readFile(file, 'utf8')).not.toContain(token);
    const table = await mooring(['token', 'list', '--tokens-file', file]);
    expect(table.stdout).toMatch(/^ID\s+USER\s+CREATED\s+EXPIRES\s+HASH\n/);
    expect(table.stdout).toContain(`${hashToken(token).slice(0, 8)}…`);
    expect(table.stdout + table.stderr).not.toContain(token);
    for (const [args, message] of [
      [['token', 'list', '--tokne', 'x'], 'mooring token list: unknown option --tokne (mooring token list --help)\n'],
      [['token', 'revoke', '--tokens-file', file], 'mooring token revoke: needs --id ID or --user NAME (one of them) (mooring token revoke --help)\n'],
      [['token', 'rotate', '--user', 'x', '--json'], 'mooring token rotate: unknown option --json (mooring token rotate --help)\n'],
      [['token', 'delete'], 'mooring token: unknown subcommand "delete" (mooring token --help)\n'],
    ] as const) {
      const r = await mooring([...args]);
      expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 2, stderr: message });
    }
  });
});
