/** Transport and versioning: VER-2, VER-3, VER-4, VER-6, VER-7. */
import { SUBPROTOCOL } from '../../schemas/v1/index.js';
import type { CaseDef } from '../types.js';

export const versionCases: CaseDef[] = [
  {
    id: 'ver.select',
    title: 'selects mooring.v1 when the client offers it (alone or among others)',
    rules: ['VER-2'],
    async run(ctx) {
      for (const protocols of [[SUBPROTOCOL], ['x-unknown.v9', SUBPROTOCOL]]) {
        const r = await ctx.tryConnect({ protocols });
        if (!ctx.check('VER-2', r.status === 101, `offering ${protocols.join(', ')}: handshake answered ${r.status || r.body}`)) continue;
        ctx.check('VER-2', r.conn!.protocol === SUBPROTOCOL, `offering ${protocols.join(', ')}: selected "${r.conn!.protocol}"`);
        r.conn!.close();
      }
    },
  },
  {
    id: 'ver.unknown-only',
    title: 'refuses with HTTP 400 a client offering only unknown subprotocols',
    rules: ['VER-3'],
    async run(ctx) {
      for (const protocols of [['x-unknown.v9'], ['x-unknown.v9', 'mooring.v2'], ['Mooring.v1']]) {
        const r = await ctx.tryConnect({ protocols });
        r.conn?.close();
        ctx.check('VER-3', r.status === 400, r.status === 101 ? `offering ${protocols.join(', ')}: accepted the upgrade (selected "${r.conn!.protocol || 'none'}")` : `offering ${protocols.join(', ')}: answered HTTP ${r.status || r.body}, expected 400`);
      }
    },
  },
  {
    id: 'ver.none-offered',
    title: 'accepts a client offering no subprotocol and speaks v1 to it',
    rules: ['VER-4'],
    async run(ctx) {
      const r = await ctx.tryConnect({ protocols: null });
      ctx.require('VER-4', r.status === 101, `refused a client with no subprotocol: HTTP ${r.status || r.body}`);
      const m = await r.conn!.auth(ctx.tokens[0]!);
      ctx.check('VER-4', m.protocol === SUBPROTOCOL, `authenticated.protocol is "${m.protocol}"`);
      // VER-4.b: it speaks v1: requests are answered.
      await ctx.expectAlive(r.conn!, 'VER-4', 'a connection that offered no subprotocol');
    },
  },
  {
    id: 'ver.binary',
    title: 'answers a binary frame with error binary_not_supported and stays open',
    rules: ['VER-6'],
    async run(ctx) {
      const c = await ctx.session(0);
      await c.send(Buffer.from(JSON.stringify({ type: 'ping' })));
      const e = await c.next('error', { what: 'an error for the binary frame' });
      ctx.check('VER-6', e.code === 'binary_not_supported', `error code "${e.code}", expected binary_not_supported`);
      await ctx.expectAlive(c, 'VER-6', 'after a binary frame');
      // VER-6.c: before authentication too (the auth deadline still runs).
      const d = await ctx.connect();
      d.sendNow(Buffer.from([0x00, 0x01, 0x02]));
      const e2 = await d.next('error', { what: 'an error for a binary frame sent before auth' }).catch((err: Error) => err);
      if (e2 instanceof Error) {
        const t = ctx.params.authTimeoutMs;
        if (d.closed?.code === 4408 && d.closed.atMs >= t - ctx.tolerance(t)) ctx.inconclusive('the auth deadline closed the connection before the answer');
        ctx.finding('VER-6', `a binary frame before auth: ${e2.message}`);
        return;
      }
      ctx.check('VER-6', e2.code === 'binary_not_supported', `a binary frame before auth answered error "${e2.code}", expected binary_not_supported`);
      await d.auth(ctx.tokens[0]!).catch((err: Error) => ctx.finding('VER-6', `after a binary frame before auth the connection could not authenticate: ${err.message}`));
    },
  },
  {
    id: 'ver.unknown-properties',
    title: 'ignores unknown properties in known messages',
    rules: ['VER-7'],
    async run(ctx) {
      const c = await ctx.connect();
      await c.auth(ctx.tokens[0]!, { x_future: { any: 1 } });
      await c.send({ type: 'request', id: 'v7', action: 'echo', payload: { a: 1 }, x_future: true });
      const r = await c.next('response', { where: (m) => m.requestId === 'v7' });
      ctx.check('VER-7', r.success === true, `a request with an unknown property failed: ${JSON.stringify(r)}`);
      await c.send({ type: 'ping', x_future: 1 });
      await c.next('pong', { what: 'a pong to a ping with an unknown property' });
      const ch = ctx.channel();
      await c.send({ type: 'subscribe', channel: ch, x_future: 'y' });
      await c.next('subscribed', { where: (m) => m.channel === ch });
      await c.send({ type: 'unsubscribe', channel: ch, x_future: [1, 2] });
      await c.next('unsubscribed', { where: (m) => m.channel === ch, what: 'an unsubscribed to an unsubscribe with an unknown property' });
      await c.send({ type: 'subscribe', channel: ch, since: { epoch: 'x-future-epoch', offset: 0, x_future: true } });
      await c.next('subscribed', { where: (m) => m.channel === ch, what: 'a subscribed to a subscribe whose since has an unknown property' });
      ctx.check('VER-7', c.received((m) => m.type === 'error').length === 0, 'the server answered an error to a message with an unknown property');
    },
  },
];
