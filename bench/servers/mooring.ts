/** The reference server under test, limits raised for load (servers/limits.ts), logging off. */
import { startServer, type ServerOptions } from '../../reference/server/index.js';
import { hashToken, type TokenStore } from '../../reference/server/token-store.js';
import { BENCH_LIMITS, type HostStart } from './limits.js';
import type { HostedServer } from './host.js';

/**
 * Tokens the orchestrator made, kept as SHA-256 hashes like the server's own stores (so a lookup
 * costs what it costs in production), preloadable so a restarted server accepts the same clients.
 */
class BenchTokenStore implements TokenStore {
  readonly byHash = new Map<string, { userId: string; expiresAt: number | null }>();
  async create(): Promise<string> {
    throw new Error('bench tokens are added by the orchestrator');
  }
  async lookupHash(hash: string) {
    return this.byHash.get(hash) ?? null;
  }
  async list() {
    return [];
  }
  async revoke(): Promise<string[]> {
    return [];
  }
  async rotate(): Promise<{ token: string; id: string; revoked: string[] }> {
    throw new Error('bench tokens are added by the orchestrator');
  }
  /** Bench tokens never change while a run lasts. */
  watch(): () => void {
    return () => undefined;
  }
}

export async function start(o: HostStart): Promise<HostedServer> {
  const store = new BenchTokenStore();
  const opts: ServerOptions = {
    port: o.port ?? 0,
    tokenStore: store,
    logger: false,
    strictOutbound: false,
    ...BENCH_LIMITS,
    ...(o.shutdownSpreadMs !== undefined ? { shutdownSpreadMs: o.shutdownSpreadMs } : {}),
    ...(o.heartbeatIntervalMs !== undefined ? { heartbeatIntervalMs: o.heartbeatIntervalMs } : {}),
    ...o.overrides,
  };
  // The broker comes from a flag: a redis:// URL goes to the server's `redis` option (the Redis broker).
  if (o.broker && o.broker !== 'memory') opts.redis = o.broker;
  const s = await startServer(opts);
  if (opts.redis && s.broker.constructor.name === 'MemoryBroker') {
    await s.shutdown();
    throw new Error('this reference server has no Redis broker yet (the `redis` option was ignored)');
  }
  return {
    port: s.port,
    limits: { ...BENCH_LIMITS, ...o.overrides, broker: o.broker ?? 'memory', shutdownSpreadMs: o.shutdownSpreadMs ?? 5_000 },
    addTokens: (pairs) => {
      for (const [t, u] of pairs) store.byHash.set(hashToken(t), { userId: u, expiresAt: null });
    },
    publish: async (channel, data) => {
      await s.publish(channel, data);
    },
    shutdown: () => s.shutdown(),
    connections: () => s.connectionCount(),
  };
}
