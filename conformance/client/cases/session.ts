/** Authentication, re-subscription with positions, gaps, resume dedupe, in-band re-auth. */
import type { ClientCaseDef } from '../context.js';
import { closeAndTime, fmt, nextAuthenticated } from './util.js';

const firstFrame: ClientCaseDef = {
  id: 'auth.first-frame',
  title: 'auth is the first frame and nothing else is sent before authenticated, also when the app subscribes and requests while connecting',
  rules: ['AUTH-1', 'RECON-6', 'RECON-3'],
  async run(ctx) {
    const s = ctx.settings;
    // The server answers auth only after 400 ms: whatever the app asks meanwhile must wait.
    ctx.server.behaviour.auth = (c) => setTimeout(() => c.authenticate(), 400);
    const d = await ctx.driver();
    await d.connect(ctx.server.url, s);
    await d.send({ cmd: 'subscribe', channel: 'early' });
    await d.send({ cmd: 'request', ref: 'early', action: 'echo', payload: { early: true }, timeoutMs: 5_000 });
    const c = await ctx.server.nextConn(ctx.ms(5_000), 0);
    if (!c) throw new Error('the client did not connect');
    const sub = await c.waitMsg('subscribe', ctx.ms(3_000), (m) => m.channel === 'early');
    if (!sub) ctx.finding('RECON-3', 'a channel subscribed while connecting was not subscribed after authenticated');
    // After a reconnect: auth first again, and the subscription is restored only after authenticated.
    const after = ctx.server.conns.length;
    await closeAndTime(ctx, c, 1011, 'internal_error', 3 * s.backoffCapMs + ctx.ms(3_000));
    const c2 = await ctx.server.nextConn(ctx.ms(5_000), after);
    if (!c2) throw new Error('the client did not reconnect after 1011');
    const sub2 = await c2.waitMsg('subscribe', ctx.ms(3_000), (m) => m.channel === 'early');
    if (!sub2) ctx.finding('RECON-3', 'after reconnecting, the client did not re-subscribe');
    else {
      const f = c2.frames.find((x) => x.msg === sub2)!;
      if (c2.authenticatedAt === undefined || f.at < c2.authenticatedAt) ctx.finding('RECON-3', 'after reconnecting, the client re-subscribed before authenticated');
    }
    ctx.note(`${ctx.server.conns.length} connections, first frames: ${ctx.server.conns.map((k) => k.messages()[0]?.type ?? '-').join(', ')}`);
  },
};

const resubscribe: ClientCaseDef = {
  id: 'sub.resubscribe',
  title: 'after a reconnect each channel is re-subscribed once, with the last position seen as since',
  rules: ['SUB-10', 'RECON-3'],
  async run(ctx) {
    const { d, c } = await ctx.connected();
    await d.send({ cmd: 'subscribe', channel: 'news' });
    await d.send({ cmd: 'subscribe', channel: 'quiet' });
    await c.waitMsg('subscribe', ctx.ms(3_000), (m) => m.channel === 'news');
    await c.waitMsg('subscribe', ctx.ms(3_000), (m) => m.channel === 'quiet');
    await ctx.sleep(100);
    for (let i = 1; i <= 3; i++) ctx.server.publish('news', { n: i });
    const got = await d.waitEvent((e) => e.event === 'push' && e.channel === 'news' && e.position.offset === 3, ctx.ms(3_000));
    if (!got) throw new Error('the client did not report the three pushes of news');
    const news = ctx.server.channel('news');
    const quiet = ctx.server.channel('quiet');
    const after = ctx.server.conns.length;
    await closeAndTime(ctx, c, 1011, 'internal_error', 3 * ctx.settings.backoffCapMs + ctx.ms(3_000));
    const c2 = await nextAuthenticated(ctx, ctx.ms(5_000), after);
    if (!c2) throw new Error('the client did not reconnect');
    await ctx.sleep(ctx.ms(1_000));
    const subs = c2.messages().filter((m) => m.type === 'subscribe');
    for (const [name, pos] of [['news', { epoch: news.epoch, offset: 3 }], ['quiet', { epoch: quiet.epoch, offset: 0 }]] as const) {
      const mine = subs.filter((m) => m.channel === name);
      if (mine.length === 0) ctx.finding('SUB-10', `after the reconnect the client did not re-subscribe ${name}`);
      else if (mine.length > 1) ctx.finding('SUB-10', `after the reconnect the client subscribed ${name} ${mine.length} times (once is the rule)`);
      const since = mine[0]?.since;
      if (mine.length && !since) ctx.finding('SUB-10', `the client re-subscribed ${name} without since (the last position it saw was ${pos.epoch}:${pos.offset})`);
      else if (since && (since.epoch !== pos.epoch || since.offset !== pos.offset)) ctx.finding('SUB-10', `the client re-subscribed ${name} with since ${since.epoch}:${since.offset}, not the last position it saw (${pos.epoch}:${pos.offset})`);
    }
    ctx.note(`re-subscribed: ${subs.map((m) => `${m.channel}${m.since ? ` since ${m.since.offset}` : ''}`).join(', ')}`);
  },
};

