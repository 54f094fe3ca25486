/**
 * Idle density: N authenticated connections with 2 subscriptions each and heartbeats on; RSS and
 * heap per connection after GC (server process, measured over a baseline taken before the first
 * connection), and the server's idle CPU over a window that includes heartbeat rounds.
 */
import { measureCpu } from '../lib/sample.js';
import { summarize } from '../lib/stats.js';
import { table, type Cell, type Progress } from '../lib/output.js';
import { makeTokens, num, ratio, sleep, startLoad, startServerProc, stop, target, type RunOptions, type ScenarioResult } from './common.js';
import { fig, n, pct, x } from './format.js';

const KINDS = [
  { kind: 'mooring', label: 'Mooring' },
  { kind: 'ws', label: 'raw ws' },
  { kind: 'socketio', label: 'Socket.IO' },
] as const;

export async function run(o: RunOptions, progress?: Progress): Promise<ScenarioResult> {
  const conns = num(o, 'connections', 10_000, 5_000, 50);
  const hbMs = num(o, 'heartbeat', 5_000, 5_000, 1_000);
  const idleMs = num(o, 'idle', 10_000, 5_500, 400);
  const per: Record<string, any> = {};
  for (const k of KINDS) {
    const repeats = [];
    for (let r = 0; r < o.repeats; r++) {
      const server = await startServerProc(k.kind, { heartbeatIntervalMs: hbMs }, o.serverFlags);
      const load = startLoad();
      try {
        const tokens = await makeTokens(server, conns);
        // Warm-up: a first batch connects and leaves, so code and lazily built state are in the baseline.
        await load.rpc.call('open', { target: server.target, tokens: tokens.slice(0, Math.min(200, conns)), perConn: ['news', 'chat'], spread: true });
        await load.rpc.call('closeAll');
        await sleep(o.tiny ? 50 : 300);
        const before = await server.child.rpc.call('memory');
        await load.rpc.call('open', { target: server.target, tokens, perConn: ['news', 'chat'], spread: true });
        await sleep(o.tiny ? 100 : 500);
        const after = await server.child.rpc.call('memory');
        const m = await measureCpu({ server: server.child.pid }, () => sleep(idleMs));
        repeats.push({
          rssPerConnKiB: (after.rss - before.rss) / conns / 1024,
          heapPerConnKiB: (after.heapUsed - before.heapUsed) / conns / 1024,
          externalPerConnKiB: (after.external - before.external) / conns / 1024,
          idleCpuShare: m.share.server!,
          connections: after.connections,
        });
        progress?.step(`idle ${k.kind} ${r + 1}/${o.repeats}`);
      } finally {
        await stop(load, server);
      }
    }
    per[k.kind] = { ...summarize(repeats), repeats };
  }
  const headers = ['server', 'connections', 'RSS/conn KiB', 'heap/conn KiB', 'external/conn KiB', 'idle CPU'];
  const rows: Cell[][] = KINDS.map((k) => [k.label, String(per[k.kind].connections.median), fig(per[k.kind].rssPerConnKiB), fig(per[k.kind].heapPerConnKiB), fig(per[k.kind].externalPerConnKiB), pct(per[k.kind].idleCpuShare.median)]);
  const g = (k: string, f: string) => per[k][f].median as number;
  const heapWs = ratio(g('mooring', 'heapPerConnKiB'), g('ws', 'heapPerConnKiB'));
  const rssWs = ratio(g('mooring', 'rssPerConnKiB'), g('ws', 'rssPerConnKiB'));
  const rssSio = ratio(g('mooring', 'rssPerConnKiB'), g('socketio', 'rssPerConnKiB'));
  const heapSio = ratio(g('mooring', 'heapPerConnKiB'), g('socketio', 'heapPerConnKiB'));
  const note = `${conns} connections × 2 subscriptions, heartbeat every ${hbMs} ms, memory after 2× GC minus a baseline taken after a warm-up batch connected and left; idle CPU over ${idleMs} ms; ${o.repeats} repeats (fresh processes each).\n` +
    `Mooring vs raw ws: heap/conn ${x(heapWs)}, RSS/conn ${x(rssWs)}; vs Socket.IO: RSS ${x(rssSio)}, heap ${x(heapSio)}.\n`;
  return {
    scenario: 'idle',
    title: 'Idle density',
    text: table(headers, rows) + note,
    markdown: table(headers, rows, true) + '\n' + note,
    json: { params: { conns, hbMs, idleMs, repeats: o.repeats }, servers: per, ratios: { heapWs, rssWs, rssSio, heapSio } },
    targets: [
      target('idle.heap-ws', 'heap per idle connection ≤ 1.2× raw ws', heapWs, 'le', 1.2),
      target('idle.rss-ws', 'RSS per idle connection ≤ 1.1× raw ws', rssWs, 'le', 1.1),
      target('idle.sio', 'RSS per idle connection ≤ 0.5× Socket.IO', rssSio, 'le', 0.5),
    ],
  };
}
