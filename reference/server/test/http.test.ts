import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { auth, start, useHarness } from './helpers.js';

useHarness();

describe('HTTP endpoints', () => {
  it('HTTP-1: POST /heartbeat with a Bearer token answers 204; a bad or missing token gets 401', async () => {
    const s = await start();
    const token = await s.createToken('alice');
    const ok = await fetch(`${s.httpUrl}/heartbeat`, { method: 'POST', headers: { authorization: `Bearer ${token}` } });
    expect(ok.status).toBe(204);
    expect((await fetch(`${s.httpUrl}/heartbeat`, { method: 'POST', headers: { authorization: 'Bearer nope' } })).status).toBe(401);
    expect((await fetch(`${s.httpUrl}/heartbeat`, { method: 'POST' })).status).toBe(401);
    const expired = await s.createToken('old', { ttlMs: 0 });
    expect((await fetch(`${s.httpUrl}/heartbeat`, { method: 'POST', headers: { authorization: `Bearer ${expired}` } })).status).toBe(401);
  });

  it('HTTP-2: GET /presence answers {userId, connected, lastSeen, sessions}', async () => {
    const s = await start();
    const token = await s.createToken('alice');
    const presence = async () => {
      const r = await fetch(`${s.httpUrl}/presence`, { headers: { authorization: `Bearer ${token}` } });
      expect(r.status).toBe(200);
      expect(r.headers.get('content-type')).toMatch(/application\/json/);
      return r.json();
    };
    expect(await presence()).toEqual({ userId: 'alice', connected: false, lastSeen: null, sessions: 0 });
    const t0 = Date.now();
    await fetch(`${s.httpUrl}/heartbeat`, { method: 'POST', headers: { authorization: `Bearer ${token}` } });
    await auth(s, 'alice', { token });
    const p = await presence();
    expect(p).toMatchObject({ userId: 'alice', connected: true, sessions: 1 });
    expect(p.lastSeen).toBeGreaterThanOrEqual(t0 - 1);
    expect((await fetch(`${s.httpUrl}/presence`)).status).toBe(401);
  });

  it('HTTP-5: GET /healthz needs no authentication: 200 while serving, 503 while shutting down', async () => {
    const s = await start({ closeGraceMs: 300 });
    const res = await fetch(`${s.httpUrl}/healthz`);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ status: 'ok' });
    const lingering = await auth(s, 'alice');
    (lingering.ws as unknown as { _socket: import('node:net').Socket })._socket.pause(); // keeps the shutdown going
    const done = s.shutdown();
    const during = await fetch(`${s.httpUrl}/healthz`);
    expect(during.status).toBe(503);
    expect(await during.json()).toEqual({ status: 'shutting_down' });
    await done;
  });

  it('HTTP-3: HTTP endpoints share the WebSocket port; /healthz, static files, 404 JSON', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'mooring-static-'));
    await writeFile(join(dir, 'index.html'), '<h1>hi</h1>');
    await writeFile(join(dir, 'app.js'), 'export {}');
    const s = await start({ staticFiles: { '/': join(dir, 'index.html'), '/app.js': join(dir, 'app.js') } });
    expect(new URL(s.httpUrl).port).toBe(String(s.port));
    expect(await (await fetch(`${s.httpUrl}/healthz`)).json()).toEqual({ status: 'ok' });
    const page = await fetch(`${s.httpUrl}/`);
    expect(page.headers.get('content-type')).toMatch(/text\/html/);
    expect(await page.text()).toBe('<h1>hi</h1>');
    expect((await fetch(`${s.httpUrl}/app.js`)).headers.get('content-type')).toMatch(/javascript/);
    const missing = await fetch(`${s.httpUrl}/nope`);
    expect(missing.status).toBe(404);
    expect(await missing.json()).toEqual({ error: 'not_found' });
    expect((await fetch(`${s.httpUrl}/ws`)).status).toBe(426);
  });
});
