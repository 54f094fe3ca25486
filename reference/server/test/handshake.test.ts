import { describe, expect, it } from 'vitest';
import { auth, connect, handshakeStatus, start, useHarness } from './helpers.js';

useHarness();

describe('transport and handshake', () => {
  it('VER-2: selects mooring.v1 when the client offers it', async () => {
    const s = await start();
    const c = await connect(s, { protocols: ['other.v9', 'mooring.v1'] });
    expect(c.ws.protocol).toBe('mooring.v1');
  });

  it('VER-3: refuses with HTTP 400 a client offering only unknown subprotocols', async () => {
    const s = await start();
    expect(await handshakeStatus(s.url, ['mooring.v2', 'chat'])).toBe(400);
    expect(s.logs.some((e) => e.event === 'handshake_rejected' && e.reason === 'unsupported_subprotocol')).toBe(true);
  });

  it('VER-4: accepts a client offering no subprotocol and speaks v1 to it', async () => {
    const s = await start();
    const c = await auth(s, 'alice', { protocols: [] });
    expect(c.ws.protocol).toBe('');
    expect(c.authenticated.protocol).toBe('mooring.v1');
  });

  it('HTTP-3: upgrades on another path get HTTP 404 (HTTP and WS share the port)', async () => {
    const s = await start();
    expect(await handshakeStatus(s.url.replace('/ws', '/other'), 'mooring.v1')).toBe(404);
    const res = await fetch(`${s.httpUrl}/healthz`);
    expect(res.status).toBe(200);
    expect(new URL(s.httpUrl).port).toBe(new URL(s.url).port);
  });

  it('SEC-1: refuses a foreign Origin with 403, allows listed, same-origin and absent Origins', async () => {
    const s = await start({ allowedOrigins: ['https://app.example.com'] });
    expect(await handshakeStatus(s.url, 'mooring.v1', { origin: 'https://evil.example.com' })).toBe(403);
    expect(await handshakeStatus(s.url, 'mooring.v1', { origin: 'https://app.example.com.evil.com' })).toBe(403);
    await connect(s, { headers: { origin: 'https://app.example.com' } });
    await connect(s, { headers: { origin: s.httpUrl } });
    await connect(s); // no Origin header
    const strict = await start({ allowSameOrigin: false });
    expect(await handshakeStatus(strict.url, 'mooring.v1', { origin: strict.httpUrl })).toBe(403);
    expect(s.logs.filter((e) => e.event === 'handshake_rejected').map((e) => e.status)).toEqual([403, 403]);
  });

  it('AUTH-7: refuses a token in the URL with 400 unless the operator opted in', async () => {
    const s = await start();
    const token = await s.createToken('alice');
    expect(await handshakeStatus(`${s.url}?token=${token}`, 'mooring.v1')).toBe(400);
    const open = await start({ allowTokenInUrl: true });
    const t2 = await open.createToken('bob');
    const c = await connect(open, { url: `${open.url}?token=${t2}` });
    expect((await c.next('authenticated')).userId).toBe('bob');
    // never a query string (nor the token) in the logs
    expect(JSON.stringify([...s.logs, ...open.logs])).not.toMatch(new RegExp(`${token}|${t2}|\\?token`));
  });

  it('LIMIT-2: refuses with HTTP 429 connections beyond the per-IP limit', async () => {
    const s = await start({ maxConnectionsPerIp: 2 });
    const a = await connect(s);
    await connect(s);
    expect(await handshakeStatus(s.url, 'mooring.v1')).toBe(429);
    a.ws.close();
    await a.closed;
    await connect(s); // a slot is free again
    expect(s.logs.some((e) => e.event === 'handshake_rejected' && e.status === 429)).toBe(true);
  });
});
