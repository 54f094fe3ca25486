/**
 * What a hostile peer (or a careless report) must never achieve: crash the server with a handshake,
 * grow its memory without bound, or get a token written where it outlives the connection.
 */
import { chmod, mkdtemp, readdir, stat, writeFile } from 'node:fs/promises';
import { connect as tcpConnect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { toHtml } from '../../../conformance/reporters/html.js';
import { toJson } from '../../../conformance/reporters/json.js';
import { toJunit } from '../../../conformance/reporters/junit.js';
import { redact } from '../../../conformance/wire/redact.js';
import type { SuiteReport } from '../../../conformance/types.js';
import { FileTokenStore, MemoryBroker } from '../index.js';
import { auth, start, useHarness } from './helpers.js';

useHarness();

/** Sends raw bytes, resolves with everything the server answered once it closes the socket. */
function rawHttp(port: number, request: string): Promise<string> {
  return new Promise((resolve, reject) => {
    let got = '';
    const sock = tcpConnect(port, '127.0.0.1', () => sock.write(request));
    sock.setEncoding('utf8');
    sock.on('data', (d: string) => (got += d));
    sock.on('close', () => resolve(got));
    sock.on('error', reject);
  });
}

const upgradeHeaders = 'Host: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n';

describe('hostile peers', () => {
  it('ERR-4: a handshake whose request target is not a valid URL gets HTTP 400 and the server keeps serving', async () => {
    const s = await start();
    const before = await auth(s, 'alice');
    for (const target of ['//a:99999/ws', '//[::1/ws', 'http://x:99999/ws?token=abc']) {
      const answer = await rawHttp(s.port, `GET ${target} HTTP/1.1\r\n${upgradeHeaders}`);
      expect(answer).toMatch(/^HTTP\/1\.1 400 /);
    }
    await before.roundTrip(); // an open connection did not notice
    await auth(s, 'bob'); // and the server still takes new ones
    const rejected = s.logs.filter((e) => e.event === 'handshake_rejected');
    expect(rejected.map((e) => e.status)).toEqual([400, 400, 400]);
    expect(JSON.stringify(rejected)).not.toMatch(/99999|token=|abc/); // LOG-1: the target is never logged
  });

  it('ERR-4: an HTTP request whose target is not a valid URL gets 400, not 500', async () => {
    const s = await start();
    expect(await rawHttp(s.port, 'POST //a:99999/heartbeat HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: 0\r\n\r\n')).toMatch(/^HTTP\/1\.1 400 /);
  });

  it('ERR-4: invalid UTF-8 in a text frame ends only that connection (1007); others keep working', async () => {
    const s = await start();
    const other = await auth(s, 'bob');
    const c = await auth(s, 'alice');
    c.ws.send(Buffer.from([0x7b, 0xff, 0xfe, 0x7d]), { binary: false }); // a text frame that is not UTF-8
    expect((await c.closed).code).toBe(1007);
    await other.roundTrip();
  });

  it('ERR-4: the broker keeps history for at most maxChannels channels nobody listens to', async () => {
    const broker = new MemoryBroker({ maxChannels: 3, epoch: 'base' });
    const stopLive = await broker.subscribe('live', () => undefined);
    await broker.publish('live', 0, 1);
    for (let i = 0; i < 50; i++) await broker.publish(`flood-${i}`, { i }, 1);
    expect(broker.channelCount()).toBeLessThanOrEqual(3);
    // the channel with a listener was never evicted: its history and epoch are intact
    expect(await broker.read('live', { epoch: 'base', offset: 0 })).toMatchObject({ head: { epoch: 'base', offset: 1 }, missed: [{ json: '0' }] });
    stopLive();
  });

  it('ERR-4: the broker bounds the bytes of history kept over all channels', async () => {
    const broker = new MemoryBroker({ maxHistoryBytes: 10_000, epoch: 'base' });
    const data = 'x'.repeat(1_000);
    for (let i = 0; i < 100; i++) await broker.publish(`c${i}`, data, 1);
    expect(broker.channelCount()).toBeLessThanOrEqual(10);
  });

  it('SUB-9: a channel re-created after its history was evicted starts a new epoch, so a resume gets "unavailable", never another push', async () => {
    const broker = new MemoryBroker({ maxChannels: 2, epoch: 'base' });
    const s = await start({ broker });
    const c = await auth(s, 'alice');
    for (let i = 1; i <= 3; i++) expect((await c.request('publish', { channel: 'news', data: i })).success).toBe(true);
    const last = { epoch: 'base', offset: 3 };
    // a flood of publishes to new names evicts `news` (nobody listens to it)
    for (let i = 0; i < 5; i++) await c.request('publish', { channel: `spam-${i}`, data: i });
    expect(broker.channelCount()).toBeLessThanOrEqual(2);
    // `news` comes back: four new pushes; offsets 1..4 again, but in another epoch
    let pos = { epoch: '', offset: 0 };
    for (let i = 1; i <= 4; i++) pos = (await c.request('publish', { channel: 'news', data: `new-${i}` })).data.position;
    expect(pos.offset).toBe(4);
    expect(pos.epoch).not.toBe('base');
    const ack = await c.subscribe('news', last);
    expect(ack).toMatchObject({ resume: 'unavailable', position: pos });
    await c.roundTrip();
    expect(c.queued('push')).toEqual([]); // nothing replayed across the epochs
  });

  it('AUTH-6: the tokens file is rewritten 0600 and atomically, leaving no temporary file', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'mooring-tokens-'));
    const file = join(dir, 'tokens.json');
    await writeFile(file, '[]\n');
    await chmod(file, 0o644); // e.g. created by hand, world-readable
    const store = new FileTokenStore(file);
    const tokens = await Promise.all([store.create('alice'), store.create('bob')]);
    expect((await stat(file)).mode & 0o777).toBe(0o600);
    expect(await readdir(dir)).toEqual(['tokens.json']);
    const text = JSON.stringify(await import('node:fs/promises').then((fs) => fs.readFile(file, 'utf8')));
    for (const t of tokens) expect(text).not.toContain(t);
    expect(await new FileTokenStore(file).lookup(tokens[1]!)).toMatchObject({ userId: 'bob' });
  });

  it('AUTH-6: a failed write of the tokens file leaves the old file and no temporary file', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'mooring-tokens-'));
    const file = join(dir, 'tokens.json');
    const store = new FileTokenStore(file);
    const kept = await store.create('alice');
    await chmod(dir, 0o500); // no new files in the directory
    try {
      if (process.getuid?.() === 0) return; // root ignores the permission: nothing to observe
      await expect(store.create('bob')).rejects.toThrow();
    } finally {
      await chmod(dir, 0o700);
    }
    expect(await readdir(dir)).toEqual(['tokens.json']);
    expect(await new FileTokenStore(file).lookup(kept)).toMatchObject({ userId: 'alice' });
  });

  it('AUTH-6: reports never carry a token: auth frames, URL queries, URL credentials, Bearer headers', () => {
    const token = 'pZ8w0Qe4-secret_Token.value';
    const cases: [string, string][] = [
      [`{"type":"auth","token":"${token}"}`, token],
      ['{"type":"auth","token":"ab\\"cd-efgh"}', 'efgh'],
      [`wss://h/ws?token=${token}&x=1`, token],
      [`wss://h/ws?x=1&access_token=${token}`, token],
      [`wss://me:${token}@h/ws`, token],
      [`authorization: Bearer ${token}`, token],
    ];
    for (const [text, secret] of cases) {
      const once = redact(text);
      expect(once).not.toContain(secret);
      expect(redact(once)).toBe(once); // idempotent: reporters may redact again
    }
    const report = {
      schemaVersion: 1, tool: { name: 'mooring test', version: '0' }, target: { url: `wss://h/ws?token=${token}`, mode: 'url' },
      params: null, startedAt: '', durationMs: 0, totals: { cases: 1, pass: 0, fail: 1, warn: 0, info: 0, skip: 0 },
      rules: [], failed: true, strict: false,
      cases: [{
        id: 'auth.token-in-url', title: 't', area: 'AUTH', rules: ['AUTH-7'], level: 'must', outcome: 'fail',
        detail: `answered HTTP 404 GET /ws?token=${token}`, findings: [{ rule: 'AUTH-7', grade: 'fail', message: `Bearer ${token}` }],
        notes: [`{"token":"${token}"}`], closes: { seen: [] }, startedAt: '', durationMs: 0,
        transcript: [{ t: 0, conn: 'c1', dir: 'event', kind: 'http', data: `HTTP 404 no route for /ws?token=${token}` }],
      }],
    } as unknown as SuiteReport;
    for (const out of [toJson(report), toHtml(report), toJunit(report)]) expect(out).not.toContain(token);
    expect(report.target.url).toContain(token); // the report object itself is left alone
  });
});
