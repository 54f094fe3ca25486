/**
 * Child processes for the server under test and the load generator: each pinned to its own core
 * with `taskset` (when there is one and the machine has 2+ cores), with the open-file limit raised
 * through a shell wrapper (`ulimit -n`), talking to the orchestrator over IPC (lib/rpc.ts).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import { RpcClient } from './rpc.js';

const HAS_TASKSET = spawnSync('sh', ['-c', 'command -v taskset'], { encoding: 'utf8' }).stdout.trim() !== '';
/** Cores: the server gets core 0, the load generator the last core (the orchestrator floats, mostly idle). */
export const SERVER_CORE = 0;
export const LOAD_CORE = Math.max(0, availableParallelism() - 1);
export const PINNED = HAS_TASKSET && availableParallelism() >= 2;

/** The hard open-file limit of this shell: children raise their soft limit to it. */
export function hardFdLimit(): number {
  const out = spawnSync('sh', ['-c', 'ulimit -Hn'], { encoding: 'utf8' }).stdout.trim();
  return out === 'unlimited' ? 1_048_576 : Number(out) || 1024;
}

/** A sibling module as a path runnable by node: `.js` under dist/, `.ts` in the source tree (run through tsx). */
function scriptPath(rel: string): { file: string; loader: string[] } {
  const here = fileURLToPath(import.meta.url);
  const ts = here.endsWith('.ts');
  const file = fileURLToPath(new URL(`../${rel}.${ts ? 'ts' : 'js'}`, import.meta.url));
  if (!existsSync(file)) throw new Error(`bench: missing ${file}`);
  return { file, loader: ts ? ['--import', 'tsx'] : [] };
}

/** Children run as in production: not under vitest's strict outbound validation. */
function childEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, NODE_ENV: 'production' };
  delete env.VITEST;
  delete env.VITEST_WORKER_ID;
  delete env.VITEST_POOL_ID;
  return env;
}

export interface Child {
  rpc: RpcClient;
  proc: ChildProcess;
  pid: number;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

export interface SpawnOptions {
  core?: number;
  /** Extra node flags (e.g. --expose-gc, --cpu-prof). */
  nodeFlags?: string[];
  name: string;
}

/** Starts `bench/<rel>` as a node child: `ulimit -n <hard>; exec taskset -c CORE node FLAGS file ARGS`. */
export function spawnChild(rel: string, args: string[], opts: SpawnOptions): Child {
  const { file, loader } = scriptPath(rel);
  const node = [process.execPath, ...(opts.nodeFlags ?? []), ...loader, file, ...args];
  const pin = PINNED && opts.core !== undefined ? ['taskset', '-c', String(opts.core)] : [];
  const q = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;
  const cmd = `ulimit -n ${hardFdLimit()} 2>/dev/null; exec ${[...pin, ...node].map(q).join(' ')}`;
  const proc = spawn('sh', ['-c', cmd], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'], env: childEnv() });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    proc.once('exit', (code, signal) => resolve({ code, signal })),
  );
  return { rpc: new RpcClient(proc, opts.name), proc, pid: proc.pid!, exited };
}

/** Stops a child: SIGTERM, then SIGKILL if it has not exited within `graceMs`. */
export async function stopChild(c: Child, graceMs = 5_000): Promise<void> {
  if (c.proc.exitCode !== null || c.proc.signalCode !== null) return;
  c.proc.kill('SIGTERM');
  const t = setTimeout(() => c.proc.kill('SIGKILL'), graceMs);
  await c.exited;
  clearTimeout(t);
}

/** Open file descriptors of a process (Linux). */
export function fdCount(pid: number): number {
  try {
    return readdirSync(`/proc/${pid}/fd`).length;
  } catch {
    return -1;
  }
}

export function readProcFile(path: string): string | null {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return null;
  }
}
