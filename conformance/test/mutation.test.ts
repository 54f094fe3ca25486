/**
 * A fixed sample of the Python server's one-clause mutants (conformance/test/py-server/mutants.json),
 * a few per area, each run against the cases citing its rule: every one must be caught (its rule graded
 * fail, or warn for a SHOULD). The full run is `npx tsx conformance/test/mutation.ts` (score in
 * conformance/README.md).
 */
import { describe, expect, it } from 'vitest';
import { loadMutants } from './py-fixtures.js';
import { runMutant } from './mutation.js';

/** One or two fast mutants per area (each run takes a few seconds at most; none waits on a token expiry). */
const CI_SAMPLE: string[] = [
  'ver6-wrong-code',
  'auth5-no-session-id',
  'auth7-wrong-status',
  'conf3-no-wait',
  'req7-wrong-code',
  'sub2-position-zero',
  'hb2-no-pong',
  'sess1-no-replace',
  'limit4-off-by-one',
  'err1-close',
  'sec1-no-check',
  'http2-connected-always-false',
  'rate1-wrong-code',
  'shut1-accept-during-shutdown',
];

describe('mutants of the independent Python server are caught', () => {
  const all = loadMutants();
  it('the sample names mutants of the list', () => {
    expect(CI_SAMPLE.filter((n) => !all.some((m) => m.name === n))).toEqual([]);
  });
  it.concurrent.each(CI_SAMPLE.map((n) => [n, all.find((m) => m.name === n)?.rule ?? '?']))('%s (%s) is caught', async (name) => {
    const r = await runMutant(all.find((m) => m.name === name)!);
    expect(r.caught, `${r.name} breaks ${r.rule} (${r.clause}): its rule was ${r.outcome}; graded ${r.graded.join(',')}\n${r.details.join('\n')}`).toBe(true);
  }, 120_000);
});
