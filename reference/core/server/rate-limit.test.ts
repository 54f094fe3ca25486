import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { RateLimiter } from './rate-limit.js';

/** The model: a message at t violates when `messages` earlier admitted messages lie in (t - windowMs, t]. */
function firstViolation(times: number[], messages: number, windowMs: number): number {
  const admitted: number[] = [];
  for (let i = 0; i < times.length; i++) {
    const t = times[i]!;
    if (admitted.filter((a) => t - a < windowMs).length >= messages) return i;
    admitted.push(t);
  }
  return -1;
}

const sortedTimes = fc.array(fc.integer({ min: 0, max: 5_000 }), { maxLength: 80 }).map((a) => a.sort((x, y) => x - y));

describe('RateLimiter', () => {
  it('RATE-1: the (N+1)-th message within windowMs is refused, with the time until the window admits again', () => {
    const r = new RateLimiter(3, 1_000);
    expect(r.hit('u', 0).ok).toBe(true);
    expect(r.hit('u', 100).ok).toBe(true);
    expect(r.hit('u', 200).ok).toBe(true);
    expect(r.hit('u', 999)).toEqual({ ok: false, retryAfterMs: 1 });
    expect(r.hit('u', 1_000).ok).toBe(true); // the first message left the window
    expect(r.hit('other', 1_000).ok).toBe(true); // per user
  });

  it('RATE-2: never refuses a sequence that keeps at most N messages in every window (property)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 8 }), fc.integer({ min: 1, max: 1_000 }), sortedTimes, (n, w, times) => {
        // make the sequence compliant: drop every message that would be the (N+1)-th in a window
        const compliant: number[] = [];
        for (const t of times) if (compliant.filter((a) => t - a < w).length < n) compliant.push(t);
        const r = new RateLimiter(n, w);
        return compliant.every((t) => r.hit('u', t).ok);
      }),
    );
  });

  it('RATE-1: always refuses the first violating message of a sequence, exactly there (property)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 8 }), fc.integer({ min: 1, max: 1_000 }), sortedTimes, (n, w, times) => {
        const expected = firstViolation(times, n, w);
        const r = new RateLimiter(n, w);
        const got = times.findIndex((t) => !r.hit('u', t).ok);
        expect(got).toBe(expected);
        if (got >= 0) {
          // the hint is exact: refused just before it, admitted at it
          const v = new RateLimiter(n, w);
          for (const t of times.slice(0, got)) v.hit('u', t);
          const verdict = v.hit('u', times[got]!);
          if (verdict.ok) return false;
          return verdict.retryAfterMs > 0 && v.hit('u', times[got]! + verdict.retryAfterMs).ok;
        }
        return true;
      }),
    );
  });

  it('RATE-3: state is per user and survives until the window is idle; prune forgets idle users', () => {
    const r = new RateLimiter(1, 100);
    r.hit('a', 0);
    r.prune(50);
    expect(r.trackedUsers).toBe(1);
    expect(r.hit('a', 60).ok).toBe(false);
    r.prune(100);
    expect(r.trackedUsers).toBe(0);
    expect(r.hit('a', 100).ok).toBe(true);
  });
});

describe('RateLimiter memory', () => {
  it('RATE-1: a high limit keeps one run per millisecond of the window, not one timestamp per message, and still refuses exactly', () => {
    const r = new RateLimiter(1_000_000, 1_000);
    let t = 0;
    let refused = 0;
    for (let i = 0; i < 999_999; i++) {
      if (i % 1_000 === 0) t++;
      if (!r.hit('u', t).ok) refused++;
    }
    expect(refused).toBe(0);
    expect(r.heldRuns('u')).toBeLessThanOrEqual(1_001);
    expect(r.hit('u', t).ok).toBe(true); // the millionth message in the window
    expect(r.hit('u', t)).toEqual({ ok: false, retryAfterMs: 1 + 1_000 - t }); // the oldest (t = 1) leaves at 1001
    expect(r.hit('u', 1_001).ok).toBe(true);
    r.prune(2_001); // the last admitted message (t = 1001) has left the window
    expect(r.trackedUsers).toBe(0);
  });
});
