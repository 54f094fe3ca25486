/** Reconnection: backoff with jitter and cap, no lockstep, counter reset, close classes, retry hints. */
import { CLOSE_CODES, closeClass } from '../../../schemas/v1/close-codes.js';
import type { ClientCaseDef, ClientCaseContext } from '../context.js';
import type { Attempt } from '../server.js';
import { backoffBound, closeAndTime, EARLY_MS, fmt, jitterVerdict, lockstepVerdict, nextAuthenticated } from './util.js';

/** Failed attempts per client in the backoff case; the jitter is judged on those at the cap. */
const BACKOFF_ATTEMPTS = 24;
const MIN_CAPPED = 12;

/**
 * RECON-1's jitter, judged on the delays at the cap of both clients together: uniform on
 * [cap/2, cap] has a median absolute deviation of cap/8; latency noise only adds to it. Below cap/24
 * there is no jitter worth the name (`conformance/client/test/stats.test.ts` simulates both sides).
 */
function judgeJitter(ctx: ClientCaseContext, capped: number[]): void {
  const s = ctx.settings;
  const { mad, jittered } = jitterVerdict(capped, s.backoffCapMs);
  ctx.note(`jitter at the cap over ${capped.length} delays of both clients: median absolute deviation ${fmt(mad)} (uniform: ${s.backoffCapMs / 8} ms; below ${Math.round(s.backoffCapMs / 24)} ms counts as none)`);
  if (!jittered) ctx.finding('RECON-1', `no jitter: the delays at the cap (${capped.length} of two clients) deviate from their median by ${fmt(mad)} (uniform on [${s.backoffCapMs / 2}, ${s.backoffCapMs}] ms gives ${s.backoffCapMs / 8} ms)`);
}

interface Judged { k: number; delay: number; d: number }

/** RECON-1 over one client's refused attempts: bounds per attempt, spread at the cap. */
function judgeBackoff(ctx: ClientCaseContext, who: string, attempts: Attempt[], waitingSince?: number): Judged[] {
  const s = ctx.settings;
  const out: Judged[] = [];
  // From the moment the server refused attempt k (its close frame, or its HTTP status) to attempt k + 1.
  const endOf = (a: Attempt) => a.conn?.closeSentAt ?? a.at;
  for (let k = 0; k + 1 < attempts.length; k++) out.push({ k, delay: attempts[k + 1]!.at - endOf(attempts[k]!), d: backoffBound(k, s) });
  // Far beyond the bound (twice d plus a second): no scheduling hiccup explains two of those. A client
  // still silent when the case stopped waiting counts as one.
  const gross = out.filter((j) => j.delay > 2 * j.d + ctx.ms(1_000)).map((j) => `${fmt(j.delay)} before attempt ${j.k + 1} (d = ${j.d} ms)`);
  if (waitingSince !== undefined && attempts.length) gross.push(`no attempt for ${fmt(waitingSince - attempts.at(-1)!.at)} after attempt ${attempts.length} (d = ${backoffBound(attempts.length - 1, s)} ms)`);
  if (gross.length >= 2) ctx.finding('RECON-1', `${who}: waited far longer than d = min(cap ${s.backoffCapMs} ms, base·2^n): ${gross.join('; ')}`);
  const upperSlack = ctx.slack;
  const early = out.filter((j) => j.delay < j.d / 2 - EARLY_MS);
  if (early.length) {
    ctx.finding('RECON-1', `${who}: ${early.length} of ${out.length} delays were shorter than d/2, e.g. ${fmt(early[0]!.delay)} before attempt ${early[0]!.k + 1} (d = ${early[0]!.d} ms: at least ${early[0]!.d / 2} ms)`);
  }
  // Loopback latency only lengthens a measured delay; a loaded machine may add a few hundred ms to some.
  const late = out.filter((j) => j.delay > j.d + upperSlack);
  if (late.length > 2 + Math.floor(out.length * 0.25)) {
    ctx.finding('RECON-1', `${who}: ${late.length} of ${out.length} delays exceeded d = min(cap, base·2^n) by more than ${upperSlack} ms, e.g. ${fmt(late[0]!.delay)} before attempt ${late[0]!.k + 1} (d = ${late[0]!.d} ms; cap ${s.backoffCapMs} ms)`);
  }
  const capped = out.filter((j) => s.backoffBaseMs * 2 ** j.k >= s.backoffCapMs);
  ctx.note(`${who}: ${capped.length} delays at the cap; delays ${out.map((j) => Math.round(j.delay)).join(', ')} ms`);
  return out;
}

