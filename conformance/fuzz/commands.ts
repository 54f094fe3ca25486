/**
 * The commands of model-based fuzzing (fast-check `commands`, run by `asyncModelRun`): what a client
 * population does — connect, authenticate, subscribe, publish, request, ping, re-authenticate, send bad
 * frames, disconnect and resume — over SLOTS connections and two users. A command carries abstract
 * values only (slot, channel index, depth); what they mean against a server (its limits, its user ids)
 * is decided when the command runs, from the advertised params, so a seed replays the same commands
 * against any server.
 */
import fc from 'fast-check';
import type { Position } from '../../schemas/v1/index.js';
import { arbitraryFor, CLIENT_TYPES, jsonValue, mutatedFrame, notAMessage, notJson, validMessage, type MutatedFrame } from './schema-arb.js';
import { SLOTS, type ConnView, type World } from './world.js';

type Cmd = fc.AsyncCommand<World, World, false>;

const CHANNELS = ['a', 'b', 'c', 'd'] as const;
/** 0..3: channels of the run; 4: the user's own channel; 5: the other user's channel (SUB-4) */
const chanIndex = fc.oneof({ weight: 3, arbitrary: fc.integer({ min: 0, max: 1 }) }, { weight: 2, arbitrary: fc.integer({ min: 0, max: 5 }) });

function channelName(w: World, c: ConnView, i: number): string {
  if (i < CHANNELS.length) return w.channel(CHANNELS[i]!);
  const own = w.userChannel(i === 4 ? c.user : c.user === 0 ? 1 : 0);
  return own ?? w.channel('u');
}

/**
 * Payload data: a small JSON value, an array nested `depth` levels (clamped to fit maxPayloadBytes;
 * as often around maxDepth as far beyond it), or a string of about `size` bytes (clamped likewise;
 * history bounded by bytes, LIMIT-7).
 */
type Data = { json: unknown } | { depth: number } | { size: number };
const dataArb: fc.Arbitrary<Data> = fc.oneof(
  { weight: 4, arbitrary: jsonValue.map((json) => ({ json })) },
  { weight: 1, arbitrary: fc.oneof(fc.integer({ min: 1, max: 40 }), fc.integer({ min: 1, max: 40_000 })).map((depth) => ({ depth })) },
  { weight: 1, arbitrary: fc.integer({ min: 1, max: 70_000 }).map((size) => ({ size })) },
);

function dataText(w: World, d: Data): string {
  if ('json' in d) return JSON.stringify(d.json) ?? 'null';
  if ('size' in d) return `"${'x'.repeat(Math.max(0, Math.min(d.size, w.params.maxPayloadBytes - 300)))}"`;
  const depth = Math.max(1, Math.min(d.depth, Math.floor((w.params.maxPayloadBytes - 200) / 2)));
  return `${'['.repeat(depth)}${']'.repeat(depth)}`;
}

function showData(d: Data): string {
  if ('json' in d) {
    const s = JSON.stringify(d.json) ?? 'null';
    return s.length > 40 ? `${s.slice(0, 40)}…` : s;
  }
  if ('size' in d) return `<string of ${d.size} bytes>`;
  return `<array nested ${d.depth} deep>`;
}

const idStem = fc.stringMatching(/^[A-Za-z0-9]{1,6}$/);

/** Sends a request built from raw payload text (deep payloads are never re-serialized by the fuzzer). */
async function sendRequest(w: World, c: ConnView, stem: string, action: string, payloadText: string | undefined, how: { pieces?: number; note?: string } = {}): Promise<string> {
  const id = w.nextRequestId(c, stem);
  const text = `{"type":"request","id":${JSON.stringify(id)},"action":${JSON.stringify(action)}${payloadText === undefined ? '' : `,"payload":${payloadText}`}}`;
  const m: Record<string, unknown> = { type: 'request', id, action };
  if (payloadText !== undefined) m.payload = JSON.parse(payloadText);
  await w.sendMessage(c, m, text, how);
  return id;
}

