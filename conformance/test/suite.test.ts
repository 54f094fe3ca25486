/**
 * Self-test, whole runs (concurrently: the runs wait on timers far more than they compute):
 * (1) the suite against the reference server, exactly as `mooring test` with no URL runs it
 *     (in-process server with short timings; its CLI as a child process for SHUT-*): no fails;
 * (2) the suite against a server written only from the spec (the raw server, unbroken): a correct
 *     verdict, no fails (REQ-7 skipped: the raw server has no failing action).
 */
import { describe, expect, it } from 'vitest';
import { runSuite } from '../runner.js';
import { startEmbedded } from '../embedded.js';
import { serverSuiteRules } from '../rules.js';
import { rawTarget } from './fixtures.js';

describe.concurrent('whole suite runs', () => {
  it('against the reference server: grades every server-suite rule and fails none', async () => {
    const emb = await startEmbedded();
    try {
      expect(emb.processNote).toBeUndefined();
      const r = await runSuite({ url: emb.url, tokens: emb.tokens, caps: emb.caps, mode: 'embedded' });
      const bad = r.cases.filter((c) => c.outcome === 'fail').map((c) => `${c.id}: ${c.detail}`);
      expect(bad).toEqual([]);
      expect(r.failed).toBe(false);
      const untested = r.rules.filter((x) => x.outcome === 'untested' || x.outcome === 'skip').map((x) => x.id);
      expect(untested).toEqual([]);
      expect(r.rules.map((x) => x.id).sort()).toEqual(serverSuiteRules().map((x) => x.id).sort());
      expect(r.durationMs).toBeLessThan(60_000);
    } finally {
      await emb.close();
    }
  }, 120_000);

  it('against the independent raw server: fails no case of an implementation that follows the spec', async () => {
    const t = await rawTarget(undefined, { withProcess: true });
    try {
      const r = await runSuite({ url: t.url, tokens: t.tokens, caps: t.caps });
      const bad = r.cases.filter((c) => c.outcome === 'fail' || c.outcome === 'warn').map((c) => `${c.id}: ${c.detail}`);
      expect(bad).toEqual([]);
      const skipped = r.cases.filter((c) => c.outcome === 'skip').map((c) => c.id);
      // The raw server is of revision 1.1: every revision 1.2 case skips against it (versioning policy).
      expect(skipped).toEqual(['req.handler-failure', 'restore.params', 'restore.user-channel', 'limit.depth', 'limit.history-bytes', 'restore.allowance']);
    } finally {
      await t.close();
    }
  }, 120_000);
});
