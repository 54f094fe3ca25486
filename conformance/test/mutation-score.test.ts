/** The mutation run's bookkeeping: the CI sample spreads across areas, the score tables count right, --write replaces only its section. */
import { describe, expect, it } from 'vitest';
import { sampleAcrossAreas, scoreSection, scoreTables, selectionForRule, type MutantResult } from './mutation.js';

const m = (name: string, rule: string) => ({ name, rule, clause: `${rule} clause`, description: '' });
const res = (name: string, rule: string, caught: boolean): MutantResult => ({ ...m(name, rule), caught, detected: caught, outcome: caught ? 'fail' : 'pass', graded: [], details: [], ms: 1 });

describe('mutation run bookkeeping', () => {
  it('a sample takes one mutant per area before a second of any area, in list order', () => {
    const list = [m('a1', 'AUTH-2'), m('a2', 'AUTH-4'), m('h1', 'HB-1'), m('s1', 'SUB-2'), m('s2', 'SUB-8')];
    expect(sampleAcrossAreas(list, 3).map((x) => x.name)).toEqual(['a1', 'h1', 's1']);
    expect(sampleAcrossAreas(list, 4).map((x) => x.name)).toEqual(['a1', 'h1', 's1', 'a2']);
    expect(sampleAcrossAreas(list, 99)).toHaveLength(5);
  });

  it('scores per area and per rule, and lists each miss with its clause', () => {
    const t = scoreTables([res('a', 'AUTH-2', true), res('b', 'AUTH-2', false), res('c', 'HB-1', true)]);
    expect(t.total).toBe('2 / 3 (67 %)');
    expect(t.areas).toContain('| AUTH | 1 / 2 | 50 % | 1 / 2 |');
    expect(t.areas).toContain('| HB | 1 / 1 | 100 % | 1 / 1 |');
    expect(t.rules).toContain('| AUTH-2 | 1 / 2 | 1 / 2 |');
    expect(t.misses).toContain('| `b` | AUTH-2 | AUTH-2 clause | pass | - |');
    expect(scoreSection([], '2026-01-01')).toMatch(/^<!-- BEGIN GENERATED mutation-score -->[\s\S]*<!-- END GENERATED mutation-score -->$/);
  });

  it('mutants of the rules judged across the run (meta cases) run the whole suite; others the cases citing their rule', () => {
    for (const r of ['VER-5', 'ERR-3', 'ERR-5', 'ERR-6']) expect(selectionForRule(r)).toEqual([]);
    expect(selectionForRule('AUTH-2')).toEqual(['AUTH-2']);
  });
});
