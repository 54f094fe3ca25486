/** A round-robin TCP proxy: each new connection goes to the next node in turn (a load balancer without stickiness). */
import { connect, createServer, type Socket } from 'node:net';

export interface RoundRobinProxy {
  port: number;
  url: string;
  close(): Promise<void>;
}

export async function roundRobinProxy(targets: { port: number }[], path = '/ws'): Promise<RoundRobinProxy> {
  let next = 0;
  const open = new Set<Socket>();
  const server = createServer((client) => {
    const target = targets[next++ % targets.length]!;
    const upstream = connect(target.port, '127.0.0.1');
    for (const s of [client, upstream]) {
      open.add(s);
      s.once('close', () => open.delete(s));
      s.on('error', () => undefined);
    }
    client.pipe(upstream);
    upstream.pipe(client);
    client.once('close', () => upstream.destroy());
    upstream.once('close', () => client.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  return {
    port, url: `ws://127.0.0.1:${port}${path}`,
    close: () => new Promise<void>((resolve) => {
      for (const s of open) s.destroy();
      server.close(() => resolve());
    }),
  };
}
