/**
 * Reconnect storm: N clients authenticated and subscribed to a numbered stream; the server is
 * restarted with SIGTERM (1012 + retry hints spread over shutdownSpreadMs, SHUT-3) and, separately,
 * killed with SIGKILL, and started again on the same port (tokens preloaded, the broker from a flag).
 * Per reconnect strategy (and Socket.IO's built-in reconnection): time until 50/95/99/100 % are back
 * and re-subscribed, peak attempts per second, attempts per client, pushes lost (as reported gaps
 * and as silent losses), server CPU and peak RSS while they come back; a plot of attempts over time.
 * With a redis-server on the machine the spec strategy also runs with the Redis broker, whose
 * history survives the restart (0 lost expected), and a multi-node run follows: 3 nodes on that Redis,
 * one killed with SIGKILL, its clients resuming on the others (onceMulti).
 */
import { randomBytes } from 'node:crypto';
import { LOAD_BOUND_SHARE, sampleProc } from '../lib/sample.js';
import { percentile } from '../lib/stats.js';
import { svgPlot, table, type Cell, type Progress, type Series } from '../lib/output.js';
import { redisAvailable, startRedis, type RedisProc } from '../lib/redis.js';
import { STRATEGIES, type Strategy } from '../load/backoff-strategies.js';
import { num, ratio, sleep, startLoad, startServerProc, stop, target, type RunOptions, type ScenarioResult, type ServerProc } from './common.js';
import { n, pct, x } from './format.js';
import { DEFAULT_BACKOFF } from '../../schemas/v1/defaults.js';

type Signal = 'SIGTERM' | 'SIGKILL';
const BIN_MS = 100;
/**
 * The stream's interval: about 20 000 deliveries per second in all (every 50 ms up to 1 000 clients,
 * every 500 ms at 10 000), so that one load-generator core can read every push and the figures
 * measure the reconnection, not a generator drowning in pushes.
 */
const streamMs = (clients: number) => Math.min(1_000, Math.max(50, Math.round(clients / 20)));

interface RunSpec { strategy: Strategy | 'socketio'; signal: Signal; broker: string }

async function serverWithTokens(kind: 'mooring' | 'socketio', port: number, broker: string, spreadMs: number, pairs: Array<[string, string]>, flags?: string[]): Promise<ServerProc> {
  const s = await startServerProc(kind, { port, broker, shutdownSpreadMs: spreadMs }, flags);
  for (let i = 0; i < pairs.length; i += 5_000) await s.child.rpc.call('addTokens', { pairs: pairs.slice(i, i + 5_000) });
  return s;
}

