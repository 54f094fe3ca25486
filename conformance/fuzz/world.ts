/**
 * The live side of model-based fuzzing: up to SLOTS real connections to the server under test, and a
 * small model of the spec that every frame the server sends is checked against as it arrives.
 *
 * The model is deliberately simpler than a server: it keeps, per connection, the answers it is owed
 * (one per request, subscribe, unsubscribe, ping, bad frame), the channels the server holds for it
 * (decided in send order, which the server processes in), and per channel the positions it has seen;
 * globally, the publishes the server accepted. Everything it cannot know for sure (a response still in
 * flight when the next message goes out) it accepts both ways. It reads the limits it checks from the
 * session params the server advertises.
 */
import { isDeepStrictEqual } from 'node:util';
import {
  CLOSE_CODES,
  closeCodeInfo,
  isChannelName,
  parseCloseReason,
  validateServerMessage,
  type Position,
  type ServerMessage,
  type SessionParams,
} from '../../schemas/v1/index.js';
import { RateGovernor } from '../wire/governor.js';
import { FuzzConn, Transcript, type CloseInfo } from './conn.js';

export type Params = Omit<SessionParams, 'tokenExpiresAt'>;

export interface FuzzEnv {
  url: string;
  tokens: [string, string];
  /** userIds of the two tokens, as the server reported them (preflight). */
  userIds: [string, string];
  /** SUB-12 (revision 1.2): the users' own channels when the server advertises `userChannel`. */
  userChannels?: [string | undefined, string | undefined];
  params: Params;
  /** How long to wait for answers the model is owed before calling them missing. */
  settleMs: number;
  /** Fill commands (subscription and pending limits) run only when they need at most this many messages. */
  maxFill: number;
}

/** A property of the spec broken by the server, found by the model. */
export class FuzzFailure extends Error {
  constructor(readonly rule: string, message: string) {
    super(`${rule}: ${message}`);
    this.name = 'FuzzFailure';
  }
}

export const SLOTS = 3;

/**
 * Against a server that does not advertise `maxDepth` (revision 1.1): frames nested deeper than this
 * may be refused (invalid_payload, or invalid_message before dispatch). A server that advertises
 * `maxDepth` answers every deeper message with `error too_deep` (LIMIT-6).
 */
export const REFUSABLE_DEPTH = 32;

/**
 * LIMIT-8 (MAY, budgets not advertised): a conformant client sends one frame of a few hundred bytes
 * before `authenticated`, so beyond that a server may close 4400; and a message split into more
 * fragments than this may be closed 1009. The model accepts those closes, and never requires them.
 */
export const PRE_AUTH_FRAMES_OK = 1;
export const PRE_AUTH_BYTES_OK = 1024;
export const FRAGMENTS_OK = 8;

interface PendingRequest {
  id: string;
  action: string;
  sentAt: number;
  /** the payload as sent (parsed back from the frame), undefined when absent */
  payload: unknown;
  hasPayload: boolean;
  /** failure codes the model accepts for it */
  mayFail: string[];
  /** a generic request: any single response will do */
  generic: boolean;
  /** sleep: earliest time its response may arrive */
  notBefore?: number;
  /** success is a violation */
  mustFail: boolean;
  /** frame nested deeper than REFUSABLE_DEPTH: the server may refuse it with error invalid_message instead */
  refusable: boolean;
  /** sent at the pending limit while an answer may be in flight: too_many_requests is allowed */
  mayBeRefused: boolean;
}

type Expect =
  | { kind: 'error'; code: string; requestId?: string; channel?: string; why: string }
  | { kind: 'subscribed'; channel: string; since?: Position; starts: boolean; knownHead?: Position }
  | { kind: 'unsubscribed'; channel: string }
  | { kind: 'pong' }
  | { kind: 'authenticated'; reauth: boolean };

interface ChanView {
  /** model, in send order: the server holds a subscription of this channel for the connection */
  held: boolean;
  /** a subscribed that started the subscription has arrived (and no unsubscribed since): pushes allowed */
  live: boolean;
  /** the position after which every accepted publish must reach this connection (null: not checked) */
  base: Position | null;
  /** the last position delivered (replays after a resume restart from `since`) */
  last: Position | null;
  /** replayed pushes still owed right after a subscribed with resume "replayed" */
  replayLeft: number;
  nextReplay: number;
  /** positions received since `base` ("epoch/offset") */
  received: Set<string>;
  /** last position seen on this channel by any earlier connection of the slot (for resume) */
}

export interface ConnView {
  slot: number;
  label: string;
  user: 0 | 1;
  conn: FuzzConn;
  phase: 'authing' | 'authed' | 'unauthed';
  /** the model expects the server to close it (with one of these codes); no more sends */
  expectClose: number[] | null;
  /** closes the model accepts but does not require (LIMIT-8 budgets, which are not advertised) */
  mayClose: number[];
  /** data frames and bytes sent before authenticated (LIMIT-8) */
  preAuthFrames: number;
  preAuthBytes: number;
  /** RATE-4: subscribe frames still exempt from the rate limit (restoreAllowance, from authenticated) */
  restoreLeft: number;
  /** ids of requests refused as too deep (LIMIT-6): a response to one means the server processed it */
  tooDeepIds: Set<string>;
  /** LOG-2: client-sent strings where a token could be (unknown message types over 16 characters), never to be echoed */
  noEcho: string[];
  dead: boolean;
  sessionId: string | null;
  expects: Expect[];
  pending: Map<string, PendingRequest>;
  chans: Map<string, ChanView>;
  held: number;
  nextId: number;
}

const key = (p: Position) => `${p.epoch}/${p.offset}`;

