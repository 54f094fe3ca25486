/** Rules that hold on every connection of the run, judged over everything the harness saw (run last). */
import type { ClientCaseDef } from '../context.js';

function meta(id: string, rules: string[], title: string): ClientCaseDef {
  return {
    id,
    title,
    rules,
    async run(ctx) {
      const seen = ctx.env.observed.filter((f) => rules.includes(f.rule));
      for (const f of seen.slice(0, 20)) ctx.finding(f.rule, f.message);
      if (!seen.length) ctx.note('no violation on any connection of the run');
    },
  };
}

export const metaCases: ClientCaseDef[] = [
  meta('meta.subprotocol', ['VER-1'], 'every handshake of the run offered the subprotocol mooring.v1'),
  meta('meta.first-frame', ['AUTH-1', 'RECON-6'], 'on every connection of the run, auth was the first message and nothing else preceded authenticated'),
  meta('meta.frames', ['VER-5'], 'every frame the client sent during the run was a JSON text message that passes the schema'),
  meta('meta.close-reasons', ['ERR-6'], 'every close the client started during the run had an empty or registry reason'),
];
