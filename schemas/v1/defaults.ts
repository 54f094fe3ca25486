/**
 * The protocol's recommended values (from production experience: see spec/mooring-v1.md §Defaults).
 * Servers advertise their actual values in `authenticated.params`; clients and the conformance suite
 * use the advertised values, never these, once a session exists.
 */
import type { SessionParams } from './messages.js';

export const DEFAULT_PARAMS: Omit<SessionParams, 'tokenExpiresAt'> = {
  heartbeatIntervalMs: 25_000,
  heartbeatTimeoutMs: 10_000,
  authTimeoutMs: 30_000,
  requestTimeoutMs: 10_000,
  rateLimit: { messages: 60, windowMs: 10_000 },
  maxPayloadBytes: 64 * 1024,
  maxSubscriptions: 100,
  maxBufferedBytes: 1024 * 1024,
  historySize: 100,
  maxPendingRequests: 100,
  restoreAllowance: 100,
  historyBytes: 1024 * 1024,
  maxDepth: 32,
  sessionPolicy: 'single',
};

/** Client reconnect policy defaults (RECON-1, RECON-2). */
export const DEFAULT_BACKOFF = {
  baseMs: 1_000,
  capMs: 30_000,
  /** A session must stay authenticated this long before the attempt counter resets (RECON-2). */
  stableAfterMs: 10_000,
};

/** HTTP heartbeat channel defaults (HTTP-1, HTTP-2, HTTP-4). */
export const DEFAULT_HTTP_HEARTBEAT = {
  intervalMs: 30_000,
  /** A user is "connected" when its last HTTP heartbeat is younger than this. */
  presenceWindowMs: 60_000,
};
