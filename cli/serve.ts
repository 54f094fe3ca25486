/** `mooring serve`: runs the reference server until SIGTERM/SIGINT, then shuts down gracefully (SHUT-2). */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { DEFAULT_HTTP_HEARTBEAT, DEFAULT_PARAMS } from '../schemas/v1/index.js';
import { SERVER_DEFAULTS, parseTrustProxy, startServer, type ServerOptions } from '../reference/server/index.js';
import { parseDuration, parseFlags, parseInteger, parseRate, runCommand, UsageError } from './args.js';
import { browserExampleFiles } from '../reference/client/static-files.js';

const d = { ...DEFAULT_PARAMS, ...SERVER_DEFAULTS };
const secs = (ms: number) => (ms % 1000 === 0 ? `${ms / 1000}s` : `${ms}ms`);

export const HELP = `Usage: mooring serve [options]

Runs the Mooring reference server (WebSocket and HTTP on one port). Prints
"mooring: listening on ws://HOST:PORT/PATH" when ready; SIGTERM or SIGINT shuts it
down gracefully (every connection gets 1012 with a retry hint), then it exits 0.
Durations take ms, s, m, h or d (e.g. 250ms, 25s); a bare number is milliseconds.

Options (default in brackets):
  --host HOST                   interface to listen on [${d.host}]
  --port PORT                   port, 0 for any free one [${d.port}]
  --path PATH                   WebSocket path [${d.path}]
  --tokens-file FILE            token hashes file (see mooring token create), or :memory: [${d.tokensFile}]
  --heartbeat-interval DUR      WebSocket ping frames this often [${secs(d.heartbeatIntervalMs)}]
  --heartbeat-timeout DUR       close 4001 when nothing arrives this long after a ping [${secs(d.heartbeatTimeoutMs)}]
  --auth-timeout DUR            close 4408 without auth this long after open [${secs(d.authTimeoutMs)}]
  --request-timeout DUR         request timeout advertised to clients [${secs(d.requestTimeoutMs)}]
  --rate-limit N/DUR            per-user inbound messages per sliding window [${d.rateLimit.messages}/${secs(d.rateLimit.windowMs)}]
  --max-payload BYTES           largest inbound message, larger closes 1009 [${d.maxPayloadBytes}]
  --max-subscriptions N         subscriptions per connection [${d.maxSubscriptions}]
  --max-buffered BYTES          outbound buffer per connection before closing 4509 [${d.maxBufferedBytes}]
  --max-pending-requests N      requests pending per connection, beyond gets error too_many_requests [${d.maxPendingRequests}]
  --history-size N              pushes kept per channel for resume [${d.historySize}]
  --history-bytes BYTES         bytes of pushed data kept per channel for resume (LIMIT-7) [${d.historyBytes}]
  --max-history-bytes BYTES     bytes of history kept over all channels (LIMIT-7) [${d.maxHistoryBytes}]
  --restore-allowance N         subscribes after authenticated not counted by the rate limit (RATE-4)
                                [the larger of ${d.restoreAllowance} and --max-subscriptions]
  --max-depth N                 deepest nesting of an inbound message, deeper gets too_deep (LIMIT-6) [${d.maxDepth}]
  --pre-auth-frames N           data frames before auth, one more closes 4400 (LIMIT-8) [${d.preAuthFrames}]
  --pre-auth-bytes BYTES        bytes before auth, more closes 4400 (LIMIT-8) [${d.preAuthBytes}]
  --max-fragments N             fragments of one message, more closes 1009 (LIMIT-8) [${d.maxFragments}]
  --headers-timeout DUR         drop a request whose headers take longer (LIMIT-9) [${secs(d.headersTimeoutMs)}]
  --redis URL                   share channels, history, sessions and the rate limit with every node
                                on this Redis (redis://[user:pass@]host:port[/db], rediss:// for TLS;
                                spec: Multi-node deployments) [none: one process, in memory]
  --redis-prefix PREFIX         prefix of every Redis key; the nodes of one deployment share it [mooring:]
  --redis-tokens                the token store is in Redis too (mooring token --redis URL manages it),
                                so a revocation reaches every node (NODE-15) [tokens file]
  --session-policy single|multiple  single: a new session closes the user's older one [${d.sessionPolicy}]
  --max-connections-per-ip N    WebSocket connections per client IP, beyond gets HTTP 429 [${d.maxConnectionsPerIp}]
  --allow-origin ORIGIN         allow this exact Origin (repeatable) [none; same origin always allowed]
  --no-same-origin              do not allow the server's own origin implicitly
  --allow-token-in-url          accept ?token= in the WebSocket URL [off]
  --trust-proxy LIST            reverse proxies whose X-Forwarded-For is believed for the client
                                address (per-IP limits, logs, same-origin): addresses, CIDRs,
                                loopback, private; comma-separated, repeatable [none]
  --forwarded-header NAME       x-forwarded-for or forwarded (RFC 7239): the one header read
                                from a trusted proxy [x-forwarded-for]
  --tls-cert FILE               PEM certificate (chain): serve wss:// and https:// [off]
  --tls-key FILE                PEM private key of --tls-cert
  --token-warning DUR           token_expiring this long before a token expires [${secs(d.tokenWarningMs)}]
  --shutdown-spread DUR         spread shutdown retry hints over this window [${secs(d.shutdownSpreadMs)}]
  --no-test-actions             do not offer the conformance actions echo, publish, sleep
                                (any token holder may publish to shared channels: use in production) [offered]
  --presence-window DUR         a user is connected while its last HTTP heartbeat is younger (HTTP-6, HTTP-8) [${secs(DEFAULT_HTTP_HEARTBEAT.presenceWindowMs)}]
  --http-heartbeat-interval DUR HTTP heartbeat interval advertised to clients (HTTP-8) [${secs(DEFAULT_HTTP_HEARTBEAT.intervalMs)}]
  --metrics [HOST:]PORT         serve Prometheus metrics at http://HOST:PORT/metrics, a listener of its
                                own (OPS-1, OPS-2); HOST defaults to 127.0.0.1 [off]
  --metrics-token-file FILE     require "Authorization: Bearer <first line of FILE>" for /metrics;
                                needed when HOST is not a loopback address [none]
  --quiet                       no JSON log lines on stderr
  -h, --help                    this help
`;

