// POST /heartbeat (autocannon c=100) vs a bare node:http 204 server; median req/s and server CPU per request of N runs.
// node bench/profile/heartbeat.mjs [seconds=4] [runs=3]
import autocannon from 'autocannon';
import { startTarget, median } from './lib.mjs';
const secs = Number(process.argv[2] ?? 4), runs = Number(process.argv[3] ?? 3);
async function once(kind) {
  const t = await startTarget(kind, 1);
  const c0 = (await t.ask({ cmd: 'cpu' })).cpu;
  const r = await autocannon({ url: `http://127.0.0.1:${t.port}/heartbeat`, method: 'POST', connections: 100, duration: secs,
    headers: kind === 'mooring' ? { authorization: `Bearer ${t.tokens[0]}` } : {} });
  const c1 = (await t.ask({ cmd: 'cpu' })).cpu;
  await t.stop();
  if (r.non2xx) throw new Error(`${kind}: ${r.non2xx} non-2xx`);
  return { rps: r.requests.average, us: (c1 - c0) / r.requests.total };
}
const res = { mooring: [], http: [] };
for (let i = 0; i < runs; i++) for (const k of ['mooring', 'http']) res[k].push(await once(k));
const out = {};
for (const k of ['mooring', 'http']) out[k] = { rps: Math.round(median(res[k].map((x) => x.rps))), usPerReq: +median(res[k].map((x) => x.us)).toFixed(2) };
out.ratio = { rps: +(out.mooring.rps / out.http.rps).toFixed(2), cpu: +(out.mooring.usPerReq / out.http.usPerReq).toFixed(2) };
console.log(JSON.stringify(out));
