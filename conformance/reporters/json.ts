/**
 * JSON reporter. The shape is `SuiteReport` (types.ts), versioned by `schemaVersion`: fields are only
 * added within a version; a rename or removal bumps it.
 *   { schemaVersion: 1, tool, target, params, startedAt, durationMs, totals, failed, strict,
 *     rules: [{id, level, title, outcome, cases}], cases: [{id, title, area, rules, level, outcome,
 *     detail, findings: [{rule, grade, message}], notes, closes: {expected, seen}, startedAt,
 *     durationMs, transcript: [{t, conn, dir, kind, data}]}] }
 */
import type { SuiteReport } from '../types.js';
import { redactDeep } from '../wire/redact.js';

export function toJson(report: SuiteReport): string {
  return `${JSON.stringify(redactDeep(report), null, 2)}\n`; // no token in a CI artifact (AUTH-6)
}
