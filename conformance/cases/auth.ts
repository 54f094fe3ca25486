/** Authentication: AUTH-2, AUTH-3, AUTH-4, AUTH-5, AUTH-7, AUTH-8, AUTH-9, AUTH-11. */
import { SUBPROTOCOL, isChannelName } from '../../schemas/v1/index.js';
import type { CaseContext } from '../context.js';
import type { CaseDef } from '../types.js';
import { collectPushes, grace, subscribeAnswer } from './util.js';

const bogus = () => `bogus-${Math.random().toString(36).slice(2)}-token`;

/** The longest the suite waits for a supplied --expiring-token to expire. */
const MAX_EXPIRY_WAIT_MS = 120_000;

/** A token that expires within `ttlMs` (minted) or the supplied --expiring-token. */
async function shortToken(ctx: CaseContext, ttlMs: number): Promise<string> {
  if (ctx.env.caps.mintToken) return ctx.env.caps.mintToken(ctx.users[0]!, ttlMs);
  if (ctx.env.caps.expiringToken) return ctx.env.caps.expiringToken;
  ctx.skip('no expiring token');
}

export const authCases: CaseDef[] = [
  {
    id: 'auth.deadline',
    title: 'closes with 4408 a connection that sends no auth within authTimeoutMs, not before; an auth in time keeps it',
    rules: ['AUTH-2'],
    timeoutMs: (p) => p.authTimeoutMs * 1.5 + 5000,
    async run(ctx) {
      const t = ctx.params.authTimeoutMs;
      const tol = ctx.tolerance(t);
      // Three connections at once: silent; a binary frame only (AUTH-2.f: non-auth frames do not stop
      // the deadline); an auth at a third of the deadline (AUTH-2.e: it is then never closed by it).
      const [c, d, e] = await Promise.all([ctx.connect(), ctx.connect(), ctx.connect()]);
      const opened = ctx.elapsed();
      // A chatty peer: binary frames at 0, t/3 and 2t/3; the deadline runs from the opening, not the last frame.
      void (async () => {
        for (let k = 0; k < 3 && d.isOpen; k++) {
          if (k) await ctx.sleep(Math.round(t / 3));
          if (d.isOpen) d.sendNow(Buffer.from('{"type":"ping"}'));
        }
      })().catch(() => undefined);
      const authed = (async () => {
        await ctx.sleep(Math.round(t / 3));
        if (!e.isOpen) return false;
        await e.auth(ctx.tokens[0]!);
        return true;
      })().catch((err: Error) => {
        ctx.finding('AUTH-2', `a connection that sent auth ${Math.round(t / 3)} ms after opening: ${err.message}`);
        return false;
      });
      // AUTH-2.a/b/d: code 4408 with a close frame, not much after the deadline.
      const [seen, seenD] = await Promise.all([
        ctx.expectClose(c, 4408, { rule: 'AUTH-2', withinMs: t + tol }),
        ctx.expectClose(d, 4408, { rule: 'AUTH-2', withinMs: t + tol, what: 'close 4408 on a connection that sent only a binary frame' }),
      ]);
      for (const [s, what] of [[seen, 'silent'], [seenD, 'binary-only']] as const) {
        if (!s || s.code !== 4408) continue;
        const after = s.atMs - opened;
        ctx.note(`${what} connection closed ${after} ms after open (authTimeoutMs ${t})`);
        // AUTH-2.c: not before the advertised deadline.
        ctx.check('AUTH-2', after >= t - tol, `the ${what} connection was closed after ${after} ms, before the advertised authTimeoutMs (${t} ms)`);
      }
      if (await authed) {
        const late = await e.waitClose(Math.max(0, opened + t + tol - ctx.elapsed()) + grace(ctx));
        ctx.check('AUTH-2', late?.code !== 4408, `a connection that authenticated ${Math.round(t / 3)} ms after opening was closed with 4408`);
        if (late) ctx.note(`the authenticated connection closed ${late.code} (judged by other rules)`);
      }
    },
  },
  {
    id: 'auth.before-auth',
    title: 'closes with 4400 a connection that sends another message before auth; invalid frames before auth get errors instead',
    rules: ['AUTH-3'],
    async run(ctx) {
      for (const first of [{ type: 'ping' }, { type: 'request', id: 'a3', action: 'echo', payload: 1 }, { type: 'subscribe', channel: ctx.channel() }, { type: 'unsubscribe', channel: ctx.channel() }]) {
        const c = await ctx.connect();
        await c.send(first);
        // AUTH-3.a/b: 4400 with a close frame; AUTH-3.c: the message is not processed.
        await ctx.expectClose(c, 4400, { rule: 'AUTH-3', what: `close 4400 after a "${first.type}" before auth` });
        ctx.check('AUTH-3', !c.received().some((m) => m.type === 'pong' || m.type === 'response' || m.type === 'subscribed' || m.type === 'unsubscribed'), `the server answered a "${first.type}" sent before auth`);
      }
      // AUTH-3.d: frames that are not valid messages get the errors of VER-6, ERR-1 and ERR-2, in every
      // state, and no close; the connection then authenticates normally.
      const c = await ctx.connect();
      const opened = ctx.elapsed();
      const invalid: [string, string | Buffer, string][] = [
        ['a binary frame', Buffer.from('{"type":"ping"}'), 'binary_not_supported'],
        ['a text frame that is not JSON', 'not json', 'invalid_json'],
        ['an unknown type', '{"type":"no_such_type"}', 'invalid_message'],
        ['an auth without token', '{"type":"auth"}', 'invalid_message'],
      ];
      for (const [, frame] of invalid) c.sendNow(frame);
      c.sendNow({ type: 'auth', token: ctx.tokens[0]! });
      const t = ctx.params.authTimeoutMs;
      const answers: string[] = [];
      for (const [what, , code] of invalid) {
        const e = await c.next('error', { what: `an error for ${what} sent before auth` }).catch((err: Error) => err);
        if (e instanceof Error) {
          if (c.closed?.code === 4408 && ctx.elapsed() - opened >= t - ctx.tolerance(t)) ctx.inconclusive(`the auth deadline (${t} ms) closed the connection before the answers arrived`);
          ctx.finding('AUTH-3', `${what} before auth: ${e.message}`);
          return;
        }
        answers.push(e.code);
        ctx.check('AUTH-3', e.code === code, `${what} before auth answered error "${e.code}", expected ${code}`);
      }
      const m = await c.next('authenticated', { what: '"authenticated" for an auth sent after invalid frames' }).catch((err: Error) => err);
      if (m instanceof Error) ctx.finding('AUTH-3', `invalid frames before auth must not end the connection: ${m.message}`);
      ctx.note(`before auth: errors ${answers.join(', ')}, then authenticated`);
    },
  },
  {
    id: 'auth.bad-token',
    title: 'closes with 4401 a connection whose auth token is unknown',
    rules: ['AUTH-4'],
    async run(ctx) {
      const c = await ctx.connect();
      await c.send({ type: 'auth', token: bogus() });
      await ctx.expectClose(c, 4401, { rule: 'AUTH-4' });
      ctx.check('AUTH-4', !c.received().some((m) => m.type === 'authenticated'), 'an unknown token was authenticated');
    },
  },
  {
    id: 'auth.authenticated',
    title: 'answers a valid auth with authenticated {userId, sessionId, protocol, params}',
    rules: ['AUTH-5'],
    needs: ['tokens:2'],
    async run(ctx) {
      const a = await ctx.session(0);
      const b = await ctx.session(1);
      const ma = a.authenticated!;
      const mb = b.authenticated!;
      ctx.check('AUTH-5', ma.userId === ctx.users[0], `userId "${ma.userId}" differs from the probe's "${ctx.users[0]}"`);
      ctx.check('AUTH-5', ma.protocol === SUBPROTOCOL, `protocol "${ma.protocol}"`);
      ctx.check('AUTH-5', typeof ma.sessionId === 'string' && ma.sessionId.length > 0, 'empty sessionId');
      ctx.check('AUTH-5', ma.sessionId !== mb.sessionId, 'two sessions share a sessionId');
      ctx.check('AUTH-5', ma.userId !== mb.userId, 'two tokens of two users give the same userId');
      ctx.check('AUTH-5', !!ma.params && typeof ma.params.heartbeatIntervalMs === 'number', 'params missing');
      ctx.check('AUTH-5', mb.userId === ctx.users[1], `userId "${mb.userId}" of the second token differs from the probe's "${ctx.users[1]}"`);
      // AUTH-5.b: userId is the token's user, the one whose user:<userId> channel SUB-4 lets it subscribe.
      if (isChannelName(`user:${ma.userId}`)) {
        const own = await subscribeAnswer(ctx, a, `user:${ma.userId}`);
        ctx.check('AUTH-5', own.type === 'subscribed', `the channel user:${ma.userId} of the advertised userId is refused to the session (${JSON.stringify(own).slice(0, 100)}): userId is not the token's user`);
      }
      // AUTH-5.c: a new sessionId for every connection, also when the same user reconnects.
      a.close();
      await a.waitClose(ctx.waitMs);
      const again = await ctx.session(0);
      const m2 = again.authenticated!;
      ctx.check('AUTH-5', typeof m2.sessionId === 'string' && m2.sessionId.length > 0 && m2.sessionId !== ma.sessionId, `the same user reconnecting got sessionId "${m2.sessionId}" again: every connection starts a new session`);
      ctx.note(`user ${ma.userId}, params ${JSON.stringify(ma.params)}`);
    },
  },
  {
    id: 'auth.token-in-url',
    title: 'refuses with HTTP 400 a token in the URL query',
    rules: ['AUTH-7'],
    async run(ctx) {
      if (ctx.env.caps.tokenInUrlAllowed) ctx.skip('the operator opted in to tokens in the URL (--token-in-url-allowed)');
      // Not a real token: AUTH-7 refuses the parameter whatever its value, and a real one would land in
      // the access logs of the server under test, which is what the rule is there to prevent.
      const base = ctx.url.replace(/[?#].*$/, '');
      // AUTH-7.a/b: any query parameter whose decoded name is exactly `token`.
      for (const q of ['token=mooring-conformance-not-a-token', 'token=', 'token', '%74oken=x', 'a=1&token=x', 'token=x&token=y']) {
        const r = await ctx.tryConnect({ url: `${base}?${q}` });
        if (r.conn) r.conn.close();
        ctx.check('AUTH-7', r.status === 400, r.status === 101 ? `accepted the upgrade with ?${q} in the URL` : `?${q}: answered HTTP ${r.status || r.body}, expected 400`);
      }
    },
  },
  {
    id: 'auth.expiring',
    title: 'sends token_expiring before the token expires, then closes with 4419 at expiry',
    rules: ['AUTH-8'],
    needs: ['expiring-token'],
    timeoutMs: () => MAX_EXPIRY_WAIT_MS + 30_000,
    async run(ctx) {
      const minted = !!ctx.env.caps.mintToken;
      const token = await shortToken(ctx, 1500);
      const c = await ctx.connect();
      const m = await c.auth(token);
      ctx.require('AUTH-8', typeof m.params.tokenExpiresAt === 'number', `authenticated.params.tokenExpiresAt is ${JSON.stringify(m.params.tokenExpiresAt)} for an expiring token`);
      const exp = m.params.tokenExpiresAt!;
      const left = exp - Date.now();
      if (left > MAX_EXPIRY_WAIT_MS) ctx.skip(`the token expires in ${Math.round(left / 1000)} s, beyond the ${MAX_EXPIRY_WAIT_MS / 1000} s the suite waits`);
      const tol = ctx.tolerance(1000);
      const warn = await c.next('token_expiring', { timeoutMs: Math.max(0, left) + tol, what: '"token_expiring" before expiry' }).catch((e: Error) => {
        ctx.finding('AUTH-8', e.message);
        return undefined;
      });
      if (warn) {
        // Before the expiry: on this machine the clocks agree, so strictly before; elsewhere with a margin.
        const slack = ctx.env.caps.loopback ? 0 : 50;
        ctx.check('AUTH-8', Date.now() < exp + slack, `token_expiring arrived ${Date.now() - exp} ms after the expiry (at ${Date.now()}, expiry ${exp})`);
        ctx.check('AUTH-8', warn.expiresAt === exp, `token_expiring.expiresAt ${warn.expiresAt} differs from tokenExpiresAt ${exp}`);
      }
      const seen = await ctx.expectClose(c, 4419, { rule: 'AUTH-8', withinMs: Math.max(0, exp - Date.now()) + tol });
      if (seen) ctx.note(`closed ${Date.now() - exp} ms after tokenExpiresAt`);
      if (seen && seen.code === 4419) ctx.check('AUTH-8', Date.now() >= exp - tol, `closed 4419 ${exp - Date.now()} ms before the expiry`);
      // The second half of the rule ("unless the session re-authenticated") needs a second short token.
      if (!minted) {
        ctx.note('re-auth before expiry not checked: only one --expiring-token');
        return;
      }
      const d = await ctx.connect();
      const m2 = await d.auth(await shortToken(ctx, 1200));
      await d.auth(ctx.tokens[0]!);
      ctx.check('AUTH-8', await ctx.expectOpen(d, Math.max(0, m2.params.tokenExpiresAt! - Date.now()) + tol, 'AUTH-8', 'a session that re-authenticated before expiry'), 're-auth did not prevent the 4419');
    },
  },
  {
    id: 'auth.expired',
    title: 'closes with 4419 a connection whose auth token has already expired',
    rules: ['AUTH-11'],
    needs: ['expiring-token'],
    timeoutMs: () => MAX_EXPIRY_WAIT_MS + 20_000,
    async run(ctx) {
      let token: string;
      if (ctx.env.caps.mintToken) {
        token = await ctx.env.caps.mintToken(ctx.users[0]!, 1);
        await ctx.sleep(50);
      } else {
        token = ctx.env.caps.expiringToken!;
        // The supplied token: learn its expiry (it may already be expired by auth.expiring).
        const probe = await ctx.connect();
        await probe.send({ type: 'auth', token });
        const first = await Promise.race([probe.next('authenticated').catch(() => undefined), probe.waitClose(ctx.waitMs)]);
        if (first && 'type' in first) {
          const left = (first.params.tokenExpiresAt ?? Infinity) - Date.now();
          if (left > MAX_EXPIRY_WAIT_MS) ctx.skip('the --expiring-token does not expire soon enough');
          probe.close();
          await ctx.sleep(left + ctx.ms(300));
        }
      }
      const c = await ctx.connect();
      await c.send({ type: 'auth', token });
      // AUTH-11.a/b: 4419 with a close frame, never authenticated.
      await ctx.expectClose(c, 4419, { rule: 'AUTH-11' });
      ctx.check('AUTH-11', !c.received().some((m) => m.type === 'authenticated'), 'an expired token was authenticated');
      // AUTH-11.c: an expired token presented in a re-authentication closes the session with 4419 too.
      if (!ctx.env.caps.mintToken) return ctx.note('expired token in a re-auth not checked: the suite cannot mint one');
      const live = await ctx.session(0);
      const expired = await ctx.env.caps.mintToken(ctx.users[0]!, 1);
      await ctx.sleep(50);
      await live.send({ type: 'auth', token: expired });
      await ctx.expectClose(live, 4419, { rule: 'AUTH-11', what: 'close 4419 after a re-auth with an expired token' });
      ctx.check('AUTH-11', live.received((m) => m.type === 'authenticated').length === 1, 'a re-auth with an expired token was answered authenticated');
    },
  },
  {
    id: 'auth.reauth',
    title: 'in-band re-auth: same user keeps its session and subscriptions, another user gets user_mismatch and changes nothing, a bad token closes 4401',
    rules: ['AUTH-9'],
    needs: ['tokens:2'],
    timeoutMs: () => MAX_EXPIRY_WAIT_MS + 20_000,
    async run(ctx) {
      const ch = ctx.channel();
      // AUTH-9.c: start the session on a token with another expiry (minted) when the suite can.
      const minted = ctx.env.caps.mintToken ? await ctx.env.caps.mintToken(ctx.users[0]!, 10 * 60_000) : undefined;
      const a = await ctx.connect();
      const first = await a.auth(minted ?? ctx.tokens[0]!);
      const pub = await ctx.session(1);
      await a.subscribe(ch);
      const again = await a.auth(ctx.tokens[0]!);
      ctx.check('AUTH-9', again.userId === ctx.users[0], `re-auth as the same user answered userId "${again.userId}"`);
      // AUTH-9.b: the same session.
      ctx.check('AUTH-9', again.sessionId === first.sessionId, `re-auth answered sessionId "${again.sessionId}", the session's is "${first.sessionId}": an in-band re-auth keeps the session`);
      if (minted) {
        const want = ctx.params.tokenExpiresAt ?? null;
        ctx.check('AUTH-9', (again.params?.tokenExpiresAt ?? null) === want, `re-auth with a token expiring at ${want} answered params.tokenExpiresAt ${again.params?.tokenExpiresAt} (the session's token expired at ${first.params.tokenExpiresAt})`);
      } else ctx.note('params.tokenExpiresAt after re-auth not checked: the suite cannot mint a token with another expiry');
      // AUTH-9.d: subscriptions kept.
      await pub.publish(ch, { n: 1 });
      const got = await collectPushes(a, ch, 1, ctx.waitMs);
      ctx.check('AUTH-9', got.length === 1, `after re-auth the subscription delivered ${got.length} pushes, expected 1`);
      // AUTH-9.e: another user's valid token.
      await a.send({ type: 'auth', token: ctx.tokens[1]! });
      const e = await a.next('error', { what: 'error user_mismatch for a re-auth as another user' }).catch((err: Error) => {
        ctx.finding('AUTH-9', err.message);
        return undefined;
      });
      if (e) ctx.check('AUTH-9', e.code === 'user_mismatch', `error code "${e.code}", expected user_mismatch`);
      await ctx.sleep(grace(ctx));
      // AUTH-9.f: the session keeps its user.
      ctx.check('AUTH-9', !a.received().some((m) => m.type === 'authenticated' && m.userId === ctx.users[1]), 'the session switched to another user');
      if (a.isOpen) await ctx.expectAlive(a, 'AUTH-9', 'after a re-auth as another user');
      const own = `user:${ctx.users[0]}`;
      const theirs = `user:${ctx.users[1]}`;
      if (a.isOpen && isChannelName(own) && isChannelName(theirs)) {
        const o = await subscribeAnswer(ctx, a, own);
        const t = await subscribeAnswer(ctx, a, theirs);
        // Judged only when the two answers differ as SUB-4 makes them differ for the session's own user.
        if (o.type === 'subscribed' || t.type === 'subscribed') {
          ctx.check('AUTH-9', o.type === 'subscribed' && t.type !== 'subscribed', `after user_mismatch the session acts as another user: ${own} answered ${o.type}, ${theirs} answered ${t.type}`);
        }
      }
      await pub.publish(ch, { n: 2 });
      const got2 = await collectPushes(a, ch, 2, ctx.waitMs);
      ctx.check('AUTH-9', got2.length === 2, `after user_mismatch the subscription delivered ${got2.length - 1} of 1 push`);
      // AUTH-9.g: an unknown token closes with 4401 and a close frame.
      if (a.isOpen) {
        await a.send({ type: 'auth', token: bogus() });
        await ctx.expectClose(a, 4401, { rule: 'AUTH-9', what: 'close 4401 after a re-auth with a bad token' });
      }
      // AUTH-9.f: after user_mismatch the session keeps its token: an expiring session still ends at its
      // token's expiry (4419, AUTH-8), although the other user's token would have outlived it.
      const short = ctx.env.caps.mintToken ? await ctx.env.caps.mintToken(ctx.users[0]!, 1500) : ctx.env.caps.expiringToken;
      if (!short) return ctx.note('token kept after user_mismatch not checked: no expiring token');
      const x = await ctx.connect();
      // A session on the expiring token may rightly end 4419 at its expiry (AUTH-8) at any point from here.
      ctx.expectedCloses.push(4419);
      const mx = await x.auth(short).catch(() => undefined);
      const exp = mx?.params.tokenExpiresAt;
      if (!mx || typeof exp !== 'number' || exp - Date.now() > MAX_EXPIRY_WAIT_MS || exp <= Date.now()) return ctx.note('token kept after user_mismatch not checked: the expiring token is not usable now');
      const other = ctx.tokens.find((t) => ctx.userOfToken(t) !== mx.userId);
      if (!other) return ctx.note('token kept after user_mismatch not checked: no token of another user');
      await x.send({ type: 'auth', token: other });
      const mm = await x.next('error', { what: 'error user_mismatch' }).catch((err: Error) => err);
      if (mm instanceof Error || mm.code !== 'user_mismatch') return ctx.note(`re-auth as another user on the expiring session answered ${mm instanceof Error ? mm.message : mm.code}`);
      const tol = ctx.tolerance(1000);
      const end = await x.waitClose(Math.max(0, exp - Date.now()) + tol);
      if (end?.code === 4002) ctx.inconclusive('the expiring session was replaced (4002) before its expiry');
      ctx.check('AUTH-9', end?.code === 4419, end ? `after user_mismatch the expiring session closed ${end.code}, expected 4419 at its own token's expiry` : `after user_mismatch the session outlived its token's expiry by ${tol} ms: it took the other user's token`);
    },
  },
];