async function once(o: RunOptions, spec: RunSpec, clients: number, spreadMs: number, timeoutMs: number, baseMs: number, progress?: Progress) {
  const kind = spec.strategy === 'socketio' ? 'socketio' : 'mooring';
  const pairs: Array<[string, string]> = Array.from({ length: clients }, (_, i) => [randomBytes(18).toString('base64url'), `storm${i}`]);
  let server = await serverWithTokens(kind, 0, spec.broker, spreadMs, pairs, o.serverFlags);
  const port = server.port;
  const load = startLoad();
  let lastN = -1;
  const onPub = (ev: { event: string; n: number }) => {
    if (ev.event === 'published' && ev.n > lastN) lastN = ev.n;
  };
  try {
    await load.rpc.call('stormStart', { target: server.target, tokens: pairs.map((p) => p[0]), channel: 'storm', strategy: spec.strategy, spread: true, baseMs });
    server.child.rpc.onEvent(onPub);
    await server.child.rpc.call('stream', { channel: 'storm', from: 0, intervalMs: streamMs(clients) });
    await sleep(o.tiny ? 300 : 1_000);
    await load.rpc.call('stormMark');
    const t0 = performance.now();
    server.child.proc.kill(spec.signal);
    await server.child.exited;
    const downMs = performance.now() - t0;
    server = await serverWithTokens(kind, port, spec.broker, spreadMs, pairs, o.serverFlags);
    const upMs = performance.now() - t0;
    server.child.rpc.onEvent(onPub);
    await server.child.rpc.call('stream', { channel: 'storm', from: lastN + 1, intervalMs: streamMs(clients) });
    // Sample the new server while the clients come back.
    const first = sampleProc(server.child.pid);
    let peakRss = first?.rssBytes ?? 0;
    const cpuSeries: Array<[number, number]> = [];
    let prev = first;
    let loadPrev = sampleProc(load.pid);
    let loadPeak = 0;
    let back = 0;
    while (performance.now() - t0 < timeoutMs) {
      await sleep(BIN_MS * 2);
      const s = sampleProc(server.child.pid);
      if (s && prev) cpuSeries.push([(s.at - t0) / 1000, (s.cpuMs - prev.cpuMs) / (s.at - prev.at)]);
      if (s) peakRss = Math.max(peakRss, s.rssBytes);
      prev = s;
      const l = sampleProc(load.pid);
      if (l && loadPrev) loadPeak = Math.max(loadPeak, (l.cpuMs - loadPrev.cpuMs) / (l.at - loadPrev.at));
      loadPrev = l;
      back = (await load.rpc.call<{ back: number }>('stormBack')).back;
      if (back === clients) break;
    }
    const last = sampleProc(server.child.pid);
    await sleep(o.tiny ? 300 : 1_000); // the stream runs on after everyone is back
    await server.child.rpc.call('streamStop');
    await sleep(300);
    const rep = await load.rpc.call<any>('stormReport', { lastN });
    const attempts = rep.attemptTimes as number[];
    const bins = new Map<number, number>();
    for (const t of attempts) bins.set(Math.floor(t / BIN_MS), (bins.get(Math.floor(t / BIN_MS)) ?? 0) + 1);
    const maxBin = Math.max(0, ...bins.keys());
    const series: Array<[number, number]> = [];
    for (let b = 0; b <= maxBin; b++) series.push([(b * BIN_MS) / 1000, ((bins.get(b) ?? 0) * 1000) / BIN_MS]);
    const bt = rep.backTimes as number[];
    progress?.step(`storm ${spec.strategy} ${spec.signal}${spec.broker !== 'memory' ? ' redis' : ''}`);
    return {
      ...spec,
      clients,
      back: rep.back,
      backPct: rep.back / clients,
      t50: percentile(bt, 50), t95: percentile(bt, 95), t99: percentile(bt, 99), t100: bt.length === clients ? bt[bt.length - 1]! : NaN,
      peakAttemptsPerSec: Math.max(0, ...series.map((p) => p[1])),
      attemptsPerClient: rep.attempts / clients,
      lostReported: rep.lostReported,
      lostSilent: rep.lostSilent,
      lostNotBack: rep.lostNotBack,
      replayed: rep.replayed,
      resumeUnavailable: rep.resumeUnavailable,
      duplicates: rep.duplicates,
      published: lastN + 1,
      downMs, upMs,
      serverCpuMs: first && last ? last.cpuMs - first.cpuMs : NaN,
      serverPeakRssMiB: peakRss / 2 ** 20,
      loadPeakShare: loadPeak,
      attemptsSeries: series,
      cpuSeries,
    };
  } finally {
    await stop(load, server);
  }
}

/**
 * Multi-node (issue 13): `nodes` server processes on one Redis, clients spread round-robin over them
 * (client i on node i mod nodes), every node holding every token; the stream is published through
 * node 0 and the last node is killed with SIGKILL. Its clients reconnect to the next node in their
 * list (a round-robin balancer) and resume from Redis history; the others stay connected. Times
 * count the killed node's clients (the only ones that have to come back); losses count everyone.
 */
