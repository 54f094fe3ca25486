export * from './types.js';
export { ServerCore } from './server-core.js';
export { RateLimiter, type RateVerdict } from './rate-limit.js';
export { ChannelHistory } from './history.js';
export { Liveness } from './heartbeat.js';
export { judgeToken, randomId } from './auth.js';
export { depthExceeds, userChannelName, utf8Length } from './limits.js';
