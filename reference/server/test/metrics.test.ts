/**
 * Prometheus metrics (OPS-1..OPS-9): off by default, on a listener of their own, protected off the
 * loopback; every series driven by real traffic from real ws clients and scraped over HTTP.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parseServeArgs } from '../../../cli/serve.js';
import { CLOSE } from '../../../schemas/v1/index.js';
import { auth, connect, start, until, useHarness, type TestServer } from './helpers.js';

useHarness();

async function scrape(url: string, token?: string): Promise<{ status: number; text: string }> {
  const res = await fetch(url, token ? { headers: { authorization: `Bearer ${token}` } } : {});
  return { status: res.status, text: await res.text() };
}

/** The value of one series, e.g. value(text, 'mooring_closes_sent_total', { code: '4401' }); 0 when absent. */
function value(text: string, name: string, labels: Record<string, string> = {}): number {
  for (const line of text.split('\n')) {
    if (line.startsWith('#')) continue;
    const m = /^([a-z_]+)(?:\{([^}]*)\})? (\S+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    const have = Object.fromEntries([...(m[2] ?? '').matchAll(/(\w+)="([^"]*)"/g)].map((x) => [x[1], x[2]]));
    if (Object.entries(labels).every(([k, v]) => have[k] === v)) return Number(m[3]);
  }
  return 0;
}

async function metricsUrl(s: TestServer): Promise<string> {
  return s.metrics!.ready;
}

describe('metrics', () => {
  it('OPS-1: off by default: no metrics object, nothing at /metrics on the WebSocket port', async () => {
    const s = await start();
    expect(s.metrics).toBeNull();
    expect((await fetch(`${s.httpUrl}/metrics`)).status).toBe(404);
  });

  it('OPS-2: metrics are served on a listener of their own (never the WebSocket port), require the bearer secret when given, and are refused off the loopback without one', async () => {
    const open = await start({ metrics: { port: 0, processMetrics: false } });
    const url = await metricsUrl(open);
    expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/metrics$/);
    expect(new URL(url).port).not.toBe(String(open.port));
    expect((await fetch(`${open.httpUrl}/metrics`)).status).toBe(404);
    expect((await scrape(url)).status).toBe(200);
    const locked = await start({ metrics: { port: 0, token: 's3cret-metrics' } });
    const lockedUrl = await metricsUrl(locked);
    expect((await scrape(lockedUrl)).status).toBe(401);
    expect((await scrape(lockedUrl, 'wrong')).status).toBe(401);
    const ok = await scrape(lockedUrl, 's3cret-metrics');
    expect(ok.status).toBe(200);
    expect(ok.text).toContain('mooring_process_cpu_user_seconds_total'); // prom-client's process metrics, on by default
    await expect(start({ metrics: { port: 0, host: '0.0.0.0' } })).rejects.toThrow(/metrics on 0\.0\.0\.0 need a bearer token/);
  });

  it('OPS-3, OPS-4, OPS-5, OPS-8, OPS-9: connections, sessions, messages by type, closes by code, auth failures by reason, request durations', async () => {
    const s = await start({ metrics: { port: 0, processMetrics: false } });
    const url = await metricsUrl(s);
    const a = await auth(s, 'alice');
    await auth(s, 'bob');
    const idle = await connect(s); // connected, not a session
    let t = (await scrape(url)).text;
    expect(value(t, 'mooring_connections')).toBe(3);
    expect(value(t, 'mooring_sessions')).toBe(2);

    expect((await a.request('echo', { x: 1 })).success).toBe(true);
    expect((await a.request('no_such_action')).success).toBe(false);
    await a.roundTrip();
    a.send({ type: 'bogus' });
    await a.next('error');
    a.ws.send(Buffer.from([1, 2, 3]));
    await a.next('error');
    // OPS-8: an unknown token at auth, and over HTTP
    idle.send({ type: 'auth', token: 'not-a-token' });
    expect((await idle.closed).code).toBe(CLOSE.UNAUTHORIZED);
    expect((await fetch(`${s.httpUrl}/heartbeat`, { method: 'POST', headers: { authorization: 'Bearer nope' } })).status).toBe(401);

    await until(() => s.connectionCount() === 2);
    t = (await scrape(url)).text;
    expect(value(t, 'mooring_connections')).toBe(2);
    // OPS-4
    expect(value(t, 'mooring_messages_received_total', { type: 'auth' })).toBe(3);
    expect(value(t, 'mooring_messages_received_total', { type: 'request' })).toBe(2);
    expect(value(t, 'mooring_messages_received_total', { type: 'ping' })).toBe(1);
    expect(value(t, 'mooring_messages_received_total', { type: 'other' })).toBe(1);
    expect(value(t, 'mooring_messages_received_total', { type: 'binary' })).toBe(1);
    expect(value(t, 'mooring_messages_sent_total', { type: 'authenticated' })).toBe(2);
    expect(value(t, 'mooring_messages_sent_total', { type: 'response' })).toBe(2);
    expect(value(t, 'mooring_messages_sent_total', { type: 'pong' })).toBe(1);
    expect(value(t, 'mooring_messages_sent_total', { type: 'error' })).toBe(2);
    // OPS-5
    expect(value(t, 'mooring_closes_sent_total', { code: '4401' })).toBe(1);
    expect(value(t, 'mooring_connections_closed_total', { code: '4401' })).toBe(1);
    // OPS-8
    expect(value(t, 'mooring_auth_failures_total', { reason: 'unknown_token' })).toBe(1);
    expect(value(t, 'mooring_auth_failures_total', { reason: 'http_unknown_token' })).toBe(1);
    // OPS-9: by action (unknown names under one value) and outcome
    expect(value(t, 'mooring_request_duration_seconds_count', { action: 'echo', outcome: 'ok' })).toBe(1);
    expect(value(t, 'mooring_request_duration_seconds_count', { action: 'unknown', outcome: 'error' })).toBe(1);
    expect(t).not.toContain('no_such_action');
    expect(t).not.toContain(a.token);
  });

  it('OPS-6, OPS-7: rate-limit excesses, slow consumers, resumes and the heartbeat lag histogram', async () => {
    const s = await start({ metrics: { port: 0, processMetrics: false }, rateLimit: { messages: 20, windowMs: 10_000 }, heartbeatIntervalMs: 100, maxBufferedBytes: 64 * 1024, closeGraceMs: 200 });
    const url = await metricsUrl(s);
    // resume: a subscribe with `since`
    const reader = await auth(s, 'reader');
    const pos = await s.publish('news', 1);
    await reader.subscribe('news', pos);
    // rate limit: one message beyond the window's budget
    const flood = await auth(s, 'flood');
    for (let i = 0; i < 21; i++) flood.send({ type: 'ping' });
    expect((await flood.closed).code).toBe(CLOSE.RATE_LIMITED);
    // slow consumer: stops reading while pushes pile up
    const slow = await auth(s, 'slow');
    await slow.subscribe('firehose');
    (slow.ws as unknown as { _socket: import('node:net').Socket })._socket.pause();
    const payload = 'y'.repeat(8 * 1024);
    for (let i = 0; i < 4000 && !s.logs.some((e) => e.event === 'slow_consumer'); i++) await s.publish('firehose', payload);
    // heartbeat lag: the server pings every 100 ms; ws answers with a pong at once, which reaches the
    // server before the round trip that follows it on the same connection
    await new Promise((r) => reader.ws.once('ping', r));
    await reader.roundTrip();
    const t = (await scrape(url)).text;
    expect(value(t, 'mooring_resumes_total')).toBe(1);
    expect(value(t, 'mooring_rate_limited_total')).toBe(1);
    expect(value(t, 'mooring_closes_sent_total', { code: '4429' })).toBe(1);
    expect(value(t, 'mooring_slow_consumers_total')).toBe(1);
    expect(value(t, 'mooring_closes_sent_total', { code: '4509' })).toBe(1);
    expect(value(t, 'mooring_heartbeat_lag_seconds_bucket', { le: '+Inf' })).toBeGreaterThanOrEqual(1);
    expect(value(t, 'mooring_heartbeat_lag_seconds_sum')).toBeLessThan(value(t, 'mooring_heartbeat_lag_seconds_count')); // well under 1 s each on loopback
  });

  it('OPS-1, OPS-2: `mooring serve --metrics` flags: loopback by default, a secret from a file, usage errors; a real serve process prints and serves its metrics URL', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'mooring-metrics-'));
    const secretFile = join(dir, 'metrics.secret');
    await writeFile(secretFile, 'file-secret\n');
    expect(parseServeArgs(['--metrics', '9464']).metrics).toEqual({ host: '127.0.0.1', port: 9464 });
    expect(parseServeArgs(['--metrics', '0.0.0.0:9464', '--metrics-token-file', secretFile]).metrics).toEqual({ host: '0.0.0.0', port: 9464, token: 'file-secret' });
    expect(parseServeArgs(['--metrics', '[::1]:9464']).metrics).toEqual({ host: '::1', port: 9464 });
    expect(parseServeArgs(['--presence-window', '90s', '--http-heartbeat-interval', '20s'])).toMatchObject({ presenceWindowMs: 90_000, httpHeartbeatIntervalMs: 20_000 });
    expect(() => parseServeArgs(['--metrics-token-file', secretFile])).toThrow('--metrics-token-file needs --metrics [HOST:]PORT');
    expect(() => parseServeArgs(['--metrics', 'host:port'])).toThrow(/--metrics: expected \[HOST:\]PORT/);
    expect(() => parseServeArgs(['--metrics', '9464', '--metrics-token-file', join(dir, 'missing')])).toThrow(/cannot read .*missing: ENOENT/);

    const root = resolve(import.meta.dirname, '../../..');
    const tsx = pathToFileURL(join(root, 'node_modules/tsx/dist/loader.mjs')).href;
    const p = spawn(process.execPath, ['--import', tsx, join(root, 'cli/mooring.ts'), 'serve', '--port', '0', '--tokens-file', ':memory:', '--quiet', '--metrics', '0', '--metrics-token-file', secretFile], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
    const lines = createInterface({ input: p.stdout });
    const out: string[] = [];
    const metricsLine = await new Promise<string>((r) => lines.on('line', (l) => (out.push(l), l.startsWith('mooring: metrics on ') && r(l))));
    expect(out[0]).toMatch(/^mooring: listening on ws:\/\/127\.0\.0\.1:\d+\/ws$/);
    const url = metricsLine.slice('mooring: metrics on '.length);
    expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/metrics$/);
    expect((await scrape(url)).status).toBe(401);
    expect(value((await scrape(url, 'file-secret')).text, 'mooring_connections')).toBe(0);
    const exited = new Promise((r) => p.on('exit', r));
    p.kill('SIGTERM');
    expect(await exited).toBe(0);
  });
});
