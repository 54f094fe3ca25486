/**
 * Publish-to-delivery latency, Redis vs in-memory (issue 13): not a test, a measurement.
 *   npx tsx reference/server/test/redis/latency.ts [pushes=2000]
 * Starts its own redis-server (as the tests do). For each setup, one subscriber; each push is
 * published after the previous one arrived, and the time from `publish()` to the client's receipt
 * is recorded. Prints p50 / p99 / mean in ms per setup.
 *
 * Starting N nodes on one Redis from a script (the bench's multi-node storm):
 *   mooring serve --port 0 --redis redis://127.0.0.1:6379 --tokens-file shared.json   (N times)
 * or in-process: startServer({ port: 0, redis: { url }, tokenStore: sharedStore }) N times.
 */
import WebSocket from 'ws';
import { startServer, type MooringServer } from '../../index.js';
import { MemoryTokenStore } from '../../tokens-file.js';
import { RedisProcess } from './redis-process.js';

const N = Number(process.argv[2] ?? 2000);

async function subscriber(server: MooringServer, token: string, channel: string) {
  const ws = new WebSocket(server.url, 'mooring.v1');
  const waiters: ((m: any) => void)[] = [];
  ws.on('message', (d) => {
    const m = JSON.parse(d.toString());
    if (m.type === 'push' || m.type === 'subscribed' || m.type === 'authenticated') waiters.shift()?.(m);
  });
  const next = () => new Promise<any>((r) => waiters.push(r));
  await new Promise((r) => ws.once('open', r));
  ws.send(JSON.stringify({ type: 'auth', token }));
  await next();
  ws.send(JSON.stringify({ type: 'subscribe', channel }));
  await next();
  return { ws, next };
}

async function measure(name: string, pub: MooringServer, sub: MooringServer): Promise<void> {
  const channel = `lat-${name.replace(/[^a-z]/g, '')}`;
  const s = await subscriber(sub, await sub.createToken(channel), channel);
  const t: number[] = [];
  for (let i = 0; i < N + 200; i++) {
    const got = s.next();
    const t0 = performance.now();
    await pub.publish(channel, { i, pad: 'x'.repeat(100) });
    await got;
    if (i >= 200) t.push(performance.now() - t0); // the first 200 warm up
  }
  s.ws.close();
  t.sort((a, b) => a - b);
  const q = (p: number) => t[Math.min(t.length - 1, Math.floor(p * t.length))]!.toFixed(3);
  console.log(`${name.padEnd(28)} p50 ${q(0.5)} ms  p99 ${q(0.99)} ms  mean ${(t.reduce((a, b) => a + b, 0) / t.length).toFixed(3)} ms  (${t.length} pushes)`);
}

const redis = await RedisProcess.start();
try {
  const quiet = { port: 0, logger: false as const, testActions: false };
  const mem = await startServer({ ...quiet, tokensFile: ':memory:' });
  await measure('in-memory, one process', mem, mem);
  await mem.shutdown();
  const tokenStore = new MemoryTokenStore();
  const a = await startServer({ ...quiet, tokenStore, redis: { url: redis.url, keyPrefix: 'lat:' } });
  const b = await startServer({ ...quiet, tokenStore, redis: { url: redis.url, keyPrefix: 'lat:' } });
  await measure('redis, same node', a, a);
  await measure('redis, node A -> node B', a, b);
  await a.shutdown();
  await b.shutdown();
} finally {
  await redis.stop();
}
