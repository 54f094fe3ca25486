/**
 * Judgements across the whole run (they run last): VER-5 (every frame the server sent was a JSON
 * text frame that passes the schema), ERR-3 (codes from the registry, no internals), ERR-5 (close
 * codes from the registry for the conditions it names).
 */
import { closeCodeInfo, parseCloseReason } from '../../schemas/v1/index.js';
import { paddedEcho } from './util.js';
import type { CaseContext } from '../context.js';
import type { CaseDef } from '../types.js';

/**
 * When a meta case runs without the cases it judges (a selection of its rule alone), it makes the
 * server answer a little of everything first, so that it still has something to judge: a pong, a
 * response, a failed response, a subscribe and a push, the three input errors, and the closes of
 * AUTH-3 and AUTH-4 (and SESS-1 under the single policy).
 */
/**
 * With `mooring test URL --server-cmd CMD` the URL is the controlled server, which the shutdown cases
 * leave stopped: start it again before a meta case connects (the CLI stops it at the end).
 */
async function serverUp(ctx: CaseContext): Promise<void> {
  const ctl = ctx.env.caps.serverControl;
  if (ctl && !ctl.running() && new URL(ctl.url).host === new URL(ctx.env.url).host) await ctl.start();
}

async function exercise(ctx: CaseContext): Promise<void> {
  // The server may be gone for good (stopped, not under the suite's control): nothing more to exercise.
  await serverUp(ctx);
  await exerciseOnce(ctx).catch((e: Error) => ctx.note(`could not exercise the server: ${e.message}`));
}

async function exerciseOnce(ctx: CaseContext): Promise<void> {
  const c = await ctx.session(0);
  await c.send({ type: 'ping' });
  await c.next('pong');
  const ch = ctx.channel();
  await c.subscribe(ch);
  await c.publish(ch, { meta: true });
  await c.next('push', { where: (m) => m.channel === ch });
  await c.request('no_such_action_meta');
  for (const bad of ['not json', '{"type":"nope"}', Buffer.from('{}')]) {
    await c.send(bad);
    await c.next('error');
  }
  await ctx.sleep(100);
  ctx.expectedCloses.push(4400, 4401, 4002);
  const a = await ctx.connect();
  await a.send({ type: 'ping' });
  const b = await ctx.connect();
  await b.send({ type: 'auth', token: 'mooring-conformance-not-a-token' });
  await Promise.all([a.waitClose(ctx.waitMs), b.waitClose(ctx.waitMs)]);
  if (ctx.params.sessionPolicy === 'single') {
    await ctx.session(0);
    await c.waitClose(ctx.waitMs);
  }
}

/**
 * ERR-6 covers every close reason, the hint-carrying ones most of all: when the run saw no 4429 (its
 * rate cases were not selected) or no 1009, provoke one so that its reason is judged too. This runs
 * last, so the user it rate-limits costs no other case anything.
 */
async function provokeCloses(ctx: CaseContext): Promise<void> {
  await serverUp(ctx);
  await provokeOnce(ctx).catch((e: Error) => ctx.note(`could not provoke closes: ${e.message}`));
}

async function provokeOnce(ctx: CaseContext): Promise<void> {
  const seen = new Set(ctx.env.state.closes.filter((c) => c.frame && !c.byClient).map((c) => c.code));
  const { maxPayloadBytes, rateLimit } = ctx.params;
  if (!seen.has(1009) && maxPayloadBytes <= 16 * 1024 * 1024) {
    ctx.expectedCloses.push(1009);
    const c = await ctx.session(0);
    await c.send(paddedEcho('meta-over', maxPayloadBytes + 1));
    await c.waitClose(ctx.waitMs);
  }
  if (!seen.has(4429) && rateLimit.messages < 5000) {
    ctx.expectedCloses.push(4429);
    const i = ctx.tokens.length >= 2 ? 1 : 0;
    const u = ctx.users[i]!;
    await ctx.sleep(ctx.env.governor.clearInMs(u));
    const c = await ctx.session(i);
    ctx.env.governor.note(u, rateLimit.messages + 1);
    for (let k = 0; k <= rateLimit.messages && c.isOpen; k++) c.sendNow({ type: 'ping' });
    const seen4429 = await c.waitClose(ctx.waitMs);
    ctx.env.governor.block(u, (seen4429 ? parseCloseReason(seen4429.reason).retryAfterMs ?? 0 : 0) + rateLimit.windowMs);
  }
}

