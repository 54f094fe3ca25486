/**
 * HTTP heartbeat (HTTP-1): autocannon against `POST /heartbeat` with a bearer token, alone and while
 * the same server fans pushes out to WebSocket subscribers, vs bare `node:http` answering 204.
 */
import { LOAD_BOUND_SHARE, measureCpu } from '../lib/sample.js';
import { summarize } from '../lib/stats.js';
import { table, type Cell, type Progress } from '../lib/output.js';
import { makeTokens, num, ratio, startLoad, startServerProc, stop, target, type RunOptions, type ScenarioResult } from './common.js';
import { fig, pct, x } from './format.js';

export async function run(o: RunOptions, progress?: Progress): Promise<ScenarioResult> {
  const connections = num(o, 'connections', 100, 100, 10);
  const durationMs = num(o, 'duration', 10_000, 3_000, 300);
  const warmMs = o.tiny ? 0 : Math.min(1_000, durationMs / 2);
  const subscribers = num(o, 'subscribers', 1_000, 1_000, 20);
  const cases = [
    { id: 'mooring', label: 'Mooring POST /heartbeat', kind: 'mooring' as const, fanout: false },
    { id: 'mooring-fanout', label: `Mooring POST /heartbeat during fan-out to ${subscribers}`, kind: 'mooring' as const, fanout: true },
    { id: 'http', label: 'bare node:http 204', kind: 'http' as const, fanout: false },
  ];
  const per: Record<string, any> = {};
  for (const c of cases) {
    const server = await startServerProc(c.kind, {}, o.serverFlags);
    const load = startLoad();
    try {
      const [token] = await makeTokens(server, 1, 'hb');
      const url = `http://127.0.0.1:${server.port}/heartbeat`;
      const ac = { url, connections, method: 'POST', headers: { authorization: `Bearer ${token}` } };
      let pushing = false;
      let pushes: Promise<unknown> = Promise.resolve();
      if (c.fanout) {
        const subTokens = await makeTokens(server, subscribers, 'sub');
        await load.rpc.call('open', { target: server.target, tokens: subTokens, perConn: ['fan'], spread: true });
        pushing = true;
        pushes = (async () => {
          while (pushing) await server.child.rpc.call('burst', { channels: ['fan'], count: 10, intervalMs: 50 });
        })();
      }
      if (warmMs > 0) await load.rpc.call('autocannon', { ...ac, durationMs: warmMs }); // warm-up
      const repeats = [];
      for (let r = 0; r < o.repeats; r++) {
        const m = await measureCpu({ server: server.child.pid, load: load.pid }, () => load.rpc.call('autocannon', { ...ac, durationMs }));
        const a = m.result as any;
        repeats.push({ rps: a.total / (m.wallMs / 1000), p50: a.p50, p99: a.p99, non2xx: a.non2xx, errors: a.errors, serverShare: m.share.server!, loadShare: m.share.load!, serverUsPerReq: (m.cpuMs.server! * 1000) / a.total });
        progress?.step(`heartbeat ${c.id} ${r + 1}/${o.repeats}`);
      }
      pushing = false;
      await pushes;
      per[c.id] = { ...summarize(repeats), repeats };
    } finally {
      await stop(load, server);
    }
  }
  const headers = ['server', 'req/s', 'p50 ms', 'p99 ms', 'server µs/req', 'non-2xx', 'server CPU', 'load CPU'];
  const rows: Cell[][] = cases.map((c) => {
    const f = per[c.id];
    return [c.label, fig(f.rps), fig(f.p50), fig(f.p99), fig(f.serverUsPerReq), String(f.non2xx.median), pct(f.serverShare.median), pct(f.loadShare.median) + (f.loadShare.median >= LOAD_BOUND_SHARE ? ' (bound)' : '')];
  });
  const hbRatio = ratio(per.mooring.rps.median, per.http.rps.median);
  const cpuRatio = ratio(per.mooring.serverUsPerReq.median, per.http.serverUsPerReq.median);
  const bound = cases.filter((c) => per[c.id].loadShare.median >= LOAD_BOUND_SHARE).map((c) => c.id);
  const note = `autocannon, ${connections} connections, ${durationMs} ms × ${o.repeats} repeats after a ${warmMs} ms warm-up; req/s counts every response; during fan-out the server pushes 20 times a second to ${subscribers} subscribers (${20 * subscribers} deliveries/s) held by the load process.\n` +
    `Mooring /heartbeat vs bare node:http: req/s ${x(hbRatio)}, server CPU/request ${x(cpuRatio)}.\n` +
    (bound.length ? `The load generator (autocannon) was the bottleneck for ${bound.join(', ')}: compare server µs/req.\n` : '');
  return {
    scenario: 'heartbeat',
    title: 'HTTP heartbeat',
    text: table(headers, rows) + note,
    markdown: table(headers, rows, true) + '\n' + note,
    json: { params: { connections, durationMs, subscribers, repeats: o.repeats }, servers: per, ratios: { hbRatio, cpuRatio }, loadBound: bound },
    targets: [target('heartbeat.rps', 'POST /heartbeat ≥ 0.85× bare node:http', hbRatio, 'ge', 0.85, bound.length ? 'load generator bound: see CPU/request' : undefined)],
  };
}
