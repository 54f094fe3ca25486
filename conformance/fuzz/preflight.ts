/**
 * Before fuzzing: can we reach the server, do both tokens authenticate as two different users, and
 * what session params does it advertise? One function, so it can be swapped for the suite's shared
 * preflight later. Throws `PreflightError` (exit code 2 in the CLI) with a sentence saying what to fix.
 */
import WebSocket from 'ws';
import { validateServerMessage, type SessionParams } from '../../schemas/v1/index.js';

export class PreflightError extends Error {
  override name = 'PreflightError';
}

export interface Preflight {
  params: Omit<SessionParams, 'tokenExpiresAt'>;
  userIds: [string, string];
  /** SUB-12 (revision 1.2): each user's own channel, when the server advertises `userChannel`. */
  userChannels?: [string | undefined, string | undefined];
}

async function authenticate(url: string, token: string, timeoutMs: number): Promise<{ userId: string; params: SessionParams; userChannel?: string }> {
  const ws = new WebSocket(url, 'mooring.v1', { perMessageDeflate: false });
  try {
    return await new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new PreflightError(`no answer to auth from ${url} within ${timeoutMs} ms`)), timeoutMs);
      ws.once('error', (e) => reject(new PreflightError(`cannot connect to ${url}: ${e.message}`)));
      ws.once('unexpected-response', (_q, res) => reject(new PreflightError(`${url} refused the WebSocket handshake with HTTP ${res.statusCode}`)));
      ws.once('open', () => ws.send(JSON.stringify({ type: 'auth', token })));
      ws.once('close', (code, reason) => reject(new PreflightError(`${url} closed the connection after auth with ${code} ${reason.toString()} (is the token valid?)`)));
      ws.once('message', (data) => {
        clearTimeout(timer);
        let v: unknown;
        try {
          v = JSON.parse(String(data));
        } catch {
          return reject(new PreflightError('the answer to auth is not JSON'));
        }
        const r = validateServerMessage(v);
        if (!r.ok || r.message.type !== 'authenticated') return reject(new PreflightError(`the answer to auth is not a valid authenticated message: ${String(data).slice(0, 200)}`));
        resolve({ userId: r.message.userId, params: r.message.params, userChannel: r.message.userChannel });
      });
    });
  } finally {
    ws.removeAllListeners('close');
    ws.on('error', () => undefined);
    ws.terminate();
  }
}

export async function preflight(url: string, tokens: [string, string], timeoutMs = 5_000): Promise<Preflight> {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new PreflightError(`not a URL: ${url}`);
  }
  if (parsed.protocol !== 'ws:' && parsed.protocol !== 'wss:') throw new PreflightError(`expected a ws:// or wss:// URL, got ${url}`);
  const a = await authenticate(url, tokens[0], timeoutMs);
  const b = await authenticate(url, tokens[1], timeoutMs);
  if (a.userId === b.userId) throw new PreflightError(`--token and --token2 authenticate the same user (${a.userId}); the fuzzer needs two users`);
  const { tokenExpiresAt, ...params } = a.params;
  if (tokenExpiresAt !== null && tokenExpiresAt - Date.now() < 10 * 60_000) throw new PreflightError('the first token expires within 10 minutes; use longer-lived tokens');
  const userChannels = a.userChannel !== undefined || b.userChannel !== undefined ? { userChannels: [a.userChannel, b.userChannel] as [string | undefined, string | undefined] } : {};
  return { params, userIds: [a.userId, b.userId], ...userChannels };
}
