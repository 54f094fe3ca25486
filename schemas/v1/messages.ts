/**
 * Mooring protocol v1 — message types.
 *
 * This file is the single source of truth for every message on the wire. The JSON Schema in
 * `messages.schema.json` is generated from it (`npm run gen:schemas`); the server, the client and the
 * conformance suite all validate against that schema (see `validate.ts`). Rule IDs refer to
 * `spec/mooring-v1.md`.
 *
 * Compatibility (VER-7): receivers ignore properties they do not know, so v1.x may add optional
 * properties. A new `type` or a changed meaning needs a new subprotocol (`mooring.v2`).
 */

/** The WebSocket subprotocol of this version (VER-1, VER-2). */
export const SUBPROTOCOL = 'mooring.v1';

/**
 * A channel name (SUB-1): 1–128 characters from letters, digits and `_ - . : /`, not starting with a
 * separator.
 * @pattern ^[A-Za-z0-9_][A-Za-z0-9_.:/-]{0,127}$
 */
export type ChannelName = string;

/**
 * A request id chosen by the client (REQ-1), unique among its pending requests.
 * @minLength 1
 * @maxLength 64
 */
export type RequestId = string;

/**
 * An action name.
 * @pattern ^[A-Za-z][A-Za-z0-9_.:-]{0,63}$
 */
export type ActionName = string;

/**
 * A bearer token, as issued by the server operator.
 * @minLength 1
 * @maxLength 512
 */
export type Token = string;

/** Any JSON value (message payloads are bounded by `maxPayloadBytes`, LIMIT-1). */
export type Json = unknown;

/**
 * A position in a channel's stream (SUB-5): offsets start at 1 and grow by exactly 1 per push within
 * an epoch. A new epoch means the server lost the channel's history.
 */
export interface Position {
  /**
   * @minLength 1
   * @maxLength 64
   */
  epoch: string;
  /**
   * @TJS-type integer
   * @minimum 0
   */
  offset: number;
}

// ---------------------------------------------------------------------------------------------
// Client → server
// ---------------------------------------------------------------------------------------------

/** First message of every connection (AUTH-1); sent again on a live connection to re-authenticate (AUTH-9). */
export interface AuthMessage {
  type: 'auth';
  token: Token;
}

/** A call of a server action; answered by exactly one `response` (REQ-1). */
export interface RequestMessage {
  type: 'request';
  id: RequestId;
  action: ActionName;
  /** The action's input: any JSON value, including null; absent when there is none. */
  payload?: Json;
}

/** Subscribe to a channel, optionally resuming after the last position seen (SUB-2, SUB-8). */
export interface SubscribeMessage {
  type: 'subscribe';
  channel: ChannelName;
  /** The last position the client saw on this channel; the server replays what came after it. */
  since?: Position;
}

/** Stop receiving a channel (SUB-7). */
export interface UnsubscribeMessage {
  type: 'unsubscribe';
  channel: ChannelName;
}

/** Application-level heartbeat (HB-2, HB-3). */
export interface PingMessage {
  type: 'ping';
}

export type ClientMessage =
  | AuthMessage
  | RequestMessage
  | SubscribeMessage
  | UnsubscribeMessage
  | PingMessage;

// ---------------------------------------------------------------------------------------------
// Server → client
// ---------------------------------------------------------------------------------------------

/**
 * Session parameters the server advertises in `authenticated`, so clients and the conformance suite
 * adapt to any server instead of assuming defaults. Durations are milliseconds.
 */
