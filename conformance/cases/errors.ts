/** Errors: ERR-1, ERR-2, ERR-3, ERR-4 (ERR-5 is judged across the run in meta.ts). */
import { isChannelName } from '../../schemas/v1/index.js';
import type { CaseDef } from '../types.js';
import { collectPushes, grace } from './util.js';

const INVALID_MESSAGES: [string, string | object][] = [
  ['an unknown type', { type: 'no_such_type' }],
  ['no type', { hello: 1 }],
  ['an array', '[]'],
  ['a string', '"text"'],
  ['a number', '42'],
  ['null', 'null'],
  ['a request without id', { type: 'request', action: 'echo' }],
  ['a request with an empty id', { type: 'request', id: '', action: 'echo' }],
  ['a request id over 64 chars', { type: 'request', id: 'i'.repeat(65), action: 'echo' }],
  ['a request with an action outside the grammar', { type: 'request', id: 'bad-action', action: '1 bad action' }],
  ['a request with an action starting with a digit', { type: 'request', id: 'bad-action', action: '1action' }],
  ['a request with an action starting with a separator', { type: 'request', id: 'bad-action', action: '.action' }],
  ['an auth with a token over 512 characters', { type: 'auth', token: 't'.repeat(513) }],
  ['a subscribe with a negative since offset', { type: 'subscribe', channel: 'ok', since: { epoch: 'e', offset: -1 } }],
  ['a subscribe with a fractional since offset', { type: 'subscribe', channel: 'ok', since: { epoch: 'e', offset: 1.5 } }],
  ['a subscribe with a number channel', { type: 'subscribe', channel: 5 }],
  ['a subscribe with a bad since', { type: 'subscribe', channel: 'ok', since: { epoch: 1 } }],
  ['an auth without token', { type: 'auth' }],
  ['a type of the wrong kind', { type: 7 }],
];

