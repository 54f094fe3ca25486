/**
 * Presence across nodes (NODE-14): the `Presence` interface of the presence module (HTTP-1, HTTP-2,
 * HTTP-6, HTTP-7), kept in Redis so that a heartbeat posted to one node and the sessions open on every
 * node answer `GET /presence` on any node, and every node's listeners hear every change.
 *
 * - a user's last heartbeat: one key, `lastSeen`, expiring with the presence window;
 * - a user's sessions: one hash, a field per node (its count there); a node that dies without
 *   closing its sessions stops counting once its liveness key (refreshed by the health watch)
 *   expires, so a crash cannot leave a user "in session" forever;
 * - changes: the scripts say whether a call changed `connected` or the session total across zero,
 *   and publish it on the control channel; every node emits it to its listeners. A window's end is
 *   noticed by each node that heard the heartbeat (one deadline per user), checked against Redis.
 *
 */
import type { Redis } from 'ioredis';
import type { Presence, PresenceChange, PresenceInfo } from '../presence.js';


/** KEYS: seen. ARGV: now, windowMs. Returns 1 when the user was not connected before this heartbeat. */
const HEARTBEAT_LUA = `
local prev = redis.call('GET', KEYS[1])
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
if prev and tonumber(ARGV[1]) - tonumber(prev) < tonumber(ARGV[2]) then return 0 end
return 1
`;

/**
 * KEYS: sessions hash. ARGV: node name, delta, node liveness key prefix. Returns the user's session
 * total over live nodes after the change (fields of dead nodes are dropped on the way).
 */
const SESSIONS_LUA = `
local n = redis.call('HINCRBY', KEYS[1], ARGV[1], ARGV[2])
if n <= 0 then redis.call('HDEL', KEYS[1], ARGV[1]) end
local all = redis.call('HGETALL', KEYS[1])
local total = 0
for i = 1, #all, 2 do
  if all[i] == ARGV[1] or redis.call('EXISTS', ARGV[3] .. all[i]) == 1 then
    total = total + tonumber(all[i + 1])
  else
    redis.call('HDEL', KEYS[1], all[i])
  end
end
return total
`;

/** KEYS: seen, sessions hash. ARGV: node liveness key prefix. Returns {lastSeen or false, sessions}. */
const GET_LUA = `
local seen = redis.call('GET', KEYS[1])
local all = redis.call('HGETALL', KEYS[2])
local total = 0
for i = 1, #all, 2 do
  if redis.call('EXISTS', ARGV[1] .. all[i]) == 1 then total = total + tonumber(all[i + 1]) end
end
return {seen, total}
`;

type Cmd = Redis & {
  mooringHeartbeat(seen: string, now: number, windowMs: number): Promise<number>;
  mooringSessions(hash: string, node: string, delta: number, livePrefix: string): Promise<number>;
  mooringPresence(seen: string, hash: string, livePrefix: string): Promise<[string | null, number]>;
};

export interface RedisPresenceOptions {
  /** A user is connected while its last HTTP heartbeat is younger than this (HTTP-6). @default 60_000 */
  windowMs?: number;
  keyPrefix: string;
  nodeName: string;
  /** The control channel this node's subscriber connection listens on. */
  control: string;
  /** Called when a write fails (Redis unreachable): presence is best effort, never a request failure. */
  onError?: (err: unknown) => void;
}

export class RedisPresence implements Presence {
  readonly windowMs: number;
  private readonly cmd: Cmd;
  private readonly listeners = new Set<(change: PresenceChange) => void>();
  /** Users whose heartbeat this node heard, with the window's end: one timer at the earliest. */
  private readonly windows = new Map<string, number>();
  private timer: NodeJS.Timeout | undefined;
  private timerAt = Infinity;

  constructor(cmd: Redis, private readonly o: RedisPresenceOptions) {
    this.windowMs = o.windowMs ?? 60_000;
    if (!('mooringHeartbeat' in cmd)) {
      cmd.defineCommand('mooringHeartbeat', { numberOfKeys: 1, lua: HEARTBEAT_LUA });
      cmd.defineCommand('mooringSessions', { numberOfKeys: 1, lua: SESSIONS_LUA });
      cmd.defineCommand('mooringPresence', { numberOfKeys: 2, lua: GET_LUA });
    }
    this.cmd = cmd as Cmd;
  }