abstract class SlotCmd implements Cmd {
  constructor(readonly slot: number) {}
  check(w: Readonly<World>): boolean {
    return (w as World).authed(this.slot) !== undefined;
  }
  async run(w: World): Promise<void> {
    const c = w.authed(this.slot);
    if (!c) return;
    await this.go(w, c);
    await w.yieldIo();
  }
  abstract go(w: World, c: ConnView): Promise<void>;
  abstract toString(): string;
}

class Connect implements Cmd {
  constructor(readonly slot: number, readonly user: 0 | 1, readonly garbage: MutatedFrame | null) {}
  check(): boolean {
    return true;
  }
  async run(w: World): Promise<void> {
    const c = await w.open(this.slot, this.user);
    if (this.garbage) {
      // AUTH-3: frames that are not valid messages get the ERR-1/ERR-2 errors in every state.
      const g = this.garbage;
      await w.sendBad(c, g.verdict === 'invalid_json' ? 'invalid_json' : 'invalid_message', g.verdict === 'invalid_json' ? 'ERR-1' : 'ERR-2', () => c.conn.sendText(g.text, g.how), g.text);
    }
    await w.auth(c, w.env.tokens[this.user], this.user);
  }
  toString(): string {
    return `connect slot ${this.slot} as user ${this.user + 1}${this.garbage ? ` after a bad frame (${this.garbage.how})` : ''}`;
  }
}

class BadToken implements Cmd {
  constructor(readonly slot: number, readonly token: string) {}
  check(): boolean {
    return true;
  }
  async run(w: World): Promise<void> {
    const c = await w.open(this.slot, 0);
    if (this.token === w.env.tokens[0] || this.token === w.env.tokens[1]) return;
    await w.auth(c, this.token, null); // AUTH-4
    await w.yieldIo();
  }
  toString(): string {
    return `connect slot ${this.slot} with an unknown token`;
  }
}

class Early implements Cmd {
  constructor(readonly slot: number, readonly message: Record<string, unknown>) {}
  check(): boolean {
    return true;
  }
  async run(w: World): Promise<void> {
    const c = await w.open(this.slot, 0);
    await w.sendMessage(c, this.message, JSON.stringify(this.message)); // AUTH-3: 4400
    await w.yieldIo();
  }
  toString(): string {
    return `connect slot ${this.slot} and send ${this.message.type} before auth`;
  }
}

type SinceMode = 'none' | 'last' | 'other-epoch' | 'far-ahead' | { delta: number };
const sinceArb: fc.Arbitrary<SinceMode> = fc.oneof(
  { weight: 4, arbitrary: fc.constant('none' as const) },
  { weight: 3, arbitrary: fc.constant('last' as const) },
  { weight: 1, arbitrary: fc.constantFrom('other-epoch' as const, 'far-ahead' as const) },
  { weight: 3, arbitrary: fc.integer({ min: -6, max: -1 }).map((delta) => ({ delta })) },
  { weight: 1, arbitrary: fc.integer({ min: -12, max: 3 }).map((delta) => ({ delta })) },
);

function sinceFor(w: World, c: ConnView, ch: string, mode: SinceMode): Position | undefined {
  if (mode === 'none') return undefined;
  const last = c.chans.get(ch)?.last ?? w.lastSeen[c.slot]!.get(ch) ?? w.head(ch) ?? { epoch: 'unknown-epoch', offset: 0 };
  if (mode === 'last') return last;
  if (mode === 'other-epoch') return { epoch: `${last.epoch}x`.slice(-64), offset: last.offset };
  if (mode === 'far-ahead') return { epoch: last.epoch, offset: last.offset + 1_000_000 };
  return { epoch: last.epoch, offset: Math.max(0, last.offset + mode.delta) };
}

