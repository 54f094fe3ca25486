/**
 * Model-based test of the sans-I/O client core with an injected clock (fast-check commands): the
 * application's requests, a scripted server (accepts, answers, pongs, closes with codes of every class
 * and retry hints) and time advancing by generated amounts. A small model judges every action:
 * - REQ-5: each request settles exactly once: by its response, or with `timeout` exactly at its
 *   deadline; a late response is dropped. REQ-6, RECON-6: a request sent on a connection that ends fails
 *   with `disconnected` at once and is never sent again.
 * - RECON-1, RECON-2, RECON-4, RECON-5: reconnect delays within [d/2, d] of their attempt (never before
 *   a retry hint), the attempt counter grows by one at most and resets only after a stable session; stop
 *   codes end reconnection; no attempt starts before its time.
 * - HB-3: pings only while authenticated; a 4001 close only after heartbeatTimeoutMs of silence after a
 *   ping, and always by then. RECON-6: nothing but auth before authenticated.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { CLOSE_CODES, closeClass, DEFAULT_BACKOFF, parseCloseReason } from '../../../../schemas/v1/index.js';
import { ClientCore } from '../client-core.js';
import type { CoreAction, CoreInput } from '../types.js';
import { seeded, TEST_PARAMS } from './harness.js';

const STABLE = DEFAULT_BACKOFF.stableAfterMs;

interface Req {
  startedAt: number;
  deadline: number;
  settled: number;
  sentOn: number | null;
  answered: boolean;
}

class Sys {
  now = 1_000_000;
  readonly core: ClientCore;
  readonly reqs = new Map<string, Req>();
  conn = 0;
  /** socket states the scripted server knows */
  opened = new Set<number>();
  authedConn = 0;
  authedAt = 0;
  pendingFetch: number | null = null;
  pendingOpen: number | null = null;
  authSent = new Set<number>();
  /** first ping sent on the current connection after the last inbound frame */
  silentSince: number | null = null;
  lastAttempt = -1;
  lastSessionMs = 0;
  reconnectAt: number | null = null;
  lastHint: number | undefined;
  lastClass: string | undefined;
  stopped = false;

  constructor(seed: number) {
    this.core = new ClientCore({ url: 'ws://test/ws', random: seeded(seed) });
  }

  do(input: CoreInput): void {
    this.judge(this.core.handle(input, this.now));
  }

  judge(acts: CoreAction[]): void {
    // the requests a client sends in the step that handles `authenticated` come after it on the wire
    if (acts.some((a) => a.type === 'emit' && a.event.type === 'authenticated' && !a.event.reauth)) {
      this.authedConn = this.conn;
      this.authedAt = this.now;
    }
    for (const a of acts) {
      switch (a.type) {
        case 'fetch_token':
          if (this.reconnectAt !== null) expect(this.now, 'RECON-1: an attempt before its time').toBeGreaterThanOrEqual(this.reconnectAt);
          if (a.reason !== 'expiring') this.pendingFetch = a.fetch;
          this.reconnectAt = null;
          break;
        case 'open_socket':
          if (this.reconnectAt !== null) expect(this.now, 'RECON-1: an attempt before its time').toBeGreaterThanOrEqual(this.reconnectAt);
          this.reconnectAt = null;
          this.pendingOpen = a.conn;
          this.conn = a.conn;
          this.silentSince = null;
          break;
        case 'send': {
          const m = a.message;
          if (m.type === 'auth') {
            this.authSent.add(a.conn);
            break;
          }
          expect(this.authedConn, `RECON-6: ${m.type} sent before authenticated`).toBe(a.conn);
          if (m.type === 'ping') this.silentSince ??= this.now; // HB-3
          if (m.type === 'request') {
            const r = this.reqs.get(m.id)!;
            expect(r.sentOn, 'REQ-6, RECON-6: a request sent twice').toBeNull();
            expect(r.settled).toBe(0);
            r.sentOn = a.conn;
          }
          break;
        }
        case 'close_socket':
          if (a.code === CLOSE_CODES.HEARTBEAT_TIMEOUT.code && this.authedConn === a.conn) {
            expect(this.silentSince, 'HB-3: 4001 without a ping').not.toBeNull();
            expect(this.now - this.silentSince!, 'HB-3: 4001 before heartbeatTimeoutMs of silence').toBeGreaterThanOrEqual(TEST_PARAMS.heartbeatTimeoutMs);
          }
          this.ended(a.conn);
          break;
        case 'resolve': {
          const r = this.reqs.get(a.id)!;
          expect(r.settled++, `REQ-5: ${a.id} settled twice`).toBe(0);
          expect(r.answered, 'resolved without a response').toBe(true);
          break;
        }
        case 'reject': {
          const r = this.reqs.get(a.id);
          if (!r) break; // rejected inside request() (client closed): never tracked
          expect(r.settled++, `REQ-5: ${a.id} settled twice`).toBe(0);
          if (a.code === 'timeout') expect(this.now, 'REQ-5: timeout not at the deadline').toBe(r.deadline);
          else expect(['disconnected', 'closed'], `REQ-6: ${a.code}`).toContain(a.code);
          break;
        }
        case 'emit': {
          const e = a.event;
          if (e.type === 'authenticated' && !e.reauth) {
            this.authedConn = this.conn;
            this.authedAt = this.now;
          }
          if (e.type === 'closed') {
            // RECON-4, RECON-5: what the next delay must honour (the client's own closes carry no hint)
            this.lastClass = e.closeClass;
            this.lastHint = e.byClient ? undefined : parseCloseReason(e.reason).retryAfterMs;
          }
          if (e.type === 'reconnecting') {
            expect(this.stopped, 'RECON-5: reconnecting after a stop code').toBe(false);
            const d = Math.min(DEFAULT_BACKOFF.capMs, DEFAULT_BACKOFF.baseMs * 2 ** e.attempt);
            if (this.lastClass === 'reconnect_now') {
              expect(e.delayMs).toBeGreaterThanOrEqual(this.lastHint ?? 0);
              expect(e.delayMs).toBeLessThanOrEqual((this.lastHint ?? 0) + 500);
            } else {
              expect(e.delayMs, 'RECON-4: before the retry hint').toBeGreaterThanOrEqual(this.lastHint ?? 0);
              if (this.lastHint === undefined || this.lastHint < d / 2) {
                expect(e.delayMs, 'RECON-1: delay below d/2').toBeGreaterThanOrEqual(d / 2);
                expect(e.delayMs, 'RECON-1: delay above d').toBeLessThanOrEqual(Math.max(d, this.lastHint ?? 0));
              }
            }
            expect(e.attempt, 'RECON-1: the attempt counter jumped').toBeLessThanOrEqual(this.lastAttempt + 1);
            if (e.attempt < this.lastAttempt) expect(this.lastSessionMs, 'RECON-2: counter reset after a short session').toBeGreaterThanOrEqual(STABLE);
            this.lastAttempt = e.attempt;
            this.reconnectAt = e.at;
          }
          break;
        }
        default:
          break;
      }
    }
    const d = this.core.nextDeadline();
    if (d !== undefined) expect(d, 'a deadline in the past').toBeGreaterThanOrEqual(this.now - 0);
  }

  /** A connection ended: requests sent on it failed with disconnected in the same step (REQ-6). */
  ended(conn: number): void {
    this.lastSessionMs = this.authedConn === conn ? this.now - this.authedAt : 0;
    if (this.authedConn === conn) this.authedConn = 0;
    this.opened.delete(conn);
    this.authSent.delete(conn);
    this.pendingOpen = null;
    this.pendingFetch = null;
  }

  checkRequestsSettled(conn: number): void {
    for (const [id, r] of this.reqs) if (r.sentOn === conn) expect(r.settled, `REQ-6: ${id} not failed when its connection ended`).toBe(1);
  }

  advance(ms: number): void {
    const target = this.now + ms;
    for (let i = 0; i < 10_000; i++) {
      const d = this.core.nextDeadline();
      if (d === undefined || d > target) break;
      this.now = Math.max(this.now, d);
      this.do({ type: 'tick' });
    }
    this.now = target;
    for (const [id, r] of this.reqs) if (r.deadline <= this.now) expect(r.settled, `REQ-5: ${id} not settled by its deadline`).toBe(1);
    if (this.authedConn && this.silentSince !== null) expect(this.now - this.silentSince, 'HB-3: no 4001 after heartbeatTimeoutMs of silence').toBeLessThan(TEST_PARAMS.heartbeatTimeoutMs);
    if (this.reconnectAt !== null) expect(this.now, 'RECON-1: a reconnect attempt is overdue').toBeLessThan(this.reconnectAt);
  }

  inbound(): void {
    this.silentSince = null;
  }
}

