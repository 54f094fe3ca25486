/**
 * Keeps the suite's own traffic within the server's advertised rate limit (RATE-2), so that only the
 * rate cases ever trip it. One sliding window per user; the window is widened a little because the
 * server counts arrivals, not sends.
 */
export class RateGovernor {
  private sent = new Map<string, number[]>();
  private blockedUntil = new Map<string, number>();
  private readonly windowMs: number;
  private readonly budget: number;

  constructor(rate: { messages: number; windowMs: number }) {
    this.windowMs = Math.ceil(rate.windowMs * 1.1) + 250;
    // Two messages of slack: the server may count what we cannot see (e.g. an auth sent by a probe).
    this.budget = Math.max(1, rate.messages - 2);
  }

  /** Waits until `user` may send one more message, then counts it. */
  async acquire(user: string | undefined, abort?: AbortSignal): Promise<void> {
    if (!user) return;
    for (let i = 0; i < 100_000; i++) {
      const now = Date.now();
      const until = this.blockedUntil.get(user) ?? 0;
      const list = this.prune(user, now);
      let waitMs = 0;
      if (until > now) waitMs = until - now;
      else if (list.length >= this.budget) waitMs = list[0]! + this.windowMs - now + 1;
      if (waitMs <= 0) {
        list.push(now);
        return;
      }
      if (abort?.aborted) throw new Error('aborted while waiting for the rate budget');
      await new Promise((r) => setTimeout(r, Math.min(waitMs, 1000)));
    }
  }

  /** Records messages sent around the governor (the rate cases flood on purpose). */
  note(user: string, n: number): void {
    const list = this.prune(user, Date.now());
    for (let i = 0; i < n; i++) list.push(Date.now());
  }

  /** After a 4429: nothing from this user until the window and the retry hint have passed (RATE-1). */
  block(user: string, ms: number): void {
    this.blockedUntil.set(user, Date.now() + Math.max(ms, this.windowMs));
  }

  /** Ms until the user's window is empty (the rate cases start from a clean window). */
  clearInMs(user: string): number {
    const now = Date.now();
    const list = this.prune(user, now);
    const until = (this.blockedUntil.get(user) ?? 0) - now;
    const last = list.length ? list[list.length - 1]! + this.windowMs - now : 0;
    return Math.max(0, until, last);
  }

  private prune(user: string, now: number): number[] {
    let list = this.sent.get(user);
    if (!list) this.sent.set(user, (list = []));
    while (list.length && list[0]! <= now - this.windowMs) list.shift();
    return list;
  }
}
