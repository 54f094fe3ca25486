/**
 * Bounded per-channel history (SUB-5, SUB-8, SUB-9): offsets grow by 1 per push within an epoch;
 * the newest `size` pushes are kept for resume. A pure data structure, used by the in-memory broker
 * (a Redis broker would keep the same shape in a stream).
 */
import type { Position } from '../../../schemas/v1/index.js';
import type { ChannelPush, ChannelRead } from './types.js';

export class ChannelHistory {
  private offset = 0;
  private readonly items: ChannelPush[] = [];

  constructor(readonly channel: string, readonly epoch: string, private readonly size: number) {}

  get head(): Position {
    return { epoch: this.epoch, offset: this.offset };
  }

  /** SUB-5: the next push gets offset head+1. */
  append(data: unknown, ts: number): ChannelPush {
    const push: ChannelPush = { channel: this.channel, data, position: { epoch: this.epoch, offset: ++this.offset }, ts };
    if (this.size > 0) {
      this.items.push(push);
      if (this.items.length > this.size) this.items.shift();
    }
    return push;
  }

  /**
   * SUB-8: `since` in the same epoch with `oldest - 1 <= since.offset <= head` can be replayed;
   * SUB-9: anything else (other epoch, too old, ahead of head) is 'unavailable'.
   */
  read(since?: Position): ChannelRead {
    const head = this.head;
    if (!since) return { head };
    const oldest = this.items.length ? this.items[0]!.position.offset : this.offset + 1;
    if (since.epoch !== this.epoch || since.offset < oldest - 1 || since.offset > this.offset) {
      return { head, missed: 'unavailable' };
    }
    return { head, missed: this.items.slice(this.items.length - (this.offset - since.offset)) };
  }
}
