/** Conformance profile: CONF-1, CONF-2, CONF-3. */
import type { CaseDef } from '../types.js';
import { collectPushes } from './util.js';

export const profileCases: CaseDef[] = [
  {
    id: 'conf.echo',
    title: 'the echo action answers its payload as data',
    rules: ['CONF-1'],
    async run(ctx) {
      const c = await ctx.session(0);
      for (const payload of [{ a: 1, b: [true, null, 'x'] }, [1, 2, 3], 'text', 0, null, false, '', { nested: { deep: { ok: 'é✓' } } }]) {
        const r = await c.request('echo', payload);
        ctx.check('CONF-1', r.success && 'data' in r && JSON.stringify(r.data) === JSON.stringify(payload), `echo ${JSON.stringify(payload)} answered ${JSON.stringify(r).slice(0, 140)}`);
      }
      // CONF-1.a: no payload, no data.
      const r = await c.request('echo');
      ctx.check('CONF-1', r.success && !('data' in r), `echo without a payload answered ${JSON.stringify(r).slice(0, 140)}, expected success without data`);
    },
  },
  {
    id: 'conf.publish',
    title: 'the publish action pushes to subscribers and answers {position}',
    rules: ['CONF-2'],
    async run(ctx) {
      const ch = ctx.channel();
      const c = await ctx.session(0);
      await c.subscribe(ch);
      const r = await c.request('publish', { channel: ch, data: { hello: 'world' } });
      ctx.require('CONF-2', r.success, `publish failed: ${JSON.stringify(r).slice(0, 140)}`);
      const pos = ((r as { data?: unknown }).data as { position?: { epoch?: unknown; offset?: unknown } })?.position;
      ctx.check('CONF-2', typeof pos?.epoch === 'string' && typeof pos?.offset === 'number', `publish answered ${JSON.stringify((r as { data?: unknown }).data)}, expected {position: {epoch, offset}}`);
      const got = await collectPushes(c, ch, 1, ctx.waitMs);
      ctx.check('CONF-2', got.length === 1 && JSON.stringify(got[0]!.data) === '{"hello":"world"}', `the subscriber received ${JSON.stringify(got.map((g) => g.data))}`);
    },
  },
  {
    id: 'conf.sleep',
    title: 'the sleep action answers {slept: ms} after ms milliseconds',
    rules: ['CONF-3'],
    async run(ctx) {
      const c = await ctx.session(0);
      const t0 = Date.now();
      const r = await c.request('sleep', { ms: 200 });
      const took = Date.now() - t0;
      ctx.check('CONF-3', r.success && (r.data as { slept?: unknown })?.slept === 200, `sleep answered ${JSON.stringify(r).slice(0, 120)}`);
      ctx.check('CONF-3', took >= 195, `sleep 200 answered after ${took} ms`);
    },
  },
];
