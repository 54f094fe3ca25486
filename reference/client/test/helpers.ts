/**
 * Integration-test helpers for the client: the real reference server on 127.0.0.1:0 (restartable on
 * the same port), a tiny TCP proxy for network faults, and event-driven waits (no fixed sleeps).
 */
import { afterEach } from 'vitest';
import net from 'node:net';
import { startServer, type MooringServer, type ServerOptions } from '../../server/index.js';
import { MooringClient, type ClientOptions, type ClientEvent, type GapInfo, type PushMeta } from '../index.js';

/** Short timings so faults show up fast. */
export const FAST_SERVER: ServerOptions = {
  port: 0,
  tokensFile: ':memory:',
  logger: false,
  heartbeatIntervalMs: 200,
  heartbeatTimeoutMs: 400,
  shutdownSpreadMs: 100,
  closeGraceMs: 200,
};

const servers = new Set<MooringServer>();
const clients = new Set<MooringClient>();
const proxies = new Set<TcpProxy>();

export function useCleanup(): void {
  afterEach(async () => {
    for (const c of clients) c.close();
    clients.clear();
    for (const p of proxies) p.close();
    proxies.clear();
    await Promise.all([...servers].map((s) => s.shutdown()));
    servers.clear();
  });
}

export async function start(options: ServerOptions = {}): Promise<MooringServer> {
  const s = await startServer({ ...FAST_SERVER, ...options });
  servers.add(s);
  return s;
}

/**
 * Shuts `old` down (SHUT-2: every client gets 1012) and starts a new server on the same port with the
 * same token store; with `keepBroker` also the same broker, so channel history (and epochs) survive.
 */
export async function restart(old: MooringServer, keepBroker: boolean, options: ServerOptions = {}): Promise<MooringServer> {
  await old.shutdown();
  servers.delete(old);
  return start({ ...options, port: old.port, tokenStore: old.tokenStore, ...(keepBroker ? { broker: old.broker } : {}) });
}

/** Wakes waiters whenever something they may be waiting for happens. */
export class Signal {
  private waiters = new Set<() => void>();
  notify(): void {
    for (const w of [...this.waiters]) w();
  }
  /** Resolves once `cond()` holds, re-checked on every notify; fails after `ms` with `label`. */
  until(cond: () => boolean, label: string, ms = 8_000): Promise<void> {
    if (cond()) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const check = () => {
        if (!cond()) return;
        cleanup();
        resolve();
      };
      const t = setTimeout(() => {
        cleanup();
        reject(new Error(`timed out waiting for: ${label}`));
      }, ms);
      const cleanup = () => {
        clearTimeout(t);
        this.waiters.delete(check);
      };
      this.waiters.add(check);
    });
  }
}

export interface Received {
  data: unknown;
  meta: PushMeta;
}

/** A client under test that records its events, pushes and gaps. */
export class Observed {
  readonly events: ClientEvent[] = [];
  readonly pushes: Received[] = [];
  readonly gaps: GapInfo[] = [];
  readonly tokenReasons: string[] = [];
  readonly signal = new Signal();
  readonly client: MooringClient;

  constructor(opts: Omit<ClientOptions, 'token'> & { token: ClientOptions['token'] }) {
    this.client = new MooringClient({
      backoffBaseMs: 50,
      backoffCapMs: 400,
      reconnectNowJitterMs: 50,
      connectTimeoutMs: 3_000,
      ...opts,
      token: (ctx) => {
        this.tokenReasons.push(ctx.reason);
        return opts.token(ctx);
      },
    });
    clients.add(this.client);
    for (const type of ['connecting', 'authenticated', 'reconnecting', 'closed', 'subscribed', 'server_error', 'token_error', 'http_heartbeat'] as const) {
      this.client.on(type, (e) => {
        this.events.push(e);
        this.signal.notify();
      });
    }
  }

  subscribe(channel: string): () => void {
    return this.client.subscribe(channel, (data, meta) => {
      this.pushes.push({ data, meta });
      this.signal.notify();
    }, {
      onGap: (g) => {
        this.gaps.push(g);
        this.signal.notify();
      },
    });
  }

  count(type: ClientEvent['type'], pred: (e: ClientEvent) => boolean = () => true): number {
    return this.events.filter((e) => e.type === type && pred(e)).length;
  }

  /** Waits for the n-th event of `type` (counting from the start) matching `pred`. */
  async nth<T extends ClientEvent['type']>(type: T, n: number, pred: (e: Extract<ClientEvent, { type: T }>) => boolean = () => true): Promise<Extract<ClientEvent, { type: T }>> {
    const matching = () => this.events.filter((e): e is Extract<ClientEvent, { type: T }> => e.type === type && pred(e as never));
    await this.signal.until(() => matching().length >= n, `${type} #${n}`);
    return matching()[n - 1]!;
  }

  authenticatedCount(): number {
    return this.count('authenticated', (e) => e.type === 'authenticated' && !e.reauth);
  }

  /** Waits until the client has authenticated `n` times (not counting in-band re-auths). */
  async sessions(n: number): Promise<void> {
    await this.signal.until(() => this.authenticatedCount() >= n && this.client.state === 'authenticated', `session #${n}`);
  }

  async pushCount(n: number): Promise<void> {
    await this.signal.until(() => this.pushes.length >= n, `${n} pushes (have ${this.pushes.length})`);
  }

  /** Waits until the server acknowledged every subscription of the current session. */
  async subscribed(): Promise<void> {
    await this.signal.until(() => {
      const d = this.client.diagnostics();
      return d.state === 'authenticated' && d.subscriptions.every((s) => s.status === 'active');
    }, 'subscriptions active');
  }
}

/** A TCP proxy in front of the server: drops connections or silently withholds server→client bytes. */
export class TcpProxy {
  private readonly server: net.Server;
  private readonly pairs = new Set<{ client: net.Socket; upstream: net.Socket; withhold: boolean }>();
  port = 0;
  /** While true, new connections are cut at once (the server is unreachable). */
  refuse = false;

  private constructor(private readonly targetPort: number) {
    this.server = net.createServer((client) => {
      if (this.refuse) {
        client.destroy();
        return;
      }
      const upstream = net.connect(this.targetPort, '127.0.0.1');
      const pair = { client, upstream, withhold: false };
      this.pairs.add(pair);
      client.on('data', (b) => upstream.write(b));
      upstream.on('data', (b) => {
        if (!pair.withhold) client.write(b);
      });
      const end = () => {
        this.pairs.delete(pair);
        client.destroy();
        upstream.destroy();
      };
      client.on('close', end).on('error', end);
      upstream.on('close', end).on('error', end);
    });
  }

  static async start(targetPort: number): Promise<TcpProxy> {
    const p = new TcpProxy(targetPort);
    await new Promise<void>((resolve) => p.server.listen(0, '127.0.0.1', resolve));
    p.port = (p.server.address() as net.AddressInfo).port;
    proxies.add(p);
    return p;
  }

  url(path = '/ws'): string {
    return `ws://127.0.0.1:${this.port}${path}`;
  }

  /** The network drops every current connection (no close frame: the client sees 1006). */
  dropAll(): void {
    for (const p of this.pairs) {
      p.client.destroy();
      p.upstream.destroy();
    }
  }

  /** Current connections stop delivering anything from the server (a half-dead path). */
  withholdServerBytes(): void {
    for (const p of this.pairs) p.withhold = true;
  }

  get connections(): number {
    return this.pairs.size;
  }

  close(): void {
    this.dropAll();
    this.server.close();
  }
}
