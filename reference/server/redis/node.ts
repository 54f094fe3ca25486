/**
 * One Mooring node's link to Redis (NODE-1..12): two connections (commands; the one subscriber
 * connection of the node, for the channels' live pushes and the control channel), the broker over
 * them, the cross-node single session (NODE-6, NODE-7), the shared rate limit (NODE-8) and the
 * health watch behind the failure behaviour (NODE-10..12).
 */
import { hostname } from 'node:os';
import { Redis } from 'ioredis';
import type { ConnId, LogLevel, ServerEvent } from '../../core/server/index.js';
import { RedisBroker } from './broker.js';
import { RedisPresence } from './presence.js';
import { CLAIM_LUA, RATE_LUA } from './scripts.js';

/** How a server reaches Redis: a URL (`redis://[user:pass@]host:port[/db]`, `rediss://` for TLS) or options. */
export type RedisOption = string | RedisConfig;

export interface RedisConfig {
  /** @default 'redis://127.0.0.1:6379' */
  url?: string;
  /** This node's name in Redis's CLIENT LIST (`mooring-cmd-NAME`, `mooring-sub-NAME`). @default hostname-pid */
  nodeName?: string;
  /** Prefix of every key and pub/sub channel; nodes of one deployment share it. @default 'mooring:' */
  keyPrefix?: string;
  /** NODE-10: Redis is pinged this often on both connections. @default 1_000 */
  healthIntervalMs?: number;
  /** NODE-11: after Redis has been unreachable this long, every connection is closed 1013. @default 5_000 */
  outageCloseMs?: number;
  /** A command without an answer this long fails (a partition is noticed by it). @default 2_000 */
  commandTimeoutMs?: number;
  /** `startServer` waits this long for Redis before listening anyway (upgrades get 503 until it is up). @default 5_000 */
  connectTimeoutMs?: number;
  /** A channel unused (no publish, no subscribe) this long is forgotten by Redis; see RedisBrokerOptions. @default 86_400_000 */
  channelTtlMs?: number;
  /** NODE-14: a user is `connected` while its last HTTP heartbeat (on any node) is younger than this (HTTP-6). @default 60_000 */
  presenceWindowMs?: number;
  /** How long a user's latest session generation is kept for the resync after a reconnect (NODE-7). @default 86_400_000 */
  sessionTtlMs?: number;
  /** NODE-15: the token store is in Redis too (`RedisTokenStore`), so a revocation reaches every node. Ignored when `tokenStore` is given. @default false */
  tokens?: boolean;
}

export interface RedisNodeOptions {
  historySize: number;
  historyBytes: number;
  rateLimit: { messages: number; windowMs: number };
  sessionPolicy: 'single' | 'multiple';
  /** Feeds an event to the server core. */
  feed: (ev: ServerEvent) => void;
  log: (level: LogLevel, event: string, fields?: Record<string, unknown>) => void;
}

type Cmd = Redis & {
  mooringClaim(counter: string, latest: string, userId: string, control: string, ttlMs: number): Promise<number>;
  mooringRate(times: string, block: string, messages: number, windowMs: number, control: string, userId: string): Promise<number>;
};

export function redisConfig(option: RedisOption): Required<RedisConfig> {
  const c = typeof option === 'string' ? { url: option } : option;
  return {
    url: c.url ?? 'redis://127.0.0.1:6379', nodeName: (c.nodeName ?? `${hostname()}-${process.pid}`).replace(/[^\w.:-]/g, '_'), keyPrefix: c.keyPrefix ?? 'mooring:', healthIntervalMs: c.healthIntervalMs ?? 1_000,
    outageCloseMs: c.outageCloseMs ?? 5_000, commandTimeoutMs: c.commandTimeoutMs ?? 2_000, connectTimeoutMs: c.connectTimeoutMs ?? 5_000,
    sessionTtlMs: c.sessionTtlMs ?? 86_400_000, channelTtlMs: c.channelTtlMs ?? 86_400_000,
    presenceWindowMs: c.presenceWindowMs ?? 60_000, tokens: c.tokens ?? false,
  };
}

export class RedisNode {
  readonly broker: RedisBroker;
  /** NODE-14: presence shared by every node (the presence module's interface). */
  readonly presence: RedisPresence;
  readonly config: Required<RedisConfig>;
  private readonly cmd: Cmd;
  private readonly sub: Redis;
  private readonly control: string;
  private up = false;
  private upWaiters: (() => void)[] = [];
  private outageTimer: NodeJS.Timeout | undefined;
  private readonly health: NodeJS.Timeout;
  private closed = false;
  /** NODE-6: this node's sessions and the generation each claimed. */
  private readonly sessions = new Map<ConnId, { userId: string; gen: number }>();
  private readonly byUser = new Map<string, Set<ConnId>>();
  /** Users with a claim in flight on this node, and the newest generation heard for them meanwhile. */
  private readonly claiming = new Map<string, { n: number; heard: number }>();
  /** Set when the subscriber connection dropped: its return needs a catch-up and a resync. */
  private subLost = false;