class Subscribe extends SlotCmd {
  constructor(slot: number, readonly chan: number, readonly since: SinceMode, readonly wait: boolean) {
    super(slot);
  }
  async go(w: World, c: ConnView): Promise<void> {
    const ch = channelName(w, c, this.chan);
    const since = sinceFor(w, c, ch, this.since);
    const m = { type: 'subscribe', channel: ch, ...(since ? { since } : {}) };
    await w.sendMessage(c, m, JSON.stringify(m));
    if (this.wait) await w.waitFor(() => !c.expects.some((e) => 'channel' in e && e.channel === ch) || c.dead, w.env.settleMs);
  }
  toString(): string {
    return `slot ${this.slot}: subscribe ${chanLabel(this.chan)}${this.since === 'none' ? '' : ` since ${typeof this.since === 'string' ? this.since : `last${this.since.delta >= 0 ? '+' : ''}${this.since.delta}`}`}${this.wait ? ', wait for its answer' : ''}`;
  }
}

function chanLabel(i: number): string {
  return i < CHANNELS.length ? CHANNELS[i]! : i === 4 ? 'user:<self>' : 'user:<other>';
}

class Unsubscribe extends SlotCmd {
  constructor(slot: number, readonly chan: number) {
    super(slot);
  }
  async go(w: World, c: ConnView): Promise<void> {
    const m = { type: 'unsubscribe', channel: channelName(w, c, this.chan) };
    await w.sendMessage(c, m, JSON.stringify(m));
  }
  toString(): string {
    return `slot ${this.slot}: unsubscribe ${chanLabel(this.chan)}`;
  }
}

class Publish extends SlotCmd {
  constructor(slot: number, readonly chan: number, readonly data: Data, readonly stem: string, readonly wait: boolean) {
    super(slot);
  }
  async go(w: World, c: ConnView): Promise<void> {
    const id = await sendRequest(w, c, this.stem, 'publish', `{"channel":${JSON.stringify(channelName(w, c, this.chan))},"data":${dataText(w, this.data)}}`);
    if (this.wait) await w.waitFor(() => !c.pending.has(id) || c.dead, w.env.settleMs);
  }
  toString(): string {
    return `slot ${this.slot}: publish ${showData(this.data)} to ${chanLabel(this.chan)} (id ${this.stem}~n)${this.wait ? ', wait for its response' : ''}`;
  }
}

class Echo extends SlotCmd {
  constructor(slot: number, readonly data: Data | null, readonly stem: string, readonly pieces: number) {
    super(slot);
  }
  async go(w: World, c: ConnView): Promise<void> {
    await sendRequest(w, c, this.stem, 'echo', this.data === null ? undefined : dataText(w, this.data), { pieces: this.pieces });
  }
  toString(): string {
    return `slot ${this.slot}: echo ${this.data === null ? '(no payload)' : showData(this.data)} (id ${this.stem}~n)${this.pieces > 1 ? ` in ${this.pieces} fragments` : ''}`;
  }
}

class Sleep extends SlotCmd {
  constructor(slot: number, readonly ms: number, readonly stem: string) {
    super(slot);
  }
  async go(w: World, c: ConnView): Promise<void> {
    await sendRequest(w, c, this.stem, 'sleep', JSON.stringify({ ms: this.ms }));
  }
  toString(): string {
    return `slot ${this.slot}: sleep ${this.ms} ms (id ${this.stem}~n)`;
  }
}

/** REQ-4: a request reusing the id of a pending sleep. */
class DuplicateId extends SlotCmd {
  constructor(slot: number, readonly stem: string) {
    super(slot);
  }
  async go(w: World, c: ConnView): Promise<void> {
    const id = await sendRequest(w, c, this.stem, 'sleep', JSON.stringify({ ms: 150 }));
    const m = { type: 'request', id, action: 'echo', payload: 'again' };
    await w.sendMessage(c, m, JSON.stringify(m));
  }
  toString(): string {
    return `slot ${this.slot}: sleep 150 ms and reuse its id (${this.stem}~n) for an echo`;
  }
}

