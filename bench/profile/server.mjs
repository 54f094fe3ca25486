// Profiling target (bench/profile only): `node server.mjs <mooring|ws|http> [users]`; forked with IPC.
// Reports its port and tokens, then answers {cmd:'cpu'|'mem'|'publish'} messages.
import { createServer } from 'node:http';
import { WebSocketServer } from 'ws';
const kind = process.argv[2];
const users = Number(process.argv[3] ?? 50);
const dist = new URL(`../../${process.env.MOORING_DIST ?? 'dist'}/reference/server/index.js`, import.meta.url).href;
let port, tokens = [], publish;
if (kind === 'mooring') {
  const { startServer } = await import(dist);
  const s = await startServer({
    port: 0, tokensFile: ':memory:', logger: false, rateLimit: { messages: 1_000_000, windowMs: 1_000 },
    maxConnectionsPerIp: 100_000, maxPendingRequests: 1000, sessionPolicy: 'multiple', heartbeatIntervalMs: 25_000,
  });
  port = s.port;
  for (let i = 0; i < users; i++) tokens.push(await s.createToken(`u${i}`));
  publish = (ch, data) => s.publish(ch, data);
} else if (kind === 'ws' || kind === 'ws-naive') {
  // raw ws: the same JSON shapes, no protocol (echo: parse + respond; fan-out: serialize once or per socket)
  const http = createServer();
  const wss = new WebSocketServer({ server: http });
  const subs = new Map();
  let off = 0;
  wss.on('connection', (ws) => {
    ws.on('message', (d) => {
      const m = JSON.parse(d.toString());
      if (m.type === 'request') ws.send(JSON.stringify({ type: 'response', requestId: m.id, success: true, data: m.payload }));
      else if (m.type === 'subscribe') {
        let s = subs.get(m.channel); if (!s) subs.set(m.channel, (s = new Set()));
        s.add(ws); ws.on('close', () => s.delete(ws));
        ws.send(JSON.stringify({ type: 'subscribed', channel: m.channel, position: { epoch: 'e', offset: off } }));
      } else if (m.type === 'auth') ws.send(JSON.stringify({ type: 'authenticated', userId: 'u' }));
    });
    const t = setInterval(() => ws.ping(), 25_000); t.unref(); ws.on('close', () => clearInterval(t));
  });
  await new Promise((r) => http.listen(0, '127.0.0.1', r));
  port = http.address().port;
  tokens = Array.from({ length: users }, (_, i) => `t${i}`);
  publish = async (ch, data) => {
    const msg = { type: 'push', channel: ch, data, position: { epoch: 'e', offset: ++off }, ts: Date.now() };
    const s = subs.get(ch) ?? new Set();
    if (kind === 'ws') { const text = JSON.stringify(msg); for (const ws of s) ws.send(text); }
    else for (const ws of s) ws.send(JSON.stringify(msg));
  };
} else if (kind === 'http') {
  const http = createServer((req, res) => { req.resume(); res.writeHead(204).end(); });
  await new Promise((r) => http.listen(0, '127.0.0.1', r));
  port = http.address().port;
}
process.on('message', async (m) => {
  if (m.cmd === 'cpu') { const u = process.cpuUsage(); process.send({ cpu: u.user + u.system }); }
  else if (m.cmd === 'mem') { for (let i = 0; i < 4; i++) global.gc?.(); const mu = process.memoryUsage(); process.send({ rss: mu.rss, heap: mu.heapUsed }); }
  else if (m.cmd === 'publish') { const t0 = performance.timeOrigin + performance.now(); await publish(m.channel, { t0, n: m.n, pad: 'x'.repeat(64) }); process.send({ published: t0 }); }
  else if (m.cmd === 'exit') process.exit(0);
});
process.send({ port, tokens });
