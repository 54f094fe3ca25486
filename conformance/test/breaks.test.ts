/**
 * Self-test (2b): every deliberately broken raw server (one rule broken each) is caught by the cases
 * that cite that rule, and the rules graded fail/warn are exactly those of the committed
 * expectations (`expectations.json`; regenerate with `npx tsx conformance/test/sweep.ts`).
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { BREAKS, type BreakName } from './raw-server/server.js';
import { observe } from './sweep.js';
import type { Expectations } from './expectations.js';

const expectations = JSON.parse(readFileSync(new URL('./expectations.json', import.meta.url), 'utf8')) as Expectations;
const names = Object.keys(BREAKS) as BreakName[];

describe('every broken server is caught by the cases citing the broken rule', () => {
  it('the expectations file covers exactly the raw server breaks', () => {
    expect(Object.keys(expectations.breaks).sort()).toEqual([...names].sort());
  });

  it.concurrent.each(names.map((n) => [n, BREAKS[n].rules.join(',')]))('%s (%s) is caught', async (name) => {
    const brk = name as BreakName;
    const o = await observe(brk);
    const graded = [...o.fails, ...o.warns].sort();
    for (const rule of BREAKS[brk].rules) expect(graded, `${brk} breaks ${rule}: ${o.details.join(' | ')}`).toContain(rule);
    expect(graded, `${brk}: ${o.details.join(' | ')}`).toEqual(expectations.breaks[brk]?.fails);
  }, 90_000);
});