/** REQ-2, REQ-8: an unknown action or a payload the action refuses. */
class BadRequest extends SlotCmd {
  constructor(slot: number, readonly kind: 'unknown' | 'sleep' | 'publish', readonly payload: unknown, readonly stem: string) {
    super(slot);
  }
  async go(w: World, c: ConnView): Promise<void> {
    const action = this.kind === 'unknown' ? 'no_such_action' : this.kind;
    await sendRequest(w, c, this.stem, action, JSON.stringify(this.payload) ?? 'null');
  }
  toString(): string {
    return `slot ${this.slot}: ${this.kind === 'unknown' ? 'unknown action' : `${this.kind} with payload ${JSON.stringify(this.payload)?.slice(0, 40)}`}`;
  }
}

class Ping extends SlotCmd {
  async go(w: World, c: ConnView): Promise<void> {
    await w.sendMessage(c, { type: 'ping' }, '{"type":"ping"}');
  }
  toString(): string {
    return `slot ${this.slot}: ping`;
  }
}

class ReAuth extends SlotCmd {
  constructor(slot: number, readonly who: 'same' | 'other' | 'unknown') {
    super(slot);
  }
  async go(w: World, c: ConnView): Promise<void> {
    const token = this.who === 'same' ? w.env.tokens[c.user] : this.who === 'other' ? w.env.tokens[c.user === 0 ? 1 : 0] : 'not-a-token-of-this-server';
    const m = { type: 'auth', token };
    await w.sendMessage(c, m, JSON.stringify(m)); // AUTH-9
  }
  toString(): string {
    return `slot ${this.slot}: re-auth with ${this.who === 'same' ? 'its own' : this.who === 'other' ? "the other user's" : 'an unknown'} token`;
  }
}

type BadKind =
  | { k: 'frame'; f: MutatedFrame; pieces: number }
  | { k: 'binary'; bytes: number[] }
  | { k: 'utf8'; bytes: number[] };

class BadFrame extends SlotCmd {
  constructor(slot: number, readonly bad: BadKind) {
    super(slot);
  }
  async go(w: World, c: ConnView): Promise<void> {
    const b = this.bad;
    if (b.k === 'binary') return w.sendBad(c, 'binary_not_supported', 'VER-6', () => c.conn.sendBinary(Buffer.from(b.bytes))); // VER-6
    if (b.k === 'utf8') {
      // VER-5: a text frame must be UTF-8; RFC 6455 fails the connection with 1007.
      return w.sendFatal(c, [1007], 'VER-5', () => c.conn.sendRawText(Buffer.concat([Buffer.from('{"type":"ping","x":"'), Buffer.from(b.bytes), Buffer.from('"}')]), 'invalid UTF-8'));
    }
    const f = b.f;
    const send = () => (b.pieces > 1 ? c.conn.sendFragments(f.text, b.pieces, f.how) : c.conn.sendText(f.text, f.how));
    if (f.verdict === 'valid') {
      const base = f.base!;
      if (base.type === 'auth') return; // auth is exercised by ReAuth/BadToken
      return w.sendMessage(c, base, f.text, { pieces: b.pieces, note: f.how });
    }
    return w.sendBad(c, f.verdict, f.verdict === 'invalid_json' ? 'ERR-1' : 'ERR-2', send, f.text, b.pieces);
  }
  toString(): string {
    const b = this.bad;
    if (b.k === 'binary') return `slot ${this.slot}: binary frame of ${b.bytes.length} bytes`;
    if (b.k === 'utf8') return `slot ${this.slot}: text frame with invalid UTF-8 (${Buffer.from(b.bytes).toString('hex')})`;
    return `slot ${this.slot}: bad frame (${b.f.how}) ${JSON.stringify(b.f.text.slice(0, 60))}${b.pieces > 1 ? ` in ${b.pieces} fragments` : ''}`;
  }
}

