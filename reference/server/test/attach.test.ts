/**
 * attach(httpServer): Mooring shares an app's own node:http server and port. Its path's upgrades and
 * its HTTP endpoints are Mooring's; every other route and upgrade stays the app's.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocket, WebSocketServer } from 'ws';
import { attach, type AttachedMooring } from '../index.js';

const cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  while (cleanup.length) await cleanup.pop()!();
});

async function appWithMooring(): Promise<{ app: Server; m: AttachedMooring; base: string; ws: string; appSockets: WebSocketServer }> {
  const app = createServer((req, res) => {
    if (req.url === '/hello') res.writeHead(200, { 'content-type': 'text/plain' }).end('hi from the app');
    else res.writeHead(404).end('app 404');
  });
  // The app's own WebSocket endpoint on another path, as a chat widget or dev-server HMR would have.
  const appSockets = new WebSocketServer({ noServer: true });
  app.on('upgrade', (req, socket, head) => {
    if (req.url === '/app-socket') appSockets.handleUpgrade(req, socket, head, (ws) => ws.send('app says hi'));
  });
  const m = attach(app, { tokensFile: ':memory:', logger: false });
  await new Promise<void>((resolve) => app.listen(0, '127.0.0.1', resolve));
  const port = (app.address() as AddressInfo).port;
  cleanup.push(async () => {
    await m.detach();
    appSockets.close();
    await new Promise<void>((resolve) => app.close(() => resolve()));
  });
  return { app, m, base: `http://127.0.0.1:${port}`, ws: `ws://127.0.0.1:${port}/ws`, appSockets };
}

function firstMessage(ws: WebSocket): Promise<string> {
  return new Promise((resolve, reject) => {
    ws.once('message', (d) => resolve(d.toString()));
    ws.once('error', reject);
  });
}

describe('attach(httpServer)', () => {
  it('HTTP-3: serves Mooring on the app\'s port and leaves the app\'s routes alone', async () => {
    const { m, base, ws: url } = await appWithMooring();
    const token = await m.createToken('alice');
    const ws = new WebSocket(url, 'mooring.v1');
    await new Promise((r) => ws.once('open', r));
    ws.send(JSON.stringify({ type: 'auth', token }));
    const authed = JSON.parse(await firstMessage(ws));
    expect(authed.type).toBe('authenticated');
    ws.send(JSON.stringify({ type: 'request', id: 'r1', action: 'echo', payload: { x: 1 } }));
    expect(JSON.parse(await firstMessage(ws))).toMatchObject({ type: 'response', requestId: 'r1', success: true, data: { x: 1 } });
    ws.close();

    expect(await (await fetch(`${base}/hello`)).text()).toBe('hi from the app');
    expect(await (await fetch(`${base}/nothing-here`)).text()).toBe('app 404');
    expect((await fetch(`${base}/heartbeat`, { method: 'POST', headers: { authorization: `Bearer ${token}` } })).status).toBe(204);
    expect((await fetch(`${base}/healthz`)).status).toBe(200);
  });

  it('HTTP-3: the app keeps its own upgrades on other paths', async () => {
    const { ws: url } = await appWithMooring();
    const other = new WebSocket(url.replace('/ws', '/app-socket'));
    expect(await firstMessage(other)).toBe('app says hi');
    other.close();
  });

  it('HTTP-3: with no upgrade listener of the app\'s, other paths get 404', async () => {
    const app = createServer((_req, res) => res.end('app'));
    const m = attach(app, { tokensFile: ':memory:', logger: false });
    await new Promise<void>((resolve) => app.listen(0, '127.0.0.1', resolve));
    cleanup.push(async () => {
      await m.detach();
      await new Promise<void>((resolve) => app.close(() => resolve()));
    });
    const port = (app.address() as AddressInfo).port;
    const status = await new Promise<number>((resolve) => {
      const ws = new WebSocket(`ws://127.0.0.1:${port}/elsewhere`, 'mooring.v1');
      ws.on('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
      ws.on('error', () => undefined);
    });
    expect(status).toBe(404);
  });

  it('SHUT-2: detach closes Mooring\'s connections with 1012 and leaves the app serving', async () => {
    const { m, base, ws: url } = await appWithMooring();
    const token = await m.createToken('bob');
    const ws = new WebSocket(url, 'mooring.v1');
    await new Promise((r) => ws.once('open', r));
    ws.send(JSON.stringify({ type: 'auth', token }));
    await firstMessage(ws);
    const closed = new Promise<number>((resolve) => ws.once('close', (code) => resolve(code)));
    await m.detach();
    expect(await closed).toBe(1012);
    expect(await (await fetch(`${base}/hello`)).text()).toBe('hi from the app');
    // Mooring's endpoints are gone: the request reaches the app.
    expect(await (await fetch(`${base}/healthz`)).text()).toBe('app 404');
  });
});
