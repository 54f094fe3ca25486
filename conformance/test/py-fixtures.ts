/**
 * The independent Python server (conformance/test/py-server/server.py, written from spec/ alone, run
 * with Debian's python3-websockets) as a suite target: unbroken or with one mutant, with short
 * timings, an expiring token, a failing action and enough users, plus a second process of it under
 * the suite's control for the shutdown cases (SIGTERM, SIGKILL, restart, storm).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { processServer, type ServerControl } from '../server-control.js';
import { STORM_MAX } from '../cases/shutdown.js';
import type { Capabilities } from '../context.js';
import { FAST, type Target } from './fixtures.js';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const PYTHON = process.env.MOORING_PYTHON ?? '/usr/bin/python3';
export const PY_SERVER = process.env.MOORING_PY_SERVER ?? path.join(ROOT, 'conformance/test/py-server/server.py');
export const PY_MUTANTS = process.env.MOORING_PY_MUTANTS ?? path.join(ROOT, 'conformance/test/py-server/mutants.json');
/** The action the Python server always offers whose handler raises (REQ-7; the suite's --failing-action). */
export const PY_FAILING_ACTION = 'fail';

export interface Mutant {
  name: string;
  rule: string;
  clause: string;
  description: string;
  /** Extra server flags the mutant needs to be observable (optional). */
  args?: string[];
}

export function loadMutants(): Mutant[] {
  const raw = JSON.parse(readFileSync(PY_MUTANTS, 'utf8')) as Mutant[] | { mutants: Mutant[] };
  return Array.isArray(raw) ? raw : raw.mutants;
}

/** Server settings as the Python server's flags take them. */
export interface PySettings {
  heartbeatIntervalMs: number;
  heartbeatTimeoutMs: number;
  authTimeoutMs: number;
  requestTimeoutMs: number;
  rateLimit: { messages: number; windowMs: number };
  maxPayloadBytes: number;
  maxSubscriptions: number;
  maxBufferedBytes: number;
  historySize: number;
  maxPendingRequests: number;
  sessionPolicy: 'single' | 'multiple';
  maxConnectionsPerIp: number;
  tokenWarningMs: number;
  shutdownSpreadMs: number;
}

/** The embedded reference server's short timings (every case adapts to the advertised params). */
export const PY_FAST: PySettings = { ...FAST, maxPendingRequests: 100, sessionPolicy: 'single' };

export function pyFlags(s: PySettings): string[] {
  return [
    '--heartbeat-interval-ms', s.heartbeatIntervalMs, '--heartbeat-timeout-ms', s.heartbeatTimeoutMs,
    '--auth-timeout-ms', s.authTimeoutMs, '--request-timeout-ms', s.requestTimeoutMs,
    '--rate-messages', s.rateLimit.messages, '--rate-window-ms', s.rateLimit.windowMs,
    '--max-payload-bytes', s.maxPayloadBytes, '--max-subscriptions', s.maxSubscriptions,
    '--max-buffered-bytes', s.maxBufferedBytes, '--history-size', s.historySize,
    '--max-pending-requests', s.maxPendingRequests, '--session-policy', s.sessionPolicy,
    '--max-connections-per-ip', s.maxConnectionsPerIp, '--token-warning-ms', s.tokenWarningMs,
    '--shutdown-spread-ms', s.shutdownSpreadMs,
  ].map(String);
}

export function pyAvailable(): string | undefined {
  if (!existsSync(PY_SERVER)) return `${path.relative(ROOT, PY_SERVER)} does not exist (branch wt-py not merged yet?)`;
  if (!existsSync(PYTHON)) return `${PYTHON} does not exist`;
  return undefined;
}

const token = () => randomBytes(12).toString('hex');

/** Extra users on the main server (caps.extraTokens). */
const LANE_USERS = 24;

export async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

const q = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

interface TokenEntry {
  token: string;
  user: string;
  expiresInMs: number | null;
}

