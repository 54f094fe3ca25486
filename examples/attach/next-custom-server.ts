/**
 * Mooring in a Next.js custom server, the seeds' architecture (`next dev` runs its own HTTP server,
 * which nothing can attach to; a custom server runs the same code in development and production):
 *
 *   const app = next({ dev });  await app.prepare();
 *   const server = createServer((req, res) => handle(req, res));
 *   attach(server, options);    server.listen(3000);
 *
 * Next's own upgrades (its development hot reload, `/_next/webpack-hmr`) reach Next's upgrade
 * handler: `attach` passes on every upgrade that is not on Mooring's path, to listeners added before
 * or after it, and Mooring's path never reaches Next.
 *
 *   npm install next react react-dom && npx tsx examples/attach/next-custom-server.ts
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { pathToFileURL } from 'node:url';
import { attach, type ServerOptions } from '../../reference/server/index.js';
import { listen, type RunningApp } from './node-http.js';

/** The part of a Next.js app (`next({ dev })`) a custom server uses. */
export interface NextApp {
  prepare(): Promise<void>;
  getRequestHandler(): (req: IncomingMessage, res: ServerResponse) => Promise<void>;
  /** Next ≥ 13.4: upgrades Next handles itself (hot reload in development). */
  getUpgradeHandler?(): (req: IncomingMessage, socket: Duplex, head: Buffer) => Promise<void>;
}

export async function startNextServer(app: NextApp, o: { port?: number; host?: string; mooring?: ServerOptions } = {}): Promise<RunningApp> {
  await app.prepare();
  const handle = app.getRequestHandler();
  const server = createServer((req, res) => void handle(req, res));
  const mooring = attach(server, { tokensFile: './mooring-tokens.json', ...o.mooring });
  const upgrade = app.getUpgradeHandler?.();
  if (upgrade) server.on('upgrade', (req, socket, head) => void upgrade(req, socket, head));
  return listen(server, mooring, o.port ?? 3000, o.host ?? '127.0.0.1');
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const nextModule = 'next'; // not a dependency of Mooring: the app's own
  const next = ((await import(nextModule)) as { default: (o: { dev: boolean }) => NextApp }).default;
  const app = await startNextServer(next({ dev: process.env.NODE_ENV !== 'production' }), { port: Number(process.env.PORT ?? 3000) });
  process.stdout.write(`Next.js on ${app.httpUrl}, Mooring on ${app.wsUrl}\n`);
  process.once('SIGTERM', () => void app.close());
  process.once('SIGINT', () => void app.close());
}