export interface SessionParams {
  /**
   * Client sends an app-level `ping` this often; the server sends WebSocket ping frames this often (HB-1, HB-3).
   * @TJS-type integer
   * @minimum 1
   */
  heartbeatIntervalMs: number;
  /**
   * How long a peer waits for a pong (or any traffic) after a ping before it declares the connection dead.
   * @TJS-type integer
   * @minimum 1
   */
  heartbeatTimeoutMs: number;
  /**
   * Deadline for the first `auth` message after the WebSocket opens (AUTH-2).
   * @TJS-type integer
   * @minimum 1
   */
  authTimeoutMs: number;
  /**
   * The client's default request timeout (REQ-5).
   * @TJS-type integer
   * @minimum 1
   */
  requestTimeoutMs: number;
  /** At most `messages` inbound messages per user in any window of `windowMs` (RATE-1). */
  rateLimit: {
    /**
     * @TJS-type integer
     * @minimum 1
     */
    messages: number;
    /**
     * @TJS-type integer
     * @minimum 1
     */
    windowMs: number;
  };
  /**
   * Largest inbound message, in bytes (LIMIT-1).
   * @TJS-type integer
   * @minimum 1
   */
  maxPayloadBytes: number;
  /**
   * Most channels one connection may subscribe to (LIMIT-4).
   * @TJS-type integer
   * @minimum 1
   */
  maxSubscriptions: number;
  /**
   * Outbound bytes the server buffers for one connection before closing it as a slow consumer (LIMIT-3).
   * @TJS-type integer
   * @minimum 1
   */
  maxBufferedBytes: number;
  /**
   * Pushes kept per channel for resume (SUB-8).
   * @TJS-type integer
   * @minimum 0
   */
  historySize: number;
  /**
   * Most requests that may be pending on one connection; a request beyond it gets
   * `error too_many_requests` (LIMIT-5). Optional: added in v1.1; servers of revision 1.0 do not send it.
   * @TJS-type integer
   * @minimum 1
   */
  maxPendingRequests?: number;
  /**
   * How many `subscribe` frames a connection may send after its `authenticated` without counting
   * against `rateLimit`, so that a reconnecting client restores all its channels at once (RATE-4).
   * At least `maxSubscriptions`. Optional: added in v1.2; when absent, every subscribe counts.
   * @TJS-type integer
   * @minimum 0
   */
  restoreAllowance?: number;
  /**
   * Bytes of history kept per channel for resume, counted as the UTF-8 length of each retained
   * push's serialized `data`; the oldest pushes go first (LIMIT-7). At least `maxPayloadBytes`.
   * Optional: added in v1.2.
   * @TJS-type integer
   * @minimum 1
   */
  historyBytes?: number;
  /**
   * Deepest nesting of arrays and objects an inbound message may have, the message object itself
   * counting 1; a deeper one gets `error too_deep` and is not processed (LIMIT-6). Optional: added in v1.2.
   * @TJS-type integer
   * @minimum 4
   */
  maxDepth?: number;
  /**
   * `single`: a newer session of the same user closes the older one; `multiple`: sessions of one user
   * coexist independently (SESS-1).
   */
  sessionPolicy: 'single' | 'multiple';
  /**
   * The server's HTTP heartbeat channel: `path` (on the WebSocket URL's origin) takes `POST` heartbeats
   * every `intervalMs`; a user is `connected` while its last one is younger than `presenceWindowMs`
   * (HTTP-8). Optional: added in v1.3; a client that sees it posts HTTP heartbeats (HTTP-9).
   */
  httpHeartbeat?: {
    /** @pattern ^/ */
    path: string;
    /**
     * @TJS-type integer
     * @minimum 1
     */
    intervalMs: number;
    /**
     * @TJS-type integer
     * @minimum 1
     */
    presenceWindowMs: number;
  };
  /**
   * When the token used for this session expires (ms since the Unix epoch), or null if it does not (AUTH-8).
   * @TJS-type ["integer", "null"]
   */
  tokenExpiresAt: number | null;
}

