/** Helpers of the client cases: backoff bounds from the settings (RECON-1), waits on the wire. */
import type { DriverSettings } from '../contract.js';
import type { ClientCaseContext } from '../context.js';
import type { ClientConn } from '../server.js';

/** RECON-1: d = min(capMs, baseMs · 2^n); the delay before attempt n lies in [d/2, d]. */
export function backoffBound(n: number, s: DriverSettings): number {
  return Math.min(s.backoffCapMs, s.backoffBaseMs * 2 ** Math.min(n, 30));
}

/** Lower tolerance: a delay measured on the server is never shorter than the one the client waited. */
export const EARLY_MS = 15;

/** Waits for the next connection that gets authenticated (the server's default auth answers at once). */
export async function nextAuthenticated(ctx: ClientCaseContext, timeoutMs: number, after = ctx.server.conns.length): Promise<ClientConn | undefined> {
  const c = await ctx.server.nextConn(timeoutMs, after);
  if (!c) return undefined;
  const auth = await c.waitMsg('auth', ctx.ms(3_000));
  if (!auth) return undefined;
  for (let i = 0; i < 50 && c.authenticatedAt === undefined; i++) await ctx.sleep(10);
  return c;
}

/**
 * Closes `c` (or drops it when code is 1006) and measures how long the client waits before its next
 * upgrade attempt; undefined when none came within `timeoutMs`.
 */
export async function closeAndTime(ctx: ClientCaseContext, c: ClientConn, code: number, reason: string, timeoutMs: number): Promise<number | undefined> {
  const after = ctx.server.attempts.length;
  const t0 = Date.now();
  if (code === 1006) c.terminate();
  else c.close(code, reason);
  const a = await ctx.server.nextAttempt(timeoutMs, after);
  return a ? a.at - t0 : undefined;
}

export const fmt = (ms: number) => `${Math.round(ms)} ms`;

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
}

/** RECON-1: delays at the cap are jittered when their median absolute deviation is at least cap/24 (uniform: cap/8). */
export function jitterVerdict(capped: number[], capMs: number): { mad: number; jittered: boolean } {
  const m = median(capped);
  const mad = median(capped.map((x) => Math.abs(x - m)));
  return { mad, jittered: mad >= capMs / 24 };
}

/** RECON-1: two clients are in lockstep when their delays at the cap differ by a median below cap/40. */
export function lockstepVerdict(diffs: number[], capMs: number): { mid: number; lockstep: boolean } {
  const mid = median(diffs);
  return { mid, lockstep: mid < capMs / 40 };
}
