/**
 * Rate limiting: RATE-1, RATE-2, RATE-3. These cases use up a user's window on purpose, so they run
 * after every other case that uses the same users, and each starts from a clean window.
 */
import { parseCloseReason } from '../../schemas/v1/index.js';
import { closeReasonProblem } from '../wire/conn.js';
import type { CaseContext } from '../context.js';
import type { Conn } from '../wire/conn.js';
import type { CaseDef } from '../types.js';
import { grace } from './util.js';

const user = (ctx: CaseContext) => ctx.users[0]!;

/** Waits until the suite has sent nothing as user 0 for a full window. */
async function cleanWindow(ctx: CaseContext): Promise<void> {
  await ctx.sleep(ctx.env.governor.clearInMs(user(ctx)));
}

/** Sends `n` pings at once, around the governor. */
function burst(ctx: CaseContext, c: Conn, n: number, who = user(ctx)): void {
  ctx.env.governor.note(who, n);
  for (let i = 0; i < n && c.isOpen; i++) c.sendNow({ type: 'ping' });
}

/** After a 4429 the user is blocked for the hint (and at least a window). */
function blockAfter(ctx: CaseContext, reason: string | undefined, who = user(ctx)): void {
  const hint = reason ? parseCloseReason(reason).retryAfterMs : undefined;
  ctx.env.governor.block(who, (hint ?? 0) + ctx.params.rateLimit.windowMs);
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
      // RATE-2.a: exactly the budget in one burst.
      if (!(await ctx.expectOpen(c, Math.round(windowMs * 1.2), 'RATE-2', `after exactly ${n} messages in ${windowMs} ms`))) return;
      ctx.note(`${n} messages in a burst, answered, not closed`);
      // RATE-2.b: half the budget every 0.7 windowMs, three times: any window of windowMs holds at most
      // two bursts (n frames), so a server that counts a longer span or never forgets closes here.
      const half = Math.floor(n / 2);
      const step = Math.round(windowMs * 0.7);
      const t0 = Date.now();
      const spans: [number, number][] = [];
      for (let k = 0; k < 3 && c.isOpen; k++) {
        await ctx.sleep(Math.max(0, t0 + k * step - Date.now()));
        const start = Date.now();
        burst(ctx, c, half);
        spans.push([start, Date.now()]);
      }
      const closed = await c.waitClose(Math.round(windowMs * 0.5) + grace(ctx));
      // The suite's own timing decides whether the frames kept the budget: bursts k and k + 2 must lie
      // more than a window apart (with room for delivery jitter).
      const slack = Math.round(windowMs * 0.05) + 50;
      const kept = spans.every((s, k) => k + 2 >= spans.length || spans[k + 2]![0] - s[1] > windowMs + slack);
      if (closed && !kept) ctx.inconclusive(`the suite's bursts drifted closer than a window apart (${spans.map((s) => s[0] - t0).join(', ')} ms), then the server closed ${closed.code}`);
      if (closed) ctx.finding('RATE-2', `closed ${closed.code} "${closed.reason}" while the user sent ${half} frames every ${step} ms (at most ${2 * half} in any ${windowMs} ms window)`);
      else ctx.note(`${half} frames every ${step} ms for ${spans.length} bursts, not closed`);
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
      // RATE-1.d: frames of every kind count: pings, text frames that are not JSON, subscribes.
      const ch = ctx.channel();
      const c0 = conns[0]!;
      const started = ctx.elapsed();
      ctx.env.governor.note(user(ctx), n + 1);
      // RATE-4 (revision 1.2): the first restoreAllowance subscribes after authenticated are not
      // counted; spend them first, so that every frame of the flood below counts.
      for (let i = 0; i < (ctx.params.restoreAllowance ?? 0) && c0.isOpen; i++) c0.sendNow({ type: 'subscribe', channel: ch });
      for (let i = 0; i < n + 1 && c0.isOpen; i++) c0.sendNow(i % 3 === 1 ? 'not json' : i % 3 === 2 ? { type: 'subscribe', channel: ch } : { type: 'ping' });
      let reason: string | undefined;
      const { windowMs } = ctx.params.rateLimit;
      for (const [i, c] of conns.entries()) {
        // RATE-1.a/c: 4429 with a close frame on every connection of the user.
        const seen = await ctx.expectClose(c, 4429, { rule: 'RATE-1', what: `close 4429 on connection ${i + 1} of the user after ${n + 1} messages` });
        if (seen?.code === 4429) {
          reason = seen.reason;
          const hint = parseCloseReason(seen.reason).retryAfterMs;
          // RATE-1.b: a retry hint, the time until the window has room again: at most windowMs, and
          // no less than what is left of the window the burst opened.
          if (ctx.check('RATE-1', hint !== undefined, `close reason "${seen.reason}" has no ;retry= hint`)) {
            const tol = ctx.tolerance(windowMs);
            const left = windowMs - (seen.atMs - started);
            ctx.check('RATE-1', hint! <= windowMs + tol && hint! >= left - tol, `retry hint ${hint} ms: the window (${windowMs} ms) opened by the burst has room again in about ${Math.max(0, left)} ms`);
          }
        }
      }
      blockAfter(ctx, reason);
      if (conns.length === 1) ctx.note('sessionPolicy single: one connection per user checked');
    },
  },
  {
    id: 'rate.sliding',
    title: 'the window slides: n + 1 frames within windowMs close the user even across any fixed window boundary',
    rules: ['RATE-1'],
    phase: 'rate',
    timeoutMs: (p) => window(p) * 6 + 15_000,
    async run(ctx) {
      const { messages: n, windowMs: w } = ctx.params.rateLimit;
      if (n < 3) ctx.skip(`rateLimit.messages ${n} is too small to split into an anchor and two bursts`);
      boundFlood(ctx);
      // One frame (the anchor), then a burst A at 0.7 w and a burst B at 1.15 w: A + B = n + 1 frames
      // within 0.45 w, so a sliding window must close; anchor + A <= n and B <= n, so a fixed window
      // that starts at the anchor (or at auth, or at an epoch multiple of w: the run is aligned so
      // that one falls at 0.9 w, between the bursts) sees no window over the budget.
      const a = Math.ceil((n + 1) / 2);
      const b = n + 1 - a;
      // The second user when there is one: the first is still blocked by rate.flood's close.
      const i = ctx.tokens.length >= 2 ? 1 : 0;
      const u = ctx.users[i]!;
      await ctx.sleep(ctx.env.governor.clearInMs(u));
      await ctx.sleep((w - (Date.now() % w)) % w);
      const c = await ctx.session(i);
      const now = Date.now();
      let t0 = now - (now % w) + Math.round(w * 0.1);
      if (t0 < now) t0 += w;
      const at = (x: number) => ctx.sleep(Math.max(0, t0 + Math.round(x * w) - Date.now()));
      await at(0);
      if (!c.isOpen) ctx.inconclusive(`the connection closed (${c.closed?.code}) before the anchor frame`);
      burst(ctx, c, 1, u);
      await at(0.7);
      const aStart = Date.now();
      burst(ctx, c, a, u);
      await at(1.15);
      if (!c.isOpen) ctx.inconclusive(`the server closed ${c.closed?.code} "${c.closed?.reason}" before the second burst, after ${1 + a} of ${n} frames (judged by RATE-2)`);
      burst(ctx, c, b, u);
      const bEnd = Date.now();
      const span = bEnd - aStart;
      ctx.note(`anchor at ${t0 % w} ms into an epoch window, bursts of ${a} and ${b} frames ${span} ms apart (window ${w} ms)`);
      // The suite's own timing must leave no doubt that A and B shared a window.
      const seen = await c.waitClose(ctx.waitMs);
      if (!seen && span > w * 0.8) ctx.inconclusive(`the suite could not send the two bursts within 0.8 windowMs (${span} ms)`);
      ctx.expectedCloses.push(4429);
      for (const x of ctx.env.state.closes) if (x.caseId === ctx.caseId && x.code === 4429) x.expected = true;
      if (!seen) ctx.finding('RATE-1', `${n + 1} frames within ${span} ms (windowMs ${w}) did not close the connection: a fixed window, not a sliding one?`);
      else if (ctx.check('RATE-1', seen.code === 4429, `${n + 1} frames within ${span} ms closed ${seen.code}${seen.frame ? '' : ' (no close frame)'}, expected 4429`)) {
        const bad = closeReasonProblem(4429, Buffer.from(seen.reason));
        if (bad) ctx.finding('RATE-1', bad);
      }
      blockAfter(ctx, seen?.reason, u);
    },
  },
  {
    id: 'rate.per-user',
    title: "one user's flood closes that user's connections only; another user's budget and connections are untouched",
    rules: ['RATE-3'],
    needs: ['tokens:2'],
    phase: 'rate',
    lane: 'own',
    timeoutMs: (p) => window(p) * 4 + 15_000,
    async run(ctx) {
      const { messages: n } = ctx.params.rateLimit;
      boundFlood(ctx);
      await cleanWindow(ctx);
      await ctx.sleep(ctx.env.governor.clearInMs(ctx.users[1]!));
      // RATE-3.b: the count is per user: user 1 sends half its budget, user 0 floods past its own.
      const other = await ctx.session(1);
      const half = Math.floor(n / 2);
      burst(ctx, other, half, ctx.users[1]!);
      for (let i = 0; i < half; i++) await other.next('pong', { what: `pong ${i + 1} of ${half} (the other user)` });
      const a = await ctx.session(0);
      burst(ctx, a, n + 1);
      const seen = await ctx.expectClose(a, 4429, { rule: 'RATE-3', what: `close 4429 after ${n + 1} messages of one user` });
      blockAfter(ctx, seen?.reason);
      await ctx.sleep(grace(ctx));
      ctx.check('RATE-3', other.isOpen, `another user's connection was closed (${other.closed?.code} "${other.closed?.reason ?? ''}") when ${ctx.users[0]} went over the limit`);
      if (other.isOpen) await ctx.expectAlive(other, 'RATE-3', `another user's connection, within its own budget, right after ${ctx.users[0]} was rate-limited`);
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
