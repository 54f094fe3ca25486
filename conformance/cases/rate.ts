/**
 * Rate limiting: RATE-1, RATE-2, RATE-3. These cases use up a user's window on purpose, so they run
 * after every other case that uses the same users, and each starts from a clean window.
 */
import { parseCloseReason } from '../../schemas/v1/index.js';
import type { CaseContext } from '../context.js';
import type { Conn } from '../wire/conn.js';
import type { CaseDef } from '../types.js';

const user = (ctx: CaseContext) => ctx.users[0]!;

/** Waits until the suite has sent nothing as user 0 for a full window. */
async function cleanWindow(ctx: CaseContext): Promise<void> {
  await ctx.sleep(ctx.env.governor.clearInMs(user(ctx)));
}

/** Sends `n` pings at once, around the governor. */
function burst(ctx: CaseContext, c: Conn, n: number): void {
  ctx.env.governor.note(user(ctx), n);
  for (let i = 0; i < n && c.isOpen; i++) c.sendNow({ type: 'ping' });
}

/** After a 4429 the user is blocked for the hint (and at least a window). */
function blockAfter(ctx: CaseContext, reason: string | undefined): void {
  const hint = reason ? parseCloseReason(reason).retryAfterMs : undefined;
  ctx.env.governor.block(user(ctx), (hint ?? 0) + ctx.params.rateLimit.windowMs);
}

const window = (p: { rateLimit: { windowMs: number } }) => p.rateLimit.windowMs;

/** The suite floods at most this many messages; beyond, the rate cases are skipped. */
const MAX_FLOOD = 5000;
function boundFlood(ctx: CaseContext): void {
  const n = ctx.params.rateLimit.messages;
  if (n + 1 > MAX_FLOOD) ctx.skip(`rateLimit.messages ${n} is above the ${MAX_FLOOD} messages the suite sends in a burst`);
}

export const rateCases: CaseDef[] = [
  {
    id: 'rate.within-limit',
    title: 'never closes a user who sends exactly rateLimit.messages within a window',
    rules: ['RATE-2'],
    phase: 'rate',
    timeoutMs: (p) => window(p) * 5 + 15_000,
    async run(ctx) {
      const { messages: n, windowMs } = ctx.params.rateLimit;
      boundFlood(ctx);
      await cleanWindow(ctx);
      const c = await ctx.session(0);
      // Let the auth leave the window, so exactly n messages are in any window from here on.
      await ctx.sleep(Math.ceil(windowMs * 1.1) + 250);
      burst(ctx, c, n);
      for (let i = 0; i < n; i++) await c.next('pong', { what: `pong ${i + 1} of ${n}` });
      await ctx.expectOpen(c, Math.round(windowMs * 1.2), 'RATE-2', `after exactly ${n} messages in ${windowMs} ms`);
      ctx.note(`${n} messages in a burst, answered, not closed`);
    },
  },
  {
    id: 'rate.flood',
    title: 'closes with 4429 and a retry hint every connection of a user over rateLimit.messages',
    rules: ['RATE-1'],
    phase: 'rate',
    timeoutMs: (p) => window(p) * 4 + 15_000,
    async run(ctx) {
      const { messages: n } = ctx.params.rateLimit;
      boundFlood(ctx);
      await cleanWindow(ctx);
      const conns = [await ctx.session(0)];
      if (ctx.params.sessionPolicy === 'multiple') conns.push(await ctx.session(0));
      burst(ctx, conns[0]!, n + 1);
      let reason: string | undefined;
      for (const [i, c] of conns.entries()) {
        const seen = await ctx.expectClose(c, 4429, { rule: 'RATE-1', what: `close 4429 on connection ${i + 1} of the user after ${n + 1} messages` });
        if (seen?.code === 4429) {
          reason = seen.reason;
          ctx.check('RATE-1', parseCloseReason(seen.reason).retryAfterMs !== undefined, `close reason "${seen.reason}" has no ;retry= hint`);
        }
      }
      blockAfter(ctx, reason);
      if (conns.length === 1) ctx.note('sessionPolicy single: one connection per user checked');
    },
  },
  {
    id: 'rate.reconnect',
    title: 'counts per user across connections: reconnecting does not reset the window',
    rules: ['RATE-3'],
    phase: 'rate',
    timeoutMs: (p) => window(p) * 4 + 15_000,
    async run(ctx) {
      const { messages: n } = ctx.params.rateLimit;
      // k + m = n + 1 messages across two connections, each connection within the limit on its own
      // (also when the server counts the auth message): only a per-user count closes the second.
      const k = Math.ceil((n + 1) / 2);
      const m = n + 1 - k;
      if (n < 3) ctx.skip(`rateLimit.messages ${n} is too small to split over two connections`);
      boundFlood(ctx);
      await cleanWindow(ctx);
      const a = await ctx.session(0);
      burst(ctx, a, k);
      for (let i = 0; i < k; i++) await a.next('pong', { what: `pong ${i + 1} of ${k}` });
      ctx.check('RATE-3', a.isOpen, `the first connection closed after ${k} of ${n} messages`);
      a.close();
      await a.waitClose(ctx.waitMs);
      const b = await ctx.connect();
      b.sendNow({ type: 'auth', token: ctx.tokens[0]! });
      ctx.env.governor.note(user(ctx), 1);
      await b.next('authenticated').catch(() => undefined);
      if (b.isOpen) burst(ctx, b, m);
      const seen = await ctx.expectClose(b, 4429, { rule: 'RATE-3', what: `close 4429 after ${k} + ${m} messages on two connections` });
      blockAfter(ctx, seen?.reason);
    },
  },
];
