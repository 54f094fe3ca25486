/** `mooring token create`: creates tokens, prints each once (the last line(s) on stdout), stores only hashes (AUTH-6). */
import { resolve } from 'node:path';
import { SERVER_DEFAULTS } from '../reference/server/options.js';
import { FileTokenStore } from '../reference/server/tokens-file.js';
import { didYouMean, parseDuration, parseFlags, parseInteger, runCommand, usageError, UsageError } from './args.js';

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
  if (sub === '--help' || sub === '-h' || rest.includes('--help') || rest.includes('-h')) {
    process.stdout.write(HELP);
    return 0;
  }
  if (sub === undefined) return usageError('mooring token', 'a subcommand is needed: create');
  if (sub !== 'create') return usageError('mooring token', `unknown subcommand "${sub}"${didYouMean(sub, ['create'])}`);
  return runCommand('mooring token create', async () => {
    const { values: v } = parseFlags(rest, { user: { type: 'string' }, ttl: { type: 'string' }, count: { type: 'string' }, 'tokens-file': { type: 'string' } });
    if (!v.user) throw new UsageError('--user NAME is required');
    const ttlMs = v.ttl === 'never' ? null : parseDuration(v.ttl ?? '90d', '--ttl');
    const count = v.count === undefined ? undefined : parseInteger(v.count, '--count', 1);
    const file = resolve(v['tokens-file'] ?? SERVER_DEFAULTS.tokensFile);
    const store = new FileTokenStore(file);
    const users = count === undefined ? [v.user] : Array.from({ length: count }, (_, i) => `${v.user}-${i + 1}`);
    let tokens: string[];
    try {
      tokens = await store.createMany(users.map((userId) => ({ userId, ttlMs })));
    } catch (err) {
      if (err instanceof RangeError) throw new UsageError(`--user: ${err.message}`);
      const code = (err as NodeJS.ErrnoException).code;
      process.stderr.write(`mooring token create: cannot update the tokens file ${file}: ${code ? `${code} ` : ''}${(err as Error).message.split('\n')[0]}\n`);
      return 2;
    }
    const expiry = ttlMs === null ? 'never expires' : `expires ${new Date(Date.now() + ttlMs).toISOString()}`;
    process.stderr.write(`mooring token: created ${tokens.length} token(s) for ${users.length === 1 ? users[0] : `${users[0]}..${users.at(-1)}`} (${expiry}); hashes stored in ${file}\n`);
    process.stdout.write(tokens.join('\n') + '\n');
    return 0;
  });
}
