/**
 * Events in, actions out: the whole interface of the sans-I/O server core. Every event carries `now`
 * (ms since the Unix epoch); the core never reads a clock, draws randomness or touches a socket.
 */
import type { Position, ServerMessage, SessionParams } from '../../../schemas/v1/index.js';
import { userChannelName } from './limits.js';

/** A connection id, chosen by the driver (unique per server). */
export type ConnId = number;

/** What the token store knows about a token (never the token itself). */
export interface TokenRecord {
  userId: string;
  /** ms since the Unix epoch, or null when the token never expires. */
  expiresAt: number | null;
  /** The token's public id in its store (AUTH-14: a revocation names the token by it). */
  tokenId?: string;
}

/** One message of a channel, as the broker stores and delivers it. */
export interface ChannelPush {
  channel: string;
  /** The published value; absent when the broker keeps only its serialization (`json`). */
  data?: unknown;
  /** LIMIT-7: `data` serialized once by the broker; sent as is (history keeps only this). */
  json?: string;
  position: Position;
  ts: number;
}

/** The broker's answer to "read this channel, optionally after `since`". */
export interface ChannelRead {
  /** The channel's newest position (offset 0: nothing published in this epoch). */
  head: Position;
  /** Only when `since` was given: the pushes after it, in order, or 'unavailable' (SUB-9). */
  missed?: ChannelPush[] | 'unavailable';
}

/** The outcome of an action handler, as the driver reports it. */
export type ActionOutcome =
  | { ok: true; data?: unknown }
  | { ok: false; code: string; message: string };

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

export type ServerEvent =
  /** A WebSocket connection finished its handshake. `urlToken` only when the operator allows it (AUTH-7). */
  | { type: 'open'; now: number; conn: ConnId; ip: string; origin?: string; urlToken?: string }
  | { type: 'text'; now: number; conn: ConnId; text: string }
  | { type: 'binary'; now: number; conn: ConnId }
  /** Any control frame (pong, ping) — proof of liveness (HB-4). */
  | { type: 'activity'; now: number; conn: ConnId }
  | { type: 'tokenResult'; now: number; conn: ConnId; verifyId: number; record: TokenRecord | null }
  | { type: 'actionResult'; now: number; conn: ConnId; requestId: string; outcome: ActionOutcome }
  | { type: 'channelRead'; now: number; conn: ConnId; fetchId: number; channel: string; read: ChannelRead | null }
  | { type: 'brokerPush'; now: number; push: ChannelPush }
  /** The driver saw more than maxBufferedBytes waiting on this connection (LIMIT-3). */
  | { type: 'slowConsumer'; now: number; conn: ConnId; bufferedBytes: number }
  /**
   * LIMIT-8: the driver's frame guard saw a peer exceed a wire budget: `pre_auth_bytes` (bytes before
   * authentication; closes 4400) or `fragments` (one message in too many fragments; closes 1009).
   */
  | { type: 'overBudget'; now: number; conn: ConnId; budget: 'pre_auth_bytes' | 'fragments' }
  | { type: 'tick'; now: number }
  /**
   * AUTH-14, AUTH-17: the token store announced a change: sessions authenticated with a revoked token
   * close with 4401; sessions of a token whose expiry changed get the new expiry (AUTH-8 then applies).
   */
  | { type: 'tokensChanged'; now: number; revoked: string[]; expiry: { id: string; expiresAt: number | null }[] }
  | { type: 'shutdown'; now: number }
  /** NODE-6: a newer session of this connection's user authenticated on another node: close it 4002. */
  | { type: 'sessionSuperseded'; now: number; conn: ConnId }
  /** NODE-8: the user's shared (cross-node) window is full: close every connection of the user 4429. */
  | { type: 'userRateLimited'; now: number; userId: string; retryAfterMs: number }
  /** NODE-4: the node's live feed of this channel has a gap it cannot fill: close its subscribers 1013. */
  | { type: 'channelGap'; now: number; channel: string }
  /**
   * NODE-11: a backend the node needs (Redis) is unavailable: close `conn` (or every connection)
   * 1013 with a retry hint of at least `retryAfterMs`.
   */
  | { type: 'unavailable'; now: number; conn?: ConnId; retryAfterMs: number }
  | { type: 'closed'; now: number; conn: ConnId; code: number; reason: string };