/** LIMIT-1: a message of exactly maxPayloadBytes is served; one byte more closes with 1009. */
class Oversize extends SlotCmd {
  constructor(slot: number, readonly over: boolean, readonly pieces: number, readonly stem: string) {
    super(slot);
  }
  async go(w: World, c: ConnView): Promise<void> {
    const id = w.nextRequestId(c, this.stem);
    const shell = `{"type":"request","id":${JSON.stringify(id)},"action":"echo","payload":""}`;
    const size = w.params.maxPayloadBytes + (this.over ? 1 : 0);
    const pad = size - Buffer.byteLength(shell);
    if (pad < 0) return;
    const text = `{"type":"request","id":${JSON.stringify(id)},"action":"echo","payload":"${'x'.repeat(pad)}"}`;
    if (this.over) return w.sendFatal(c, [1009], 'LIMIT-1', () => (this.pieces > 1 ? c.conn.sendFragments(text, this.pieces, `${size} bytes`) : c.conn.sendText(text, `${size} bytes`)), text);
    await w.sendMessage(c, JSON.parse(text) as Record<string, unknown>, text, { pieces: this.pieces, note: `${size} bytes, the limit` });
  }
  toString(): string {
    return `slot ${this.slot}: a message of maxPayloadBytes${this.over ? ' + 1' : ''} bytes${this.pieces > 1 ? ` in ${this.pieces} fragments` : ''}`;
  }
}

/** LIMIT-4: subscribe new channels up to maxSubscriptions, then one more. */
class FillSubscriptions extends SlotCmd {
  override check(w: Readonly<World>): boolean {
    const c = (w as World).authed(this.slot);
    return !!c && w.params.maxSubscriptions - c.held + 1 <= w.env.maxFill;
  }
  async go(w: World, c: ConnView): Promise<void> {
    const n = w.params.maxSubscriptions - c.held + 1;
    for (let i = 0; i < n; i++) {
      const m = { type: 'subscribe', channel: w.channel(`fill${c.slot}-${c.label}-${i}`) };
      await w.sendMessage(c, m, JSON.stringify(m));
    }
  }
  toString(): string {
    return `slot ${this.slot}: subscribe new channels up to maxSubscriptions + 1`;
  }
}

/** LIMIT-5: maxPendingRequests sleeps, then one more request. */
class FillPending extends SlotCmd {
  constructor(slot: number, readonly stem: string) {
    super(slot);
  }
  override check(w: Readonly<World>): boolean {
    const max = w.params.maxPendingRequests;
    return (w as World).authed(this.slot) !== undefined && max !== undefined && max + 1 <= w.env.maxFill;
  }
  async go(w: World, c: ConnView): Promise<void> {
    const max = w.params.maxPendingRequests!;
    for (let i = c.pending.size; i < max; i++) await sendRequest(w, c, this.stem, 'sleep', '{"ms":300}');
    await sendRequest(w, c, this.stem, 'echo', '"one too many"');
  }
  toString(): string {
    return `slot ${this.slot}: sleep 300 ms up to maxPendingRequests, then one request more`;
  }
}

/**
 * SUB-8, SUB-9, LIMIT-7: publishes of the given sizes (percent of maxPayloadBytes) to a channel, each
 * waiting for its position, then a subscribe since `back` positions before the head (after an
 * unsubscribe when the channel is held, so that the verdict is judged): with historyBytes advertised,
 * history is bounded by bytes as well as by count.
 */
class HistoryBytes extends SlotCmd {
  constructor(slot: number, readonly chan: number, readonly sizes: number[], readonly back: number, readonly stem: string) {
    super(slot);
  }
  async go(w: World, c: ConnView): Promise<void> {
    const ch = channelName(w, c, this.chan);
    for (const pct of this.sizes) {
      const bytes = Math.max(1, Math.floor(((w.params.maxPayloadBytes - 300) * pct) / 100));
      const id = await sendRequest(w, c, this.stem, 'publish', `{"channel":${JSON.stringify(ch)},"data":"${'x'.repeat(bytes)}"}`, { note: `data of ${bytes + 2} bytes` });
      await w.waitFor(() => !c.pending.has(id) || c.dead, w.env.settleMs);
      if (!w.authed(this.slot)) return;
    }
    const head = w.head(ch);
    if (!head) return;
    if (c.chans.get(ch)?.held) {
      const u = { type: 'unsubscribe', channel: ch };
      await w.sendMessage(c, u, JSON.stringify(u));
    }
    const m = { type: 'subscribe', channel: ch, since: { epoch: head.epoch, offset: Math.max(0, head.offset - this.back) } };
    await w.sendMessage(c, m, JSON.stringify(m));
  }
  toString(): string {
    return `slot ${this.slot}: publish data of ${this.sizes.map((p) => `${p}%`).join(', ')} of maxPayloadBytes to ${chanLabel(this.chan)} (id ${this.stem}~n), then subscribe since head-${this.back}`;
  }
}