/** Successful (re-)authentication (AUTH-5, AUTH-9). */
export interface AuthenticatedMessage {
  type: 'authenticated';
  /** @maxLength 256 */
  userId: string;
  /**
   * New for every connection (a reconnect gets a new one); unchanged by in-band re-authentication.
   * @maxLength 128
   */
  sessionId: string;
  protocol: 'mooring.v1';
  params: SessionParams;
  /**
   * The name of the user's own channel (SUB-12): `user:<userId>` when that is a valid channel name,
   * otherwise `user:~` and the unpadded base64url SHA-256 of the UTF-8 user id. Optional: added in v1.2.
   * @pattern ^[A-Za-z0-9_][A-Za-z0-9_.:/-]{0,127}$
   */
  userChannel?: ChannelName;
  server?: {
    /** @maxLength 128 */
    name: string;
    /** @maxLength 64 */
    version: string;
  };
}

/** An error the server reports while the connection stays open (ERR-1..3). */
export interface ErrorBody {
  /** A stable code from the error-code registry (`error-codes.ts`). */
  code: string;
  /** @maxLength 1024 */
  message: string;
}

/** The one answer to a request (REQ-1). */
export type ResponseMessage = SuccessResponse | FailureResponse;

export interface SuccessResponse {
  type: 'response';
  requestId: RequestId;
  success: true;
  data?: Json;
}

export interface FailureResponse {
  type: 'response';
  requestId: RequestId;
  success: false;
  error: ErrorBody;
}

/** Acknowledges a `subscribe` (SUB-2). */
export interface SubscribedMessage {
  type: 'subscribed';
  channel: ChannelName;
  /** The channel's newest position when the subscription started (offset 0: nothing published yet in this epoch). */
  position: Position;
  /**
   * Present only when the subscribe carried `since`: `replayed` means the missed pushes follow this
   * message, in order (SUB-8); `unavailable` means they cannot be replayed and the client must
   * refetch its state (SUB-9).
   */
  resume?: 'replayed' | 'unavailable';
  /**
   * With `resume: 'replayed'`: how many pushes are replayed.
   * @TJS-type integer
   * @minimum 0
   */
  replayed?: number;
}

/** Acknowledges an `unsubscribe`; no push of that channel follows it (SUB-7). */
export interface UnsubscribedMessage {
  type: 'unsubscribed';
  channel: ChannelName;
}

/** A message published to a channel (SUB-5, SUB-6). */
export interface PushMessage {
  type: 'push';
  channel: ChannelName;
  data: Json;
  position: Position;
  /**
   * Server time of publication, ms since the Unix epoch.
   * @TJS-type integer
   */
  ts: number;
  /**
   * True when this push is a replay after a resume (SUB-8). Absent on live pushes (the reference
   * server never sends `false`); receivers treat an absent `replay` as false.
   */
  replay?: boolean;
}

/** Answer to `ping` (HB-2). */
export interface PongMessage {
  type: 'pong';
  /**
   * Server time, ms since the Unix epoch.
   * @TJS-type integer
   */
  ts?: number;
}

/** The session's token expires soon; the client should re-authenticate in-band (AUTH-8, AUTH-10). */
export interface TokenExpiringMessage {
  type: 'token_expiring';
  /** @TJS-type integer */
  expiresAt: number;
}

/** A non-fatal error: the connection stays open (ERR-1, ERR-2, VER-6, SUB-4, LIMIT-4, REQ-4, AUTH-9). */
export interface ErrorMessage {
  type: 'error';
  /** A stable code from the error-code registry. */
  code: string;
  /** @maxLength 1024 */
  message: string;
  /** Set when the error concerns a request (e.g. `duplicate_request_id`). */
  requestId?: RequestId;
  /** Set when the error concerns a channel (e.g. `forbidden`, `subscription_limit`). */
  channel?: ChannelName;
}

export type ServerMessage =
  | AuthenticatedMessage
  | SuccessResponse
  | FailureResponse
  | SubscribedMessage
  | UnsubscribedMessage
  | PushMessage
  | PongMessage
  | TokenExpiringMessage
  | ErrorMessage;

export type ClientMessageType = ClientMessage['type'];
export type ServerMessageType = ServerMessage['type'];
