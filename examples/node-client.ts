/**
 * A small Node client: connects, echoes, subscribes, publishes once and prints every push and state
 * change until Ctrl-C.
 *
 *   MOORING_TOKEN=<token> npx tsx examples/node-client.ts [ws://127.0.0.1:8080/ws] [channel]
 *
 * Give it a token of its own user (`npx mooring token create --user bob`): with the default session
 * policy (one session per user) a second connection of the browser example's user would replace it (4002).
 * An installed package imports the same class from 'mooring/client'.
 */
import { MooringClient } from '../reference/client/index.js';

const url = process.argv[2] ?? process.env.MOORING_URL ?? 'ws://127.0.0.1:8080/ws';
const channel = process.argv[3] ?? 'news';
const token = process.env.MOORING_TOKEN;
if (!token) {
  process.stderr.write('set MOORING_TOKEN (create one with: npx mooring token create --user bob; use a user the browser example does not use)\n');
  process.exit(2);
}

const client = new MooringClient({
  url,
  // Called on every (re)connect and when the server warns that the token expires: a real app
  // would fetch a fresh token here.
  token: () => token,
});

client.on('state', (e) => {
  const detail =
    e.type === 'reconnecting' ? `attempt ${e.attempt}, next try in ${Math.round(e.delayMs)} ms`
    : e.type === 'closed' ? `code ${e.code} ${e.reason}${e.willRetry ? ', will retry' : ', stopped'}`
    : e.type === 'authenticated' ? `as ${e.userId} (session ${e.sessionId})`
    : '';
  console.log(`[state] ${e.type} ${detail}`);
  if (e.type === 'closed' && !e.willRetry && e.code !== 1000) process.exitCode = 1;
});

client.subscribe(channel, (data, meta) => {
  console.log(`[push] ${meta.channel} #${meta.position.offset}${meta.replay ? ' (replay)' : ''}:`, JSON.stringify(data));
}, {
  onGap: (gap) => console.log(`[gap] ${gap.channel}: ${gap.reason}; an app would refetch its state now`),
});

client.connect();

try {
  // Requests made before the session is authenticated wait for it (up to their timeout).
  console.log('[echo]', JSON.stringify(await client.request('echo', { hello: 'mooring' })));
  await client.request('publish', { channel, data: { from: 'node-client', at: new Date().toISOString() } });
} catch (err) {
  console.error('[request failed]', (err as { code?: string }).code, (err as Error).message);
}

console.log(`listening on "${channel}"; Ctrl-C to stop`);
process.once('SIGINT', () => {
  client.close();
  console.log(JSON.stringify(client.diagnostics(), null, 2).split('\n').slice(0, 30).join('\n'));
  process.exit(0);
});