type Cmd = fc.Command<Sys, Sys>;

class Request implements Cmd {
  constructor(readonly timeoutMs: number) {}
  check(): boolean {
    return true;
  }
  run(_m: Sys, s: Sys): void {
    const { id, actions } = s.core.request('echo', 1, { timeoutMs: this.timeoutMs }, s.now);
    const state = s.core.currentState;
    if (state !== 'idle' && state !== 'closed') s.reqs.set(id, { startedAt: s.now, deadline: s.now + this.timeoutMs, settled: 0, sentOn: null, answered: false });
    s.judge(actions);
  }
  toString(): string {
    return `request (timeout ${this.timeoutMs} ms)`;
  }
}

/** The scripted server moves the current connection one step on: token, open, authenticated. */
class Accept implements Cmd {
  check(s: Readonly<Sys>): boolean {
    return s.pendingFetch !== null || s.pendingOpen !== null || (s.conn !== 0 && s.authSent.has(s.conn) && s.authedConn !== s.conn);
  }
  run(_m: Sys, s: Sys): void {
    if (s.pendingFetch !== null) {
      const f = s.pendingFetch;
      s.pendingFetch = null;
      s.do({ type: 'token', fetch: f, token: 'tok' });
    } else if (s.pendingOpen !== null) {
      const c = s.pendingOpen;
      s.pendingOpen = null;
      s.opened.add(c);
      s.do({ type: 'socket_open', conn: c, protocol: 'mooring.v1' });
    } else {
      s.inbound();
      s.do({ type: 'socket_message', conn: s.conn, text: JSON.stringify({ type: 'authenticated', userId: 'alice', sessionId: `s${s.conn}`, protocol: 'mooring.v1', params: TEST_PARAMS }) });
    }
  }
  toString(): string {
    return 'server: next connection step';
  }
}

