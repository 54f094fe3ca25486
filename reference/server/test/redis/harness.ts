/** Nodes for the multi-node tests: reference servers in this process on one Redis, sharing one token store (as nodes share a tokens file). */
import { randomBytes } from 'node:crypto';
import { MemoryTokenStore } from '../../tokens-file.js';
import type { ServerOptions } from '../../options.js';
import { start, type TestServer } from '../helpers.js';

export { RedisProcess, freePort, REDIS_SERVER } from './redis-process.js';

/** `n` nodes on one Redis, with one token store and a key prefix of their own (tests do not see each other's keys). */
export async function startNodes(n: number, redisUrl: string, options: ServerOptions = {}, prefix = `t${randomBytes(4).toString('hex')}:`): Promise<TestServer[]> {
  const tokenStore = options.tokenStore ?? (options.tokensFile ? undefined : new MemoryTokenStore());
  const nodes: TestServer[] = [];
  for (let i = 0; i < n; i++) {
    nodes.push(await start({ ...options, tokenStore, redis: { url: redisUrl, keyPrefix: prefix, ...(typeof options.redis === 'object' ? options.redis : {}) } }));
  }
  return nodes;
}
