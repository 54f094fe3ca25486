/**
 * Graceful shutdown and restart: SHUT-1..4. These need control of the server process
 * (--server-cmd, or the reference server's CLI in embedded mode) and run after every other case.
 */
import { parseCloseReason, DEFAULT_BACKOFF, type SessionParams } from '../../schemas/v1/index.js';
import type { CaseContext } from '../context.js';
import type { Conn } from '../wire/conn.js';
import type { CaseDef } from '../types.js';
import { subscribeAnswer } from './util.js';
import { httpCall } from '../wire/http.js';
import type { ServerControl } from '../server-control.js';

/** The storm is at most this many clients (each a distinct user under sessionPolicy single). */
export const STORM_MAX = 200;

function control(ctx: CaseContext): ServerControl {
  return ctx.env.caps.serverControl!;
}

/** Starts the controlled server if needed and authenticates once to learn its params. */
async function ready(ctx: CaseContext): Promise<{ ctl: ServerControl; params: SessionParams }> {
  const ctl = control(ctx);
  await ctl.start();
  const c = await ctx.connect({ url: ctl.url, label: 'probe' });
  const m = await c.auth(ctl.tokens[0]!);
  c.close();
  await c.waitClose(2000);
  return { ctl, params: m.params };
}

/** `n` sessions on the controlled server, one user each (or shared users under policy multiple). */
async function sessions(ctx: CaseContext, ctl: ServerControl, params: SessionParams, n: number, label: string): Promise<Conn[]> {
  const out: Conn[] = [];
  // Paced (about 40 per second): setting up is not the storm.
  const per = 20;
  for (let i = 0; i < n; i += per) {
    if (i > 0) await ctx.sleep(500);
    const batch = await Promise.all(
      Array.from({ length: Math.min(per, n - i) }, async (_, j) => {
        const c = await ctx.connect({ url: ctl.url, label: `${label}${i + j}` });
        const token = params.sessionPolicy === 'single' ? ctl.tokens[i + j]! : ctl.tokens[(i + j) % ctl.tokens.length]!;
        await c.auth(token);
        return c;
      }),
    );
    out.push(...batch);
  }
  return out;
}

/** RECON-1: before attempt n, wait a uniform delay in [d/2, d] with d = min(cap, base * 2^n). */
export function backoffDelay(attempt: number, random: () => number = Math.random): number {
  const d = Math.min(DEFAULT_BACKOFF.capMs, DEFAULT_BACKOFF.baseMs * 2 ** attempt);
  return d / 2 + random() * (d / 2);
}

