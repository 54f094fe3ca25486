/** Small helpers shared by the cases. */
import type { Conn } from '../wire/conn.js';
import type { CaseContext } from '../context.js';
import type { Position, PushMessage, ServerMessage } from '../../schemas/v1/index.js';

/** Time for stray messages to show up after an exchange (duplicates, late pushes). */
export function grace(ctx: CaseContext): number {
  return ctx.ms(400);
}

/** Pushes of `channel` received so far on `conn`. */
export function pushesOf(conn: Conn, channel: string): PushMessage[] {
  return conn.received((m) => m.type === 'push' && m.channel === channel) as PushMessage[];
}

/** Waits until `conn` has received `n` pushes of `channel` (or the wait ends); returns them. */
export async function collectPushes(conn: Conn, channel: string, n: number, timeoutMs: number): Promise<PushMessage[]> {
  const deadline = Date.now() + timeoutMs;
  while (pushesOf(conn, channel).length < n && Date.now() < deadline && !conn.closed) {
    await new Promise((r) => setTimeout(r, 20));
  }
  return pushesOf(conn, channel);
}

/** Sends a subscribe and returns the server's answer to it: its `subscribed`, or an `error`. */
export async function subscribeAnswer(ctx: CaseContext, conn: Conn, channel: string, since?: Position): Promise<ServerMessage> {
  await conn.send(since ? { type: 'subscribe', channel, since } : { type: 'subscribe', channel });
  const what = `an answer to subscribe ${JSON.stringify(channel.slice(0, 30))}`;
  return conn.waitFor((x) => x.type === 'error' || (x.type === 'subscribed' && x.channel === channel), ctx.waitMs, what);
}

/**
 * Sends requests back to back, but never more than the advertised maxPendingRequests (LIMIT-5) at
 * once: request i waits until request i - cap has its answer (a response, or an error naming it).
 * Nothing is consumed, so the caller still reads every answer.
 */
export async function sendPipelined(ctx: CaseContext, conn: Conn, requests: { id: string }[], onSent?: (i: number) => Promise<void> | void): Promise<void> {
  const cap = Math.max(1, ctx.params.maxPendingRequests ?? requests.length);
  const answered = (id: string) => conn.received((m) => (m.type === 'response' || m.type === 'error') && 'requestId' in m && m.requestId === id).length > 0;
  for (let i = 0; i < requests.length; i++) {
    if (i >= cap) {
      const id = requests[i - cap]!.id;
      const until = Date.now() + ctx.waitMs;
      while (!answered(id) && Date.now() < until && !conn.closed) await new Promise((r) => setTimeout(r, 5));
    }
    await conn.send({ type: 'request', ...requests[i]! });
    await onSent?.(i);
  }
}

export const posText = (p: Position | undefined) => (p ? `${p.epoch}/${p.offset}` : 'none');

/** A JSON request text of exactly `size` bytes (ASCII), for the payload limit (LIMIT-1). */
export function paddedEcho(id: string, size: number): string {
  const base = JSON.stringify({ type: 'request', id, action: 'echo', payload: '' });
  const pad = size - base.length;
  if (pad < 0) throw new Error(`cannot build a ${size}-byte message`);
  return JSON.stringify({ type: 'request', id, action: 'echo', payload: 'x'.repeat(pad) });
}

export function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
