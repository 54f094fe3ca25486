/**
 * The sans-I/O client core's interface: inputs (what happened, fed by a driver with `now`) and
 * actions (what the driver must do). Message shapes come from `schemas/v1/messages.ts`.
 */
import type {
  ClientMessage,
  Json,
  Position,
  SessionParams,
} from '../../../schemas/v1/messages.js';
import type { CloseClass } from '../../../schemas/v1/close-codes.js';

/** The client's connection state. */
export type ClientState =
  /** Constructed, `connect()` not called yet. */
  | 'idle'
  /** Getting a token, opening the socket, or waiting for `authenticated`. */
  | 'connecting'
  /** The session is authenticated: requests and subscriptions flow. */
  | 'authenticated'
  /** Waiting for the next reconnect attempt. */
  | 'reconnecting'
  /** Stopped: by `close()` or a stop-class close code (RECON-5). `connect()` starts again. */
  | 'closed'
  /** Stopped after `maxAttempts` consecutive failed attempts. `connect()` starts again. */
  | 'gave_up';

/** Why the token function is called (the application may use it to force a refresh). */
export type TokenReason =
  /** First connection after `connect()`. */
  | 'connect'
  /** A reconnect after a close that was not about the token. */
  | 'reconnect'
  /** The server closed with 4419 token_expired: the old token must not be reused. */
  | 'expired'
  /** The server sent `token_expiring`: re-authenticate in-band (AUTH-10). */
  | 'expiring'
  /** The HTTP heartbeat (HTTP-4) needs the token for its Authorization header. */
  | 'heartbeat';

/** Why a subscription lost continuity; the application refetches the channel's state. */
export type GapReason =
  /** The server said it cannot replay from our position (SUB-9). */
  | 'unavailable'
  /** The channel's epoch changed: the server lost its history. */
  | 'epoch_changed'
  /** A push skipped offsets within the same epoch. */
  | 'offset_gap';

export interface GapInfo {
  channel: string;
  reason: GapReason;
  /** The last position the client had seen, if any. */
  from?: Position;
  /** The position the stream continues from. */
  to: Position;
}

export interface PushMeta {
  channel: string;
  position: Position;
  ts: number;
  replay: boolean;
}

/** Events the client surfaces to the application. */
export type ClientEvent =
  | { type: 'connecting'; attempt: number; url: string }
  /** `userChannel`: the user's own channel, when the server names it (SUB-12, revision 1.2). */
  | { type: 'authenticated'; userId: string; sessionId: string; params: SessionParams; reauth: boolean; userChannel?: string }
  | { type: 'reconnecting'; attempt: number; delayMs: number; at: number }
  | { type: 'closed'; code: number; reason: string; willRetry: boolean; closeClass: CloseClass; byClient: boolean }
  /** `maxAttempts` consecutive attempts failed: the client stopped reconnecting (state `gave_up`). */
  | { type: 'gave_up'; attempts: number; lastCode: number }
  /** The client has had no authenticated session for `downAlertMs` (once per outage). */
  | { type: 'down'; since: number; forMs: number }
  /** ROBUST-1: a server frame failed the schema and was ignored. */
  | { type: 'invalid_frame'; message: string }
  | { type: 'subscribed'; channel: string; position: Position; resume?: 'replayed' | 'unavailable'; replayed?: number }
  | { type: 'server_error'; code: string; message: string; requestId?: string; channel?: string }
  | { type: 'token_error'; reason: TokenReason; message: string }
  | { type: 'http_heartbeat'; ok: boolean; status?: number; message?: string };

/** Inputs a driver feeds to the core, each with the current time. */
export type CoreInput =
  /** The application calls `connect()`. */
  | { type: 'connect' }
  /** The application calls `close()`. */
  | { type: 'close' }
  /** The application asks for a fresh connection now (debug pages: "force reconnect"). */
  | { type: 'reconnect' }
  /** The token function answered (for the token fetch `fetch`). */
  | { type: 'token'; fetch: number; token: string }
  /** The token function threw or rejected. */
  | { type: 'token_failed'; fetch: number; message: string }
  /** Socket `conn` opened; `protocol` is the subprotocol the server selected. */
  | { type: 'socket_open'; conn: number; protocol: string }
  /** A text frame arrived on socket `conn`. */
  | { type: 'socket_message'; conn: number; text: string }
  /** Socket `conn` saw traffic that is not a message (a WebSocket ping or pong frame, HB-4). */
  | { type: 'socket_activity'; conn: number }
  /** Socket `conn` closed (1006 when it ended without a close frame or never opened). */
  | { type: 'socket_closed'; conn: number; code: number; reason: string }
  /** The application adds a handler to `channel`. */
  | { type: 'subscribe'; channel: string }
  /** The application removes a handler of `channel`. */
  | { type: 'unsubscribe'; channel: string }
  /** HB-6: the page became visible or the device resumed: check liveness now. */
  | { type: 'check_liveness' }
  /** The HTTP heartbeat finished (HTTP-4), for diagnostics. */
  | { type: 'http_heartbeat_result'; ok: boolean; status?: number; message?: string }
  /** Time passed: the driver calls this at (or after) `nextDeadline()`. */
  | { type: 'tick' };