/** Iterative JSON equality (payloads may be nested thousands of levels). */
export function jsonEqual(a: unknown, b: unknown): boolean {
  const stack: Array<[unknown, unknown]> = [[a, b]];
  for (let steps = 0; stack.length; steps++) {
    if (steps > 5_000_000) return false;
    const [x, y] = stack.pop()!;
    if (x === y) continue;
    if (typeof x !== 'object' || typeof y !== 'object' || x === null || y === null) {
      if (typeof x === 'number' && typeof y === 'number' && x === y) continue;
      return false;
    }
    if (Array.isArray(x) !== Array.isArray(y)) return false;
    if (Array.isArray(x)) {
      const ya = y as unknown[];
      if (x.length !== ya.length) return false;
      for (let i = 0; i < x.length; i++) stack.push([x[i], ya[i]]);
      continue;
    }
    const kx = Object.keys(x);
    const ky = Object.keys(y);
    if (kx.length !== ky.length) return false;
    for (const k of kx) {
      if (!Object.prototype.hasOwnProperty.call(y, k)) return false;
      stack.push([(x as Record<string, unknown>)[k], (y as Record<string, unknown>)[k]]);
    }
  }
  return true;
}

/** Nesting depth of a JSON text (brackets outside strings). */
export function nestingDepth(text: string): number {
  let depth = 0;
  let max = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 92) i++;
      else if (c === 34) inString = false;
    } else if (c === 34) inString = true;
    else if (c === 91 || c === 123) max = Math.max(max, ++depth);
    else if (c === 93 || c === 125) depth--;
  }
  return max;
}

const closeRule = (code: number): string =>
  code === 1011 ? 'ERR-4' : code === 4429 ? 'RATE-2' : code === 1009 ? 'LIMIT-1' : code === 4400 ? 'AUTH-3' : code === 4401 ? 'AUTH-4'
    : code === 4001 ? 'HB-1' : code === 4002 ? 'SESS-1' : code === 4509 ? 'LIMIT-3' : 'ERR-4';

const governors = new WeakMap<FuzzEnv, RateGovernor>();

export class World {
  readonly transcript: Transcript;
  readonly slots: Array<ConnView | undefined> = new Array(SLOTS).fill(undefined);
  /** last position seen per slot and channel, kept across the slot's connections (resume) */
  readonly lastSeen: Array<Map<string, Position>> = Array.from({ length: SLOTS }, () => new Map());
  /** channel → "epoch/offset" → the data of every publish the server accepted */
  readonly accepted = new Map<string, Map<string, unknown>>();
  /** channel → publishes whose response was lost with their connection (they may or may not have happened) */
  readonly inDoubt = new Map<string, number>();
  failure: FuzzFailure | null = null;
  /** the commands run so far, in order */
  readonly executed: string[] = [];
  /** frames sent and frames received (exchanges = both) */
  sent = 0;
  received = 0;
  private readonly all: ConnView[] = [];
  private waiters: Array<() => void> = [];
  private labels = 0;
  private readonly governor: RateGovernor;

  constructor(readonly env: FuzzEnv, readonly runTag: string) {
    this.transcript = new Transcript();
    // one governor per fuzzing session, not per run: the server's window spans the runs (RATE-3)
    let g = governors.get(env);
    if (!g) governors.set(env, (g = new RateGovernor(env.params.rateLimit)));
    this.governor = g;
  }

  get params(): Params {
    return this.env.params;
  }

  /** A channel of this run: unique per run so runs never see each other's pushes. */
  channel(name: string): string {
    return `${this.runTag}.${name}`;
  }

  userChannel(user: 0 | 1): string | null {
    const advertised = this.env.userChannels?.[user];
    if (advertised) return advertised; // SUB-12
    const c = `user:${this.env.userIds[user]}`;
    return isChannelName(c) ? c : null;
  }

  /** SUB-4, SUB-12: a user channel (`user:` or, revision 1.2, `uid:`) that is not this user's own. */
  foreignUserChannel(user: 0 | 1, ch: string): boolean {
    return (ch.startsWith('user:') || (this.env.userChannels !== undefined && ch.startsWith('uid:'))) && ch !== this.userChannel(user);
  }

  /** LIMIT-6: the message nests deeper than the advertised maxDepth (the message object counting 1). */
  tooDeep(text: string): boolean {
    const max = this.params.maxDepth;
    return max !== undefined && nestingDepth(text) > max;
  }

  /** LIMIT-8: counts a frame sent before authenticated; past a conformant client's one frame, a 4400 is accepted. */
  private preAuth(c: ConnView, bytes: number): void {
    if (c.phase === 'authed') return;
    c.preAuthFrames++;
    c.preAuthBytes += bytes;
    if (c.preAuthFrames > PRE_AUTH_FRAMES_OK || c.preAuthBytes > PRE_AUTH_BYTES_OK) this.mayClose(c, CLOSE_CODES.NOT_AUTHENTICATED.code);
  }

  /** LIMIT-8: a message in more fragments than a conformant client needs may be closed 1009. */
  fragments(c: ConnView, pieces: number | undefined): void {
    if (pieces !== undefined && pieces > FRAGMENTS_OK) this.mayClose(c, 1009);
  }

  mayClose(c: ConnView, code: number): void {
    if (!c.mayClose.includes(code)) c.mayClose.push(code);
  }

  fail(rule: string, message: string, conn?: ConnView): void {
    if (this.failure) return;
    this.failure = new FuzzFailure(rule, conn ? `${conn.label}: ${message}` : message);
    this.transcript.add(conn?.label ?? '--', '*', `FAILURE ${this.failure.message}`);
    this.poke();
  }

  assertOk(): void {
    if (this.failure) throw this.failure;
  }

  private poke(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }

  /** Waits until `done()` holds (re-checked on every frame and close), a failure, or the timeout. */
  async waitFor(done: () => boolean, timeoutMs: number): Promise<boolean> {
    const until = Date.now() + timeoutMs;
    for (let i = 0; i < 100_000; i++) {
      if (this.failure) return false;
      if (done()) return true;
      const left = until - Date.now();
      if (left <= 0) return false;
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, Math.min(left, 50));
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
    return false;
  }