class Disconnect extends SlotCmd {
  override check(w: Readonly<World>): boolean {
    return (w as World).live(this.slot) !== undefined;
  }
  async go(w: World, c: ConnView): Promise<void> {
    w.retire(c);
  }
  override async run(w: World): Promise<void> {
    const c = w.live(this.slot);
    if (c) w.retire(c);
    await w.yieldIo();
  }
  toString(): string {
    return `slot ${this.slot}: disconnect`;
  }
}

/** Reconnect with resume (SUB-8, SUB-9): a new connection re-subscribes the slot's channels with the last positions seen. */
class Resume implements Cmd {
  constructor(readonly slot: number, readonly user: 0 | 1) {}
  check(w: Readonly<World>): boolean {
    return w.lastSeen[this.slot]!.size > 0;
  }
  async run(w: World): Promise<void> {
    const seen = [...w.lastSeen[this.slot]!.entries()].slice(0, w.params.maxSubscriptions);
    const c = await w.open(this.slot, this.user);
    await w.auth(c, w.env.tokens[this.user], this.user);
    for (const [channel, since] of seen) {
      if (!c.phase || c.expectClose) break;
      const m = { type: 'subscribe', channel, since };
      await w.sendMessage(c, m, JSON.stringify(m));
    }
    await w.yieldIo();
  }
  toString(): string {
    return `reconnect slot ${this.slot} as user ${this.user + 1} and resume its channels`;
  }
}

class Settle implements Cmd {
  check(): boolean {
    return true;
  }
  async run(w: World): Promise<void> {
    await w.settle();
  }
  toString(): string {
    return 'settle (every answer owed arrives)';
  }
}

/** Slots 0 and 1 start connected (one per user); slot 2 holds extra connections. */
const slot = fc.oneof({ weight: 4, arbitrary: fc.integer({ min: 0, max: 1 }) }, { weight: 1, arbitrary: fc.integer({ min: 0, max: SLOTS - 1 }) });
const user = fc.constantFrom(0 as const, 1 as const);
const pieces = fc.oneof({ weight: 5, arbitrary: fc.constant(1) }, { weight: 1, arbitrary: fc.integer({ min: 2, max: 8 }) }, { weight: 1, arbitrary: fc.integer({ min: 100, max: 400 }) });

const badFrame: fc.Arbitrary<BadKind> = fc.oneof(
  { weight: 6, arbitrary: fc.tuple(fc.oneof(fc.constantFrom(...Object.keys(CLIENT_TYPES)).chain(mutatedFrame), notAMessage, notJson), pieces).map(([f, p]) => ({ k: 'frame' as const, f, pieces: p })) },
  { weight: 1, arbitrary: fc.array(fc.integer({ min: 0, max: 255 }), { maxLength: 16 }).map((bytes) => ({ k: 'binary' as const, bytes })) },
  { weight: 1, arbitrary: fc.constantFrom([0xff], [0xc3, 0x28], [0xed, 0xa0, 0x80], [0xf4, 0x90, 0x80, 0x80], [0xc0, 0xaf], [0xe2, 0x82]).map((bytes) => ({ k: 'utf8' as const, bytes: [...bytes] })) },
);

const earlyMessage = fc.constantFrom('ping', 'subscribe', 'unsubscribe', 'request').chain((t) => validMessage(t));

/** Records each command as it runs, for the counterexample's transcript. */
class Logged implements Cmd {
  constructor(readonly inner: Cmd) {}
  check(w: Readonly<World>): boolean {
    return this.inner.check(w);
  }
  async run(w: World): Promise<void> {
    w.executed.push(this.inner.toString());
    w.transcript.add('--', '*', `# ${this.inner.toString()}`);
    await this.inner.run(w, w);
  }
  toString(): string {
    return this.inner.toString();
  }
}

