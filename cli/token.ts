/** `mooring token create`: creates tokens, prints each once (the last line(s) on stdout), stores only hashes (AUTH-6). */
import { parseArgs } from 'node:util';
import { SERVER_DEFAULTS } from '../reference/server/options.js';
import { FileTokenStore } from '../reference/server/tokens-file.js';
import { parseDuration, parseInteger, UsageError } from './args.js';

export const HELP = `Usage: mooring token create --user NAME [--ttl DUR|never] [--count N] [--tokens-file FILE]

Creates a bearer token for user NAME, prints it once as the last line on stdout and
stores only its SHA-256 hash in the tokens file (a running "mooring serve" using the
same file picks it up without a restart).

Options (default in brackets):
  --user NAME           the user id (required)
  --ttl DUR|never       lifetime: 45s, 30m, 12h, 90d, ... or never [90d]
  --count N             create N users NAME-1..NAME-N, one token per line, in order [1]
  --tokens-file FILE    where hashes are stored [${SERVER_DEFAULTS.tokensFile}]
  -h, --help            this help
`;

export async function run(argv: string[]): Promise<number> {
  const [sub, ...rest] = argv;
  if (sub === undefined || sub === '--help' || sub === '-h' || rest.includes('--help') || rest.includes('-h')) {
    process.stdout.write(HELP);
    return sub === undefined ? 2 : 0;
  }
  if (sub !== 'create') {
    process.stderr.write(`mooring token: unknown subcommand "${sub}"\n${HELP}`);
    return 2;
  }
  try {
    const { values: v } = parseArgs({
      args: rest,
      strict: true,
      options: { user: { type: 'string' }, ttl: { type: 'string' }, count: { type: 'string' }, 'tokens-file': { type: 'string' } },
    });
    if (!v.user) throw new UsageError('--user NAME is required');
    const ttlMs = v.ttl === 'never' ? null : parseDuration(v.ttl ?? '90d', '--ttl');
    const count = v.count === undefined ? undefined : parseInteger(v.count, '--count', 1);
    const file = v['tokens-file'] ?? SERVER_DEFAULTS.tokensFile;
    const store = new FileTokenStore(file);
    const users = count === undefined ? [v.user] : Array.from({ length: count }, (_, i) => `${v.user}-${i + 1}`);
    const tokens = await store.createMany(users.map((userId) => ({ userId, ttlMs })));
    const expiry = ttlMs === null ? 'never expires' : `expires ${new Date(Date.now() + ttlMs).toISOString()}`;
    process.stderr.write(`mooring token: created ${tokens.length} token(s) for ${users.length === 1 ? users[0] : `${users[0]}..${users.at(-1)}`} (${expiry}); hashes stored in ${file}\n`);
    process.stdout.write(tokens.join('\n') + '\n');
    return 0;
  } catch (err) {
    process.stderr.write(`mooring token create: ${(err as Error).message}\n`);
    return 2;
  }
}