  /** The key the health watch refreshes: this node counts while it exists. */
  get livenessKey(): string {
    return `${this.livePrefix}${this.o.nodeName}`;
  }

  private get livePrefix(): string {
    return `${this.o.keyPrefix}node:`;
  }

  private keys(userId: string) {
    const p = `${this.o.keyPrefix}u:{${userId}}:`;
    return { seen: `${p}seen`, sessions: `${p}n` };
  }

  /** Resolves once the heartbeat is in Redis, so that a 204 is only sent when every node sees it. */
  heartbeat(userId: string, now: number): Promise<void> {
    // NODE-10: a heartbeat Redis did not take fails the request (HTTP 500), never a silent 204.
    return this.cmd.mooringHeartbeat(this.keys(userId).seen, now, this.windowMs).then((fresh) => (fresh ? this.announce('h', userId, now) : undefined));
  }

  /** Resolves once counted, so that a session is counted on every node before its `authenticated`. */
  sessionOpened(userId: string, now: number): Promise<void> {
    return this.sessions(userId, 1, now);
  }

  sessionClosed(userId: string, now: number): Promise<void> {
    return this.sessions(userId, -1, now);
  }

  private sessions(userId: string, delta: 1 | -1, now: number): Promise<void> {
    return this.cmd.mooringSessions(this.keys(userId).sessions, this.o.nodeName, delta, this.livePrefix).then(
      (total) => {
        if (delta === 1 && Number(total) === 1) this.announce('o', userId, now);
        if (delta === -1 && Number(total) === 0) this.announce('c', userId, now);
      },
      (err) => this.o.onError?.(err),
    );
  }

  async get(userId: string): Promise<PresenceInfo> {
    const k = this.keys(userId);
    const [seen, total] = await this.cmd.mooringPresence(k.seen, k.sessions, this.livePrefix);
    const lastSeen = seen === null ? null : Number(seen);
    // The key expires with the window; judged by the window itself as well (expiry may lag by a few ms).
    return { userId, connected: lastSeen !== null && Date.now() - lastSeen < this.windowMs, lastSeen, sessions: Number(total) };
  }

  on(listener: (change: PresenceChange) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  close(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
  }

  private announce(kind: 'h' | 'o' | 'c', userId: string, at: number): void {
    this.cmd.publish(this.o.control, `p${kind} ${at} ${userId}`).catch((err) => this.o.onError?.(err));
  }

  /** A control message of presence (`ph`, `po`, `pc`), from any node including this one. */
  onControl(kind: string, at: number, userId: string): void {
    if (kind === 'ph') {
      this.windows.set(userId, at + this.windowMs);
      this.arm(at + this.windowMs);
    }
    const cause = kind === 'ph' ? 'heartbeat' : kind === 'po' ? 'session_opened' : kind === 'pc' ? 'session_closed' : null;
    if (cause) this.emit(userId, cause, at);
  }

  private emit(userId: string, cause: PresenceChange['cause'], at: number): void {
    if (!this.listeners.size) return;
    this.get(userId).then((info) => {
      for (const l of this.listeners) l({ ...info, cause, at });
    }, (err) => this.o.onError?.(err));
  }

  private arm(at: number): void {
    if (at >= this.timerAt) return;
    clearTimeout(this.timer);
    this.timerAt = at;
    this.timer = setTimeout(() => this.expire(), Math.max(0, at - Date.now()));
    this.timer.unref();
  }

  /** HTTP-6 across nodes: each window that ended is checked against Redis (a later heartbeat on any node renews it). */
  private expire(): void {
    this.timer = undefined;
    this.timerAt = Infinity;
    const now = Date.now();
    let next = Infinity;
    for (const [userId, end] of this.windows) {
      if (end > now) {
        next = Math.min(next, end);
        continue;
      }
      this.windows.delete(userId);
      this.get(userId).then((info) => {
        if (info.connected && info.lastSeen !== null) {
          this.windows.set(userId, info.lastSeen + this.windowMs);
          this.arm(info.lastSeen + this.windowMs);
        } else if (this.listeners.size) {
          for (const l of this.listeners) l({ ...info, cause: 'window_expired', at: now });
        }
      }, (err) => this.o.onError?.(err));
    }
    if (next < Infinity) this.arm(next);
  }
}
