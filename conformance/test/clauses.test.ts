/**
 * Clause coverage: every server-side MUST/SHOULD rule the server suite checks is split into clauses in
 * `spec/rules.json` (each code, field, bound, order, exception and timing it states), and every clause
 * names the cases that assert it. A rule without clauses, a clause without a case, or a clause naming a
 * case that does not exist or does not cite the rule fails here.
 */
import { describe, expect, it } from 'vitest';
import { RULES, type RuleInfo } from '../rules.js';
import { allCases } from '../cases/index.js';

const cases = new Map(allCases().map((c) => [c.id, c]));
const needClauses = (r: RuleInfo) =>
  r.checkedBy === 'server-suite' && r.status !== 'retired' && (r.party === 'server' || r.party === 'both') && (r.level === 'MUST' || r.level === 'SHOULD');

describe('clauses of the server-suite rules (spec/rules.json)', () => {
  it('every server-side MUST/SHOULD rule checked by the server suite has clauses', () => {
    expect(RULES.filter(needClauses).filter((r) => !r.clauses?.length).map((r) => r.id)).toEqual([]);
  });

  it('only server-suite rules carry clauses', () => {
    expect(RULES.filter((r) => r.clauses && !needClauses(r)).map((r) => r.id)).toEqual([]);
  });

  it('clause ids are <RULE>.<letter>, unique, in order', () => {
    for (const r of RULES) {
      (r.clauses ?? []).forEach((c, i) => expect(c.id, r.id).toBe(`${r.id}.${String.fromCharCode(97 + i)}`));
    }
  });

  it.each(RULES.filter((r) => r.clauses).map((r) => [r.id, r] as const))('%s: every clause has a text and cases that exist and cite the rule', (id, r: RuleInfo) => {
    for (const c of r.clauses!) {
      expect(c.text, c.id).toMatch(/^\S.*\.$/);
      expect(c.cases.length, `${c.id} has no case`).toBeGreaterThan(0);
      for (const caseId of c.cases) {
        const def = cases.get(caseId);
        expect(def, `${c.id} names the case ${caseId}, which does not exist`).toBeDefined();
        expect(def!.rules, `${c.id} names the case ${caseId}, which does not cite ${id}`).toContain(id);
      }
    }
  });

  it('every case that cites a rule with clauses is named by at least one of its clauses', () => {
    const orphan: string[] = [];
    for (const def of cases.values()) {
      for (const rule of def.rules) {
        const r = RULES.find((x) => x.id === rule);
        if (r?.clauses && !r.clauses.some((c) => c.cases.includes(def.id))) orphan.push(`${def.id} cites ${rule}`);
      }
    }
    expect(orphan).toEqual([]);
  });
});
