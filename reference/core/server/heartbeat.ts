/**
 * HB-1, HB-4, HB-5: server-side liveness of one connection. WebSocket pings go out every
 * `intervalMs`; when nothing at all arrives within `timeoutMs` of a ping, the connection is dead.
 * App-level `ping` messages are never required (HB-5): any inbound frame counts (HB-4).
 */
export class Liveness {
  private nextPingAt: number;
  /** Time of the first ping not yet followed by any inbound traffic. */
  private awaitingSince: number | null = null;

  constructor(now: number, private readonly intervalMs: number, private readonly timeoutMs: number) {
    this.nextPingAt = now + intervalMs;
  }

  /** HB-4: any inbound frame proves the peer alive. */
  seen(): void {
    this.awaitingSince = null;
  }

  /** What is due at `now`: a ping to send, a timeout, or nothing. */
  due(now: number): 'timeout' | 'ping' | null {
    if (this.awaitingSince !== null && now >= this.awaitingSince + this.timeoutMs) return 'timeout';
    if (now >= this.nextPingAt) {
      this.awaitingSince ??= now;
      this.nextPingAt = now + this.intervalMs;
      return 'ping';
    }
    return null;
  }

  deadline(): number {
    return this.awaitingSince === null ? this.nextPingAt : Math.min(this.nextPingAt, this.awaitingSince + this.timeoutMs);
  }
}
