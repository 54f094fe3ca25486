/**
 * The file token store (AUTH-6, AUTH-13..AUTH-17): a JSON array of `{id, hash, userId, createdAt,
 * expiresAt}` records, rewritten atomically (temp file + rename) under a lock file, so that the server
 * and any number of `mooring token` processes can share it.
 *
 * The server keeps the whole file in a map, so a lookup never reads the file. The map is kept current
 * by `fs.watch` on the file's directory (a rename replaces the file's inode, so the file itself cannot
 * be watched) and, because fs.watch misses events on some filesystems (NFS, some container mounts), by
 * a `stat` every `pollMs` as well; either one re-reads the file only when its stamp (mtime, size, inode)
 * changed. Every re-read is compared with the map before it: tokens gone are announced as revoked, and
 * changed expiries as such, to `watch` listeners (AUTH-14). A lookup that misses also checks the stamp
 * once, so a token created by the CLI a moment ago is found at once.
 */
import { randomBytes } from 'node:crypto';
import { watch as fsWatch, type FSWatcher } from 'node:fs';
import { open, readFile, rename, stat, unlink } from 'node:fs/promises';
import { basename, dirname, resolve } from 'node:path';
import type { TokenRecord } from '../core/server/index.js';
import {
  applyRevoke, applyRotate, ChangeFeed, MemoryTokenStore, diffTokens, hashToken, idOf, infoOf, newStored, newToken, recordOf,
  type RevokeSelector, type StoredToken, type TokenChange, type TokenInfo, type TokenStore,
} from './token-store.js';

export { hashToken, MemoryTokenStore, type StoredToken, type TokenChange, type TokenInfo, type TokenStore, type RevokeSelector } from './token-store.js';

export interface FileTokenStoreOptions {
  /** While watched, the file's stamp is also checked this often (fs.watch is not reliable everywhere). @default 500 */
  pollMs?: number;
  /** Use fs.watch as well as the poll (false: the poll alone, as on a filesystem without change events). @default true */
  fsWatch?: boolean;
  /** Give up waiting for another process's lock after this long. @default 5_000 */
  lockTimeoutMs?: number;
}

export class FileTokenStore implements TokenStore {
  private byHash = new Map<string, StoredToken>();
  private version = '';
  private writing: Promise<unknown> = Promise.resolve();
  private refreshing: Promise<void> | undefined;
  private readonly feed = new ChangeFeed();
  private watcher: FSWatcher | undefined;
  private poll: NodeJS.Timeout | undefined;
  private closed = false;
  private readonly pollMs: number;
  private readonly lockTimeoutMs: number;
  private readonly fsWatch: boolean;

  constructor(readonly path: string, options: FileTokenStoreOptions = {}) {
    this.pollMs = options.pollMs ?? 500;
    this.fsWatch = options.fsWatch ?? true;
    this.lockTimeoutMs = options.lockTimeoutMs ?? 5_000;
  }

  /** How many tokens the store holds now (as of its last read). */
  get size(): number {
    return this.byHash.size;
  }

  async create(userId: string, options: { ttlMs?: number | null } = {}): Promise<string> {
    return (await this.createMany([{ userId, ttlMs: options.ttlMs }]))[0]!;
  }

  /** Creates many tokens in one write. */
  async createMany(users: { userId: string; ttlMs?: number | null }[]): Promise<string[]> {
    const tokens = users.map(() => newToken());
    const items = users.map((u, i) => newStored(u.userId, u.ttlMs, tokens[i]!));
    await this.update((all) => [...all, ...items]);
    return tokens;
  }

  /** `lookupHash(hashToken(token))`. */
  lookup(token: string): Promise<TokenRecord | null> {
    return this.lookupHash(hashToken(token));
  }

  async lookupHash(hash: string): Promise<TokenRecord | null> {
    if (!this.byHash.has(hash)) {
      const joined = this.refreshing !== undefined;
      await this.refresh();
      // A re-read already under way may have looked at the file before this token was written.
      if (joined && !this.byHash.has(hash)) await this.refresh();
    }
    // Read after the refresh: another lookup may have (re)loaded the file meanwhile.
    const t = this.byHash.get(hash);
    return t ? recordOf(t) : null;
  }

  async list(filter: { userId?: string } = {}): Promise<TokenInfo[]> {
    await this.refresh();
    return [...this.byHash.values()].filter((t) => filter.userId === undefined || t.userId === filter.userId).map(infoOf);
  }

  async revoke(selector: RevokeSelector): Promise<string[]> {
    let revoked: string[] = [];
    await this.update((all) => {
      const r = applyRevoke(all, selector);
      revoked = r.revoked;
      return r.keep;
    });
    return revoked;
  }

