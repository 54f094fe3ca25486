import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { backoffDelay, planReconnect } from '../backoff.js';
import { seeded } from './harness.js';

describe('RECON-1: jittered exponential backoff', () => {
  it('RECON-1: attempt n waits within [d/2, d], d = min(30 s, 1 s * 2^n), with the defaults', () => {
    const expected = [1_000, 2_000, 4_000, 8_000, 16_000, 30_000, 30_000, 30_000];
    expected.forEach((d, n) => {
      expect(backoffDelay(n, () => 0)).toBe(d / 2);
      expect(backoffDelay(n, () => 0.999999999)).toBeCloseTo(d, 3);
      expect(backoffDelay(n, () => 0.5)).toBe((3 * d) / 4);
    });
  });

  it('RECON-1: the cap applies before the jitter (attempt 5: [15 s, 30 s], not [16 s, 32 s] clipped to 30 s)', () => {
    // 1 s * 2^5 = 32 s; capping first gives d = 30 s, so the jitter spreads over [15, 30] s.
    expect(backoffDelay(5, () => 0)).toBe(15_000);
    expect(backoffDelay(5, () => 0.5)).toBe(22_500);
    // A jitter-then-cap implementation would give min(30, 16..32) and never go below 16 s.
    const r = seeded(7);
    const draws = Array.from({ length: 2_000 }, () => backoffDelay(5, r));
    expect(draws.filter((x) => x < 16_000).length).toBeGreaterThan(50);
    expect(draws.filter((x) => x === 30_000).length).toBeLessThan(5);
  });

  it('RECON-1: over many draws the delays are uniform on [d/2, d]: bounds, quantiles, buckets, mean 3d/4', () => {
    const random = seeded(42);
    for (const n of [0, 1, 3, 6]) {
      const d = Math.min(30_000, 1_000 * 2 ** n);
      const N = 20_000;
      const xs = Array.from({ length: N }, () => backoffDelay(n, random)).sort((a, b) => a - b);
      expect(xs[0]!).toBeGreaterThanOrEqual(d / 2);
      expect(xs[N - 1]!).toBeLessThanOrEqual(d);
      // Quantiles of U[d/2, d]: q -> d/2 + q * d/2, within 2 % of d.
      for (const q of [0.1, 0.25, 0.5, 0.75, 0.9]) {
        expect(Math.abs(xs[Math.floor(q * N)]! - (d / 2 + (q * d) / 2))).toBeLessThan(0.02 * d);
      }
      // 10 equal buckets over [d/2, d], each near N/10 (a chi-square bound would be tighter; 20 % is plenty here).
      const buckets = new Array(10).fill(0) as number[];
      for (const x of xs) buckets[Math.min(9, Math.floor(((x - d / 2) / (d / 2)) * 10))]! += 1;
      for (const b of buckets) expect(Math.abs(b - N / 10)).toBeLessThan(0.2 * (N / 10));
      const mean = xs.reduce((a, b) => a + b, 0) / N;
      expect(Math.abs(mean - (3 * d) / 4)).toBeLessThan(0.01 * d);
    }
  });

  it('RECON-1: property: for any base, cap, attempt and random value the delay is in [d/2, d]', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 10_000 }),
        fc.integer({ min: 1, max: 600_000 }),
        fc.integer({ min: 0, max: 5_000 }),
        fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }),
        (baseMs, capMs, attempt, r) => {
          const d = Math.min(capMs, baseMs * 2 ** attempt);
          const x = backoffDelay(attempt, () => r, { baseMs, capMs });
          return Number.isFinite(x) && x >= d / 2 && x <= d;
        },
      ),
    );
  });

  it('RECON-1: property: the upper bound never decreases from one attempt to the next', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 60 }), (n) => backoffDelay(n + 1, () => 1) >= backoffDelay(n, () => 1)),
    );
  });
});

describe('RECON-4, RECON-5: reconnect plans per close class', () => {
  it('RECON-5: stop does not retry', () => {
    expect(planReconnect('stop', 5_000, 3, () => 0.5)).toMatchObject({ retry: false });
  });

  it('RECON-4: reconnect waits at least the retry hint, and backoff when it is longer', () => {
    expect(planReconnect('reconnect', 20_000, 0, () => 0.5).delayMs).toBe(20_000);
    expect(planReconnect('reconnect', 100, 3, () => 0.5).delayMs).toBe(6_000);
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 120_000 }), fc.integer({ min: 0, max: 40 }), fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }),
        (hint, attempt, r) => planReconnect('reconnect', hint, attempt, () => r).delayMs >= hint),
    );
  });

  it('RECON-4: reconnect_now waits the hint plus a small jitter, without counting an attempt', () => {
    const p = planReconnect('reconnect_now', 1_200, 7, () => 0.5);
    expect(p).toMatchObject({ retry: true, countsAsAttempt: false });
    expect(p.delayMs).toBe(1_450);
    expect(planReconnect('reconnect_now', undefined, 7, () => 0.999).delayMs).toBeLessThan(500);
  });

  it('RECON-5: refresh_token backs off and asks for a fresh token', () => {
    expect(planReconnect('refresh_token', undefined, 0, () => 0)).toMatchObject({ retry: true, refreshToken: true, delayMs: 500 });
  });
});