export const shutdownCases: CaseDef[] = [
  {
    id: 'shut.drain',
    title: 'after SIGTERM, new upgrades are refused with HTTP 503 while the server drains',
    rules: ['SHUT-1', 'HTTP-5'],
    needs: ['server-cmd'],
    phase: 'shutdown',
    timeoutMs: () => 40_000,
    async run(ctx) {
      const { ctl, params } = await ready(ctx);
      const [holder] = await sessions(ctx, ctl, params, 1, 'h');
      // A second client whose close reply never reaches the server (proxy blackhole) keeps the drain
      // open for the server's close grace, so new upgrades meet a server that is shutting down.
      const p = await ctx.proxy([], ctl.url);
      const lingering = await ctx.connect({ url: p.url, label: 'lingering' });
      await lingering.auth(ctl.tokens[1] ?? ctl.tokens[0]!);
      p.add({ match: { direction: 'to-server' }, action: 'blackhole' });
      ctx.expectedCloses.push(1012); // judged by shut.close-1012 (SHUT-2)
      const health = new URL(ctl.url);
      const healthz = `${health.protocol === 'wss:' ? 'https' : 'http'}://${health.host}/healthz`;
      ctl.signal('SIGTERM');
      const closed = await holder!.waitClose(ctx.ms(10_000));
      ctx.require('SHUT-1', closed, 'the server did not start closing connections within 10 s of SIGTERM');
      // HTTP-5: /healthz says 503 while the server shuts down (when anything still answers).
      const hz = await httpCall(healthz, {}, 1000, ctx.env.adapt?.ca).then((r) => r.status, () => 0);
      ctx.note(`GET /healthz during shutdown: ${hz || 'refused'}`);
      if (hz) ctx.check('HTTP-5', hz === 503, `GET /healthz answered ${hz} while the server was shutting down, expected 503`);
      const statuses: number[] = [];
      const until = Date.now() + ctx.ms(1500);
      while (Date.now() < until) {
        const r = await ctx.tryConnect({ url: ctl.url, label: 'late' });
        statuses.push(r.status);
        if (r.conn) r.conn.terminate();
        if (r.status !== 503) break;
        await ctx.sleep(50);
      }
      ctx.note(`upgrade attempts after the first close: ${statuses.join(', ')} (0 = TCP refused)`);
      ctx.check('SHUT-1', !statuses.includes(101), 'a new upgrade was accepted while the server was shutting down');
      const other = statuses.filter((s) => s !== 503 && s !== 0 && s !== 101);
      ctx.check('SHUT-1', other.length === 0, `upgrades during shutdown answered HTTP ${other.join(', ')}, expected 503`);
      if (!statuses.includes(503) && statuses.every((s) => s === 0)) ctx.info('the listener closed before a refusal could be observed (no 503 seen; TCP refused)', 'SHUT-1');
      const how = await ctl.waitExit(ctx.ms(15_000));
      ctx.note(`the process exited: ${how ?? 'not within 15 s'}`);
      if (how === undefined) await ctl.stop();
    },
  },
  {
    id: 'shut.close-1012',
    title: 'on SIGTERM every client gets a 1012 close frame with a retry hint, hints spread',
    rules: ['SHUT-2', 'SHUT-3'],
    needs: ['server-cmd'],
    phase: 'shutdown',
    timeoutMs: () => 40_000,
    async run(ctx) {
      const { ctl, params } = await ready(ctx);
      const k = params.sessionPolicy === 'single' ? Math.min(8, ctl.tokens.length) : 8;
      const conns = await sessions(ctx, ctl, params, k, 's');
      // SHUT-2.a: every connection, also one that has not authenticated yet.
      const unauth = await ctx.connect({ url: ctl.url, label: 'unauth' });
      ctl.signal('SIGTERM');
      const u = await unauth.waitClose(ctx.ms(15_000));
      if (u?.code === 4408) ctx.note('the unauthenticated connection met its auth deadline before the shutdown closed it');
      else if (u?.code === 1012) ctx.check('SHUT-2', /^service_restart;retry=\d{1,9}$/.test(u.reason), `the unauthenticated connection's close reason "${u.reason}", expected "service_restart;retry=<ms>"`);
      else ctx.finding('SHUT-2', u ? `an unauthenticated connection was closed ${u.code}${u.frame ? '' : ' (no close frame)'} on SIGTERM, expected 1012` : 'an unauthenticated connection was not closed on SIGTERM');
      const hints: number[] = [];
      for (const c of conns) {
        const seen = await ctx.expectClose(c, 1012, { rule: 'SHUT-2', withinMs: ctx.ms(15_000) });
        if (seen?.code !== 1012) continue;
        const hint = parseCloseReason(seen.reason).retryAfterMs;
        // SHUT-2.b: the reason is service_restart;retry=<ms>.
        ctx.check('SHUT-2', /^service_restart;retry=\d{1,9}$/.test(seen.reason), `close reason "${seen.reason}", expected "service_restart;retry=<ms>"`);
        if (ctx.check('SHUT-2', hint !== undefined, `close reason "${seen.reason}" has no ;retry= hint`)) hints.push(hint!);
      }
      ctx.note(`${k} clients; retry hints ${hints.join(', ')} ms`);
      // SHUT-3.a: spread over a window, not bunched: hints within 100 ms of each other are "at once".
      if (hints.length >= 3) ctx.check('SHUT-3', Math.max(...hints) - Math.min(...hints) >= 100, `the ${hints.length} retry hints (${hints.join(', ')} ms) lie within ${Math.max(...hints) - Math.min(...hints)} ms: clients would reconnect at once`);
      else ctx.info(`only ${hints.length} hints seen: too few to judge the spread (supply more tokens)`, 'SHUT-3');
      const how = await ctl.waitExit(ctx.ms(15_000));
      ctx.note(`the process exited: ${how ?? 'not within 15 s'}`);
      if (how === undefined) await ctl.stop();
    },
  },
  {
    id: 'shut.storm',
    title: 'after SIGKILL and restart, a reconnect storm with RECON-1 backoff is fully accepted, subscriptions back',
    rules: ['SHUT-4'],
    needs: ['server-cmd'],
    phase: 'shutdown',
    timeoutMs: () => 120_000,
    async run(ctx) {
      const { ctl, params } = await ready(ctx);
      const perUser = params.sessionPolicy === 'single' ? 1 : Math.max(1, Math.floor((params.rateLimit.messages - 4) / 3));
      const m = Math.min(STORM_MAX, ctl.tokens.length * perUser);
      if (m < 2) ctx.skip('the storm needs tokens of at least two users');
      const channels = Array.from({ length: Math.min(10, m) }, (_, i) => `storm.${ctx.env.runId}.${i}`);
      const chanOf = (i: number) => channels[i % channels.length]!;
      const tokenOf = (i: number) => ctl.tokens[params.sessionPolicy === 'single' ? i : i % ctl.tokens.length]!;
      const conns = await sessions(ctx, ctl, params, m, 'k');
      const before = await Promise.all(conns.map((c, i) => c.subscribe(chanOf(i))));
      const refused: string[] = [];
      ctx.note(`${m} clients on ${channels.length} channels`);
      ctl.signal('SIGKILL');
      await ctl.waitExit(ctx.ms(10_000));
      await Promise.all(conns.map((c) => c.waitClose(ctx.ms(5000))));
      const restartAt = Date.now();
      await ctl.start();
      ctx.note(`restarted in ${Date.now() - restartAt} ms`);
      const statuses = new Map<number, number>();
      const closes1011: string[] = [];
      const deadline = Date.now() + ctx.ms(60_000);
      const back: (Conn | undefined)[] = await Promise.all(
        conns.map(async (_, i) => {
          for (let attempt = 0; Date.now() < deadline; attempt++) {
            await ctx.sleep(backoffDelay(attempt));
            const r = await ctx.tryConnect({ url: ctl.url, label: `r${i}` });
            statuses.set(r.status, (statuses.get(r.status) ?? 0) + 1);
            if (!r.conn) continue;
            try {
              await r.conn.auth(tokenOf(i));
              // As a client restores a subscription (SUB-10): with the last position it saw as since.
              const ans = await subscribeAnswer(ctx, r.conn, chanOf(i), before[i]!.position);
              if (ans.type !== 'subscribed') {
                refused.push(`${r.conn.label}: ${JSON.stringify(ans).slice(0, 100)}`);
                throw new Error('subscription not restored');
              }
              return r.conn;
            } catch {
              if (r.conn.closed?.code === 1011) closes1011.push(r.conn.label);
              r.conn.terminate();
            }
          }
          return undefined;
        }),
      );
      const lost = back.filter((c) => !c).length;
      ctx.note(`handshake answers during the storm: ${[...statuses].map(([s, n]) => `${s || 'refused'}×${n}`).join(', ')}`);
      ctx.check('SHUT-4', lost === 0, `${lost} of ${m} clients could not re-establish a session within 60 s`);
      ctx.check('SHUT-4', closes1011.length === 0, `${closes1011.length} connections closed with 1011`);
      ctx.check('SHUT-4', refused.length === 0, `${refused.length} resubscribes after the restart were refused: ${refused.slice(0, 2).join('; ')}`);
      const bad = [...statuses.keys()].filter((s) => s >= 500 && s !== 503);
      ctx.check('SHUT-4', bad.length === 0, `handshakes answered HTTP ${bad.join(', ')}`);
      const live = back.filter((c): c is Conn => !!c);
      if (!live.length) return;
      for (const ch of channels) await live[0]!.publish(ch, 'after-storm');
      const deadline2 = Date.now() + ctx.waitMs;
      const has = (c: Conn, i: number) => c.received((x) => x.type === 'push' && x.channel === chanOf(i) && x.data === 'after-storm').length > 0;
      while (Date.now() < deadline2 && !live.every((c) => has(c, back.indexOf(c)))) await ctx.sleep(50);
      const missing = back.filter((c, i) => c && !has(c, i)).length;
      ctx.check('SHUT-4', missing === 0, `${missing} of ${live.length} restored subscriptions did not deliver a push published after the storm`);
      const c1011 = live.filter((c) => c.closed?.code === 1011).length;
      ctx.check('SHUT-4', c1011 === 0, `${c1011} restored connections closed with 1011`);
      ctx.expectedCloses.push(1012); // the stop below is a graceful shutdown
      for (const c of live) c.close();
      await ctl.stop();
    },
  },
];