export type ServerAction =
  | { type: 'send'; conn: ConnId; message: ServerMessage }
  /**
   * SUB-6: one live push to every connection `conns` yields, in order: the driver frames it once and
   * writes the same frame to each socket as it iterates (one action per push, not one per subscriber;
   * the first subscriber is written to before the last one is looked at). The driver drains `conns`
   * before it feeds the next event; the core finishes any it left at the next `handle`.
   */
  | { type: 'fanout'; conns: Iterable<ConnId>; message: ServerMessage }
  | { type: 'close'; conn: ConnId; code: number; reason: string }
  /** Destroy the socket without a close handshake (a half-open peer never answers one). */
  | { type: 'terminate'; conn: ConnId }
  /** Send a WebSocket ping frame (HB-1). */
  | { type: 'ping'; conn: ConnId }
  | { type: 'verifyToken'; conn: ConnId; verifyId: number; token: string }
  | { type: 'dispatch'; conn: ConnId; requestId: string; action: string; payload: unknown; userId: string }
  /** Make sure the driver listens to the channel on the broker, then read it (live first: race-free resume). */
  | { type: 'readChannel'; conn: ConnId; fetchId: number; channel: string; since?: Position }
  /** NODE-8: an admitted data frame of `userId`, for the driver's shared rate limit (only with `reportRateHits`). */
  | { type: 'rateHit'; userId: string }
  /** No connection subscribes to this channel any more: the driver may stop listening on the broker. */
  | { type: 'channelIdle'; channel: string }
  | { type: 'log'; level: LogLevel; event: string; fields: Record<string, unknown> };

/** Authorization hook (SUB-4): may `userId` subscribe to / publish on `channel`? */
export type Authorize = (userId: string, channel: string, op: 'subscribe' | 'publish') => boolean;

/**
 * SUB-4, SUB-12 default: `user:` and `uid:` channels belong to the user whose own channel
 * (`userChannelName`) they are; every other channel is open.
 */
export const defaultAuthorize: Authorize = (userId, channel) =>
  !(channel.startsWith('user:') || channel.startsWith('uid:')) || channel === userChannelName(userId);

export type CoreParams = Omit<SessionParams, 'tokenExpiresAt'>;

/** A JSON value already serialized: the driver splices `json` into the frame instead of serializing it again. */
export class RawJson {
  constructor(readonly json: string) {}
}

export interface ServerCoreOptions {
  /** The session params the server enforces and advertises (AUTH-5). */
  params: CoreParams;
  /** Uniform random numbers in [0, 1): session ids, retry-hint spread. */
  random: () => number;
  /** @default defaultAuthorize */
  authorize?: Authorize;
  /** token_expiring is sent this long before the token expires (AUTH-8). @default 60_000 */
  tokenWarningMs?: number;
  /** Shutdown retry hints are spread uniformly over [0, shutdownSpreadMs] (SHUT-3). @default 5_000 */
  shutdownSpreadMs?: number;
  /** After the core closes a connection, it terminates the socket if the close handshake takes longer. @default 1_000 */
  closeGraceMs?: number;
  /** LIMIT-8: data frames a connection may send before it is authenticated; one more closes it 4400. @default 8 */
  preAuthFrames?: number;
  /** NODE-8: emit a `rateHit` action for every frame the local limiter admits (a driver with a shared limit). @default false */
  reportRateHits?: boolean;
  /** Advertised in `authenticated.server`. @default { name: 'mooring-reference', version: '0.0.0' } */
  server?: { name: string; version: string };
}
