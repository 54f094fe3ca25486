/**
 * Self-test of the client harness: each broken client (the reference client with one rule broken,
 * test/broken/breaks.ts) is caught by a case citing the rule it breaks. Each break runs only the
 * cases of its rule (plus the meta case of a rule checked on every connection).
 */
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { runClientSuite } from '../index.js';
import { BREAKS } from './broken/breaks.js';

const driver = fileURLToPath(new URL('./broken/driver.ts', import.meta.url));
const cmd = (name: string) => `'${process.execPath}' --import tsx '${driver}' ${name}`;

describe('mooring test-client catches broken clients', () => {
  it.each(Object.entries(BREAKS).map(([name, b]) => [name, b.rule, b.case] as const))('%s is caught by a case citing %s', async (name, rule, only) => {
    const report = await runClientSuite({ cmd: cmd(name), select: [only ?? rule] });
    const caught = report.cases.filter((c) => c.rules.includes(rule) && c.outcome === 'fail' && c.findings.some((f) => f.rule === rule));
    expect(caught.map((c) => c.id), report.cases.map((c) => `${c.id}: ${c.outcome} ${c.detail}`).join('\n')).not.toEqual([]);
    expect(report.rules.find((r) => r.id === rule)?.outcome).toBe('fail');
  }, 90_000);
});
