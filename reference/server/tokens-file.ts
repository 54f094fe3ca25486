/**
 * The token store (AUTH-6): tokens are random, handed out once, and stored only as SHA-256 hashes,
 * in a JSON file (an array of `{hash, userId, createdAt, expiresAt}`) or in memory (`':memory:'`).
 * The file is re-read when a lookup misses and the file changed, so `mooring token create` works
 * against a running server.
 */
import { createHash, randomBytes } from 'node:crypto';
import { open, readFile, rename, stat, unlink } from 'node:fs/promises';
import type { TokenRecord } from '../core/server/index.js';

export interface StoredToken {
  /** sha256 of the token, hex. */
  hash: string;
  userId: string;
  /** ms since the Unix epoch. */
  createdAt: number;
  /** ms since the Unix epoch, or null: never expires. */
  expiresAt: number | null;
}

export interface TokenStore {
  /** Creates a token for `userId`; returns the token (the only time it exists in clear). */
  create(userId: string, options?: { ttlMs?: number | null }): Promise<string>;
  /** The record of a token, or null when unknown. */
  lookup(token: string): Promise<TokenRecord | null>;
}

export function hashToken(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex');
}

function newToken(): string {
  return randomBytes(32).toString('base64url');
}

function record(t: StoredToken): TokenRecord {
  return { userId: t.userId, expiresAt: t.expiresAt };
}

function stored(userId: string, ttlMs: number | null | undefined, token: string): StoredToken {
  // `authenticated.userId` is at most 256 characters on the wire (AUTH-5).
  if (typeof userId !== 'string' || userId.length < 1 || userId.length > 256) throw new RangeError('a user id has 1 to 256 characters');
  const now = Date.now();
  return { hash: hashToken(token), userId, createdAt: now, expiresAt: ttlMs == null ? null : now + ttlMs };
}

export class MemoryTokenStore implements TokenStore {
  private readonly byHash = new Map<string, StoredToken>();

  async create(userId: string, options: { ttlMs?: number | null } = {}): Promise<string> {
    const token = newToken();
    const t = stored(userId, options.ttlMs, token);
    this.byHash.set(t.hash, t);
    return token;
  }

  async lookup(token: string): Promise<TokenRecord | null> {
    const t = this.byHash.get(hashToken(token));
    return t ? record(t) : null;
  }
}

export class FileTokenStore implements TokenStore {
  private byHash = new Map<string, StoredToken>();
  private version = '';
  private writing: Promise<unknown> = Promise.resolve();
  private refreshing: Promise<void> | undefined;

  constructor(readonly path: string) {}

  async create(userId: string, options: { ttlMs?: number | null } = {}): Promise<string> {
    const token = newToken();
    const t = stored(userId, options.ttlMs, token);
    await this.append([t]);
    return token;
  }

  /** Creates many tokens in one write. */
  async createMany(users: { userId: string; ttlMs?: number | null }[]): Promise<string[]> {
    const tokens = users.map(() => newToken());
    await this.append(users.map((u, i) => stored(u.userId, u.ttlMs, tokens[i]!)));
    return tokens;
  }

  async lookup(token: string): Promise<TokenRecord | null> {
    const hash = hashToken(token);
    if (!this.byHash.has(hash)) {
      const joined = this.refreshing !== undefined;
      await this.refresh();
      // A re-read already under way may have looked at the file before this token was written.
      if (joined && !this.byHash.has(hash)) await this.refresh();
    }
    // Read after the refresh: another lookup may have (re)loaded the file meanwhile.
    const t = this.byHash.get(hash);
    return t ? record(t) : null;
  }

  /** Re-reads the file when it changed; concurrent misses (a reconnect storm) share one re-read. */
  private refresh(): Promise<void> {
    this.refreshing ??= (async () => {
      try {
        if (await this.changed()) await this.load();
      } finally {
        this.refreshing = undefined;
      }
    })();
    return this.refreshing;
  }

  private async append(items: StoredToken[]): Promise<void> {
    const run = this.writing.then(async () => {
      await this.load();
      const all = [...this.byHash.values(), ...items];
      await writeAtomically(this.path, JSON.stringify(all, null, 2) + '\n');
      for (const t of items) this.byHash.set(t.hash, t);
      this.version = await this.stamp();
    });
    this.writing = run.catch(() => undefined);
    await run;
  }

  private async stamp(): Promise<string> {
    try {
      const s = await stat(this.path);
      return `${s.mtimeMs}:${s.size}:${s.ino}`;
    } catch {
      return 'missing';
    }
  }

  private async changed(): Promise<boolean> {
    return (await this.stamp()) !== this.version;
  }

  private async load(): Promise<void> {
    const version = await this.stamp();
    let list: StoredToken[] = [];
    if (version !== 'missing') {
      const parsed: unknown = JSON.parse(await readFile(this.path, 'utf8'));
      if (!Array.isArray(parsed)) throw new Error(`${this.path}: expected a JSON array of token records`);
      list = parsed as StoredToken[];
    }
    this.byHash = new Map(list.map((t) => [t.hash, t]));
    this.version = version;
  }
}

/**
 * AUTH-6: writes `text` to `path` so that a crash (or power loss) leaves either the old file or the new
 * one, never a truncated one: a fresh temp file (0600, `wx`: never through a planted file or symlink),
 * flushed to disk, then renamed over `path`. The temp file is removed when anything fails.
 */
async function writeAtomically(path: string, text: string): Promise<void> {
  const tmp = `${path}.${process.pid}.${Date.now()}.${randomBytes(4).toString('hex')}.tmp`;
  try {
    const fh = await open(tmp, 'wx', 0o600);
    try {
      await fh.writeFile(text, 'utf8');
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, path); // atomic: a running server never reads half a file
  } catch (err) {
    await unlink(tmp).catch(() => undefined);
    throw err;
  }
}

/** `':memory:'` keeps hashes in memory only; any other value is a file path. */
export function openTokenStore(tokensFile: string): TokenStore {
  return tokensFile === ':memory:' ? new MemoryTokenStore() : new FileTokenStore(tokensFile);
}