export const metaCases: CaseDef[] = [
  {
    id: 'meta.frames',
    title: 'every frame the server sent during the run was a valid JSON text message',
    rules: ['VER-5'],
    phase: 'meta',
    async run(ctx) {
      // Always: the run may not have made the server send every kind of message (a response, a push,
      // an error), and each must be a JSON text frame.
      await exercise(ctx);
      const v = ctx.env.state.violations.filter((x) => x.rule === 'VER-5');
      for (const x of v.slice(0, 10)) ctx.finding('VER-5', `${x.caseId}: ${x.message}`);
      if (ctx.env.state.frames === 0) ctx.info('no frame was received during the run: select more cases to judge VER-5', 'VER-5');
      else if (!v.length) ctx.note(`${ctx.env.state.frames} frames, none invalid`);
    },
  },
  {
    id: 'meta.error-codes',
    title: 'every error code seen during the run is a server code of the registry, with no internals',
    rules: ['ERR-3'],
    phase: 'meta',
    async run(ctx) {
      if (ctx.env.state.errorCodes.size === 0) await exercise(ctx);
      const v = ctx.env.state.violations.filter((x) => x.rule === 'ERR-3');
      for (const x of v.slice(0, 10)) ctx.finding('ERR-3', `${x.caseId}: ${x.message}`);
      ctx.note(`codes seen: ${[...ctx.env.state.errorCodes.keys()].sort().join(', ') || 'none'}`);
    },
  },
  {
    id: 'meta.close-codes',
    title: 'every close code the server sent during the run is in the registry and fit the condition',
    rules: ['ERR-5'],
    phase: 'meta',
    async run(ctx) {
      if (!ctx.env.state.closes.some((c) => c.frame && !c.byClient)) await exercise(ctx);
      const server = ctx.env.state.closes.filter((c) => c.frame && !c.byClient);
      const codes = new Map<number, string[]>();
      for (const c of server) codes.set(c.code, [...new Set([...(codes.get(c.code) ?? []), c.caseId])]);
      for (const [code, cases] of codes) {
        const info = closeCodeInfo(code);
        ctx.check('ERR-5', !!info && info.sentBy !== 'none' && info.sentBy !== 'client', `the server closed with ${code}, which the registry does not give servers (${cases.join(', ')})`);
        ctx.check('ERR-5', code !== 1011, `the server closed with 1011 (${cases.join(', ')})`);
      }
      const unexpected = server.filter((c) => !c.expected && c.code !== 1000 && c.code !== 1001);
      for (const c of unexpected.slice(0, 10)) ctx.finding('ERR-5', `${c.caseId}: connection ${c.conn} closed with ${c.code} "${c.reason}" where no close was expected`);
      ctx.note(`server close codes seen: ${[...codes.keys()].sort().join(', ') || 'none'}`);
    },
  },
  {
    id: 'meta.close-reasons',
    title: 'every close reason the server sent during the run is empty or "<registry name>[;retry=<ms>]"',
    rules: ['ERR-6'],
    phase: 'meta',
    async run(ctx) {
      if (!ctx.env.state.closes.some((c) => c.frame && !c.byClient)) await exercise(ctx);
      await provokeCloses(ctx);
      const v = ctx.env.state.violations.filter((x) => x.rule === 'ERR-6');
      for (const x of v.slice(0, 10)) ctx.finding('ERR-6', `${x.caseId}: ${x.message}`);
      const n = ctx.env.state.closes.filter((c) => c.frame && !c.byClient).length;
      ctx.note(`${n} server-initiated close frames checked`);
    },
  },
];
