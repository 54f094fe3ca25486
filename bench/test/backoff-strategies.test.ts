/** The storm's reconnect strategies: the spec's is the client core's code; the others as documented. */
import { describe, expect, it } from 'vitest';
import { backoffDelay } from '../../reference/core/client/backoff.js';
import { nextDelay, type BackoffState } from '../load/backoff-strategies.js';

const fresh = (): BackoffState => ({ attempt: 0, prevMs: 0 });

describe('storm backoff strategies', () => {
  it('spec: the reference core planReconnect (RECON-1 after an abnormal close, hint + jitter after 1012)', () => {
    const st = fresh();
    expect(nextDelay('spec', 1006, '', st, () => 0.5)).toBe(backoffDelay(0, () => 0.5));
    expect(nextDelay('spec', 1006, '', st, () => 0.5)).toBe(backoffDelay(1, () => 0.5));
    expect(nextDelay('spec', 1012, 'server_restart;retry=1200', fresh(), () => 1)).toBe(1700);
  });
  it('none: base·2^attempt with no randomness; the retry hint alone after 1012', () => {
    const st = fresh();
    expect([0, 1, 2].map(() => nextDelay('none', 1006, '', st, () => 0.3))).toEqual([1000, 2000, 4000]);
    expect(nextDelay('none', 1012, 'server_restart;retry=1200', fresh(), () => 0.9)).toBe(1200);
  });
  it('full: uniform over [0, d]', () => {
    expect(nextDelay('full', 1006, '', fresh(), () => 0)).toBe(0);
    expect(nextDelay('full', 1006, '', { attempt: 2, prevMs: 0 }, () => 0.5)).toBe(2000);
  });
  it('decorrelated: uniform over [base, 3·previous], capped', () => {
    const st = fresh();
    expect(nextDelay('decorrelated', 1006, '', st, () => 1)).toBe(3000);
    expect(nextDelay('decorrelated', 1006, '', st, () => 1)).toBe(9000);
    expect(nextDelay('decorrelated', 1006, '', { attempt: 9, prevMs: 29_000 }, () => 1)).toBe(30_000);
  });
  it('every strategy stops on a stop-class close', () => {
    for (const s of ['none', 'spec', 'full', 'decorrelated'] as const) expect(nextDelay(s, 4401, '', fresh())).toBeNull();
  });
});
