/** Small parts of the suite: selection, the rate governor, close-reason checks, JUnit escaping. */
import { describe, expect, it } from 'vitest';
import { allCases } from '../cases/index.js';
import { selectCases } from '../runner.js';
import { serverSuiteRules } from '../rules.js';
import { RateGovernor } from '../wire/governor.js';
import { closeReasonProblem, redact } from '../wire/conn.js';
import { xmlEscape } from '../reporters/junit.js';

describe('case registry and selection', () => {
  it('every server-suite rule of the registry is cited by a case, and case ids are unique', () => {
    const cited = new Set(allCases().flatMap((c) => c.rules));
    expect(serverSuiteRules().map((r) => r.id).filter((id) => !cited.has(id))).toEqual([]);
    const ids = allCases().map((c) => c.id);
    expect(new Set(ids).size).toBe(ids.length);
  });

  it('selects by rule ID, area prefix and case id; excludes the same way; rate, shutdown and meta run last', () => {
    const ids = (sel: string[], ex: string[] = []) => selectCases(allCases(), sel, ex).map((c) => c.id);
    expect(ids(['SUB-8'])).toEqual(['sub.resume', 'hb.reset']);
    expect(ids(['hb.blackhole'])).toEqual(['hb.blackhole']);
    expect(ids(['RATE'], ['RATE-3'])).toEqual(['restore.allowance', 'rate.within-limit', 'rate.flood', 'rate.sliding']);
    const all = ids([]);
    const phaseOf = (id: string) => allCases().find((c) => c.id === id)!.phase ?? 'normal';
    const phases = all.map(phaseOf);
    expect(phases).toEqual([...phases].sort((a, b) => ['normal', 'rate', 'shutdown', 'meta'].indexOf(a) - ['normal', 'rate', 'shutdown', 'meta'].indexOf(b)));
  });
});

describe('RateGovernor', () => {
  it('lets a user send up to messages-2 per (widened) window, then waits', async () => {
    const g = new RateGovernor({ messages: 4, windowMs: 100 });
    const t0 = Date.now();
    await g.acquire('u');
    await g.acquire('u');
    expect(Date.now() - t0).toBeLessThan(50);
    await g.acquire('u');
    expect(Date.now() - t0).toBeGreaterThanOrEqual(100);
    expect(g.clearInMs('other')).toBe(0);
  });
});

describe('ERR-6 close reasons', () => {
  it.each([
    [4429, 'rate_limited;retry=1500', undefined],
    [1012, 'service_restart', undefined],
    [4001, '', undefined],
    [4429, 'rate_limited;retry=1234567890', 'not'],
    [4002, 'normal_closure', 'registry name'],
    [1003, 'unsupported', 'not in the registry'],
    [4401, `unauthorized;${'x'.repeat(130)}`, 'reason'],
  ])('close %i "%s"', (code, reason, problem) => {
    const p = closeReasonProblem(code, Buffer.from(reason));
    if (problem === undefined) expect(p).toBeUndefined();
    else expect(p).toContain(problem);
  });
});

describe('JUnit', () => {
  it('escapes XML specials and drops control characters', () => {
    expect(xmlEscape('<a href="x">&\u0001\'</a>')).toBe('&lt;a href=&quot;x&quot;&gt;&amp;&apos;&lt;/a&gt;');
  });
});

describe('transcripts', () => {
  it('never carry a token', () => {
    expect(redact('{"type":"auth","token":"s3cret-value"}')).toBe('{"type":"auth","token":"<redacted 12 chars>"}');
    expect(redact('ws://h:1/ws?token=abc&x=1')).toBe('ws://h:1/ws?token=<redacted>&x=1');
  });
});
