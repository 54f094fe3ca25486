/** Robustness and the rules of every message: hostile frames, invalid authenticated, unknown properties, own closes. */
import type { ClientCaseDef } from '../context.js';
import { fmt, nextAuthenticated } from './util.js';

/** Frames a broken or hostile server might send; each is followed by a valid push the client must deliver. */
const battery = (ch: string): (string | Buffer)[] => [
  '{', '', 'null', '42', '"push"', '[]', '{}', '{"type":5}', '{"type":"nope"}', '{"type":"__proto__"}', '{"type":"constructor"}',
  `{"type":"push","channel":"${ch}","data":1,"ts":1}`,
  `{"type":"push","channel":"${ch}","data":1,"ts":1,"position":{"epoch":"x","offset":-1}}`,
  `{"type":"push","channel":"${ch}","data":1,"ts":1,"position":"x:1"}`,
  `{"type":"push","channel":"${ch}","ts":1,"position":{"epoch":"x","offset":1}}`,
  `{"type":"push","channel":"${ch}","data":1,"ts":"now","position":{"epoch":"x","offset":1}}`,
  `{"type":"push","channel":"${ch}","data":1,"ts":1,"position":{"epoch":"","offset":1}}`,
  '{"type":"push","channel":".bad","data":1,"ts":1,"position":{"epoch":"x","offset":1}}',
  '{"type":"push","channel":"not-subscribed","data":1,"ts":1,"position":{"epoch":"x","offset":1}}',
  '{"type":"response","requestId":"r1","success":false}',
  '{"type":"response","requestId":"1","success":false}',
  '{"type":"response","success":true}',
  '{"type":"response","requestId":"r1","success":"yes"}',
  '{"type":"response","requestId":"","success":true}',
  `{"type":"subscribed","channel":"${ch}"}`,
  `{"type":"subscribed","channel":"${ch}","position":{"epoch":"x","offset":0},"resume":"maybe"}`,
  '{"type":"unsubscribed"}',
  '{"type":"token_expiring"}',
  '{"type":"token_expiring","expiresAt":"soon"}',
  '{"type":"error"}',
  '{"type":"error","code":7,"message":"x"}',
  '{"type":"pong","ts":"x"}',
  `{"type":"push","channel":"other","data":1,"ts":1,"position":{"epoch":"x","offset":1},"__proto__":{"polluted":true}}`,
  `[${'['.repeat(3000)}${']'.repeat(3000)}]`,
  `{"type":"push","channel":"other","data":"${'x'.repeat(200_000)}","ts":1,"position":{"epoch":"x","offset":1}}`,
  Buffer.from([0, 1, 2, 3, 255]),
];

const frames: ClientCaseDef = {
  id: 'robust.invalid-frames',
  title: 'a battery of schema-invalid and hostile frames never crashes or stalls the client: each is ignored and the next valid push is delivered',
  rules: ['ROBUST-1'],
  timeoutMs: 30_000,
  async run(ctx) {
    const { d, c } = await ctx.connected();
    const ch = 'canary';
    await d.send({ cmd: 'subscribe', channel: ch });
    await c.waitMsg('subscribe', ctx.ms(2_000), (m) => m.channel === ch);
    await ctx.sleep(100);
    const list = battery(ch);
    let stalled = 0;
    for (const f of list) {
      const shown = typeof f === 'string' ? (f.length > 60 ? `${f.slice(0, 57)}…` : f || '(empty)') : '<binary frame>';
      if (!c.open) {
        ctx.finding('ROBUST-1', `the connection was closed${c.clientClose ? ` by the client (${c.clientClose.code})` : ''} before the frame ${shown}`);
        break;
      }
      if (typeof f === 'string') c.send(f);
      else c.sendBinary(f);
      const pos = ctx.server.publish(ch, { canary: pos0() });
      const got = await d.waitEvent((e) => e.event === 'push' && e.channel === ch && e.position.offset === pos.offset && e.position.epoch === pos.epoch, ctx.ms(1_500));
      if (!d.alive) {
        ctx.finding('ROBUST-1', `the client process exited (code ${d.exited?.code}) after the frame ${shown}`);
        return;
      }
      if (!got) {
        stalled++;
        ctx.finding('ROBUST-1', `after the frame ${shown} the client did not deliver the next valid push within ${ctx.ms(1_500)} ms (stalled)`);
        if (stalled >= 3) break;
      }
    }
    const wrong = d.of('push').filter((e) => e.channel !== ch || typeof (e.data as { canary?: unknown })?.canary !== 'number');
    if (wrong.length) ctx.finding('ROBUST-1', `the client delivered ${wrong.length} invalid or foreign push(es) to the application, e.g. ${JSON.stringify(wrong[0]).slice(0, 120)}`);
    if (({} as Record<string, unknown>).polluted !== undefined) ctx.finding('ROBUST-1', 'prototype polluted');
    if (c.clientClose) ctx.finding('ROBUST-1', `the client closed the connection (${c.clientClose.code}) while receiving invalid frames`);
    await d.send({ cmd: 'request', ref: 'alive', action: 'echo', payload: { alive: true }, timeoutMs: 2_000 });
    const ok = await d.waitEvent((e) => e.event === 'response' && e.ref === 'alive', ctx.ms(3_000));
    if (!ok || ok.event !== 'response' || !ok.ok) ctx.finding('ROBUST-1', 'after the battery a request did not succeed');
    ctx.note(`${list.length} hostile frames, each followed by a delivered push`);
  },
};
let canary = 0;
const pos0 = () => ++canary;

