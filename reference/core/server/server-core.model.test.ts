/**
 * Model-based test of the sans-I/O server core with an injected clock (fast-check commands): opens,
 * auths, pings, control-frame activity and time advancing by generated amounts, over four connections
 * and two users. A small model of the spec judges every action the core returns: the auth deadline
 * (AUTH-2), token expiry (AUTH-8 warning and close, AUTH-11), the heartbeat cadence and timeout (HB-1, HB-4), the rate limit's sliding window (RATE-1,
 * RATE-2, RATE-3), one pong per ping (HB-2), and honest deadlines (nothing happens between them).
 * Thousands of runs take seconds: no sockets, no timers.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { CLOSE, DEFAULT_PARAMS } from '../../../schemas/v1/index.js';
import { ServerCore } from './server-core.js';
import type { ServerAction, ServerEvent } from './types.js';

const P = {
  ...DEFAULT_PARAMS,
  heartbeatIntervalMs: 100,
  heartbeatTimeoutMs: 50,
  authTimeoutMs: 80,
  rateLimit: { messages: 5, windowMs: 200 },
  sessionPolicy: 'multiple' as const,
};
const GRACE = 10;
const WARN = 100;

interface MConn {
  openedAt: number;
  user: 'a' | 'b';
  authed: boolean;
  /** the core has sent a close for it */
  closed: boolean;
  lastPing: number | null;
  /** first ping sent after the last inbound frame (null: none, or traffic since) */
  unansweredPing: number | null;
  /** AUTH-8: when the session's token expires, when it was authenticated, whether it was warned */
  expiresAt: number | null;
  authedAt: number;
  warned: boolean;
}

class Sys {
  now = 0;
  readonly core = new ServerCore({ params: P, random: () => 0.25, closeGraceMs: GRACE, tokenWarningMs: WARN });
  readonly conns = new Map<number, MConn>();
  /** per user: times of admitted messages (RATE-1..3) */
  readonly admitted = new Map<string, number[]>();
  private verify = new Map<number, number>();

  handle(ev: ServerEvent, expectPong = 0): void {
    const acts = this.core.handle(ev).filter((a) => a.type !== 'log');
    let pongs = 0;
    for (const a of acts) pongs += this.judge(a);
    expect(pongs, 'HB-2: one pong per admitted ping').toBe(expectPong);
    const d = this.core.nextDeadline();
    if (d !== undefined) expect(d, 'a deadline in the past').toBeGreaterThanOrEqual(this.now);
  }

  /** Checks one action against the model; returns 1 for a pong. */
  judge(a: ServerAction): number {
    switch (a.type) {
      case 'verifyToken':
        this.verify.set(a.conn, a.verifyId);
        return 0;
      case 'ping': {
        const c = this.conns.get(a.conn)!;
        expect(c.closed).toBe(false);
        // HB-1: pings exactly every heartbeatIntervalMs from the open
        expect(this.now - (c.lastPing ?? c.openedAt), "HB-1: ping cadence").toBe(P.heartbeatIntervalMs);
        c.lastPing = this.now;
        c.unansweredPing ??= this.now;
        return 0;
      }
      case 'close': {
        const c = this.conns.get(a.conn)!;
        expect(c.closed, 'closed twice').toBe(false);
        c.closed = true;
        if (a.code === CLOSE.AUTH_TIMEOUT) {
          expect(c.authed, 'AUTH-2: an authenticated connection closed 4408').toBe(false);
          expect(this.now, 'AUTH-2: 4408 exactly at authTimeoutMs').toBe(c.openedAt + P.authTimeoutMs);
        } else if (a.code === CLOSE.HEARTBEAT_TIMEOUT) {
          expect(c.unansweredPing, 'HB-1/HB-4: 4001 with traffic after the last ping').not.toBeNull();
          expect(this.now, 'HB-1: 4001 exactly heartbeatTimeoutMs after the unanswered ping').toBe(c.unansweredPing! + P.heartbeatTimeoutMs);
        } else if (a.code === CLOSE.TOKEN_EXPIRED) {
          // AUTH-11 at auth, AUTH-8 exactly at expiry
          expect(c.expiresAt, 'AUTH-8: 4419 without an expiring token').not.toBeNull();
          expect(this.now, 'AUTH-8: 4419 exactly at expiry').toBe(c.authed ? c.expiresAt! : this.now);
          if (!c.authed) expect(c.expiresAt!, 'AUTH-11: 4419 for a token not yet expired').toBeLessThanOrEqual(this.now);
        } else if (a.code === CLOSE.RATE_LIMITED) {
          expect(this.overLimit(c.user), 'RATE-2: rate-limited within the limit').toBe(true);
        } else throw new Error(`unexpected close ${a.code}`);
        return 0;
      }
      case 'terminate':
        this.conns.delete(a.conn);
        this.core.handle({ type: 'closed', now: this.now, conn: a.conn, code: 1006, reason: '' });
        return 0;
      case 'send':
        if (a.message.type === 'pong') return 1;
        if (a.message.type === 'authenticated') {
          const c = this.conns.get(a.conn)!;
          c.authed = true;
          c.authedAt = this.now;
        }
        if (a.message.type === 'token_expiring') {
          const c = this.conns.get(a.conn)!;
          expect(c.warned, 'AUTH-8: warned twice').toBe(false);
          c.warned = true;
          expect(this.now, 'AUTH-8: token_expiring tokenWarningMs before expiry (at once when inside it)').toBe(Math.max(c.authedAt, c.expiresAt! - WARN));
        }
        return 0;
      default:
        return 0;
    }
  }

