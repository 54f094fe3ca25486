/**
 * Threat: a token pasted where it does not belong (the URL path, the `type` field) ends up whole in
 * the log or echoed to the client (LOG-2, AUTH-6). Real server and sockets; the log is captured.
 */
import { describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { Client, start, useHarness } from '../helpers.js';

useHarness();

const TOKEN = 'pZ8w0Qe4Xk3v9q81zYq2nAbCdEfGhIjKlMnOpQrStUv';

describe('security: tokens in the wrong place', () => {
  it('LOG-2: a token in the URL path is logged as a 16-character prefix at most', async () => {
    const s = await start();
    const ws = new WebSocket(`${s.url.replace('/ws', '')}/${TOKEN}`, 'mooring.v1');
    await new Promise((r) => ws.once('error', r));
    const line = s.logs.find((e) => e.event === 'handshake_rejected');
    expect(line).toMatchObject({ status: 404 });
    expect(JSON.stringify(s.logs)).not.toContain(TOKEN.slice(0, 17));
    expect(String(line!.path)).toMatch(/^\/pZ8w0Qe4Xk3v9q8…\(44 chars\)$/);
  });

  it('LOG-2: a token sent as a message type is neither echoed nor logged', async () => {
    const s = await start();
    const ws = new WebSocket(s.url, 'mooring.v1');
    const c = new Client(ws);
    await new Promise((r) => ws.once('open', r));
    ws.send(JSON.stringify({ type: TOKEN }));
    const err = await c.next('error');
    expect(err).toMatchObject({ code: 'invalid_message', message: 'unknown client message type (43 characters, not shown)' });
    ws.send(JSON.stringify({ type: 'nope' }));
    expect(await c.next('error')).toMatchObject({ message: 'unknown client message type "nope"' });
    expect(JSON.stringify(s.logs)).not.toContain(TOKEN.slice(0, 17));
  });

  it('LOG-2: a token sent as an action name is not echoed in the unknown_action answer', async () => {
    const s = await start();
    const ws = new WebSocket(s.url, 'mooring.v1');
    const c = new Client(ws);
    await new Promise((r) => ws.once('open', r));
    ws.send(JSON.stringify({ type: 'auth', token: await s.createToken('alice') }));
    await c.next('authenticated');
    ws.send(JSON.stringify({ type: 'request', id: 'r1', action: TOKEN }));
    const r = await c.next('response');
    expect(r).toMatchObject({ success: false, error: { code: 'unknown_action', message: 'no such action (43 characters, not shown)' } });
    ws.send(JSON.stringify({ type: 'request', id: 'r2', action: 'nope' }));
    expect(await c.next('response')).toMatchObject({ error: { message: 'no action named "nope"' } });
    expect(JSON.stringify(s.logs)).not.toContain(TOKEN.slice(0, 17));
  });

  it('LOG-1: a failure inside the server is logged under the event request_failed, never an internal event name', async () => {
    const s = await start({ authorize: () => { throw new Error('hook broke'); } });
    const ws = new WebSocket(s.url, 'mooring.v1');
    const c = new Client(ws);
    await new Promise((r) => ws.once('open', r));
    ws.send(JSON.stringify({ type: 'auth', token: await s.createToken('alice') }));
    await c.next('authenticated');
    ws.send(JSON.stringify({ type: 'subscribe', channel: 'x' }));
    expect(await c.next('error')).toMatchObject({ code: 'internal_error' });
    const events = new Set(s.logs.map((e) => e.event));
    expect(events.has('request_failed')).toBe(true);
    for (const e of events) expect(['server_listening', 'connection_opened', 'auth_succeeded', 'request_failed', 'connection_closed']).toContain(e);
  });
});
