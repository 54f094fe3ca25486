/** Limits: LIMIT-1 (payload), LIMIT-2 (per-IP), LIMIT-3 (slow consumer), LIMIT-4 (subscriptions), LIMIT-5 (pending requests). */
import type { SessionParams } from '../../schemas/v1/index.js';
import type { CaseDef } from '../types.js';
import { closeReasonProblem, type Conn } from '../wire/conn.js';
import { collectPushes, grace, paddedEcho, pushesOf, subscribeAnswer } from './util.js';

/** The suite does not build messages beyond this. */
const MAX_PAYLOAD_TESTED = 16 * 1024 * 1024;
/** Without a known cap, LIMIT-2 opens at most this many connections looking for one. */
const PER_IP_PROBE_BOUND = 300;
/** LIMIT-4 subscribes at most this many channels. */
const MAX_SUBSCRIPTIONS_TESTED = 1000;
/** LIMIT-5 keeps at most this many requests pending. */
const MAX_PENDING_TESTED = 200;
/**
 * LIMIT-3: what the buffers between a server and a stalled reader (two kernel sockets, a proxy) may
 * hold beyond maxBufferedBytes; a server is failed for never closing only once one stall queued more.
 */
const BUFFER_ALLOWANCE = 64 * 1024 * 1024;
/** LIMIT-5 asks for no sleep longer than this (servers may bound `sleep`; the reference allows 60 s). */
const MAX_SLEEP_MS = 55_000;

/**
 * LIMIT-5: how long the `sleep` requests must last so that all `n` of them, and one more request, can be
 * sent within the advertised rate limit before the first one ends. Mirrors the rate governor's pacing
 * (a budget of `messages - 2` per window widened to `windowMs * 1.1 + 250`), starting from a clean window.
 */
function pendingHoldMs(p: SessionParams, n: number, scale = 1): number {
  const budget = Math.max(1, p.rateLimit.messages - 2);
  const window = Math.ceil(p.rateLimit.windowMs * 1.1) + 250;
  const windows = Math.ceil((n + 2) / budget);
  return (windows - 1) * window + Math.round(n * 5 + 2_000 * scale);
}

