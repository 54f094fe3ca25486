/** Requests: unique ids, timeouts (default: the advertised requestTimeoutMs), late and unknown responses, no replay. */
import type { ClientCaseDef } from '../context.js';
import { closeAndTime, EARLY_MS, fmt, nextAuthenticated } from './util.js';

const timeouts: ClientCaseDef = {
  id: 'req.timeout',
  title: 'pending ids are unique; a request fails with timeout after its timeout (default: the advertised requestTimeoutMs); late and unknown responses are dropped',
  rules: ['REQ-5'],
  async run(ctx) {
    const { d, c } = await ctx.connected();
    ctx.server.behaviour.request = (k, m) => {
      if (m.action === 'echo') k.send({ type: 'response', requestId: m.id, success: true, ...(m.payload !== undefined ? { data: m.payload } : {}) });
      // `hold`: never answered.
    };
    const t0 = Date.now();
    await d.send({ cmd: 'request', ref: 'short', action: 'hold', payload: { which: 'short' }, timeoutMs: 400 });
    await d.send({ cmd: 'request', ref: 'default', action: 'hold', payload: { which: 'default' } });
    for (let i = 0; i < 5; i++) await d.send({ cmd: 'request', ref: `many${i}`, action: 'hold', payload: { which: `many${i}` }, timeoutMs: 3_000 });
    const holdFrames = async () => {
      await c.waitFrame(() => c.messages().filter((m) => m.type === 'request').length >= 7, ctx.ms(2_000));
      return c.messages().filter((m): m is Extract<typeof m, { type: 'request' }> => m.type === 'request');
    };
    const reqs = await holdFrames();
    const ids = reqs.map((m) => m.id);
    if (new Set(ids).size !== ids.length) ctx.finding('REQ-5', `pending requests shared ids: ${ids.join(', ')}`);
    const check = async (ref: string, timeoutMs: number, what: string) => {
      const e = await d.waitEvent((x) => x.event === 'response' && x.ref === ref, timeoutMs + ctx.slack + ctx.ms(1_500));
      if (!e || e.event !== 'response') return ctx.finding('REQ-5', `a request with ${what} (${timeoutMs} ms) was never failed with timeout`);
      const after = e.at - t0;
      if (e.ok) return ctx.finding('REQ-5', `a request the server never answered resolved (${what})`);
      if (e.code !== 'timeout') ctx.finding('REQ-5', `a request the server never answered failed with "${e.code}", not "timeout" (${what})`);
      if (after < timeoutMs - EARLY_MS) ctx.finding('REQ-5', `a request with ${what} (${timeoutMs} ms) failed after ${fmt(after)}, before its timeout`);
      else if (after > timeoutMs + 2 * ctx.slack) ctx.finding('REQ-5', `a request with ${what} (${timeoutMs} ms) failed only after ${fmt(after)}`);
      ctx.note(`${what}: failed with ${e.code} after ${fmt(after)}`);
    };
    await check('short', 400, 'timeoutMs 400');
    // A late response for the request that timed out: dropped, no second settlement.
    const shortId = reqs.find((m) => (m.payload as { which?: string })?.which === 'short')?.id;
    if (shortId) c.send({ type: 'response', requestId: shortId, success: true, data: 'late' });
    c.send({ type: 'response', requestId: 'never-sent-by-you', success: true, data: 'unknown' });
    await check('default', ctx.params.requestTimeoutMs, 'the default timeout = advertised requestTimeoutMs');
    if (d.responses('short').length > 1) ctx.finding('REQ-5', 'a response that arrived after the request timed out was delivered to the application');
    // Still working after the late and unknown responses.
    await d.send({ cmd: 'request', ref: 'after', action: 'echo', payload: { ok: 1 }, timeoutMs: 2_000 });
    const ok = await d.waitEvent((e) => e.event === 'response' && e.ref === 'after', ctx.ms(3_000));
    if (!ok || ok.event !== 'response' || !ok.ok) ctx.finding('REQ-5', 'after a late and an unknown response, the next request did not succeed');
  },
};

const disconnect: ClientCaseDef = {
  id: 'req.disconnect',
  title: 'a request in flight when the connection ends fails with disconnected and is never sent again',
  rules: ['REQ-6', 'RECON-6'],
  async run(ctx) {
    const { d, c } = await ctx.connected();
    ctx.server.behaviour.request = (k, m) => {
      if (m.action === 'echo') k.send({ type: 'response', requestId: m.id, success: true, data: m.payload ?? null });
    };
    const nonce = `n${Math.random().toString(36).slice(2, 10)}`;
    await d.send({ cmd: 'request', ref: 'inflight', action: 'hold', payload: { nonce }, timeoutMs: 8_000 });
    if (!(await c.waitMsg('request', ctx.ms(2_000), (m) => m.action === 'hold'))) throw new Error('the client did not send the request');
    const after = ctx.server.conns.length;
    const t0 = Date.now();
    await closeAndTime(ctx, c, 1011, 'internal_error', 3 * ctx.settings.backoffCapMs + ctx.ms(3_000));
    const e = await d.waitEvent((x) => x.event === 'response' && x.ref === 'inflight', ctx.ms(2_000));
    if (!e || e.event !== 'response') ctx.finding('REQ-6', `the request pending when the connection ended was not failed within ${ctx.ms(2_000)} ms`);
    else if (e.ok) ctx.finding('REQ-6', 'the request pending when the connection ended resolved');
    else if (e.code !== 'disconnected') ctx.finding('REQ-6', `the request pending when the connection ended failed with "${e.code}", not "disconnected"`);
    else ctx.note(`failed with disconnected after ${fmt(e.at - t0)}`);
    const c2 = await nextAuthenticated(ctx, ctx.ms(5_000), after);
    if (!c2) throw new Error('the client did not reconnect');
    await ctx.sleep(ctx.ms(1_500));
    const again = ctx.server.conns.slice(after).flatMap((k) => k.messages()).filter((m) => m.type === 'request' && JSON.stringify(m.payload ?? null).includes(nonce));
    if (again.length) {
      ctx.finding('REQ-6', `the request in flight on the lost connection was sent again on a later connection (${again.length}×)`);
      ctx.finding('RECON-6', 'a message of an earlier session was replayed in a new one');
    }
  },
};

export const requestCases: ClientCaseDef[] = [timeouts, disconnect];
