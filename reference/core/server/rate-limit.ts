/**
 * RATE-1..3: an exact sliding window per user. A message is admitted when fewer than `messages`
 * admitted messages lie in the window `(now - windowMs, now]`; the state is kept per user, not per
 * connection, so reconnecting does not reset it (RATE-3).
 */
export type RateVerdict = { ok: true } | { ok: false; retryAfterMs: number };

export class RateLimiter {
  /** Per user: times of the admitted messages that may still matter (at most `messages` of them). */
  private readonly times = new Map<string, number[]>();

  constructor(private readonly messages: number, private readonly windowMs: number) {}

  /** Counts one inbound message of `user` at `now`. */
  hit(user: string, now: number): RateVerdict {
    let t = this.times.get(user);
    if (!t) this.times.set(user, (t = []));
    if (t.length >= this.messages) {
      const oldest = t[t.length - this.messages]!;
      // RATE-1: the (N+1)-th message within windowMs; the window admits again when `oldest` leaves it.
      if (now - oldest < this.windowMs) return { ok: false, retryAfterMs: oldest + this.windowMs - now };
    }
    t.push(now);
    if (t.length > this.messages) t.splice(0, t.length - this.messages);
    return { ok: true };
  }

  /** Forgets users whose every message has left the window. */
  prune(now: number): void {
    for (const [user, t] of this.times) {
      if (t.length === 0 || now - t[t.length - 1]! >= this.windowMs) this.times.delete(user);
    }
  }

  get trackedUsers(): number {
    return this.times.size;
  }
}
