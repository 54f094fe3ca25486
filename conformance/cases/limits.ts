/** Limits: LIMIT-1 (payload), LIMIT-2 (per-IP), LIMIT-3 (slow consumer), LIMIT-4 (subscriptions), LIMIT-5 (pending requests). */
import type { SessionParams } from '../../schemas/v1/index.js';
import type { CaseDef } from '../types.js';
import type { Conn } from '../wire/conn.js';
import { collectPushes, grace, paddedEcho, pushesOf, subscribeAnswer } from './util.js';

/** The suite does not build messages beyond this. */
const MAX_PAYLOAD_TESTED = 16 * 1024 * 1024;
/** Without a known cap, LIMIT-2 opens at most this many connections looking for one. */
const PER_IP_PROBE_BOUND = 300;
/** LIMIT-4 subscribes at most this many channels. */
const MAX_SUBSCRIPTIONS_TESTED = 1000;
/** LIMIT-5 keeps at most this many requests pending. */
const MAX_PENDING_TESTED = 200;
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
      await ctx.expectClose(c, 1009, { rule: 'LIMIT-1', what: `close 1009 after a ${max + 1}-byte message` });
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
      const { maxBufferedBytes, maxPayloadBytes, rateLimit } = ctx.params;
      const ch = ctx.channel();
      const p = await ctx.proxy();
      const slow = await ctx.session(0, { url: p.url });
      await slow.subscribe(ch);
      const healthy = await ctx.session(1);
      await healthy.subscribe(ch);
      p.add({ match: { direction: 'to-client' }, action: 'throttle', bytesPerSec: 0 });
      const chunk = Math.max(256, Math.min(maxPayloadBytes - 512, 64 * 1024));
      const data = 'y'.repeat(chunk - 64);
      // Enough to pass the server's cap plus the kernel's socket buffers between it and the proxy.
      const target = maxBufferedBytes * 2 + 4 * 1024 * 1024;
      const deadline = Date.now() + ctx.ms(60_000);
      let sent = 0;
      let count = 0;
      while (sent < target && Date.now() < deadline && healthy.isOpen) {
        const r = await healthy.request('publish', { channel: ch, data: `${count}:${data}` });
        if (!r.success) break;
        sent += chunk;
        count++;
        if (slow.closed) break;
      }
      ctx.note(`published ${count} pushes (${Math.round(sent / 1024)} KiB) with maxBufferedBytes ${maxBufferedBytes}; rate ${rateLimit.messages}/${rateLimit.windowMs} ms`);
      const got = await collectPushes(healthy, ch, count, ctx.waitMs);
      ctx.check('LIMIT-3', got.length === count && healthy.isOpen, `the healthy subscriber received ${got.length} of ${count} pushes${healthy.closed ? ` and was closed ${healthy.closed.code}` : ''}`);
      p.clear();
      const seen = await ctx.expectClose(slow, 4509, { rule: 'LIMIT-3', what: 'close 4509 on the connection that stopped reading', allowNoFrame: true });
      if (seen?.code === 1006) ctx.note('ended without a close frame (the 4509 frame queues behind the unread data)');
      if (seen) ctx.note(`the slow connection got ${pushesOf(slow, ch).length} pushes before its close ${seen.code}`);
    },
  },
  {
    id: 'limit.subscriptions',
    title: 'a subscribe beyond maxSubscriptions gets error subscription_limit; the connection keeps its subscriptions',
    rules: ['LIMIT-4'],
    needs: ['tokens:2'],
    timeoutMs: (p) => 15_000 + Math.ceil((Math.min(p.maxSubscriptions, MAX_SUBSCRIPTIONS_TESTED) + 6) / Math.max(1, p.rateLimit.messages - 4)) * p.rateLimit.windowMs * 1.3,
    async run(ctx) {
      const max = ctx.params.maxSubscriptions;
      if (max > MAX_SUBSCRIPTIONS_TESTED) ctx.skip(`maxSubscriptions ${max} is above the ${MAX_SUBSCRIPTIONS_TESTED} the suite subscribes`);
      const c = await ctx.session(0);
      const first = ctx.channel('s0');
      for (let i = 0; i < max; i++) await c.send({ type: 'subscribe', channel: ctx.channel(`s${i}`) });
      for (let i = 0; i < max; i++) await c.next('subscribed', { where: (m) => m.channel === ctx.channel(`s${i}`), what: `"subscribed" ${i + 1} of ${max}` });
      const extra = ctx.channel('over');
      const m = await subscribeAnswer(ctx, c, extra);
      ctx.check('LIMIT-4', m.type === 'error' && m.code === 'subscription_limit', `subscription ${max + 1} answered ${JSON.stringify(m).slice(0, 120)}`);
      if (m.type === 'error') ctx.check('LIMIT-4', m.channel === extra, `error.channel ${JSON.stringify(m.channel)}, expected "${extra}"`);
      ctx.require('LIMIT-4', c.isOpen, 'the connection closed');
      const pub = await ctx.session(1);
      await pub.publish(first, 'still');
      const got = await collectPushes(c, first, 1, ctx.waitMs);
      ctx.check('LIMIT-4', got.length === 1, 'the first subscription no longer delivers after the refused one');
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
      // Start from a clean rate window, so that the pacing below matches the estimate.
      await ctx.sleep(ctx.env.governor.clearInMs(ctx.users[0]!));
      // Every sleep ends at the same moment `end`, however long the rate governor makes the sending take.
      const end = Date.now() + hold;
      const ids = Array.from({ length: n }, (_, i) => `pend-${i}`);
      for (const id of ids) await c.send({ type: 'request', id, action: 'sleep', payload: { ms: Math.max(1, end - Date.now()) } });
      const early = c.received((m) => m.type === 'response' && ids.includes(m.requestId));
      if (early.length) ctx.skip(`a sleep request was answered before the ${n}th was sent (${JSON.stringify(early[0]).slice(0, 120)}): no limit to reach`);
      if (Date.now() > end - ctx.ms(500)) ctx.skip(`sending ${n} requests within the rate limit took longer than the ${hold} ms sleeps`);
      await c.send({ type: 'request', id: 'pend-over', action: 'echo', payload: 'over' });
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
    },
  },
];
