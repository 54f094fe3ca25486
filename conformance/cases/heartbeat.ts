/** Heartbeat: HB-1, HB-2, HB-5, through the fault proxy where the client must look dead. */
import type { CaseDef } from '../types.js';
import { collectPushes } from './util.js';

/** The latest a server must end a silent connection: a ping within one interval, then the timeout. */
const deadAfter = (p: { heartbeatIntervalMs: number; heartbeatTimeoutMs: number }) => p.heartbeatIntervalMs + p.heartbeatTimeoutMs;

export const heartbeatCases: CaseDef[] = [
  {
    id: 'hb.app-ping',
    title: 'answers each ping message with a pong message',
    rules: ['HB-2'],
    async run(ctx) {
      const c = await ctx.session(0);
      // HB-2.a: each ping, also pipelined ones, gets its own pong.
      for (let i = 0; i < 3; i++) await c.send({ type: 'ping' });
      for (let i = 0; i < 3; i++) await c.next('pong', { what: `pong ${i + 1} of 3 pipelined pings` });
      await c.send({ type: 'ping' });
      await c.next('pong', { what: 'the pong to a fourth ping' });
    },
  },
  {
    id: 'hb.idle-client',
    title: 'pings at heartbeatIntervalMs and never closes a client that sends no app pings but answers WS pings',
    rules: ['HB-5', 'HB-1'],
    timeoutMs: (p) => p.heartbeatIntervalMs * 3 + p.heartbeatTimeoutMs + 10_000,
    async run(ctx) {
      const { heartbeatIntervalMs: iv, heartbeatTimeoutMs: to, authTimeoutMs } = ctx.params;
      // HB-1.a: every open connection, authenticated or not: one that never authenticates gets a ping
      // too when the auth deadline leaves it open long enough.
      const unauth = authTimeoutMs - iv >= Math.max(150, iv / 4) ? await ctx.connect() : undefined;
      const u0 = ctx.elapsed();
      const c = await ctx.session(0);
      const t0 = ctx.elapsed();
      const watch = Math.round(iv * 2.5 + to);
      await ctx.expectOpen(c, watch + ctx.tolerance(iv), 'HB-5', `a client without app pings over ${watch} ms`);
      if (unauth) {
        const end = unauth.closed?.atMs ?? ctx.elapsed();
        // The first ping comes within one interval of the opening, so before the auth deadline's close.
        const open = end - u0;
        if (open >= iv + Math.max(150, iv / 4) - 50) ctx.check('HB-1', unauth.pings.length > 0, `a connection open but not authenticated got no WebSocket ping in the ${open} ms it was open (heartbeatIntervalMs ${iv})`);
        ctx.expectedCloses.push(4408);
        for (const x of ctx.env.state.closes) if (x.caseId === ctx.caseId && x.code === 4408) x.expected = true;
      }
      const pings = c.pings.filter((t) => t >= t0);
      ctx.note(`${pings.length} WebSocket pings in ${watch} ms (interval ${iv} ms)`);
      ctx.check('HB-1', pings.length >= 2, `${pings.length} WebSocket ping frames in ${watch} ms with heartbeatIntervalMs ${iv}`);
      const tol = ctx.tolerance(iv);
      if (pings.length) ctx.check('HB-1', pings[0]! - t0 <= iv + tol, `the first ping came ${pings[0]! - t0} ms after auth (interval ${iv} ms)`);
      for (let i = 1; i < pings.length; i++) {
        const gap = pings[i]! - pings[i - 1]!;
        // HB-1.b / HB-1.c: the interval from both sides.
        ctx.check('HB-1', gap <= iv + tol, `pings ${gap} ms apart, more than the advertised interval ${iv} ms`);
        ctx.check('HB-1', gap >= iv - tol, `pings ${gap} ms apart, much less than the advertised interval ${iv} ms`);
      }
    },
  },
  {
    id: 'hb.dropped-pongs',
    title: "ends a connection whose pongs are dropped (proxy) within interval + timeout",
    rules: ['HB-1'],
    timeoutMs: (p) => deadAfter(p) * 2 + 10_000,
    async run(ctx) {
      const p = await ctx.proxy([{ match: { direction: 'to-server', opcode: 'pong' }, action: 'drop' }]);
      const c = await ctx.session(0, { url: p.url });
      const t0 = ctx.elapsed();
      const limit = deadAfter(ctx.params);
      // HB-1.d: a 4001 close frame (the proxy drops only pongs, so the frame reaches the client);
      // HB-1.f: not much after interval + timeout of silence.
      const seen = await ctx.expectClose(c, 4001, { rule: 'HB-1', withinMs: limit + ctx.tolerance(limit), what: `a 4001 close frame on a connection whose pongs are dropped (within ${limit} ms)` });
      if (seen) ctx.note(`ended ${seen.atMs - t0} ms after auth with ${seen.code} (limit ${limit} ms)`);
      const first = c.pings.find((t) => t >= t0);
      ctx.check('HB-1', first !== undefined, 'no WebSocket ping frame arrived after auth before the end');
      // HB-1.e: nothing arrived after the first ping that followed auth; the server may end the
      // connection only heartbeatTimeoutMs after that ping, not before.
      if (seen && first !== undefined) {
        const to = ctx.params.heartbeatTimeoutMs;
        const after = seen.atMs - first;
        ctx.check('HB-1', after >= to - ctx.tolerance(to), `ended ${after} ms after the first unanswered ping, before heartbeatTimeoutMs (${to} ms)`);
      }
    },
  },
  {
    id: 'hb.blackhole',
    title: 'ends a half-open connection (proxy blackholes the client without FIN)',
    rules: ['HB-1'],
    timeoutMs: (p) => deadAfter(p) * 2 + 10_000,
    async run(ctx) {
      const p = await ctx.proxy();
      const c = await ctx.session(0, { url: p.url });
      p.add({ match: { direction: 'to-server' }, action: 'blackhole' });
      const t0 = ctx.elapsed();
      const limit = deadAfter(ctx.params);
      // HB-1.d: the client's traffic is blackholed, the server's still arrives: its 4001 close frame must.
      // HB-1.g: the client's answer to that frame never reaches the server; the connection must still
      // end within the bound (a server waiting for the closing handshake would hang on).
      const seen = await ctx.expectClose(c, 4001, { rule: 'HB-1', withinMs: limit + ctx.tolerance(limit), what: `a 4001 close frame on a blackholed connection (within ${limit} ms)` });
      if (seen) ctx.note(`ended ${seen.atMs - t0} ms after the blackhole with ${seen.code}`);
    },
  },
  {
    id: 'hb.delayed-pongs',
    title: 'keeps a connection whose pongs arrive late but within heartbeatTimeoutMs',
    rules: ['HB-1', 'HB-5'],
    timeoutMs: (p) => deadAfter(p) * 3 + 10_000,
    async run(ctx) {
      const delayMs = Math.round(ctx.params.heartbeatTimeoutMs * 0.4);
      const p = await ctx.proxy([{ match: { direction: 'to-server', opcode: 'pong' }, action: 'delay', delayMs }]);
      const c = await ctx.session(0, { url: p.url });
      const watch = ctx.params.heartbeatIntervalMs * 2 + ctx.params.heartbeatTimeoutMs;
      await ctx.expectOpen(c, watch, 'HB-1', `pongs delayed ${delayMs} ms (< heartbeatTimeoutMs ${ctx.params.heartbeatTimeoutMs})`);
      ctx.note(`${c.pings.length} pings answered ${delayMs} ms late; still open after ${watch} ms`);
    },
  },
  {
    id: 'hb.data-liveness',
    title: 'keeps a connection whose pongs are dropped (proxy) but which sends ping messages: any inbound frame counts',
    rules: ['HB-1'],
    lane: 'own',
    timeoutMs: (p) => deadAfter(p) * 3 + 10_000,
    async run(ctx) {
      // HB-1 "from which nothing arrives" (HB-4: any inbound frame proves liveness).
      const to = ctx.params.heartbeatTimeoutMs;
      const p = await ctx.proxy([{ match: { direction: 'to-server', opcode: 'pong' }, action: 'drop' }]);
      const d = await ctx.session(0, { url: p.url });
      const every = Math.max(50, Math.round(to / 3));
      const watch = ctx.params.heartbeatIntervalMs * 2 + to;
      let talking = true;
      const talk = (async () => {
        while (talking && d.isOpen) {
          await d.send({ type: 'ping' }).catch(() => undefined);
          await ctx.sleep(every);
        }
      })();
      const ok = await ctx.expectOpen(d, watch, 'HB-1', `pongs dropped but a ping message every ${every} ms (any inbound frame counts)`);
      talking = false;
      await talk;
      ctx.note(`${d.pings.length} WebSocket pings unanswered, a ping message every ${every} ms; open after ${watch} ms: ${ok}`);
    },
  },
  {
    id: 'hb.reset',
    title: 'after a client connection is reset (RST), the server keeps serving and the client resumes without loss',
    rules: ['ERR-4', 'SUB-8'],
    needs: ['tokens:2'],
    async run(ctx) {
      if (ctx.params.historySize < 2) ctx.skip('historySize < 2: resume cannot be checked');
      const ch = ctx.channel();
      const p = await ctx.proxy();
      const pub = await ctx.session(1);
      let c = await ctx.session(0, { url: p.url });
      const s = await c.subscribe(ch);
      p.add({ match: { direction: 'to-client', type: 'push' }, action: 'rst', times: 1 });
      const cut = await pub.publish(ch, 'cut');
      const gone = await c.waitClose(ctx.waitMs);
      ctx.require('ERR-4', gone, 'the proxy reset did not end the client connection');
      const next = await pub.publish(ch, 'after');
      await ctx.expectAlive(pub, 'ERR-4', 'another connection after a reset');
      c = await ctx.session(0);
      const r = await c.subscribe(ch, s.position);
      ctx.require('SUB-8', r.resume === 'replayed', `resume after the reset answered ${JSON.stringify(r.resume)}`);
      const got = await collectPushes(c, ch, 2, ctx.waitMs);
      ctx.check('SUB-8', got.length === 2 && got[0]!.position.offset === cut.offset && got[1]!.position.offset === next.offset, `replayed ${got.map((g) => g.position.offset).join(',')}, expected ${cut.offset},${next.offset}`);
    },
  },
];