  constructor(option: RedisOption, private readonly o: RedisNodeOptions) {
    this.config = redisConfig(option);
    const c = this.config;
    const common = {
      enableOfflineQueue: false, // NODE-10: fail at once while Redis is unreachable, never queue
      maxRetriesPerRequest: 0,
      commandTimeout: c.commandTimeoutMs,
      retryStrategy: (times: number) => Math.min(50 * 2 ** Math.min(times, 5), 1_000),
      connectTimeout: c.commandTimeoutMs,
    };
    this.cmd = new Redis(c.url, { ...common, enableAutoPipelining: true, connectionName: `mooring-cmd-${c.nodeName}` }) as Cmd;
    this.sub = new Redis(c.url, { ...common, connectionName: `mooring-sub-${c.nodeName}` });
    this.cmd.defineCommand('mooringClaim', { numberOfKeys: 2, lua: CLAIM_LUA });
    this.cmd.defineCommand('mooringRate', { numberOfKeys: 2, lua: RATE_LUA });
    this.control = `${c.keyPrefix}ctl`;
    this.broker = new RedisBroker(this.cmd, this.sub, { historySize: o.historySize, historyBytes: o.historyBytes, keyPrefix: c.keyPrefix, channelTtlMs: c.channelTtlMs });
    this.presence = new RedisPresence(this.cmd, {
      windowMs: c.presenceWindowMs, keyPrefix: c.keyPrefix, nodeName: c.nodeName, control: this.control,
      onError: (err) => o.log('warn', 'redis_error', { connection: 'cmd', detail: String((err as Error)?.message ?? err) }),
    });
    let lastError = '';
    for (const [name, r] of [['cmd', this.cmd], ['sub', this.sub]] as const) {
      r.on('error', (err: Error) => {
        // Logged once per distinct error, not at every reconnect attempt.
        if (err.message !== lastError) o.log('warn', 'redis_error', { connection: name, detail: (lastError = err.message) });
      });
      r.on('close', () => {
        if (r === this.sub) this.subLost = true;
        this.markDown('connection_closed');
      });
      r.on('ready', () => void this.check());
    }
    this.sub.on('message', (topic: string, message: string) => {
      if (topic === this.control) this.onControl(message);
    });
    this.health = setInterval(() => void this.check(), c.healthIntervalMs);
    this.health.unref();
  }

  /** NODE-10: whether this node can serve (both connections answer). */
  get available(): boolean {
    return this.up;
  }

  /** Resolves once Redis is up, or after `connectTimeoutMs` (false) — the node then serves 503 until it is. */
  ready(): Promise<boolean> {
    if (this.up) return Promise.resolve(true);
    return new Promise((resolve) => {
      const t = setTimeout(() => resolve(false), this.config.connectTimeoutMs);
      this.upWaiters.push(() => {
        clearTimeout(t);
        resolve(true);
      });
    });
  }

  private async check(): Promise<void> {
    if (this.closed) return;
    try {
      if (this.cmd.status !== 'ready' || this.sub.status !== 'ready') throw new Error('not connected');
      // The control channel is (re)subscribed before the node counts as up; the PING on the subscriber
      // connection is answered after its (re)subscriptions, so a catch-up read comes after them.
      await this.sub.subscribe(this.control);
      await Promise.all([this.cmd.ping(), this.sub.ping()]);
      // NODE-14: this node's session counts count while this key lives (a crashed node's expire with it).
      await this.cmd.set(this.presence.livenessKey, '1', 'PX', 3 * this.config.healthIntervalMs + this.config.commandTimeoutMs);
    } catch (err) {
      return this.markDown(String((err as Error)?.message ?? err));
    }
    this.markUp();
  }

  private markDown(reason: string): void {
    if (this.closed || (!this.up && this.outageTimer)) return;
    const wasUp = this.up;
    this.up = false;
    if (wasUp) this.o.log('error', 'redis_unavailable', { reason });
    // NODE-11: a node that stays cut off from Redis closes its clients 1013, so they move to a node that is not.
    this.outageTimer = setTimeout(() => {
      this.o.log('error', 'redis_outage_close', { afterMs: this.config.outageCloseMs });
      this.o.feed({ type: 'unavailable', now: Date.now(), retryAfterMs: this.config.healthIntervalMs });
    }, this.config.outageCloseMs);
    this.outageTimer.unref();
  }

  private markUp(): void {
    clearTimeout(this.outageTimer);
    this.outageTimer = undefined;
    if (this.subLost) {
      this.subLost = false;
      this.broker.catchUp(); // NODE-4: what the live feed missed while the subscriber was away
      void this.resync(); // NODE-7: what the session control messages missed
    }
    if (this.up) return;
    this.up = true;
    this.o.log('info', 'redis_available', {});
    for (const w of this.upWaiters.splice(0)) w();
  }

