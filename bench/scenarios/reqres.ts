/**
 * Request/response: a closed loop (C connections × K requests in flight) for throughput and server
 * CPU per request, then an open loop at fixed rates for p50/p99/p99.9 latency (HDR histogram,
 * measured from the intended send time). Mooring `echo` vs raw `ws` JSON echo vs Socket.IO
 * emit-with-ack, same JSON objects.
 */
import { measureCpu, LOAD_BOUND_SHARE } from '../lib/sample.js';
import { summarize } from '../lib/stats.js';
import { table, type Cell } from '../lib/output.js';
import { makeTokens, num, ratio, startLoad, startServerProc, stop, target, type RunOptions, type ScenarioResult } from './common.js';
import { fig, n, pct, x } from './format.js';
import type { Progress } from '../lib/output.js';

const KINDS = ['mooring', 'ws', 'socketio'] as const;

export async function run(o: RunOptions, progress?: Progress): Promise<ScenarioResult> {
  const conns = num(o, 'connections', 50, 50, 4);
  const inflight = num(o, 'inflight', 10, 10, 2);
  const durationMs = num(o, 'duration', 5_000, 2_000, 300);
  const warmMs = num(o, 'warmup', 2_000, 1_000, 100);
  const rates = o.params.rates ? o.params.rates.split(',').map(Number) : o.tiny ? [200] : o.quick ? [10_000] : [5_000, 20_000];
  const openMs = num(o, 'open-duration', 5_000, 2_000, 300);
  const per: Record<string, any> = {};
  for (const kind of KINDS) {
    const server = await startServerProc(kind, {}, o.serverFlags);
    const load = startLoad();
    try {
      const tokens = await makeTokens(server, conns);
      await load.rpc.call('open', { target: server.target, tokens });
      await load.rpc.call('closedLoop', { inflight, durationMs: warmMs });
      const repeats = [];
      for (let r = 0; r < o.repeats; r++) {
        const m = await measureCpu({ server: server.child.pid, load: load.pid }, () => load.rpc.call('closedLoop', { inflight, durationMs }));
        const { requests, ms } = m.result as { requests: number; ms: number };
        repeats.push({
          rps: (requests * 1000) / ms,
          serverUsPerReq: (m.cpuMs.server! * 1000) / requests,
          loadUsPerReq: (m.cpuMs.load! * 1000) / requests,
          serverShare: m.share.server!,
          loadShare: m.share.load!,
        });
        progress?.step(`reqres ${kind} closed loop ${r + 1}/${o.repeats}`);
      }
      const open: Record<string, unknown> = {};
      for (const rate of rates) {
        open[rate] = await load.rpc.call('openLoop', { rate, durationMs: openMs });
        progress?.step(`reqres ${kind} open loop ${rate}/s`);
      }
      per[kind] = { closed: summarize(repeats), repeats, open, limits: server.limits };
    } finally {
      await stop(load, server);
    }
  }
  const m = per.mooring.closed, w = per.ws.closed, s = per.socketio.closed;
  const loadBound = KINDS.filter((k) => per[k].closed.loadShare.median >= LOAD_BOUND_SHARE);
  const cpuRatio = ratio(m.serverUsPerReq.median, w.serverUsPerReq.median);
  const rpsRatioWs = ratio(m.rps.median, w.rps.median);
  const rpsRatioSio = ratio(m.rps.median, s.rps.median);
  const headers = ['server', 'req/s', 'server µs/req', 'server CPU', 'load CPU', ...rates.flatMap((r) => [`p50 @${r}/s ms`, `p99`, `p99.9`])];
  const rows: Cell[][] = KINDS.map((k) => [
    k === 'ws' ? 'raw ws' : k === 'socketio' ? 'Socket.IO' : 'Mooring',
    fig(per[k].closed.rps), fig(per[k].closed.serverUsPerReq), pct(per[k].closed.serverShare.median), pct(per[k].closed.loadShare.median) + (per[k].closed.loadShare.median >= LOAD_BOUND_SHARE ? ' (bound)' : ''),
    ...rates.flatMap((r) => [n(per[k].open[r].p50), n(per[k].open[r].p99), n(per[k].open[r].p999)]),
  ]);
  const note = `${conns} connections × ${inflight} in flight, ${durationMs} ms × ${o.repeats} repeats after ${warmMs} ms warm-up; open loop ${openMs} ms per rate.\n` +
    `Mooring vs raw ws: CPU/request ${x(cpuRatio)}, req/s ${x(rpsRatioWs)}; vs Socket.IO req/s ${x(rpsRatioSio)}.\n` +
    (loadBound.length ? `The load generator was the bottleneck (≥ ${LOAD_BOUND_SHARE * 100} % of its core) for ${loadBound.join(', ')}: compare server µs/req, not req/s.\n` : '');
  const targets = [
    target('reqres.cpu', 'server CPU per request ≤ 1.15× raw ws', cpuRatio, 'le', 1.15),
    target('reqres.rps-ws', 'requests/s ≥ 0.85× raw ws', rpsRatioWs, 'ge', 0.85, loadBound.length ? 'load generator bound: see CPU/request' : undefined),
    target('reqres.rps-sio', 'requests/s ≥ 1.3× Socket.IO', rpsRatioSio, 'ge', 1.3, loadBound.length ? 'load generator bound: see CPU/request' : undefined),
  ];
  return {
    scenario: 'reqres',
    title: 'Request/response (echo)',
    text: table(headers, rows) + note,
    markdown: table(headers, rows, true) + '\n' + note,
    json: { params: { conns, inflight, durationMs, warmMs, rates, openMs, repeats: o.repeats }, servers: per, ratios: { cpuRatio, rpsRatioWs, rpsRatioSio }, loadBound },
    targets,
  };
}
