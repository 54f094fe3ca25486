/**
 * NODE-15: the token store in Redis, shared by every node (and by `mooring token --redis`).
 *
 * Redis holds only SHA-256 hashes (AUTH-6): the hash `<prefix>tokens` maps a token's hash to the JSON
 * of its `StoredToken` (id, userId, createdAt, expiresAt). Every change is announced on the pub/sub
 * channel `<prefix>tokens:changed`; each store reloads on it and tells its `watch` listeners what was
 * revoked or re-dated, so a revocation made anywhere closes the token's live sessions with 4401 on
 * every node (AUTH-14) within the bound of NODE-15.
 *
 * `lookupHash` answers from an in-memory copy; a hash it does not know (created elsewhere since the
 * last reload) is read from Redis once.
 */
import { Redis } from 'ioredis';
import type { TokenRecord } from '../../core/server/index.js';
import {
  ChangeFeed, applyRevoke, applyRotate, diffTokens, idOf, infoOf, newStored, newToken, recordOf,
  type RevokeSelector, type StoredToken, type TokenChange, type TokenInfo, type TokenStore,
} from '../token-store.js';
import { redisConfig, type RedisOption } from './node.js';

export class RedisTokenStore implements TokenStore {
  private readonly cmd: Redis;
  private sub: Redis | null = null;
  private readonly key: string;
  private readonly channel: string;
  private readonly feed = new ChangeFeed();
  private cache = new Map<string, StoredToken>();
  private loaded: Promise<void> | null = null;
  private closed = false;

  constructor(option: RedisOption) {
    const c = redisConfig(option);
    this.key = `${c.keyPrefix}tokens`;
    this.channel = `${c.keyPrefix}tokens:changed`;
    this.cmd = new Redis(c.url, { maxRetriesPerRequest: 1, commandTimeout: c.commandTimeoutMs, connectionName: `mooring-tokens-${c.nodeName}`, lazyConnect: true });
    this.cmd.on('error', () => undefined); // commands reject with the error; the server logs those
  }

  private async all(): Promise<Map<string, StoredToken>> {
    const raw = await this.cmd.hgetall(this.key);
    return new Map(Object.entries(raw).map(([h, v]) => [h, JSON.parse(v) as StoredToken]));
  }

  /** Reloads the copy and announces what changed since the last one (NODE-15). */
  private async reload(): Promise<void> {
    const after = await this.all();
    const change = diffTokens(this.cache, after);
    this.cache = after;
    this.feed.emit(change);
  }

  private ensureLoaded(): Promise<void> {
    return (this.loaded ??= this.reload());
  }

  /** Writes a change: `set` are stored, `del` hashes removed, then every store is told. */
  private async write(set: StoredToken[], del: string[], change: TokenChange): Promise<void> {
    const m = this.cmd.multi();
    if (set.length) m.hset(this.key, Object.fromEntries(set.map((t) => [t.hash, JSON.stringify(t)])));
    if (del.length) m.hdel(this.key, ...del);
    m.publish(this.channel, '1');
    await m.exec();
    for (const t of set) this.cache.set(t.hash, t);
    for (const h of del) this.cache.delete(h);
    this.feed.emit(change);
  }

  async create(userId: string, options: { ttlMs?: number | null } = {}): Promise<string> {
    const token = newToken();
    const t = newStored(userId, options.ttlMs, token);
    await this.write([t], [], { revoked: [], expiry: [] });
    return token;
  }

  async lookupHash(hash: string): Promise<TokenRecord | null> {
    await this.ensureLoaded();
    let t = this.cache.get(hash);
    if (!t) {
      const raw = await this.cmd.hget(this.key, hash);
      if (!raw) return null;
      t = JSON.parse(raw) as StoredToken;
      this.cache.set(hash, t);
    }
    return recordOf(t);
  }

  async list(filter: { userId?: string } = {}): Promise<TokenInfo[]> {
    const all = [...(await this.all()).values()].sort((a, b) => a.createdAt - b.createdAt);
    return all.filter((t) => filter.userId === undefined || t.userId === filter.userId).map(infoOf);
  }

  async revoke(selector: RevokeSelector): Promise<string[]> {
    const all = [...(await this.all()).values()];
    const { revoked } = applyRevoke(all, selector);
    if (!revoked.length) return revoked;
    await this.write([], all.filter((t) => revoked.includes(idOf(t))).map((t) => t.hash), { revoked, expiry: [] });
    return revoked;
  }

  async rotate(userId: string, options: { ttlMs?: number | null; overlapMs?: number } = {}) {
    const token = newToken();
    const fresh = newStored(userId, options.ttlMs, token);
    const before = [...(await this.all()).values()];
    const now = Date.now();
    const { keep, change } = applyRotate(before, fresh, options.overlapMs, now);
    const kept = new Set(keep.map((t) => t.hash));
    const changed = new Set(change.expiry.map((e) => e.id));
    await this.write(
      keep.filter((t) => t === fresh || changed.has(idOf(t))),
      before.filter((t) => !kept.has(t.hash)).map((t) => t.hash),
      change,
    );
    return { token, id: idOf(fresh), revoked: change.revoked };
  }

  /** NODE-15: listeners hear changes made by any store on this Redis; the first call subscribes. */
  watch(listener: (change: TokenChange) => void): () => void {
    const off = this.feed.add(listener);
    if (!this.sub && !this.closed) {
      const sub = (this.sub = this.cmd.duplicate());
      sub.on('error', () => undefined);
      sub.on('message', () => void this.reload().catch(() => undefined));
      // After a lost subscription the copy is reloaded: a change announced meanwhile is not missed.
      sub.on('ready', () => void this.reload().catch(() => undefined));
      void sub.subscribe(this.channel).catch(() => undefined);
      void this.ensureLoaded().catch(() => undefined);
    }
    return off;
  }

  /** Resolves once `watch` listens on Redis (tests and the CLI wait on it). */
  async watching(): Promise<void> {
    if (!this.sub) return;
    await this.sub.subscribe(this.channel);
    await this.ensureLoaded();
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.sub?.disconnect();
    await this.cmd.quit().catch(() => this.cmd.disconnect());
  }
}
