/**
 * The preflight: setup mistakes end the run before any case with one line naming the cause and the
 * fix (no verdict, exit code 2); a server that speaks Mooring but breaks a handshake rule is adapted
 * to and graded, not turned away.
 */
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocketServer } from 'ws';
import { startServer } from '../../reference/server/index.js';
import { exitCodeOf, runSuite, selectionProblem } from '../runner.js';
import { allCases } from '../cases/index.js';
import { checkUrl } from '../preflight.js';
import { rawTarget } from './fixtures.js';

type Ref = Awaited<ReturnType<typeof startServer>>;
let ref: Ref;
let t1: string;
let t2: string;

beforeAll(async () => {
  ref = await startServer({ port: 0, tokensFile: ':memory:', logger: false });
  t1 = await ref.createToken('pf-alice');
  t2 = await ref.createToken('pf-bob');
});
afterAll(async () => {
  await ref.shutdown();
});

async function closedPort(): Promise<number> {
  return new Promise((resolve) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

const conf1 = ['conf.echo'];

describe('preflight: setup errors are not verdicts', () => {
  it('nothing listening: one line, no case, exit code 2', async () => {
    const port = await closedPort();
    const r = await runSuite({ url: `ws://127.0.0.1:${port}/ws`, tokens: ['x'] });
    expect(r.setupError).toBe(`nothing listens at 127.0.0.1:${port} (connection refused): is the server running?`);
    expect(r.cases).toEqual([]);
    expect(exitCodeOf(r)).toBe(2);
    expect(r.rules.every((x) => x.outcome === 'untested')).toBe(true);
  });

  it('a wrong path: HTTP 404 names the path and suggests /ws', async () => {
    const r = await runSuite({ url: ref.url.replace(/\/ws$/, '/wss'), tokens: [t1, t2], select: conf1 });
    expect(r.setupError).toBe('HTTP 404 at /wss: is the path /ws?');
  });

  it('a refused token is named by its flag (--token2, or the line of --tokens-file) with the close code', async () => {
    const bad = await runSuite({ url: ref.url, tokens: [t1, 'not-a-token'], select: conf1 });
    expect(bad.setupError).toBe('--token2 was refused (4401 unauthorized): is it a token of this server (e.g. from its tokens file)?');
    const first = await runSuite({ url: ref.url, tokens: ['not-a-token', t2], select: conf1 });
    expect(first.setupError).toMatch(/^--token was refused \(4401 unauthorized\)/);
    const file = await runSuite({ url: ref.url, tokens: [t1, 'nope'], tokenLabels: ['--tokens-file line 1', '--tokens-file line 2'], select: conf1 });
    expect(file.setupError).toMatch(/^--tokens-file line 2 was refused \(4401 unauthorized\)/);
  });

  it('an extra token of --tokens-file that a concurrent case would use is checked too, by its line', async () => {
    const r = await runSuite({ url: ref.url, tokens: [t1, t2], caps: { extraTokens: ['nope'] }, extraTokenLabels: ['--tokens-file line 3'], select: ['hb.idle-client'] });
    expect(r.setupError).toMatch(/^--tokens-file line 3 was refused \(4401 unauthorized\)/);
  });

  it('two tokens of one user: the two-user cases would collide', async () => {
    const again = await ref.createToken('pf-alice');
    const r = await runSuite({ url: ref.url, tokens: [t1, again], select: conf1 });
    expect(r.setupError).toBe('--token and --token2 belong to the same user "pf-alice": give tokens of distinct users');
  });

  it('a WebSocket server that is not Mooring: no subprotocol chosen, or no answer to auth', async () => {
    const plain = new WebSocketServer({ port: 0, host: '127.0.0.1', handleProtocols: () => false });
    const echo = new WebSocketServer({ port: 0, host: '127.0.0.1' }); // selects whatever is offered
    for (const w of [plain, echo]) w.on('connection', (ws) => ws.on('message', (d) => ws.send(`echo ${d.toString().length}`)));
    await Promise.all([plain, echo].map((w) => new Promise((r) => w.once('listening', r))));
    try {
      const url = (w: WebSocketServer) => `ws://127.0.0.1:${(w.address() as net.AddressInfo).port}/ws`;
      const r = await runSuite({ url: url(plain), tokens: [t1], select: conf1, timeoutScale: 0.3 });
      expect(r.setupError).toBe('the server chose no mooring.v1 subprotocol: not a Mooring server?');
      const e = await runSuite({ url: url(echo), tokens: [t1], select: conf1, timeoutScale: 0.3 });
      expect(e.setupError).toBe('--token: no "authenticated" within 1500 ms after auth (got "echo 69"): is it a Mooring server?');
    } finally {
      plain.close();
      echo.close();
    }
  });

  it('AUTH-5: a Mooring server whose authenticated carries no usable params fails AUTH-5 (exit 1), it is no setup error', async () => {
    const broken = new WebSocketServer({ port: 0, host: '127.0.0.1', handleProtocols: (p) => (p.has('mooring.v1') ? 'mooring.v1' : false) });
    broken.on('connection', (ws) => ws.on('message', () => ws.send(JSON.stringify({ type: 'authenticated', userId: 'u', sessionId: 's', protocol: 'mooring.v1', params: { heartbeatIntervalMs: '25000' } }))));
    await new Promise((r) => broken.once('listening', r));
    try {
      const r = await runSuite({ url: `ws://127.0.0.1:${(broken.address() as net.AddressInfo).port}/ws`, tokens: ['t'], select: conf1 });
      expect(r.setupError).toBeUndefined();
      expect(exitCodeOf(r)).toBe(1);
      expect(r.cases.map((c) => [c.id, c.outcome])).toEqual([['preflight.authenticated', 'fail']]);
      expect(r.rules.find((x) => x.id === 'AUTH-5')?.outcome).toBe('fail');
      expect(r.cases[0]!.detail).toMatch(/^AUTH-5: the server's "authenticated" has params\.heartbeatIntervalMs is "25000"/);
    } finally {
      await new Promise((r) => broken.close(r));
    }
  });

  it('a server without the conformance profile: the actions it lacks, and how to offer them', async () => {
    const bare = await startServer({ port: 0, tokensFile: ':memory:', logger: false, testActions: false });
    try {
      const r = await runSuite({ url: bare.url, tokens: [await bare.createToken('a'), await bare.createToken('b')], select: conf1 });
      expect(r.setupError).toMatch(/^the server offers no "echo", "publish", "sleep" action \(unknown_action\): start it with the conformance profile/);
    } finally {
      await bare.shutdown();
    }
  });

  it('VER-2: a Mooring server that selects no subprotocol is adapted to and graded, not a setup error', async () => {
    const t = await rawTarget('no-subprotocol-selected');
    try {
      const lines: string[] = [];
      const r = await runSuite({ url: t.url, tokens: t.tokens, caps: t.caps, select: ['VER-2', 'CONF-1'], onPreflight: (l) => lines.push(l) });
      expect(r.setupError).toBeUndefined();
      expect(r.rules.find((x) => x.id === 'VER-2')?.outcome).toBe('fail');
      expect(r.rules.find((x) => x.id === 'CONF-1')?.outcome).toBe('pass');
      expect(lines.join('\n')).toContain('selects no subprotocol');
    } finally {
      await t.close();
    }
  });
});

describe('usage errors', () => {
  it('a --select or --exclude that matches no case, or leaves nothing, is a usage error listing what exists', async () => {
    expect(selectionProblem(allCases(), ['NOPE'])).toMatch(/^--select "NOPE" matches no case: areas: CONF VER AUTH/);
    expect(selectionProblem(allCases(), ['AUTH', 'hb.nope'])).toMatch(/^--select "hb.nope" matches no case/);
    expect(selectionProblem(allCases(), [], ['XYZ-9'])).toMatch(/^--exclude "XYZ-9" matches no case/);
    expect(selectionProblem(allCases(), ['SESS'], ['SESS-1'])).toMatch(/leaves no case to run/);
    expect(selectionProblem(allCases(), ['AUTH', 'SUB-8', 'hb.blackhole'])).toBeUndefined();
    const r = await runSuite({ url: ref.url, tokens: [t1, t2], select: ['NOPE'] });
    expect(exitCodeOf(r)).toBe(2);
    expect(r.setupError).toContain('matches no case');
  });

  it('a URL without ws:// is a usage error with the URL meant', () => {
    expect(() => checkUrl('127.0.0.1:8080')).toThrow('"127.0.0.1:8080" is not a ws:// or wss:// URL: did you mean ws://127.0.0.1:8080/ws?');
    expect(() => checkUrl('http://127.0.0.1:8080/ws')).toThrow('did you mean ws://127.0.0.1:8080/ws?');
    expect(checkUrl('wss://example.org/ws').host).toBe('example.org');
  });
});
