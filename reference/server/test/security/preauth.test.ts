/**
 * Threat: unauthenticated peers make the server work and hold memory until their auth deadline:
 * floods of invalid frames (answered and logged one by one) and messages in thousands of one-byte
 * fragments (LIMIT-8). Child-process server; RSS from /proc, log volume counted by the child.
 */
import type { Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { childServer, frame, killChildren, rawSocket, upgradeRequest } from './harness.js';

afterEach(killChildren);

/** A raw socket upgraded to a WebSocket (the 101 read and discarded). */
async function rawWebSocket(port: number): Promise<Socket> {
  const s = await rawSocket(port);
  s.on('error', () => undefined);
  s.write(upgradeRequest('/ws', ['Sec-WebSocket-Protocol: mooring.v1']));
  await new Promise<void>((resolve, reject) => {
    let got = '';
    const on = (d: Buffer) => {
      got += d.toString('latin1');
      if (!got.includes('\r\n\r\n')) return;
      s.off('data', on);
      if (got.startsWith('HTTP/1.1 101')) resolve();
      else reject(new Error(got.slice(0, 40)));
    };
    s.on('data', on);
  });
  return s;
}

describe('security: before authentication', () => {
  it('LIMIT-8: 20 connections × 5,000 invalid frames get at most 8 errors each, then 4400 (or, past 16 KiB, no more reading); the log stays small', async () => {
    const s = await childServer({ authTimeoutMs: 30_000 });
    const t0 = Date.now();
    const results = await Promise.all(Array.from({ length: 20 }, async () => {
      const ws = new WebSocket(s.url, 'mooring.v1');
      let errors = 0;
      ws.on('message', () => errors++);
      await new Promise((r) => ws.once('open', r));
      const closed = new Promise<number>((r) => ws.once('close', (code) => r(code)));
      for (let i = 0; i < 5_000 && ws.readyState === WebSocket.OPEN; i++) ws.send('{not json');
      const code = await closed;
      return { errors, code };
    }));
    const stats = await s.stats();
    const errors = results.reduce((n, r) => n + r.errors, 0);
    console.log(`[figures] 20 × 5,000 invalid frames before auth: ${errors} errors answered, closes ${[...new Set(results.map((r) => r.code))].join(',')}, ${stats.events.message_invalid ?? 0} message_invalid log lines, ${stats.logBytes} log bytes, ${Date.now() - t0} ms`);
    expect(results.every((r) => (r.code === 4400 || r.code === 1006) && r.errors <= 8)).toBe(true);
    expect(stats.logBytes).toBeLessThan(100_000);
  }, 30_000);

  it('LIMIT-8: 200 connections × 16,000 one-byte fragments are closed 1009 after 64 fragments; RSS stays low', async () => {
    const s = await childServer({ authTimeoutMs: 30_000, maxConnectionsPerIp: 1_000, closeGraceMs: 200 }, ['--max-old-space-size=256']);
    const before = s.rssBytes();
    let peak = before;
    const socks: Socket[] = [];
    let closedEarly = 0;
    for (let i = 0; i < 200; i += 50) {
      await Promise.all(Array.from({ length: 50 }, async () => {
        const sock = await rawWebSocket(s.port);
        socks.push(sock);
        const closed = new Promise<void>((r) => sock.once('close', () => r()));
        let data = frame(0x1, Buffer.from('['), false);
        const cont = frame(0x0, Buffer.from(' '), false);
        const chunk = Buffer.concat(Array.from({ length: 1000 }, () => cont));
        data = Buffer.concat([data, chunk]);
        for (let k = 0; k < 16 && !sock.destroyed; k++) sock.write(k === 0 ? data : chunk);
        if (await Promise.race([closed.then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), 3_000))])) closedEarly++;
      }));
      peak = Math.max(peak, s.rssBytes());
    }
    const stats = await s.stats();
    console.log(`[figures] 200 × 16,000 one-byte fragments before auth: ${closedEarly}/200 closed by the server, RSS ${Math.round(before / 2 ** 20)} → peak ${Math.round(peak / 2 ** 20)} MiB, heap used after gc ${Math.round(stats.heapUsed / 2 ** 20)} MiB`);
    expect(closedEarly).toBe(200);
    expect(peak - before).toBeLessThan(64 * 2 ** 20);
    expect(stats.heapUsed).toBeLessThan(32 * 2 ** 20);
    for (const x of socks) x.destroy();
  }, 60_000);

  it('LIMIT-8: a conformant client (one auth frame) is unaffected', async () => {
    const s = await childServer();
    const ws = new WebSocket(s.url, 'mooring.v1');
    await new Promise((r) => ws.once('open', r));
    ws.send(JSON.stringify({ type: 'auth', token: s.tokens[0] }));
    const m = await new Promise<any>((r) => ws.once('message', (d) => r(JSON.parse(d.toString()))));
    expect(m).toMatchObject({ type: 'authenticated', userId: 'alice' });
    ws.terminate();
  });
});