const authenticated: ClientCaseDef = {
  id: 'robust.invalid-authenticated',
  title: 'an authenticated that fails the schema (params {}; a second one without params) is a failed attempt: close and reconnect, never a silent reset',
  rules: ['ROBUST-2'],
  async run(ctx) {
    let bad = true;
    ctx.server.behaviour.auth = (c, _t, reauth) => {
      if (!reauth && bad) c.send({ type: 'authenticated', userId: 'u', sessionId: c.sessionId, protocol: 'mooring.v1', params: {} });
      else c.authenticate();
    };
    const d = await ctx.driver();
    await d.connect(ctx.server.url, ctx.settings);
    const c1 = await ctx.server.nextConn(ctx.ms(5_000), 0);
    if (!c1) throw new Error('the client did not connect');
    await c1.waitMsg('auth', ctx.ms(3_000));
    const closed = await c1.waitClosed(ctx.ms(1_500));
    const sentAfter = c1.messages().filter((m) => m.type !== 'auth').map((m) => m.type);
    if (!closed) ctx.finding('ROBUST-2', `after an authenticated with params {} the client kept the connection for ${ctx.ms(1_500)} ms${sentAfter.length ? ` and used it (${sentAfter.join(', ')})` : ''}`);
    bad = false;
    if (closed) {
      const c2 = await nextAuthenticated(ctx, 3 * ctx.settings.backoffCapMs + ctx.ms(3_000), 1);
      if (!c2) return ctx.finding('ROBUST-2', 'after closing on an invalid authenticated the client did not reconnect');
      ctx.note(`closed the connection after the invalid authenticated (${c1.clientClose?.code ?? 'no close frame'}) and reconnected`);
    }
    const c = ctx.server.conns.at(-1)!;
    if (!c.authenticatedAt) await nextAuthenticated(ctx, ctx.ms(5_000), ctx.server.conns.length);
    const live = ctx.server.conns.at(-1)!;
    await ctx.sleep(100);
    const n = ctx.server.conns.length;
    live.send({ type: 'authenticated', userId: 'u', sessionId: live.sessionId });
    const closed2 = await live.waitClosed(ctx.ms(1_500));
    if (!closed2) ctx.finding('ROBUST-2', 'after a second authenticated without params (protocol, params missing) the client kept the connection');
    else if (!(await ctx.server.nextConn(3 * ctx.settings.backoffCapMs + ctx.ms(3_000), n))) ctx.finding('ROBUST-2', 'after closing on an invalid re-authentication the client did not reconnect');
  },
};

const unknownProps: ClientCaseDef = {
  id: 'ver.unknown-props',
  title: 'unknown properties in authenticated, params, subscribed, push and response are ignored',
  rules: ['VER-7'],
  async run(ctx) {
    ctx.server.behaviour.auth = (c) => c.authenticate({ ...ctx.params, futureParam: 7 } as never, { futureField: { nested: [1, 2] } });
    ctx.server.behaviour.subscribe = (c, m) => c.send({ type: 'subscribed', channel: m.channel, position: { epoch: 'v7', offset: 0 }, hint: 'x' });
    ctx.server.behaviour.request = (c, m) => c.send({ type: 'response', requestId: m.id, success: true, data: m.payload ?? null, cost: 3 });
    const { d, c } = await ctx.connected();
    await ctx.sleep(100);
    if (!c.open) return ctx.finding('VER-7', 'the client closed the connection after an authenticated with unknown properties');
    await d.send({ cmd: 'subscribe', channel: 'v7' });
    await c.waitMsg('subscribe', ctx.ms(2_000), (m) => m.channel === 'v7');
    await ctx.sleep(100);
    c.send({ type: 'push', channel: 'v7', data: 'x', position: { epoch: 'v7', offset: 1 }, ts: Date.now(), priority: 'high' });
    if (!(await d.waitEvent((e) => e.event === 'push' && e.channel === 'v7', ctx.ms(1_500)))) ctx.finding('VER-7', 'a push with an unknown property was not delivered');
    await d.send({ cmd: 'request', ref: 'v7', action: 'echo', payload: 1, timeoutMs: 2_000 });
    const r = await d.waitEvent((e) => e.event === 'response' && e.ref === 'v7', ctx.ms(3_000));
    if (!r || r.event !== 'response' || !r.ok) ctx.finding('VER-7', 'a response with an unknown property did not resolve the request');
  },
};

const ownClose: ClientCaseDef = {
  id: 'err.client-close',
  title: 'when the application closes the client, it closes with 1000 and a registry reason, and does not reconnect',
  rules: ['ERR-5', 'ERR-6'],
  async run(ctx) {
    const { d, c } = await ctx.connected();
    await ctx.sleep(100);
    const n = ctx.server.attempts.length;
    await d.send({ cmd: 'close' });
    const closed = await c.waitClosed(ctx.ms(2_000));
    if (!closed) return ctx.finding('ERR-5', 'after the close command the client did not close its connection');
    if (!c.clientClose) return;
    if (c.clientClose.code !== 1000) ctx.finding('ERR-5', `the application's close went out as ${c.clientClose.code}, not 1000 normal_closure`);
    ctx.note(`closed with ${c.clientClose.code} "${c.clientClose.reason}"`);
    await ctx.sleep(2 * ctx.settings.backoffCapMs + 200);
    if (ctx.server.attempts.length > n) ctx.info('ERR-5', `the client reconnected ${fmt(ctx.server.attempts[n]!.at - c.clientClose.at)} after the application closed it`);
  },
};

export const robustCases: ClientCaseDef[] = [frames, authenticated, unknownProps, ownClose];