const backoff: ClientCaseDef = {
  id: 'recon.backoff',
  title: 'delays after failed attempts grow as min(cap, base·2^n), drawn from [d/2, d]; two clients do not stay in lockstep',
  rules: ['RECON-1'],
  timeoutMs: 40_000,
  async run(ctx) {
    const s = ctx.settings;
    // Every attempt fails: the first two are refused at the handshake (HTTP 503), the others accepted
    // and closed at once with 1013 try_again_later (no hint), before authenticated. Browsers delay
    // new handshakes after repeated HTTP-level failures on their own (Chromium: up to seconds), which
    // would be charged to the client; a close after the upgrade is a failed attempt just the same.
    const refusedSoFar = new Map<string, number>();
    ctx.server.behaviour.refuse = (a) => {
      const n = (refusedSoFar.get(a.path) ?? 0) + 1;
      refusedSoFar.set(a.path, n);
      return n <= 2 ? 503 : undefined;
    };
    ctx.server.behaviour.connected = (c) => c.close(1013, 'try_again_later');
    const drivers = [await ctx.driver('d1'), await ctx.driver('d2')];
    const url = (i: number) => `${ctx.server.url}/client${i + 1}`;
    await Promise.all(drivers.map((d, i) => d.connect(url(i), s)));
    const mine = (i: number) => ctx.server.attempts.filter((a) => a.path === `/ws/client${i + 1}`);
    const budget = [...Array(BACKOFF_ATTEMPTS).keys()].reduce((sum, k) => sum + backoffBound(k, s), 0) + ctx.ms(8_000);
    const until = Date.now() + budget;
    const gross = (i: number) => {
      const a = mine(i);
      let n = 0;
      for (let k = 0; k + 1 < a.length; k++) if (a[k + 1]!.at - a[k]!.at > 2 * backoffBound(k, s) + ctx.ms(1_000)) n++;
      return n;
    };
    // Until both made their attempts; a client that has clearly outgrown the cap is judged early.
    const silent = (i: number) => mine(i).length > 0 && mine(i).length <= BACKOFF_ATTEMPTS && Date.now() - mine(i).at(-1)!.at > 3 * s.backoffCapMs + ctx.ms(4_000);
    // A client silent for longer than a capped delay may still be backing off without a cap: keep
    // watching until the budget, so that its next attempts show the delays far beyond the cap.
    while (Date.now() < until && [0, 1].some((i) => mine(i).length <= BACKOFF_ATTEMPTS && gross(i) < 2)) {
      if ([0, 1].every((i) => silent(i) || gross(i) >= 2 || mine(i).length > BACKOFF_ATTEMPTS)) break;
      await ctx.sleep(100);
    }
    const now = Date.now();
    const judged = [0, 1].map((i) => judgeBackoff(ctx, `client ${i + 1}`, mine(i).slice(0, BACKOFF_ATTEMPTS + 1), silent(i) ? now : undefined));
    const capped = judged.flatMap((j) => j.filter((x) => s.backoffBaseMs * 2 ** x.k >= s.backoffCapMs).map((x) => x.delay));
    if (capped.length >= 2 * MIN_CAPPED) judgeJitter(ctx, capped);
    else if (!ctx.findings.length) ctx.inconclusive(`too few attempts to judge the jitter: ${capped.length} delays at the cap (needs ${2 * MIN_CAPPED})`);
    // No lockstep: two clients refused at the same moments must not wait the same delays.
    const pairs = judged[0]!.filter((j) => j.d === s.backoffCapMs).flatMap((j) => {
      const o = judged[1]!.find((x) => x.k === j.k);
      return o ? [Math.abs(o.delay - j.delay)] : [];
    });
    if (pairs.length >= MIN_CAPPED) {
      // Independent uniform jitter: the median difference is about 0.29 · cap/2; below cap/40 in 12+
      // pairs happens by chance less than once in a million runs.
      const { mid, lockstep } = lockstepVerdict(pairs, s.backoffCapMs);
      ctx.note(`two clients: median difference of their delays at the cap ${fmt(mid)} over ${pairs.length} attempts`);
      if (lockstep) ctx.finding('RECON-1', `two clients refused together stayed in lockstep: the median difference of their delays at the cap was ${fmt(mid)} (independent jitter on [d/2, d] gives about ${Math.round(0.29 * s.backoffCapMs / 2)} ms)`);
    }
  },
};

