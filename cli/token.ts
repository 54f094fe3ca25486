/**
 * `mooring token create | list | revoke | rotate` over the tokens file (AUTH-6, AUTH-13..AUTH-17).
 * A token is printed once, by create and rotate, as the last line(s) of stdout; nothing else ever
 * prints a token or a whole hash. A running `mooring serve` on the same file sees every change within a
 * second: new tokens work, revoked ones stop working and their live sessions close with 4401.
 */
import { resolve } from 'node:path';
import { SERVER_DEFAULTS } from '../reference/server/options.js';
import { FileTokenStore } from '../reference/server/tokens-file.js';
import { RedisTokenStore } from '../reference/server/redis/token-store.js';
import type { TokenInfo } from '../reference/server/token-store.js';
import { didYouMean, parseDuration, parseFlags, parseInteger, runCommand, usageError, UsageError } from './args.js';

export const HELP = `Usage: mooring token <create|list|revoke|rotate> [options]

Manages bearer tokens in a tokens file, which stores only their SHA-256 hashes. A
running "mooring serve" using the same file sees every change within a second, without
a restart: new tokens work at once; revoked tokens stop working and the sessions
authenticated with them are closed (4401 unauthorized).

  mooring token create --user NAME [--ttl DUR|never] [--count N]
      creates a token and prints it once, as the last line on stdout
      (--count N: users NAME-1..NAME-N, one token per line, in order)
  mooring token list [--user NAME] [--json]
      lists tokens: id, user, created, expires, first 8 hex digits of the hash
      (never the token)
  mooring token revoke --id ID | --user NAME
      revokes one token, or every token of a user
  mooring token rotate --user NAME [--ttl DUR|never] [--overlap DUR]
      creates a new token for the user (printed once) and revokes the user's older
      tokens at once; with --overlap they stay valid that long instead, so that
      clients can switch without a gap

Options (default in brackets):
  --user NAME           the user id
  --id ID               a token id, as list shows it
  --ttl DUR|never       lifetime: 45s, 30m, 12h, 90d, ... or never [90d]
  --count N             create: N users NAME-1..NAME-N [1]
  --overlap DUR         rotate: older tokens expire after DUR instead of at once [0]
  --json                list: one JSON array instead of a table
  --tokens-file FILE    where hashes are stored [${SERVER_DEFAULTS.tokensFile}]
  --redis URL           the hashes are in this Redis instead (redis:// or rediss://; the servers
                        run with --redis URL --redis-tokens): revocation reaches every node (NODE-15)
  --redis-prefix PREFIX prefix of the Redis keys, as the servers' --redis-prefix [mooring:]
  -h, --help            this help
`;

/** Where the CLI keeps tokens, and how to name that place in messages. */
type Store = (FileTokenStore | RedisTokenStore) & { where: string };

const SUBCOMMANDS = ['create', 'list', 'revoke', 'rotate'] as const;
type Sub = (typeof SUBCOMMANDS)[number];

/** Which options each subcommand takes (anything else is a usage error). */
const ALLOWED: Record<Sub, string[]> = {
  create: ['user', 'ttl', 'count', 'tokens-file', 'redis', 'redis-prefix'],
  list: ['user', 'json', 'tokens-file', 'redis', 'redis-prefix'],
  revoke: ['id', 'user', 'tokens-file', 'redis', 'redis-prefix'],
  rotate: ['user', 'ttl', 'overlap', 'tokens-file', 'redis', 'redis-prefix'],
};