  /** Lets frames already on the wire be processed (no fixed sleep). */
  async yieldIo(): Promise<void> {
    await new Promise((r) => setImmediate(r));
    this.assertOk();
  }

  live(slot: number): ConnView | undefined {
    const c = this.slots[slot];
    return c && !c.dead && c.expectClose === null ? c : undefined;
  }

  authed(slot: number): ConnView | undefined {
    const c = this.live(slot);
    return c?.phase === 'authed' ? c : undefined;
  }

  // --- connections --------------------------------------------------------------------------------

  async open(slot: number, user: 0 | 1): Promise<ConnView> {
    const old = this.slots[slot];
    if (old) this.retire(old);
    const label = `c${++this.labels}`;
    let view!: ConnView;
    const conn = new FuzzConn(this.env.url, label, this.transcript, (t) => this.onText(view, t), (c) => this.onClose(view, c));
    view = {
      slot, label, user, conn, phase: 'unauthed', expectClose: null, mayClose: [], preAuthFrames: 0, preAuthBytes: 0, restoreLeft: 0, tooDeepIds: new Set(), noEcho: [],
      dead: false, sessionId: null, expects: [], pending: new Map(), chans: new Map(), held: 0, nextId: 0,
    };
    this.slots[slot] = view;
    this.all.push(view);
    this.transcript.add(label, '*', `open (slot ${slot}, user ${user + 1})`);
    try {
      await conn.opened;
    } catch (e) {
      this.fail('ERR-4', `a new connection was refused: ${(e as Error).message}`, view);
    }
    this.assertOk();
    return view;
  }

  /** Closes a connection from our side; its owed answers are forgiven. */
  retire(c: ConnView): void {
    if (c.dead) return;
    this.forgive(c);
    c.dead = true;
    for (const [ch, v] of c.chans) if (v.last) this.lastSeen[c.slot]!.set(ch, v.last);
    c.conn.close(1000);
    if (this.slots[c.slot] === c) this.slots[c.slot] = undefined;
  }

  /** A connection ends: publishes it had in flight may have happened without the model learning their position. */
  private forgive(c: ConnView): void {
    for (const p of c.pending.values()) {
      const ch = (p.payload as { channel?: unknown } | null)?.channel;
      if (p.action === 'publish' && typeof ch === 'string') this.inDoubt.set(ch, (this.inDoubt.get(ch) ?? 0) + 1);
    }
    c.pending.clear();
  }

  /** Sends auth and waits for its answer (AUTH-5); with sessionPolicy single, older sessions must end (SESS-1). */
  async auth(c: ConnView, token: string, expectUser: 0 | 1 | null): Promise<void> {
    const reauth = c.phase === 'authed';
    if (reauth) await this.governor.acquire(String(c.user));
    this.sent++;
    const text = JSON.stringify({ type: 'auth', token });
    this.preAuth(c, Buffer.byteLength(text));
    c.conn.sendText(text);
    if (expectUser === null) {
      this.expectClose(c, [CLOSE_CODES.UNAUTHORIZED.code], 'AUTH-4');
      return;
    }
    if (reauth && expectUser !== c.user) {
      c.expects.push({ kind: 'error', code: 'user_mismatch', why: 'AUTH-9' });
      return;
    }
    if (!reauth) c.phase = 'authing';
    c.expects.push({ kind: 'authenticated', reauth });
    const ok = await this.waitFor(() => c.phase === 'authed' && !c.expects.some((e) => e.kind === 'authenticated') || c.dead, this.env.settleMs);
    if (!ok && !this.failure) this.fail('AUTH-5', 'no authenticated within the settle time', c);
    this.assertOk();
  }

  expectClose(c: ConnView, codes: number[], _rule: string): void {
    c.expectClose = codes;
    if (this.slots[c.slot] === c) {
      for (const [ch, v] of c.chans) if (v.last) this.lastSeen[c.slot]!.set(ch, v.last);
    }
  }

  // --- sending ------------------------------------------------------------------------------------

  private async budget(c: ConnView, text?: string, exempt = false): Promise<void> {
    if (c.phase === 'authed' && !exempt) await this.governor.acquire(String(c.user));
    this.sent++;
    this.preAuth(c, text === undefined ? 0 : Buffer.byteLength(text));
  }

  nextRequestId(c: ConnView, stem: string): string {
    return `${stem}~${++c.nextId}`.slice(-64);
  }

  /**
   * Sends a text frame that holds a valid client message (possibly with extra properties, VER-7),
   * owing the model whatever the spec says it gets. `how`: fragments, annotation.
   */
  async sendMessage(c: ConnView, m: Record<string, unknown>, text: string, how: { pieces?: number; note?: string } = {}): Promise<void> {
    const type = m.type as string;
    const deep = this.tooDeep(text);
    // RATE-4: the first restoreAllowance subscribes after authenticated do not count (a too-deep frame is not a subscribe)
    const exempt = type === 'subscribe' && !deep && c.phase === 'authed' && c.restoreLeft > 0;
    if (exempt) c.restoreLeft--;
    await this.budget(c, text, exempt);
    this.fragments(c, how.pieces);
    const send = () => (how.pieces && how.pieces > 1 ? c.conn.sendFragments(text, how.pieces, how.note) : c.conn.sendText(text, how.note));
    if (deep) {
      // LIMIT-6: error too_deep without requestId or channel, in every state; the message is not
      // processed (a request gets no response, a publish reaches no channel) and the connection stays open.
      send();
      if (type === 'request' && typeof m.id === 'string') c.tooDeepIds.add(m.id);
      c.expects.push({ kind: 'error', code: 'too_deep', why: 'LIMIT-6' });
      return;
    }
    if (c.phase !== 'authed') {
      // AUTH-3: anything but auth before authenticated closes 4400.
      send();
      if (type === 'auth') throw new Error('use auth() for auth messages');
      this.expectClose(c, [CLOSE_CODES.NOT_AUTHENTICATED.code], 'AUTH-3');
      return;
    }
    switch (type) {
      case 'auth': {
        send();
        const user = m.token === this.env.tokens[0] ? 0 : m.token === this.env.tokens[1] ? 1 : null;
        if (user === null) this.expectClose(c, [CLOSE_CODES.UNAUTHORIZED.code], 'AUTH-9');
        else if (user !== c.user) c.expects.push({ kind: 'error', code: 'user_mismatch', why: 'AUTH-9' });
        else c.expects.push({ kind: 'authenticated', reauth: true });
        return;
      }
      case 'ping':
        send();
        c.expects.push({ kind: 'pong' });
        return;
      case 'request':
        return this.request(c, m, text, send);
      case 'subscribe':
        return this.subscribe(c, m.channel as string, m.since as Position | undefined, send);
      case 'unsubscribe': {
        const ch = m.channel as string;
        send();
        const v = c.chans.get(ch);
        if (v?.held) {
          v.held = false;
          v.base = null; // what was published before the ack may or may not arrive
          c.held--;
        }
        c.expects.push({ kind: 'unsubscribed', channel: ch });
        return;
      }
      default:
        throw new Error(`unknown client message type ${type}`);
    }
  }

