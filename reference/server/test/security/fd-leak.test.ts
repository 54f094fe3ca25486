/**
 * Threat: a peer without a token exhausts the server's file descriptors with refused upgrades and
 * with sockets that never finish their headers (LIMIT-9, LIMIT-2). Child-process server; fds read
 * from /proc.
 */
import type { Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { childServer, firstBytes, killChildren, rawSocket, until, upgradeRequest } from './harness.js';

afterEach(killChildren);

const FLOOD = 420;

describe('security: file descriptors', () => {
  it('LIMIT-9: refused upgrades (403, 404, 400) are destroyed after their response, whatever the peer does; fds return to baseline', async () => {
    const s = await childServer({ maxConnectionsPerIp: 1000, refuseLingerMs: 300 });
    const base = s.fds();
    const held: Socket[] = [];
    const requests = [
      upgradeRequest('/ws', ['Origin: https://evil.example']), // 403
      upgradeRequest('/nope'), // 404
      upgradeRequest('/ws', ['Sec-WebSocket-Protocol: other.v9']), // 400
    ];
    for (let i = 0; i < FLOOD; i += 20) {
      await Promise.all(Array.from({ length: 20 }, async (_, j) => {
        const mode = (i + j) % 3;
        // mode 0 keeps its side open (half-open: it never sends its FIN); the others send one byte
        // after the request and vanish, before or after the answer.
        const sock = await rawSocket(s.port, mode === 0);
        sock.on('error', () => undefined);
        const got = firstBytes(sock);
        sock.write(requests[(i + j) % 3]! + 'x');
        if (mode === 0) held.push(sock);
        else if (mode === 1) sock.destroy();
        if (mode !== 1) expect(await got).toMatch(/^HTTP\/1\.1 (400|403|404)/);
        if (mode === 2) sock.destroy();
      }));
    }
    const peak = s.fds();
    const back = await until(() => s.fds() <= base + 2, 5_000);
    const after = s.fds();
    console.log(`[figures] refused-upgrade flood of ${FLOOD}: fds baseline ${base}, peak ${peak}, after ${after} (held by peer: ${held.length})`);
    expect(back, `fds ${after}, baseline ${base}`).toBe(true);
    for (const h of held) h.destroy();
  });

  it('LIMIT-9, LIMIT-2: sockets that never finish their headers count per IP, are dropped beyond the limit and time out', async () => {
    const s = await childServer({ maxConnectionsPerIp: 50, maxSocketsPerIp: 60, headersTimeoutMs: 1_000 });
    const base = s.fds();
    const slowloris = () => Promise.all(Array.from({ length: 100 }, async () => {
      const sock = await rawSocket(s.port);
      sock.on('error', () => undefined);
      sock.write('GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\n'); // and never the rest
      return sock;
    }));
    // 55 sockets in their headers: more than maxConnectionsPerIp, so an upgrade meanwhile gets 429.
    const socks = (await slowloris()).slice(0, 100);
    for (const x of socks.splice(55)) x.destroy();
    await until(() => s.fds() <= base + 55, 2_000);
    const probe = await rawSocket(s.port);
    probe.on('error', () => undefined);
    const status = firstBytes(probe);
    probe.write(upgradeRequest('/ws'));
    const answer = await status;
    // 200 more: beyond maxSocketsPerIp they are dropped at accept.
    socks.push(...(await slowloris()), ...(await slowloris()));
    await until(() => s.fds() <= base + 60, 2_000);
    const peak = s.fds();
    const back = await until(() => s.fds() <= base + 2, 6_000);
    const after = s.fds();
    console.log(`[figures] 255 slowloris sockets: fds baseline ${base}, held ${peak - base} (limit 60), upgrade meanwhile ${JSON.stringify(answer)}, after header timeout ${after}`);
    expect(peak - base).toBeLessThanOrEqual(61);
    expect(answer).toMatch(/^HTTP\/1\.1 429/);
    expect(back, `fds ${after}, baseline ${base}`).toBe(true);
    for (const x of socks) x.destroy();
  });
});
