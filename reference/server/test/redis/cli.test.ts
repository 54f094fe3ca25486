import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FileTokenStore } from '../../tokens-file.js';
import { connect, type Client } from '../helpers.js';
import { RedisProcess } from './harness.js';

const ROOT = resolve(import.meta.dirname, '../../../..');
const TSX = pathToFileURL(join(ROOT, 'node_modules/tsx/dist/loader.mjs')).href;
const CLI = join(ROOT, 'cli/mooring.ts');

let redis: RedisProcess;
let dir: string;
const procs: ChildProcess[] = [];
beforeAll(async () => {
  redis = await RedisProcess.start();
  dir = mkdtempSync(join(tmpdir(), 'mooring-redis-cli-'));
});
afterAll(async () => {
  for (const p of procs) p.kill('SIGKILL');
  await redis?.stop();
  rmSync(dir, { recursive: true, force: true });
});

/** `mooring serve --port 0 --redis URL`; resolves with its URL from the server_listening log line. */
function serve(args: string[]): Promise<string> {
  const p = spawn(process.execPath, ['--import', TSX, CLI, 'serve', '--port', '0', ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
  procs.push(p);
  return new Promise((resolve, reject) => {
    createInterface({ input: p.stderr! }).on('line', (line) => {
      const e = JSON.parse(line);
      if (e.event === 'server_listening') resolve(e.url);
    });
    p.once('exit', (code) => reject(new Error(`mooring serve exited ${code}`)));
  });
}

async function authed(url: string, token: string): Promise<Client> {
  const c = await connect({ url });
  c.send({ type: 'auth', token });
  await c.next('authenticated');
  return c;
}

describe('mooring serve --redis', () => {
  it('NODE-1: two `mooring serve --redis URL` processes on one Redis form one deployment (push across, session across)', async () => {
    const tokensFile = join(dir, 'tokens.json');
    const store = new FileTokenStore(tokensFile);
    const [t1, t2, t3] = [await store.create('alice'), await store.create('bob'), await store.create('alice')];
    const args = ['--tokens-file', tokensFile, '--redis', redis.url, '--redis-prefix', 'cli:'];
    const [u1, u2] = await Promise.all([serve(args), serve(args)]);
    const a = await authed(u1, t1);
    const b = await authed(u2, t2);
    await a.subscribe('news');
    const r = await b.request('publish', { channel: 'news', data: { hi: 1 } });
    expect(r.success).toBe(true);
    expect((await a.next('push')).data).toEqual({ hi: 1 });
    await authed(u2, t3); // alice again, on the other process
    expect((await a.closed).code).toBe(4002);
    b.ws.terminate();
  }, 20_000);

  it('NODE-1: --redis takes a redis:// URL only', async () => {
    const { parseServeArgs } = await import('../../../../cli/serve.js');
    expect(parseServeArgs(['--redis', 'redis://h:1', '--redis-prefix', 'p:']).redis).toEqual({ url: 'redis://h:1', keyPrefix: 'p:' });
    expect(() => parseServeArgs(['--redis', 'h:1'])).toThrow(/--redis/);
    expect(parseServeArgs([]).redis).toBeUndefined();
  });
});