  private request(c: ConnView, m: Record<string, unknown>, text: string, send: () => void): void {
    const id = m.id as string;
    const action = m.action as string;
    // revision 1.1 (no maxDepth advertised): a deep frame may be refused; with maxDepth, sendMessage already judged it
    const deep = this.params.maxDepth === undefined && nestingDepth(text) > REFUSABLE_DEPTH;
    const existing = c.pending.get(id);
    if (existing) {
      // REQ-4: a pending id. Sent only when its answer cannot be on its way yet (a sleep far from done).
      if (existing.notBefore !== undefined && existing.notBefore - Date.now() > 50 && !existing.mayBeRefused) {
        send();
        c.expects.push({ kind: 'error', code: 'duplicate_request_id', requestId: id, why: 'REQ-4' });
      } else this.transcript.add(c.label, '*', `(not sent: id ${id} may be answered already)`);
      return;
    }
    send();
    const hasPayload = 'payload' in m;
    const payload = m.payload;
    const p: PendingRequest = { id, action, sentAt: Date.now(), payload, hasPayload, mayFail: [], mustFail: false, generic: false, refusable: deep, mayBeRefused: false };
    const max = this.params.maxPendingRequests;
    if (max !== undefined && c.pending.size >= max) {
      // LIMIT-5: strict when at least max requests are surely still pending at the server (sleeps far
      // from done, not themselves possibly refused); otherwise either outcome.
      const sure = [...c.pending.values()].filter((q) => q.notBefore !== undefined && q.notBefore - Date.now() > 50 && !q.mayBeRefused).length;
      if (sure >= max) {
        c.expects.push({ kind: 'error', code: 'too_many_requests', requestId: id, why: 'LIMIT-5' });
        return;
      }
      p.mayBeRefused = true;
    }
    if (action === 'echo') {
      if (deep) p.mayFail.push('invalid_payload');
    } else if (action === 'publish') {
      const o = payload as { channel?: unknown; data?: unknown } | null;
      const valid = typeof o === 'object' && o !== null && !Array.isArray(o) && isChannelName(o.channel) && 'data' in o;
      if (!valid) {
        p.mayFail.push('invalid_payload');
        p.mustFail = true;
      } else {
        const ch = o.channel as string;
        if (this.foreignUserChannel(c.user, ch)) {
          p.mayFail.push('forbidden'); // SUB-4, CONF-2
          p.mustFail = true;
        }
        if (deep) p.mayFail.push('invalid_payload');
        if (!this.isRunChannel(ch) && !ch.startsWith('user:') && !ch.startsWith('uid:')) p.generic = true;
      }
    } else if (action === 'sleep') {
      const ms = (payload as { ms?: unknown } | null)?.ms;
      if (typeof payload === 'object' && payload !== null && !Array.isArray(payload) && typeof ms === 'number' && Number.isInteger(ms) && ms >= 0 && ms <= 60_000) {
        p.notBefore = p.sentAt + ms;
      } else {
        p.mayFail.push('invalid_payload');
        p.mustFail = true;
      }
    } else {
      p.mayFail.push('unknown_action');
      p.mustFail = true;
    }
    c.pending.set(id, p);
  }

  isRunChannel(ch: string): boolean {
    return ch.startsWith(`${this.runTag}.`);
  }

  private subscribe(c: ConnView, ch: string, since: Position | undefined, send: () => void): void {
    send();
    const other = this.userChannel(c.user === 0 ? 1 : 0);
    if (this.foreignUserChannel(c.user, ch)) {
      // SUB-4, SUB-12: user:<id> (and uid:<hash>) belongs to <id> alone.
      c.expects.push({ kind: 'error', code: 'forbidden', channel: ch, why: 'SUB-4' });
      return;
    }
    void other;
    let v = c.chans.get(ch);
    if (!v) c.chans.set(ch, (v = { held: false, live: false, base: null, last: null, replayLeft: 0, nextReplay: 0, received: new Set() }));
    if (v.held) {
      c.expects.push({ kind: 'subscribed', channel: ch, since, starts: false }); // SUB-3
      return;
    }
    if (c.held >= this.params.maxSubscriptions) {
      c.expects.push({ kind: 'error', code: 'subscription_limit', channel: ch, why: 'LIMIT-4' });
      return;
    }
    v.held = true;
    c.held++;
    c.expects.push({ kind: 'subscribed', channel: ch, since, starts: true, knownHead: this.head(ch) });
  }

