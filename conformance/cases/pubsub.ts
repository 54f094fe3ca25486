/** Publish and subscribe: SUB-1..SUB-9, with CONF-2 (the publish action). */
import { isChannelName, type Position } from '../../schemas/v1/index.js';
import type { CaseDef } from '../types.js';
import { collectPushes, grace, posText, pushesOf, sendPipelined, subscribeAnswer } from './util.js';

export const pubsubCases: CaseDef[] = [
  {
    id: 'sub.grammar',
    title: 'refuses channel names outside the grammar with invalid_message and accepts names inside it',
    rules: ['SUB-1'],
    async run(ctx) {
      const c = await ctx.session(0);
      const bad = ['', '.lead', '-lead', 'has space', 'x'.repeat(129), 'caf\u00e9', 'a#b', '/root', 'a\nb', `${ctx.env.runId}\n`, `\n${ctx.env.runId}`, `${ctx.env.runId} `];
      for (const channel of bad) {
        const m = await subscribeAnswer(ctx, c, channel);
        ctx.check('SUB-1', m.type === 'error' && m.code === 'invalid_message', `subscribe to ${JSON.stringify(channel.slice(0, 20))} answered ${JSON.stringify(m).slice(0, 120)}, expected error invalid_message`);
      }
      const tag = ctx.env.runId;
      const good = [`${tag}`, `_${tag}`, `${tag}.a_b:c/d-e`, `${tag}`.padEnd(128, 'z')];
      for (const channel of good) {
        if (!isChannelName(channel)) continue;
        const m = await subscribeAnswer(ctx, c, channel);
        ctx.check('SUB-1', m.type === 'subscribed', `subscribe to the valid name ${channel.slice(0, 30)} answered ${JSON.stringify(m).slice(0, 120)}`);
      }
      ctx.check('SUB-1', c.isOpen, 'the connection closed');
    },
  },
  {
    id: 'sub.ack',
    title: 'acknowledges subscribe with subscribed {channel, position} at the current position',
    rules: ['SUB-2', 'CONF-2'],
    needs: ['tokens:2'],
    async run(ctx) {
      const ch = ctx.channel();
      const fresh = ctx.channel('fresh');
      const pub = await ctx.session(1);
      await pub.publish(ch, 1);
      const last = await pub.publish(ch, 2);
      const c = await ctx.session(0);
      const s = await c.subscribe(ch);
      ctx.check('SUB-2', s.channel === ch, `subscribed.channel "${s.channel}"`);
      ctx.check('SUB-2', s.position?.epoch === last.epoch && s.position?.offset === last.offset, `subscribed.position ${posText(s.position)}, the channel is at ${posText(last)}`);
      ctx.check('SUB-2', s.resume === undefined, `subscribed.resume is "${s.resume}" for a subscribe without since`);
      const f = await c.subscribe(fresh);
      ctx.check('SUB-2', f.position?.offset === 0, `a channel with nothing published is at ${posText(f.position)}, expected offset 0`);
      // SUB-2.c with since: a subscription that starts with a replay is acknowledged at the current position too.
      if (ctx.params.historySize >= 1) {
        await c.send({ type: 'unsubscribe', channel: ch });
        await c.next('unsubscribed', { where: (m) => m.channel === ch });
        const r = await c.subscribe(ch, { epoch: last.epoch, offset: last.offset - 1 });
        ctx.check('SUB-2', r.position?.epoch === last.epoch && r.position?.offset === last.offset, `a subscribe with since ${last.epoch}/${last.offset - 1} was acknowledged at ${posText(r.position)}, the channel is at ${posText(last)}`);
      }
    },
  },
  {
    id: 'sub.idempotent',
    title: 'subscribing twice is acknowledged twice and delivers each push once',
    rules: ['SUB-3'],
    needs: ['tokens:2'],
    async run(ctx) {
      const ch = ctx.channel();
      const c = await ctx.session(0);
      const pub = await ctx.session(1);
      await c.subscribe(ch);
      await c.subscribe(ch).catch((e: Error) => ctx.finding('SUB-3', `the second subscribe: ${e.message}`));
      await pub.publish(ch, { once: true });
      await collectPushes(c, ch, 1, ctx.waitMs);
      await ctx.sleep(grace(ctx));
      const n = pushesOf(c, ch).length;
      ctx.check('SUB-3', n === 1, `one publish delivered ${n} pushes to a twice-subscribed connection`);
    },
  },
  {
    id: 'sub.repeat-since',
    title: 'a repeated subscribe with since replays nothing: "replayed" 0 at the last delivered position, "unavailable" otherwise',
    rules: ['SUB-3'],
    needs: ['tokens:2'],
    async run(ctx) {
      const ch = ctx.channel();
      const c = await ctx.session(0);
      const pub = await ctx.session(1);
      await c.subscribe(ch);
      await pub.publish(ch, 'one');
      await pub.publish(ch, 'two');
      const got = await collectPushes(c, ch, 2, ctx.waitMs);
      ctx.require('SUB-3', got.length === 2, `received ${got.length} of 2 pushes`);
      const [p1, p2] = [got[0]!.position, got[1]!.position];
      // SUB-3.c: since equal to the last position delivered on the subscription.
      const a = await c.subscribe(ch, p2);
      ctx.check('SUB-3', a.resume === 'replayed' && a.replayed === 0, `a repeated subscribe with since = the last delivered position ${posText(p2)} answered resume ${JSON.stringify(a.resume)} replayed ${JSON.stringify(a.replayed)}, expected "replayed" 0`);
      // SUB-3.d: any other since.
      const b = await c.subscribe(ch, p1);
      ctx.check('SUB-3', b.resume === 'unavailable', `a repeated subscribe with since ${posText(p1)} (not the last delivered ${posText(p2)}) answered resume ${JSON.stringify(b.resume)}, expected "unavailable"`);
      await ctx.sleep(grace(ctx));
      // SUB-3.b/c/d: nothing replayed, nothing duplicated.
      ctx.check('SUB-3', pushesOf(c, ch).length === 2, `repeated subscribes with since delivered ${pushesOf(c, ch).length - 2} extra push(es): ${JSON.stringify(pushesOf(c, ch).slice(2).map((x) => posText(x.position)))}`);
      const p3 = await pub.publish(ch, 'three');
      const all = await collectPushes(c, ch, 3, ctx.waitMs);
      await ctx.sleep(grace(ctx));
      ctx.check('SUB-3', pushesOf(c, ch).length === 3 && all[2]?.position.offset === p3.offset, `after the repeats one publish delivered ${pushesOf(c, ch).length - 2} push(es), expected 1 at ${posText(p3)}`);
    },
  },
  {
    id: 'sub.repeat-in-flight',
    title: 'two resuming subscribes sent back to back each get a resume verdict',
    rules: ['SUB-3', 'SUB-9'],
    async run(ctx) {
      // The second subscribe arrives before the first is acknowledged: whichever of SUB-9 (it starts
      // the subscription) or SUB-3 (it repeats it) applies, an unknown epoch must answer "unavailable".
      const ch = ctx.channel();
      const c = await ctx.session(0);
      const since = { epoch: 'mooring-conformance-unknown-epoch', offset: 0 };
      await c.send({ type: 'subscribe', channel: ch, since });
      await c.send({ type: 'subscribe', channel: ch, since });
      for (const which of ['first', 'second']) {
        const m = await c.waitFor((x) => x.type === 'subscribed' && x.channel === ch, ctx.waitMs, `the ${which} subscribed`);
        const resume = m.type === 'subscribed' ? m.resume : undefined;
        ctx.check(resume === undefined ? 'SUB-3' : 'SUB-9', resume === 'unavailable', `the ${which} subscribed answered resume ${JSON.stringify(resume)} to an unknown epoch, expected "unavailable"`);
      }
    },
  },
  {
    id: 'sub.unsubscribe-in-flight',
    title: 'a subscribe and an unsubscribe sent back to back get subscribed, then unsubscribed',
    rules: ['SUB-2', 'SUB-7'],
    async run(ctx) {
      const ch = ctx.channel();
      const c = await ctx.session(0);
      await c.send({ type: 'subscribe', channel: ch });
      await c.send({ type: 'unsubscribe', channel: ch });
      const first = await c.waitFor((x) => (x.type === 'subscribed' || x.type === 'unsubscribed') && x.channel === ch, ctx.waitMs, 'an answer to the subscribe');
      ctx.check('SUB-2', first.type === 'subscribed', `the subscribe was answered by ${first.type}: every accepted subscribe is acknowledged, before the unsubscribe sent after it`);
      if (first.type === 'subscribed') {
        await c.waitFor((x) => x.type === 'unsubscribed' && x.channel === ch, ctx.waitMs, 'the unsubscribed');
      }
    },
  },
  {
    id: 'sub.forbidden',
    title: "refuses user:<other user> with error forbidden naming the channel",
    rules: ['SUB-4'],
    needs: ['tokens:2'],
    async run(ctx) {
      const other = `user:${ctx.users[1]}`;
      const own = `user:${ctx.users[0]}`;
      if (!isChannelName(other) || !isChannelName(own)) ctx.skip(`the user ids (${ctx.users.join(', ')}) do not make valid channel names`);
      const c = await ctx.session(0);
      const m = await subscribeAnswer(ctx, c, other);
      ctx.check('SUB-4', m.type === 'error' && m.code === 'forbidden', `subscribe to another user's channel answered ${JSON.stringify(m).slice(0, 120)}`);
      if (m.type === 'error') ctx.check('SUB-4', m.channel === other, `error.channel is ${JSON.stringify(m.channel)}, expected "${other}"`);
      // SUB-4.c: user:<userId> is subscribable by that user.
      const o = await subscribeAnswer(ctx, c, own);
      ctx.check('SUB-4', o.type === 'subscribed', `the user's own channel ${own} was refused: ${JSON.stringify(o).slice(0, 100)}`);
      ctx.check('SUB-4', c.isOpen, 'the connection closed');
    },
  },
  {
    id: 'sub.positions',
    title: 'each push carries {epoch, offset} growing by 1 and a server timestamp; publish answers the same position',
    rules: ['SUB-5', 'CONF-2'],
    needs: ['tokens:2'],
    async run(ctx) {
      const ch = ctx.channel();
      const c = await ctx.session(0);
      const pub = await ctx.session(1);
      const s = await c.subscribe(ch);
      const answered: Position[] = [];
      for (let i = 0; i < 5; i++) answered.push(await pub.publish(ch, { i }));
      const got = await collectPushes(c, ch, 5, ctx.waitMs);
      ctx.require('SUB-5', got.length === 5, `received ${got.length} of 5 pushes`);
      let prev = s.position;
      // SUB-5.b: the channel is fresh (SUB-2 gives offset 0), so its first push opens the epoch at 1.
      if (s.position.offset === 0) ctx.check('SUB-5', got[0]!.position.offset === 1, `the first push of a fresh channel is at offset ${got[0]!.position.offset}, expected 1`);
      for (const [i, p] of got.entries()) {
        ctx.check('SUB-5', typeof p.position?.epoch === 'string' && Number.isInteger(p.position?.offset), `push ${i + 1} carries position ${JSON.stringify(p.position)}`);
        ctx.check('SUB-5', p.position.epoch === prev.epoch && p.position.offset === prev.offset + 1, `push ${i + 1} at ${posText(p.position)} after ${posText(prev)}`);
        ctx.check('CONF-2', p.position.epoch === answered[i]!.epoch && p.position.offset === answered[i]!.offset, `publish ${i + 1} answered ${posText(answered[i])}, its push is at ${posText(p.position)}`);
        ctx.check('CONF-2', JSON.stringify(p.data) === JSON.stringify({ i }), `push ${i + 1} carries ${JSON.stringify(p.data)}`);
        const skew = Math.abs(p.ts - Date.now());
        ctx.check('SUB-5', Number.isInteger(p.ts), `push ts ${p.ts} is not an integer`);
        // ms since the Unix epoch: anything before 2001-09-09 (1e12 ms) is seconds or garbage.
        ctx.check('SUB-5', p.ts > 1e12, `push ts ${p.ts} is not milliseconds since the Unix epoch`);
        if (skew > 300_000) ctx.info(`push ts differs from the suite's clock by ${Math.round(skew / 1000)} s`, 'SUB-5');
        prev = p.position;
      }
    },
  },
  {
    id: 'sub.order',
    title: 'a subscriber receives pipelined publishes in position order, each once',
    rules: ['SUB-6'],
    needs: ['tokens:2'],
    async run(ctx) {
      // Pipelined, so never more than maxPendingRequests at once: a server may refuse the rest (LIMIT-5).
      const n = Math.min(20, Math.max(3, ctx.params.rateLimit.messages - 6), ctx.params.maxPendingRequests ?? Infinity);
      const ch = ctx.channel();
      const c = await ctx.session(0);
      const pub = await ctx.session(1);
      await c.subscribe(ch);
      // SUB-6.c: the publisher subscribes too: each subscriber gets the whole sequence.
      await pub.subscribe(ch);
      await sendPipelined(ctx, pub, Array.from({ length: n }, (_, i) => ({ id: `p${i}`, action: 'publish', payload: { channel: ch, data: i } })));
      const got = await collectPushes(c, ch, n, ctx.waitMs);
      const got2 = await collectPushes(pub, ch, n, ctx.waitMs);
      await ctx.sleep(grace(ctx));
      const all = pushesOf(c, ch);
      const all2 = pushesOf(pub, ch);
      ctx.check('SUB-6', all2.length === n && JSON.stringify(all2.map((p) => p.position)) === JSON.stringify(all.map((p) => p.position)), `the second subscriber received ${all2.length} pushes (${got2.map((p) => p.position.offset).join(',')}), the first ${all.length} (${all.map((p) => p.position.offset).join(',')})`);
      ctx.check('SUB-6', all.length === n, `received ${all.length} pushes for ${n} publishes`);
      for (let i = 1; i < got.length; i++) {
        const a = got[i - 1]!.position;
        const b = got[i]!.position;
        if (!ctx.check('SUB-6', a.epoch === b.epoch && b.offset === a.offset + 1, `push ${i + 1} at ${posText(b)} follows ${posText(a)}`)) break;
      }
      const datas = new Set(all.map((p) => p.data));
      ctx.check('SUB-6', datas.size === all.length, 'a push was delivered twice');
    },
  },
  {
    id: 'sub.unsubscribe',
    title: 'acknowledges unsubscribe (also of a channel not subscribed) and sends no push of it afterwards',
    rules: ['SUB-7'],
    needs: ['tokens:2'],
    async run(ctx) {
      const ch = ctx.channel();
      const c = await ctx.session(0);
      const pub = await ctx.session(1);
      await c.subscribe(ch);
      await pub.publish(ch, 'before');
      await collectPushes(c, ch, 1, ctx.waitMs);
      await c.send({ type: 'unsubscribe', channel: ch });
      await c.next('unsubscribed', { where: (m) => m.channel === ch, what: `"unsubscribed" for ${ch}` });
      const ackIndex = c.inbox.findIndex((e) => e.msg.type === 'unsubscribed');
      for (let i = 0; i < 3; i++) await pub.publish(ch, `after-${i}`);
      await ctx.sleep(grace(ctx));
      const late = c.inbox.slice(ackIndex + 1).filter((e) => e.msg.type === 'push' && e.msg.channel === ch);
      ctx.check('SUB-7', late.length === 0, `${late.length} pushes of ${ch} arrived after "unsubscribed"`);
      const never = ctx.channel('never');
      await c.send({ type: 'unsubscribe', channel: never });
      const m = await c.waitFor((x) => x.type === 'error' || (x.type === 'unsubscribed' && x.channel === never), ctx.waitMs, `an answer to unsubscribe ${never}`);
      ctx.check('SUB-7', m.type === 'unsubscribed', `unsubscribe of a channel not subscribed answered ${JSON.stringify(m).slice(0, 120)}`);
    },
  },
  {
    id: 'sub.resume',
    title: 'a subscribe with since inside history replays the missed pushes in order, then live pushes; the history boundary from both sides',
    rules: ['SUB-8'],
    needs: ['tokens:2'],
    timeoutMs: (p) => 20_000 + Math.ceil((Math.min(p.historySize, 120) + 12) / Math.max(1, p.rateLimit.messages - 4)) * p.rateLimit.windowMs * 1.3,
    async run(ctx) {
      const k = Math.min(3, ctx.params.historySize);
      if (k < 1) ctx.skip('the server advertises historySize 0: nothing can be replayed');
      const ch = ctx.channel();
      const pub = await ctx.session(1);
      let c = await ctx.session(0);
      await c.subscribe(ch);
      await pub.publish(ch, 'seen-1');
      await pub.publish(ch, 'seen-2');
      const seen = await collectPushes(c, ch, 2, ctx.waitMs);
      ctx.require('SUB-8', seen.length === 2, `received ${seen.length} of 2 pushes before disconnecting`);
      const last = seen[1]!.position;
      c.close();
      await c.waitClose(ctx.waitMs);
      const missed: Position[] = [];
      for (let i = 0; i < k; i++) missed.push(await pub.publish(ch, `missed-${i}`));
      c = await ctx.session(0);
      const s = await c.subscribe(ch, last);
      ctx.require('SUB-8', s.resume === 'replayed', `resume from ${posText(last)} answered resume ${JSON.stringify(s.resume)}, expected "replayed"`);
      ctx.check('SUB-8', s.replayed === k, `replayed ${s.replayed}, expected ${k}`);
      // SUB-8.e: with "replayed", subscribed.position is the position of the last replayed push.
      const lastMissed = missed[k - 1]!;
      ctx.check('SUB-8', s.position.epoch === lastMissed.epoch && s.position.offset === lastMissed.offset, `subscribed.position is ${posText(s.position)}, the last replayed push is at ${posText(lastMissed)}`);
      const got = await collectPushes(c, ch, k, ctx.waitMs);
      ctx.check('SUB-8', got.length >= k, `received ${got.length} of ${k} replayed pushes`);
      // SUB-8.c: the acknowledgement comes first, then the replayed pushes.
      const ackAt = c.inbox.findIndex((e) => e.msg.type === 'subscribed' && e.msg.channel === ch);
      const firstPush = c.inbox.findIndex((e) => e.msg.type === 'push' && e.msg.channel === ch);
      ctx.check('SUB-8', firstPush === -1 || ackAt < firstPush, 'the replayed pushes arrived before the "subscribed" that announces them');
      for (let i = 0; i < Math.min(k, got.length); i++) {
        ctx.check('SUB-8', got[i]!.position.offset === missed[i]!.offset && got[i]!.position.epoch === missed[i]!.epoch, `replayed push ${i + 1} at ${posText(got[i]!.position)}, expected ${posText(missed[i])}`);
        ctx.check('SUB-8', got[i]!.replay === true, `replayed push ${i + 1} lacks replay: true`);
        ctx.check('SUB-8', got[i]!.data === `missed-${i}`, `replayed push ${i + 1} carries ${JSON.stringify(got[i]!.data)}`);
      }
      const live = await pub.publish(ch, 'live');
      const after = await collectPushes(c, ch, k + 1, ctx.waitMs);
      const l = after[k];
      ctx.check('SUB-8', !!l && l.position.offset === live.offset && !l.replay, `the live push after the replay is ${l ? `${posText(l.position)} replay=${l.replay}` : 'missing'}, expected ${posText(live)}`);
      await ctx.sleep(grace(ctx));
      ctx.check('SUB-8', pushesOf(c, ch).length === k + 1, `received ${pushesOf(c, ch).length} pushes after resuming, expected ${k + 1} (a gap or a duplicate)`);
      // SUB-8.f, lower boundary: since equal to the channel head replays nothing ("replayed", 0).
      const h0 = await pub.subscribe(ch, live);
      ctx.check('SUB-8', h0.resume === 'replayed' && h0.replayed === 0, `since at the channel head ${posText(live)} answered resume ${JSON.stringify(h0.resume)} replayed ${JSON.stringify(h0.replayed)}, expected "replayed" 0`);
      // SUB-8.f, upper boundary: since exactly historySize pushes back is still inside the history.
      const h = ctx.params.historySize;
      if (h > 120) return ctx.note(`the historySize boundary is not checked: historySize ${h} would need ${h + 1} publishes`);
      const ch2 = ctx.channel('edge');
      const from = await pub.publish(ch2, 0);
      const edge: Position[] = [];
      for (let i = 0; i < h; i++) edge.push(await pub.publish(ch2, i + 1));
      const e = await c.subscribe(ch2, from);
      ctx.check('SUB-8', e.resume === 'replayed' && e.replayed === h, `since ${h} pushes back (historySize ${h}) answered resume ${JSON.stringify(e.resume)} replayed ${JSON.stringify(e.replayed)}, expected "replayed" ${h}`);
      if (e.resume === 'replayed') {
        const r = await collectPushes(c, ch2, h, ctx.waitMs);
        ctx.check('SUB-8', r.length === h && r.every((x, i) => x.replay === true && x.position.offset === edge[i]!.offset), `replayed ${r.map((x) => x.position.offset).join(',')}, expected ${edge.map((x) => x.offset).join(',')} flagged replay`);
      }
    },
  },
  {
    id: 'sub.resume-unavailable',
    title: 'a since the server cannot replay (unknown epoch, ahead, older than history) gets resume "unavailable"',
    rules: ['SUB-9'],
    needs: ['tokens:2'],
    timeoutMs: (p) => 20_000 + Math.ceil((p.historySize + 4) / Math.max(1, p.rateLimit.messages - 4)) * p.rateLimit.windowMs * 1.3,
    async run(ctx) {
      const ch = ctx.channel();
      const pub = await ctx.session(1);
      const head = await pub.publish(ch, 'x');
      const c = await ctx.session(0);
      const cases: [string, Position][] = [
        ['an unknown epoch', { epoch: `no-such-epoch-${ctx.env.runId}`, offset: 1 }],
        ['an offset ahead of the channel', { epoch: head.epoch, offset: head.offset + 50 }],
      ];
      for (const [what, since] of cases) {
        const s = await c.subscribe(ch, since);
        ctx.check('SUB-9', s.resume === 'unavailable', `since ${what} (${posText(since)}) answered resume ${JSON.stringify(s.resume)}`);
        // SUB-9.d: the subscription is made at the current position.
        ctx.check('SUB-9', s.position?.epoch === head.epoch && s.position?.offset === head.offset, `since ${what}: subscribed.position is ${posText(s.position)}, the channel is at ${posText(head)}`);
        await c.send({ type: 'unsubscribe', channel: ch });
        await c.next('unsubscribed', { where: (m) => m.channel === ch });
      }
      // SUB-9.d: after "unavailable", nothing is replayed and live pushes follow.
      await c.subscribe(ch, cases[0]![1]);
      const live = await pub.publish(ch, 'live');
      await collectPushes(c, ch, 1, ctx.waitMs);
      await ctx.sleep(grace(ctx));
      const after = pushesOf(c, ch);
      ctx.check('SUB-9', after.length === 1 && after[0]!.position.offset === live.offset && !after[0]!.replay, `after resume "unavailable" the connection received ${JSON.stringify(after.map((x) => `${posText(x.position)}${x.replay ? ' replay' : ''}`))}, expected the one live push at ${posText(live)}`);
      const h = ctx.params.historySize;
      if (h > 120) {
        ctx.note(`"older than history" not checked: historySize ${h} would need ${h + 2} publishes`);
        return;
      }
      const old = ctx.channel('old');
      const first = await pub.publish(old, 0);
      for (let i = 0; i < h + 1; i++) await pub.publish(old, i + 1);
      const s = await c.subscribe(old, first);
      ctx.check('SUB-9', s.resume === 'unavailable', `since an offset older than the ${h}-push history answered resume ${JSON.stringify(s.resume)}`);
      await ctx.sleep(grace(ctx));
      ctx.check('SUB-9', pushesOf(c, old).length === 0, `resume "unavailable" was followed by ${pushesOf(c, old).length} replayed push(es)`);
    },
  },
  {
    id: 'sub.ack-before-push',
    title: 'no push before its subscribed; live pushes after it come after subscribed.position',
    rules: ['SUB-11'],
    needs: ['tokens:2'],
    async run(ctx) {
      const ch = ctx.channel();
      const pub = await ctx.session(1);
      const c = await ctx.session(0);
      // Pipelined, so never more than maxPendingRequests at once: a server may refuse the rest (LIMIT-5).
      const n = Math.min(12, Math.max(4, ctx.params.rateLimit.messages - 8), ctx.params.maxPendingRequests ?? Infinity);
      // Publishes race the subscribe: whatever order the server picks, SUB-11 must hold (the wire
      // toolkit checks every push against the last subscribed of its channel).
      await sendPipelined(ctx, pub, Array.from({ length: n }, (_, i) => ({ id: `p${i}`, action: 'publish', payload: { channel: ch, data: i } })), async (i) => {
        if (i === Math.floor(n / 2)) await c.send({ type: 'subscribe', channel: ch });
      });
      const s = await c.next('subscribed', { where: (m) => m.channel === ch });
      for (let i = 0; i < n; i++) await pub.next('response', { where: (m) => m.requestId === `p${i}` });
      await ctx.sleep(grace(ctx));
      const got = pushesOf(c, ch);
      const head = pub.received((m) => m.type === 'response').reduce((mx, r) => Math.max(mx, ((r as { data?: { position?: Position } }).data?.position?.offset ?? 0)), 0);
      ctx.check('SUB-11', got.length === head - s.position.offset, `subscribed at ${posText(s.position)}, channel head ${head}: received ${got.length} pushes, expected ${head - s.position.offset}`);
      ctx.note(`subscribed at offset ${s.position.offset} of ${head}; ${got.length} live pushes`);
      // SUB-11.b: a channel with a retained push, subscribed after it: no push at or before the position
      // (the wire toolkit flags it), and nothing at all until something new is published.
      const ch2 = ctx.channel('quiet');
      await pub.publish(ch2, 'before');
      const s2 = await c.subscribe(ch2);
      await ctx.sleep(grace(ctx));
      ctx.check('SUB-11', pushesOf(c, ch2).length === 0, `after subscribed at ${posText(s2.position)} the connection received ${pushesOf(c, ch2).length} push(es) though nothing was published since`);
    },
  },
];