/** Actions the driver performs, in order. */
export type CoreAction =
  /** Call the token function and feed back `token` or `token_failed` with the same `fetch`. */
  | { type: 'fetch_token'; fetch: number; reason: TokenReason }
  /** Open a WebSocket to `url` offering `protocols` (VER-1); tag its events with `conn`. */
  | { type: 'open_socket'; conn: number; url: string; protocols: string[] }
  /** Send one message as a JSON text frame on socket `conn`. */
  | { type: 'send'; conn: number; message: ClientMessage }
  /** Close socket `conn` with `code` and `reason`; the core already treats it as closed. */
  | { type: 'close_socket'; conn: number; code: number; reason: string }
  /** Tell the application. */
  | { type: 'emit'; event: ClientEvent }
  /** Settle request `id` (returned by the `request` input) successfully. */
  | { type: 'resolve'; id: string; data: Json }
  /** Fail request `id` with an error code (from `error-codes.ts`, or the server's). */
  | { type: 'reject'; id: string; code: string; message: string }
  /** Deliver a push to the channel's handlers. */
  | { type: 'push'; channel: string; data: Json; meta: PushMeta }
  /** Report a gap to the channel's `onGap` handlers (SUB-10). */
  | { type: 'gap'; gap: GapInfo }
  /** HTTP-4: post an HTTP heartbeat now (with a token from the token function); `path`: the advertised one (HTTP-9). */
  | { type: 'http_heartbeat'; path?: string };

export interface LogEntry {
  /** ms since the Unix epoch (from the driver's clock). */
  ts: number;
  kind:
    | 'state'
    | 'invalid'
    | 'token'
    | 'open'
    | 'auth'
    | 'authenticated'
    | 'send'
    | 'receive'
    | 'ping'
    | 'pong'
    | 'request'
    | 'response'
    | 'timeout'
    | 'push'
    | 'gap'
    | 'subscribe'
    | 'unsubscribe'
    | 'error'
    | 'close'
    | 'http_heartbeat';
  detail: string;
}

export interface PendingRequestInfo {
  id: string;
  action: string;
  /** `waiting`: not sent yet, waits for authentication; `sent`: on the wire. */
  status: 'waiting' | 'sent';
  startedAt: number;
  deadline: number;
}

export interface SubscriptionInfo {
  channel: string;
  /** Number of handlers the application registered on this channel. */
  handlers: number;
  /** `pending`: not sent on this connection yet; `subscribing`: sent, not acknowledged; `active`. */
  status: 'pending' | 'subscribing' | 'active';
  position?: Position;
}

export interface Diagnostics {
  state: ClientState;
  url: string;
  userId?: string;
  sessionId?: string;
  /** Reconnect attempts since `connect()` (every connection after the first). */
  reconnects: number;
  /** The current attempt counter of the backoff (RECON-1, RECON-2). */
  attempt: number;
  /** ROBUST-1: server frames that failed the schema and were ignored (each is in the log). */
  invalidFrames: number;
  /** The server's name and version from its last `authenticated` (informational). */
  server?: { name: string; version: string };
  /** Since when the client has had no authenticated session (absent while it has one). */
  downSince?: number;
  /** When the next reconnect attempt happens, if one is scheduled. */
  nextReconnectAt?: number;
  connectedSince?: number;
  subscriptions: SubscriptionInfo[];
  pending: { count: number; requests: PendingRequestInfo[] };
  lastClose?: { code: number; reason: string; at: number; closeClass: CloseClass; byClient: boolean };
  params: Omit<SessionParams, 'tokenExpiresAt'> & { tokenExpiresAt?: number | null };
  lastPingAt?: number;
  lastPongAt?: number;
  lastMessageAt?: number;
  httpHeartbeat?: { lastAt?: number; ok?: boolean; status?: number; message?: string };
  log: LogEntry[];
}
