// Idle density: N authenticated connections with 2 subscriptions; server RSS/heap per connection after GC.
// node bench/profile/idle.mjs [conns=5000] [runs=3] [kinds=mooring,ws]
import { startTarget, connect, median } from './lib.mjs';
const N = Number(process.argv[2] ?? 5000), runs = Number(process.argv[3] ?? 3);
const kinds = (process.argv[4] ?? 'mooring,ws').split(',');
async function once(kind) {
  const t = await startTarget(kind, 50);
  // warm-up: the connection path's code is compiled and its lazy singletons exist before the baseline,
  // so the figure is the marginal cost of a connection, not fixed costs spread over N
  await open(t, kind, 200).then((w) => w.forEach((ws) => ws.terminate()));
  await new Promise((r) => setTimeout(r, 500));
  const m0 = await t.ask({ cmd: 'mem' });
  const socks = await open(t, kind, N);
  await new Promise((r) => setTimeout(r, 500));
  const m1 = await t.ask({ cmd: 'mem' });
  for (const ws of socks) ws.terminate();
  await t.stop();
  return { rss: (m1.rss - m0.rss) / N / 1024, heap: (m1.heap - m0.heap) / N / 1024 };
}
async function open(t, kind, N) {
  const socks = [];
  for (let i = 0; i < N; i += 200) socks.push(...await Promise.all(Array.from({ length: Math.min(200, N - i) }, (_, j) => connect(kind, t.port, t.tokens[(i + j) % 50]))));
  await Promise.all(socks.map((ws, i) => new Promise((r) => {
    let acks = 0;
    ws.on('message', () => { if (++acks === 2) r(); });
    ws.send(JSON.stringify({ type: 'subscribe', channel: `a${i % 100}` }));
    ws.send(JSON.stringify({ type: 'subscribe', channel: `b${i % 7}` }));
  })));
  return socks;
}
const res = Object.fromEntries(kinds.map((k) => [k, []]));
for (let r = 0; r < runs; r++) for (const k of kinds) res[k].push(await once(k));
const out = {};
for (const k of kinds) out[k] = { rssKiB: +median(res[k].map((x) => x.rss)).toFixed(2), heapKiB: +median(res[k].map((x) => x.heap)).toFixed(2) };
if (out.mooring && out.ws) out.ratio = { rss: +(out.mooring.rssKiB / out.ws.rssKiB).toFixed(2), heap: +(out.mooring.heapKiB / out.ws.heapKiB).toFixed(2) };
console.log(JSON.stringify(out));
