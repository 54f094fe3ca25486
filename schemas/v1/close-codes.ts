/**
 * The close-code registry (ERR-5): every WebSocket close code Mooring v1 uses, with who sends it and
 * the class that tells a client what to do next. The spec's table (spec/mooring-v1.md, "Close codes")
 * is generated from this one (`npm run gen:spec`) and a test fails when they differ.
 */

/**
 * What a client does after a close with this code (RECON-5):
 * - `reconnect`: reconnect with jittered exponential backoff (RECON-1), at least after any retry hint.
 * - `reconnect_now`: reconnect after the server's retry hint (RECON-4), or at once with a small jitter if none.
 * - `refresh_token`: obtain a fresh token, then reconnect with backoff.
 * - `stop`: do not reconnect; surface the reason to the application.
 */
export type CloseClass = 'reconnect' | 'reconnect_now' | 'refresh_token' | 'stop';

export interface CloseCodeInfo {
  code: number;
  name: string;
  sentBy: 'server' | 'client' | 'either' | 'none';
  class: CloseClass;
  meaning: string;
  /** Rule IDs that use this code. */
  rules: string[];
}

export const CLOSE_CODES = {
  NORMAL: {
    code: 1000, name: 'normal_closure', sentBy: 'either', class: 'stop',
    meaning: 'The peer finished on purpose (the application closed the client, or the server ended the session with no error).',
    rules: ['ERR-5'],
  },
  GOING_AWAY: {
    code: 1001, name: 'going_away', sentBy: 'either', class: 'reconnect',
    meaning: 'The endpoint is going away (page unload, server process leaving without a restart).',
    rules: ['ERR-5'],
  },
  ABNORMAL: {
    code: 1006, name: 'abnormal_closure', sentBy: 'none', class: 'reconnect',
    meaning: 'Observed locally when the connection ended without a close frame (network loss, process killed). Never sent.',
    rules: ['RECON-5'],
  },
  POLICY_VIOLATION: {
    code: 1008, name: 'policy_violation', sentBy: 'server', class: 'reconnect',
    meaning: 'A generic policy refusal. Mooring v1 defines a specific code for each of its own conditions and never sends it for them; it may come from an intermediary or an operator policy.',
    rules: ['ERR-5', 'RECON-5'],
  },
  MESSAGE_TOO_BIG: {
    code: 1009, name: 'message_too_big', sentBy: 'server', class: 'reconnect',
    meaning: 'An inbound message exceeded maxPayloadBytes, or (revision 1.2, optional) came in more fragments than the server allows.',
    rules: ['LIMIT-1', 'LIMIT-8'],
  },
  INTERNAL_ERROR: {
    code: 1011, name: 'internal_error', sentBy: 'server', class: 'reconnect',
    meaning: 'The server hit an unexpected condition. A conformant server never sends it in answer to client input.',
    rules: ['ERR-4'],
  },
  SERVICE_RESTART: {
    code: 1012, name: 'service_restart', sentBy: 'server', class: 'reconnect_now',
    meaning: 'The server is restarting (graceful shutdown); the reason carries a retry hint.',
    rules: ['SHUT-2'],
  },
  TRY_AGAIN_LATER: {
    code: 1013, name: 'try_again_later', sentBy: 'server', class: 'reconnect',
    meaning: 'The server is overloaded, or (revision 1.3) a node of a multi-node server lost its store or a hole in a channel; reconnect with backoff, not before the retry hint.',
    rules: ['RECON-4', 'NODE-4', 'NODE-10', 'NODE-11'],
  },
  HEARTBEAT_TIMEOUT: {
    code: 4001, name: 'heartbeat_timeout', sentBy: 'either', class: 'reconnect',
    meaning: 'No pong (or any traffic) arrived within heartbeatTimeoutMs of a ping; the connection is presumed dead.',
    rules: ['HB-1', 'HB-3'],
  },
  SESSION_REPLACED: {
    code: 4002, name: 'session_replaced', sentBy: 'server', class: 'stop',
    meaning: 'A newer session of the same user authenticated (single-session policy). Reconnecting would make two clients fight.',
    rules: ['SESS-1', 'SESS-2'],
  },
  NOT_AUTHENTICATED: {
    code: 4400, name: 'not_authenticated', sentBy: 'server', class: 'stop',
    meaning: 'A message other than auth arrived before the session was authenticated, or (revision 1.2, optional) more frames or bytes than the server allows before authentication.',
    rules: ['AUTH-3', 'LIMIT-8'],
  },
  UNAUTHORIZED: {
    code: 4401, name: 'unauthorized', sentBy: 'server', class: 'stop',
    meaning: 'The token is unknown or revoked; also a live session whose token was revoked (revision 1.3).',
    rules: ['AUTH-4', 'AUTH-9', 'AUTH-14'],
  },
  AUTH_TIMEOUT: {
    code: 4408, name: 'auth_timeout', sentBy: 'server', class: 'reconnect',
    meaning: 'No auth message arrived within authTimeoutMs of the connection opening.',
    rules: ['AUTH-2'],
  },
  TOKEN_EXPIRED: {
    code: 4419, name: 'token_expired', sentBy: 'server', class: 'refresh_token',
    meaning: 'The session token expired (at auth, or later without an in-band re-auth).',
    rules: ['AUTH-8', 'AUTH-11'],
  },
  RATE_LIMITED: {
    code: 4429, name: 'rate_limited', sentBy: 'server', class: 'reconnect',
    meaning: 'The user sent more than rateLimit.messages within rateLimit.windowMs; the reason carries a retry hint.',
    rules: ['RATE-1'],
  },
  SLOW_CONSUMER: {
    code: 4509, name: 'slow_consumer', sentBy: 'server', class: 'reconnect',
    meaning: 'More than maxBufferedBytes were waiting to be sent to this connection.',
    rules: ['LIMIT-3'],
  },
} as const satisfies Record<string, CloseCodeInfo>;

