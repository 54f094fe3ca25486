/** `mooring test-client` (cli/test-client.ts): flags, reports, exit codes. */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { run } from '../../../cli/test-client.js';
import type { SuiteReport } from '../../types.js';

const dir = mkdtempSync(path.join(os.tmpdir(), 'mooring-test-client-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Runs the command with stdout and stderr captured (nothing is printed). */
async function cli(argv: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const spy = vi.spyOn(process.stdout, 'write').mockImplementation((s: string | Uint8Array) => {
    out += String(s);
    return true;
  });
  const spyErr = vi.spyOn(process.stderr, 'write').mockImplementation((s: string | Uint8Array) => {
    err += String(s);
    return true;
  });
  try {
    return { code: await run(argv), out, err };
  } finally {
    spy.mockRestore();
    spyErr.mockRestore();
  }
}

const broken = fileURLToPath(new URL('./broken/driver.ts', import.meta.url));

describe('mooring test-client', () => {
  it('--help and --list', async () => {
    expect((await cli(['--help'])).out).toContain('spec/client-driver.md');
    const list = await cli(['--list', '--select', 'RECON']);
    expect(list.code).toBe(0);
    expect(list.out).toContain('recon.backoff');
    expect(list.out).not.toContain('req.timeout');
  });

  it('rejects bad flags with exit code 2', async () => {
    expect(await cli(['--nope'])).toMatchObject({ code: 2, out: '', err: 'mooring test-client: unknown option --nope (mooring test-client --help)\n' });
    expect(await cli(['--timeout-scale', '0'])).toMatchObject({ code: 2, err: 'mooring test-client: --timeout-scale: expected a positive number, got "0" (mooring test-client --help)\n' });
    expect(await cli(['--cmd', 'x', '--browser'])).toMatchObject({ code: 2, err: 'mooring test-client: --cmd and --browser exclude each other (mooring test-client --help)\n' });
  });

  it('ERR-6, REQ-5: with no --cmd grades the reference client and writes JSON, JUnit and HTML reports; a broken client exits 1', async () => {
    const f = (n: string) => path.join(dir, n);
    const ok = await cli(['--select', 'err.client-close,req.timeout', '--report-json', f('r.json'), '--report-junit', f('r.xml'), '--report-html', f('r.html')]);
    expect(ok.out).toContain('reference client (Node)');
    expect(ok.code).toBe(0);
    const r = JSON.parse(readFileSync(f('r.json'), 'utf8')) as SuiteReport;
    expect(r.tool.name).toBe('mooring test-client');
    expect(r.cases.map((c) => c.id)).toEqual(['req.timeout', 'err.client-close']);
    expect(r.cases.every((c) => c.outcome === 'pass' && c.transcript.length > 0)).toBe(true);
    expect(readFileSync(f('r.xml'), 'utf8')).toMatch(/<testsuites [^>]*tests="2" failures="0"/);
    expect(readFileSync(f('r.html'), 'utf8')).toContain('err.client-close');
    // No token in a report (the harness's tokens are redacted like the server suite's).
    expect(readFileSync(f('r.json'), 'utf8')).not.toMatch(/"token":"tok-/);

    const bad = await cli(['--cmd', `'${process.execPath}' --import tsx '${broken}' free-form-close-reasons`, '--select', 'err.client-close', '--quiet']);
    expect(bad.code).toBe(1);
    expect(bad.out).toContain('ERR-6');
  }, 60_000);
});
