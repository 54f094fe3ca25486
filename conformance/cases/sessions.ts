/** Sessions: SESS-1. */
import type { CaseDef } from '../types.js';
import { grace } from './util.js';

export const sessionCases: CaseDef[] = [
  {
    id: 'sess.single',
    title: 'with sessionPolicy "single", a new session of a user closes the older one with 4002, and only that one',
    rules: ['SESS-1'],
    async run(ctx) {
      if (ctx.params.sessionPolicy !== 'single') ctx.skip(`the server advertises sessionPolicy "${ctx.params.sessionPolicy}"`);
      // SESS-1.c: another user's session is not touched.
      const bystander = ctx.tokens.length >= 2 ? await ctx.session(1) : undefined;
      const older = await ctx.session(0);
      const newer = await ctx.session(0);
      // SESS-1.a: 4002 with a close frame on the older session.
      await ctx.expectClose(older, 4002, { rule: 'SESS-1', what: 'close 4002 on the older session' });
      // SESS-1.b: the newer session stays and works.
      await ctx.expectAlive(newer, 'SESS-1', 'the newer session');
      // SESS-1.d: an in-band re-authentication is not a new session.
      await newer.auth(ctx.tokens[0]!).catch((e: Error) => ctx.finding('SESS-1', `re-auth on the newer session: ${e.message}`));
      await ctx.sleep(grace(ctx));
      ctx.check('SESS-1', newer.isOpen, `the session was closed (${newer.closed?.code}) by its own in-band re-authentication`);
      if (bystander) {
        ctx.check('SESS-1', bystander.isOpen, `another user's session was closed (${bystander.closed?.code}) when ${ctx.users[0]} opened a new session`);
        if (bystander.isOpen) await ctx.expectAlive(bystander, 'SESS-1', "another user's session");
      }
    },
  },
];
