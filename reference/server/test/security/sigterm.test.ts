/**
 * Threat: half-open sockets keep a SIGTERM'd server from exiting (LIMIT-9, SHUT-2). Child-process
 * server; the test holds sockets in every state a peer can leave them in and times the exit.
 */
import type { Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { childServer, firstBytes, killChildren, rawSocket, upgradeRequest } from './harness.js';

afterEach(killChildren);

describe('security: SIGTERM with half-open sockets', () => {
  it('LIMIT-9, SHUT-2: exits promptly while peers hold refused, unfinished and silent sockets open', async () => {
    // A long refuse linger and header timeout, so that only the shutdown itself can free these sockets.
    const s = await childServer({ refuseLingerMs: 60_000, headersTimeoutMs: 60_000, closeGraceMs: 500 });
    const held: Socket[] = [];
    for (let i = 0; i < 20; i++) {
      const a = await rawSocket(s.port, true); // refused (403) and kept open by the peer (it never sends its FIN)
      a.on('error', () => undefined);
      const got = firstBytes(a);
      a.write(upgradeRequest('/ws', ['Origin: https://evil.example']));
      expect(await got).toMatch(/^HTTP\/1\.1 403/);
      const b = await rawSocket(s.port); // headers never finished
      b.on('error', () => undefined);
      b.write('GET /ws HTTP/1.1\r\n');
      const c = await rawSocket(s.port); // connected, silent
      c.on('error', () => undefined);
      held.push(a, b, c);
    }
    // A WebSocket whose peer never answers the close (paused: it reads nothing).
    const ws = new WebSocket(s.url, 'mooring.v1');
    await new Promise((r) => ws.once('open', r));
    ws.on('error', () => undefined);
    (ws as unknown as { _socket: Socket })._socket.pause();
    const t0 = Date.now();
    s.proc.kill('SIGTERM');
    const exit = await Promise.race([s.exited, new Promise<'hung'>((r) => setTimeout(() => r('hung'), 10_000))]);
    const ms = Date.now() - t0;
    console.log(`[figures] SIGTERM with 60 half-open sockets + 1 silent WebSocket: ${exit === 'hung' ? 'still running after 10 s' : `exited ${exit.code} after ${ms} ms`}`);
    expect(exit).toEqual({ code: 0, signal: null });
    expect(ms).toBeLessThan(5_000);
    for (const h of held) h.destroy();
    ws.terminate();
  });
});
