// Closed-loop echo: 50 connections x 10 in flight; server CPU per request and requests/s, median of N runs.
// node bench/profile/echo.mjs [seconds=4] [runs=3] [kinds=mooring,ws]
import { startTarget, connect, median } from './lib.mjs';
const secs = Number(process.argv[2] ?? 4), runs = Number(process.argv[3] ?? 3);
const kinds = (process.argv[4] ?? 'mooring,ws').split(',');
const CONNS = 50, INFLIGHT = 10;
async function once(kind) {
  const t = await startTarget(kind, CONNS, process.env.PROF && kind === 'mooring' ? ['--cpu-prof', '--cpu-prof-dir=/tmp/perf-prof'] : []);
  const socks = await Promise.all(t.tokens.map((tok) => connect(kind, t.port, tok)));
  let done = 0, id = 0, running = true;
  const payload = { a: 1, b: 'hello', c: [1, 2, 3] };
  for (const ws of socks) {
    const fire = () => ws.send(JSON.stringify({ type: 'request', id: String(++id), action: 'echo', payload }));
    ws.on('message', () => { done++; if (running) fire(); });
    for (let i = 0; i < INFLIGHT; i++) fire();
  }
  await new Promise((r) => setTimeout(r, 1000)); // warm-up
  const c0 = (await t.ask({ cmd: 'cpu' })).cpu, d0 = done, t0 = performance.now();
  await new Promise((r) => setTimeout(r, secs * 1000));
  const c1 = (await t.ask({ cmd: 'cpu' })).cpu, d1 = done, t1 = performance.now();
  running = false;
  for (const ws of socks) ws.terminate();
  await t.stop();
  const n = d1 - d0;
  return { usPerReq: (c1 - c0) / n, rps: n / ((t1 - t0) / 1000) };
}
const res = Object.fromEntries(kinds.map((k) => [k, []]));
for (let r = 0; r < runs; r++) for (const k of kinds) res[k].push(await once(k));
const out = {};
for (const k of kinds) out[k] = { usPerReq: +median(res[k].map((x) => x.usPerReq)).toFixed(2), rps: Math.round(median(res[k].map((x) => x.rps))), runs: res[k].map((x) => +x.usPerReq.toFixed(2)) };
if (out.mooring && out.ws) out.ratio = { cpu: +(out.mooring.usPerReq / out.ws.usPerReq).toFixed(2), rps: +(out.mooring.rps / out.ws.rps).toFixed(2) };
console.log(JSON.stringify(out));