const gap: ClientCaseDef = {
  id: 'sub.gap',
  title: 'resume "unavailable" (the server lost its history: new epoch) is reported to the application as a gap',
  rules: ['SUB-10'],
  async run(ctx) {
    const { d, c } = await ctx.connected();
    await d.send({ cmd: 'subscribe', channel: 'feed' });
    await c.waitMsg('subscribe', ctx.ms(3_000), (m) => m.channel === 'feed');
    await ctx.sleep(100);
    ctx.server.publish('feed', 1);
    ctx.server.publish('feed', 2);
    if (!(await d.waitEvent((e) => e.event === 'push' && e.position.offset === 2, ctx.ms(3_000)))) throw new Error('the client did not report the pushes of feed');
    ctx.server.newEpoch('feed');
    const after = ctx.server.conns.length;
    const from = d.events.length;
    await closeAndTime(ctx, c, 1011, 'internal_error', 3 * ctx.settings.backoffCapMs + ctx.ms(3_000));
    const c2 = await nextAuthenticated(ctx, ctx.ms(5_000), after);
    if (!c2) throw new Error('the client did not reconnect');
    const sub = await c2.waitMsg('subscribe', ctx.ms(3_000), (m) => m.channel === 'feed');
    if (!sub) throw new Error('the client did not re-subscribe feed (see sub.resubscribe)');
    if (!sub.since) ctx.inconclusive('the client re-subscribed without since, so the server could not answer resume "unavailable" (see sub.resubscribe)');
    const g = await d.waitEvent((e) => e.event === 'gap' && e.channel === 'feed', ctx.ms(1_500), from);
    if (!g) ctx.finding('SUB-10', 'the server answered resume "unavailable" (new epoch) and the client reported no gap to the application');
    // A push of yet another epoch in the live stream: the stream lost continuity too.
    const from2 = d.events.length;
    ctx.server.newEpoch('feed');
    ctx.server.publish('feed', 3);
    await d.waitEvent((e) => e.event === 'push' && e.channel === 'feed', ctx.ms(1_500), from2);
    const g2 = await d.waitEvent((e) => e.event === 'gap' && e.channel === 'feed', ctx.ms(500), from2);
    if (!g2) ctx.info('SUB-10', 'a live push of a new epoch was not reported as a gap (the spec explains, without a rule, that an epoch change loses continuity)');
  },
};

