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
  /** LIMIT-7: the byte size of each retained item, oldest first. */
  private readonly sizes: number[] = [];
  private bytes = 0;

  /**
   * @param size pushes kept (historySize)
   * @param maxBytes bytes kept (historyBytes, LIMIT-7): the oldest pushes go first; a push larger
   *   than this is not kept at all
   */
  constructor(readonly channel: string, readonly epoch: string, private readonly size: number, private readonly maxBytes = Infinity) {}

  get head(): Position {
    return { epoch: this.epoch, offset: this.offset };
  }

  /** Pushes retained. */
  get retainedCount(): number {
    return this.items.length;
  }

  /** Bytes of the retained pushes, as counted by `append`. */
  get retainedBytes(): number {
    return this.bytes;
  }

  /**
   * SUB-5: the next push gets offset head+1. `bytes` is its size for LIMIT-7 (the broker passes the
   * UTF-8 length of the serialized data). With `json`, only the serialization is kept, never `data`.
   */
  append(data: unknown, ts: number, bytes = 0, json?: string): ChannelPush {
    const position = { epoch: this.epoch, offset: ++this.offset };
    const push: ChannelPush = json !== undefined ? { channel: this.channel, json, position, ts } : { channel: this.channel, data, position, ts };
    if (this.size > 0) {
      this.items.push(push);
      this.sizes.push(bytes);
      this.bytes += bytes;
      while (this.items.length > this.size || this.bytes > this.maxBytes) {
        this.items.shift();
        this.bytes -= this.sizes.shift()!;
      }
    }
    return push;
  }

  /** Drops every retained push (the head stays): a broker under its global byte cap (LIMIT-7). */
  clear(): void {
    this.items.length = 0;
    this.sizes.length = 0;
    this.bytes = 0;
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
