/**
 * Fan-out: one channel with 1k / 5k / 10k subscribers (publish-to-delivery p50/p99/max, first and
 * last receipt per push, deliveries per second), and a mixed workload of many small channels
 * (10 subscribers each). Mooring vs a raw `ws` loop (naive: stringify per subscriber; once:
 * serialize once) vs Socket.IO rooms. Pushes carry their send time; both processes read the same clock.
 */
import { LOAD_BOUND_SHARE, measureCpu } from '../lib/sample.js';
import { summarize } from '../lib/stats.js';
import { svgPlot, table, type Cell, type Progress } from '../lib/output.js';
import { makeTokens, num, ratio, startLoad, startServerProc, stop, target, type RunOptions, type ScenarioResult, type ServerKind } from './common.js';
import { fig, pct, x } from './format.js';

const SERVERS: Array<{ id: string; kind: ServerKind; fanout?: 'naive' | 'once'; label: string }> = [
  { id: 'mooring', kind: 'mooring', label: 'Mooring' },
  { id: 'ws-naive', kind: 'ws', fanout: 'naive', label: 'raw ws naive loop' },
  { id: 'ws-once', kind: 'ws', fanout: 'once', label: 'raw ws serialize-once' },
  { id: 'socketio', kind: 'socketio', label: 'Socket.IO rooms' },
];

