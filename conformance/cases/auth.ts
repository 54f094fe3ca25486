/** Authentication: AUTH-2, AUTH-3, AUTH-4, AUTH-5, AUTH-7, AUTH-8, AUTH-9, AUTH-11. */
import { SUBPROTOCOL } from '../../schemas/v1/index.js';
import type { CaseContext } from '../context.js';
import type { CaseDef } from '../types.js';
import { collectPushes, grace } from './util.js';

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
    title: 'closes with 4408 a connection that sends no auth within authTimeoutMs',
    rules: ['AUTH-2'],
    timeoutMs: (p) => p.authTimeoutMs * 1.5 + 5000,
    async run(ctx) {
      const t = ctx.params.authTimeoutMs;
      const c = await ctx.connect();
      const opened = ctx.elapsed();
      const seen = await ctx.expectClose(c, 4408, { rule: 'AUTH-2', withinMs: t + ctx.tolerance(t) });
      if (seen) {
        const after = seen.atMs - opened;
        ctx.note(`closed ${after} ms after open (authTimeoutMs ${t})`);
        ctx.check('AUTH-2', after >= t - ctx.tolerance(t), `closed after ${after} ms, before the advertised authTimeoutMs (${t} ms)`);
      }
    },
  },
  {
    id: 'auth.before-auth',
    title: 'closes with 4400 a connection that sends another message before auth',
    rules: ['AUTH-3'],
    async run(ctx) {
      for (const first of [{ type: 'ping' }, { type: 'request', id: 'a3', action: 'echo', payload: 1 }, { type: 'subscribe', channel: ctx.channel() }]) {
        const c = await ctx.connect();
        await c.send(first);
        await ctx.expectClose(c, 4400, { rule: 'AUTH-3', what: `close 4400 after a "${first.type}" before auth` });
        ctx.check('AUTH-3', !c.received().some((m) => m.type === 'pong' || m.type === 'response' || m.type === 'subscribed'), `the server answered a "${first.type}" sent before auth`);
      }
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
      ctx.note(`user ${ma.userId}, params ${JSON.stringify(ma.params)}`);
    },
  },
  {
    id: 'auth.token-in-url',
    title: 'refuses with HTTP 400 a token in the URL query',
    rules: ['AUTH-7'],
    async run(ctx) {
      if (ctx.env.caps.tokenInUrlAllowed) ctx.skip('the operator opted in to tokens in the URL (--token-in-url-allowed)');
      const u = new URL(ctx.url);
      // Not a real token: AUTH-7 refuses the parameter whatever its value, and a real one would land in
      // the access logs of the server under test, which is what the rule is there to prevent.
      u.searchParams.set('token', 'mooring-conformance-not-a-token');
      const r = await ctx.tryConnect({ url: u.toString() });
      ctx.check('AUTH-7', r.status === 400, r.status === 101 ? 'accepted the upgrade with ?token= in the URL' : `answered HTTP ${r.status || r.body}, expected 400`);
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
        ctx.check('AUTH-8', Date.now() <= exp + 50, `token_expiring arrived ${Date.now() - exp} ms after the expiry`);
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
      await ctx.expectClose(c, 4419, { rule: 'AUTH-11' });
      ctx.check('AUTH-11', !c.received().some((m) => m.type === 'authenticated'), 'an expired token was authenticated');
    },
  },
  {
    id: 'auth.reauth',
    title: 'in-band re-auth: same user keeps its subscriptions, another user gets user_mismatch, a bad token closes 4401',
    rules: ['AUTH-9'],
    needs: ['tokens:2'],
    async run(ctx) {
      const ch = ctx.channel();
      const a = await ctx.session(0);
      const pub = await ctx.session(1);
      await a.subscribe(ch);
      const again = await a.auth(ctx.tokens[0]!);
      ctx.check('AUTH-9', again.userId === ctx.users[0], `re-auth as the same user answered userId "${again.userId}"`);
      await pub.publish(ch, { n: 1 });
      const got = await collectPushes(a, ch, 1, ctx.waitMs);
      ctx.check('AUTH-9', got.length === 1, `after re-auth the subscription delivered ${got.length} pushes, expected 1`);
      await a.send({ type: 'auth', token: ctx.tokens[1]! });
      const e = await a.next('error', { what: 'error user_mismatch for a re-auth as another user' }).catch((err: Error) => {
        ctx.finding('AUTH-9', err.message);
        return undefined;
      });
      if (e) ctx.check('AUTH-9', e.code === 'user_mismatch', `error code "${e.code}", expected user_mismatch`);
      await ctx.sleep(grace(ctx));
      ctx.check('AUTH-9', !a.received().some((m) => m.type === 'authenticated' && m.userId === ctx.users[1]), 'the session switched to another user');
      if (a.isOpen) await ctx.expectAlive(a, 'AUTH-9', 'after a re-auth as another user');
      if (a.isOpen) {
        await a.send({ type: 'auth', token: bogus() });
        await ctx.expectClose(a, 4401, { rule: 'AUTH-9', what: 'close 4401 after a re-auth with a bad token' });
      }
    },
  },
];
