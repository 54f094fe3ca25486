/**
 * Browser entry of the Mooring client (bundled to `dist/browser/mooring-client.js`): the same client,
 * on the global `WebSocket`. Nothing Node-specific is reachable from here.
 */
export { MooringClient, MooringError } from './client.js';
export type { ClientEventMap, PushHandler, RequestOptions, StateEvent, SubscribeOptions } from './client.js';
export type { ClientOptions, WebSocketConstructor, WebSocketLike } from './options.js';
export { backoffDelay } from '../core/client/backoff.js';
export type { ClientState, Diagnostics, GapInfo, PushMeta, TokenReason } from '../core/client/types.js';