  /**
   * LIMIT-7: bytes of the pushes after `since` up to `head` (UTF-8 length of each serialized `data`);
   * 0 when historyBytes is not advertised; null when the model does not know every one of them.
   */
  historyBytesAfter(ch: string, since: Position, head: Position): number | null {
    if (this.params.historyBytes === undefined) return 0;
    const map = this.accepted.get(ch);
    let sum = 0;
    for (let o = since.offset + 1; o <= head.offset; o++) {
      const k = `${head.epoch}/${o}`;
      if (!map?.has(k)) return null;
      sum += Buffer.byteLength(JSON.stringify(map.get(k) ?? null));
    }
    return sum;
  }

  /** The newest accepted position of a channel the model knows. */
  head(ch: string): Position | undefined {
    let best: Position | undefined;
    for (const k of this.accepted.get(ch)?.keys() ?? []) {
      const i = k.lastIndexOf('/');
      const p = { epoch: k.slice(0, i), offset: Number(k.slice(i + 1)) };
      if (!best || p.offset > best.offset) best = p;
    }
    return best;
  }

  /** A frame the server must answer with error `code` (ERR-1, ERR-2, VER-6) and stay open. */
  async sendBad(c: ConnView, code: string, rule: string, send: () => void, text?: string, pieces?: number): Promise<void> {
    await this.budget(c, text);
    this.fragments(c, pieces);
    const type = text === undefined ? undefined : unknownType(text);
    if (type !== undefined && type.length > 16) c.noEcho.push(type);
    send();
    c.expects.push({ kind: 'error', code, why: rule });
  }

  /** A frame after which the server must close the connection with one of `codes`. */
  async sendFatal(c: ConnView, codes: number[], rule: string, send: () => void, text?: string): Promise<void> {
    await this.budget(c, text);
    send();
    this.expectClose(c, codes, rule);
  }

  // --- receiving ----------------------------------------------------------------------------------

  private onText(c: ConnView, text: string): void {
    this.received++;
    if (this.failure || c.dead) return; // a connection we closed (or that closed): its last frames are not judged
    if (text === '\u0000binary') return this.fail('VER-5', 'the server sent a binary frame', c);
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch {
      return this.fail('VER-5', 'the server sent a frame that is not JSON', c);
    }
    const v = validateServerMessage(value);
    if (!v.ok) return this.fail('VER-5', `the server sent a message that fails the schema: ${v.error}`, c);
    for (const s of c.noEcho) {
      if (text.includes(JSON.stringify(s).slice(1, -1))) return this.fail('LOG-2', `the server echoed a client-sent type of ${s.length} characters (where a token could be)`, c);
    }
    try {
      const before = this.failure;
      this.check(c, v.message);
      // before authentication the only answers are the errors of bad frames: anything else breaks the
      // rule of the close the model expects (AUTH-3: 4400, AUTH-4: 4401)
      if (!before && this.failure && c.phase !== 'authed' && c.expectClose) {
        const f = this.failure as FuzzFailure;
        this.failure = new FuzzFailure(closeRule(c.expectClose[0]!), `${f.message.replace(/^[A-Z]+-\d+: /, '')} (before authentication: expected close ${c.expectClose.join('/')})`);
      }
    } catch (e) {
      this.fail('FUZZER', `internal error in the model: ${(e as Error).stack}`, c);
    }
    this.poke();
  }