const stableReset: ClientCaseDef = {
  id: 'recon.stable-reset',
  title: 'the attempt counter keeps growing over short sessions and resets only after a session stayed up stableAfterMs',
  rules: ['RECON-2'],
  timeoutMs: 25_000,
  async run(ctx) {
    const s = ctx.settings;
    const { c: first } = await ctx.connected();
    let c = first;
    const delays: number[] = [];
    // Short sessions: accepted, authenticated, closed at once. The counter must not reset on open.
    for (let k = 0; k < 5; k++) {
      await ctx.sleep(30);
      const after = ctx.server.conns.length;
      const delay = await closeAndTime(ctx, c, 1011, 'internal_error', 3 * s.backoffCapMs + ctx.ms(3_000));
      if (delay === undefined) throw new Error(`the client did not reconnect after close 1011 (short session ${k + 1})`);
      delays.push(delay);
      const d = backoffBound(k, s);
      if (delay < d / 2 - EARLY_MS) {
        ctx.finding('RECON-2', `after ${k + 1} short sessions (none stable) the client waited ${fmt(delay)}, below d/2 = ${d / 2} ms for attempt ${k}: its attempt counter was reset before a session stayed authenticated ${s.stableAfterMs} ms`);
        break;
      }
      const next = await nextAuthenticated(ctx, ctx.ms(5_000), after);
      if (!next) throw new Error('the reconnection did not authenticate');
      c = next;
    }
    ctx.note(`delays after short sessions: ${delays.map(fmt).join(', ')}`);
    if (ctx.findings.length) return;
    // A stable session: the next delay is attempt 0's again.
    await ctx.sleep(s.stableAfterMs + ctx.ms(400));
    const delay = await closeAndTime(ctx, c, 1011, 'internal_error', 3 * s.backoffCapMs + ctx.ms(3_000));
    if (delay === undefined) throw new Error('the client did not reconnect after the stable session');
    const d0 = backoffBound(0, s);
    // A counter that was not reset is at the cap by now: its delay is at least cap/2. Anything below
    // that is attempt 0's [d0/2, d0] plus latency.
    const upper = Math.max(d0 + ctx.ms(100), s.backoffCapMs / 2 - EARLY_MS);
    ctx.note(`after a session of ${s.stableAfterMs + 400} ms: ${fmt(delay)}`);
    if (delay > upper) ctx.finding('RECON-2', `after a session that stayed authenticated longer than stableAfterMs (${s.stableAfterMs} ms) the client waited ${fmt(delay)}: its attempt counter was not reset (attempt 0 waits at most ${d0} ms)`);
  },
};

/** Registry codes a server sends whose class is not `stop`, plus an unlisted one and a dropped TCP connection. */
const RECONNECT_CODES = [
  ...Object.values(CLOSE_CODES).filter((c) => c.sentBy !== 'none' && c.class !== 'stop').map((c) => c.code),
  4777,
  1006,
];

const classes: ClientCaseDef = {
  id: 'recon.classes',
  title: 'each registry close code gets its class: reconnect (with backoff), reconnect_now (after the hint), refresh_token (a fresh token first)',
  rules: ['RECON-5', 'RECON-4'],
  timeoutMs: 40_000,
  async run(ctx) {
    const s = ctx.settings;
    let { d, c } = await ctx.connected();
    const seen: string[] = [];
    for (const code of RECONNECT_CODES) {
      const cls = closeClass(code);
      const info = Object.values(CLOSE_CODES).find((x) => x.code === code);
      const hint = code === 1012 ? 400 : undefined;
      const reason = code === 1006 ? '' : info ? `${info.name}${hint !== undefined ? `;retry=${hint}` : ''}` : '';
      await ctx.sleep(50);
      const tokensBefore = d.tokensGiven.length;
      const lastToken = ctx.server.auths.at(-1)?.token;
      const t0 = Date.now();
      const after = ctx.server.conns.length;
      const delay = await closeAndTime(ctx, c, code, reason, (hint ?? 0) + 3 * s.backoffCapMs + ctx.ms(3_000));
      if (delay === undefined) {
        ctx.finding('RECON-5', `after close ${code}${reason ? ` "${reason}"` : ''} (class ${cls}) the client did not reconnect`);
        return;
      }
      seen.push(`${code}→${fmt(delay)}`);
      if (hint !== undefined && delay < hint - EARLY_MS) ctx.finding('RECON-4', `after close ${code} "${reason}" the client reconnected after ${fmt(delay)}, before the ${hint} ms retry hint`);
      const next = await nextAuthenticated(ctx, ctx.ms(5_000), after);
      if (!next) throw new Error(`the reconnection after ${code} did not authenticate`);
      if (cls === 'refresh_token') {
        const auth = ctx.server.auths.find((a) => a.conn === next.n);
        const fresh = d.tokensGiven.slice(tokensBefore).filter((t) => t.at >= t0);
        if (!auth || auth.token === lastToken || !fresh.some((t) => t.token === auth.token)) {
          ctx.finding('RECON-5', `after close ${code} token_expired (class refresh_token) the client reconnected with ${auth?.token === lastToken ? 'the expired token' : 'a token it did not fetch after the close'} instead of a fresh one`);
        }
      }
      c = next;
    }
    ctx.note(`reconnect delays per close code: ${seen.join(', ')}`);
  },
};