  async rotate(userId: string, options: { ttlMs?: number | null; overlapMs?: number } = {}) {
    const token = newToken();
    const fresh = newStored(userId, options.ttlMs, token);
    let change: TokenChange = { revoked: [], expiry: [] };
    await this.update((all) => {
      const r = applyRotate(all, fresh, options.overlapMs, Date.now());
      change = r.change;
      return r.keep;
    });
    return { token, id: idOf(fresh), revoked: change.revoked };
  }

  watch(listener: (change: TokenChange) => void): () => void {
    const off = this.feed.add(listener);
    if (!this.poll && !this.closed) this.startWatching();
    return () => {
      off();
      if (this.feed.size === 0) this.stopWatching(); // nobody listens: no watcher, no poll
    };
  }

  async close(): Promise<void> {
    this.closed = true;
    this.stopWatching();
    await this.refreshing?.catch(() => undefined);
  }

  private stopWatching(): void {
    this.watcher?.close();
    this.watcher = undefined;
    clearInterval(this.poll);
    this.poll = undefined;
  }

  /** Loads the file now (the server calls it at start to report how many tokens it has). */
  async load(): Promise<void> {
    const version = await this.stamp();
    let list: StoredToken[] = [];
    if (version !== 'missing') {
      let parsed: unknown;
      try {
        parsed = JSON.parse(await readFile(this.path, 'utf8'));
      } catch (err) {
        throw new Error(`${resolve(this.path)} is not valid JSON (${(err as Error).message})`);
      }
      if (!Array.isArray(parsed)) throw new Error(`${resolve(this.path)}: expected a JSON array of token records`);
      list = parsed as StoredToken[];
    }
    const before = this.byHash;
    this.byHash = new Map(list.map((t) => [t.hash, t]));
    this.version = version;
    this.feed.emit(diffTokens(before, this.byHash)); // AUTH-14
  }

  private startWatching(): void {
    // AUTH-14: the directory, not the file: the file is replaced by a rename on every write.
    if (this.fsWatch) try {
      this.watcher = fsWatch(dirname(this.path), { persistent: false }, (_event, name) => {
        if (name === null || String(name) === basename(this.path)) void this.refresh().catch(() => undefined);
      });
      this.watcher.on('error', () => {
        this.watcher?.close();
        this.watcher = undefined; // the poll below still runs
      });
    } catch {
      this.watcher = undefined;
    }
    this.poll = setInterval(() => void this.refresh().catch(() => undefined), this.pollMs);
    this.poll.unref();
    void this.refresh().catch(() => undefined);
  }

  /** Re-reads the file when its stamp changed; concurrent callers share one re-read. */
  private refresh(): Promise<void> {
    this.refreshing ??= (async () => {
      try {
        if ((await this.stamp()) !== this.version) await this.load();
      } finally {
        this.refreshing = undefined;
      }
    })();
    return this.refreshing;
  }

  /** Read-modify-write under the lock file, against the file's current content. */
  private async update(modify: (all: StoredToken[]) => StoredToken[]): Promise<void> {
    const run = this.writing.then(async () => {
      const unlock = await this.lock();
      try {
        await this.load();
        const next = modify([...this.byHash.values()]);
        await writeAtomically(this.path, JSON.stringify(next, null, 2) + '\n');
        await this.load(); // announces the change to this process's listeners
      } finally {
        await unlock();
      }
    });
    this.writing = run.catch(() => undefined);
    await run;
  }

  /**
   * AUTH-13: one writer at a time across processes, or a `revoke` could be undone by a concurrent
   * `create` that read the file before it. `wx` on `<file>.lock`; a lock older than 30 s is stale.
   */
  private async lock(): Promise<() => Promise<void>> {
    const lockPath = `${this.path}.lock`;
    const deadline = Date.now() + this.lockTimeoutMs;
    for (;;) {
      try {
        const fh = await open(lockPath, 'wx', 0o600);
        await fh.close();
        return () => unlink(lockPath).catch(() => undefined);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
        const s = await stat(lockPath).catch(() => null);
        if (s && Date.now() - s.mtimeMs > 30_000) await unlink(lockPath).catch(() => undefined);
        else if (Date.now() > deadline) throw new Error(`${lockPath}: held by another process for ${this.lockTimeoutMs} ms`);
        else await new Promise((r) => setTimeout(r, 10 + Math.random() * 20));
      }
    }
  }

  private async stamp(): Promise<string> {
    try {
      const s = await stat(this.path);
      return `${s.mtimeMs}:${s.size}:${s.ino}`;
    } catch {
      return 'missing';
    }
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
