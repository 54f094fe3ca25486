/**
 * The broker seam: where pushes are published, fanned out to server instances and kept for resume.
 * The in-memory broker serves one process; a Redis broker (streams for history, pub/sub for live)
 * fits the same interface. The server listens to a channel first and reads its history second, and
 * the core dedupes by offset, so an asynchronous broker needs no locking to resume without gaps.
 */
import { randomBytes } from 'node:crypto';
import type { Position } from '../../schemas/v1/index.js';
import { ChannelHistory, type ChannelPush, type ChannelRead } from '../core/server/index.js';

export type { ChannelPush, ChannelRead };

export interface Broker {
  /** Appends a push to the channel (SUB-5: next offset, server timestamp `ts`) and delivers it to listeners. */
  publish(channel: string, data: unknown, ts: number): Promise<ChannelPush>;
  /**
   * Listens to the channel's live pushes; resolves once listening, with a function that stops.
   * NODE-4: a broker whose live feed can have a hole it cannot fill (the Redis broker, after its
   * subscriber connection was lost) calls `onGap` instead of skipping pushes.
   */
  subscribe(channel: string, onPush: (push: ChannelPush) => void, onGap?: () => void): Promise<() => void>;
  /** The channel's head and, with `since`, the pushes after it or 'unavailable' (SUB-8, SUB-9). */
  read(channel: string, since?: Position): Promise<ChannelRead>;
}

export interface MemoryBrokerOptions {
  /** Pushes kept per channel. @default 100 */
  historySize?: number;
  /**
   * LIMIT-7: bytes of history kept per channel, counted as the UTF-8 length of each push's
   * serialized `data`; the oldest pushes go first. @default 1 MiB
   */
  historyBytes?: number;
  /** The epoch of every channel of this broker (channels re-created after an eviction get a derived one). @default 16 random hex digits */
  epoch?: string;
  /**
   * Channels whose history is kept. Beyond it, the least recently published channels that nobody
   * listens to are forgotten, so a peer publishing to ever new channel names cannot grow memory
   * without bound (ERR-4). A forgotten channel comes back in a new epoch: a resume into it gets
   * `resume: "unavailable"` (SUB-9), never someone else's pushes. @default 10_000
   */
  maxChannels?: number;
  /**
   * LIMIT-7: bytes kept over all channels' history (the serialized data, plus
   * `HISTORY_ENTRY_OVERHEAD` per retained push). Beyond it, the least recently published channels
   * nobody listens to are forgotten, then the history of listened ones is dropped (their epoch
   * stays; a resume from before gets `unavailable`). @default 64 MiB
   */
  maxHistoryBytes?: number;
}

/** LIMIT-7: what one retained push costs beyond its serialized data (objects, position, array slot), for the global cap. */
export const HISTORY_ENTRY_OVERHEAD = 160;

interface Kept {
  history: ChannelHistory;
  /** What this channel counts against the global cap. */
  bytes: number;
}

export class MemoryBroker implements Broker {
  readonly epoch: string;
  private readonly historySize: number;
  private readonly historyBytes: number;
  private readonly maxChannels: number;
  private readonly maxHistoryBytes: number;
  /** In least-recently-published order (a publish moves its channel to the end). */
  private readonly channels = new Map<string, Kept>();
  private readonly listeners = new Map<string, Set<(p: ChannelPush) => void>>();
  /** Bumped at every eviction: a channel created afterwards cannot reuse an evicted one's positions. */
  private generation = 0;
  private bytes = 0;

  constructor(options: MemoryBrokerOptions = {}) {
    this.historySize = options.historySize ?? 100;
    this.historyBytes = options.historyBytes ?? 1024 * 1024;
    this.epoch = options.epoch ?? randomBytes(8).toString('hex');
    this.maxChannels = options.maxChannels ?? 10_000;
    this.maxHistoryBytes = options.maxHistoryBytes ?? 64 * 1024 * 1024;
  }

  /** The epoch of channels created now: the base epoch until the first eviction. */
  private currentEpoch(): string {
    return this.generation === 0 ? this.epoch : `${this.epoch.slice(0, 48)}~${this.generation.toString(36)}`;
  }

  private kept(channel: string): Kept {
    let k = this.channels.get(channel);
    if (!k) {
      this.channels.set(channel, (k = { history: new ChannelHistory(channel, this.currentEpoch(), this.historySize, this.historyBytes), bytes: 0 }));
      this.evict();
    }
    return k;
  }

  /** ERR-4, LIMIT-7: forgets the least recently published channels nobody listens to while over a bound. */
  private evict(): void {
    let scan = this.channels.size;
    for (const [channel, k] of this.channels) {
      if (scan-- <= 0 || (this.channels.size <= this.maxChannels && this.bytes <= this.maxHistoryBytes)) return;
      if (this.listeners.has(channel)) continue; // live channels keep their epoch (bounded by subscriptions)
      this.channels.delete(channel);
      this.bytes -= k.bytes;
      this.generation++;
    }
    // LIMIT-7: still over the byte cap with only listened channels left: drop their history, oldest first.
    for (const k of this.channels.values()) {
      if (this.bytes <= this.maxHistoryBytes) return;
      k.history.clear();
      this.bytes -= k.bytes;
      k.bytes = 0;
    }
  }

  async publish(channel: string, data: unknown, ts: number): Promise<ChannelPush> {
    // LIMIT-7: serialize once; history keeps this string (its real size), never the parsed value.
    const json = JSON.stringify(data === undefined ? null : data);
    const k = this.kept(channel);
    this.channels.delete(channel);
    this.channels.set(channel, k); // most recently published last
    const push = k.history.append(undefined, ts, Buffer.byteLength(json), json);
    if (this.historySize > 0) {
      const retained = k.history.retainedBytes + k.history.retainedCount * HISTORY_ENTRY_OVERHEAD;
      this.bytes += retained - k.bytes;
      k.bytes = retained;
      if (this.bytes > this.maxHistoryBytes) this.evict();
    }
    for (const l of [...(this.listeners.get(channel) ?? [])]) l(push);
    return push;
  }

  async subscribe(channel: string, onPush: (push: ChannelPush) => void): Promise<() => void> {
    let s = this.listeners.get(channel);
    if (!s) this.listeners.set(channel, (s = new Set()));
    const fn = (p: ChannelPush) => onPush(p); // a distinct function per subscription
    s.add(fn);
    this.kept(channel); // a listened channel keeps its epoch from the read to its first push
    return () => {
      s.delete(fn);
      if (!s.size && this.listeners.get(channel) === s) this.listeners.delete(channel);
    };
  }

  async read(channel: string, since?: Position): Promise<ChannelRead> {
    const k = this.channels.get(channel);
    return k ? k.history.read(since) : new ChannelHistory(channel, this.currentEpoch(), 0).read(since);
  }

  /** Channels whose history is kept (for tests: the bound holds). */
  channelCount(): number {
    return this.channels.size;
  }

  /** LIMIT-7: bytes counted against the global history cap (for tests and SECURITY.md figures). */
  historyBytesUsed(): number {
    return this.bytes;
  }

  /** Live listeners (for tests: no leaks after connections close). */
  listenerCount(channel?: string): number {
    if (channel !== undefined) return this.listeners.get(channel)?.size ?? 0;
    let n = 0;
    for (const s of this.listeners.values()) n += s.size;
    return n;
  }
}
