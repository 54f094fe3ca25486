/**
 * Churn: cycles of connect, authenticate, subscribe (2 channels), disconnect. Afterwards the
 * server's heap (after GC), timers, open file descriptors and connection count must be back at the
 * baseline taken after a warm-up round of the same cycles.
 */
import { measureCpu } from '../lib/sample.js';
import { fdCount } from '../lib/proc.js';
import { summarize } from '../lib/stats.js';
import { table, type Cell, type Progress } from '../lib/output.js';
import { makeTokens, num, sleep, startLoad, startServerProc, stop, type RunOptions, type ScenarioResult } from './common.js';
import { fig } from './format.js';

const KINDS = [
  { kind: 'mooring', label: 'Mooring' },
  { kind: 'ws', label: 'raw ws' },
] as const;

/** Heap may differ by this much from the baseline and still count as back (GC is not exact). */
const HEAP_SLACK_BYTES = 2 * 1024 * 1024;

export async function run(o: RunOptions, progress?: Progress): Promise<ScenarioResult> {
  const cycles = num(o, 'cycles', 20_000, 5_000, 100);
  const concurrency = num(o, 'concurrency', 50, 50, 5);
  const users = Math.min(cycles, 1_000);
  const settleMs = num(o, 'settle', 1_500, 1_500, 300);
  const per: Record<string, any> = {};
  for (const k of KINDS) {
    const repeats = [];
    const server = await startServerProc(k.kind, {}, o.serverFlags);
    const load = startLoad();
    try {
      const tokens = await makeTokens(server, users);
      await load.rpc.call('churn', { target: server.target, tokens, cycles: Math.min(cycles, 500), concurrency });
      await sleep(settleMs); // the server's close grace (1 s) runs out
      const base = { ...(await server.child.rpc.call('memory')), fds: fdCount(server.child.pid) };
      for (let r = 0; r < o.repeats; r++) {
        const m = await measureCpu({ server: server.child.pid, load: load.pid }, () => load.rpc.call('churn', { target: server.target, tokens, cycles, concurrency }));
        await sleep(settleMs);
        const after = { ...(await server.child.rpc.call('memory')), fds: fdCount(server.child.pid) };
        repeats.push({
          cyclesPerSecond: (cycles * 1000) / m.wallMs,
          serverUsPerCycle: (m.cpuMs.server! * 1000) / cycles,
          heapDeltaKiB: (after.heapUsed - base.heapUsed) / 1024,
          rssDeltaKiB: (after.rss - base.rss) / 1024,
          timersDelta: after.timers - base.timers,
          fdsDelta: after.fds - base.fds,
          connectionsAfter: after.connections,
          back: after.heapUsed - base.heapUsed <= HEAP_SLACK_BYTES && after.timers <= base.timers && after.fds <= base.fds && after.connections === 0 ? 1 : 0,
        });
        progress?.step(`churn ${k.kind} ${r + 1}/${o.repeats}`);
      }
      per[k.kind] = { ...summarize(repeats), repeats, baseline: base };
    } finally {
      await stop(load, server);
    }
  }
  const headers = ['server', 'cycles/s', 'server µs/cycle', 'heap Δ KiB', 'RSS Δ KiB', 'timers Δ', 'fds Δ', 'conns after', 'back to baseline'];
  const rows: Cell[][] = KINDS.map((k) => {
    const f = per[k.kind];
    return [k.label, fig(f.cyclesPerSecond), fig(f.serverUsPerCycle), fig(f.heapDeltaKiB), fig(f.rssDeltaKiB), String(f.timersDelta.max), String(f.fdsDelta.max), String(f.connectionsAfter.max), f.back.min === 1 ? 'yes' : 'NO'];
  });
  const note = `${cycles} cycles (connect, auth, subscribe to 2 channels, clean close) ${concurrency} at a time over ${users} users, ${o.repeats} repeats; baseline after a ${Math.min(cycles, 500)}-cycle warm-up; measured ${settleMs} ms after the last close, heap after 2× GC (slack ${HEAP_SLACK_BYTES / 1024} KiB). RSS is reported, not judged: the allocator keeps freed pages.\n`;
  return {
    scenario: 'churn',
    title: 'Churn',
    text: table(headers, rows) + note,
    markdown: table(headers, rows, true) + '\n' + note,
    json: { params: { cycles, concurrency, users, repeats: o.repeats }, servers: per },
    targets: [],
  };
}
