/** user → live authenticated connections (SESS-1, RATE-1, HTTP-2). */
import type { ConnId } from './types.js';

export class SessionRegistry {
  private readonly byUser = new Map<string, Set<ConnId>>();

  add(user: string, conn: ConnId): void {
    let s = this.byUser.get(user);
    if (!s) this.byUser.set(user, (s = new Set()));
    s.add(conn);
  }

  remove(user: string, conn: ConnId): void {
    const s = this.byUser.get(user);
    if (!s) return;
    s.delete(conn);
    if (!s.size) this.byUser.delete(user);
  }

  /** A snapshot: callers may close connections while iterating. */
  conns(user: string): ConnId[] {
    return [...(this.byUser.get(user) ?? [])];
  }

  count(user: string): number {
    return this.byUser.get(user)?.size ?? 0;
  }
}