const iso = (ms: number | null) => (ms === null ? 'never' : new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z'));

function table(rows: TokenInfo[], now: number): string {
  const lines = [['ID', 'USER', 'CREATED', 'EXPIRES', 'HASH'], ...rows.map((t) => [
    t.id, t.userId, iso(t.createdAt), `${iso(t.expiresAt)}${t.expiresAt !== null && t.expiresAt <= now ? ' (expired)' : ''}`, `${t.hashPrefix}…`,
  ])];
  const widths = lines[0]!.map((_, i) => Math.max(...lines.map((l) => l[i]!.length)));
  return lines.map((l) => l.map((c, i) => (i === l.length - 1 ? c : c.padEnd(widths[i]!))).join('  ')).join('\n') + '\n';
}

export async function run(argv: string[]): Promise<number> {
  const [sub, ...rest] = argv;
  if (sub === '--help' || sub === '-h' || sub === 'help') {
    process.stdout.write(HELP);
    return 0;
  }
  if (sub === undefined) return usageError('mooring token', `a subcommand is needed: ${SUBCOMMANDS.join(', ')}`);
  if (!(SUBCOMMANDS as readonly string[]).includes(sub)) return usageError('mooring token', `unknown subcommand "${sub}"${didYouMean(sub, SUBCOMMANDS)}`);
  const cmd = sub as Sub;
  if (rest.includes('--help') || rest.includes('-h')) {
    process.stdout.write(HELP);
    return 0;
  }
  const command = `mooring token ${cmd}`;
  return runCommand(command, async () => {
    const options = Object.fromEntries(ALLOWED[cmd].map((k) => [k, { type: k === 'json' ? 'boolean' : 'string' }])) as Record<string, { type: 'string' | 'boolean' }>;
    const v = parseFlags(rest, options).values as Record<string, string | boolean | undefined>;
    const url = v.redis as string | undefined;
    if (url !== undefined && !/^rediss?:\/\/./.test(url)) throw new UsageError('--redis: a redis:// or rediss:// URL');
    if (url !== undefined && v['tokens-file'] !== undefined) throw new UsageError('--tokens-file and --redis: one of them');
    if (v['redis-prefix'] !== undefined && url === undefined) throw new UsageError('--redis-prefix needs --redis');
    const file = (v['tokens-file'] as string | undefined) ?? SERVER_DEFAULTS.tokensFile;
    // NODE-15: with --redis the CLI writes where every node reads, and every node hears the change.
    const store: Store = url !== undefined
      ? Object.assign(new RedisTokenStore({ url, ...(v['redis-prefix'] !== undefined ? { keyPrefix: v['redis-prefix'] as string } : {}) }), { where: `Redis ${url.replace(/\/\/[^@/]*@/, '//')}` })
      : Object.assign(new FileTokenStore(file), { where: resolve(file) });
    try {
      switch (cmd) {
        case 'create': return await create(store, v);
        case 'list': return await list(store, v);
        case 'revoke': return await revoke(store, v);
        case 'rotate': return await rotate(store, v);
      }
    } catch (err) {
      if (err instanceof UsageError) throw err;
      if (err instanceof RangeError) throw new UsageError(err.message);
      // A damaged or unreadable file, a lock held too long: one line naming the file; no stack trace (exit 2: setup).
      const message = (err as Error).message.split('\n')[0]!;
      const code = (err as NodeJS.ErrnoException).code;
      process.stderr.write(`${command}: cannot update the tokens ${url !== undefined ? `in Redis` : `file ${resolve(file)}`}: ${code ? `${code} ` : ''}${message}\n`);
      return 2;
    } finally {
      await store.close();
    }
  });
}

function ttlOf(v: Record<string, unknown>): number | null {
  return v.ttl === 'never' ? null : parseDuration((v.ttl as string | undefined) ?? '90d', '--ttl');
}

function expiryText(ttlMs: number | null): string {
  return ttlMs === null ? 'never expires' : `expires ${iso(Date.now() + ttlMs)}`;
}

async function create(store: Store, v: Record<string, unknown>): Promise<number> {
  const user = v.user as string | undefined;
  if (!user) throw new UsageError('--user NAME is required');
  const ttlMs = ttlOf(v);
  const count = v.count === undefined ? undefined : parseInteger(v.count as string, '--count', 1);
  const users = count === undefined ? [user] : Array.from({ length: count }, (_, i) => `${user}-${i + 1}`);
  const tokens = store instanceof FileTokenStore
    ? await store.createMany(users.map((userId) => ({ userId, ttlMs })))
    : await Promise.all(users.map((userId) => store.create(userId, { ttlMs })));
  process.stderr.write(`mooring token: created ${tokens.length} token(s) for ${users.length === 1 ? users[0] : `${users[0]}..${users.at(-1)}`} (${expiryText(ttlMs)}); hashes stored in ${store.where}\n`);
  process.stdout.write(tokens.join('\n') + '\n');
  return 0;
}

async function list(store: Store, v: Record<string, unknown>): Promise<number> {
  const rows = await store.list(v.user === undefined ? {} : { userId: v.user as string });
  if (v.json) process.stdout.write(JSON.stringify(rows, null, 2) + '\n');
  else if (rows.length) process.stdout.write(table(rows, Date.now()));
  else process.stderr.write(`mooring token: no tokens${v.user === undefined ? '' : ` of ${String(v.user)}`} in ${store.where}\n`);
  return 0;
}

async function revoke(store: Store, v: Record<string, unknown>): Promise<number> {
  if ((v.id === undefined) === (v.user === undefined)) throw new UsageError('needs --id ID or --user NAME (one of them)');
  const ids = await store.revoke(v.id !== undefined ? { id: v.id as string } : { userId: v.user as string });
  if (!ids.length) {
    process.stderr.write(`mooring token: no token matches ${v.id !== undefined ? `id ${String(v.id)}` : `user ${String(v.user)}`} in ${store.where}\n`);
    return 1;
  }
  process.stderr.write(`mooring token: revoked ${ids.length} token(s); a server using ${store.where} closes their sessions (4401) within a second\n`);
  process.stdout.write(ids.join('\n') + '\n');
  return 0;
}

async function rotate(store: Store, v: Record<string, unknown>): Promise<number> {
  const user = v.user as string | undefined;
  if (!user) throw new UsageError('--user NAME is required');
  const ttlMs = ttlOf(v);
  const overlapMs = v.overlap === undefined ? undefined : parseDuration(v.overlap as string, '--overlap');
  const before = await store.list({ userId: user });
  const { token, id, revoked } = await store.rotate(user, { ttlMs, overlapMs });
  const older = overlapMs ? `${before.length} older token(s) expire ${iso(Date.now() + overlapMs)}` : `${revoked.length} older token(s) revoked`;
  process.stderr.write(`mooring token: new token ${id} for ${user} (${expiryText(ttlMs)}); ${older}\n`);
  process.stdout.write(token + '\n');
  return 0;
}
