// POST /heartbeat (autocannon c=100) vs a bare node:http 204 server; median req/s of N runs.
// node bench/profile/heartbeat.mjs [seconds=4] [runs=3]
import autocannon from 'autocannon';
import { startTarget, median } from './lib.mjs';
const secs = Number(process.argv[2] ?? 4), runs = Number(process.argv[3] ?? 3);
async function once(kind) {
  const t = await startTarget(kind, 1);
  const r = await autocannon({ url: `http://127.0.0.1:${t.port}/heartbeat`, method: 'POST', connections: 100, duration: secs,
    headers: kind === 'mooring' ? { authorization: `Bearer ${t.tokens[0]}` } : {} });
  await t.stop();
  if (r.non2xx) throw new Error(`${kind}: ${r.non2xx} non-2xx`);
  return r.requests.average;
}
const res = { mooring: [], http: [] };
for (let i = 0; i < runs; i++) for (const k of ['mooring', 'http']) res[k].push(await once(k));
const out = { mooring: Math.round(median(res.mooring)), http: Math.round(median(res.http)) };
out.ratio = +(out.mooring / out.http).toFixed(2);
console.log(JSON.stringify(out));
