export { ClientCore, type ClientCoreOptions } from './client-core.js';
export { backoffDelay, planReconnect, type BackoffOptions, type ReconnectPlan, type ReconnectPolicy } from './backoff.js';
export { SubscriptionTable, type PushDecision } from './subscriptions.js';
export { EventLog } from './event-log.js';
export type * from './types.js';
