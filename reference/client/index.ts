/**
 * Node entry of the Mooring client (`mooring/client`): the global `WebSocket` when the runtime has
 * one (Node ≥ 22), else `ws`. Browsers use `browser.ts` (the bundle), which never loads `ws`.
 */
import WS from 'ws';
import { MooringClient as BaseClient } from './client.js';
import type { ClientOptions, WebSocketConstructor } from './options.js';

const defaultWebSocket: WebSocketConstructor =
  (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket ?? (WS as unknown as WebSocketConstructor);

export class MooringClient extends BaseClient {
  constructor(options: ClientOptions) {
    super({ WebSocket: defaultWebSocket, ...options });
  }
}

export { MooringError } from './client.js';
export type { ClientEventMap, PushHandler, RequestOptions, StateEvent, SubscribeOptions } from './client.js';
export type { ClientOptions, WebSocketConstructor, WebSocketLike } from './options.js';
export { heartbeatUrlFor } from './options.js';
export { backoffDelay, planReconnect, ClientCore } from '../core/client/index.js';
export type { ClientState, ClientEvent, Diagnostics, GapInfo, PushMeta, TokenReason, LogEntry } from '../core/client/index.js';
