/**
 * RATE-1..3: an exact sliding window per user. A message is admitted when fewer than `messages`
 * admitted messages lie in the window `(now - windowMs, now]`; the state is kept per user, not per
 * connection, so reconnecting does not reset it (RATE-3).
 *
 * Memory: the admitted messages of the window are kept as runs (time, count), one per distinct
 * millisecond, in a queue with a moving head. A user holds at most min(messages, windowMs + 1) runs
 * however high the limit (a limit of a million per second costs at most 1 001 runs, not a million
 * timestamps), and the window stays exact: no bucket rounding, so a fixed-window burst at a bucket
 * edge is still caught (conformance case `rate.sliding`).
 */
export type RateVerdict = { ok: true } | { ok: false; retryAfterMs: number };

const OK: RateVerdict = Object.freeze({ ok: true });

class Window {
  /** Run times (ms) and counts, oldest first from `head`. */
  times: number[] = [];
  counts: number[] = [];
  head = 0;
  /** Admitted messages in the runs from `head` on. */
  total = 0;

  /** Drops the runs that left the window `(now - windowMs, now]`. */
  expire(now: number, windowMs: number): void {
    const { times, counts } = this;
    let h = this.head;
    while (h < times.length && now - times[h]! >= windowMs) this.total -= counts[h++]!;
    if (h === times.length) {
      times.length = 0;
      counts.length = 0;
      h = 0;
    } else if (h > 64 && h * 2 > times.length) {
      times.splice(0, h);
      counts.splice(0, h);
      h = 0;
    }
    this.head = h;
  }
}

export class RateLimiter {
  private readonly windows = new Map<string, Window>();

  constructor(private readonly messages: number, private readonly windowMs: number) {}

  /** Counts one inbound message of `user` at `now`. */
  hit(user: string, now: number): RateVerdict {
    let w = this.windows.get(user);
    if (!w) this.windows.set(user, (w = new Window()));
    w.expire(now, this.windowMs);
    // RATE-1: the (N+1)-th message within windowMs; the window admits again when its oldest message leaves it.
    if (w.total >= this.messages) return { ok: false, retryAfterMs: w.times[w.head]! + this.windowMs - now };
    const last = w.times.length - 1;
    if (last >= w.head && w.times[last] === now) w.counts[last]!++;
    else {
      w.times.push(now);
      w.counts.push(1);
    }
    w.total++;
    return OK;
  }

  /** Forgets users whose every message has left the window. */
  prune(now: number): void {
    for (const [user, w] of this.windows) {
      w.expire(now, this.windowMs);
      if (w.total === 0) this.windows.delete(user);
    }
  }

  get trackedUsers(): number {
    return this.windows.size;
  }

  /** Runs (time, count) held for `user`: the memory bound's witness in tests. */
  heldRuns(user: string): number {
    const w = this.windows.get(user);
    return w ? w.times.length - w.head : 0;
  }
}