  overLimit(user: string): boolean {
    const t = (this.admitted.get(user) ?? []).filter((x) => x > this.now - P.rateLimit.windowMs);
    return t.length >= P.rateLimit.messages;
  }

  /** Ticks at every deadline up to now + ms; afterwards nothing owed may be outstanding. */
  advance(ms: number): void {
    const target = this.now + ms;
    for (let i = 0; i < 10_000; i++) {
      const d = this.core.nextDeadline();
      if (d === undefined || d > target) break;
      this.now = d;
      this.handle({ type: 'tick', now: d });
    }
    this.now = target;
    for (const c of this.conns.values()) {
      if (c.closed) continue;
      if (!c.authed) expect(this.now, 'AUTH-2: still open after authTimeoutMs').toBeLessThan(c.openedAt + P.authTimeoutMs);
      if (c.unansweredPing !== null) expect(this.now, 'HB-1: still open heartbeatTimeoutMs after an unanswered ping').toBeLessThan(c.unansweredPing + P.heartbeatTimeoutMs);
      expect(this.now - (c.lastPing ?? c.openedAt), 'HB-1: a ping is overdue').toBeLessThan(P.heartbeatIntervalMs);
      if (c.authed && c.expiresAt !== null) {
        expect(this.now, 'AUTH-8: still open at expiry').toBeLessThan(c.expiresAt);
        if (this.now >= c.expiresAt - WARN) expect(c.warned, 'AUTH-8: no token_expiring in time').toBe(true);
      }
    }
  }

  inbound(conn: number): void {
    const c = this.conns.get(conn);
    if (c) c.unansweredPing = null; // HB-4
  }

  verifyIdOf(conn: number): number {
    return this.verify.get(conn)!;
  }
}

type Cmd = fc.Command<Sys, Sys>;

class Open implements Cmd {
  constructor(readonly conn: number, readonly user: 'a' | 'b') {}
  check(s: Readonly<Sys>): boolean {
    return !s.conns.has(this.conn);
  }
  run(_m: Sys, s: Sys): void {
    s.conns.set(this.conn, { openedAt: s.now, user: this.user, authed: false, closed: false, lastPing: null, unansweredPing: null, expiresAt: null, authedAt: 0, warned: false });
    s.handle({ type: 'open', now: s.now, conn: this.conn, ip: '127.0.0.1' });
  }
  toString(): string {
    return `open ${this.conn} (${this.user})`;
  }
}