export type CloseCodeKey = keyof typeof CLOSE_CODES;
export const CLOSE = Object.fromEntries(
  Object.entries(CLOSE_CODES).map(([k, v]) => [k, v.code]),
) as { [K in CloseCodeKey]: (typeof CLOSE_CODES)[K]['code'] };

const byCode = new Map<number, CloseCodeInfo>(Object.values(CLOSE_CODES).map((c) => [c.code, c]));

/** The registry entry of a close code, if Mooring defines it. */
export function closeCodeInfo(code: number): CloseCodeInfo | undefined {
  return byCode.get(code);
}

/**
 * RECON-5: the class of a close code. Codes not in the registry: 1000–2999 reconnect with backoff
 * (standard WebSocket errors such as 1002, 1003, 1007, 1008, 1010, 1014, 1015); 4000–4999 codes of
 * other applications also reconnect with backoff.
 */
export function closeClass(code: number): CloseClass {
  return byCode.get(code)?.class ?? 'reconnect';
}

/**
 * Close reasons (RECON-4, SHUT-2): `<name>` or `<name>;retry=<ms>`, at most 123 bytes, never internal
 * details (ERR-3). `retry` is the least time the client waits before reconnecting.
 */
export function formatCloseReason(name: string, retryAfterMs?: number): string {
  return retryAfterMs === undefined ? name : `${name};retry=${Math.max(0, Math.round(retryAfterMs))}`;
}

/** Parses a close reason into its name and retry hint. Unparseable reasons give just the text. */
export function parseCloseReason(reason: string): { name: string; retryAfterMs?: number } {
  const m = /^([^;]*)(?:;retry=(\d{1,9}))?$/.exec(reason);
  if (!m) return { name: reason };
  return m[2] === undefined ? { name: m[1]! } : { name: m[1]!, retryAfterMs: Number(m[2]) };
}
