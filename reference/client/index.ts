/**
 * Node entry of the Mooring client (`mooring/client`): the global `WebSocket` when the runtime has
 * one (Node ≥ 22), else `ws`. Browsers use `browser.ts` (the bundle), which never loads `ws`.
 */
import WS from 'ws';
import { MooringClient as BaseClient } from './client.js';
import type { ClientOptions, WebSocketConstructor } from './options.js';

const defaultWebSocket: WebSocketConstructor =
  (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket ?? (WS as unknown as WebSocketConstructor);

/** The Node client's options: the common ones plus what only Node can do. */
export interface NodeClientOptions extends ClientOptions {
  /**
   * Certificate authorities to trust for a wss:// URL (PEM), instead of Node's bundled roots: a
   * self-signed or private-CA server certificate. Uses `ws` (the global WebSocket takes no CA).
   * @default undefined (Node's roots)
   */
  ca?: string | Buffer | (string | Buffer)[];
}

/** `ws`, trusting `ca` for wss:// URLs. */
export function webSocketWithCa(ca: NonNullable<NodeClientOptions['ca']>): WebSocketConstructor {
  return class extends WS {
    constructor(url: string, protocols?: string | string[]) {
      super(url, protocols, { ca });
    }
  } as unknown as WebSocketConstructor;
}

export class MooringClient extends BaseClient {
  constructor(options: NodeClientOptions) {
    const { ca, ...rest } = options;
    super({ WebSocket: ca === undefined ? defaultWebSocket : webSocketWithCa(ca), ...rest });
  }
}

export { MooringError } from './client.js';
export type { ClientEventMap, PushHandler, RequestOptions, StateEvent, SubscribeOptions } from './client.js';
export type { ClientOptions, WebSocketConstructor, WebSocketLike } from './options.js';
export { heartbeatUrlFor } from './options.js';
export { backoffDelay, planReconnect, ClientCore } from '../core/client/index.js';
export type { ClientState, ClientEvent, Diagnostics, GapInfo, PushMeta, TokenReason, LogEntry } from '../core/client/index.js';
