/**
 * Reconnect delays as pure functions (RECON-1, RECON-4, RECON-5). No clock, no randomness inside:
 * the caller passes `random` (a function returning a number in [0, 1), like `Math.random`).
 */
import { DEFAULT_BACKOFF } from '../../../schemas/v1/defaults.js';
import type { CloseClass } from '../../../schemas/v1/close-codes.js';

export interface BackoffOptions {
  /**
   * Upper bound of the first delay (attempt 0), in ms.
   * @default 1000
   */
  baseMs?: number;
  /**
   * Largest upper bound of any delay, in ms. Applied before the jitter.
   * @default 30000
   */
  capMs?: number;
}

/**
 * RECON-1: the delay before reconnect attempt `attempt` (counted from 0): with
 * `d = min(capMs, baseMs * 2^attempt)` (cap first), a delay drawn uniformly from `[d/2, d]` (then
 * jitter). Half of `d` is fixed so that the delay still grows; the other half spreads clients that
 * lost their connection together (a server restart) so they do not come back in one wave.
 */
export function backoffDelay(attempt: number, random: () => number, opts: BackoffOptions = {}): number {
  const baseMs = opts.baseMs ?? DEFAULT_BACKOFF.baseMs;
  const capMs = opts.capMs ?? DEFAULT_BACKOFF.capMs;
  const n = Math.max(0, Math.floor(attempt));
  // Math.min before the power overflows into Infinity: 2^1100 is Infinity, min(cap, Infinity) = cap.
  const d = Math.min(capMs, baseMs * 2 ** Math.min(n, 1023));
  const r = Math.min(Math.max(random(), 0), 1);
  return d / 2 + r * (d / 2);
}

export interface ReconnectPlan {
  /** False for the `stop` class: the client does not reconnect (RECON-5, SESS-2). */
  retry: boolean;
  /** Delay before the next attempt, in ms (0 when `retry` is false). */
  delayMs: number;
  /** Whether this close counts as a failed attempt (the attempt counter grows). */
  countsAsAttempt: boolean;
  /** Whether the token function must be asked for a fresh token before the next attempt (4419). */
  refreshToken: boolean;
}

export interface ReconnectPolicy extends BackoffOptions {
  /**
   * Largest extra random wait after a `reconnect_now` close (1012), added to its retry hint, in ms.
   * @default 500
   */
  reconnectNowJitterMs?: number;
}

/**
 * RECON-4, RECON-5: what to do after a close of class `cls` with an optional retry hint, at
 * reconnect attempt `attempt`.
 * - `stop`: no reconnect.
 * - `reconnect` and `refresh_token`: backoff (RECON-1), but never sooner than the retry hint.
 * - `reconnect_now`: the retry hint (the server already spread its clients, SHUT-3) plus a small
 *   jitter; not counted as a failed attempt.
 */
export function planReconnect(
  cls: CloseClass,
  retryAfterMs: number | undefined,
  attempt: number,
  random: () => number,
  policy: ReconnectPolicy = {},
): ReconnectPlan {
  switch (cls) {
    case 'stop':
      return { retry: false, delayMs: 0, countsAsAttempt: false, refreshToken: false };
    case 'reconnect_now': {
      const jitter = (policy.reconnectNowJitterMs ?? 500) * Math.min(Math.max(random(), 0), 1);
      return { retry: true, delayMs: (retryAfterMs ?? 0) + jitter, countsAsAttempt: false, refreshToken: false };
    }
    case 'refresh_token':
    case 'reconnect': {
      const delay = backoffDelay(attempt, random, policy);
      return {
        retry: true,
        delayMs: Math.max(delay, retryAfterMs ?? 0),
        countsAsAttempt: true,
        refreshToken: cls === 'refresh_token',
      };
    }
  }
}
