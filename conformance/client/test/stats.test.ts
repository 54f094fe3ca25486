/**
 * The statistical verdicts of recon.backoff, simulated with seeded randomness: a client that follows
 * RECON-1 (uniform on [cap/2, cap], plus exponential loopback latency) is never failed, and a client
 * without jitter (always the cap, plus latency and occasional stalls) is always caught, over
 * thousands of simulated runs of the case's sample sizes.
 */
import { describe, expect, it } from 'vitest';
import { seeded } from '../../../reference/core/client/test/harness.js';
import { jitterVerdict, lockstepVerdict } from '../cases/util.js';

const CAP = 600;
const RUNS = 5_000;

function sim(seed: number) {
  const r = seeded(seed);
  const latency = (mean: number) => -mean * Math.log(1 - r());
  const uniform = () => CAP / 2 + r() * (CAP / 2) + latency(20);
  const fixed = () => CAP + latency(20) + (r() < 0.05 ? r() * 300 : 0);
  return { uniform, fixed, latency };
}

describe('recon.backoff statistics', () => {
  it('RECON-1: jitter: 42 delays at the cap, no false fail and no missed break in 5000 runs each', () => {
    const { uniform, fixed } = sim(7);
    let falseFail = 0;
    let missed = 0;
    for (let i = 0; i < RUNS; i++) {
      if (!jitterVerdict(Array.from({ length: 42 }, uniform), CAP).jittered) falseFail++;
      if (jitterVerdict(Array.from({ length: 42 }, fixed), CAP).jittered) missed++;
    }
    expect(falseFail).toBe(0);
    expect(missed).toBe(0);
  });

  it('RECON-1: the smallest sample the case judges (24 delays) still never fails a uniform client in 5000 runs', () => {
    const { uniform } = sim(8);
    let falseFail = 0;
    for (let i = 0; i < RUNS; i++) if (!jitterVerdict(Array.from({ length: 24 }, uniform), CAP).jittered) falseFail++;
    expect(falseFail).toBeLessThanOrEqual(1);
  });

  it('RECON-1: lockstep: 12 to 21 pairs of independent clients are never judged in lockstep; two fixed-delay clients are', () => {
    const { uniform, latency } = sim(9);
    let falseFail = 0;
    for (let i = 0; i < RUNS; i++) {
      const n = 12 + (i % 10);
      if (lockstepVerdict(Array.from({ length: n }, () => Math.abs(uniform() - uniform())), CAP).lockstep) falseFail++;
    }
    expect(falseFail).toBe(0);
    expect(lockstepVerdict(Array.from({ length: 21 }, () => Math.abs(latency(3) - latency(3))), CAP).lockstep).toBe(true);
  });
});