export async function run(o: RunOptions, progress?: Progress): Promise<ScenarioResult> {
  const sizes = o.params.sizes ? o.params.sizes.split(',').map(Number) : o.tiny ? [20] : o.quick ? [1_000, 5_000] : [1_000, 5_000, 10_000];
  const pushes = num(o, 'pushes', 10, 5, 3);
  const intervalMs = num(o, 'interval', 200, 150, 30);
  const small = 10; // subscribers per small channel in the mixed workload
  const mixedPushes = num(o, 'mixed-pushes', 5_000, 2_000, 20);
  const per: Record<string, any> = {};
  for (const sv of SERVERS) {
    const server = await startServerProc(sv.kind, { fanout: sv.fanout }, o.serverFlags);
    const load = startLoad();
    const rows: Record<string, any> = {};
    try {
      const max = Math.max(...sizes);
      const tokens = await makeTokens(server, max);
      let open = 0;
      for (const size of sizes) {
        const channels = Array.from({ length: size - open }, (_, j) => ['fan', `s${Math.floor((open + j) / small)}`]);
        await load.rpc.call('open', { target: server.target, tokens: tokens.slice(open, size), channels, spread: true });
        open = size;
        // warm-up push, then the measured repeats
        await load.rpc.call('armFanout', { count: 1, subscribers: size });
        await server.child.rpc.call('burst', { channels: ['fan'], count: 1, intervalMs: 0 });
        await load.rpc.call('awaitFanout', { timeoutMs: 10_000 });
        const repeats = [];
        for (let r = 0; r < o.repeats; r++) {
          await load.rpc.call('armFanout', { count: pushes, subscribers: size });
          const m = await measureCpu({ server: server.child.pid, load: load.pid }, async () => {
            await server.child.rpc.call('burst', { channels: ['fan'], count: pushes, intervalMs });
            return load.rpc.call('awaitFanout', { timeoutMs: 30_000 });
          });
          const f = m.result as any;
          repeats.push({ p50: f.p50, p99: f.p99, max: f.max, firstMs: f.firstMs, lastMs: f.lastMs, perSecond: (size * 1000) / f.lastMs, delivered: f.delivered / f.expected, loadShare: m.share.load!, serverShare: m.share.server! });
          progress?.step(`fanout ${sv.id} ${size} ${r + 1}/${o.repeats}`);
        }
        rows[size] = { ...summarize(repeats), repeats };
      }
      // Mixed: many small channels (10 subscribers each), published round robin as fast as the server takes them.
      const nChannels = Math.floor(open / small);
      const chans = Array.from({ length: nChannels }, (_, i) => `s${i}`);
      const mixed = [];
      for (let r = 0; r < o.repeats; r++) {
        await load.rpc.call('armFanout', { count: mixedPushes, subscribers: small });
        const m = await measureCpu({ server: server.child.pid, load: load.pid }, async () => {
          await server.child.rpc.call('burst', { channels: chans, count: mixedPushes, intervalMs: 0 });
          return load.rpc.call('awaitFanout', { timeoutMs: 30_000 });
        });
        const f = m.result as any;
        mixed.push({ p50: f.p50, p99: f.p99, max: f.max, perSecond: f.perSecond, delivered: f.delivered / f.expected, loadShare: m.share.load!, serverShare: m.share.server! });
        progress?.step(`fanout ${sv.id} mixed ${r + 1}/${o.repeats}`);
      }
      rows.mixed = { ...summarize(mixed), repeats: mixed, channels: nChannels };
      per[sv.id] = { sizes: rows, limits: server.limits };
    } finally {
      await stop(load, server);
    }
  }
  const headers = ['server', 'subscribers', 'p50 ms', 'p99 ms', 'max ms', 'first ms', 'last ms', 'deliveries/s', 'delivered', 'load CPU'];
  const rows: Cell[][] = [];
  for (const size of [...sizes, 'mixed'] as Array<number | 'mixed'>) {
    for (const sv of SERVERS) {
      const f = per[sv.id].sizes[size];
      rows.push([sv.label, size === 'mixed' ? `mixed ${f.channels}×${small}` : String(size), fig(f.p50), fig(f.p99), fig(f.max), size === 'mixed' ? '' : fig(f.firstMs), size === 'mixed' ? '' : fig(f.lastMs), fig(f.perSecond), pct(f.delivered.median), pct(f.loadShare.median) + (f.loadShare.median >= LOAD_BOUND_SHARE ? ' (bound)' : '')]);
    }
  }
  const top = Math.max(...sizes);
  const g = (id: string, k: string) => per[id].sizes[top][k].median as number;
  const p99Ratio = ratio(g('mooring', 'p99'), g('ws-once', 'p99'));
  const firstRatio = ratio(g('mooring', 'firstMs'), g('ws-once', 'firstMs'));
  const note = `${pushes} pushes ${intervalMs} ms apart per repeat, ${o.repeats} repeats, after one warm-up push; mixed: ${mixedPushes} pushes round robin over the small channels, back to back.\n` +
    `Latency = receipt time − publish time (data.t, same machine clock); first/last = median over pushes of the earliest/latest receipt; deliveries/s = subscribers / last receipt.\n` +
    `At ${top} subscribers Mooring vs raw ws serialize-once: p99 ${x(p99Ratio)}, first receipt ${x(firstRatio)}.\n`;
  const svg = svgPlot({
    title: 'Fan-out: publish-to-delivery p99 by subscribers',
    xLabel: 'subscribers on one channel', yLabel: 'p99 latency, ms',
    series: SERVERS.map((sv) => ({ name: sv.label, points: sizes.map((size): [number, number] => [size, per[sv.id].sizes[size].p99.median]) })),
  });
  return {
    svg,
    scenario: 'fanout',
    title: 'Fan-out',
    text: table(headers, rows) + note,
    markdown: table(headers, rows, true) + '\n' + note + '\n![fan-out p99](results/fanout.svg)\n',
    json: { params: { sizes, pushes, intervalMs, mixedPushes, small, repeats: o.repeats }, servers: per, ratios: { p99Ratio, firstRatio } },
    targets: [
      target('fanout.p99', `fan-out at ${top}: p99 ≤ raw ws serialize-once`, p99Ratio, 'le', 1, top < 10_000 ? `measured at ${top}, not 10k` : undefined),
      target('fanout.first', `fan-out at ${top}: first receipt ≤ 2× raw ws`, firstRatio, 'le', 2, top < 10_000 ? `measured at ${top}, not 10k` : undefined),
    ],
  };
}
