/**
 * Starts the raw server as a process, so the conformance suite can drive it with --server-cmd:
 *
 *   npx tsx conformance/test/raw-server/main.ts --port 0 --token T1=alice --token T2=bob [--break NAME]
 *
 * Prints `listening on ws://HOST:PORT/ws` on stdout when ready. SIGTERM runs the graceful shutdown
 * (every connection closed with 1012 and a retry hint, SHUT-2) and exits 0; SIGINT stops at once.
 * Run with --help for every flag.
 */
import { readFileSync } from 'node:fs';
import { BREAKS, isBreakName, startRawServer, type RawServerOptions, type TokenEntry } from './server.js';

const NUMERIC_FLAGS = {
  '--heartbeat-interval-ms': 'heartbeatIntervalMs',
  '--heartbeat-timeout-ms': 'heartbeatTimeoutMs',
  '--auth-timeout-ms': 'authTimeoutMs',
  '--request-timeout-ms': 'requestTimeoutMs',
  '--max-payload-bytes': 'maxPayloadBytes',
  '--max-subscriptions': 'maxSubscriptions',
  '--max-buffered-bytes': 'maxBufferedBytes',
  '--max-pending-requests': 'maxPendingRequests',
  '--history-size': 'historySize',
  '--token-warning-ms': 'tokenWarningMs',
  '--max-connections-per-ip': 'maxConnectionsPerIp',
  '--shutdown-spread-ms': 'shutdownSpreadMs',
  '--slow-consumer-grace-ms': 'slowConsumerGraceMs',
  '--presence-window-ms': 'presenceWindowMs',
} as const satisfies Record<string, keyof RawServerOptions>;

const HELP = `usage: tsx conformance/test/raw-server/main.ts [flags]

  --host HOST                   (127.0.0.1)
  --port N                      (0: a free port)
  --token TOKEN=USER[@EXPIRES]  repeatable; EXPIRES in ms since the epoch, or +MS from now
  --tokens-file FILE            one TOKEN=USER[@EXPIRES] per line (blank lines and # comments skipped)
  --break NAME                  violate one rule (see --list-breaks)
  --list-breaks                 print the breaks and exit
  --rate-limit-messages N       (60)
  --rate-limit-window-ms N      (10000)
  --session-policy single|multiple
  --allowed-origin ORIGIN       repeatable
  --allow-token-in-url
${Object.keys(NUMERIC_FLAGS).map((f) => `  ${f} N`).join('\n')}
`;

function fail(message: string): never {
  process.stderr.write(`${message}\n`);
  process.exit(2);
}

function parseArgs(argv: string[]): RawServerOptions {
  const options: RawServerOptions = {};
  const tokens: Record<string, TokenEntry> = {};
  const rateLimit = { messages: 60, windowMs: 10_000 };
  let rateLimitGiven = false;
  const origins: string[] = [];
  const addToken = (spec: string, where: string) => {
    const m = /^([^=]+)=([^@]+)(?:@(\+?\d+))?$/.exec(spec);
    if (!m) fail(`${where} needs TOKEN=USER[@EXPIRES]`);
    const exp = m[3];
    tokens[m[1]!] = { userId: m[2]!, expiresAt: exp === undefined ? null : exp.startsWith('+') ? Date.now() + Number(exp.slice(1)) : Number(exp) };
  };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i]!;
    const value = () => {
      const v = argv[++i];
      if (v === undefined) fail(`${flag} needs a value`);
      return v;
    };
    const num = () => {
      const v = Number(value());
      if (!Number.isFinite(v) || v < 0) fail(`${flag} needs a non-negative number`);
      return v;
    };
    if (flag === '--help' || flag === '-h') {
      process.stdout.write(HELP);
      process.exit(0);
    } else if (flag === '--list-breaks') {
      for (const [name, b] of Object.entries(BREAKS)) process.stdout.write(`${name.padEnd(28)} ${b.rules.join(',').padEnd(14)} ${b.description}\n`);
      process.exit(0);
    } else if (flag === '--host') options.host = value();
    else if (flag === '--port') options.port = num();
    else if (flag === '--token') addToken(value(), flag);
    else if (flag === '--tokens-file') {
      const file = value();
      for (const line of readFileSync(file, 'utf8').split(/\r?\n/)) {
        const t = line.trim();
        if (t !== '' && !t.startsWith('#')) addToken(t, `--tokens-file ${file}`);
      }
    } else if (flag === '--break') {
      const name = value();
      if (!isBreakName(name)) fail(`unknown break ${name}; see --list-breaks`);
      options.break = name;
    } else if (flag === '--rate-limit-messages') {
      rateLimit.messages = num();
      rateLimitGiven = true;
    } else if (flag === '--rate-limit-window-ms') {
      rateLimit.windowMs = num();
      rateLimitGiven = true;
    } else if (flag === '--session-policy') {
      const v = value();
      if (v !== 'single' && v !== 'multiple') fail('--session-policy is single or multiple');
      options.sessionPolicy = v;
    } else if (flag === '--allowed-origin') origins.push(value());
    else if (flag === '--allow-token-in-url') options.allowTokenInUrl = true;
    else if (flag in NUMERIC_FLAGS) options[NUMERIC_FLAGS[flag as keyof typeof NUMERIC_FLAGS]] = num();
    else fail(`unknown flag ${flag}; see --help`);
  }
  if (Object.keys(tokens).length > 0) options.tokens = tokens;
  if (rateLimitGiven) options.rateLimit = rateLimit;
  if (origins.length > 0) options.allowedOrigins = origins;
  return options;
}

const options = parseArgs(process.argv.slice(2));
const server = await startRawServer(options);
if (!options.tokens) {
  // Generated tokens: print them so a caller can use them (only in this case; given tokens are never printed).
  for (const t of server.tokens) process.stdout.write(`token ${t.userId} ${t.token}\n`);
}
if (options.break) process.stderr.write(`raw-server: break ${options.break} (${BREAKS[options.break].rules.join(', ')})\n`);
process.stdout.write(`listening on ${server.url}\n`);

let stopping = false;
process.on('SIGTERM', () => {
  if (stopping) return;
  stopping = true;
  server.shutdown().then(() => process.exit(0), () => process.exit(1));
});
process.on('SIGINT', () => {
  if (stopping) return;
  stopping = true;
  server.close().then(() => process.exit(0), () => process.exit(1));
});