const dedupe: ClientCaseDef = {
  id: 'sub.resume-dedupe',
  title: 'pushes missed during a disconnect are delivered once, in order, after the ones already seen (overlapping replay deduplicated)',
  rules: ['ROBUST-3', 'SUB-10'],
  async run(ctx) {
    const { d, c } = await ctx.connected();
    await d.send({ cmd: 'subscribe', channel: 'dd' });
    await c.waitMsg('subscribe', ctx.ms(3_000), (m) => m.channel === 'dd');
    await ctx.sleep(100);
    for (let i = 1; i <= 3; i++) ctx.server.publish('dd', i);
    if (!(await d.waitEvent((e) => e.event === 'push' && e.position.offset === 3, ctx.ms(3_000)))) throw new Error('the client did not report the pushes of dd');
    for (let i = 4; i <= 5; i++) ctx.server.publish('dd', i, []); // published while the client is away
    const ch = ctx.server.channel('dd');
    // The server replays from too far back (2, 3 again), then 4, 5, then a live 6.
    ctx.server.behaviour.subscribe = (k, m) => {
      k.send({ type: 'subscribed', channel: 'dd', position: { epoch: ch.epoch, offset: 5 }, resume: 'replayed', replayed: 4 });
      for (const o of [2, 3, 4, 5]) k.send({ type: 'push', channel: 'dd', data: o, position: { epoch: ch.epoch, offset: o }, ts: Date.now(), replay: true });
      k.send({ type: 'push', channel: 'dd', data: 6, position: { epoch: ch.epoch, offset: 6 }, ts: Date.now() });
      void m;
    };
    const from = d.events.length;
    const after = ctx.server.conns.length;
    await closeAndTime(ctx, c, 1011, 'internal_error', 3 * ctx.settings.backoffCapMs + ctx.ms(3_000));
    const c2 = await nextAuthenticated(ctx, ctx.ms(5_000), after);
    if (!c2) throw new Error('the client did not reconnect');
    await d.waitEvent((e) => e.event === 'push' && e.position.offset === 6, ctx.ms(2_000), from);
    await ctx.sleep(200);
    const got = d.of('push', from).filter((e) => e.channel === 'dd').map((e) => e.position.offset);
    ctx.note(`offsets delivered after the reconnect: ${got.join(', ')}`);
    if (got.join(',') !== '4,5,6') {
      const dup = got.filter((o) => o <= 3);
      ctx.finding('ROBUST-3', dup.length ? `the client delivered pushes it had already delivered (offsets ${dup.join(', ')}) again: got ${got.join(', ')}, expected 4, 5, 6` : `expected offsets 4, 5, 6 once and in order, got ${got.join(', ') || 'none'}`);
    }
  },
};

const tokenExpiring: ClientCaseDef = {
  id: 'auth.token-expiring',
  title: 'on token_expiring the client fetches a fresh token and re-authenticates in-band, on the same connection',
  rules: ['AUTH-10'],
  async run(ctx) {
    const { d, c } = await ctx.connected();
    await ctx.sleep(100);
    const first = ctx.server.auths.at(-1)!.token;
    const t0 = Date.now();
    c.send({ type: 'token_expiring', expiresAt: Date.now() + 10_000 });
    const reauth = await c.waitMsg('auth', ctx.ms(2_000), (m) => m.token !== first);
    const anyAuth = c.messages().filter((m) => m.type === 'auth').length;
    if (!reauth) {
      ctx.finding('AUTH-10', anyAuth > 1 ? 'after token_expiring the client re-authenticated with the same token, not a fresh one' : `after token_expiring the client sent no auth on the connection within ${ctx.ms(2_000)} ms${c.open ? '' : ' (the connection was closed)'}`);
      return;
    }
    const fresh = d.tokensGiven.some((t) => t.token === reauth.token && t.at >= t0);
    if (!fresh) ctx.finding('AUTH-10', 'the client re-authenticated with a token it did not fetch after token_expiring');
    await ctx.sleep(300);
    if (!c.open) ctx.finding('AUTH-10', 'the client closed the connection instead of keeping it through the in-band re-authentication');
    ctx.note(`re-authenticated in-band after ${fmt((c.frames.find((f) => f.msg === reauth)?.at ?? t0) - t0)}`);
  },
};

export const sessionCases: ClientCaseDef[] = [firstFrame, resubscribe, gap, dedupe, tokenExpiring];
