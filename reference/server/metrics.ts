/**
 * Prometheus metrics (OPS-1..OPS-9), off by default. When on, they are served by a listener of their
 * own (`GET /metrics` on `metrics.host:metrics.port`, loopback by default), never on the WebSocket's
 * public port, and a bearer secret may be required; a non-loopback address without a secret is refused
 * (OPS-2). The server calls the hooks below as `metrics?.hook(...)`: with metrics off, each costs a
 * null check.
 *
 * Label values are bounded: message types are the protocol's own (anything else is `other`), action
 * names are the server's handlers (anything else is `unknown`), close codes are numbers, and auth
 * failure reasons are the server's own words.
 */
import { timingSafeEqual } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { performance } from 'node:perf_hooks';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { ConnId } from '../core/server/index.js';

export interface MetricsOptions {
  /** Port of the metrics listener; 0 picks a free one. */
  port: number;
  /** Interface of the metrics listener. A non-loopback one needs `token` (OPS-2). @default '127.0.0.1' */
  host?: string;
  /** When set, `GET /metrics` needs `Authorization: Bearer <token>`; otherwise 401 (OPS-2). @default undefined */
  token?: string;
  /** Also export prom-client's process metrics (CPU, memory, event-loop lag). @default true */
  processMetrics?: boolean;
  /** Metric names start with this. @default 'mooring_' */
  prefix?: string;
}

const CLIENT_TYPES = new Set(['auth', 'ping', 'request', 'subscribe', 'unsubscribe']);
/** The `"type":"…"` of a client message, found without parsing it (the core parses it, once). */
const TYPE_RE = /"type"\s*:\s*"([a-z_]{1,16})"/;

function loopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || host.startsWith('127.');
}

export interface ServerMetrics {
  readonly registry: Registry;
  /** Resolves with the listener's URL, e.g. 'http://127.0.0.1:9464/metrics'; rejects when it cannot listen. */
  readonly ready: Promise<string>;
  received(data: unknown, isBinary: boolean): void;
  sent(type: string): void;
  closeSent(code: number): void;
  closed(conn: ConnId, code: number): void;
  pinged(conn: ConnId): void;
  ponged(conn: ConnId): void;
  resumed(): void;
  requestStarted(): number;
  requestEnded(action: string, started: number, ok: boolean): void;
  /** Core log events become counters: rate_limited, slow_consumer, auth_failed by reason. */
  logged(event: string, fields: Record<string, unknown>): void;
  close(): Promise<void>;
}

