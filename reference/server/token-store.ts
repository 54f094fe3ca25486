/**
 * The token store interface (AUTH-6, AUTH-13..AUTH-17) and the in-memory store.
 *
 * A token is 32 random bytes (base64url), handed out once by `create` or `rotate` and stored only as
 * its SHA-256 hash. Each stored token also has a public `id` (not derived from the token) by which it
 * is listed and revoked; `list` never returns a token or a whole hash, only an 8-hex-digit prefix.
 *
 * A store backs the server in three ways:
 * - `lookupHash(sha256hex)` on every `auth` and every HTTP heartbeat (the server hashes the token, so a
 *   store never sees one in clear): it must answer from memory (no file or network round trip per
 *   lookup for a token it knows);
 * - `watch(listener)`: the store tells the server of revocations and expiry changes, however they
 *   happened (this process, `mooring token revoke` in another process, another node), so that the
 *   server closes live sessions of a revoked token with 4401 (AUTH-14) within a second;
 * - `create` / `list` / `revoke` / `rotate` for the CLI and the application.
 *
 * Rotation (AUTH-17): `rotate(userId)` creates a new token for the user and revokes every older token
 * of the user at once (their live sessions close with 4401), unless `overlapMs` is given: the older
 * tokens then expire `overlapMs` from now instead (sessions on them get `token_expiring` and, without an
 * in-band re-auth with the new token, close with 4419 at that time, AUTH-8), so that a client can swap
 * tokens without a gap.
 */
import { createHash, randomBytes } from 'node:crypto';
import type { TokenRecord } from '../core/server/index.js';

export interface StoredToken {
  /** Public id of the token (listed, revoked by); never enough to authenticate. */
  id?: string;
  /** sha256 of the token, hex. */
  hash: string;
  userId: string;
  /** ms since the Unix epoch. */
  createdAt: number;
  /** ms since the Unix epoch, or null: never expires. */
  expiresAt: number | null;
}

/** What `list` shows of a token: never the token, never its whole hash. */
export interface TokenInfo {
  id: string;
  userId: string;
  createdAt: number;
  expiresAt: number | null;
  /** The first 8 hex digits of the token's SHA-256, to match a token one holds (`sha256sum`). */
  hashPrefix: string;
}

/** A change the server must apply to live sessions (AUTH-14, AUTH-17). */
export interface TokenChange {
  /** Ids of tokens revoked (removed): sessions authenticated with them close with 4401. */
  revoked: string[];
  /** Tokens whose expiry changed (rotation with overlap): id → new expiresAt. */
  expiry: { id: string; expiresAt: number | null }[];
}

export type RevokeSelector = { id: string } | { userId: string };

export interface TokenStore {
  /** Creates a token for `userId`; returns the token (the only time it exists in clear). */
  create(userId: string, options?: { ttlMs?: number | null }): Promise<string>;
  /** The record of the token whose SHA-256 (hex) is `hash`, with its id; null when unknown (AUTH-4). */
  lookupHash(hash: string): Promise<TokenRecord | null>;
  /** Every stored token (expired ones too), oldest first, optionally of one user. */
  list(filter?: { userId?: string }): Promise<TokenInfo[]>;
  /** Revokes one token by id, or every token of a user; resolves with the ids revoked (AUTH-13). */
  revoke(selector: RevokeSelector): Promise<string[]>;
  /** A new token for `userId`; older tokens of the user revoked, or expiring after `overlapMs` (AUTH-17). */
  rotate(userId: string, options?: { ttlMs?: number | null; overlapMs?: number }): Promise<{ token: string; id: string; revoked: string[] }>;
  /**
   * Calls `listener` with every revocation and expiry change, whoever made it; returns an unsubscribe.
   * A file store starts watching its file on the first call (AUTH-14).
   */
  watch(listener: (change: TokenChange) => void): () => void;
  /** Stops watching (timers, fs watchers). Idempotent. */
  close?(): Promise<void>;
}

export function hashToken(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex');
}

export function newToken(): string {
  return randomBytes(32).toString('base64url');
}

/** Tokens stored before ids existed get one derived from their hash: stable across reloads. */
export function idOf(t: StoredToken): string {
  return t.id ?? `h${t.hash.slice(0, 15)}`;
}

export function recordOf(t: StoredToken): TokenRecord {
  return { userId: t.userId, expiresAt: t.expiresAt, tokenId: idOf(t) };
}

export function infoOf(t: StoredToken): TokenInfo {
  return { id: idOf(t), userId: t.userId, createdAt: t.createdAt, expiresAt: t.expiresAt, hashPrefix: t.hash.slice(0, 8) };
}

