// Fan-out: N subscribers of one channel (N/50 per user for mooring), P publishes; publish-to-delivery
// p50/p99 and first receipt per publish (median over publishes), median of runs.
// node bench/profile/fanout.mjs [subs=10000] [publishes=20] [runs=3] [kinds=mooring,ws]
import { startTarget, connect, median, pct } from './lib.mjs';
const N = Number(process.argv[2] ?? 10_000), P = Number(process.argv[3] ?? 20), runs = Number(process.argv[4] ?? 3);
const kinds = (process.argv[5] ?? 'mooring,ws').split(',');
async function once(kind) {
  const t = await startTarget(kind, 50);
  const socks = [];
  for (let i = 0; i < N; i += 200) socks.push(...await Promise.all(Array.from({ length: Math.min(200, N - i) }, (_, j) => connect(kind, t.port, t.tokens[(i + j) % 50]))));
  const recv = new Map();
  await Promise.all(socks.map((ws) => new Promise((r) => {
    ws.on('message', (d) => {
      const now = performance.timeOrigin + performance.now();
      const s = d.toString();
      if (s.includes('"subscribed"')) return r();
      const m = JSON.parse(s);
      if (m.type === 'push') { let a = recv.get(m.data.n); if (!a) recv.set(m.data.n, (a = [])); a.push(now - m.data.t0); }
    });
    ws.send(JSON.stringify({ type: 'subscribe', channel: 'big' }));
  })));
  const p99 = [], first = [], p50 = [];
  for (let n = 0; n < P; n++) {
    await t.ask({ cmd: 'publish', channel: 'big', n });
    while ((recv.get(n)?.length ?? 0) < N) await new Promise((r) => setTimeout(r, 5));
    const a = recv.get(n); if (n >= 2) { p99.push(pct(a, 0.99)); p50.push(pct(a, 0.5)); first.push(Math.min(...a)); }
    await new Promise((r) => setTimeout(r, 50));
  }
  for (const ws of socks) ws.terminate();
  await t.stop();
  return { p50: median(p50), p99: median(p99), first: median(first) };
}
const res = Object.fromEntries(kinds.map((k) => [k, []]));
for (let r = 0; r < runs; r++) for (const k of kinds) res[k].push(await once(k));
const out = {};
for (const k of kinds) out[k] = Object.fromEntries(['p50', 'p99', 'first'].map((f) => [f, +median(res[k].map((x) => x[f])).toFixed(2)]));
if (out.mooring && out.ws) out.ratio = { p99: +(out.mooring.p99 / out.ws.p99).toFixed(2), first: +(out.mooring.first / out.ws.first).toFixed(2) };
console.log(JSON.stringify(out));
