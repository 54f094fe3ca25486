import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runSuite } from '../../../../conformance/index.js';
import { EMBEDDED_SERVER_OPTIONS, FAILING_ACTION } from '../../../../conformance/embedded.js';
import { useHarness } from '../helpers.js';
import { RedisProcess, startNodes } from './harness.js';
import { roundRobinProxy } from './rr-proxy.js';

let redis: RedisProcess;
beforeAll(async () => {
  redis = await RedisProcess.start();
});
afterAll(async () => {
  await redis?.stop();
});
useHarness();

describe('the server conformance suite against two nodes behind a round-robin proxy', () => {
  it('NODE-9: every case passes with no stickiness: consecutive connections of one client land on different nodes', async () => {
    const actions = { [FAILING_ACTION]: () => { throw new Error('conformance failure'); } };
    const [a, b] = await startNodes(2, redis.url, { ...EMBEDDED_SERVER_OPTIONS, actions, logger: false });
    const proxy = await roundRobinProxy([a!, b!]);
    try {
      const tokens = await Promise.all(['alice', 'bob'].map((u) => a!.createToken(u)));
      // Per-IP limits are per node (the proxy's one IP is spread over two): that case is not given its cap.
      const caps = { loopback: true, failingAction: FAILING_ACTION, mintToken: (user: string, ttlMs: number) => a!.createToken(user, { ttlMs }) };
      const report = await runSuite({ url: proxy.url, tokens, caps });
      for (const c of report.cases.filter((x) => x.outcome === 'inconclusive')) console.log(`inconclusive: ${c.id}: ${c.detail}`);
      const bad = report.cases.filter((c) => c.outcome === 'fail');
      console.log(`conformance via proxy: ${report.cases.length} cases: ${JSON.stringify(report.cases.reduce<Record<string, number>>((m, c) => ((m[c.outcome] = (m[c.outcome] ?? 0) + 1), m), {}))}`);
      expect(report.setupError).toBeUndefined();
      expect(bad.map((c) => `${c.id}: ${c.detail}`)).toEqual([]);
      expect(report.cases.filter((c) => c.outcome === 'pass').length).toBeGreaterThan(50);
    } finally {
      await proxy.close();
    }
  }, 90_000);
});