/** The server answers the oldest request still unanswered on the current connection. */
class Respond implements Cmd {
  check(s: Readonly<Sys>): boolean {
    return s.authedConn !== 0 && [...s.reqs.values()].some((r) => r.sentOn === s.conn && !r.answered);
  }
  run(_m: Sys, s: Sys): void {
    const [id, r] = [...s.reqs].find(([, x]) => x.sentOn === s.conn && !x.answered)!;
    r.answered = true;
    const settledBefore = r.settled;
    s.inbound();
    s.do({ type: 'socket_message', conn: s.conn, text: JSON.stringify({ type: 'response', requestId: id, success: true, data: 1 }) });
    expect(r.settled, settledBefore ? 'REQ-5: a late response was not dropped' : 'REQ-1: a response did not settle its request').toBe(1);
  }
  toString(): string {
    return 'server: answer the oldest request';
  }
}

class Pong implements Cmd {
  constructor(readonly frame: boolean) {}
  check(s: Readonly<Sys>): boolean {
    return s.opened.has(s.conn);
  }
  run(_m: Sys, s: Sys): void {
    s.inbound();
    s.do(this.frame ? { type: 'socket_activity', conn: s.conn } : { type: 'socket_message', conn: s.conn, text: '{"type":"pong"}' });
  }
  toString(): string {
    return this.frame ? 'server: a WebSocket pong frame' : 'server: pong message';
  }
}

class Close implements Cmd {
  constructor(readonly code: number, readonly hint: number | undefined) {}
  check(s: Readonly<Sys>): boolean {
    return s.conn !== 0 && (s.opened.has(s.conn) || s.pendingOpen === s.conn);
  }
  run(_m: Sys, s: Sys): void {
    const conn = s.conn;
    const info = Object.values(CLOSE_CODES).find((c) => c.code === this.code);
    const reason = info && this.code !== 1006 ? `${info.name}${this.hint !== undefined ? `;retry=${this.hint}` : ''}` : '';
    if (closeClass(this.code) === 'stop') s.stopped = true;
    s.ended(conn);
    s.do({ type: 'socket_closed', conn, code: this.code, reason });
    s.checkRequestsSettled(conn);
  }
  toString(): string {
    return `server: close ${this.code}${this.hint !== undefined ? ` retry=${this.hint}` : ''}`;
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

const commands = [
  fc.integer({ min: 1, max: 5_000 }).map((t) => new Request(t)),
  fc.constant(new Accept()),
  fc.constant(new Accept()),
  fc.constant(new Accept()),
  fc.constant(new Respond()),
  fc.boolean().map((f) => new Pong(f)),
  fc.tuple(fc.constantFrom(1006, 1006, 1011, 1012, 1013, 4001, 4429, 4419, 4002, 4400), fc.option(fc.integer({ min: 0, max: 40_000 }))).map(([c, h]) => new Close(c, h ?? undefined)),
  fc.oneof(fc.integer({ min: 0, max: 50 }), fc.integer({ min: 0, max: 2_000 }), fc.integer({ min: 1_000, max: 40_000 })).map((ms) => new Advance(ms)),
];

describe('ClientCore model-based (injected clock)', () => {
  it('REQ-5, REQ-6, RECON-1, RECON-2, RECON-4, RECON-5, RECON-6, HB-3: requests, reconnects and heartbeats hold over 2000 generated runs', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 1_000_000 }), fc.commands(commands, { maxCommands: 80 }), (seed, cmds) => {
        const s = new Sys(seed);
        s.do({ type: 'connect' });
        fc.modelRun(() => ({ model: s, real: s }), cmds);
      }),
      { numRuns: 2_000, seed: 20261130 },
    );
  });
});
