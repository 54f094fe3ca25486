/** The rule registry (`spec/rules.json`) as the suite reads it: levels grade failures. */
import registry from '../spec/rules.json' with { type: 'json' };
import type { Level } from './types.js';

export interface RuleInfo {
  id: string;
  level: Level;
  party: string;
  section: string;
  title: string;
  checkedBy: string;
  status?: string;
  /** The rule split into what a check can assert (server-suite rules); see conformance/test/clauses.test.ts. */
  clauses?: Clause[];
}

/** One code, field, bound, order, exception or timing a rule states, and the cases that assert it. */
export interface Clause {
  /** `<RULE>.<letter>`: stable, never reused. */
  id: string;
  text: string;
  /** Case ids that check the clause; each cites the rule. */
  cases: string[];
}

export const RULES: RuleInfo[] = (registry as { rules: RuleInfo[] }).rules;
const byId = new Map(RULES.map((r) => [r.id, r]));

export function ruleInfo(id: string): RuleInfo | undefined {
  return byId.get(id);
}

/** Rules the server suite must cover with at least one case. */
export function serverSuiteRules(): RuleInfo[] {
  return RULES.filter((r) => r.checkedBy === 'server-suite' && r.status !== 'retired');
}

/** The area of a rule ID: `AUTH-2` → `AUTH`. */
export function areaOf(ruleId: string): string {
  return ruleId.replace(/-\d+$/, '');
}
