/** What the self-test expects of each raw-server break (the committed `expectations.json`). */
import { BREAKS, type BreakName } from './raw-server/server.js';

export interface Expectations {
  /** Per break: every rule whose outcome is fail (MUST) or warn (SHOULD) when the cases citing the break's rules run. */
  breaks: Record<string, { fails: string[] }>;
}

/**
 * The cases to run for a break: those citing its rules. VER-5 is judged across the run by
 * meta.frames, so the cases that make the server send pongs (HB-2) run too.
 */
export function selectionFor(brk: BreakName): string[] {
  const rules: string[] = [...BREAKS[brk].rules];
  if (rules.includes('VER-5')) rules.push('HB-2');
  return rules;
}

/** Server options a break needs to be observable (RATE-1 "every connection" needs two sessions of a user). */
export function serverOptionsFor(brk: BreakName): { sessionPolicy?: 'single' | 'multiple' } {
  return brk === 'rate-limit-one-connection' ? { sessionPolicy: 'multiple' } : {};
}
