/**
 * Mooring inside an Express application: `http.createServer(app)`, then `attach`. Express keeps every
 * route (and its 404); Mooring takes /ws and its HTTP endpoints before Express sees them, so body
 * parsers and auth middleware never touch Mooring's requests.
 *
 *   npx tsx examples/attach/express.ts          # http://127.0.0.1:3000, ws://127.0.0.1:3000/ws
 */
import { createServer } from 'node:http';
import { pathToFileURL } from 'node:url';
import express from 'express';
import { attach, type ServerOptions } from '../../reference/server/index.js';
import { listen, type RunningApp } from './node-http.js';

export async function startExpressApp(o: { port?: number; host?: string; mooring?: ServerOptions } = {}): Promise<RunningApp> {
  const app = express();
  app.use(express.json());
  app.get('/api/time', (_req, res) => {
    res.json({ now: Date.now() });
  });
  // The app publishes to Mooring's channels from its own routes.
  app.post('/api/news', async (req, res) => {
    res.json({ position: await mooring.publish('news', req.body) });
  });
  // createServer(app) rather than app.listen(): attach needs the server before it listens.
  const server = createServer(app);
  const mooring = attach(server, { tokensFile: './mooring-tokens.json', ...o.mooring });
  return listen(server, mooring, o.port ?? 3000, o.host ?? '127.0.0.1');
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const app = await startExpressApp({ port: Number(process.env.PORT ?? 3000) });
  process.stdout.write(`Express on ${app.httpUrl}, Mooring on ${app.wsUrl}\n`);
  process.once('SIGTERM', () => void app.close());
  process.once('SIGINT', () => void app.close());
}
