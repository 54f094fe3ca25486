/**
 * The Redis broker (NODE-1..5): per channel, a meta hash (epoch, head offset, bytes) and a capped
 * list of the retained pushes, changed only by the Lua scripts (scripts.ts); live pushes travel on
 * one pub/sub channel per Mooring channel, received on the node's one subscriber connection.
 *
 * Redis runs the scripts one at a time and delivers a connection's pub/sub messages in order, so
 * every node sees a channel's pushes in offset order (NODE-2). This broker still checks the offsets
 * it hands on: a push after a hole (the subscriber connection dropped and came back) makes it read
 * the hole from the history and deliver it first; a hole the history no longer covers (or a new
 * epoch) is reported to `onGap` instead of skipped (NODE-4).
 */
import { randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { Position } from '../../../schemas/v1/index.js';
import type { Broker, ChannelPush, ChannelRead } from '../broker.js';
import { PUBLISH_LUA, READ_LUA } from './scripts.js';

export interface RedisBrokerOptions {
  /** Pushes kept per channel. @default 100 */
  historySize?: number;
  /** LIMIT-7: bytes (UTF-8 of the serialized data) kept per channel. @default 1 MiB */
  historyBytes?: number;
  /** Prefix of every key and pub/sub channel. @default 'mooring:' */
  keyPrefix?: string;
  /**
   * ERR-4, LIMIT-7: a channel nobody published to nor subscribed to for this long is forgotten by
   * Redis (its keys expire), so channel names invented by peers cannot grow Redis without bound;
   * its next use starts a new epoch (NODE-5). @default 86_400_000 (1 day)
   */
  channelTtlMs?: number;
}

type Listener = { onPush: (p: ChannelPush) => void; onGap?: () => void };

interface Feed {
  listeners: Set<Listener>;
  /** The last push handed on (or the head read when listening began); null until known. */
  last: Position | null;
  /** While a hole is being read from the history, live pushes wait here. */
  held: ChannelPush[] | null;
  ready: Promise<void>;
}

type RedisWithScripts = Redis & {
  mooringPublish(meta: string, list: string, json: string, ts: string, size: number, bytes: number, epoch: string, topic: string, ttlMs: number): Promise<[string, number]>;
  mooringRead(meta: string, list: string, epoch: string, sinceEpoch: string, sinceOffset: number, ttlMs: number): Promise<[string, number] | [string, number, 'u'] | [string, number, 'm', string[]]>;
};

const freshEpoch = () => randomBytes(8).toString('hex');

export class RedisBroker implements Broker {
  private readonly cmd: RedisWithScripts;
  private readonly historySize: number;
  private readonly historyBytes: number;
  private readonly prefix: string;
  private readonly channelTtlMs: number;
  private readonly feeds = new Map<string, Feed>();

  /** `cmd` runs commands; `sub` is the node's subscriber connection (shared with the control channel). */
  constructor(cmd: Redis, private readonly sub: Redis, options: RedisBrokerOptions = {}) {
    this.historySize = options.historySize ?? 100;
    this.historyBytes = options.historyBytes ?? 1024 * 1024;
    this.prefix = options.keyPrefix ?? 'mooring:';
    this.channelTtlMs = options.channelTtlMs ?? 86_400_000;
    if (!('mooringPublish' in cmd)) {
      cmd.defineCommand('mooringPublish', { numberOfKeys: 2, lua: PUBLISH_LUA });
      cmd.defineCommand('mooringRead', { numberOfKeys: 2, lua: READ_LUA });
    }
    this.cmd = cmd as RedisWithScripts;
    sub.on('messageBuffer', (topic: Buffer, message: Buffer) => this.onMessage(topic.toString('utf8'), message));
  }

  private keys(channel: string): [string, string] {
    return [`${this.prefix}{${channel}}:m`, `${this.prefix}{${channel}}:h`];
  }

  private topic(channel: string): string {
    return `${this.prefix}p:${channel}`;
  }

  async publish(channel: string, data: unknown, ts: number): Promise<ChannelPush> {
    // LIMIT-7: serialized once; Redis keeps and fans out this string, never a parsed value.
    const json = JSON.stringify(data === undefined ? null : data);
    const [meta, list] = this.keys(channel);
    const [epoch, offset] = await this.cmd.mooringPublish(meta, list, json, String(ts), this.historySize, this.historyBytes, freshEpoch(), this.topic(channel), this.channelTtlMs);
    return { channel, json, position: { epoch, offset: Number(offset) }, ts };
  }

  async read(channel: string, since?: Position): Promise<ChannelRead> {
    const [meta, list] = this.keys(channel);
    const r = await this.cmd.mooringRead(meta, list, freshEpoch(), since?.epoch ?? '', since?.offset ?? 0, this.channelTtlMs);
    const head = { epoch: r[0], offset: Number(r[1]) };
    if (!since) return { head };
    if (r[2] === 'u') return { head, missed: 'unavailable' };
    const entries = (r[2] === 'm' ? r[3] : undefined) ?? [];
    const first = head.offset - entries.length + 1;
    return { head, missed: entries.map((e, i) => entry(channel, head.epoch, first + i, e)) };
  }

  /** Listens to the channel; `onGap` hears of a hole in the live feed that the history cannot fill (NODE-4). */
  async subscribe(channel: string, onPush: (push: ChannelPush) => void, onGap?: () => void): Promise<() => void> {
    const l: Listener = { onPush, onGap };
    let f = this.feeds.get(channel);
    if (!f) {
      const feed: Feed = { listeners: new Set(), last: null, held: [], ready: Promise.resolve() };
      this.feeds.set(channel, (f = feed));
      // Listen first, then read the head: a push in between waits in `held` and is ordered after it.
      feed.ready = this.sub.subscribe(this.topic(channel)).then(() => this.read(channel)).then(
        (r) => {
          feed.last = r.head;
          this.release(channel, feed, []);
        },
        async (err: unknown) => {
          if (this.feeds.get(channel) === feed) {
            this.feeds.delete(channel);
            await this.sub.unsubscribe(this.topic(channel)).catch(() => undefined);
          }
          throw err;
        },
      );
    }
    const feed = f;
    await feed.ready;
    feed.listeners.add(l);
    return () => {
      feed.listeners.delete(l);
      if (feed.listeners.size || this.feeds.get(channel) !== feed) return;
      this.feeds.delete(channel);
      void this.sub.unsubscribe(this.topic(channel)).catch(() => undefined);
    };
  }

  /** NODE-4: after the subscriber connection came back, read what every live channel missed meanwhile. */
  catchUp(): void {
    for (const [channel, feed] of this.feeds) if (feed.held === null && feed.last !== null) this.fill(channel, feed, []);
  }

  /** Channels this node listens to (for tests: no leaks). */
  listenedChannels(): number {
    return this.feeds.size;
  }

  private onMessage(topic: string, message: Buffer): void {
    const tp = `${this.prefix}p:`;
    if (!topic.startsWith(tp)) return;
    const channel = topic.slice(tp.length);
    const feed = this.feeds.get(channel);
    if (!feed) return;
    const push = parseLive(channel, message.toString('utf8'));
    if (feed.held !== null) return void feed.held.push(push);
    const last = feed.last!;
    if (push.position.epoch === last.epoch && push.position.offset <= last.offset) return; // already handed on
    if (push.position.epoch === last.epoch && push.position.offset === last.offset + 1) return this.deliver(feed, push);
    this.fill(channel, feed, [push]); // a hole, or a new epoch: read it from the history first
  }

  private fill(channel: string, feed: Feed, held: ChannelPush[]): void {
    feed.held = held;
    this.read(channel, feed.last!).then(
      (r) => {
        if (this.feeds.get(channel) !== feed) return;
        if (r.missed === 'unavailable') {
          // NODE-4: never a silent gap. The listeners' subscribers resume from their own positions.
          feed.last = r.head;
          feed.held = null;
          for (const l of [...feed.listeners]) l.onGap?.();
          return;
        }
        this.release(channel, feed, r.missed ?? []);
      },
      () => {
        if (this.feeds.get(channel) !== feed) return;
        feed.held = null;
        for (const l of [...feed.listeners]) l.onGap?.();
      },
    );
  }

  /** Hands on `first` then the held pushes, in offset order, each once. */
  private release(_channel: string, feed: Feed, first: ChannelPush[]): void {
    const held = feed.held ?? [];
    feed.held = null;
    for (const p of [...first, ...held]) {
      const last = feed.last!;
      if (p.position.epoch === last.epoch && p.position.offset <= last.offset) continue;
      if (p.position.epoch !== last.epoch || p.position.offset !== last.offset + 1) {
        // Still a hole (a push published during the read arrived before it): read again.
        const i = held.indexOf(p);
        return this.fill(_channel, feed, i < 0 ? held : held.slice(i));
      }
      this.deliver(feed, p);
    }
  }

  private deliver(feed: Feed, push: ChannelPush): void {
    feed.last = push.position;
    for (const l of [...feed.listeners]) l.onPush(push);
  }
}

function entry(channel: string, epoch: string, offset: number, e: string): ChannelPush {
  const sp = e.indexOf(' ');
  return { channel, json: e.slice(sp + 1), position: { epoch, offset }, ts: Number(e.slice(0, sp)) };
}

function parseLive(channel: string, m: string): ChannelPush {
  const a = m.indexOf(' ');
  const b = m.indexOf(' ', a + 1);
  const c = m.indexOf(' ', b + 1);
  return { channel, json: m.slice(c + 1), position: { epoch: m.slice(0, a), offset: Number(m.slice(a + 1, b)) }, ts: Number(m.slice(b + 1, c)) };
}
