/**
 * CI's fuzz run: the model-based fuzzer against the reference server, from a fixed seed with a small
 * budget, under both session policies. A longer run is one command (README: `mooring fuzz --time 600`).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFuzzTarget, type EmbeddedFuzzTarget } from '../../fuzz/embedded.js';
import { formatFailure, runFuzz } from '../../fuzz/run.js';

for (const sessionPolicy of ['multiple', 'single'] as const) {
  describe(`mooring fuzz against the reference server (sessionPolicy ${sessionPolicy})`, () => {
    let t: EmbeddedFuzzTarget;
    beforeAll(async () => {
      t = await startFuzzTarget({ sessionPolicy });
    });
    afterAll(async () => {
      await t.close();
    });

    it('holds every property of the model over 120 runs from seed 20261130', async () => {
      const report = await runFuzz({ url: t.url, tokens: t.tokens, seed: 20261130, runs: 120, timeMs: 25_000, shrinkMs: 15_000 });
      // eslint-disable-next-line no-console
      console.log(`[fuzz reference ${sessionPolicy}] ${report.runs} runs, ${report.exchanges} exchanges in ${(report.elapsedMs / 1000).toFixed(1)} s: ${report.exchangesPerSecond} exchanges/s`);
      expect(report.ok, formatFailure(report)).toBe(true);
      expect(report.runs).toBeGreaterThanOrEqual(30);
    }, 60_000);
  });
}

describe('mooring fuzz against the reference server under a tight rate limit', () => {
  let t: EmbeddedFuzzTarget;
  beforeAll(async () => {
    t = await startFuzzTarget({ rateLimit: { messages: 30, windowMs: 1_000 }, maxSubscriptions: 20, restoreAllowance: 20 });
  });
  afterAll(async () => {
    await t.close();
  });

  it('RATE-2, RATE-3, RATE-4: 40 runs at 30 frames per second, restores outside the budget, never a 4429', async () => {
    const report = await runFuzz({ url: t.url, tokens: t.tokens, seed: 7, runs: 40, timeMs: 25_000, shrinkMs: 10_000 });
    // eslint-disable-next-line no-console
    console.log(`[fuzz reference rate] ${report.runs} runs, ${report.exchanges} exchanges in ${(report.elapsedMs / 1000).toFixed(1)} s: ${report.exchangesPerSecond} exchanges/s`);
    expect(report.ok, formatFailure(report)).toBe(true);
  }, 60_000);
});
