/**
 * Mooring inside a plain node:http application: one server, one port. The app keeps its routes;
 * Mooring takes /ws and its HTTP endpoints (/heartbeat, /presence, /healthz).
 *
 *   npx tsx examples/attach/node-http.ts        # http://127.0.0.1:3000, ws://127.0.0.1:3000/ws
 *
 * An installed package imports `attach` from 'mooring/server'.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { pathToFileURL } from 'node:url';
import { attach, type AttachedMooring, type ServerOptions } from '../../reference/server/index.js';

export interface RunningApp {
  server: Server;
  mooring: AttachedMooring;
  /** e.g. http://127.0.0.1:3000 */
  httpUrl: string;
  /** e.g. ws://127.0.0.1:3000/ws */
  wsUrl: string;
  close(): Promise<void>;
}

/** Listens and returns the URLs; `close` detaches Mooring (1012 to its clients) and stops the server. */
export async function listen(server: Server, mooring: AttachedMooring, port: number, host: string): Promise<RunningApp> {
  await new Promise<void>((resolve) => server.listen(port, host, resolve));
  const httpUrl = `http://${host}:${(server.address() as AddressInfo).port}`;
  return {
    server, mooring, httpUrl, wsUrl: `${httpUrl.replace(/^http/, 'ws')}/ws`,
    async close() {
      await mooring.detach();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

export async function startNodeHttpApp(o: { port?: number; host?: string; mooring?: ServerOptions } = {}): Promise<RunningApp> {
  // The application: whatever it served before Mooring.
  const server = createServer((req, res) => {
    if (req.url === '/api/time') {
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ now: Date.now() }));
    } else {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found (app)');
    }
  });
  // Mooring on the same server: after the app's request handler is on it.
  const mooring = attach(server, { tokensFile: './mooring-tokens.json', ...o.mooring });
  return listen(server, mooring, o.port ?? 3000, o.host ?? '127.0.0.1');
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const app = await startNodeHttpApp({ port: Number(process.env.PORT ?? 3000) });
  process.stdout.write(`app on ${app.httpUrl}, Mooring on ${app.wsUrl}\n`);
  process.once('SIGTERM', () => void app.close());
  process.once('SIGINT', () => void app.close());
}
