/**
 * Embedded mode (`mooring test` with no URL): the reference server in-process with short timings, so
 * the whole suite runs in well under a minute, plus the reference server's own CLI as a child process
 * for the shutdown cases (SIGTERM, SIGKILL, restart, reconnect storm).
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { execFile } from 'node:child_process';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import type { Capabilities } from './context.js';
import { processServer, type ServerControl } from './server-control.js';
import { STORM_MAX } from './cases/shutdown.js';

/** The action the embedded server offers whose handler throws (REQ-7). */
export const FAILING_ACTION = 'conformance_fail';

/** Short timings for the in-process reference server. Every case adapts to the advertised params. */
export const EMBEDDED_SERVER_OPTIONS = {
  heartbeatIntervalMs: 400,
  heartbeatTimeoutMs: 400,
  authTimeoutMs: 600,
  requestTimeoutMs: 2_000,
  rateLimit: { messages: 300, windowMs: 1_000 },
  maxPayloadBytes: 16 * 1024,
  maxSubscriptions: 8,
  maxBufferedBytes: 64 * 1024,
  historySize: 10,
  historyBytes: 32 * 1024,
  sessionPolicy: 'single' as const,
  maxConnectionsPerIp: 48,
  tokenWarningMs: 800,
  shutdownSpreadMs: 500,
};

export interface Embedded {
  url: string;
  tokens: [string, string];
  caps: Partial<Capabilities>;
  close(): Promise<void>;
}

/** The package root, from source (`conformance/`) or from the build (`dist/conformance/`). */
export function packageRoot(): string {
  const here = path.dirname(fileURLToPath(import.meta.url));
  return path.basename(path.dirname(here)) === 'dist' ? path.resolve(here, '../..') : path.resolve(here, '..');
}

/** How to run the `mooring` CLI: the built one, or the source through tsx. */
export function mooringCli(): { cmd: string[]; note: string } | undefined {
  const root = packageRoot();
  const fromSource = import.meta.url.endsWith('.ts');
  const built = path.join(root, 'dist/cli/mooring.js');
  const source = path.join(root, 'cli/mooring.ts');
  if (!fromSource && existsSync(built)) return { cmd: [process.execPath, built], note: built };
  if (existsSync(source) && existsSync(path.join(root, 'node_modules/tsx'))) return { cmd: [process.execPath, '--import', 'tsx', source], note: `tsx ${source}` };
  if (existsSync(built)) return { cmd: [process.execPath, built], note: built };
  return undefined;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

const q = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

/** The reference CLI as a controlled process with `n` users' tokens. */
export async function referenceProcess(n = STORM_MAX): Promise<{ control: ServerControl; cleanup: () => void } | { reason: string }> {
  const cli = mooringCli();
  if (!cli) return { reason: 'the reference CLI is neither built (dist/cli/mooring.js) nor runnable from source with tsx' };
  const dir = mkdtempSync(path.join(os.tmpdir(), 'mooring-test-'));
  const file = path.join(dir, 'tokens.json');
  const root = packageRoot();
  try {
    const { stdout } = await promisify(execFile)(cli.cmd[0]!, [...cli.cmd.slice(1), 'token', 'create', '--user', 'storm', '--count', String(n), '--tokens-file', file], { cwd: root, timeout: 30_000 });
    const tokens = stdout.trim().split('\n').map((l) => l.trim()).filter(Boolean);
    if (tokens.length < n) throw new Error(`token create printed ${tokens.length} tokens, expected ${n}`);
    const port = await freePort();
    const command = [...cli.cmd, 'serve', '--port', String(port), '--tokens-file', file, '--quiet', '--shutdown-spread', '1s'].map(q).join(' ');
    const control = processServer({ command, url: `ws://127.0.0.1:${port}/ws`, tokens, cwd: root });
    return { control, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
  } catch (e) {
    rmSync(dir, { recursive: true, force: true });
    return { reason: `could not prepare the reference CLI (${cli.note}): ${(e as Error).message.split('\n')[0]}` };
  }
}

export interface EmbeddedOptions {
  /** Also prepare the reference CLI as a child process for the shutdown cases. @default true */
  serverProcess?: boolean;
  /** Serve wss:// with this certificate (DEPLOY-8). @default none (ws://) */
  tls?: { cert: string | Buffer; key: string | Buffer };
}

/** Starts the in-process reference server with short timings and mints the tokens the suite needs. */
export async function startEmbedded(opts: EmbeddedOptions = {}): Promise<Embedded & { processNote?: string }> {
  const { startServer } = await import('../reference/server/index.js');
  const server = await startServer({
    port: 0,
    tokensFile: ':memory:',
    logger: false,
    ...EMBEDDED_SERVER_OPTIONS,
    tls: opts.tls,
    actions: {
      [FAILING_ACTION]: () => {
        throw new Error('SECRET conformance-failure at handler (/srv/app/handlers.js:12:7)');
      },
    },
  });
  const t1 = await server.createToken('conf-alice');
  const t2 = await server.createToken('conf-bob');
  const caps: Partial<Capabilities> = {
    mintToken: (user, ttlMs) => server.createToken(user, { ttlMs }),
    failingAction: FAILING_ACTION,
    maxConnectionsPerIp: EMBEDDED_SERVER_OPTIONS.maxConnectionsPerIp,
  };
  let cleanup = () => {};
  let processNote: string | undefined;
  if (opts.serverProcess ?? true) {
    const p = await referenceProcess();
    if ('control' in p) {
      caps.serverControl = p.control;
      cleanup = p.cleanup;
    } else processNote = p.reason;
  }
  return {
    url: server.url,
    tokens: [t1, t2],
    caps,
    processNote,
    async close() {
      await caps.serverControl?.stop();
      cleanup();
      await server.shutdown();
    },
  };
}
