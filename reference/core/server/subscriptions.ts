/**
 * Subscriptions of one connection (SUB-2, SUB-3, SUB-6..9, LIMIT-4), and the channel → connections
 * index used for fan-out.
 *
 * Resume is race-free: a new subscription is `pending` while the driver first listens to the channel
 * on the broker and then reads its history. Live pushes that arrive meanwhile are buffered; when the
 * read comes back, the ack, the replay and the buffer are merged in offset order with duplicates
 * dropped, so nothing is lost or delivered twice even with an asynchronous (e.g. Redis) broker.
 */
import type { Position, PushMessage, ServerMessage, SubscribeMessage, UnsubscribeMessage } from '../../../schemas/v1/index.js';
import { RawJson, type ChannelPush, type ChannelRead, type ConnId } from './types.js';

export type ChannelMessage = SubscribeMessage | UnsubscribeMessage;

type Sub =
  /**
   * `deferred`: later subscribes and unsubscribes of the channel, received while it is pending; they are
   * handled in arrival order once it is acknowledged, so every subscribe gets its own ack (SUB-2, SUB-3).
   */
  | { state: 'pending'; fetchId: number; since?: Position; buffer: ChannelPush[]; deferred: ChannelMessage[] }
  | { state: 'active'; last: Position };

/** Whether `p` comes after `last` (a different epoch always does: the channel history was reset). */
function isNew(p: Position, last: Position): boolean {
  return p.epoch !== last.epoch || p.offset > last.offset;
}

export class ConnSubscriptions {
  private readonly subs = new Map<string, Sub>();

  get size(): number {
    return this.subs.size;
  }

  channels(): IterableIterator<string> {
    return this.subs.keys();
  }

  state(channel: string): Sub['state'] | undefined {
    return this.subs.get(channel)?.state;
  }

  /**
   * SUB-3: the ack of a subscribe of an active channel. Everything after `last` reaches the connection
   * live, so only `since == last` is a resume with nothing missed; any other `since` cannot be honoured.
   */
  resubscribe(channel: string, since?: Position): ServerMessage {
    const sub = this.subs.get(channel);
    if (sub?.state !== 'active') throw new Error(`resubscribe of a channel that is not active: ${channel}`);
    const resume = since
      ? since.epoch === sub.last.epoch && since.offset === sub.last.offset
        ? ({ resume: 'replayed', replayed: 0 } as const)
        : ({ resume: 'unavailable' } as const)
      : {};
    return { type: 'subscribed', channel, position: sub.last, ...resume };
  }

  /** Holds a subscribe or unsubscribe of a pending channel until its ack is sent (see `deferred`). */
  defer(m: ChannelMessage): void {
    const sub = this.subs.get(m.channel);
    if (sub?.state !== 'pending') throw new Error(`defer on a channel that is not pending: ${m.channel}`);
    sub.deferred.push(m);
  }

  begin(channel: string, fetchId: number, since?: Position): void {
    this.subs.set(channel, { state: 'pending', fetchId, since, buffer: [], deferred: [] });
  }

  remove(channel: string): boolean {
    return this.subs.delete(channel);
  }

  /** SUB-6: whether to send this live push now (pending subscriptions buffer it; duplicates are dropped). */
  deliver(push: ChannelPush): boolean {
    const sub = this.subs.get(push.channel);
    if (!sub) return false;
    if (sub.state === 'pending') {
      sub.buffer.push(push);
      return false;
    }
    if (!isNew(push.position, sub.last)) return false;
    sub.last = push.position;
    return true;
  }

  /** The read of a pending subscription failed: drops it; returns its deferred messages (null when stale). */
  fail(channel: string, fetchId: number): ChannelMessage[] | null {
    const sub = this.subs.get(channel);
    if (!sub || sub.state !== 'pending' || sub.fetchId !== fetchId) return null;
    this.subs.delete(channel);
    return sub.deferred;
  }

  /**
   * The broker read of a pending subscription came back: the ack (SUB-2, SUB-8, SUB-9), the replayed
   * pushes, then the buffered live pushes, without gap or duplicate; and the messages deferred meanwhile,
   * for the caller to handle now. Null when the read is stale.
   */
  complete(channel: string, fetchId: number, read: ChannelRead): { messages: ServerMessage[]; deferred: ChannelMessage[] } | null {
    const sub = this.subs.get(channel);
    if (!sub || sub.state !== 'pending' || sub.fetchId !== fetchId) return null;
    const out: ServerMessage[] = [];
    let last = read.head;
    const ack = { type: 'subscribed', channel, position: read.head } as const;
    if (sub.since === undefined) out.push(ack);
    else if (read.missed === undefined || read.missed === 'unavailable') out.push({ ...ack, resume: 'unavailable' });
    else {
      out.push({ ...ack, resume: 'replayed', replayed: read.missed.length });
      for (const p of read.missed) out.push(pushMessage(p, true));
    }
    for (const p of sub.buffer) {
      if (!isNew(p.position, last)) continue;
      last = p.position;
      out.push(pushMessage(p));
    }
    this.subs.set(channel, { state: 'active', last });
    return { messages: out, deferred: sub.deferred };
  }
}

export function pushMessage(p: ChannelPush, replay = false): PushMessage {
  // LIMIT-7: a push the broker serialized goes out as that text, never parsed back.
  const data = p.json !== undefined ? new RawJson(p.json) : p.data;
  const m: PushMessage = { type: 'push', channel: p.channel, data, position: p.position, ts: p.ts };
  if (replay) m.replay = true;
  return m;
}

/** channel → subscribed connections, for fan-out. */
export class ChannelIndex {
  private readonly map = new Map<string, Set<ConnId>>();

  add(channel: string, conn: ConnId): void {
    let s = this.map.get(channel);
    if (!s) this.map.set(channel, (s = new Set()));
    s.add(conn);
  }

  /** Returns true when the channel has no subscriber left. */
  remove(channel: string, conn: ConnId): boolean {
    const s = this.map.get(channel);
    if (!s) return false;
    s.delete(conn);
    if (s.size) return false;
    this.map.delete(channel);
    return true;
  }

  get(channel: string): ReadonlySet<ConnId> | undefined {
    return this.map.get(channel);
  }

  get channelCount(): number {
    return this.map.size;
  }
}
