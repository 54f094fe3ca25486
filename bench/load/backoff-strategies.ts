/**
 * Reconnect strategies compared in the storm. `spec` is the reference client core's own code
 * (planReconnect, RECON-1/RECON-4); the others are the textbook alternatives, with the same base
 * (1 s unless the run scales it, e.g. the smoke test) and cap (30 s):
 * - none: d = min(cap, base·2^attempt), no randomness;
 * - full: uniform [0, d];
 * - decorrelated: min(cap, uniform [base, 3·previous]).
 * After a 1012 with a retry hint (SHUT-3: the server already spread its clients) every strategy waits
 * the hint plus its own jitter at the spec's scale (500 ms): none adds 0, full and decorrelated a
 * uniform [0, 500 ms], spec what planReconnect says.
 */
import { planReconnect } from '../../reference/core/client/backoff.js';
import { closeClass, parseCloseReason } from '../../schemas/v1/close-codes.js';
import { DEFAULT_BACKOFF } from '../../schemas/v1/defaults.js';

export type Strategy = 'none' | 'spec' | 'full' | 'decorrelated';
export const STRATEGIES: Strategy[] = ['none', 'spec', 'full', 'decorrelated'];

export interface BackoffState {
  attempt: number;
  prevMs: number;
}

const NOW_JITTER_MS = 500;

/** The delay before the next attempt after a close (`code`, `reason`), or null to stop. Updates `st`. */
export function nextDelay(strategy: Strategy, code: number, reason: string, st: BackoffState, random: () => number = Math.random, base: number = DEFAULT_BACKOFF.baseMs): number | null {
  const cap = DEFAULT_BACKOFF.capMs;
  const cls = closeClass(code);
  const hint = parseCloseReason(reason).retryAfterMs;
  if (strategy === 'spec') {
    const plan = planReconnect(cls, hint, st.attempt, random, { baseMs: base, capMs: cap, reconnectNowJitterMs: NOW_JITTER_MS });
    if (!plan.retry) return null;
    if (plan.countsAsAttempt) st.attempt++;
    return plan.delayMs;
  }
  if (cls === 'stop') return null;
  if (cls === 'reconnect_now') return (hint ?? 0) + (strategy === 'none' ? 0 : random() * NOW_JITTER_MS);
  const d = Math.min(cap, base * 2 ** Math.min(st.attempt, 30));
  st.attempt++;
  let delay: number;
  if (strategy === 'none') delay = d;
  else if (strategy === 'full') delay = random() * d;
  else {
    st.prevMs = Math.min(cap, base + random() * (Math.max(base, st.prevMs || base) * 3 - base));
    delay = st.prevMs;
  }
  return Math.max(delay, hint ?? 0);
}