  private check(c: ConnView, m: ServerMessage): void {
    const closing = c.expectClose !== null || c.dead;
    switch (m.type) {
      case 'authenticated': {
        const i = c.expects.findIndex((e) => e.kind === 'authenticated');
        if (i < 0) return this.fail('AUTH-5', 'an authenticated nobody asked for', c);
        const e = c.expects.splice(i, 1)[0] as Extract<Expect, { kind: 'authenticated' }>;
        if (m.userId !== this.env.userIds[c.user]) return this.fail('AUTH-5', `authenticated as ${m.userId}, expected ${this.env.userIds[c.user]}`, c);
        if (e.reauth) {
          if (m.sessionId !== c.sessionId) return this.fail('AUTH-9', 'a re-authentication changed the sessionId', c);
        } else {
          c.sessionId = m.sessionId;
          c.phase = 'authed';
          c.restoreLeft = this.params.restoreAllowance ?? 0; // RATE-4: per connection, not renewed by a re-auth
          if (this.params.sessionPolicy === 'single') {
            // SESS-1: the older session of the same user is closed with 4002.
            for (const o of this.all) {
              if (o !== c && !o.dead && o.user === c.user && o.phase === 'authed' && o.expectClose === null) this.expectClose(o, [CLOSE_CODES.SESSION_REPLACED.code], 'SESS-1');
            }
          }
        }
        const { tokenExpiresAt: _t, ...params } = m.params;
        if (!isDeepStrictEqual(params, this.params)) return this.fail('AUTH-5', 'the session params changed between sessions', c);
        return;
      }
      case 'response': {
        const p = c.pending.get(m.requestId);
        if (!p && c.tooDeepIds.has(m.requestId)) return this.fail('LIMIT-6', `a response for ${JSON.stringify(m.requestId)}, a request nested deeper than maxDepth (${this.params.maxDepth}) that must not be processed`, c);
        if (!p) return this.fail('REQ-1', `a response for ${JSON.stringify(m.requestId)}, which is not pending (a second response, or one never asked for)`, c);
        c.pending.delete(m.requestId);
        if (p.notBefore !== undefined && Date.now() < p.notBefore - 2) return this.fail('CONF-3', `sleep answered after ${Date.now() - p.sentAt} ms, before its ${p.notBefore - p.sentAt} ms`, c);
        if (!m.success) {
          if (p.generic || p.mayFail.includes(m.error.code)) return;
          return this.fail(ruleForFailure(p.action, m.error.code), `${p.action} failed with ${m.error.code}${p.mayFail.length ? `, expected success or ${p.mayFail.join('/')}` : ', expected success'}`, c);
        }
        if (p.mustFail && !p.generic) return this.fail(ruleForFailure(p.action, p.mayFail[0]!), `${p.action} succeeded, expected ${p.mayFail.join('/')}`, c);
        if (p.action === 'echo') {
          const want = p.hasPayload ? p.payload : undefined;
          const got = 'data' in m ? m.data : undefined;
          if (!(jsonEqual(want, got) || (want === undefined && got === null))) return this.fail('CONF-1', 'echo answered other data than its payload', c);
        } else if (p.action === 'sleep' && p.notBefore !== undefined) {
          const ms = (p.payload as { ms: number }).ms;
          if (!jsonEqual(m.data, { slept: ms })) return this.fail('CONF-3', `sleep answered ${JSON.stringify(m.data)?.slice(0, 60)}, expected {"slept":${ms}}`, c);
        } else if (p.action === 'publish') {
          const o = p.payload as { channel: string; data: unknown };
          const pos = (m.data as { position?: Position } | undefined)?.position;
          if (!pos || typeof pos.epoch !== 'string' || !Number.isInteger(pos.offset) || pos.offset < 1) return this.fail('CONF-2', 'publish answered without a position', c);
          let map = this.accepted.get(o.channel);
          if (!map) this.accepted.set(o.channel, (map = new Map()));
          if (map.has(key(pos))) return this.fail('SUB-5', `two accepted publishes got the same position ${key(pos)}`, c);
          map.set(key(pos), o.data);
        }
        return;
      }
      case 'error': {
        if (m.requestId !== undefined && (m.code === 'duplicate_request_id' || m.code === 'too_many_requests')) {
          const i = c.expects.findIndex((e) => e.kind === 'error' && e.code === m.code && e.requestId === m.requestId);
          const refusable = m.code === 'too_many_requests' ? c.pending.get(m.requestId) : undefined;
          if (i < 0 && refusable?.mayBeRefused) {
            c.pending.delete(m.requestId);
            return;
          }
          if (i < 0) return this.fail(m.code === 'duplicate_request_id' ? 'REQ-4' : 'LIMIT-5', `error ${m.code} for ${m.requestId}, not expected`, c);
          c.expects.splice(i, 1);
          if (m.code === 'too_many_requests') c.pending.delete(m.requestId); // LIMIT-5: not executed, no response
          return;
        }
        if (m.channel !== undefined) {
          const i = c.expects.findIndex((e) => 'channel' in e && e.channel === m.channel);
          const e = c.expects[i];
          if (!e || e.kind !== 'error' || e.code !== m.code) {
            return this.fail(ruleForError(m.code), `error ${m.code} for channel ${m.channel}, expected ${e ? describeExpect(e) : 'nothing'}`, c);
          }
          c.expects.splice(i, 1);
          return;
        }
        const i = c.expects.findIndex((e) => e.kind === 'error' && e.code === m.code && e.channel === undefined && e.requestId === undefined);
        if (i >= 0) {
          c.expects.splice(i, 1);
          return;
        }
        if (m.code === 'invalid_message') {
          // a request nested deeper than REFUSABLE_DEPTH may be refused before dispatch
          const deep = [...c.pending.values()].find((p) => p.refusable);
          if (deep) {
            c.pending.delete(deep.id);
            return;
          }
        }
        if (closing) return;
        const owedErrors = c.expects.filter((e): e is Extract<Expect, { kind: 'error' }> => e.kind === 'error' && e.channel === undefined && e.requestId === undefined);
        const owed = owedErrors.map(describeExpect);
        return this.fail(owedErrors[0]?.why ?? ruleForError(m.code), `unexpected error ${m.code} (${m.message.slice(0, 80)})${owed.length ? `; owed: ${owed.join(', ')}` : ''}`, c);
      }
      case 'pong': {
        const i = c.expects.findIndex((e) => e.kind === 'pong');
        if (i < 0) return this.fail('HB-2', 'a pong nobody asked for', c);
        c.expects.splice(i, 1);
        return;
      }
      case 'subscribed':
        return this.onSubscribed(c, m);
      case 'unsubscribed': {
        const i = c.expects.findIndex((e) => 'channel' in e && e.channel === m.channel);
        const e = c.expects[i];
        if (!e || e.kind !== 'unsubscribed') return this.fail('SUB-7', `unsubscribed ${m.channel}, expected ${e ? describeExpect(e) : 'nothing for that channel'}`, c);
        c.expects.splice(i, 1);
        const v = c.chans.get(m.channel);
        if (v) {
          // SUB-7: no push of the channel after this, until a subscribed that starts a new subscription
          v.live = false;
          v.replayLeft = 0;
        }
        return;
      }
      case 'push':
        return this.onPush(c, m);
      case 'token_expiring':
        return; // the fuzz tokens do not expire soon; nothing to check
    }
  }