class Auth implements Cmd {
  /** ttl: the token expires this long after now (null: never; 0: already expired) */
  constructor(readonly conn: number, readonly ttl: number | null) {}
  check(s: Readonly<Sys>): boolean {
    const c = s.conns.get(this.conn);
    return !!c && !c.authed && !c.closed;
  }
  run(_m: Sys, s: Sys): void {
    const c = s.conns.get(this.conn)!;
    s.inbound(this.conn);
    s.handle({ type: 'text', now: s.now, conn: this.conn, text: JSON.stringify({ type: 'auth', token: c.user }) });
    c.expiresAt = this.ttl === null ? null : s.now + this.ttl;
    s.handle({ type: 'tokenResult', now: s.now, conn: this.conn, verifyId: s.verifyIdOf(this.conn), record: { userId: c.user, expiresAt: c.expiresAt } });
    if (this.ttl === 0) expect(c.closed, 'AUTH-11: an expired token was accepted').toBe(true);
    else expect(c.authed, 'AUTH-5').toBe(true);
  }
  toString(): string {
    return `auth ${this.conn}${this.ttl === null ? '' : ` (token expires in ${this.ttl} ms)`}`;
  }
}

class Ping implements Cmd {
  constructor(readonly conn: number) {}
  check(s: Readonly<Sys>): boolean {
    const c = s.conns.get(this.conn);
    return !!c && c.authed && !c.closed;
  }
  run(_m: Sys, s: Sys): void {
    const c = s.conns.get(this.conn)!;
    s.inbound(this.conn);
    const over = s.overLimit(c.user); // RATE-1: this message is the one too many
    if (!over) {
      const t = s.admitted.get(c.user) ?? [];
      t.push(s.now);
      s.admitted.set(c.user, t);
    }
    s.handle({ type: 'text', now: s.now, conn: this.conn, text: '{"type":"ping"}' }, over ? 0 : 1);
    if (over) {
      // RATE-1, RATE-3: every open connection of the user is closed 4429
      for (const o of s.conns.values()) if (o.user === c.user && o.authed) expect(o.closed, 'RATE-1: a connection of the user left open').toBe(true);
    }
  }
  toString(): string {
    return `ping ${this.conn}`;
  }
}

class Activity implements Cmd {
  constructor(readonly conn: number) {}
  check(s: Readonly<Sys>): boolean {
    const c = s.conns.get(this.conn);
    return !!c && !c.closed;
  }
  run(_m: Sys, s: Sys): void {
    s.inbound(this.conn);
    s.handle({ type: 'activity', now: s.now, conn: this.conn });
  }
  toString(): string {
    return `pong frame ${this.conn}`;
  }
}

class Advance implements Cmd {
  constructor(readonly ms: number) {}
  check(): boolean {
    return true;
  }
  run(_m: Sys, s: Sys): void {
    s.advance(this.ms);
  }
  toString(): string {
    return `advance ${this.ms} ms`;
  }
}

const conn = fc.integer({ min: 1, max: 4 });
const commands = [
  fc.tuple(conn, fc.constantFrom('a' as const, 'b' as const)).map(([c, u]) => new Open(c, u)),
  fc.tuple(conn, fc.option(fc.integer({ min: 0, max: 400 }), { freq: 2 })).map(([c, t]) => new Auth(c, t)),
  conn.map((c) => new Ping(c)),
  conn.map((c) => new Ping(c)),
  conn.map((c) => new Activity(c)),
  fc.oneof(fc.integer({ min: 0, max: 5 }), fc.integer({ min: 0, max: 60 }), fc.integer({ min: 40, max: 250 })).map((ms) => new Advance(ms)),
  fc.oneof(fc.integer({ min: 0, max: 5 }), fc.integer({ min: 0, max: 60 })).map((ms) => new Advance(ms)),
];

describe('ServerCore model-based (injected clock)', () => {
  it('AUTH-2, AUTH-8, AUTH-11, HB-1, HB-2, HB-4, RATE-1, RATE-2, RATE-3: deadlines, expiry warnings, heartbeats and the rate window hold over 3000 generated runs', () => {
    fc.assert(
      fc.property(fc.commands(commands, { maxCommands: 60 }), (cmds) => {
        const s = new Sys();
        fc.modelRun(() => ({ model: s, real: s }), cmds);
      }),
      { numRuns: 3_000, seed: 20261130 },
    );
  });
});
