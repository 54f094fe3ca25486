/**
 * Threat: one user exhausts the server's memory through channel history (LIMIT-7) or deep nesting
 * (LIMIT-6). Child-process server with a 256 MiB heap; RSS read from /proc.
 */
import { afterEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { childServer, killChildren } from './harness.js';

afterEach(killChildren);

/** Opens an authenticated connection; resolves with it and a function that awaits a message by predicate. */
async function session(url: string, token: string) {
  const ws = new WebSocket(url, 'mooring.v1');
  const inbox: any[] = [];
  const waiters: { pred: (m: any) => boolean; resolve: (m: any) => void }[] = [];
  ws.on('message', (d) => {
    const m = JSON.parse(d.toString());
    const i = waiters.findIndex((w) => w.pred(m));
    if (i >= 0) waiters.splice(i, 1)[0]!.resolve(m);
    else inbox.push(m);
  });
  await new Promise((r) => ws.once('open', r));
  const next = (pred: (m: any) => boolean) => new Promise<any>((resolve) => {
    const i = inbox.findIndex(pred);
    if (i >= 0) resolve(inbox.splice(i, 1)[0]);
    else waiters.push({ pred, resolve });
  });
  ws.send(JSON.stringify({ type: 'auth', token }));
  await next((m) => m.type === 'authenticated');
  return { ws, next };
}

/** 64 KiB of JSON that is ~5,000 empty objects once parsed: the worst case of bytes to memory. */
function worstCaseData(maxBytes: number): unknown[] {
  return Array.from({ length: Math.floor((maxBytes - 200) / 3) }, () => ({}));
}

describe('security: memory', () => {
  it('LIMIT-7: 300 worst-case publishes keep RSS bounded under a 256 MiB heap (history kept as bytes, capped per channel and overall)', async () => {
    const s = await childServer({ rateLimit: { messages: 10_000, windowMs: 10_000 } }, ['--max-old-space-size=256']);
    const before = s.rssBytes();
    const c = await session(s.url, s.tokens[0]!);
    const data = worstCaseData(64 * 1024);
    let done = 0;
    for (let i = 0; i < 300; i++) {
      // each to its own channel as well as to one shared channel: both caps are exercised
      const channel = i % 2 ? 'hot' : `ch-${i}`;
      c.ws.send(JSON.stringify({ type: 'request', id: `p${i}`, action: 'publish', payload: { channel, data } }));
      const r = await c.next((m) => m.type === 'response' && m.requestId === `p${i}`);
      if (r.success) done++;
    }
    const stats = await s.stats();
    const after = s.rssBytes();
    console.log(`[figures] 300 publishes of 64 KiB [{},{},…]: RSS ${Math.round(before / 2 ** 20)} → ${Math.round(after / 2 ** 20)} MiB (heap used after gc ${Math.round(stats.heapUsed / 2 ** 20)} MiB), ${done}/300 published, server alive: ${s.proc.exitCode === null}`);
    expect(done).toBe(300);
    expect(s.proc.exitCode).toBe(null);
    expect(stats.heapUsed).toBeLessThan(96 * 2 ** 20);
    expect(after).toBeLessThan(before + 160 * 2 ** 20);
  }, 60_000);

  it('LIMIT-6: 64 KiB of nesting is refused with error too_deep before it is parsed; nothing reaches the channel', async () => {
    const s = await childServer({ rateLimit: { messages: 10_000, windowMs: 10_000 } }, ['--max-old-space-size=256']);
    const sub = await session(s.url, s.tokens[1]!);
    sub.ws.send(JSON.stringify({ type: 'subscribe', channel: 'deep' }));
    await sub.next((m) => m.type === 'subscribed');
    const c = await session(s.url, s.tokens[0]!);
    const depth = 30_000;
    for (let i = 0; i < 50; i++) {
      c.ws.send(`{"type":"request","id":"d${i}","action":"publish","payload":{"channel":"deep","data":${'['.repeat(depth)}${']'.repeat(depth)}}}`);
      expect(await c.next((m) => m.type === 'error' || m.requestId === `d${i}`)).toMatchObject({ type: 'error', code: 'too_deep' });
    }
    c.ws.send(JSON.stringify({ type: 'request', id: 'ok', action: 'publish', payload: { channel: 'deep', data: [[1]] } }));
    expect(await c.next((m) => m.requestId === 'ok')).toMatchObject({ success: true, data: { position: { offset: 1 } } });
    expect(await sub.next((m) => m.type === 'push')).toMatchObject({ data: [[1]], position: { offset: 1 } });
    expect(s.proc.exitCode).toBe(null);
  }, 60_000);
});
