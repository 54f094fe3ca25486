/**
 * Smoke run of `mooring bench all` at tiny sizes: every scenario runs end to end (real server and
 * load processes, real sockets) and its JSON has the expected shape with sane figures. Never asserts
 * speed: only that everyone connected, everything was delivered and nothing was lost silently.
 */
import { mkdtempSync, readFileSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runBench, SCENARIOS, type ScenarioName } from '../run.js';

const dir = mkdtempSync(join(tmpdir(), 'mooring-bench-smoke-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('mooring bench all --tiny', () => {
  it('runs every scenario and writes sane JSON, plots and targets', async () => {
    let printed = '';
    const run = await runBench(Object.keys(SCENARIOS) as ScenarioName[], {
      quick: true, tiny: true, repeats: 1, quiet: true, resultsDir: dir, command: 'smoke',
      // The storm's other strategies differ only in arithmetic (backoff-strategies.test.ts): the spec's suffices here.
      params: { strategies: 'spec', redis: 'off' },
      out: (s) => (printed += s),
    });
    const load = (name: string) => JSON.parse(readFileSync(join(dir, `${name}.json`), 'utf8'));
    for (const name of Object.keys(SCENARIOS)) {
      const j = load(name);
      expect(j.machine.cores).toBeGreaterThan(0);
      expect(j.machine.node).toBe(process.version);
      expect(j.limits.maxConnectionsPerIp).toBeGreaterThan(256);
    }

    const storm = load('storm');
    expect(storm.runs).toHaveLength(2);
    for (const r of storm.runs) {
      expect(r.back, `${r.strategy} ${r.signal}: all back`).toBe(r.clients);
      expect(r.t100).toBeGreaterThan(0);
      expect(r.attemptsPerClient).toBeGreaterThanOrEqual(1);
      if (r.strategy !== 'socketio') {
        expect(r.lostSilent, `${r.strategy} ${r.signal}: every loss reported as a gap`).toBe(0);
        expect(r.resumeUnavailable, 'in-memory history dies with the process').toBe(r.clients);
      }
    }
    expect(existsSync(join(dir, 'storm-SIGKILL.svg'))).toBe(true);
    expect(readFileSync(join(dir, 'storm-SIGTERM.svg'), 'utf8')).toMatch(/^<svg[\s\S]*<polyline[\s\S]*<\/svg>\n$/);

    const fan = load('fanout');
    for (const [id, s] of Object.entries<any>(fan.servers)) {
      for (const f of Object.values<any>(s.sizes)) expect(f.delivered.median, `${id}: every push delivered`).toBe(1);
    }
    expect(existsSync(join(dir, 'fanout.svg'))).toBe(true);

    const rr = load('reqres');
    for (const k of ['mooring', 'ws', 'socketio']) {
      expect(rr.servers[k].closed.rps.median).toBeGreaterThan(0);
      expect(rr.servers[k].closed.serverUsPerReq.median).toBeGreaterThan(0);
      for (const o of Object.values<any>(rr.servers[k].open)) expect(o.count).toBe(o.sent);
    }

    const idle = load('idle');
    for (const k of ['mooring', 'ws', 'socketio']) expect(idle.servers[k].connections.median).toBe(idle.params.conns);

    const hb = load('heartbeat');
    for (const k of ['mooring', 'mooring-fanout', 'http']) {
      expect(hb.servers[k].rps.median).toBeGreaterThan(0);
      expect(hb.servers[k].non2xx.median, `${k}: every heartbeat answered 2xx`).toBe(0);
    }

    const churn = load('churn');
    for (const k of ['mooring', 'ws']) {
      expect(churn.servers[k].connectionsAfter.max).toBe(0);
      expect(churn.servers[k].fdsDelta.max, `${k}: fds back to baseline`).toBeLessThanOrEqual(0);
      expect(churn.servers[k].timersDelta.max, `${k}: timers back to baseline`).toBeLessThanOrEqual(0);
    }

    const all = JSON.parse(readFileSync(join(dir, 'all.json'), 'utf8'));
    expect(all.targets.map((t: { id: string }) => t.id)).toEqual(expect.arrayContaining(['reqres.cpu', 'reqres.rps-ws', 'reqres.rps-sio', 'fanout.p99', 'fanout.first', 'idle.heap-ws', 'idle.rss-ws', 'idle.sio', 'heartbeat.rps', 'storm.back', 'storm.lost', 'storm.peak', 'storm.last']));
    expect(run.targets.find((t) => t.id === 'storm.silent')!.met).toBe(true);
    expect(printed).toMatch(/Targets \(issue 11\)/);
    expect(readFileSync(join(dir, 'all.md'), 'utf8')).toMatch(/^Command: `smoke`/);
  }, 120_000); // ~30 s alone; headroom for a loaded CI machine running other files in parallel

  it('storm multi-node: 3 nodes on a real redis-server, one SIGKILLed, its clients back on the others with 0 lost', async () => {
    const d = mkdtempSync(join(tmpdir(), 'mooring-bench-storm-multi-'));
    try {
      // The multi-node run alone (only=multi), 12 clients: a few seconds.
      await runBench(['storm'], { quick: true, tiny: true, repeats: 1, quiet: true, resultsDir: d, command: 'smoke', params: { only: 'multi', clients: '12' }, out: () => undefined });
      const storm = JSON.parse(readFileSync(join(d, 'storm.json'), 'utf8'));
      const multi = storm.runs.find((r: { nodes?: number }) => r.nodes === 3);
      expect(multi, 'a multi-node row (redis-server is installed by scripts/setup.sh)').toBeDefined();
      expect(multi.clients).toBe(4); // clients 2, 5, 8, 11 were on the killed node
      expect(multi.back).toBe(multi.clients);
      expect(multi.lostReported + multi.lostSilent + multi.lostNotBack).toBe(0);
      expect(multi.resumeUnavailable).toBe(0);
      expect(multi.published).toBeGreaterThan(0);
      expect(storm.runs).toHaveLength(1);
    } finally {
      rmSync(d, { recursive: true, force: true });
    }
  }, 60_000);
});
