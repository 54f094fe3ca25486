/**
 * The client's subscription table (SUB-10): one server subscription per channel whatever the number
 * of handlers, the last position seen per channel, deduplication of pushes and gap detection.
 */
import type { Position, PushMessage, SubscribeMessage, SubscribedMessage } from '../../../schemas/v1/messages.js';
import type { GapInfo, SubscriptionInfo } from './types.js';

interface Entry {
  handlers: number;
  status: SubscriptionInfo['status'];
  /** The last position delivered to the application (or acknowledged by `subscribed`). */
  position?: Position;
  /** The `since` sent with the current subscribe, if any. */
  sentSince?: Position;
}

export type PushDecision =
  | { deliver: false; why: 'not_subscribed' | 'duplicate' }
  | { deliver: true; gap?: GapInfo };

export class SubscriptionTable {
  private readonly channels = new Map<string, Entry>();

  /** Adds a handler; true when the channel is new (the caller sends one `subscribe`). */
  add(channel: string): boolean {
    const e = this.channels.get(channel);
    if (e) {
      e.handlers += 1;
      return false;
    }
    this.channels.set(channel, { handlers: 1, status: 'pending' });
    return true;
  }

  /**
   * Removes a handler; returns the channel's status before removal when it was the last handler
   * (the caller sends `unsubscribe` if it had been sent), else undefined.
   */
  remove(channel: string): SubscriptionInfo['status'] | undefined {
    const e = this.channels.get(channel);
    if (!e) return undefined;
    e.handlers -= 1;
    if (e.handlers > 0) return undefined;
    this.channels.delete(channel);
    return e.status;
  }

  has(channel: string): boolean {
    return this.channels.has(channel);
  }

  /**
   * SUB-10, RECON-3: the subscribe message for `channel` on a fresh session, with `since` = the last
   * position seen, and marks it as sent.
   */
  subscribeMessage(channel: string): SubscribeMessage {
    const e = this.channels.get(channel)!;
    e.status = 'subscribing';
    e.sentSince = e.position ? { ...e.position } : undefined;
    return e.sentSince ? { type: 'subscribe', channel, since: e.sentSince } : { type: 'subscribe', channel };
  }

  /** Every channel, each once (SUB-10: no duplicate subscriptions). */
  channelNames(): string[] {
    return [...this.channels.keys()];
  }

  /** The connection ended: every channel must be subscribed again on the next session. */
  resetConnection(): void {
    for (const e of this.channels.values()) {
      e.status = 'pending';
      e.sentSince = undefined;
    }
  }

  /** Handles `subscribed`; returns the gap to report, if the stream lost continuity (SUB-10). */
  onSubscribed(msg: SubscribedMessage): GapInfo | undefined {
    const e = this.channels.get(msg.channel);
    if (!e) return undefined;
    e.status = 'active';
    const since = e.sentSince;
    if (!since) {
      // A fresh subscription starts at the channel's newest position, so that a later resume asks
      // for exactly what was published after it.
      if (!e.position) e.position = { ...msg.position };
      return undefined;
    }
    if (msg.resume === 'replayed' && msg.position.epoch === since.epoch) return undefined; // pushes follow
    const reason = msg.resume === 'unavailable' ? 'unavailable' : msg.position.epoch !== since.epoch ? 'epoch_changed' : undefined;
    if (reason === undefined) {
      // No resume field although `since` was sent: continuity holds only if nothing was published.
      if (msg.position.offset <= since.offset) return undefined;
    }
    e.position = { ...msg.position };
    return { channel: msg.channel, reason: reason ?? 'unavailable', from: since, to: { ...msg.position } };
  }

  /** Handles a push: drop duplicates (offset ≤ last seen in the same epoch), report gaps. */
  onPush(msg: PushMessage): PushDecision {
    const e = this.channels.get(msg.channel);
    if (!e) return { deliver: false, why: 'not_subscribed' };
    const last = e.position;
    const pos = msg.position;
    let gap: GapInfo | undefined;
    if (last && pos.epoch === last.epoch) {
      if (pos.offset <= last.offset) return { deliver: false, why: 'duplicate' };
      if (pos.offset > last.offset + 1) gap = { channel: msg.channel, reason: 'offset_gap', from: { ...last }, to: { ...pos } };
    } else if (last) {
      gap = { channel: msg.channel, reason: 'epoch_changed', from: { ...last }, to: { ...pos } };
    }
    e.position = { ...pos };
    return gap ? { deliver: true, gap } : { deliver: true };
  }

  info(): SubscriptionInfo[] {
    return [...this.channels].map(([channel, e]) => ({
      channel,
      handlers: e.handlers,
      status: e.status,
      ...(e.position ? { position: { ...e.position } } : {}),
    }));
  }
}
