/**
 * DEPLOY-9: the examples under examples/attach (plain node:http, Express, a Next.js custom server)
 * share one port between the app and Mooring. The Next.js server is driven by a stand-in for
 * `next({ dev })` with the same custom-server API (prepare, getRequestHandler, getUpgradeHandler):
 * a real `next` would need a production build per run, far beyond this suite's time budget.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import WebSocket, { WebSocketServer } from 'ws';
import { startNodeHttpApp, type RunningApp } from '../../../../examples/attach/node-http.js';
import { startExpressApp } from '../../../../examples/attach/express.js';
import { startNextServer, type NextApp } from '../../../../examples/attach/next-custom-server.js';

const apps: RunningApp[] = [];
afterEach(async () => {
  while (apps.length) await apps.pop()!.close();
});
const opts = { port: 0, mooring: { tokensFile: ':memory:', logger: false as const } };

/** Authenticates on Mooring's path and echoes once. */
async function echoThroughMooring(app: RunningApp, user: string): Promise<unknown> {
  const token = await app.mooring.createToken(user);
  const ws = new WebSocket(app.wsUrl, 'mooring.v1');
  const messages: Record<string, unknown>[] = [];
  const next = () => new Promise<Record<string, unknown>>((resolve) => {
    if (messages.length) return resolve(messages.shift()!);
    ws.once('message', () => resolve(messages.shift()!));
  });
  ws.on('message', (d) => messages.push(JSON.parse(d.toString())));
  await new Promise((r) => ws.once('open', r));
  ws.send(JSON.stringify({ type: 'auth', token }));
  expect(await next()).toMatchObject({ type: 'authenticated', userId: user });
  ws.send(JSON.stringify({ type: 'request', id: 'r1', action: 'echo', payload: { via: 'attach' } }));
  const answer = await next();
  ws.close();
  return answer;
}

function upgradeStatus(url: string): Promise<number | 'destroyed'> {
  return new Promise((resolve) => {
    const ws = new WebSocket(url);
    ws.once('open', () => {
      ws.terminate();
      resolve(101);
    });
    ws.once('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
    ws.once('error', () => resolve('destroyed'));
  });
}

describe('examples/attach', () => {
  it('DEPLOY-9: plain node:http: the app\'s routes and Mooring on one port', async () => {
    const app = await startNodeHttpApp(opts);
    apps.push(app);
    expect(await echoThroughMooring(app, 'alice')).toMatchObject({ type: 'response', requestId: 'r1', success: true, data: { via: 'attach' } });
    expect((await fetch(`${app.httpUrl}/api/time`)).status).toBe(200);
    expect(await (await fetch(`${app.httpUrl}/elsewhere`)).text()).toBe('not found (app)');
    expect((await fetch(`${app.httpUrl}/healthz`)).status).toBe(200);
    expect(await upgradeStatus(app.wsUrl.replace('/ws', '/other'))).toBe(404);
  });

  it('DEPLOY-9: Express: its routes, JSON body parser and 404 stay Express\'s; Mooring answers its own', async () => {
    const app = await startExpressApp(opts);
    apps.push(app);
    expect(await echoThroughMooring(app, 'bob')).toMatchObject({ success: true, data: { via: 'attach' } });
    const time = await fetch(`${app.httpUrl}/api/time`);
    expect(await time.json()).toHaveProperty('now');
    expect(await (await fetch(`${app.httpUrl}/nope`)).text()).toMatch(/Cannot GET \/nope/); // Express's own 404
    // Express publishes into Mooring's channels from a route.
    const pub = await fetch(`${app.httpUrl}/api/news`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"title":"hi"}' });
    expect(await pub.json()).toMatchObject({ position: { offset: 1 } });
    // Mooring's endpoint is answered by Mooring even with a JSON body parser in front of every route.
    const token = await app.mooring.createToken('carol');
    const hb = await fetch(`${app.httpUrl}/heartbeat`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: '{}' });
    expect(hb.status).toBe(204);
  });

  it('DEPLOY-9: Next.js custom server: Next keeps its pages and its hot-reload upgrades, and never sees Mooring\'s path', async () => {
    const hmr = new WebSocketServer({ noServer: true });
    const seenByNext: string[] = [];
    // A stand-in for next({ dev }): pages over HTTP, and an upgrade handler that serves hot reload
    // and destroys any other upgrade socket (so one of Mooring's reaching it would fail).
    const nextApp: NextApp = {
      prepare: async () => undefined,
      getRequestHandler: () => async (req: IncomingMessage, res: ServerResponse) => {
        seenByNext.push(req.url ?? '');
        res.writeHead(200, { 'content-type': 'text/html' }).end('<h1>next page</h1>');
      },
      getUpgradeHandler: () => async (req: IncomingMessage, socket: Duplex, head: Buffer) => {
        seenByNext.push(`upgrade ${req.url}`);
        if (req.url === '/_next/webpack-hmr') hmr.handleUpgrade(req, socket, head, (ws) => ws.send('{"action":"built"}'));
        else socket.destroy();
      },
    };
    const app = await startNextServer(nextApp, opts);
    apps.push(app);
    expect(await echoThroughMooring(app, 'dave')).toMatchObject({ success: true });
    expect(await (await fetch(`${app.httpUrl}/dashboard`)).text()).toBe('<h1>next page</h1>');
    const reload = new WebSocket(app.wsUrl.replace('/ws', '/_next/webpack-hmr'));
    expect(await new Promise((resolve) => reload.once('message', (d) => resolve(d.toString())))).toBe('{"action":"built"}');
    reload.close();
    expect((await fetch(`${app.httpUrl}/healthz`)).status).toBe(200);
    expect(seenByNext).toEqual(['/dashboard', 'upgrade /_next/webpack-hmr']);
    hmr.close();
  });
});
