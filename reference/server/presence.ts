/**
 * Presence for the application (HTTP-2, HTTP-6..HTTP-8): "is user X connected?" and a stream of
 * changes, from the HTTP heartbeat channel (authoritative for `connected`, as in the seeds: a
 * WebSocket can look open to one side long after the other side is gone, and a network that breaks
 * upgrades still carries HTTP) and from the WebSocket sessions (reported as `sessions`).
 *
 * `Presence` is the interface the server uses; `MemoryPresence` keeps it in this process. A shared
 * implementation (Redis, for several nodes) implements the same interface: `heartbeat` and the session
 * calls write, `get` reads, and it emits the same changes.
 *
 * The window expires without a timer per user: each user has at most one deadline in a min-heap (a
 * heartbeat of a user who has one only moves `lastSeen`; when the deadline comes, a renewed window is
 * pushed again), and one timer is armed at the earliest. A flood of heartbeats therefore costs no
 * memory beyond one entry per user, and a heartbeat is O(1) unless it starts a window.
 */
import { DeadlineHeap } from '../core/server/deadlines.js';

export interface PresenceInfo {
  userId: string;
  /** HTTP-6: an HTTP heartbeat of the user within the presence window. */
  connected: boolean;
  /** ms since the Unix epoch of the user's last HTTP heartbeat, or null when none was seen. */
  lastSeen: number | null;
  /** Live authenticated WebSocket sessions of the user. */
  sessions: number;
}

export interface PresenceChange extends PresenceInfo {
  /**
   * HTTP-7: what changed: `connected` became true (`heartbeat`) or false (`window_expired`), or the
   * user's first session opened (`session_opened`) or last one closed (`session_closed`).
   */
  cause: 'heartbeat' | 'window_expired' | 'session_opened' | 'session_closed';
  /** When (ms since the Unix epoch). */
  at: number;
}

export interface Presence {
  /** The window the server advertises (HTTP-8). */
  readonly windowMs: number;
  /** HTTP-1: the user posted a heartbeat at `now`. */
  heartbeat(userId: string, now: number): void | Promise<void>;
  /** A WebSocket session of the user authenticated / ended. */
  sessionOpened(userId: string, now: number): void | Promise<void>;
  sessionClosed(userId: string, now: number): void | Promise<void>;
  /** HTTP-2, HTTP-6: the user's presence now. */
  get(userId: string): Promise<PresenceInfo>;
  /** HTTP-7: calls `listener` on every change; returns an unsubscribe. */
  on(listener: (change: PresenceChange) => void): () => void;
  /** Stops the timer. */
  close(): void;
}

interface UserState {
  lastSeen: number | null;
  sessions: number;
  connected: boolean;
  /** The user's entry in the deadline heap, if any. */
  queued: boolean;
}

export interface MemoryPresenceOptions {
  /** A user is connected while its last HTTP heartbeat is younger than this (HTTP-6). @default 60_000 */
  windowMs?: number;
  /** The clock. @default Date.now */
  now?: () => number;
}

export class MemoryPresence implements Presence {
  readonly windowMs: number;
  private readonly now: () => number;
  private readonly users = new Map<string, UserState>();
  private readonly listeners = new Set<(change: PresenceChange) => void>();
  /** At most one window deadline per user. */
  private readonly due = new DeadlineHeap<string>();
  private timer: NodeJS.Timeout | undefined;

  constructor(options: MemoryPresenceOptions = {}) {
    this.windowMs = options.windowMs ?? 60_000;
    this.now = options.now ?? Date.now;
  }

  heartbeat(userId: string, now: number): void {
    const u = this.user(userId);
    u.lastSeen = now;
    if (!u.queued) {
      // Every deadline in the heap is at most now + windowMs: this one never precedes the armed timer.
      u.queued = true;
      this.due.push(now + this.windowMs, userId);
      if (!this.timer) this.arm();
    }
    if (!u.connected) {
      u.connected = true;
      this.emit(userId, u, 'heartbeat', now);
    }
  }

  sessionOpened(userId: string, now: number): void {
    const u = this.user(userId);
    if (++u.sessions === 1) this.emit(userId, u, 'session_opened', now);
  }

  sessionClosed(userId: string, now: number): void {
    const u = this.users.get(userId);
    if (!u || u.sessions === 0) return;
    if (--u.sessions === 0) {
      this.emit(userId, u, 'session_closed', now);
      this.forget(userId, u);
    }
  }

  async get(userId: string): Promise<PresenceInfo> {
    const u = this.users.get(userId);
    if (!u) return { userId, connected: false, lastSeen: null, sessions: 0 };
    // The timer may lag the clock by a few ms: judge by the window itself.
    const connected = u.lastSeen !== null && this.now() - u.lastSeen < this.windowMs;
    return { userId, connected, lastSeen: u.lastSeen, sessions: u.sessions };
  }

  on(listener: (change: PresenceChange) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  close(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
  }

  /** Window deadlines pending: at most one per user. */
  get pendingDeadlines(): number {
    return this.due.size;
  }

  /** HTTP-6: expires every window that ended by `now`; returns when the next one ends. */
  expire(now: number): number | undefined {
    for (const userId of this.due.popDue(now)) {
      const u = this.users.get(userId);
      if (!u) continue;
      u.queued = false;
      if (u.lastSeen !== null && u.lastSeen + this.windowMs > now) {
        u.queued = true; // a later heartbeat renewed the window: its deadline, once
        this.due.push(u.lastSeen + this.windowMs, userId);
        continue;
      }
      if (!u.connected) continue;
      u.connected = false;
      this.emit(userId, u, 'window_expired', now);
    }
    return this.due.peek();
  }

  private arm(): void {
    const at = this.due.peek();
    if (at === undefined) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.expire(this.now());
      this.arm();
    }, Math.max(0, at - this.now()));
    this.timer.unref();
  }

  private user(userId: string): UserState {
    let u = this.users.get(userId);
    if (!u) this.users.set(userId, (u = { lastSeen: null, sessions: 0, connected: false, queued: false }));
    return u;
  }

  /** A user never seen over HTTP and in no session is dropped (one entry per user who ever posted a heartbeat, as before). */
  private forget(userId: string, u: UserState): void {
    if (u.lastSeen === null && u.sessions === 0) this.users.delete(userId);
  }

  private emit(userId: string, u: UserState, cause: PresenceChange['cause'], at: number): void {
    if (!this.listeners.size) return;
    const change: PresenceChange = { userId, connected: u.connected, lastSeen: u.lastSeen, sessions: u.sessions, cause, at };
    for (const l of this.listeners) l(change);
  }
}