/** One Python server process started with `--port 0`, ready when it prints LISTENING. */
async function spawnPy(args: string[], readyTimeoutMs = 20_000): Promise<{ url: string; child: ChildProcess; output: () => string; stop: () => Promise<void> }> {
  const child = spawn(PYTHON, [PY_SERVER, ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  let out = '';
  let tail = '';
  child.stderr!.on('data', (d: Buffer) => (tail = (tail + d.toString()).slice(-4000)));
  const exited = new Promise<string>((resolve) => child.once('exit', (code, sig) => resolve(sig ?? String(code))));
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the Python server printed no LISTENING line within ${readyTimeoutMs} ms: ${tail.slice(-500)}`)), readyTimeoutMs);
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /LISTENING (ws:\/\/\S+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]!);
      }
    });
    void exited.then((how) => {
      clearTimeout(timer);
      reject(new Error(`the Python server exited (${how}) before listening: ${tail.slice(-800)}`));
    });
  });
  child.stdout!.resume();
  return {
    url,
    child,
    output: () => tail,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      try {
        process.kill(-child.pid!, 'SIGKILL');
      } catch {
        child.kill('SIGKILL');
      }
      await exited;
    },
  };
}

export interface PyTargetOptions {
  mutant?: string;
  /** Also start a controlled process (for the shutdown cases). @default false */
  withProcess?: boolean;
  settings?: Partial<PySettings>;
  /** Extra flags (a mutant's `args`). */
  args?: string[];
  /** The expiring token's lifetime from server start. @default 15_000 */
  expiringInMs?: number;
}

export interface PyTarget extends Target {
  /** The last stderr lines of the main process (for failures). */
  output(): string;
}

/** The Python server with short timings, an expiring token, the failing action; optionally a controlled process for SHUT-*. */
export async function pyTarget(opts: PyTargetOptions = {}): Promise<PyTarget> {
  const missing = pyAvailable();
  if (missing) throw new Error(missing);
  const s: PySettings = { ...PY_FAST, ...opts.settings, rateLimit: { ...(opts.settings?.rateLimit ?? PY_FAST.rateLimit) } };
  const dir = mkdtempSync(path.join(os.tmpdir(), 'mooring-py-'));
  const t1 = token();
  const t2 = token();
  const expiring = token();
  const main: TokenEntry[] = [
    { token: t1, user: 'alice', expiresInMs: null },
    { token: t2, user: 'bob', expiresInMs: null },
    { token: expiring, user: 'carol', expiresInMs: opts.expiringInMs ?? 15_000 },
  ];
  // Users of their own for the timer-bound cases the runner runs concurrently (as --tokens-file gives them).
  const lane = Array.from({ length: LANE_USERS }, token);
  main.push(...lane.map((t, i) => ({ token: t, user: `lane-${i + 1}`, expiresInMs: null })));
  const mainFile = path.join(dir, 'tokens.json');
  writeFileSync(mainFile, JSON.stringify({ tokens: main }));
  const extra = [...(opts.mutant ? ['--mutant', opts.mutant] : []), ...(opts.args ?? [])];
  let proc: Awaited<ReturnType<typeof spawnPy>> | undefined;
  let control: ServerControl | undefined;
  try {
    proc = await spawnPy(['--port', '0', '--tokens-file', mainFile, ...pyFlags(s), ...extra]);
    if (opts.withProcess) {
      const stormTokens = Array.from({ length: STORM_MAX }, token);
      const ctlFile = path.join(dir, 'storm-tokens.json');
      writeFileSync(ctlFile, JSON.stringify({ tokens: stormTokens.map((t, i) => ({ token: t, user: `storm-${i + 1}`, expiresInMs: null })) }));
      const port = await freePort();
      const u = new URL(proc.url);
      control = processServer({
        // The storm (SHUT-4) reconnects up to STORM_MAX clients from this one IP.
        command: [PYTHON, PY_SERVER, '--port', String(port), '--tokens-file', ctlFile, ...pyFlags({ ...s, maxConnectionsPerIp: STORM_MAX + 56 }), ...extra].map(q).join(' '),
        url: `ws://127.0.0.1:${port}${u.pathname}`,
        tokens: stormTokens,
        cwd: ROOT,
      });
    }
  } catch (e) {
    await proc?.stop();
    rmSync(dir, { recursive: true, force: true });
    throw e;
  }
  const caps: Partial<Capabilities> = {
    extraTokens: lane,
    expiringToken: expiring,
    failingAction: PY_FAILING_ACTION,
    maxConnectionsPerIp: s.maxConnectionsPerIp,
    serverControl: control,
  };
  return {
    url: proc.url,
    tokens: [t1, t2],
    caps,
    output: proc.output,
    async close() {
      await control?.stop();
      await proc!.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