export const errorCases: CaseDef[] = [
  {
    id: 'err.invalid-json',
    title: 'answers a text frame that is not JSON with error invalid_json and stays open',
    rules: ['ERR-1'],
    async run(ctx) {
      const c = await ctx.session(0);
      // NaN and Infinity are not JSON (RFC 8259), whatever a language's parser accepts.
      for (const text of ['not json', '{"type":', "{'type':'ping'}", '', '{"type":"request","id":"nan","action":"echo","payload":NaN}', '{"type":"request","id":"inf","action":"echo","payload":Infinity}']) {
        await c.send(text);
        const e = await c.next('error', { what: `an error for ${JSON.stringify(text)}` });
        ctx.check('ERR-1', e.code === 'invalid_json', `${JSON.stringify(text)} answered code "${e.code}", expected invalid_json`);
      }
      await ctx.expectAlive(c, 'ERR-1', 'after invalid JSON');
    },
  },
  {
    id: 'err.invalid-message',
    title: 'answers a schema-invalid message with error invalid_message and stays open',
    rules: ['ERR-2'],
    timeoutMs: (p) => 15_000 + Math.ceil(24 / Math.max(1, p.rateLimit.messages - 4)) * p.rateLimit.windowMs * 1.3,
    async run(ctx) {
      const c = await ctx.session(0);
      let wait = ctx.waitMs;
      for (const [what, m] of INVALID_MESSAGES) {
        await c.send(m);
        const e = await c.next('error', { what: `an error for ${what}`, timeoutMs: wait }).catch((err: Error) => {
          ctx.finding('ERR-2', err.message);
          wait = grace(ctx); // one missing answer is enough to judge; do not wait the full time for each
          return undefined;
        });
        if (e) ctx.check('ERR-2', e.code === 'invalid_message', `${what} answered code "${e.code}", expected invalid_message`);
        if (!c.isOpen) break;
      }
      await ctx.expectAlive(c, 'ERR-2', 'after schema-invalid messages');
      // ERR-2.c: a request that fails the schema is not a request: it gets no response.
      await ctx.sleep(grace(ctx));
      const answered = c.received((m) => m.type === 'response' && (m.requestId === '' || m.requestId === 'i'.repeat(65) || m.requestId === 'bad-action'));
      ctx.check('ERR-2', answered.length === 0, `a schema-invalid request got a response: ${String(JSON.stringify(answered[0])).slice(0, 120)}`);
    },
  },
  {
    id: 'err.codes',
    title: 'error codes are the registry strings for each condition; messages carry no internals',
    rules: ['ERR-3'],
    needs: ['tokens:2'],
    async run(ctx) {
      const c = await ctx.session(0);
      const expect = async (what: string, send: object | string | Buffer, code: string, where: 'error' | 'response') => {
        await c.send(send);
        const m = await c.waitFor((x) => x.type === 'error' || (x.type === 'response' && x.success === false), ctx.waitMs, `the ${code} answer to ${what}`);
        const got = m.type === 'error' ? m.code : m.type === 'response' && !m.success ? m.error.code : '?';
        ctx.check('ERR-3', got === code && m.type === where, `${what} answered ${m.type} "${got}", expected ${where} "${code}"`);
      };
      await expect('invalid JSON', '{', 'invalid_json', 'error');
      await expect('an unknown type', { type: 'nope' }, 'invalid_message', 'error');
      await expect('a binary frame', Buffer.from('{}'), 'binary_not_supported', 'error');
      await expect('an unknown action', { type: 'request', id: 'e1', action: 'nope_nope' }, 'unknown_action', 'response');
      await expect('a bad sleep payload', { type: 'request', id: 'e2', action: 'sleep', payload: { ms: 'x' } }, 'invalid_payload', 'response');
      if (isChannelName(`user:${ctx.users[1]}`)) {
        await expect('another user\'s channel', { type: 'subscribe', channel: `user:${ctx.users[1]}` }, 'forbidden', 'error');
      }
      ctx.note(`codes seen so far in the run: ${[...ctx.env.state.errorCodes.keys()].join(', ')}`);
    },
  },
  {
    id: 'err.isolation',
    title: 'a barrage of bad input on one connection neither crashes the server nor disturbs another connection',
    rules: ['ERR-4'],
    needs: ['tokens:2'],
    timeoutMs: (p) => 20_000 + p.rateLimit.windowMs * 3,
    async run(ctx) {
      const ch = ctx.channel();
      const other = await ctx.session(1);
      await other.subscribe(ch);
      const bad = await ctx.session(0);
      const deep = `${'['.repeat(5000)}${']'.repeat(5000)}`;
      const barrage: (string | Buffer | object)[] = [
        '{', deep, Buffer.from([0xff, 0xfe, 0x00]), '{"type":"request","id":"a","action":"echo","payload":1e999}',
        '{"type":"request","id":"p","action":"echo","payload":{"__proto__":{"polluted":true}}}', '{"type":"request","id":"c","action":"constructor","payload":{}}',
        '{"type":"request","id":"t","action":"toString"}', '{"type":"request","id":"h","action":"hasOwnProperty"}',
        '{"type":"subscribe","channel":"__proto__"}', '{"type":"ping","type":"auth"}', '"\\ud800"', '{"type":"\\u0000"}',
        { type: 'request', id: 'n', action: 'sleep', payload: { ms: -1 } }, { type: 'request', id: 'm', action: 'sleep', payload: { ms: 1e12 } },
        { type: 'request', id: 'q', action: 'publish', payload: { channel: '../../etc', data: 1 } }, { type: 'unsubscribe', channel: 'never-subscribed' },
        `{"type":"request","id":"u","action":"echo","payload":"${'\u202e'.repeat(100)}"}`,
      ];
      // Only inputs within maxPayloadBytes: a larger one closes with 1009 by right (LIMIT-1).
      const fits = (m: string | Buffer | object) => (typeof m === 'string' ? Buffer.byteLength(m) : Buffer.isBuffer(m) ? m.length : JSON.stringify(m).length) <= ctx.params.maxPayloadBytes;
      const usable = barrage.filter(fits);
      const budget = Math.max(4, ctx.params.rateLimit.messages - 8);
      const n = Math.min(usable.length, budget);
      let pushes = 0;
      for (let i = 0; i < n; i++) {
        if (!bad.isOpen) break;
        await bad.send(usable[i]!);
        if (i % 4 === 3) {
          await ctx.expectAlive(other, 'ERR-4', `the other connection during the barrage (after ${i + 1} bad messages)`);
          await other.publish(ch, i);
          pushes++;
        }
      }
      const got = await collectPushes(other, ch, pushes, ctx.waitMs);
      ctx.check('ERR-4', got.length === pushes, `the other connection received ${got.length} of ${pushes} pushes`);
      ctx.check('ERR-4', other.isOpen, `the other connection closed (${other.closed?.code})`);
      const stray = other.received((m) => m.type === 'error');
      ctx.check('ERR-4', stray.length === 0, `the other connection received ${stray.length} error(s) caused by the bad input: ${String(JSON.stringify(stray[0])).slice(0, 120)}`);
      ctx.check('ERR-4', bad.closed?.code !== 1011 && other.closed?.code !== 1011, 'a connection closed with 1011 after client input');
      ctx.check('ERR-4', bad.isOpen, `the connection sending bad input was closed (${bad.closed?.code} "${bad.closed?.reason ?? ''}"); every input sent is non-fatal`);
      const fresh = await ctx.tryConnect();
      ctx.check('ERR-4', fresh.status === 101, `a new connection after the barrage got ${fresh.status || fresh.body}`);
      ctx.note(`${n} bad messages; ${pushes} pushes delivered to the other connection meanwhile`);
    },
  },
  {
    id: 'err.close-reasons',
    title: 'close reasons are empty or "<registry name>[;retry=<ms>]", at most 123 bytes',
    rules: ['ERR-6'],
    async run(ctx) {
      // Provoke the server's closes the suite can trigger quickly; the wire toolkit checks each
      // reason (ERR-6) as it does throughout the run.
      const seen: string[] = [];
      const a = await ctx.connect();
      await a.send({ type: 'ping' });
      const c1 = await ctx.expectClose(a, 4400, { rule: 'ERR-6', what: 'close 4400 (to read its reason)' });
      const b = await ctx.connect();
      await b.send({ type: 'auth', token: 'no-such-token-for-err-6' });
      const c2 = await ctx.expectClose(b, 4401, { rule: 'ERR-6', what: 'close 4401 (to read its reason)' });
      let c3;
      if (ctx.params.sessionPolicy === 'single') {
        const older = await ctx.session(0);
        await ctx.session(0);
        c3 = await ctx.expectClose(older, 4002, { rule: 'ERR-6', what: 'close 4002 (to read its reason)' });
      }
      for (const c of [c1, c2, c3]) if (c) seen.push(`${c.code} "${c.reason}"`);
      ctx.note(`reasons seen: ${seen.join(', ')}`);
    },
  },
];
