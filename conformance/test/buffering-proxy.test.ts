/** The buffering TCP relay of the legal-parameter property: relays both ways, absorbs, applies backpressure, relays FIN and RST. */
import net from 'node:net';
import { createHash, randomBytes } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import WebSocket, { WebSocketServer } from 'ws';
import { startBufferingProxy, type BufferingProxy } from './buffering-proxy.js';

const until = async (f: () => boolean, ms = 5000) => {
  const end = Date.now() + ms;
  while (!f() && Date.now() < end) await new Promise((r) => setTimeout(r, 10));
  return f();
};
const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function tcpServer(onConn: (s: net.Socket) => void): Promise<number> {
  const srv = net.createServer({ allowHalfOpen: true }, (s) => {
    s.on('error', () => {}); // the tests reset sockets on purpose
    onConn(s);
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  cleanups.push(() => new Promise<void>((r) => srv.close(() => r())));
  return (srv.address() as net.AddressInfo).port;
}
async function proxyTo(port: number, bufferBytes?: number): Promise<BufferingProxy> {
  const p = await startBufferingProxy({ targetPort: port, bufferBytes });
  cleanups.push(() => p.close());
  return p;
}
const connect = (port: number) =>
  new Promise<net.Socket>((resolve, reject) => {
    const s = net.connect({ port, host: '127.0.0.1', allowHalfOpen: true }, () => resolve(s));
    s.once('error', reject);
    cleanups.push(() => void s.destroy());
  });

describe('buffering TCP proxy', () => {
  it('relays a WebSocket conversation both ways (it knows nothing of HTTP)', async () => {
    const wss = new WebSocketServer({ port: 0, host: '127.0.0.1', perMessageDeflate: false });
    wss.on('connection', (ws) => ws.on('message', (d) => ws.send(`echo:${d.toString()}`)));
    await new Promise((r) => wss.once('listening', r));
    cleanups.push(() => new Promise<void>((r) => wss.close(() => r())));
    const p = await proxyTo((wss.address() as net.AddressInfo).port);
    const ws = new WebSocket(p.urlFor('ws://127.0.0.1:1/ws?x=1'), { perMessageDeflate: false });
    cleanups.push(() => ws.terminate());
    await new Promise((r, j) => ws.once('open', r).once('error', j));
    const got = new Promise<string>((r) => ws.once('message', (d) => r(d.toString())));
    ws.send('hi');
    expect(await got).toBe('echo:hi');
  });

  it('absorbs up to its queue size from a sender whose reader stopped, then stops reading (backpressure), and delivers every byte intact', async () => {
    const total = 48 * 1024 * 1024; // well beyond what the loopback kernel buffers of both hops hold
    const data = randomBytes(total);
    let written = false;
    const port = await tcpServer((s) => s.end(data, () => (written = true)));
    const cap = 2 * 1024 * 1024;
    const p = await proxyTo(port, cap);
    const c = await connect(p.port);
    c.pause();
    // The relay fills its own queue (the kernel buffers on both sides hold some more) ...
    expect(await until(() => p.queuedBytes() >= cap)).toBe(true);
    // ... and then stops reading: the queue stays bounded and the sender cannot finish.
    const before = p.queuedBytes();
    await new Promise((r) => setTimeout(r, 200));
    expect(p.queuedBytes()).toBe(before);
    expect(before).toBeLessThanOrEqual(cap + 256 * 1024);
    expect(written).toBe(false);
    const chunks: Buffer[] = [];
    c.on('data', (d: Buffer) => chunks.push(d));
    const ended = new Promise((r) => c.once('end', r));
    c.resume();
    await ended;
    const got = Buffer.concat(chunks);
    expect(got.length).toBe(total);
    expect(createHash('sha256').update(got).digest('hex')).toBe(createHash('sha256').update(data).digest('hex'));
    expect(p.peakQueuedBytes()).toBeGreaterThanOrEqual(cap);
  });

  it('relays a half-close: the client FIN reaches the server after the queued bytes, and the answer still comes back', async () => {
    const port = await tcpServer((s) => {
      const got: Buffer[] = [];
      s.on('data', (d: Buffer) => got.push(d));
      s.on('end', () => s.end(`got ${Buffer.concat(got).length}`));
    });
    const p = await proxyTo(port);
    const c = await connect(p.port);
    const reply: Buffer[] = [];
    c.on('data', (d: Buffer) => reply.push(d));
    const closed = new Promise((r) => c.once('end', r));
    c.end(Buffer.alloc(300_000, 1));
    await closed;
    expect(Buffer.concat(reply).toString()).toBe('got 300000');
  });

  it('relays a reset: the server resetting its socket makes the client see ECONNRESET', async () => {
    const port = await tcpServer((s) => s.once('data', () => s.resetAndDestroy()));
    const p = await proxyTo(port);
    const c = await connect(p.port);
    const err = new Promise<string>((r) => c.once('error', (e: NodeJS.ErrnoException) => r(e.code ?? e.message)));
    c.write('x');
    expect(await err).toBe('ECONNRESET');
    expect(await until(() => p.connections() === 0)).toBe(true);
  });
});