const STOP_CODES = Object.values(CLOSE_CODES).filter((c) => c.class === 'stop').map((c) => c.code);

const stop: ClientCaseDef = {
  id: 'recon.stop',
  title: 'after each stop code (1000, 4002, 4400, 4401) the client does not reconnect; 4002 session_replaced stays down',
  rules: ['RECON-5', 'SESS-2'],
  timeoutMs: 25_000,
  async run(ctx) {
    const s = ctx.settings;
    const drivers = await Promise.all(STOP_CODES.map((code) => ctx.driver(`d${code}`)));
    await Promise.all(drivers.map((d, i) => d.connect(`${ctx.server.url}/${STOP_CODES[i]}`, s)));
    const deadline = Date.now() + ctx.ms(6_000);
    while (Date.now() < deadline && STOP_CODES.some((code) => !ctx.server.conns.some((c) => c.path === `/ws/${code}` && c.authenticatedAt))) await ctx.sleep(50);
    const watchFrom = Date.now();
    for (const code of STOP_CODES) {
      const c = ctx.server.conns.find((x) => x.path === `/ws/${code}` && x.authenticatedAt);
      if (!c) throw new Error(`the client for close ${code} did not authenticate`);
      const info = Object.values(CLOSE_CODES).find((x) => x.code === code)!;
      c.close(code, info.name);
    }
    await ctx.sleep(2 * s.backoffCapMs + ctx.ms(1_500));
    for (const [i, code] of STOP_CODES.entries()) {
      const again = ctx.server.attempts.filter((a) => a.path === `/ws/${code}` && a.at >= watchFrom);
      if (again.length) {
        const msg = `after close ${code} (class stop) the client reconnected (${again.length} attempt${again.length > 1 ? 's' : ''}, the first after ${fmt(again[0]!.at - watchFrom)})`;
        ctx.finding(code === 4002 ? 'SESS-2' : 'RECON-5', msg);
        if (code === 4002) ctx.finding('RECON-5', msg);
      }
      const closed = drivers[i]!.of('state').some((e) => e.state === 'closed' && e.willRetry === false);
      if (!closed && !again.length) ctx.note(`close ${code}: no "state" event with willRetry false was reported (the driver contract asks for one)`);
    }
  },
};

const retryHint: ClientCaseDef = {
  id: 'recon.retry-hint',
  title: 'retry hints are honoured: 4429, 1013 and 1012 with ";retry=<ms>" are not followed by a reconnect before the hint',
  rules: ['RECON-4'],
  timeoutMs: 25_000,
  async run(ctx) {
    const s = ctx.settings;
    let { c } = await ctx.connected();
    const cases: [number, string, number][] = [
      [4429, 'rate_limited', 1_500],
      [1013, 'try_again_later', 1_200],
      [1012, 'service_restart', 900],
    ];
    for (const [code, name, hint] of cases) {
      await ctx.sleep(50);
      const after = ctx.server.conns.length;
      const delay = await closeAndTime(ctx, c, code, `${name};retry=${hint}`, hint + 3 * s.backoffCapMs + ctx.ms(3_000));
      if (delay === undefined) {
        ctx.finding('RECON-5', `after close ${code} "${name};retry=${hint}" the client did not reconnect`);
        return;
      }
      ctx.note(`${code} ${name};retry=${hint}: reconnected after ${fmt(delay)}`);
      if (delay < hint - EARLY_MS) ctx.finding('RECON-4', `after close ${code} "${name};retry=${hint}" the client reconnected after ${fmt(delay)}, before the retry hint`);
      const next = await nextAuthenticated(ctx, ctx.ms(5_000), after);
      if (!next) throw new Error(`the reconnection after ${code} did not authenticate`);
      c = next;
    }
  },
};

export const reconnectCases: ClientCaseDef[] = [backoff, stableReset, classes, stop, retryHint];
