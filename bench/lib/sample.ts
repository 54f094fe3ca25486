/**
 * CPU and memory of a process from outside it: /proc/<pid>/stat (utime + stime in clock ticks, RSS
 * in pages). Measuring from outside counts everything the process does (GC threads, libuv), not
 * only what `process.cpuUsage()` of the main thread would say.
 */
import { spawnSync } from 'node:child_process';
import { readProcFile } from './proc.js';

const TICK_MS = 1000 / (Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout.trim()) || 100);
const PAGE = Number(spawnSync('getconf', ['PAGESIZE'], { encoding: 'utf8' }).stdout.trim()) || 4096;

export interface ProcSample {
  /** CPU time used so far (user + system), ms. */
  cpuMs: number;
  rssBytes: number;
  at: number;
}

export function sampleProc(pid: number): ProcSample | null {
  const stat = readProcFile(`/proc/${pid}/stat`);
  if (!stat) return null;
  // The command name (field 2) may hold spaces: split after its closing parenthesis.
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // f[0] is field 3 (state): utime is field 14, stime 15, rss 24.
  const utime = Number(f[11]);
  const stime = Number(f[12]);
  const rss = Number(f[21]);
  return { cpuMs: (utime + stime) * TICK_MS, rssBytes: rss * PAGE, at: performance.now() };
}

/** CPU used by `pid` between two samples, as a share of one core (1 = 100 %). */
export function cpuShare(a: ProcSample, b: ProcSample): number {
  const wall = b.at - a.at;
  return wall > 0 ? (b.cpuMs - a.cpuMs) / wall : 0;
}

/** Measures CPU of several processes over an async window. */
export async function measureCpu<T>(pids: Record<string, number>, body: () => Promise<T>): Promise<{ result: T; wallMs: number; cpuMs: Record<string, number>; share: Record<string, number> }> {
  const before = Object.fromEntries(Object.entries(pids).map(([k, pid]) => [k, sampleProc(pid)]));
  const t0 = performance.now();
  const result = await body();
  const wallMs = performance.now() - t0;
  const cpuMs: Record<string, number> = {};
  const share: Record<string, number> = {};
  for (const [k, pid] of Object.entries(pids)) {
    const a = before[k];
    const b = sampleProc(pid);
    cpuMs[k] = a && b ? b.cpuMs - a.cpuMs : NaN;
    // /proc counts in 10 ms ticks: a share over a shorter window says nothing.
    share[k] = wallMs >= 200 ? cpuMs[k]! / wallMs : NaN;
  }
  return { result, wallMs, cpuMs, share };
}

/** Above this share of its core the load generator, not the server, limits the figures. */
export const LOAD_BOUND_SHARE = 0.9;
