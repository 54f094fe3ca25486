/** Sessions: SESS-1. */
import type { CaseDef } from '../types.js';

export const sessionCases: CaseDef[] = [
  {
    id: 'sess.single',
    title: 'with sessionPolicy "single", a new session of a user closes the older one with 4002',
    rules: ['SESS-1'],
    async run(ctx) {
      if (ctx.params.sessionPolicy !== 'single') ctx.skip(`the server advertises sessionPolicy "${ctx.params.sessionPolicy}"`);
      const older = await ctx.session(0);
      const newer = await ctx.session(0);
      await ctx.expectClose(older, 4002, { rule: 'SESS-1', what: 'close 4002 on the older session' });
      await ctx.expectAlive(newer, 'SESS-1', 'the newer session');
    },
  },
];
