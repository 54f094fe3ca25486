/** The fault-injecting proxy: frame parsing and each action, against a plain ws echo server. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket, { WebSocketServer } from 'ws';
import { FaultProxy } from '../proxy/index.js';
import { FrameReader } from '../proxy/frames.js';

let wss: WebSocketServer;
let port: number;

beforeAll(async () => {
  wss = new WebSocketServer({ port: 0, host: '127.0.0.1', perMessageDeflate: false });
  wss.on('connection', (ws) => ws.on('message', (d, bin) => ws.send(d, { binary: bin })));
  await new Promise((r) => wss.once('listening', r));
  port = (wss.address() as { port: number }).port;
});
afterAll(() => new Promise<void>((r) => wss.close(() => r())));

async function client(p: FaultProxy): Promise<{ ws: WebSocket; got: string[] }> {
  const ws = new WebSocket(p.urlFor(`ws://127.0.0.1:${port}/`), { perMessageDeflate: false });
  const got: string[] = [];
  ws.on('message', (d) => got.push(d.toString()));
  await new Promise((r, j) => ws.once('open', r).once('error', j));
  return { ws, got };
}
const until = async (f: () => boolean, ms = 2000) => {
  const end = Date.now() + ms;
  while (!f() && Date.now() < end) await new Promise((r) => setTimeout(r, 10));
};

describe('FrameReader', () => {
  it('reassembles masked frames of 7-, 16- and 64-bit lengths split across chunks', () => {
    const frames: Buffer[] = [];
    for (const len of [5, 300, 70_000]) {
      const payload = Buffer.alloc(len, 'a');
      const key = Buffer.from([1, 2, 3, 4]);
      const head = len < 126 ? Buffer.from([0x81, 0x80 | len]) : len < 65536 ? Buffer.from([0x81, 0x80 | 126, len >> 8, len & 255]) : Buffer.concat([Buffer.from([0x82, 0x80 | 127]), (() => { const b = Buffer.alloc(8); b.writeBigUInt64BE(BigInt(len)); return b; })()]);
      const masked = Buffer.from(payload.map((x, i) => x ^ key[i & 3]!));
      frames.push(Buffer.concat([head, key, masked]));
    }
    const all = Buffer.concat(frames);
    const r = new FrameReader();
    const out = [];
    for (let i = 0; i < all.length; i += 777) out.push(...r.push(all.subarray(i, i + 777)));
    expect(out.map((f) => [f.opcode, f.payload.length, f.payload.every((x) => x === 97)])).toEqual([[1, 5, true], [1, 300, true], [2, 70_000, true]]);
    expect(out.map((f) => f.raw.length)).toEqual(frames.map((f) => f.length));
  });
});

describe('FaultProxy', () => {
  it('drops matching messages by type, `times` times', async () => {
    const p = await FaultProxy.start({ target: { host: '127.0.0.1', port }, rules: [{ match: { direction: 'to-server', type: 'ping' }, action: 'drop', times: 1 }] });
    const { ws, got } = await client(p);
    ws.send('{"type":"ping","n":1}');
    ws.send('{"type":"other"}');
    ws.send('{"type":"ping","n":2}');
    await until(() => got.length >= 2);
    expect(got).toEqual(['{"type":"other"}', '{"type":"ping","n":2}']);
    ws.terminate();
    await p.close();
  });

  it('delays frames and keeps their order', async () => {
    const p = await FaultProxy.start({ target: { host: '127.0.0.1', port }, rules: [{ match: { direction: 'to-client', type: 'a' }, action: 'delay', delayMs: 200 }] });
    const { ws, got } = await client(p);
    const t0 = Date.now();
    ws.send('{"type":"a"}');
    ws.send('{"type":"b"}');
    await until(() => got.length >= 2);
    expect(got).toEqual(['{"type":"a"}', '{"type":"b"}']);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(190);
    ws.terminate();
    await p.close();
  });

  it('resets both connections (the client sees 1006)', async () => {
    const p = await FaultProxy.start({ target: { host: '127.0.0.1', port }, rules: [{ match: { direction: 'to-server' }, action: 'rst' }] });
    const { ws } = await client(p);
    const code = new Promise<number>((r) => ws.on('close', (c) => r(c)));
    ws.on('error', () => {});
    ws.send('x');
    expect(await code).toBe(1006);
    await p.close();
  });

  it('blackholes a direction without FIN, and throttle stops reading until cleared', async () => {
    const p = await FaultProxy.start({ target: { host: '127.0.0.1', port } });
    const { ws, got } = await client(p);
    p.add({ match: { direction: 'to-client' }, action: 'throttle', bytesPerSec: 0 });
    ws.send('held');
    await new Promise((r) => setTimeout(r, 200));
    expect(got).toEqual([]);
    p.clear();
    await until(() => got.length === 1);
    expect(got).toEqual(['held']);
    p.add({ match: { direction: 'to-server' }, action: 'blackhole' });
    ws.send('lost');
    await new Promise((r) => setTimeout(r, 200));
    expect(got).toEqual(['held']);
    expect(ws.readyState).toBe(WebSocket.OPEN);
    ws.terminate();
    await p.close();
  });
});