/** Every command, as fast-check arbitraries. */
export function commandArbitraries(): Array<fc.Arbitrary<Cmd>> {
  return commandKinds().map((a) => a.map((c) => new Logged(c) as Cmd));
}

function commandKinds(): Array<fc.Arbitrary<Cmd>> {
  return [
    fc.tuple(slot, user, fc.option(fc.oneof(notJson, notAMessage), { freq: 6 })).map(([s, u, g]) => new Connect(s, u, g)),
    fc.tuple(slot, arbitraryFor(CLIENT_TYPES.auth!.properties!.token!) as fc.Arbitrary<string>).map(([s, t]) => new BadToken(s, t)),
    fc.tuple(slot, earlyMessage).map(([s, m]) => new Early(s, m)),
    fc.tuple(slot, chanIndex, sinceArb, fc.boolean()).map(([s, c, m, wt]) => new Subscribe(s, c, m, wt)),
    fc.tuple(slot, chanIndex, sinceArb, fc.boolean()).map(([s, c, m, wt]) => new Subscribe(s, c, m, wt)),
    fc.tuple(slot, chanIndex).map(([s, c]) => new Unsubscribe(s, c)),
    fc.tuple(slot, chanIndex).map(([s, c]) => new Unsubscribe(s, c)),
    fc.tuple(slot, chanIndex, dataArb, idStem, fc.boolean()).map(([s, c, d, i, wt]) => new Publish(s, c, d, i, wt)),
    fc.tuple(slot, chanIndex, dataArb, idStem, fc.boolean()).map(([s, c, d, i, wt]) => new Publish(s, c, d, i, wt)),
    fc.tuple(slot, fc.option(dataArb, { freq: 8 }), idStem, pieces).map(([s, d, i, p]) => new Echo(s, d, i, p)),
    fc.tuple(slot, fc.integer({ min: 0, max: 40 }), idStem).map(([s, ms, i]) => new Sleep(s, ms, i)),
    fc.tuple(slot, idStem).map(([s, i]) => new DuplicateId(s, i)),
    fc.tuple(slot, fc.constantFrom('unknown' as const, 'sleep' as const, 'publish' as const), fc.oneof(jsonValue, fc.constantFrom({ ms: -1 }, { ms: 1.5 }, { ms: 60_001 }, { channel: '-bad', data: 1 }, { channel: 'ok' }, { data: 1 })), idStem)
      .map(([s, k, p, i]) => new BadRequest(s, k, k === 'publish' && typeof p === 'object' && p !== null && !Array.isArray(p) && 'channel' in p && 'data' in p ? { channel: '-bad', data: 1 } : p, i)),
    slot.map((s) => new Ping(s)),
    fc.tuple(slot, fc.constantFrom('same' as const, 'other' as const, 'unknown' as const)).map(([s, w]) => new ReAuth(s, w)),
    fc.tuple(slot, badFrame).map(([s, b]) => new BadFrame(s, b)),
    fc.tuple(slot, badFrame).map(([s, b]) => new BadFrame(s, b)),
    fc.tuple(slot, fc.boolean(), pieces, idStem).map(([s, o, p, i]) => new Oversize(s, o, p, i)),
    slot.map((s) => new FillSubscriptions(s)),
    fc.tuple(slot, idStem).map(([s, i]) => new FillPending(s, i)),
    slot.map((s) => new Disconnect(s)),
    fc.tuple(slot, user).map(([s, u]) => new Resume(s, u)),
    fc.constant(new Settle()),
    // added with revision 1.2 (LIMIT-7); new kinds go last, so the indexes of the others stay put
    fc.tuple(slot, fc.integer({ min: 0, max: 3 }), fc.array(fc.integer({ min: 1, max: 100 }), { minLength: 1, maxLength: 6 }), fc.integer({ min: 1, max: 7 }), idStem)
      .map(([s, c, z, b, i]) => new HistoryBytes(s, c, z, b, i)),
  ];
}
