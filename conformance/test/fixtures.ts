/**
 * Targets for the suite's self-test: the independent raw server (conformance/test/raw-server/),
 * unbroken or with one rule broken, in-process with short timings, plus the same server as a child
 * process for the shutdown cases.
 */
import net from 'node:net';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { startRawServer, type BreakName, type RawServer, type RawServerOptions } from './raw-server/server.js';
import { processServer, type ServerControl } from '../server-control.js';
import { EMBEDDED_SERVER_OPTIONS } from '../embedded.js';
import type { Capabilities } from '../context.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

/** The same short timings as the embedded reference server. */
export const FAST = {
  heartbeatIntervalMs: EMBEDDED_SERVER_OPTIONS.heartbeatIntervalMs,
  heartbeatTimeoutMs: EMBEDDED_SERVER_OPTIONS.heartbeatTimeoutMs,
  authTimeoutMs: EMBEDDED_SERVER_OPTIONS.authTimeoutMs,
  requestTimeoutMs: EMBEDDED_SERVER_OPTIONS.requestTimeoutMs,
  rateLimit: EMBEDDED_SERVER_OPTIONS.rateLimit,
  maxPayloadBytes: EMBEDDED_SERVER_OPTIONS.maxPayloadBytes,
  maxSubscriptions: EMBEDDED_SERVER_OPTIONS.maxSubscriptions,
  maxBufferedBytes: EMBEDDED_SERVER_OPTIONS.maxBufferedBytes,
  historySize: EMBEDDED_SERVER_OPTIONS.historySize,
  maxConnectionsPerIp: EMBEDDED_SERVER_OPTIONS.maxConnectionsPerIp,
  tokenWarningMs: EMBEDDED_SERVER_OPTIONS.tokenWarningMs,
  shutdownSpreadMs: EMBEDDED_SERVER_OPTIONS.shutdownSpreadMs,
};

export interface Target {
  url: string;
  tokens: string[];
  caps: Partial<Capabilities>;
  close(): Promise<void>;
}

const token = () => randomBytes(12).toString('hex');

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

/** The raw server as a process (for SHUT-*), with `users` tokens of distinct users. */
export async function rawProcess(brk: BreakName | undefined, users = 120): Promise<ServerControl> {
  const port = await freePort();
  const tokens = Array.from({ length: users }, token);
  const flags = [
    `--port ${port}`,
    ...tokens.map((t, i) => `--token ${t}=storm-${i + 1}`),
    `--heartbeat-interval-ms ${FAST.heartbeatIntervalMs}`, `--heartbeat-timeout-ms ${FAST.heartbeatTimeoutMs}`,
    `--shutdown-spread-ms ${FAST.shutdownSpreadMs}`,
    brk ? `--break ${brk}` : '',
  ].join(' ');
  return processServer({
    command: `${JSON.stringify(process.execPath)} --import tsx conformance/test/raw-server/main.ts ${flags}`,
    url: `ws://127.0.0.1:${port}/ws`,
    tokens,
    cwd: ROOT,
  });
}

/** The raw server in-process with short timings; `withProcess` adds a controlled process for SHUT-*. */
export async function rawTarget(brk?: BreakName, opts: { withProcess?: boolean; server?: Partial<RawServerOptions> } = {}): Promise<Target & { server: RawServer }> {
  const t1 = token();
  const t2 = token();
  const server = await startRawServer({ ...FAST, ...opts.server, tokens: { [t1]: 'alice', [t2]: 'bob' }, break: brk });
  const control = opts.withProcess ? await rawProcess(brk) : undefined;
  return {
    server,
    url: server.url,
    tokens: [t1, t2],
    caps: {
      mintToken: async (userId, ttlMs) => server.createToken(userId, { ttlMs }),
      maxConnectionsPerIp: FAST.maxConnectionsPerIp,
      serverControl: control,
    },
    async close() {
      await control?.stop();
      await server.close();
    },
  };
}
