/**
 * Subscriptions of one connection (SUB-2, SUB-3, SUB-6..9, LIMIT-4), and the channel → connections
 * index used for fan-out.
 *
 * Resume is race-free: a new subscription is `pending` while the driver first listens to the channel
 * on the broker and then reads its history. Live pushes that arrive meanwhile are buffered; when the
 * read comes back, the ack, the replay and the buffer are merged in offset order with duplicates
 * dropped, so nothing is lost or delivered twice even with an asynchronous (e.g. Redis) broker.
 */
import type { Position, PushMessage, ServerMessage } from '../../../schemas/v1/index.js';
import type { ChannelPush, ChannelRead, ConnId } from './types.js';

type Sub =
  /** `repeats`: the `since` of each further subscribe received while pending, acked on completion (SUB-3). */
  | { state: 'pending'; fetchId: number; since?: Position; buffer: ChannelPush[]; repeats: (Position | undefined)[] }
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

  /** SUB-3: a subscribe of a channel already subscribed. Returns the ack to send now, if any. */
  resubscribe(channel: string, since?: Position): ServerMessage | null {
    const sub = this.subs.get(channel)!;
    if (sub.state === 'pending') {
      sub.repeats.push(since); // acked, with its own resume verdict, when the first subscribe's read completes
      return null;
    }
    return repeatAck(channel, sub.last, since);
  }

  /** Whether `fetchId` is the read the channel's pending subscription waits for. */
  awaits(channel: string, fetchId: number): boolean {
    const sub = this.subs.get(channel);
    return sub?.state === 'pending' && sub.fetchId === fetchId;
  }

  begin(channel: string, fetchId: number, since?: Position): void {
    this.subs.set(channel, { state: 'pending', fetchId, since, buffer: [], repeats: [] });
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

  /**
   * The broker read of a pending subscription came back: the ack (SUB-2, SUB-8, SUB-9), the replayed
   * pushes, then the buffered live pushes, without gap or duplicate. Null when the read is stale.
   */
  complete(channel: string, fetchId: number, read: ChannelRead): ServerMessage[] | null {
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
    for (const since of sub.repeats) out.push(repeatAck(channel, last, since));
    this.subs.set(channel, { state: 'active', last });
    return out;
  }
}

/**
 * SUB-3: the ack of a repeated subscribe. Everything after `last` reaches the connection live, so only
 * `since == last` is a resume with nothing missed; any other `since` cannot be honoured (SUB-9).
 */
function repeatAck(channel: string, last: Position, since: Position | undefined): ServerMessage {
  const resume = since
    ? since.epoch === last.epoch && since.offset === last.offset
      ? ({ resume: 'replayed', replayed: 0 } as const)
      : ({ resume: 'unavailable' } as const)
    : {};
  return { type: 'subscribed', channel, position: last, ...resume };
}

export function pushMessage(p: ChannelPush, replay = false): PushMessage {
  const m: PushMessage = { type: 'push', channel: p.channel, data: p.data, position: p.position, ts: p.ts };
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
