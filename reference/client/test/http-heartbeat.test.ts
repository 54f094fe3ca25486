/**
 * HTTP-9: the reference client posts HTTP heartbeats by default when the server advertises the
 * channel, so the server's presence (HTTP-6) sees it without any option; `httpHeartbeat: false` opts out.
 */
import { describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { resolveOptions, type WebSocketConstructor } from '../options.js';
import { Observed, start, useCleanup } from './helpers.js';

useCleanup();

describe('HTTP heartbeat by default', () => {
  it('HTTP-9: with default options the client posts to the advertised channel and the server shows the user connected', async () => {
    const server = await start({ httpHeartbeatIntervalMs: 100 });
    const token = await server.createToken('alice');
    const connected = new Promise((resolve) => server.on('presence', (c) => c.userId === 'alice' && c.connected && resolve(c)));
    const o = new Observed({ url: server.url, token: () => token });
    o.client.connect();
    await o.sessions(1);
    expect(await connected).toMatchObject({ userId: 'alice', connected: true, cause: 'heartbeat' });
    await o.nth('http_heartbeat', 3); // every advertised intervalMs
    expect(o.client.diagnostics().httpHeartbeat).toMatchObject({ ok: true, status: 204 });
    expect(await server.presence('alice')).toMatchObject({ connected: true, sessions: 1, lastSeen: expect.any(Number) });
  });

  it('HTTP-9: `httpHeartbeat: false` opts out; an explicit object keeps the old always-on channel', () => {
    const base = { url: 'ws://127.0.0.1:1/ws', token: () => 't', WebSocket: WebSocket as unknown as WebSocketConstructor };
    expect(resolveOptions(base)).toMatchObject({ httpHeartbeat: undefined, followAdvertisedHttpHeartbeat: true });
    expect(resolveOptions({ ...base, httpHeartbeat: false })).toMatchObject({ httpHeartbeat: undefined, followAdvertisedHttpHeartbeat: false });
    expect(resolveOptions({ ...base, httpHeartbeat: { intervalMs: 5_000 } })).toMatchObject({
      httpHeartbeat: { url: 'http://127.0.0.1:1/heartbeat', intervalMs: 5_000 }, followAdvertisedHttpHeartbeat: false,
    });
  });
});