export function createMetrics(
  options: MetricsOptions,
  sources: { connections(): number; sessions(): number; actions: ReadonlyMap<string, unknown> },
): ServerMetrics {
  const host = options.host ?? '127.0.0.1';
  // OPS-2: metrics reveal load and usage; off the loopback they need a secret.
  if (!loopback(host) && !options.token) throw new Error(`metrics on ${host} need a bearer token (metrics.token / --metrics-token-file)`);
  const p = options.prefix ?? 'mooring_';
  const registry = new Registry();
  if (options.processMetrics ?? true) collectDefaultMetrics({ register: registry, prefix: p });
  const registers = [registry];

  // OPS-3
  new Gauge({ name: `${p}connections`, help: 'Open WebSocket connections.', registers, collect() { this.set(sources.connections()); } });
  new Gauge({ name: `${p}sessions`, help: 'Authenticated sessions.', registers, collect() { this.set(sources.sessions()); } });
  // OPS-4
  const messagesIn = new Counter({ name: `${p}messages_received_total`, help: 'Inbound messages by type (binary, other: not a protocol type).', labelNames: ['type'], registers });
  const messagesOut = new Counter({ name: `${p}messages_sent_total`, help: 'Outbound messages by type.', labelNames: ['type'], registers });
  // OPS-5
  const closesSent = new Counter({ name: `${p}closes_sent_total`, help: 'Close frames the server sent, by code.', labelNames: ['code'], registers });
  const closed = new Counter({ name: `${p}connections_closed_total`, help: 'Connections ended, by the close code seen (1006: no close frame).', labelNames: ['code'], registers });
  // OPS-6
  const rateLimited = new Counter({ name: `${p}rate_limited_total`, help: 'Rate-limit excesses (each closes all of the user\'s connections 4429).', registers });
  const slow = new Counter({ name: `${p}slow_consumers_total`, help: 'Connections closed 4509 as slow consumers.', registers });
  const resumes = new Counter({ name: `${p}resumes_total`, help: 'Subscribes with `since` (a reconnecting client resuming a channel).', registers });
  // OPS-7
  const lag = new Histogram({
    name: `${p}heartbeat_lag_seconds`, help: 'Delay between a WebSocket ping frame and its pong.', registers,
    buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
  });
  // OPS-8
  const authFailures = new Counter({ name: `${p}auth_failures_total`, help: 'Failed authentications by reason.', labelNames: ['reason'], registers });
  // OPS-9
  const requests = new Histogram({
    name: `${p}request_duration_seconds`, help: 'Time from a request\'s dispatch to its response, by action and outcome.', labelNames: ['action', 'outcome'], registers,
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
  });

  const pingAt = new Map<ConnId, number>();

  const secret = options.token === undefined ? null : Buffer.from(`Bearer ${options.token}`);
  const authorized = (header: string | undefined): boolean => {
    if (secret === null) return true;
    const given = Buffer.from(header ?? '');
    return given.length === secret.length && timingSafeEqual(given, secret);
  };
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (path !== '/metrics' || (req.method !== 'GET' && req.method !== 'HEAD')) return void res.writeHead(404).end();
    if (!authorized(req.headers.authorization)) return void res.writeHead(401, { 'www-authenticate': 'Bearer' }).end(); // OPS-2
    registry.metrics().then(
      (text) => res.writeHead(200, { 'content-type': registry.contentType }).end(req.method === 'HEAD' ? undefined : text),
      () => res.writeHead(500).end(),
    );
  });
  const ready = new Promise<string>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, host, () => {
      server.off('error', reject);
      const port = (server.address() as AddressInfo).port;
      resolve(`http://${host.includes(':') ? `[${host}]` : host}:${port}/metrics`);
    });
  });
  ready.catch(() => undefined); // the owner awaits it; an unawaited failure must not crash the process

  return {
    registry,
    ready,
    received(data, isBinary) {
      if (isBinary) return messagesIn.inc({ type: 'binary' });
      const head = (Buffer.isBuffer(data) ? data.subarray(0, 512) : Array.isArray(data) ? data[0] as Buffer : Buffer.from(data as ArrayBuffer)).toString('latin1');
      const t = TYPE_RE.exec(head)?.[1];
      messagesIn.inc({ type: t !== undefined && CLIENT_TYPES.has(t) ? t : 'other' });
    },
    sent: (type) => messagesOut.inc({ type }),
    closeSent: (code) => closesSent.inc({ code: String(code) }),
    closed(conn, code) {
      pingAt.delete(conn);
      closed.inc({ code: String(code) });
    },
    pinged: (conn) => void pingAt.set(conn, performance.now()),
    ponged(conn) {
      const at = pingAt.get(conn);
      if (at === undefined) return;
      pingAt.delete(conn);
      lag.observe((performance.now() - at) / 1000);
    },
    resumed: () => resumes.inc(),
    requestStarted: () => performance.now(),
    requestEnded(action, started, ok) {
      requests.observe({ action: sources.actions.has(action) ? action : 'unknown', outcome: ok ? 'ok' : 'error' }, (performance.now() - started) / 1000);
    },
    logged(event, fields) {
      if (event === 'auth_failed') authFailures.inc({ reason: String(fields['reason'] ?? 'unknown') });
      else if (event === 'rate_limited') rateLimited.inc();
      else if (event === 'slow_consumer') slow.inc();
    },
    close: () => new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    }),
  };
}
