/**
 * Revision 1.2: RATE-4 (restore allowance), PARAM-1 (consistent parameters), SUB-12 (the user's own
 * channel), LIMIT-6 (nesting depth), LIMIT-7 (history bytes). Each case skips, with the reason,
 * against a server that does not advertise the 1.2 feature it checks: revision 1.1 servers stay
 * conformant (see the spec's versioning policy).
 */
import { createHash } from 'node:crypto';
import { isChannelName, paramContradictions, parseCloseReason, type SubscribedMessage } from '../../schemas/v1/index.js';
import type { CaseDef } from '../types.js';
import { isObject, subscribeAnswer } from './util.js';

/** RATE-4 restores at most this many channels per round. */
const MAX_RESTORE_TESTED = 300;
/** LIMIT-7 publishes at most this many pushes. */
const MAX_HISTORY_PUBLISHES = 40;
/** LIMIT-6 builds messages at most this deep. */
const MAX_DEPTH_TESTED = 10_000;

/** SUB-12: the name the spec gives the user's own channel. */
export function expectedUserChannel(userId: string): string {
  const direct = `user:${userId}`;
  return isChannelName(direct) ? direct : `uid:${createHash('sha256').update(userId, 'utf8').digest('base64url')}`;
}

/** A JSON value nested `depth` levels deep (arrays), as text. */
function nested(depth: number): string {
  return '['.repeat(depth) + ']'.repeat(depth);
}

