/** The HTTP heartbeat baseline: bare `node:http` answering every request 204. */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { HostStart } from './limits.js';
import type { HostedServer } from './host.js';

export async function start(o: HostStart): Promise<HostedServer> {
  const http = createServer((req, res) => {
    req.resume();
    res.writeHead(204).end();
  });
  await new Promise<void>((r) => http.listen(o.port ?? 0, '127.0.0.1', r));
  return {
    port: (http.address() as AddressInfo).port,
    limits: {},
    addTokens: () => {},
    publish: () => {},
    shutdown: () => new Promise<void>((r) => {
      http.closeAllConnections();
      http.close(() => r());
    }),
    connections: () => 0,
  };
}
