/** Test harness: drives the client core with a fake clock and a scripted server. */
import { ClientCore, type ClientCoreOptions } from '../client-core.js';
import type { CoreAction, CoreInput, ClientEvent } from '../types.js';
import type { ClientMessage, ServerMessage, SessionParams } from '../../../../schemas/v1/messages.js';

/** A seeded PRNG (mulberry32), so tests replay exactly. */
export function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export const TEST_PARAMS: SessionParams = {
  heartbeatIntervalMs: 1_000,
  heartbeatTimeoutMs: 500,
  authTimeoutMs: 5_000,
  requestTimeoutMs: 2_000,
  rateLimit: { messages: 60, windowMs: 10_000 },
  maxPayloadBytes: 65_536,
  maxSubscriptions: 100,
  maxBufferedBytes: 1_048_576,
  historySize: 100,
  sessionPolicy: 'single',
  tokenExpiresAt: null,
};

export class Harness {
  now = 1_000_000;
  readonly core: ClientCore;
  readonly actions: CoreAction[] = [];
  /** For each action, the index of the first action of the same input (one `handle` call). */
  readonly batchStart: number[] = [];
  tokenCount = 0;

  constructor(opts: Partial<ClientCoreOptions> = {}) {
    this.core = new ClientCore({ url: 'ws://test/ws', random: seeded(1), ...opts });
  }

  do(input: CoreInput): CoreAction[] {
    const a = this.core.handle(input, this.now);
    this.record(a);
    return a;
  }

  request(action: string, payload?: unknown, opts: { timeoutMs?: number; failFast?: boolean } = {}): string {
    const r = this.core.request(action, payload, opts, this.now);
    this.record(r.actions);
    return r.id;
  }

  private record(a: CoreAction[]): void {
    const start = this.actions.length;
    for (const x of a) {
      this.actions.push(x);
      this.batchStart.push(start);
    }
  }

  /** Moves the clock to now + ms, feeding `tick` at every deadline on the way. */
  advance(ms: number): void {
    const target = this.now + ms;
    for (let guard = 0; guard < 100_000; guard++) {
      const d = this.core.nextDeadline();
      if (d === undefined || d > target) break;
      this.now = Math.max(this.now, d);
      this.do({ type: 'tick' });
    }
    this.now = target;
  }

  /** Actions recorded from index `from` on. */
  since(from: number): CoreAction[] {
    return this.actions.slice(from);
  }

  mark(): number {
    return this.actions.length;
  }

  last<T extends CoreAction['type']>(type: T): Extract<CoreAction, { type: T }> | undefined {
    for (let i = this.actions.length - 1; i >= 0; i--) if (this.actions[i]!.type === type) return this.actions[i] as never;
    return undefined;
  }

  all<T extends CoreAction['type']>(type: T, from = 0): Extract<CoreAction, { type: T }>[] {
    return this.actions.slice(from).filter((a) => a.type === type) as never;
  }

  sent(from = 0, conn?: number): ClientMessage[] {
    return this.all('send', from).filter((a) => conn === undefined || a.conn === conn).map((a) => a.message);
  }

  events(from = 0): ClientEvent[] {
    return this.all('emit', from).map((a) => a.event);
  }

  get conn(): number {
    return this.last('open_socket')?.conn ?? 0;
  }

  /** Answers the pending token fetch. */
  giveToken(token = `tok${++this.tokenCount}`): void {
    const f = this.last('fetch_token');
    if (!f) throw new Error('no token fetch');
    this.do({ type: 'token', fetch: f.fetch, token });
  }

  open(): void {
    this.do({ type: 'socket_open', conn: this.conn, protocol: 'mooring.v1' });
  }

  server(msg: ServerMessage | Record<string, unknown>): CoreAction[] {
    return this.do({ type: 'socket_message', conn: this.conn, text: JSON.stringify(msg) });
  }

  authenticated(params: Partial<SessionParams> = {}): void {
    this.server({
      type: 'authenticated', userId: 'alice', sessionId: `s${this.conn}`, protocol: 'mooring.v1',
      params: { ...TEST_PARAMS, ...params },
    });
  }

  /** From a state where a token fetch is pending: token, open, auth, authenticated. */
  completeConnect(params: Partial<SessionParams> = {}): void {
    this.giveToken();
    this.open();
    this.authenticated(params);
  }

  connectAndAuth(params: Partial<SessionParams> = {}): void {
    this.do({ type: 'connect' });
    this.completeConnect(params);
  }

  serverClose(code: number, reason = ''): CoreAction[] {
    return this.do({ type: 'socket_closed', conn: this.conn, code, reason });
  }

  /** Runs the clock to the scheduled reconnect; returns the delay waited. */
  runToReconnect(): number {
    const at = this.core.diagnostics().nextReconnectAt;
    if (at === undefined) throw new Error('no reconnect scheduled');
    const waited = at - this.now;
    this.advance(waited);
    return waited;
  }

  get state() {
    return this.core.currentState;
  }
}