export const limitCases: CaseDef[] = [
  {
    id: 'limit.payload',
    title: 'closes with 1009 a message larger than maxPayloadBytes (and accepts one of exactly that size)',
    rules: ['LIMIT-1'],
    async run(ctx) {
      const max = ctx.params.maxPayloadBytes;
      if (max > MAX_PAYLOAD_TESTED) ctx.skip(`maxPayloadBytes ${max} is beyond the ${MAX_PAYLOAD_TESTED} bytes the suite sends`);
      const c = await ctx.session(0);
      await c.send(paddedEcho('at-max', max));
      const r = await c.next('response', { where: (m) => m.requestId === 'at-max', what: `the echo of a ${max}-byte message` }).catch((e: Error) => {
        ctx.finding('LIMIT-1', `a message of exactly maxPayloadBytes (${max}) was not answered: ${e.message}`);
        return undefined;
      });
      if (r) ctx.check('LIMIT-1', r.success, `the ${max}-byte echo failed: ${JSON.stringify(r).slice(0, 100)}`);
      if (!c.isOpen) return;
      await c.send(paddedEcho('over', max + 1));
      // LIMIT-1.a: 1009 with a close frame; the oversized message is not processed.
      await ctx.expectClose(c, 1009, { rule: 'LIMIT-1', what: `close 1009 after a ${max + 1}-byte message` });
      ctx.check('LIMIT-1', !c.received((m) => m.type === 'response' && m.requestId === 'over').length, `the ${max + 1}-byte message was processed (its echo was answered)`);
      // LIMIT-1.c: bytes, not characters: a message of max characters but max + 1 UTF-8 bytes.
      const chars = `${paddedEcho('wide', max).slice(0, -3)}\u00e9"}`;
      const d = await ctx.session(0);
      if (Buffer.byteLength(chars) === max + 1 && chars.length === max) {
        await d.send(chars);
        await ctx.expectClose(d, 1009, { rule: 'LIMIT-1', what: `close 1009 after a message of ${chars.length} characters but ${max + 1} bytes` });
      }
      // LIMIT-1.d: the whole message after reassembly: two fragments, each under the limit.
      if (max >= 64) {
        const f = await ctx.session(0);
        const msg = Buffer.from(paddedEcho('frag', max + 1));
        const half = Math.floor(msg.length / 2);
        await ctx.acquire(f.user);
        ctx.record(f.label, 'out', 'text', `a ${msg.length}-byte echo in two fragments of ${half} and ${msg.length - half} bytes`);
        f.ws.send(msg.subarray(0, half), { binary: false, fin: false });
        f.ws.send(msg.subarray(half), { binary: false, fin: true });
        await ctx.expectClose(f, 1009, { rule: 'LIMIT-1', what: `close 1009 after a ${max + 1}-byte message sent in two fragments` });
      }
    },
  },
  {
    id: 'limit.per-ip',
    title: 'refuses with HTTP 429 connections from one IP beyond the per-IP limit',
    rules: ['LIMIT-2'],
    timeoutMs: () => 60_000,
    async run(ctx) {
      const known = ctx.env.caps.maxConnectionsPerIp;
      if (known === undefined && !ctx.env.caps.loopback) ctx.skip('the per-IP cap is unknown (pass --max-connections-per-ip N); the suite probes for one only on 127.0.0.1');
      if (known !== undefined && known > PER_IP_PROBE_BOUND) ctx.skip(`the per-IP cap ${known} is above the ${PER_IP_PROBE_BOUND} connections the suite opens`);
      const bound = known !== undefined ? known + 3 : PER_IP_PROBE_BOUND;
      const open: Conn[] = [];
      let refused: { at: number; status: number } | undefined;
      const batch = 25;
      while (!refused && open.length < bound) {
        const n = Math.min(batch, bound - open.length);
        const tries = await Promise.all(Array.from({ length: n }, () => ctx.tryConnect({ label: `ip${open.length}` })));
        for (const t of tries) {
          if (t.conn) open.push(t.conn);
          else if (!refused) refused = { at: open.length + 1, status: t.status };
        }
      }
      for (const c of open) c.terminate();
      if (!refused) {
        if (known !== undefined) ctx.finding('LIMIT-2', `opened ${open.length} connections with a per-IP cap of ${known}: none refused`);
        else ctx.info(`no per-IP cap up to ${bound} connections (pass --max-connections-per-ip N to check a known cap)`, 'LIMIT-2');
        return;
      }
      ctx.note(`refused connection ${refused.at} with HTTP ${refused.status}`);
      ctx.check('LIMIT-2', refused.status === 429, `refused connection ${refused.at} with HTTP ${refused.status || 'failure'}, expected 429`);
      if (known !== undefined) ctx.check('LIMIT-2', refused.at <= known + 1, `first refusal at connection ${refused.at}, the cap is ${known}`);
    },
  },
  {
    id: 'limit.slow-consumer',
    title: 'closes with 4509 a connection that stops reading (proxy) while others keep receiving',
    rules: ['LIMIT-3'],
    needs: ['tokens:2'],
    timeoutMs: () => 90_000,
    async run(ctx) {
      const { maxBufferedBytes, maxPayloadBytes, heartbeatTimeoutMs, historySize } = ctx.params;
      const ch = ctx.channel();
      const p = await ctx.proxy();
      const slow = await ctx.session(0, { url: p.url });
      const base = (await slow.subscribe(ch)).position;
      const healthy = await ctx.session(1);
      await healthy.subscribe(ch);
      const chunk = Math.max(256, Math.min(maxPayloadBytes - 512, 64 * 1024));
      const data = 'y'.repeat(chunk - 64);
      const maxReplay = Math.max(1, Math.floor(maxBufferedBytes / 4 / chunk));
      const stall = () => p.add({ match: { direction: 'to-client' }, action: 'throttle', bytesPerSec: 0 });
      // HB-4: the stalled reader still sends app pings, so a server's heartbeat (HB-1) has no reason
      // to end it; only what waits to be sent to it can.
      let pinging = true;
      const keepAlive = (async () => {
        while (pinging && slow.isOpen) {
          await slow.send({ type: 'ping' }).catch(() => undefined);
          await ctx.sleep(Math.max(50, Math.round(heartbeatTimeoutMs / 3)));
        }
      })();
      // Drive until the condition or the deadline, never up to a fixed byte count. Each round publishes
      // (live pushes, and replays of up to historySize of them that the stalled reader asks for by
      // resubscribing with since: SUB-8) more than the last, since the proxy's and the kernel's buffers
      // absorb an unknown amount first; then the reader reads for a moment, so that a 4509 frame queued
      // behind the data reaches it before the server gives up on the closing handshake.
      const deadline = Date.now() + ctx.ms(60_000);
      let round = maxBufferedBytes + chunk;
      let lastRound = 0;
      let count = 0;
      let sent = 0;
      let rounds = 0;
      let head = base;
      while (Date.now() < deadline && slow.isOpen && healthy.isOpen) {
        stall();
        rounds++;
        let inRound = 0;
        while (inRound < round && Date.now() < deadline && healthy.isOpen && slow.isOpen) {
          const r = await healthy.request('publish', { channel: ch, data: `${count}:${data}` });
          if (!r.success) break;
          head = (r.data as { position?: typeof head } | undefined)?.position ?? head;
          inRound += chunk;
          count++;
          // LIMIT-3.b: the other subscriber gets each push while the stalled one holds its data.
          const mine = await collectPushes(healthy, ch, count, ctx.waitMs);
          if (mine.length < count) {
            ctx.finding('LIMIT-3', `while another subscriber was stalled, the healthy one received ${mine.length} of ${count} pushes within ${ctx.waitMs} ms`);
            break;
          }
          // One push short of the history: the next publish may land before this subscribe is handled.
          // LIMIT-3.b: each step adds at most a quarter of maxBufferedBytes, so that several publishes
          // (each checked on the healthy subscriber) land while data waits but the limit is not reached.
          const from = Math.max(base.offset, head.offset - historySize + 1, head.offset - maxReplay);
          if (head.epoch === base.epoch && head.offset > from && slow.isOpen) {
            try {
              await slow.send({ type: 'unsubscribe', channel: ch });
              await slow.send({ type: 'subscribe', channel: ch, since: { epoch: head.epoch, offset: from } });
              inRound += (head.offset - from) * chunk;
            } catch {
              break; // the stalled connection closed meanwhile: judged below
            }
          }
        }
        sent += inRound;
        lastRound = inRound;
        p.clear();
        // Let the reader drain: until it closes or no push arrived for a while.
        let seen = pushesOf(slow, ch).length;
        const drainUntil = Date.now() + ctx.ms(3000);
        for (let quiet = 0; quiet < 3 && slow.isOpen && Date.now() < drainUntil; ) {
          await slow.waitClose(ctx.ms(100));
          const now = pushesOf(slow, ch).length;
          if (now === seen) quiet++;
          else {
            seen = now;
            quiet = 0;
          }
        }
        ctx.note(`round ${rounds}: ${Math.round(inRound / 1024)} KiB at ${ctx.elapsed()} ms${slow.closed ? `, closed ${slow.closed.code}` : ''}`);
        // The condition is met either way once one stall queued more than any buffer can hold.
        if (lastRound >= maxBufferedBytes + BUFFER_ALLOWANCE) break;
        round *= 2;
      }
      pinging = false;
      await keepAlive;
      p.clear();
      ctx.note(`published ${count} pushes; about ${Math.round(sent / 1024)} KiB queued for the stalled reader in ${rounds} rounds (the last ${Math.round(lastRound / 1024)} KiB) with maxBufferedBytes ${maxBufferedBytes}`);
      // LIMIT-3.b: the other subscriber received every push meanwhile.
      const got = await collectPushes(healthy, ch, count, ctx.waitMs);
      ctx.check('LIMIT-3', got.length === count && healthy.isOpen, `the healthy subscriber received ${got.length} of ${count} pushes${healthy.closed ? ` and was closed ${healthy.closed.code}` : ''}`);
      const seen = await slow.waitClose(ctx.waitMs);
      if (seen) ctx.note(`the stalled connection closed ${seen.code}${seen.frame ? '' : ' (no close frame)'}`);
      // LIMIT-3.a: 4509 with a close frame.
      if (!seen) {
        if (lastRound < maxBufferedBytes + BUFFER_ALLOWANCE) ctx.inconclusive(`within the deadline the suite queued only ${Math.round(lastRound / 1024)} KiB for the stalled reader in one stall; buffers between the server and the reader may hold that much`);
        ctx.finding('LIMIT-3', `a connection that read nothing while ${Math.round(lastRound / 1024)} KiB were sent to it at once (maxBufferedBytes ${maxBufferedBytes}) was never closed`);
        return;
      }
      ctx.expectedCloses.push(4509);
      for (const x of ctx.env.state.closes) if (x.caseId === ctx.caseId && x.code === 4509) x.expected = true;
      if (seen.code === 4509) {
        const bad = closeReasonProblem(4509, Buffer.from(seen.reason));
        if (bad) ctx.finding('LIMIT-3', bad);
        return;
      }
      if (!seen.frame) ctx.inconclusive(`the stalled connection ended without a close frame (1006) after ${Math.round(sent / 1024)} KiB: a 4509 frame queued behind the unread data may have been dropped, or it ended for another reason`);
      if (seen.code === 4001 || seen.code === 1012 || seen.code === 4429) ctx.inconclusive(`the stalled connection was closed ${seen.code} "${seen.reason}" (another rule's close) before it could be shown to hold more than maxBufferedBytes`);
      ctx.finding('LIMIT-3', `the stalled connection was closed ${seen.code} "${seen.reason}", expected 4509`);
    },
  },
  {
    id: 'limit.subscriptions',
    title: 'a subscribe beyond maxSubscriptions gets error subscription_limit; the connection keeps its subscriptions',
    rules: ['LIMIT-4'],
    needs: ['tokens:2'],
    timeoutMs: (p) => 15_000 + Math.ceil((Math.min(p.maxSubscriptions, MAX_SUBSCRIPTIONS_TESTED) + 12) / Math.max(1, p.rateLimit.messages - 4)) * p.rateLimit.windowMs * 1.3,
    async run(ctx) {
      const max = ctx.params.maxSubscriptions;
      if (max > MAX_SUBSCRIPTIONS_TESTED) ctx.skip(`maxSubscriptions ${max} is above the ${MAX_SUBSCRIPTIONS_TESTED} the suite subscribes`);
      const c = await ctx.session(0);
      const first = ctx.channel('s0');
      for (let i = 0; i < max; i++) await c.send({ type: 'subscribe', channel: ctx.channel(`s${i}`) });
      for (let i = 0; i < max; i++) await c.next('subscribed', { where: (m) => m.channel === ctx.channel(`s${i}`), what: `"subscribed" ${i + 1} of ${max}` });
      const extra = ctx.channel('over');
      // LIMIT-4.e: a repeated subscribe of a channel already subscribed does not count.
      const again = await subscribeAnswer(ctx, c, first);
      ctx.check('LIMIT-4', again.type === 'subscribed', `at the limit, a repeated subscribe of ${first} answered ${JSON.stringify(again).slice(0, 120)}: a repeat does not count against maxSubscriptions`);
      // LIMIT-4.b/c: subscription_limit naming the channel.
      const m = await subscribeAnswer(ctx, c, extra);
      ctx.check('LIMIT-4', m.type === 'error' && m.code === 'subscription_limit', `subscription ${max + 1} answered ${JSON.stringify(m).slice(0, 120)}`);
      if (m.type === 'error') ctx.check('LIMIT-4', m.channel === extra, `error.channel ${JSON.stringify(m.channel)}, expected "${extra}"`);
      // LIMIT-4.d: open, with its subscriptions.
      ctx.require('LIMIT-4', c.isOpen, 'the connection closed');
      const pub = await ctx.session(1);
      await pub.publish(first, 'still');
      const got = await collectPushes(c, first, 1, ctx.waitMs);
      ctx.check('LIMIT-4', got.length === 1, 'the first subscription no longer delivers after the refused one');
      const last = ctx.channel(`s${max - 1}`);
      await pub.publish(last, 'still');
      const got2 = await collectPushes(c, last, 1, ctx.waitMs);
      ctx.check('LIMIT-4', got2.length === 1, `subscription ${max} no longer delivers after the refused one`);
      await pub.publish(extra, 'refused');
      await ctx.sleep(grace(ctx));
      ctx.check('LIMIT-4', pushesOf(c, extra).length === 0, `the refused channel ${extra} delivers pushes: the subscribe beyond the limit was made`);
      // LIMIT-4.f: the limit counts current subscriptions: after an unsubscribe there is room again.
      await c.send({ type: 'unsubscribe', channel: first });
      await c.next('unsubscribed', { where: (x) => x.channel === first });
      const room = await subscribeAnswer(ctx, c, extra);
      ctx.check('LIMIT-4', room.type === 'subscribed', `after an unsubscribe (${max - 1} subscriptions), a subscribe answered ${JSON.stringify(room).slice(0, 120)}`);
    },
  },
  {
    id: 'limit.pending',
    title: 'a request while maxPendingRequests requests are pending gets error too_many_requests with its requestId and no response; the connection stays open',
    rules: ['LIMIT-5'],
    timeoutMs: (p) => {
      const n = p.maxPendingRequests;
      if (n === undefined || n > MAX_PENDING_TESTED) return 10_000;
      return 20_000 + p.rateLimit.windowMs * 1.5 + Math.min(pendingHoldMs(p, n), MAX_SLEEP_MS);
    },
    async run(ctx) {
      const n = ctx.params.maxPendingRequests;
      if (n === undefined) return ctx.skip('the server does not advertise maxPendingRequests');
      if (n > MAX_PENDING_TESTED) ctx.skip(`maxPendingRequests ${n} is above the ${MAX_PENDING_TESTED} requests the suite keeps pending`);
      const hold = pendingHoldMs(ctx.params, n, ctx.env.scale);
      if (hold > MAX_SLEEP_MS) ctx.skip(`keeping ${n} requests pending within the rate limit needs sleeps of ${hold} ms, above the ${MAX_SLEEP_MS} ms the suite asks for`);
      const c = await ctx.session(0);
      // LIMIT-5.c: the refused request is a publish to a channel this connection subscribes.
      const ch = ctx.channel();
      await c.subscribe(ch);
      // Start from a clean rate window, so that the pacing below matches the estimate.
      await ctx.sleep(ctx.env.governor.clearInMs(ctx.users[0]!));
      // Every sleep ends at the same moment `end`, however long the rate governor makes the sending take.
      const end = Date.now() + hold;
      const ids = Array.from({ length: n }, (_, i) => `pend-${i}`);
      for (const id of ids) await c.send({ type: 'request', id, action: 'sleep', payload: { ms: Math.max(1, end - Date.now()) } });
      const early = c.received((m) => m.type === 'response' && ids.includes(m.requestId));
      if (early.length) ctx.skip(`a sleep request was answered before the ${n}th was sent (${JSON.stringify(early[0]).slice(0, 120)}): no limit to reach`);
      if (Date.now() > end - ctx.ms(500)) ctx.skip(`sending ${n} requests within the rate limit took longer than the ${hold} ms sleeps`);
      await c.send({ type: 'request', id: 'pend-over', action: 'publish', payload: { channel: ch, data: 'over' } });
      const m = await c.waitFor((x) => 'requestId' in x && x.requestId === 'pend-over', ctx.waitMs, 'an answer to the request beyond maxPendingRequests').catch((e: Error) => {
        ctx.finding('LIMIT-5', e.message);
        return undefined;
      });
      if (m) {
        ctx.note(`request ${n + 1} answered ${JSON.stringify(m).slice(0, 160)}`);
        ctx.check('LIMIT-5', m.type === 'error' && m.code === 'too_many_requests', `request ${n + 1} (with ${n} pending) answered ${JSON.stringify(m).slice(0, 120)}, expected error too_many_requests`);
      }
      ctx.require('LIMIT-5', c.isOpen, 'the connection closed after the request beyond the limit');
      // The pending requests are unaffected: each still gets its response.
      const left = Math.max(0, end - Date.now()) + ctx.waitMs;
      for (const id of ids) await c.next('response', { where: (r) => r.requestId === id, timeoutMs: left, what: `the response to ${id}` });
      // A slot is free again: a new request is executed.
      await ctx.expectAlive(c, 'LIMIT-5', 'after the pending requests were answered');
      await ctx.sleep(grace(ctx));
      const answered = c.received((r) => r.type === 'response' && r.requestId === 'pend-over');
      ctx.check('LIMIT-5', answered.length === 0, `the refused request got ${answered.length} response(s): ${String(JSON.stringify(answered[0])).slice(0, 120)}`);
      ctx.check('LIMIT-5', pushesOf(c, ch).length === 0, `the refused publish was executed: ${pushesOf(c, ch).length} push(es) of it arrived`);
    },
  },
];
