/**
 * The client harness grades the reference client (Node driver) through the driver contract: every
 * case passes, and every client MUST of the registry is cited by a case.
 */
import { describe, expect, it } from 'vitest';
import registry from '../../../spec/rules.json' with { type: 'json' };
import { clientCases, clientRules, driverCommand, runClientSuite } from '../index.js';
import { toJson } from '../../reporters/json.js';
import { toJunit } from '../../reporters/junit.js';
import { toHtml } from '../../reporters/html.js';

describe('mooring test-client: the harness', () => {
  it('cites only registry rules, and every client and both rule except HTTP-4 and HTTP-9 (the HTTP channel, which the harness does not serve) has a case', () => {
    const known = new Set(registry.rules.map((r) => r.id));
    const cited = new Set(clientCases().flatMap((c) => c.rules));
    expect([...cited].filter((id) => !known.has(id))).toEqual([]);
    expect(clientRules().map((r) => r.id).filter((id) => !cited.has(id))).toEqual(['HTTP-4', 'HTTP-9']);
    const ids = clientCases().map((c) => c.id);
    expect(new Set(ids).size).toBe(ids.length);
  });

  it('RECON-1, RECON-2, RECON-5, SUB-10, REQ-5, REQ-6, HB-3, ROBUST-1: grades the reference client (Node) green in every case, with all four reports', async () => {
    const report = await runClientSuite({ cmd: driverCommand('node'), label: 'reference client (Node)' });
    const bad = report.cases.filter((c) => c.outcome !== 'pass').map((c) => `${c.id}: ${c.outcome} ${c.detail}`);
    expect(bad).toEqual([]);
    expect(report.failed).toBe(false);
    expect(report.rules.filter((r) => r.outcome === 'untested').map((r) => r.id)).toEqual(['HTTP-4', 'HTTP-9']);
    expect(JSON.parse(toJson(report)).tool.name).toBe('mooring test-client');
    expect(toJunit(report)).toContain('<testsuites');
    expect(toHtml(report)).toContain('recon.backoff');
  }, 180_000);
});
