/**
 * The limits the load generators need raised on every server under test, set through options and
 * printed with every result: the reference server's defaults are for production (60 messages per
 * 10 s per user, 256 sockets per IP) and would make the benchmark measure the limiter.
 */
import type { ServerOptions } from '../../reference/server/index.js';

export const BENCH_LIMITS = {
  rateLimit: { messages: 1_000_000, windowMs: 1_000 },
  maxConnectionsPerIp: 100_000,
  maxSocketsPerIp: 100_064,
  maxPendingRequests: 1_000,
  maxBufferedBytes: 64 * 1024 * 1024,
  historySize: 2_000,
  maxSubscriptions: 100,
} satisfies ServerOptions;

export function formatLimits(l: Record<string, unknown> = BENCH_LIMITS): string {
  return Object.entries(l).map(([k, v]) => `${k}=${typeof v === 'object' ? JSON.stringify(v) : v}`).join(', ');
}

/** Options every server kind receives from the orchestrator. */
export interface HostStart {
  port?: number;
  /** raw ws fan-out: JSON.stringify per subscriber (naive) or once per push. */
  fanout?: 'naive' | 'once';
  /** Mooring: 'memory', or a redis:// URL for a broker whose history survives a restart. */
  broker?: string;
  /** Mooring: SHUT-3 spread of the shutdown retry hints, ms. */
  shutdownSpreadMs?: number;
  heartbeatIntervalMs?: number;
  /** Tokens to accept: user ids (tokens are created/returned by `tokens`). */
  overrides?: Partial<ServerOptions>;
}