async function onceMulti(o: RunOptions, nodes: number, redisUrl: string, clients: number, timeoutMs: number, baseMs: number, progress?: Progress) {
  const pairs: Array<[string, string]> = Array.from({ length: clients }, (_, i) => [randomBytes(18).toString('base64url'), `storm${i}`]);
  const servers: ServerProc[] = [];
  const load = startLoad();
  let lastN = -1;
  try {
    // Started together (each is its own process); a failed start still stops the others.
    const started = await Promise.allSettled(Array.from({ length: nodes }, () => serverWithTokens('mooring', 0, redisUrl, 5_000, pairs, o.serverFlags)));
    for (const r of started) if (r.status === 'fulfilled') servers.push(r.value);
    const failed = started.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) throw failed.reason;
    const pub = servers[0]!;
    const victim = servers[nodes - 1]!;
    const affected = Array.from({ length: clients }, (_, i) => i % nodes).filter((k) => k === nodes - 1).length;
    pub.child.rpc.onEvent((ev: { event: string; n: number }) => {
      if (ev.event === 'published' && ev.n > lastN) lastN = ev.n;
    });
    await load.rpc.call('stormStart', { target: pub.target, targets: servers.map((s) => s.target), tokens: pairs.map((p) => p[0]), channel: 'storm', strategy: 'spec', spread: true, baseMs });
    await pub.child.rpc.call('stream', { channel: 'storm', from: 0, intervalMs: streamMs(clients) });
    await sleep(o.tiny ? 300 : 1_000);
    await load.rpc.call('stormMark');
    const t0 = performance.now();
    victim.child.proc.kill('SIGKILL');
    await victim.child.exited;
    const downMs = performance.now() - t0;
    let back = 0;
    while (performance.now() - t0 < timeoutMs) {
      await sleep(BIN_MS * 2);
      back = (await load.rpc.call<{ back: number }>('stormBack')).back;
      if (back >= affected) break;
    }
    await sleep(o.tiny ? 300 : 1_000); // the stream runs on after everyone is back
    await pub.child.rpc.call('streamStop');
    await sleep(300);
    const rep = await load.rpc.call<any>('stormReport', { lastN });
    const bins = new Map<number, number>();
    for (const t of rep.attemptTimes as number[]) bins.set(Math.floor(t / BIN_MS), (bins.get(Math.floor(t / BIN_MS)) ?? 0) + 1);
    const maxBin = Math.max(0, ...bins.keys());
    const series: Array<[number, number]> = [];
    for (let b = 0; b <= maxBin; b++) series.push([(b * BIN_MS) / 1000, ((bins.get(b) ?? 0) * 1000) / BIN_MS]);
    const bt = rep.backTimes as number[];
    progress?.step(`storm multi-node ×${nodes}`);
    return {
      strategy: 'spec', signal: 'SIGKILL' as Signal, broker: redisUrl, nodes,
      clients: affected, totalClients: clients,
      back: rep.back, backPct: rep.back / affected,
      t50: percentile(bt, 50), t95: percentile(bt, 95), t99: percentile(bt, 99), t100: bt.length >= affected ? bt[bt.length - 1]! : NaN,
      peakAttemptsPerSec: Math.max(0, ...series.map((p) => p[1])),
      attemptsPerClient: rep.attempts / affected,
      lostReported: rep.lostReported, lostSilent: rep.lostSilent, lostNotBack: rep.lostNotBack,
      replayed: rep.replayed, resumeUnavailable: rep.resumeUnavailable, duplicates: rep.duplicates,
      published: lastN + 1, downMs, upMs: NaN,
      serverCpuMs: NaN, serverPeakRssMiB: NaN, loadPeakShare: NaN,
      attemptsSeries: series, cpuSeries: [],
    };
  } finally {
    await stop(load, ...servers);
  }
}

