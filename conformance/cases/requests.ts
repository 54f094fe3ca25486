/** Requests and responses: REQ-1, REQ-2, REQ-3, REQ-4, REQ-7, REQ-8. */
import type { CaseDef } from '../types.js';
import { looksInternal } from '../wire/conn.js';
import { grace, pushesOf, sendPipelined } from './util.js';

export const requestCases: CaseDef[] = [
  {
    id: 'req.correlation',
    title: 'answers each request exactly once, with requestId equal to the request id',
    rules: ['REQ-1'],
    async run(ctx) {
      const c = await ctx.session(0);
      const ids = ['q1', 'q-2', 'Q_3', 'x'.repeat(64), '5'];
      await sendPipelined(ctx, c, ids.map((id, i) => ({ id, action: 'echo', payload: { i } })));
      for (const [i, id] of ids.entries()) {
        const r = await c.next('response', { where: (m) => m.requestId === id, what: `the response to request ${id.slice(0, 12)}` });
        ctx.check('REQ-1', r.success && JSON.stringify(r.data) === JSON.stringify({ i }), `request ${id.slice(0, 12)} got ${JSON.stringify(r).slice(0, 120)}`);
      }
      await ctx.sleep(grace(ctx));
      for (const id of ids) {
        const n = c.received((m) => m.type === 'response' && m.requestId === id).length;
        ctx.check('REQ-1', n === 1, `request ${id.slice(0, 12)} got ${n} responses`);
      }
      const stray = c.received((m) => m.type === 'response' && !ids.includes(m.requestId));
      ctx.check('REQ-1', stray.length === 0, `responses with unknown requestIds: ${stray.map((m) => (m as { requestId: string }).requestId).join(', ')}`);
    },
  },
  {
    id: 'req.unknown-action',
    title: 'fails a request for an unknown action with unknown_action',
    rules: ['REQ-2'],
    async run(ctx) {
      const c = await ctx.session(0);
      const r = await c.request('no_such_action_x7', { a: 1 });
      ctx.check('REQ-2', !r.success && r.error.code === 'unknown_action', `got ${JSON.stringify(r).slice(0, 160)}`);
      await ctx.expectAlive(c, 'REQ-2', 'after an unknown action');
    },
  },
  {
    id: 'req.concurrent',
    title: 'a slow request (sleep) does not delay a fast one (echo) sent after it',
    rules: ['REQ-3', 'CONF-3'],
    timeoutMs: (p) => Math.min(1000, p.requestTimeoutMs) + 10_000,
    async run(ctx) {
      const ms = Math.min(1000, Math.floor(ctx.params.requestTimeoutMs / 2));
      const c = await ctx.session(0);
      const t0 = Date.now();
      await c.send({ type: 'request', id: 'slow', action: 'sleep', payload: { ms } });
      await c.send({ type: 'request', id: 'fast', action: 'echo', payload: 'now' });
      const first = await c.next('response', { where: (m) => m.requestId === 'slow' || m.requestId === 'fast', what: 'a response to sleep or echo' });
      // REQ-3 can only be judged when the sleep really slept (CONF-3 is checked below).
      if (first.requestId === 'slow' && Date.now() - t0 < ms - 5) ctx.note(`the sleep answered after ${Date.now() - t0} ms: REQ-3 not judged`);
      else ctx.check('REQ-3', first.requestId === 'fast', `the echo was answered only after the ${ms} ms sleep`);
      const fastAt = first.requestId === 'fast' ? Date.now() - t0 : undefined;
      const slow = first.requestId === 'slow' ? first : await c.next('response', { where: (m) => m.requestId === 'slow', timeoutMs: ms + ctx.waitMs });
      const slowAt = Date.now() - t0;
      ctx.note(`echo after ${fastAt ?? '?'} ms, sleep ${ms} after ${slowAt} ms`);
      ctx.check('CONF-3', slow.success && (slow.data as { slept?: unknown })?.slept === ms, `sleep answered ${JSON.stringify(slow).slice(0, 120)}, expected {slept: ${ms}}`);
      ctx.check('CONF-3', slowAt >= ms - 5, `sleep ${ms} answered after only ${slowAt} ms`);
    },
  },
  {
    id: 'req.duplicate-id',
    title: 'a request reusing a pending id gets error duplicate_request_id and is not executed; the pending one is answered; a settled id is free again',
    rules: ['REQ-4', 'REQ-1'],
    async run(ctx) {
      const c = await ctx.session(0);
      const ch = ctx.channel();
      // REQ-4.c: the duplicate is a publish to a channel this connection subscribes: executing it would push.
      await c.subscribe(ch);
      const ms = 600;
      await c.send({ type: 'request', id: 'dup', action: 'sleep', payload: { ms } });
      await c.send({ type: 'request', id: 'dup', action: 'publish', payload: { channel: ch, data: 'duplicate' } });
      const e = await c.next('error', { what: 'error duplicate_request_id' }).catch((err: Error) => {
        ctx.finding('REQ-4', err.message);
        return undefined;
      });
      if (e) {
        ctx.check('REQ-4', e.code === 'duplicate_request_id', `error code "${e.code}", expected duplicate_request_id`);
        ctx.check('REQ-4', e.requestId === 'dup', `error.requestId is ${JSON.stringify(e.requestId)}, expected "dup"`);
      }
      // REQ-4.d: the pending request still gets its own response.
      const r = await c.next('response', { where: (m) => m.requestId === 'dup', timeoutMs: ms + ctx.waitMs });
      ctx.check('REQ-4', r.success && (r.data as { slept?: unknown })?.slept === ms, `the response to "dup" is ${JSON.stringify(r).slice(0, 120)}, expected the sleep's`);
      await ctx.sleep(grace(ctx));
      const n = c.received((m) => m.type === 'response' && m.requestId === 'dup').length;
      ctx.check('REQ-1', n === 1, `"dup" got ${n} responses, expected exactly 1`);
      ctx.check('REQ-4', pushesOf(c, ch).length === 0, `the duplicate publish was executed: ${pushesOf(c, ch).length} push(es) of it arrived`);
      // REQ-4.e: only pending ids count; once answered, the id is free for a new request. (Responses
      // already received for "dup", duplicates included, are REQ-1's business: set them aside.)
      for (const e of c.inbox) if (e.msg.type === 'response' && e.msg.requestId === 'dup') e.consumed = true;
      const again = await c.request('echo', 'reused', { id: 'dup' }).catch((err: Error) => {
        ctx.finding('REQ-4', `a request reusing the id of an answered request: ${err.message}`);
        return undefined;
      });
      if (again) ctx.check('REQ-4', again.success && again.data === 'reused', `a request reusing the id of an answered request got ${JSON.stringify(again).slice(0, 120)}`);
      const errs = c.received((m) => m.type === 'error' && m.code === 'duplicate_request_id').length;
      ctx.check('REQ-4', errs <= 1, `${errs} duplicate_request_id errors: an id whose request was answered is no longer pending`);
    },
  },
  {
    id: 'req.handler-failure',
    title: 'a failing handler gives internal_error with no internal details; the connection stays open',
    rules: ['REQ-7'],
    needs: ['failing-action'],
    async run(ctx) {
      const c = await ctx.session(0);
      const r = await c.request(ctx.env.caps.failingAction!, { boom: true });
      if (r.success) return ctx.require('REQ-7', false, `the failing action succeeded: ${JSON.stringify(r).slice(0, 120)}`);
      ctx.check('REQ-7', r.error.code === 'internal_error', `error code "${r.error.code}", expected internal_error`);
      ctx.check('REQ-7', !/SECRET|conformance-failure/i.test(r.error.message), `the message shows the handler's error: ${r.error.message.slice(0, 120)}`);
      // REQ-7.b: no internal details (stack traces, file paths, exception texts).
      ctx.check('REQ-7', !looksInternal(r.error.message), `the message carries internal details: ${r.error.message.slice(0, 160)}`);
      await ctx.expectAlive(c, 'REQ-7', 'after a failing handler');
    },
  },
  {
    id: 'req.invalid-payload',
    title: 'a payload that does not fit the action gets invalid_payload',
    rules: ['REQ-8'],
    async run(ctx) {
      const c = await ctx.session(0);
      const cases: [string, unknown][] = [['sleep', { ms: 'x' }], ['sleep', null], ['sleep', { ms: 1.5 }], ['sleep', {}], ['publish', { data: 1 }], ['publish', { channel: '.bad channel', data: 1 }], ['publish', { channel: 5, data: 1 }]];
      for (const [action, payload] of cases) {
        const r = await c.request(action, payload);
        ctx.check('REQ-8', !r.success && r.error.code === 'invalid_payload', `${action} ${JSON.stringify(payload)} got ${JSON.stringify(r).slice(0, 140)}`);
      }
      await ctx.expectAlive(c, 'REQ-8', 'after invalid payloads');
    },
  },
];
