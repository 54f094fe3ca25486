/**
 * `mooring fuzz` with no URL: the reference server in-process, with limits small enough that the
 * fuzzer reaches them within a run (4 subscriptions, 6 pending requests, a history of 5 pushes and
 * 16 KiB, messages of 16 KiB) and a rate limit high enough that its own traffic never waits.
 */
import { startServer, type ServerOptions } from '../../reference/server/index.js';

export const FUZZ_SERVER_OPTIONS = {
  rateLimit: { messages: 100_000, windowMs: 1_000 },
  maxSubscriptions: 4,
  maxPendingRequests: 6,
  historySize: 5,
  maxPayloadBytes: 16 * 1024,
  historyBytes: 16 * 1024,
  sessionPolicy: 'multiple',
} satisfies ServerOptions;

export interface EmbeddedFuzzTarget {
  url: string;
  tokens: [string, string];
  close(): Promise<void>;
}

export async function startFuzzTarget(options: ServerOptions = {}): Promise<EmbeddedFuzzTarget> {
  const server = await startServer({ ...FUZZ_SERVER_OPTIONS, port: 0, tokensFile: ':memory:', logger: false, ...options });
  const tokens: [string, string] = [await server.createToken('fuzz-user-1'), await server.createToken('fuzz-user-2')];
  return { url: server.url, tokens, close: () => server.shutdown() };
}