export async function run(o: RunOptions, progress?: Progress): Promise<ScenarioResult> {
  const clients = num(o, 'clients', 10_000, 2_000, 40);
  // Multi-node (issue 13): that many server processes on one Redis, one of them killed (0 or 1: no multi-node run).
  const nodes = num(o, 'nodes', 3, 3, 3);
  if (nodes === 1 || (nodes >= 2 && !Number.isInteger(nodes))) throw new Error('--set nodes: 2 or more (0 skips the multi-node run)');
  const spreadMs = num(o, 'spread', 5_000, 5_000, 300);
  // The first backoff bound (RECON-1; Socket.IO's reconnectionDelay, its max 5×): 1 s as shipped, shorter only for the smoke run.
  const baseMs = num(o, 'base', DEFAULT_BACKOFF.baseMs, DEFAULT_BACKOFF.baseMs, 200);
  const timeoutMs = num(o, 'timeout', 60_000, 30_000, 10_000);
  const signals = (o.params.signals ?? 'SIGTERM,SIGKILL').split(',') as Signal[];
  const strategies = (o.params.strategies ?? [...STRATEGIES, 'socketio'].join(',')).split(',') as Array<Strategy | 'socketio'>;
  for (const s of signals) if (s !== 'SIGTERM' && s !== 'SIGKILL') throw new Error(`--set signals: SIGTERM and/or SIGKILL, not ${s}`);
  for (const s of strategies) if (!(STRATEGIES as string[]).includes(s) && s !== 'socketio') throw new Error(`--set strategies: ${STRATEGIES.join(', ')}, socketio; not ${s}`);
  // `--set only=multi`: the multi-node run alone (the smoke test; the single-node rows are the comparison otherwise).
  const onlyMulti = o.params.only === 'multi';
  if (onlyMulti && nodes < 2) throw new Error('--set only=multi needs --set nodes ≥ 2');
  const specs: RunSpec[] = [];
  if (!onlyMulti) for (const signal of signals) for (const strategy of strategies) specs.push({ strategy, signal, broker: 'memory' });
  const runs: any[] = [];
  for (const s of specs) runs.push(await once(o, s, clients, spreadMs, timeoutMs, baseMs, progress));

  // History that survives the restart: the Redis broker, when redis-server is here and the server has it.
  let redis: RedisProc | undefined;
  let redisNote = '';
  const bin = o.params.redis === 'off' ? null : redisAvailable();
  if (!bin) redisNote = 'no redis-server here (or --redis off): the history-survives run was not made.';
  else {
    try {
      redis = await startRedis(bin);
      if (!onlyMulti) for (const signal of signals) runs.push(await once(o, { strategy: 'spec', signal, broker: redis.url }, clients, spreadMs, timeoutMs, baseMs, progress));
    } catch (err) {
      redisNote = `history-survives run not made: ${(err as Error).message.split('\n')[0]}`;
    }
    try {
      if (nodes >= 2 && !redisNote) runs.push(await onceMulti(o, nodes, redis!.url, clients, timeoutMs, baseMs, progress));
    } catch (err) {
      redisNote = `multi-node run not made: ${(err as Error).message.split('\n')[0]}`;
    } finally {
      await redis?.stop();
    }
  }

  const label = (r: any) => r.nodes ? `multi-node (${r.nodes} nodes + Redis, 1 killed)` : `${r.strategy === 'socketio' ? 'Socket.IO built-in' : r.strategy === 'spec' ? 'spec jitter' : r.strategy === 'none' ? 'no jitter' : r.strategy === 'full' ? 'full jitter' : 'decorrelated'}${r.broker !== 'memory' ? ' + Redis' : ''}`;
  const headers = ['signal', 'strategy', 'back', '50 % s', '95 % s', '99 % s', '100 % s', 'peak attempts/s', 'attempts/client', 'lost (gap reported)', 'lost silently', 'missed, not back', 'replayed', 'server CPU s', 'server peak RSS MiB', 'load CPU peak'];
  const rows: Cell[][] = runs.map((r) => [r.signal, label(r), `${r.back}/${r.clients}${r.nodes ? ` of ${r.totalClients}` : ''}`, n(r.t50 / 1000), n(r.t95 / 1000), n(r.t99 / 1000), n(r.t100 / 1000), n(r.peakAttemptsPerSec), n(r.attemptsPerClient), String(r.lostReported), String(r.lostSilent), String(r.lostNotBack), String(r.replayed), n(r.serverCpuMs / 1000), n(r.serverPeakRssMiB), pct(r.loadPeakShare) + (r.loadPeakShare >= LOAD_BOUND_SHARE ? ' (bound)' : '')]);
  const svg = signals.map((sig) => svgPlot({
    title: `Reconnect attempts per second after ${sig} (${clients} clients)`,
    xLabel: 's after the signal', yLabel: 'attempts/s (100 ms bins)',
    series: runs.filter((r) => r.signal === sig).map((r): Series => ({ name: label(r), points: r.attemptsSeries })),
  }));
  const find = (sig: Signal, st: string, broker = 'memory') => runs.find((r) => !r.nodes && r.signal === sig && r.strategy === st && (broker === 'memory' ? r.broker === 'memory' : r.broker !== 'memory'));
  const peakRatio = ratio(find('SIGKILL', 'none')?.peakAttemptsPerSec, find('SIGKILL', 'spec')?.peakAttemptsPerSec);
  const peakBound = ['none', 'spec'].some((st) => (find('SIGKILL', st)?.loadPeakShare ?? 0) >= 0.8);
  const allBack = runs.filter((r) => r.strategy !== 'socketio').every((r) => r.back === r.clients);
  const silent = runs.filter((r) => r.strategy !== 'socketio').reduce((s, r) => s + r.lostSilent, 0);
  const redisRuns = runs.filter((r) => r.broker !== 'memory');
  const redisLost = redisRuns.length ? redisRuns.reduce((s, r) => s + r.lostReported + r.lostSilent, 0) : NaN;
  const multi = runs.find((r) => r.nodes);
  const lastBack = find('SIGTERM', 'spec')?.t100 ?? NaN;
  const note = `${clients} clients over 127.0.x.y source addresses, a numbered push every ${streamMs(clients)} ms on one channel; shutdown retry hints spread over ${spreadMs} ms; backoff base ${baseMs} ms (Socket.IO reconnectionDelay ${baseMs}, max ${5 * baseMs}); the server is started again on the same port as soon as the old one has exited.\n` +
    `Lost (gap reported): pushes missed where the server said resume "unavailable" (the in-memory history died with the process). Lost silently must be 0 for Mooring; Socket.IO has no resume nor gap signal, so all its misses are silent. Missed, not back: pushes published while a client that never came back was away.\n` +
    `Peak attempts/s after SIGKILL, no jitter vs spec jitter: ${x(peakRatio)} lower with the spec's jitter.` +
    (peakBound ? ' The load generator was near its limit (its core ≥ 80 % in 200 ms samples) in those runs: it cannot open sockets faster than that, so a peak near its ceiling is the generator\'s, not the clients\' (the no-jitter peak is understated; compare the curves in the plot).' : '') + '\n' +
    (multi ? `Multi-node: ${multi.nodes} server processes on one Redis, client i on node i mod ${multi.nodes}, every node holding every token, the stream published through node 0; the last node is killed with SIGKILL and its ${multi.clients} clients reconnect to another node (rotating through the node URLs, as behind a load balancer) and resume from the Redis history; back = those clients, lost = over all ${multi.totalClients}. Compare with the single-node rows above (+ Redis: the same node restarted). Server CPU/RSS are not sampled in that row.\n` : '') +
    (redisNote ? `${redisNote}\n` : '');
  return {
    scenario: 'storm',
    title: 'Reconnect storm',
    text: table(headers, rows) + note,
    markdown: table(headers, rows, true) + '\n' + note + `\n![attempts after SIGTERM](results/storm-SIGTERM.svg)\n![attempts after SIGKILL](results/storm-SIGKILL.svg)\n`,
    json: { params: { clients, spreadMs, timeoutMs, baseMs }, runs, ratios: { peakRatio } },
    extraSvg: Object.fromEntries(signals.map((sig, i) => [`storm-${sig}`, svg[i]!])),
    targets: [
      target('storm.back', 'storm: 100 % back and re-subscribed (Mooring, every strategy and signal)', allBack ? 1 : 0, 'ge', 1),
      target('storm.silent', 'storm: no push lost without a gap report (Mooring)', silent, 'le', 0),
      target('storm.multi', 'storm: multi-node, the killed node\'s clients 100 % back on the others with 0 lost', multi ? (multi.back === multi.clients && multi.lostReported + multi.lostSilent + multi.lostNotBack === 0 ? 1 : 0) : NaN, 'ge', 1, multi ? undefined : redisNote || 'nodes=0'),
      target('storm.lost', 'storm: 0 pushes lost with a history that survives the restart', redisLost, 'le', 0, redisRuns.length ? undefined : redisNote),
      target('storm.peak', 'storm: peak attempts/s ≥ 5× below no jitter (after SIGKILL)', peakRatio, 'ge', 5, peakBound ? 'load generator near its ceiling: understated' : undefined),
      target('storm.last', `storm: last client back within the retry-hint spread + 2 s (SIGTERM, spec) [s]`, lastBack / 1000, 'le', (spreadMs + 2_000) / 1000),
    ],
  } as ScenarioResult;
}
