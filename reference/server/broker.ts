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
  /** Listens to the channel's live pushes; resolves once listening, with a function that stops. */
  subscribe(channel: string, onPush: (push: ChannelPush) => void): Promise<() => void>;
  /** The channel's head and, with `since`, the pushes after it or 'unavailable' (SUB-8, SUB-9). */
  read(channel: string, since?: Position): Promise<ChannelRead>;
}

export interface MemoryBrokerOptions {
  /** Pushes kept per channel. @default 100 */
  historySize?: number;
  /** The epoch of every channel of this broker. @default 16 random hex digits */
  epoch?: string;
}

export class MemoryBroker implements Broker {
  readonly epoch: string;
  private readonly historySize: number;
  private readonly channels = new Map<string, ChannelHistory>();
  private readonly listeners = new Map<string, Set<(p: ChannelPush) => void>>();

  constructor(options: MemoryBrokerOptions = {}) {
    this.historySize = options.historySize ?? 100;
    this.epoch = options.epoch ?? randomBytes(8).toString('hex');
  }

  private history(channel: string): ChannelHistory {
    let h = this.channels.get(channel);
    if (!h) this.channels.set(channel, (h = new ChannelHistory(channel, this.epoch, this.historySize)));
    return h;
  }

  async publish(channel: string, data: unknown, ts: number): Promise<ChannelPush> {
    const push = this.history(channel).append(data, ts);
    for (const l of [...(this.listeners.get(channel) ?? [])]) l(push);
    return push;
  }

  async subscribe(channel: string, onPush: (push: ChannelPush) => void): Promise<() => void> {
    let s = this.listeners.get(channel);
    if (!s) this.listeners.set(channel, (s = new Set()));
    const fn = (p: ChannelPush) => onPush(p); // a distinct function per subscription
    s.add(fn);
    return () => {
      s.delete(fn);
      if (!s.size && this.listeners.get(channel) === s) this.listeners.delete(channel);
    };
  }

  async read(channel: string, since?: Position): Promise<ChannelRead> {
    const h = this.channels.get(channel);
    return h ? h.read(since) : new ChannelHistory(channel, this.epoch, 0).read(since);
  }

  /** Live listeners (for tests: no leaks after connections close). */
  listenerCount(channel?: string): number {
    if (channel !== undefined) return this.listeners.get(channel)?.size ?? 0;
    let n = 0;
    for (const s of this.listeners.values()) n += s.size;
    return n;
  }
}
