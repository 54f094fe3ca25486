/**
 * The independent Python server (conformance/test/py-server/, written from spec/ alone) through the
 * whole suite: an implementation that follows the spec fails no case and warns on none. It runs with
 * every capability the suite can use: a controlled process for the shutdown cases (SIGTERM, SIGKILL,
 * restart, a storm of distinct users), an expiring token (AUTH-8, AUTH-11), a failing action (REQ-7).
 */
import { describe, expect, it } from 'vitest';
import { runSuite } from '../runner.js';
import { pyTarget } from './py-fixtures.js';

describe('the independent Python server', () => {
  it('passes the whole suite: no fail, no warn, nothing skipped but the revision 1.2 cases it does not advertise', async () => {
    const t = await pyTarget({ withProcess: true });
    try {
      const r = await runSuite({ url: t.url, tokens: t.tokens, caps: t.caps });
      const bad = r.cases.filter((c) => c.outcome === 'fail' || c.outcome === 'warn').map((c) => `${c.id}: ${c.detail}`);
      expect(bad, t.output()).toEqual([]);
      // It implements revision 1.1 (written before 1.2): the 1.2 cases skip, each naming what is not advertised.
      const skipped = r.cases.filter((c) => c.outcome === 'skip');
      expect(skipped.map((c) => c.id).sort()).toEqual(['limit.depth', 'limit.history-bytes', 'restore.allowance', 'restore.params', 'restore.user-channel']);
      for (const c of skipped) expect(c.detail).toMatch(/revision 1\.2/);
      expect(r.failed).toBe(false);
    } finally {
      await t.close();
    }
  }, 180_000);
});
