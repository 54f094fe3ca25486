/**
 * The fuzzer's self-test: each planted server bug (planted.ts) is found from a fixed seed within a
 * small budget, shrunk to a few commands, and reported with the rule it breaks, a transcript and a
 * replayable seed and path.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { formatFailure, runFuzz } from '../../fuzz/run.js';
import { BUGS, startPlanted, type Bug, type Planted } from './planted.js';

const SEED = 1;

describe('mooring fuzz finds and shrinks planted server bugs', () => {
  for (const bug of Object.keys(BUGS) as Bug[]) {
    describe(bug, () => {
      let p: Planted;
      beforeAll(async () => {
        p = await startPlanted(bug);
      });
      afterAll(async () => {
        await p.close();
      });

      it(`finds ${bug} (${BUGS[bug].join('/')}) from seed ${SEED}, shrinks it to at most 4 commands and replays it from seed and path`, async () => {
        const report = await runFuzz({ url: p.url, tokens: p.tokens, seed: SEED, runs: 400, timeMs: 25_000, shrinkMs: 10_000, settleMs: 500 });
        expect(report.ok, 'the bug was not found').toBe(false);
        const f = report.failure!;
        // eslint-disable-next-line no-console
        console.log(`[planted ${bug}] found after ${f.foundAfterRuns} runs in ${(f.foundAfterMs / 1000).toFixed(1)} s; ${f.shrinks} shrinks to ${f.commands.length} commands; ${f.rule}: ${f.message}`);
        expect(BUGS[bug] as readonly string[]).toContain(f.rule);
        expect(f.commands.length).toBeLessThanOrEqual(4);
        expect(f.transcript.join('\n')).toContain('FAILURE');
        expect(formatFailure(report)).toContain(`replay: seed ${f.seed}, path ${f.path}, commands path ${f.commandsPath}`);
        const replay = await runFuzz({ url: p.url, tokens: p.tokens, seed: f.seed, path: f.path, commandsPath: f.commandsPath, settleMs: 500 });
        expect(replay.ok).toBe(false);
        expect(replay.failure!.rule).toBe(f.rule);
        expect(replay.failure!.commands).toEqual(f.commands);
      }, 60_000);
    });
  }
});

describe('the model, on a scripted sequence (no generation)', () => {
  it('SUB-7: catches a push after unsubscribed (leak-after-unsubscribe), and passes the same sequence on the reference server', async () => {
    const { preflight } = await import('../../fuzz/preflight.js');
    const { World } = await import('../../fuzz/world.js');
    const { startFuzzTarget } = await import('../../fuzz/embedded.js');
    const script = async (url: string, tokens: [string, string]) => {
      const pre = await preflight(url, tokens);
      const w = new World({ url, tokens, userIds: pre.userIds, params: pre.params, settleMs: 500, maxFill: 40 }, 'scripted');
      try {
        await w.setup();
        const [c0, c1] = [w.authed(0)!, w.authed(1)!];
        const ch = w.channel('a');
        await w.sendMessage(c0, { type: 'subscribe', channel: ch }, JSON.stringify({ type: 'subscribe', channel: ch }));
        await w.settle();
        await w.sendMessage(c0, { type: 'unsubscribe', channel: ch }, JSON.stringify({ type: 'unsubscribe', channel: ch }));
        const t = `{"type":"request","id":"p~1","action":"publish","payload":{"channel":${JSON.stringify(ch)},"data":1}}`;
        await w.sendMessage(c1, JSON.parse(t) as Record<string, unknown>, t);
        await w.finish();
        return null;
      } catch (e) {
        return (e as Error).message;
      } finally {
        await w.abort();
      }
    };
    const leak = await startPlanted('leak-after-unsubscribe');
    const ref = await startFuzzTarget();
    try {
      expect(await script(leak.url, leak.tokens)).toMatch(/^SUB-7: .*a push of scripted\.a, which this connection does not subscribe to/);
      expect(await script(ref.url, ref.tokens)).toBeNull();
    } finally {
      await leak.close();
      await ref.close();
    }
  });
});