  private onSubscribed(c: ConnView, m: Extract<ServerMessage, { type: 'subscribed' }>): void {
    const i = c.expects.findIndex((e) => 'channel' in e && e.channel === m.channel);
    const e = c.expects[i];
    if (!e || e.kind !== 'subscribed') return this.fail(e?.kind === 'error' ? ruleForError(e.code) : 'SUB-2', `subscribed ${m.channel}, expected ${e ? describeExpect(e) : 'nothing for that channel'}`, c);
    c.expects.splice(i, 1);
    const v = c.chans.get(m.channel)!;
    const since = e.since;
    if (since === undefined && m.resume !== undefined) return this.fail('SUB-2', `resume "${m.resume}" on a subscribe without since`, c);
    if (since !== undefined && m.resume === undefined) return this.fail('SUB-8', 'no resume verdict on a subscribe with since', c);
    if (!e.starts) {
      // SUB-3: acknowledged again, nothing replayed.
      if (m.resume === 'replayed' && m.replayed !== 0) return this.fail('SUB-3', `a subscribe of a channel already subscribed replayed ${m.replayed} pushes`, c);
      return;
    }
    const head = m.position;
    if (e.knownHead && head.epoch === e.knownHead.epoch && head.offset < e.knownHead.offset) {
      return this.fail('SUB-2', `subscribed at ${key(head)}, before the accepted publish ${key(e.knownHead)}`, c);
    }
    v.live = true;
    v.received = new Set();
    if (since !== undefined) {
      const byCount = since.epoch === head.epoch && since.offset <= head.offset && head.offset - since.offset <= this.params.historySize;
      // LIMIT-7 (revision 1.2): with historyBytes advertised, the pushes after since must also fit in it
      // (UTF-8 length of each push's serialized data); when the model does not know every one of them, both verdicts pass.
      const bytes = byCount ? this.historyBytesAfter(m.channel, since, head) : 0;
      const inside = byCount && bytes !== null && bytes <= (this.params.historyBytes ?? Infinity);
      const uncertain = byCount && bytes === null;
      const why = `head ${key(head)}, historySize ${this.params.historySize}${this.params.historyBytes !== undefined ? `, ${bytes ?? 'unknown'} of historyBytes ${this.params.historyBytes}` : ''}`;
      if (inside && m.resume !== 'replayed') return this.fail('SUB-8', `since ${key(since)} lies inside the history (${why}) but resume is "${m.resume}"`, c);
      if (!inside && !uncertain && m.resume === 'replayed') return this.fail(byCount ? 'LIMIT-7' : 'SUB-9', `since ${key(since)} cannot be replayed (${why}) but resume is "replayed"`, c);
      if (m.resume === 'replayed') {
        if (m.replayed !== head.offset - since.offset) return this.fail('SUB-8', `replayed ${m.replayed}, expected ${head.offset - since.offset} (since ${key(since)}, head ${key(head)})`, c);
        v.replayLeft = m.replayed;
        v.nextReplay = since.offset + 1;
        v.base = since;
        v.last = since;
        return;
      }
    }
    v.replayLeft = 0;
    v.base = head;
    v.last = head;
  }

  private onPush(c: ConnView, m: Extract<ServerMessage, { type: 'push' }>): void {
    const v = c.chans.get(m.channel);
    if (!v || !v.live) {
      if (c.expects.some((e) => e.kind === 'subscribed' && e.channel === m.channel && e.starts)) return this.fail('SUB-11', `a push of ${m.channel} before its subscribed`, c);
      return this.fail('SUB-7', `a push of ${m.channel}, which this connection does not subscribe to${v ? ' (any more)' : ''}`, c);
    }
    const p = m.position;
    if (v.replayLeft > 0) {
      if (m.replay !== true) return this.fail('SUB-8', `a push ${key(p)} not flagged replay while ${v.replayLeft} replayed pushes are owed`, c);
      if (p.offset !== v.nextReplay || p.epoch !== v.base?.epoch) return this.fail('SUB-8', `replayed push ${key(p)}, expected offset ${v.nextReplay}`, c);
      v.replayLeft--;
      v.nextReplay++;
    } else if (m.replay === true) {
      return this.fail('SUB-8', `a push ${key(p)} flagged replay after the replay ended`, c);
    }
    if (v.last && p.epoch === v.last.epoch && p.offset <= v.last.offset) {
      return this.fail('SUB-6', `push ${key(p)} after ${key(v.last)}: positions must grow (a repeat or a step back)`, c);
    }
    v.last = p;
    v.received.add(key(p));
    const data = this.accepted.get(m.channel)?.get(key(p));
    if (data !== undefined || this.accepted.get(m.channel)?.has(key(p))) {
      if (!jsonEqual(data, m.data)) return this.fail('CONF-2', `push ${key(p)} carries other data than was published`, c);
    }
  }

  private onClose(c: ConnView, info: CloseInfo): void {
    this.poke();
    if (c.dead && info.byUs) return;
    const wasDead = c.dead;
    if (!wasDead) this.forgive(c);
    c.dead = true;
    if (this.slots[c.slot] === c) {
      for (const [ch, v] of c.chans) if (v.last) this.lastSeen[c.slot]!.set(ch, v.last);
    }
    if (this.failure || wasDead) return;
    if (info.byUs) return;
    // ERR-6: the reason is empty or the code's registry name [;retry=ms].
    if (info.reason !== '') {
      const r = parseCloseReason(info.reason);
      const reg = closeCodeInfo(info.code);
      if (Buffer.byteLength(info.reason) > 123 || (reg && r.name !== reg.name)) return this.fail('ERR-6', `close ${info.code} with reason ${JSON.stringify(info.reason)}`, c);
    }
    if (c.expectClose?.includes(info.code)) return;
    if (c.mayClose.includes(info.code)) return; // LIMIT-8
    const expected = c.expectClose ? `expected ${c.expectClose.join('/')}` : 'the connection should have stayed open';
    return this.fail(c.expectClose ? ruleOfExpectedClose(c.expectClose) : closeRule(info.code), `the server closed with ${info.code}${info.reason ? ` ${info.reason}` : ''}; ${expected}`, c);
  }

  // --- settling and end of run ----------------------------------------------------------------------

  /** What the model is still owed (empty when settled). */
  owed(): string[] {
    const out: string[] = [];
    for (const c of this.all) {
      if (c.dead) continue;
      if (c.expectClose || c.conn.serverClosing) {
        const codes = [...(c.expectClose ?? []), ...c.mayClose];
        out.push(`${c.label}: close ${codes.length ? codes.join('/') : '(started by the server)'}`);
        continue;
      }
      for (const e of c.expects) out.push(`${c.label}: ${describeExpect(e)}`);
      for (const p of c.pending.values()) out.push(`${c.label}: response to ${p.action} ${p.id}`);
      for (const [ch, v] of c.chans) {
        if (v.replayLeft > 0) out.push(`${c.label}: ${v.replayLeft} replayed pushes of ${ch}`);
        if (!v.held || !v.live || !v.base) continue;
        for (const [k] of this.accepted.get(ch) ?? []) {
          const i = k.lastIndexOf('/');
          if (k.slice(0, i) === v.base.epoch && Number(k.slice(i + 1)) > v.base.offset && !v.received.has(k)) out.push(`${c.label}: push ${k} of ${ch} (accepted, SUB-6/CONF-2)`);
        }
      }
    }
    return out;
  }

