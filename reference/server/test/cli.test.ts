import { spawn } from 'node:child_process';
import { mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { CLOSE, parseCloseReason } from '../../../schemas/v1/index.js';
import { hashToken } from '../index.js';
import { Client } from './helpers.js';
import WebSocket from 'ws';

const ROOT = resolve(import.meta.dirname, '../../..');
const CLI = join(ROOT, 'cli/mooring.ts');
const TSX = pathToFileURL(join(ROOT, 'node_modules/tsx/dist/loader.mjs')).href;

function mooring(args: string[], cwd: string) {
  return spawn(process.execPath, ['--import', TSX, CLI, ...args], { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
}

async function runToEnd(args: string[], cwd: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const p = mooring(args, cwd);
  let stdout = '';
  let stderr = '';
  p.stdout.on('data', (d) => (stdout += d));
  p.stderr.on('data', (d) => (stderr += d));
  const code = await new Promise<number | null>((r) => p.on('exit', r));
  return { code, stdout, stderr };
}

describe('mooring CLI', () => {
  it('AUTH-6: `mooring token create` prints the token once as its last line and stores only its hash', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'mooring-cli-'));
    const one = await runToEnd(['token', 'create', '--user', 'alice', '--ttl', '30m'], dir);
    expect(one.code).toBe(0);
    const token = one.stdout.trim().split('\n').at(-1)!;
    expect(token).toMatch(/^[A-Za-z0-9_-]{40,}$/);
    const many = await runToEnd(['token', 'create', '--user', 'load', '--count', '3', '--ttl', 'never'], dir);
    const tokens = many.stdout.trim().split('\n');
    expect(tokens).toHaveLength(3);
    const file = await readFile(join(dir, 'mooring-tokens.json'), 'utf8'); // the default file, in the cwd
    for (const t of [token, ...tokens]) expect(file).not.toContain(t);
    const records = JSON.parse(file);
    expect(records.map((r: { userId: string }) => r.userId)).toEqual(['alice', 'load-1', 'load-2', 'load-3']);
    expect(records[0]).toMatchObject({ hash: hashToken(token), expiresAt: expect.any(Number) });
    expect(records[1].expiresAt).toBeNull();
    expect((await runToEnd(['token', 'create'], dir)).code).toBe(2); // --user is required
  });

  it('SHUT-2: `mooring serve` prints its URL, serves tokens from the shared file, and on SIGTERM closes 1012 then exits 0', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'mooring-cli-'));
    const p = mooring(['serve', '--port', '0', '--quiet', '--shutdown-spread', '1s', '--rate-limit', '100/10s'], dir);
    const line = await new Promise<string>((r) => createInterface({ input: p.stdout }).once('line', r));
    const m = /^mooring: listening on (ws:\/\/127\.0\.0\.1:\d+\/ws)$/.exec(line);
    expect(m).not.toBeNull();
    // a token created after the server started (same default file) is accepted
    const token = (await runToEnd(['token', 'create', '--user', 'alice'], dir)).stdout.trim().split('\n').at(-1)!;
    const ws = new WebSocket(m![1]!, 'mooring.v1');
    const c = new Client(ws);
    await new Promise((r) => ws.once('open', r));
    c.send({ type: 'auth', token });
    const a = await c.next('authenticated');
    expect(a.params.rateLimit).toEqual({ messages: 100, windowMs: 10_000 });
    const exited = new Promise<number | null>((r) => p.on('exit', r));
    p.kill('SIGTERM');
    const closed = await c.closed;
    expect(closed.code).toBe(CLOSE.SERVICE_RESTART);
    expect(parseCloseReason(closed.reason).retryAfterMs).toBeLessThanOrEqual(1_000);
    expect(await exited).toBe(0);
  });

  it('--help of each command shows the flags with their defaults', async () => {
    const serve = await runToEnd(['serve', '--help'], ROOT);
    expect(serve.code).toBe(0);
    for (const flag of ['--host', '--port', '--path', '--tokens-file', '--heartbeat-interval', '--heartbeat-timeout', '--auth-timeout', '--rate-limit', '--max-payload', '--max-subscriptions', '--max-buffered', '--history-size', '--session-policy', '--max-connections-per-ip', '--allow-origin', '--allow-token-in-url', '--no-test-actions', '--shutdown-spread']) {
      expect(serve.stdout).toContain(flag);
    }
    expect(serve.stdout).toContain('[60/10s]');
    expect((await runToEnd(['token', '--help'], ROOT)).stdout).toContain('--count N');
    expect((await runToEnd(['serve', '--port', 'abc'], ROOT)).code).toBe(2);
  });
});

describe('mooring serve: the revision 1.2 limits are flags too', () => {
  it('RATE-4, LIMIT-6, LIMIT-7, LIMIT-8, LIMIT-9: each flag reaches the server options and the advertised params', async () => {
    const { parseServeArgs } = await import('../../../cli/serve.js');
    const { startServer } = await import('../index.js');
    const o = parseServeArgs(['--port', '0', '--tokens-file', ':memory:', '--quiet', '--restore-allowance', '150', '--max-depth', '16', '--history-bytes', '200000',
      '--max-history-bytes', '9000000', '--pre-auth-frames', '4', '--pre-auth-bytes', '4096', '--max-fragments', '8', '--headers-timeout', '2s']);
    expect(o).toMatchObject({ restoreAllowance: 150, maxDepth: 16, historyBytes: 200_000, maxHistoryBytes: 9_000_000, preAuthFrames: 4, preAuthBytes: 4096, maxFragments: 8, headersTimeoutMs: 2000 });
    expect(() => parseServeArgs(['--max-depth', '1'])).toThrow(/--max-depth/);
    const server = await startServer(o);
    try {
      expect(server.params).toMatchObject({ restoreAllowance: 150, maxDepth: 16, historyBytes: 200_000 });
    } finally {
      await server.shutdown();
    }
  });
});