export function newStored(userId: string, ttlMs: number | null | undefined, token: string, now = Date.now()): StoredToken {
  // `authenticated.userId` is at most 256 characters on the wire (AUTH-5).
  if (typeof userId !== 'string' || userId.length < 1 || userId.length > 256) throw new RangeError('a user id has 1 to 256 characters');
  if (ttlMs != null && (!Number.isFinite(ttlMs) || ttlMs < 0)) throw new RangeError('ttlMs is a duration >= 0, or null for never');
  return { id: `t${randomBytes(6).toString('hex')}`, hash: hashToken(token), userId, createdAt: now, expiresAt: ttlMs == null ? null : now + ttlMs };
}

/**
 * Applies `revoke` or `rotate` to a list of stored tokens (pure; both stores use it).
 * Returns the list to keep and the change to announce.
 */
export function applyRevoke(all: StoredToken[], selector: RevokeSelector): { keep: StoredToken[]; revoked: string[] } {
  const hit = (t: StoredToken) => ('id' in selector ? idOf(t) === selector.id : t.userId === selector.userId);
  return { keep: all.filter((t) => !hit(t)), revoked: all.filter(hit).map(idOf) };
}

export function applyRotate(
  all: StoredToken[], fresh: StoredToken, overlapMs: number | undefined, now: number,
): { keep: StoredToken[]; change: TokenChange } {
  const older = all.filter((t) => t.userId === fresh.userId);
  if (overlapMs === undefined || overlapMs <= 0) {
    const { keep, revoked } = applyRevoke(all, { userId: fresh.userId });
    return { keep: [...keep, fresh], change: { revoked, expiry: [] } };
  }
  const until = now + overlapMs;
  const expiry: TokenChange['expiry'] = [];
  const keep = all.map((t) => {
    if (!older.includes(t) || (t.expiresAt !== null && t.expiresAt <= until)) return t;
    expiry.push({ id: idOf(t), expiresAt: until });
    return { ...t, expiresAt: until };
  });
  return { keep: [...keep, fresh], change: { revoked: [], expiry } };
}

/** Listener bookkeeping shared by the stores. */
export class ChangeFeed {
  private readonly listeners = new Set<(change: TokenChange) => void>();

  get size(): number {
    return this.listeners.size;
  }

  add(listener: (change: TokenChange) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  emit(change: TokenChange): void {
    if (!change.revoked.length && !change.expiry.length) return;
    for (const l of this.listeners) l(change);
  }
}

/** The difference between two snapshots of a store: ids gone are revoked; changed expiries are announced. */
export function diffTokens(before: Map<string, StoredToken>, after: Map<string, StoredToken>): TokenChange {
  const afterById = new Map([...after.values()].map((t) => [idOf(t), t]));
  const change: TokenChange = { revoked: [], expiry: [] };
  for (const t of before.values()) {
    const id = idOf(t);
    const now = afterById.get(id);
    if (!now) change.revoked.push(id);
    else if (now.expiresAt !== t.expiresAt) change.expiry.push({ id, expiresAt: now.expiresAt });
  }
  return change;
}

/** Tokens in memory only (`tokensFile: ':memory:'`): lost on restart. */
export class MemoryTokenStore implements TokenStore {
  private byHash = new Map<string, StoredToken>();
  private readonly feed = new ChangeFeed();

  async create(userId: string, options: { ttlMs?: number | null } = {}): Promise<string> {
    const token = newToken();
    const t = newStored(userId, options.ttlMs, token);
    this.byHash.set(t.hash, t);
    return token;
  }

  async lookupHash(hash: string): Promise<TokenRecord | null> {
    const t = this.byHash.get(hash);
    return t ? recordOf(t) : null;
  }

  /** `lookupHash(hashToken(token))`. */
  lookup(token: string): Promise<TokenRecord | null> {
    return this.lookupHash(hashToken(token));
  }

  async list(filter: { userId?: string } = {}): Promise<TokenInfo[]> {
    return [...this.byHash.values()].filter((t) => filter.userId === undefined || t.userId === filter.userId).map(infoOf);
  }

  async revoke(selector: RevokeSelector): Promise<string[]> {
    const { keep, revoked } = applyRevoke([...this.byHash.values()], selector);
    this.byHash = new Map(keep.map((t) => [t.hash, t]));
    this.feed.emit({ revoked, expiry: [] });
    return revoked;
  }

  async rotate(userId: string, options: { ttlMs?: number | null; overlapMs?: number } = {}) {
    const token = newToken();
    const fresh = newStored(userId, options.ttlMs, token);
    const { keep, change } = applyRotate([...this.byHash.values()], fresh, options.overlapMs, Date.now());
    this.byHash = new Map(keep.map((t) => [t.hash, t]));
    this.feed.emit(change);
    return { token, id: idOf(fresh), revoked: change.revoked };
  }

  watch(listener: (change: TokenChange) => void): () => void {
    return this.feed.add(listener);
  }

  async close(): Promise<void> {}
}
