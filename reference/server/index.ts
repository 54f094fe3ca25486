/** The Mooring reference server (`mooring/server`). See ARCHITECTURE.md for the contract. */
export { startServer, attach, createMooring, type Mooring, type MooringServer, type AttachedMooring } from './server.js';
export { SERVER_DEFAULTS, sessionParams, type ServerOptions } from './options.js';
export { MemoryBroker, type Broker, type MemoryBrokerOptions, type ChannelPush, type ChannelRead } from './broker.js';
export { FileTokenStore, MemoryTokenStore, openTokenStore, hashToken, type TokenStore, type StoredToken } from './tokens-file.js';
export { ActionError, testActions, type ActionHandler, type ActionContext } from './actions.js';
export { isChannelName } from '../../schemas/v1/index.js';
export { stderrSink, type LogEntry, type LogSink } from './logger.js';
export { SERVER_NAME, SERVER_VERSION } from './version.js';
export { defaultAuthorize, type Authorize, type TokenRecord } from '../core/server/index.js';
/** The sans-I/O core, for drivers other than this one. */
export { ServerCore, type ServerCoreOptions, type ServerEvent, type ServerAction } from '../core/server/index.js';