export const restoreCases: CaseDef[] = [
  {
    id: 'restore.params',
    title: 'the advertised session parameters do not contradict each other',
    rules: ['PARAM-1'],
    async run(ctx) {
      if (ctx.params.restoreAllowance === undefined) ctx.skip('the server does not advertise restoreAllowance (revision 1.2): PARAM-1 does not bind it');
      const found = paramContradictions(ctx.params);
      for (const f of found) ctx.finding('PARAM-1', f);
      if (!found.length) ctx.note('no contradiction among the advertised parameters');
    },
  },
  {
    id: 'restore.allowance',
    title: 'a client restoring maxSubscriptions channels at once after authenticated, twice in one window, is never rate-limited',
    rules: ['RATE-4'],
    phase: 'rate',
    timeoutMs: (p) => 30_000 + p.rateLimit.windowMs * 2.5,
    async run(ctx) {
      const allowance = ctx.params.restoreAllowance;
      if (allowance === undefined) return ctx.skip('the server does not advertise restoreAllowance (revision 1.2)');
      const n = Math.min(allowance, ctx.params.maxSubscriptions);
      if (n > MAX_RESTORE_TESTED) ctx.skip(`restoring ${n} channels is above the ${MAX_RESTORE_TESTED} the suite subscribes at once`);
      if (n <= ctx.params.rateLimit.messages) ctx.note(`${n} subscribes fit in rateLimit.messages ${ctx.params.rateLimit.messages} anyway`);
      const user = ctx.users[0]!;
      // Start from a clean window, so that only the subscribes are in it.
      await ctx.sleep(ctx.env.governor.clearInMs(user));
      const channels = Array.from({ length: n }, (_, i) => ctx.channel(`r${i}`));
      let positions = new Map<string, SubscribedMessage['position']>();
      for (const round of [1, 2]) {
        const c = await ctx.session(0, { label: `round${round}` });
        // All at once, around the governor: RATE-4 is what lets them through.
        for (const ch of channels) {
          const since = positions.get(ch);
          c.sendNow({ type: 'subscribe', channel: ch, ...(since ? { since } : {}) });
        }
        const acks = new Map<string, SubscribedMessage['position']>();
        for (let i = 0; i < n; i++) {
          const m = await c.waitFor((x) => x.type === 'subscribed' || x.type === 'error', ctx.waitMs, `answer ${i + 1} of ${n} to the restore of round ${round}`).catch((e: Error) => {
            ctx.finding('RATE-4', `round ${round}: ${e.message}`);
            return undefined;
          });
          if (!m) break;
          if (m.type === 'subscribed') acks.set(m.channel, m.position);
          else ctx.finding('RATE-4', `round ${round}: subscribe answered ${JSON.stringify(m).slice(0, 140)}`);
        }
        ctx.check('RATE-4', acks.size === n && c.isOpen, `round ${round}: ${acks.size} of ${n} channels restored${c.closed ? `, closed ${c.closed.code} "${c.closed.reason}"` : ''}`);
        if (c.closed?.code === 4429) {
          // The later rate cases start from a clean window: the governor waits out this close too.
          ctx.env.governor.block(user, (parseCloseReason(c.closed.reason).retryAfterMs ?? 0) + ctx.params.rateLimit.windowMs);
        }
        if (!c.isOpen) return;
        // Every other frame still counts: a ping is answered (and counted by the governor).
        await ctx.expectAlive(c, 'RATE-4', `after restoring ${n} channels (round ${round})`);
        positions = acks;
        c.close();
        await c.waitClose(ctx.waitMs);
      }
      ctx.note(`restored ${n} channels twice within one window of ${ctx.params.rateLimit.windowMs} ms (rateLimit.messages ${ctx.params.rateLimit.messages})`);
    },
  },
  {
    id: 'restore.user-channel',
    title: 'authenticated.userChannel names the user\'s own channel, subscribable by that user alone',
    rules: ['SUB-12'],
    needs: ['tokens:2'],
    async run(ctx) {
      const a = await ctx.session(0);
      const auth = a.authenticated!;
      if (auth.userChannel === undefined) return ctx.skip('the server sends no authenticated.userChannel (revision 1.2)');
      const want = expectedUserChannel(auth.userId);
      ctx.check('SUB-12', auth.userChannel === want, `userChannel ${JSON.stringify(auth.userChannel)} for user ${JSON.stringify(auth.userId.slice(0, 40))}, expected ${JSON.stringify(want)}`);
      const own = await subscribeAnswer(ctx, a, auth.userChannel);
      ctx.check('SUB-12', own.type === 'subscribed', `subscribing to the own userChannel answered ${JSON.stringify(own).slice(0, 120)}`);
      const b = await ctx.session(1);
      const other = await subscribeAnswer(ctx, b, auth.userChannel);
      ctx.check('SUB-12', other.type === 'error' && other.code === 'forbidden', `another user subscribing to ${auth.userChannel} got ${JSON.stringify(other).slice(0, 120)}, expected error forbidden`);
    },
  },
  {
    id: 'limit.depth',
    title: 'a message nested deeper than maxDepth gets error too_deep and is not executed; one at maxDepth is',
    rules: ['LIMIT-6'],
    async run(ctx) {
      const max = ctx.params.maxDepth;
      if (max === undefined) return ctx.skip('the server does not advertise maxDepth (revision 1.2)');
      if (max > MAX_DEPTH_TESTED) ctx.skip(`maxDepth ${max} is above the ${MAX_DEPTH_TESTED} the suite builds`);
      // {"type":"request",...,"payload":<value>}: the message is level 1, the payload's outermost array level 2.
      const at = `{"type":"request","id":"depth-ok","action":"echo","payload":${nested(max - 1)}}`;
      const over = `{"type":"request","id":"depth-over","action":"echo","payload":${nested(max)}}`;
      if (over.length > ctx.params.maxPayloadBytes) ctx.skip(`a message of depth ${max + 1} is larger than maxPayloadBytes`);
      const c = await ctx.session(0);
      await c.send(over);
      const m = await c.waitFor((x) => x.type === 'error' || (x.type === 'response' && x.requestId === 'depth-over'), ctx.waitMs, `an answer to a message of depth ${max + 1}`).catch((e: Error) => {
        ctx.finding('LIMIT-6', e.message);
        return undefined;
      });
      if (m) {
        ctx.check('LIMIT-6', m.type === 'error' && m.code === 'too_deep', `a message of depth ${max + 1} answered ${JSON.stringify(m).slice(0, 140)}, expected error too_deep`);
        if (m.type === 'error') ctx.check('LIMIT-6', m.requestId === undefined && m.channel === undefined, 'error too_deep carries a requestId or channel');
      }
      ctx.require('LIMIT-6', c.isOpen, 'the connection closed after the message that was too deep');
      await c.send(at);
      const ok = await c.next('response', { where: (r) => r.requestId === 'depth-ok', what: `the echo of a message of depth ${max}` });
      ctx.check('LIMIT-6', ok.success, `a message of exactly maxDepth (${max}) failed: ${JSON.stringify(ok).slice(0, 120)}`);
      const executed = c.received((x) => x.type === 'response' && x.requestId === 'depth-over');
      ctx.check('LIMIT-6', executed.length === 0, 'the request that was too deep was executed');
    },
  },
  {
    id: 'limit.history-bytes',
    title: 'a channel keeps no more history than historyBytes: a resume from before it is unavailable, a recent one is replayed',
    rules: ['LIMIT-7'],
    timeoutMs: (p) => 20_000 + Math.ceil((MAX_HISTORY_PUBLISHES + 6) / Math.max(1, p.rateLimit.messages - 4)) * p.rateLimit.windowMs * 1.3,
    async run(ctx) {
      const { historyBytes, historySize, maxPayloadBytes } = ctx.params;
      if (historyBytes === undefined) return ctx.skip('the server does not advertise historyBytes (revision 1.2)');
      const k = Math.min(historySize, MAX_HISTORY_PUBLISHES);
      if (k < 3) ctx.skip(`historySize ${historySize} is too small to tell bytes from count`);
      // k pushes of `size` bytes each exceed historyBytes by at least one push, all within historySize.
      const size = Math.ceil(historyBytes / (k - 1)) + 2;
      if (size + 256 > maxPayloadBytes) ctx.skip(`exceeding historyBytes ${historyBytes} within ${k} pushes needs pushes of ${size} bytes, above maxPayloadBytes ${maxPayloadBytes}`);
      const c = await ctx.session(0);
      const ch = ctx.channel('hb');
      const start = await subscribeAnswer(ctx, c, ch);
      ctx.require('LIMIT-7', start.type === 'subscribed', `subscribe answered ${JSON.stringify(start).slice(0, 120)}`);
      if (start.type !== 'subscribed') return;
      c.sendNow({ type: 'unsubscribe', channel: ch });
      ctx.env.governor.note(ctx.users[0]!, 1);
      await c.next('unsubscribed');
      const data = 'h'.repeat(size - 2); // serialized: size bytes
      let last = start.position;
      for (let i = 0; i < k; i++) last = await c.publish(ch, data);
      ctx.note(`published ${k} pushes of ${size} bytes (${k * size} bytes) with historyBytes ${historyBytes}`);
      // Resumes on the same connection (one session: a second one would replace it, SESS-1).
      await c.send({ type: 'subscribe', channel: ch, since: start.position });
      const old = await c.next('subscribed', { where: (m) => m.channel === ch, what: 'the answer to a resume from before every push' });
      ctx.check('LIMIT-7', old.resume === 'unavailable', `a resume from before ${k * size} bytes of pushes answered resume ${JSON.stringify(old.resume)} replayed ${old.replayed}, but only ${historyBytes} bytes may be kept`);
      await c.send({ type: 'unsubscribe', channel: ch });
      await c.next('unsubscribed', { where: (m) => m.channel === ch });
      const since = { epoch: last.epoch, offset: last.offset - 1 };
      await c.send({ type: 'subscribe', channel: ch, since });
      const recent = await c.next('subscribed', { where: (m) => m.channel === ch, what: 'the answer to a resume from before the last push' });
      ctx.check('LIMIT-7', recent.resume === 'replayed' && recent.replayed === 1, `a resume from before the last push answered ${JSON.stringify(recent).slice(0, 140)}, expected replayed 1`);
      const p = await c.next('push', { where: (m) => m.channel === ch && m.replay === true, what: 'the replayed push' });
      ctx.check('LIMIT-7', p.data === data && isObject(p.position) && p.replay === true, 'the replayed push does not carry the published data');
    },
  },
];
