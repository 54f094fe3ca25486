/**
 * PARAM-1: contradictions between advertised session parameters — combinations under which a
 * conformant client is closed or loses data although it keeps every advertised limit. Used by the
 * reference server's tests, the schema tests (on the defaults) and the conformance suite (on any
 * server that advertises the revision 1.2 parameters).
 */
import type { SessionParams } from './messages.js';

export type ParamsToCheck = Omit<SessionParams, 'tokenExpiresAt'> & { tokenExpiresAt?: number | null };

/** Each contradiction as one sentence; empty when the parameters agree with each other. */
export function paramContradictions(p: ParamsToCheck): string[] {
  const out: string[] = [];
  const { messages, windowMs } = p.rateLimit;
  // RATE-4: restoring maxSubscriptions channels after a reconnect must never trip the rate limit.
  if (p.restoreAllowance === undefined) {
    if (p.maxSubscriptions > messages) {
      out.push(`restoring maxSubscriptions (${p.maxSubscriptions}) channels needs ${p.maxSubscriptions} subscribes, more than rateLimit.messages (${messages}), and no restoreAllowance is advertised`);
    }
  } else if (p.restoreAllowance < p.maxSubscriptions) {
    out.push(`restoreAllowance (${p.restoreAllowance}) is below maxSubscriptions (${p.maxSubscriptions}): a client restoring all its channels would be rate-limited`);
  }
  // HB-3 vs RATE-1: an idle client's pings alone must fit in the rate limit, with room to spare.
  const pingsPerWindow = Math.ceil(windowMs / p.heartbeatIntervalMs) + 1;
  if (pingsPerWindow * 2 > messages) {
    out.push(`an idle client's pings (${pingsPerWindow} per ${windowMs} ms at heartbeatIntervalMs ${p.heartbeatIntervalMs}) use more than half of rateLimit.messages (${messages})`);
  }
  // LIMIT-3 vs LIMIT-1: one push of a maximal payload must fit in the outbound buffer.
  if (p.maxBufferedBytes < 2 * p.maxPayloadBytes) {
    out.push(`maxBufferedBytes (${p.maxBufferedBytes}) is below twice maxPayloadBytes (${p.maxPayloadBytes}): a subscriber could be closed 4509 for two pushes of allowed size`);
  }
  // LIMIT-7 vs LIMIT-1: the history must hold at least one push of allowed size.
  if (p.historyBytes !== undefined && p.historySize > 0 && p.historyBytes < p.maxPayloadBytes) {
    out.push(`historyBytes (${p.historyBytes}) is below maxPayloadBytes (${p.maxPayloadBytes}): a push of allowed size could never be replayed`);
  }
  return out;
}
