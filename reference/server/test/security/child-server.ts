/**
 * A reference server in its own process, for the security tests that measure the process itself
 * (file descriptors, RSS, time to exit). Options come as JSON in argv[2]; it prints one JSON line
 * `{url, httpUrl, tokens}` on stdout when ready, counts its log lines by event, answers `stats` on
 * stdin with a JSON line, and on SIGTERM shuts down gracefully (SHUT-2) and exits like `mooring serve`.
 */
import { createInterface } from 'node:readline';
import { startServer } from '../../index.js';

const options = JSON.parse(process.argv[2] ?? '{}');
const tokenUsers: string[] = options.tokenUsers ?? ['alice', 'bob'];
delete options.tokenUsers;
const events: Record<string, number> = {};
let logBytes = 0;
const server = await startServer({
  port: 0,
  tokensFile: ':memory:',
  strictOutbound: false,
  ...options,
  logger: (e) => {
    events[e.event] = (events[e.event] ?? 0) + 1;
    logBytes += JSON.stringify(e).length + 1;
  },
});
const tokens = await Promise.all(tokenUsers.map((u) => server.createToken(u)));
process.stdout.write(JSON.stringify({ url: server.url, httpUrl: server.httpUrl, tokens }) + '\n');

createInterface({ input: process.stdin }).on('line', (line) => {
  if (line.trim() === 'stats') {
    global.gc?.();
    process.stdout.write(JSON.stringify({ stats: { rss: process.memoryUsage().rss, heapUsed: process.memoryUsage().heapUsed, connections: server.connectionCount(), events, logBytes } }) + '\n');
  }
});

process.once('SIGTERM', () => {
  void server.shutdown().then(() => process.exit(0));
});
