/**
 * Judgements across the whole run (they run last): VER-5 (every frame the server sent was a JSON
 * text frame that passes the schema), ERR-3 (codes from the registry, no internals), ERR-5 (close
 * codes from the registry for the conditions it names).
 */
import { closeCodeInfo } from '../../schemas/v1/index.js';
import type { CaseDef } from '../types.js';

export const metaCases: CaseDef[] = [
  {
    id: 'meta.frames',
    title: 'every frame the server sent during the run was a valid JSON text message',
    rules: ['VER-5'],
    phase: 'meta',
    async run(ctx) {
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
      const v = ctx.env.state.violations.filter((x) => x.rule === 'ERR-6');
      for (const x of v.slice(0, 10)) ctx.finding('ERR-6', `${x.caseId}: ${x.message}`);
      const n = ctx.env.state.closes.filter((c) => c.frame && !c.byClient).length;
      ctx.note(`${n} server-initiated close frames checked`);
    },
  },
];