  /** Waits until every answer owed has arrived; a failure names what is missing. */
  async settle(): Promise<void> {
    this.assertOk();
    const extra = Math.max(0, ...this.all.flatMap((c) => [...c.pending.values()].map((p) => (p.notBefore ?? 0) - Date.now())));
    let ok = await this.waitFor(() => this.owed().length === 0, this.env.settleMs + extra);
    this.assertOk();
    // a close the server has started (its close frame arrived) may end the socket only after a grace
    // period (LIMIT-8: the reference stops reading a peer over budget and terminates it after 1 s)
    if (!ok && this.all.some((c) => !c.dead && c.conn.serverClosing)) ok = await this.waitFor(() => this.owed().length === 0, 3_000);
    this.assertOk();
    if (!ok) {
      const owed = this.owed();
      const rule = owed.some((o) => o.includes('response to')) ? 'REQ-1' : owed.some((o) => o.includes('push')) ? 'SUB-6' : owed.some((o) => o.includes('close')) ? ruleOfOwedClose(owed)
        : owed.some((o) => o.includes('(re-auth)')) ? 'AUTH-9' : owed.some((o) => o.includes('authenticated')) ? 'AUTH-5' : owed.some((o) => o.includes('subscribed')) ? 'SUB-2'
          : owed.some((o) => o.includes('pong')) ? 'HB-2' : (/\(([A-Z]+-\d+)\)/.exec(owed[0] ?? '')?.[1] ?? 'ERR-2');
      this.fail(rule, `still owed after ${this.env.settleMs} ms: ${owed.slice(0, 6).join('; ')}${owed.length > 6 ? ` (+${owed.length - 6} more)` : ''}`);
      this.assertOk();
    }
    // every push of a run channel was an accepted publish
    for (const c of this.all) {
      for (const [ch, v] of c.chans) {
        if (!this.isRunChannel(ch)) continue;
        const unknown = [...v.received].filter((k) => !this.accepted.get(ch)?.has(k));
        if (unknown.length > (this.inDoubt.get(ch) ?? 0)) this.fail('SUB-5', `${c.label}: push ${unknown[0]} of ${ch} matches no accepted publish`);
      }
    }
    this.assertOk();
  }

  /** End of a run: settle, close everything, and prove the server still serves a fresh connection (ERR-4). */
  async finish(): Promise<void> {
    try {
      await this.settle();
      // a ping on every open connection, answered after whatever the server still had to send it: a
      // push that should not come (SUB-7, SUB-11) arrives before its pong
      for (const c of this.all) if (!c.dead && c.expectClose === null && c.phase === 'authed') await this.sendMessage(c, { type: 'ping' }, '{"type":"ping"}', { note: 'barrier' });
      await this.settle();
    } finally {
      for (const c of this.all) if (!c.dead) this.retire(c);
      await Promise.race([Promise.all(this.all.map((c) => c.conn.closed)), new Promise((r) => setTimeout(r, 1_000).unref())]);
    }
    const probe = await this.open(0, 0);
    await this.auth(probe, this.env.tokens[0], 0);
    await this.sendMessage(probe, { type: 'ping' }, '{"type":"ping"}');
    await this.settle();
    this.retire(probe);
  }

  /** The start of every run: slot 0 authenticated as user 1, slot 1 as user 2. */
  async setup(): Promise<void> {
    this.transcript.add('--', '*', '# setup: connect slot 0 as user 1, slot 1 as user 2');
    for (const u of [0, 1] as const) {
      const c = await this.open(u, u);
      await this.auth(c, this.env.tokens[u], u);
    }
  }

  /** Tears down without checks (after a failure). */
  async abort(): Promise<void> {
    for (const c of this.all) {
      c.dead = true;
      c.conn.terminate();
    }
  }
}

/** The `type` of a JSON object frame when it is a string (undefined otherwise). */
function unknownType(text: string): string | undefined {
  try {
    const v = JSON.parse(text) as unknown;
    const t = typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as { type?: unknown }).type : undefined;
    return typeof t === 'string' ? t : undefined;
  } catch {
    return undefined;
  }
}

function describeExpect(e: Expect): string {
  switch (e.kind) {
    case 'error': return `error ${e.code}${e.requestId ? ` for ${e.requestId}` : ''}${e.channel ? ` for ${e.channel}` : ''} (${e.why})`;
    case 'subscribed': return `subscribed ${e.channel}${e.since ? ` (since ${key(e.since)})` : ''}`;
    case 'unsubscribed': return `unsubscribed ${e.channel}`;
    case 'pong': return 'pong';
    case 'authenticated': return e.reauth ? 'authenticated (re-auth)' : 'authenticated';
  }
}

function ruleForError(code: string): string {
  return ({
    invalid_json: 'ERR-1', invalid_message: 'ERR-2', too_deep: 'LIMIT-6', binary_not_supported: 'VER-6', duplicate_request_id: 'REQ-4', forbidden: 'SUB-4',
    subscription_limit: 'LIMIT-4', too_many_requests: 'LIMIT-5', user_mismatch: 'AUTH-9', internal_error: 'ERR-4',
  } as Record<string, string>)[code] ?? 'ERR-3';
}

function ruleForFailure(action: string, code: string): string {
  if (code === 'unknown_action') return 'REQ-2';
  if (code === 'internal_error') return 'ERR-4';
  return action === 'echo' ? 'CONF-1' : action === 'publish' ? 'CONF-2' : action === 'sleep' ? 'CONF-3' : 'REQ-8';
}

function ruleOfExpectedClose(codes: number[]): string {
  return closeRule(codes[0]!);
}

function ruleOfOwedClose(owed: string[]): string {
  const m = /close (\d+)/.exec(owed.find((o) => o.includes('close')) ?? '');
  return m ? closeRule(Number(m[1])) : 'ERR-5';
}
