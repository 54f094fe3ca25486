/** The Mooring reference server (`mooring/server`). See ARCHITECTURE.md for the contract. */
export { startServer, attach, createMooring, type Mooring, type MooringServer, type AttachedMooring } from './server.js';
export { SERVER_DEFAULTS, sessionParams, type ServerOptions } from './options.js';
export { MemoryBroker, type Broker, type MemoryBrokerOptions, type ChannelPush, type ChannelRead } from './broker.js';
export { FileTokenStore, openTokenStore, type FileTokenStoreOptions } from './tokens-file.js';
export { MemoryTokenStore, hashToken, type TokenStore, type StoredToken, type TokenInfo, type TokenChange, type RevokeSelector } from './token-store.js';
export { MemoryPresence, type Presence, type PresenceInfo, type PresenceChange, type MemoryPresenceOptions } from './presence.js';
export { createMetrics, type MetricsOptions, type ServerMetrics } from './metrics.js';
export { ActionError, testActions, type ActionHandler, type ActionContext } from './actions.js';
export { isChannelName } from '../../schemas/v1/index.js';
export { ProxyTrust, parseTrustProxy, normalizeAddress, type ClientOrigin, type ForwardedHeader } from './proxy.js';
export { stderrSink, type LogEntry, type LogSink } from './logger.js';
export { SERVER_NAME, SERVER_VERSION } from './version.js';
export { defaultAuthorize, type Authorize, type TokenRecord } from '../core/server/index.js';
/** The sans-I/O core, for drivers other than this one. */
export { ServerCore, type ServerCoreOptions, type ServerEvent, type ServerAction } from '../core/server/index.js';