  // --- NODE-6, NODE-7: one session per user across nodes ------------------------------------------

  private userKeys(userId: string) {
    const p = `${this.config.keyPrefix}u:{${userId}}:`;
    return { latest: `${p}s`, times: `${p}r`, block: `${p}rb` };
  }

  /**
   * NODE-6: claims a new session of `userId` for `conn` before it is authenticated: the session gets
   * the next generation, and every node closes the user's sessions of lower ones. Rejects when
   * Redis is unavailable (NODE-10: the connection is then closed 1013, never left unchecked).
   * `isOpen` says whether the connection is still there when the claim returns.
   */
  async claimSession(conn: ConnId, userId: string, isOpen: () => boolean): Promise<void> {
    if (this.o.sessionPolicy !== 'single') return;
    if (!this.up) throw new Error('redis unavailable');
    const k = this.userKeys(userId);
    const pending = this.claiming.get(userId) ?? { n: 0, heard: 0 };
    pending.n++;
    this.claiming.set(userId, pending);
    let gen: number;
    try {
      gen = Number(await this.cmd.mooringClaim(`${this.config.keyPrefix}sessions`, k.latest, userId, this.control, this.config.sessionTtlMs));
    } finally {
      if (--pending.n === 0 && this.claiming.get(userId) === pending) this.claiming.delete(userId);
    }
    if (!isOpen()) return;
    this.sessions.set(conn, { userId, gen });
    let s = this.byUser.get(userId);
    if (!s) this.byUser.set(userId, (s = new Set()));
    s.add(conn);
    // A newer claim was heard while this one was in flight: this session is already the older one.
    if (pending.heard > gen) this.supersede(conn, gen + 1);
  }

  /** The connection closed: forget its session. */
  sessionEnded(conn: ConnId): void {
    const s = this.sessions.get(conn);
    if (!s) return;
    this.sessions.delete(conn);
    const set = this.byUser.get(s.userId);
    set?.delete(conn);
    if (set && !set.size) this.byUser.delete(s.userId);
  }

  /** Whether `conn` claimed a session here (an in-band re-authentication claims none). */
  hasSession(conn: ConnId): boolean {
    return this.sessions.has(conn);
  }

  private supersede(conn: ConnId, newer: number): void {
    const s = this.sessions.get(conn);
    if (!s || s.gen >= newer) return;
    this.sessionEnded(conn);
    this.o.feed({ type: 'sessionSuperseded', now: Date.now(), conn });
  }

  private onControl(message: string): void {
    const a = message.indexOf(' ');
    const b = message.indexOf(' ', a + 1);
    const kind = message.slice(0, a);
    const n = Number(message.slice(a + 1, b));
    const userId = message.slice(b + 1);
    if (kind === 's') {
      const pending = this.claiming.get(userId);
      if (pending) pending.heard = Math.max(pending.heard, n);
      for (const conn of [...(this.byUser.get(userId) ?? [])]) this.supersede(conn, n);
    } else if (kind === 'ph' || kind === 'po' || kind === 'pc') {
      this.presence.onControl(kind, n, userId); // NODE-14
    } else if (kind === 'r') {
      this.o.feed({ type: 'userRateLimited', now: Date.now(), userId, retryAfterMs: n }); // NODE-8
    }
  }

  /** NODE-7: control messages may have been missed while the subscriber was away: compare with the latest generations. */
  private async resync(): Promise<void> {
    const users = [...this.byUser.keys()];
    if (!users.length) return;
    try {
      const latest = await this.cmd.mget(users.map((u) => this.userKeys(u).latest));
      users.forEach((u, i) => {
        const g = Number(latest[i] ?? 0);
        for (const conn of [...(this.byUser.get(u) ?? [])]) this.supersede(conn, g);
      });
    } catch {
      this.subLost = true; // retried at the next healthy check
    }
  }

  // --- NODE-8: one rate-limit window per user across nodes ----------------------------------------

  /** Counts one admitted frame of `userId` in the shared window; a full window closes the user everywhere (via the control channel). */
  rateHit(userId: string): void {
    if (!this.up) return; // NODE-12: local limiter only while Redis is away
    const k = this.userKeys(userId);
    const { messages, windowMs } = this.o.rateLimit;
    this.cmd.mooringRate(k.times, k.block, messages, windowMs, this.control, userId).catch(() => undefined);
  }

  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.health);
    clearTimeout(this.outageTimer);
    this.presence.close();
    if (this.up) await this.cmd.del(this.presence.livenessKey).catch(() => undefined);
    this.cmd.disconnect();
    this.sub.disconnect();
  }
}
