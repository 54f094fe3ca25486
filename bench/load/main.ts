#!/usr/bin/env node
/**
 * The load generator process (pinned to its own core): opens connections and drives them as the
 * orchestrator asks over IPC. It measures latencies itself (HDR histogram); CPU is measured from
 * outside by the orchestrator.
 */
import { serveRpc } from '../lib/rpc.js';
import { latencyHistogram, nowMs } from '../lib/stats.js';
import { openMany, type BenchConn, type Push, type Target } from './clients.js';
import { stormHandlers } from './storm.js';

let pool: BenchConn[] = [];

function hdrSummary(h: ReturnType<typeof latencyHistogram>) {
  // microseconds in, milliseconds out
  const q = (p: number) => h.getValueAtPercentile(p) / 1000;
  return { count: h.totalCount, p50: q(50), p99: q(99), p999: q(99.9), max: h.maxValue / 1000, mean: h.mean / 1000 };
}

let fan: { expected: number; got: number; t0: number; tEnd: number; h: ReturnType<typeof latencyHistogram>; first: Map<number, number>; last: Map<number, number>; done: () => void; wait: Promise<void> } | null = null;

serveRpc({
  open: async (a: { target: Target; tokens: string[]; channels?: string[][] | null; perConn?: string[]; spread?: boolean }) => {
    const t0 = performance.now();
    const conns = await openMany(a.target, a.tokens, {
      spread: a.spread,
      channels: (i) => a.channels?.[i] ?? a.perConn ?? [],
      concurrency: a.target.kind === 'socketio' ? 50 : 100,
    });
    pool.push(...conns);
    return { open: pool.length, ms: performance.now() - t0 };
  },
  closeAll: async () => {
    for (const c of pool) c.close();
    const n = pool.length;
    pool = [];
    await new Promise((r) => setTimeout(r, 200));
    return { closed: n };
  },
  /** Closed loop: every connection keeps `inflight` echo requests outstanding for `durationMs`. */
  closedLoop: async (a: { inflight: number; durationMs: number; payload?: unknown }) => {
    const payload = a.payload ?? { x: 1, s: 'hello' };
    let done = 0;
    let stop = false;
    const t0 = performance.now();
    const lane = async (c: BenchConn) => {
      while (!stop) {
        await c.request(payload);
        done++;
      }
    };
    const lanes = pool.flatMap((c) => Array.from({ length: a.inflight }, () => lane(c)));
    await new Promise((r) => setTimeout(r, a.durationMs));
    stop = true;
    const ms = performance.now() - t0;
    const counted = done;
    await Promise.all(lanes);
    return { requests: counted, ms };
  },
  /**
   * Open loop at `rate` requests/s spread over the pool: latency from the intended send time (so a
   * stalled server is not hidden by a generator that waits for it: no coordinated omission).
   */
  openLoop: async (a: { rate: number; durationMs: number }) => {
    const h = latencyHistogram();
    const payload = { x: 1, s: 'hello' };
    const t0 = performance.now();
    const total = Math.floor((a.rate * a.durationMs) / 1000);
    let sent = 0;
    let late = 0;
    const inflight: Promise<unknown>[] = [];
    while (sent < total) {
      const due = t0 + (sent * 1000) / a.rate;
      const now = performance.now();
      if (due > now + 1) {
        await new Promise((r) => setTimeout(r, Math.max(0, due - now - 0.5)));
        continue;
      }
      // send everything due now
      while (sent < total && t0 + (sent * 1000) / a.rate <= performance.now()) {
        const intended = t0 + (sent * 1000) / a.rate;
        const c = pool[sent % pool.length]!;
        inflight.push(c.request(payload).then(() => h.recordValue(Math.max(1, Math.round((performance.now() - intended) * 1000)))));
        sent++;
      }
      if (performance.now() - due > 10) late++;
      if (inflight.length > 10_000) await Promise.all(inflight.splice(0));
      else await new Promise((r) => setImmediate(r));
    }
    await Promise.all(inflight);
    return { ...hdrSummary(h), sent, achievedRate: (sent * 1000) / (performance.now() - t0), lateTicks: late };
  },
  /** Fan-out: arms a collector for `count` pushes to every subscriber in the pool (data `{ n, t }`). */
  armFanout: (a: { count: number; subscribers: number }) => {
    const h = latencyHistogram();
    let resolve!: () => void;
    const wait = new Promise<void>((r) => (resolve = r));
    fan = { expected: a.count * a.subscribers, got: 0, t0: Infinity, tEnd: 0, h, first: new Map(), last: new Map(), done: resolve, wait };
    const f = fan;
    const onPush = (p: Push) => {
      const d = p.data as { n: number; t: number };
      const now = nowMs();
      const lat = now - d.t;
      if (d.t < f.t0) f.t0 = d.t;
      f.tEnd = now;
      f.h.recordValue(Math.max(1, Math.round(lat * 1000)));
      if (!f.first.has(d.n)) f.first.set(d.n, lat);
      f.last.set(d.n, lat);
      if (++f.got === f.expected) f.done();
    };
    for (const c of pool) c.onPush = onPush;
    return {};
  },
  awaitFanout: async (a: { timeoutMs: number }) => {
    const f = fan!;
    const t = setTimeout(() => f.done(), a.timeoutMs);
    await f.wait;
    clearTimeout(t);
    for (const c of pool) c.onPush = null;
    const med = (m: Map<number, number>) => {
      const v = [...m.values()].sort((x, y) => x - y);
      return v.length ? v[v.length >> 1]! : NaN;
    };
    return { ...hdrSummary(f.h), expected: f.expected, delivered: f.got, firstMs: med(f.first), lastMs: med(f.last), perSecond: (f.got * 1000) / Math.max(1e-3, f.tEnd - f.t0) };
  },
  /** Churn: `cycles` of connect, auth, subscribe, disconnect, `concurrency` at a time. */
  churn: async (a: { target: Target; tokens: string[]; cycles: number; concurrency: number }) => {
    let next = 0;
    const t0 = performance.now();
    const worker = async () => {
      while (next < a.cycles) {
        const i = next++;
        const [c] = await openMany(a.target, [a.tokens[i % a.tokens.length]!], { channels: () => ['churn', `c${i % 50}`], concurrency: 1 });
        await c!.end();
      }
    };
    await Promise.all(Array.from({ length: a.concurrency }, worker));
    return { cycles: a.cycles, ms: performance.now() - t0 };
  },
  autocannon: async (a: { url: string; connections: number; durationMs: number; method: string; headers: Record<string, string> }) => {
    const { default: autocannon } = await import('autocannon');
    const r: any = await autocannon({ url: a.url, connections: a.connections, duration: a.durationMs / 1000, method: a.method as 'POST', headers: a.headers });
    return { rps: r.requests.average, total: r.requests.total, non2xx: r.non2xx, errors: r.errors, p50: r.latency.p50, p99: r.latency.p99, seconds: r.duration };
  },
  ...stormHandlers(),
});
process.on('disconnect', () => process.exit(0));