const OPTIONS = {
  host: { type: 'string' }, port: { type: 'string' }, path: { type: 'string' }, 'tokens-file': { type: 'string' },
  'heartbeat-interval': { type: 'string' }, 'heartbeat-timeout': { type: 'string' }, 'auth-timeout': { type: 'string' },
  'request-timeout': { type: 'string' }, 'rate-limit': { type: 'string' }, 'max-payload': { type: 'string' },
  'max-subscriptions': { type: 'string' }, 'max-buffered': { type: 'string' },
  'max-pending-requests': { type: 'string' }, 'history-size': { type: 'string' },
  'history-bytes': { type: 'string' }, 'max-history-bytes': { type: 'string' }, 'restore-allowance': { type: 'string' },
  'max-depth': { type: 'string' }, 'pre-auth-frames': { type: 'string' }, 'pre-auth-bytes': { type: 'string' },
  'max-fragments': { type: 'string' }, 'headers-timeout': { type: 'string' },
  'session-policy': { type: 'string' }, redis: { type: 'string' }, 'redis-prefix': { type: 'string' }, 'redis-tokens': { type: 'boolean' }, 'max-connections-per-ip': { type: 'string' },
  'allow-origin': { type: 'string', multiple: true }, 'no-same-origin': { type: 'boolean' },
  'allow-token-in-url': { type: 'boolean' }, 'token-warning': { type: 'string' }, 'shutdown-spread': { type: 'string' },
  'trust-proxy': { type: 'string', multiple: true }, 'forwarded-header': { type: 'string' },
  'tls-cert': { type: 'string' }, 'tls-key': { type: 'string' },
  'no-test-actions': { type: 'boolean' }, quiet: { type: 'boolean' },
  'presence-window': { type: 'string' }, 'http-heartbeat-interval': { type: 'string' },
  metrics: { type: 'string' }, 'metrics-token-file': { type: 'string' }, help: { type: 'boolean', short: 'h' },
} as const;

