/** Heartbeat: pings at the advertised interval, 4001 on a pong timeout, any traffic as liveness, liveness check. */
import type { ClientCaseDef } from '../context.js';
import { fmt } from './util.js';

const HB = { heartbeatIntervalMs: 500, heartbeatTimeoutMs: 400 };

const pongTimeout: ClientCaseDef = {
  id: 'hb.pong-timeout',
  title: 'pings every heartbeatIntervalMs; when nothing arrives within heartbeatTimeoutMs of a ping, closes with 4001 and reconnects',
  rules: ['HB-3', 'ERR-5'],
  params: HB,
  async run(ctx) {
    const { c } = await ctx.connected();
    await ctx.sleep(3 * HB.heartbeatIntervalMs + 100);
    const pings = c.frames.filter((f) => f.msg?.type === 'ping');
    const authAt = c.authenticatedAt!;
    if (!pings.length) return ctx.finding('HB-3', `no ping within ${3 * HB.heartbeatIntervalMs + 100} ms of authenticated (advertised heartbeatIntervalMs ${HB.heartbeatIntervalMs})`);
    if (pings[0]!.at - authAt > HB.heartbeatIntervalMs + ctx.slack) ctx.finding('HB-3', `the first ping came ${fmt(pings[0]!.at - authAt)} after authenticated (heartbeatIntervalMs ${HB.heartbeatIntervalMs})`);
    if (pings.length < 2) ctx.finding('HB-3', `only ${pings.length} ping in ${3 * HB.heartbeatIntervalMs} ms (heartbeatIntervalMs ${HB.heartbeatIntervalMs})`);
    // Now the server goes silent: no pong, nothing else.
    ctx.server.behaviour.pong = false;
    const from = c.frames.length;
    const ping = await c.waitFrame((f) => f.msg?.type === 'ping', HB.heartbeatIntervalMs + ctx.slack, from);
    if (!ping) return ctx.finding('HB-3', 'the client stopped pinging');
    const attempts = ctx.server.attempts.length;
    const closed = await c.waitClosed(HB.heartbeatTimeoutMs + ctx.slack + ctx.ms(600));
    if (!closed || !c.clientClose) return ctx.finding('HB-3', `no pong came for ${HB.heartbeatTimeoutMs + ctx.slack + 600} ms after a ping (heartbeatTimeoutMs ${HB.heartbeatTimeoutMs}) and the client kept the connection`);
    const after = c.clientClose.at - ping.at;
    ctx.note(`closed ${c.clientClose.code} "${c.clientClose.reason}" ${fmt(after)} after the unanswered ping`);
    if (after < HB.heartbeatTimeoutMs - 15) ctx.finding('HB-3', `the client closed ${fmt(after)} after its ping, before heartbeatTimeoutMs (${HB.heartbeatTimeoutMs})`);
    if (c.clientClose.code !== 4001) {
      ctx.finding('HB-3', `the client closed the dead connection with ${c.clientClose.code}, not 4001`);
      ctx.finding('ERR-5', `a heartbeat timeout was closed with ${c.clientClose.code}; the registry names 4001 heartbeat_timeout`);
    }
    ctx.server.behaviour.pong = true;
    const again = await ctx.server.nextAttempt(3 * ctx.settings.backoffCapMs + ctx.ms(2_000), attempts);
    if (!again) ctx.finding('HB-3', 'after closing with 4001 the client did not reconnect');
  },
};

const traffic: ClientCaseDef = {
  id: 'hb.any-traffic',
  title: 'any inbound message counts as liveness: pushes without pongs keep the connection',
  rules: ['HB-4'],
  params: HB,
  async run(ctx) {
    const { d, c } = await ctx.connected();
    await d.send({ cmd: 'subscribe', channel: 'beat' });
    await c.waitMsg('subscribe', ctx.ms(2_000), (m) => m.channel === 'beat');
    ctx.server.behaviour.pong = false;
    const until = Date.now() + 5 * HB.heartbeatIntervalMs;
    let n = 0;
    while (Date.now() < until && c.open) {
      ctx.server.publish('beat', ++n);
      await ctx.sleep(120);
    }
    if (!c.open) return ctx.finding('HB-4', `the client closed a connection that delivered a push every 120 ms (${c.clientClose ? `${c.clientClose.code}` : 'no close frame'}): it waited for a pong although messages kept arriving`);
    ctx.note(`${n} pushes, no pong, connection kept for ${5 * HB.heartbeatIntervalMs} ms`);
    // Control frames only: WebSocket pings, no message. HB-4 counts them too, but a browser page
    // cannot see them (the browser answers them itself), so this clause is only observed.
    const until2 = Date.now() + 4 * HB.heartbeatIntervalMs;
    while (Date.now() < until2 && c.open) {
      c.wsPing();
      await ctx.sleep(120);
    }
    if (!c.open) ctx.info('HB-4', 'with WebSocket ping frames arriving but no message, the client declared the connection dead (expected of browser clients, which cannot see control frames)');
    else ctx.note('WebSocket ping frames alone also kept the connection');
  },
};

const liveness: ClientCaseDef = {
  id: 'hb.liveness-check',
  title: 'when the page becomes visible again (or the device resumes) the client pings at once',
  rules: ['HB-6'],
  params: { heartbeatIntervalMs: 20_000, heartbeatTimeoutMs: 1_000 },
  async run(ctx) {
    const { d, c } = await ctx.connected();
    await ctx.sleep(300);
    const visibility = d.ready?.features?.includes('visibility');
    const from = c.frames.length;
    let t0 = Date.now();
    if (visibility) {
      const hidden = await d.send({ cmd: 'visibility', state: 'hidden' });
      await ctx.sleep(200);
      t0 = Date.now();
      const shown = await d.send({ cmd: 'visibility', state: 'visible' });
      if (hidden?.error || shown?.error) ctx.skip(`the driver could not simulate visibility: ${hidden?.error ?? shown?.error}`);
    } else {
      const ack = await d.send({ cmd: 'liveness' });
      if (!ack || ack.error) ctx.skip(`the driver supports neither "visibility" nor "liveness"${ack?.error ? ` (${ack.error})` : ''}`);
    }
    const ping = await c.waitFrame((f) => f.msg?.type === 'ping', ctx.ms(1_000), from);
    if (!ping) ctx.finding('HB-6', `no ping within ${ctx.ms(1_000)} ms of the page becoming visible / the device resuming (the next scheduled ping is ${20_000} ms away)`);
    else ctx.note(`pinged ${fmt(ping.at - t0)} after ${visibility ? 'visibilitychange' : 'the liveness command'}`);
  },
};

export const heartbeatCases: ClientCaseDef[] = [pongTimeout, traffic, liveness];