/** The server options of `mooring serve` flags; throws UsageError on a bad flag or value. */
export function parseServeArgs(argv: string[]): ServerOptions {
  const { values: v } = parseFlags(argv, OPTIONS);
  const dur = (k: keyof typeof v) => (v[k] === undefined ? undefined : parseDuration(v[k] as string, `--${k}`));
  const int = (k: keyof typeof v, min = 0) => (v[k] === undefined ? undefined : parseInteger(v[k] as string, `--${k}`, min));
  const policy = v['session-policy'];
  if (policy !== undefined && policy !== 'single' && policy !== 'multiple') throw new UsageError(`--session-policy: expected single or multiple, got "${policy}"`);
  const trustProxy = v['trust-proxy']?.flatMap((s) => s.split(',')).map((s) => s.trim()).filter(Boolean);
  if (trustProxy) {
    try {
      parseTrustProxy(trustProxy); // DEPLOY-7: a bad entry is a usage error, before anything listens
    } catch (e) {
      throw new UsageError(`--trust-proxy: ${(e as Error).message.replace(/^trustProxy: /, '')}`);
    }
  }
  const header = v['forwarded-header']?.toLowerCase();
  if (header !== undefined && header !== 'x-forwarded-for' && header !== 'forwarded') throw new UsageError('--forwarded-header: x-forwarded-for or forwarded');
  if (!v['tls-cert'] !== !v['tls-key']) throw new UsageError('--tls-cert and --tls-key go together');
  const readPem = (flag: 'tls-cert' | 'tls-key') => {
    try {
      return readFileSync(v[flag]!);
    } catch (e) {
      throw new UsageError(`--${flag}: cannot read ${v[flag]}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
    }
  };
  const tls = v['tls-cert'] ? { cert: readPem('tls-cert'), key: readPem('tls-key') } : undefined;
  const redis = v.redis;
  if (redis !== undefined && !/^rediss?:\/\/./.test(redis)) throw new UsageError('--redis: a redis:// or rediss:// URL');
  if (v['redis-prefix'] !== undefined && redis === undefined) throw new UsageError('--redis-prefix needs --redis');
  if (v['redis-tokens'] && redis === undefined) throw new UsageError('--redis-tokens needs --redis');
  return {
    redis: redis === undefined ? undefined : { url: redis, ...(v['redis-prefix'] !== undefined ? { keyPrefix: v['redis-prefix'] } : {}), ...(v['redis-tokens'] ? { tokens: true } : {}) },
    host: v.host, port: int('port'), path: v.path, tokensFile: v['tokens-file'],
    heartbeatIntervalMs: dur('heartbeat-interval'), heartbeatTimeoutMs: dur('heartbeat-timeout'),
    authTimeoutMs: dur('auth-timeout'), requestTimeoutMs: dur('request-timeout'),
    rateLimit: v['rate-limit'] === undefined ? undefined : parseRate(v['rate-limit'], '--rate-limit'),
    maxPayloadBytes: int('max-payload', 1), maxSubscriptions: int('max-subscriptions', 1), maxBufferedBytes: int('max-buffered', 1),
    maxPendingRequests: int('max-pending-requests', 1),
    historySize: int('history-size'), historyBytes: int('history-bytes', 1), maxHistoryBytes: int('max-history-bytes', 1),
    restoreAllowance: int('restore-allowance'), maxDepth: int('max-depth', 2), preAuthFrames: int('pre-auth-frames', 1),
    preAuthBytes: int('pre-auth-bytes', 1), maxFragments: int('max-fragments', 1), headersTimeoutMs: dur('headers-timeout'),
    sessionPolicy: policy, maxConnectionsPerIp: int('max-connections-per-ip', 1),
    allowedOrigins: v['allow-origin'], allowSameOrigin: v['no-same-origin'] ? false : undefined,
    allowTokenInUrl: v['allow-token-in-url'] || undefined, tokenWarningMs: dur('token-warning'),
    shutdownSpreadMs: dur('shutdown-spread'), testActions: v['no-test-actions'] ? false : undefined,
    trustProxy, forwardedHeader: header as ServerOptions['forwardedHeader'], tls,
    logger: v.quiet ? false : undefined,
    presenceWindowMs: dur('presence-window'), httpHeartbeatIntervalMs: dur('http-heartbeat-interval'),
    metrics: metricsOption(v.metrics, v['metrics-token-file']),
  };
}

/** `--metrics [HOST:]PORT` and `--metrics-token-file FILE` → the `metrics` option (OPS-1, OPS-2). */
function metricsOption(address: string | undefined, tokenFile: string | undefined): ServerOptions['metrics'] {
  if (address === undefined) {
    if (tokenFile !== undefined) throw new UsageError('--metrics-token-file needs --metrics [HOST:]PORT');
    return undefined;
  }
  const m = /^(?:\[([^\]]+)\]:|([^:]+):)?(\d+)$/.exec(address);
  if (!m) throw new UsageError(`--metrics: expected [HOST:]PORT like 9464 or 0.0.0.0:9464, got "${address}"`);
  let token: string | undefined;
  if (tokenFile !== undefined) {
    try {
      token = readFileSync(tokenFile, 'utf8').split('\n')[0]!.trim();
    } catch (err) {
      throw new UsageError(`--metrics-token-file: cannot read ${resolve(tokenFile)}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
    if (!token) throw new UsageError(`--metrics-token-file: ${resolve(tokenFile)} is empty`);
  }
  return { host: m[1] ?? m[2] ?? '127.0.0.1', port: parseInteger(m[3]!, '--metrics'), ...(token ? { token } : {}) };
}

/** What the tokens file holds at start-up: the first-hour trap is a server that starts with none. */
export type TokensFileState =
  | { kind: 'memory' }
  | { kind: 'missing'; path: string }
  | { kind: 'loaded'; path: string; tokens: number; users: number; expired: number };

/**
 * Reads the tokens file once before the server starts. Missing or empty: the server starts (tokens
 * created later with `mooring token create` are picked up without a restart) but `run` warns loudly.
 * Unreadable or malformed: a setup error (exit 2): serving with zero tokens would refuse every client
 * with 4401 and look like a protocol problem.
 */
export function inspectTokensFile(file: string, now = Date.now()): TokensFileState {
  if (file === ':memory:') return { kind: 'memory' };
  const abs = resolve(file);
  let text: string;
  try {
    text = readFileSync(abs, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return { kind: 'missing', path: abs };
    throw new SetupProblem(`cannot read the tokens file ${abs} (${code ?? (err as Error).message}): ${code === 'EACCES' ? 'give this user read access to it' : code === 'EISDIR' ? 'it is a directory; give a file' : 'check the path'}`);
  }
  let list: unknown;
  try {
    list = JSON.parse(text);
  } catch (err) {
    throw new SetupProblem(`the tokens file ${abs} is not valid JSON (${(err as Error).message}): it is written by "mooring token create"; move it away to start afresh`);
  }
  if (!Array.isArray(list) || !list.every((t) => typeof t?.hash === 'string' && typeof t?.userId === 'string')) {
    throw new SetupProblem(`the tokens file ${abs} is not a JSON array of {hash, userId, ...} records (the format "mooring token create" writes)`);
  }
  const records = list as { userId: string; expiresAt?: number | null }[];
  return {
    kind: 'loaded', path: abs, tokens: records.length,
    users: new Set(records.map((t) => t.userId)).size,
    expired: records.filter((t) => typeof t.expiresAt === 'number' && t.expiresAt <= now).length,
  };
}

/**
 * Calls `onGone` once when this process's parent exits. Under `npx mooring serve` (or `npm run`) the
 * tree is npm → sh -c → node: a SIGTERM or SIGINT sent to npm alone (a process manager, `kill`) is
 * forwarded by npm to `sh`, which dies without passing it on, and node is re-parented (to init or a
 * subreaper). Node has no parent-death event (no prctl PR_SET_PDEATHSIG), so this checks getppid()
 * twice a second: a change means the wrapper is gone, and the server shuts down as on SIGTERM.
 * Only armed when started by npm (npm_command is set): a server started with nohup or setsid
 * from a shell that then exits must keep running.
 */
export function watchParent(onGone: () => void, everyMs = 500): () => void {
  const parent = process.ppid;
  const timer = setInterval(() => {
    if (process.ppid === parent) return;
    clearInterval(timer);
    onGone();
  }, everyMs);
  timer.unref();
  return () => clearInterval(timer);
}

/** A problem with the environment (not the flags): one line, exit 2, no --help hint. */
export class SetupProblem extends Error {}

const HOW_TO_CREATE = (file: string) =>
  `create one with: mooring token create --user alice${file === resolve(SERVER_DEFAULTS.tokensFile) ? '' : ` --tokens-file ${file}`}`;

function warn(lines: string[]): void {
  const bar = '!'.repeat(72);
  process.stderr.write(`${bar}\n${lines.map((l) => `mooring serve: WARNING: ${l}`).join('\n')}\n${bar}\n`);
}

export async function run(argv: string[]): Promise<number> {
  return runCommand('mooring serve', async () => {
    if (argv.includes('--help') || argv.includes('-h')) {
      process.stdout.write(HELP);
      return 0;
    }
    const options = parseServeArgs(argv);
    // NODE-15: with --redis-tokens the tokens file is not used at all.
    const tokensInRedis = typeof options.redis === 'object' && options.redis.tokens === true;
    let tokens: TokensFileState;
    try {
      tokens = tokensInRedis ? { kind: 'memory' } : inspectTokensFile(options.tokensFile ?? SERVER_DEFAULTS.tokensFile);
    } catch (err) {
      if (!(err instanceof SetupProblem)) throw err;
      process.stderr.write(`mooring serve: ${err.message}\n`);
      return 2;
    }
    // The browser example: / → examples/browser/index.html, /debug → the debug page, /mooring-client.js → the client bundle.
    let server: Awaited<ReturnType<typeof startServer>>;
    try {
      server = await startServer({ staticFiles: browserExampleFiles(), ...options, ...(tokens.kind === 'memory' ? {} : { tokensFile: tokens.path }) });
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      const hint = code === 'EADDRINUSE' ? ': the port is taken (another mooring serve?); pick another with --port' : code === 'EACCES' ? ': ports below 1024 need privileges; pick another with --port' : '';
      process.stderr.write(`mooring serve: cannot start: ${(err as Error).message}${hint}\n`);
      return 2;
    }
    // Handlers first: a SIGTERM right after the URL line must shut down gracefully, not kill.
    const stopped = new Promise<void>((resolve) => {
      let unwatch = () => {};
      const stop = () => {
        process.off('SIGTERM', stop);
        process.off('SIGINT', stop);
        unwatch();
        resolve();
      };
      process.on('SIGTERM', stop);
      process.on('SIGINT', stop);
      if (process.env.npm_command) {
        unwatch = watchParent(() => {
          process.stderr.write('mooring serve: the npm/npx process that started this server is gone: shutting down\n');
          stop();
        });
      }
    });
    // The first line is what scripts wait for; the others say where to go next.
    const http = server.httpUrl;
    const out = [
      `mooring: listening on ${server.url}`,
      `mooring: example page ${http}/#token=<TOKEN>&channel=news`,
      `mooring: debug page   ${http}/debug#token=<TOKEN>&channels=news`,
    ];
    if (tokensInRedis) out.push(`mooring: tokens in Redis (--redis-tokens): ${(await server.tokenStore.list().catch(() => null))?.length ?? 'unknown number of'} token(s); manage them with mooring token --redis URL`);
    else if (tokens.kind === 'memory') out.push('mooring: tokens in memory only (--tokens-file :memory:): none until created through the API');
    else if (tokens.kind === 'loaded') out.push(`mooring: tokens file ${tokens.path}: ${tokens.tokens} token(s) for ${tokens.users} user(s)${tokens.expired ? `, ${tokens.expired} expired` : ''}`);
    else out.push(`mooring: tokens file ${tokens.path}: not there yet`);
    if (server.metrics) out.push(`mooring: metrics on ${await server.metrics.ready}`); // OPS-1
    process.stdout.write(`${out.join('\n')}\n`);
    if (tokens.kind === 'missing' || (tokens.kind === 'loaded' && tokens.tokens - tokens.expired === 0)) {
      const what = tokens.kind === 'missing' ? `the tokens file ${tokens.path} does not exist` : `the tokens file ${tokens.path} holds no ${tokens.tokens ? 'unexpired ' : ''}token`;
      warn([
        `${what}: every client will be refused with 4401 until you create tokens.`,
        `${HOW_TO_CREATE(tokens.path)}`,
        `(this server picks up new tokens without a restart; run both in the same directory or pass the same --tokens-file)`,
      ]);
    }
    await stopped;
    await server.shutdown(); // SHUT-2
    return 0;
  });
}
