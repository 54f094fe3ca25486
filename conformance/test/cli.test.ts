/** `mooring test` (cli/test.ts): flags, reports, exit codes. */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { run } from '../../cli/test.js';
import { rawTarget } from './fixtures.js';
import type { SuiteReport } from '../types.js';

const dir = mkdtempSync(path.join(os.tmpdir(), 'mooring-cli-test-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Runs the command with stdout captured. */
async function cli(argv: string[]): Promise<{ code: number; out: string }> {
  let out = '';
  const spy = vi.spyOn(process.stdout, 'write').mockImplementation((s: string | Uint8Array) => {
    out += String(s);
    return true;
  });
  try {
    return { code: await run(argv), out };
  } finally {
    spy.mockRestore();
  }
}

describe('mooring test', () => {
  it('with no URL tests the in-process reference server and writes JSON, JUnit and HTML reports', async () => {
    const f = (n: string) => path.join(dir, n);
    const { code, out } = await cli(['--select', 'CONF-1,VER-6,err.invalid-json', '--report-json', f('r.json'), '--report-junit', f('r.xml'), '--report-html', f('r.html')]);
    expect(out).toContain('testing the reference server');
    expect(code).toBe(0);
    const r = JSON.parse(readFileSync(f('r.json'), 'utf8')) as SuiteReport;
    expect(r.schemaVersion).toBe(1);
    expect(r.target.mode).toBe('embedded');
    expect(r.cases.map((c) => c.id).sort()).toEqual(['conf.echo', 'err.invalid-json', 'ver.binary']);
    expect(r.cases.every((c) => c.outcome === 'pass' && c.transcript.length > 0)).toBe(true);
    const xml = readFileSync(f('r.xml'), 'utf8');
    expect(xml).toMatch(/<testsuites [^>]*tests="3" failures="0"/);
    expect(readFileSync(f('r.html'), 'utf8')).toContain('ver.binary');
  }, 60_000);

  it('exits 1 when a MUST fails, and a SHOULD fails the run only with --strict', async () => {
    const broken = await rawTarget('echo-wrong-data');
    try {
      const { code, out } = await cli([broken.url, '--token', broken.tokens[0]!, '--token2', broken.tokens[1]!, '--select', 'CONF-1']);
      expect(code).toBe(1);
      expect(out).toContain('CONF-1');
    } finally {
      await broken.close();
    }
    const should = await rawTarget('rejects-no-subprotocol');
    try {
      const file = path.join(dir, 'tokens.txt');
      writeFileSync(file, `${should.tokens.join('\n')}\n`);
      expect((await cli([should.url, '--tokens-file', file, '--select', 'VER-4'])).code).toBe(0);
      expect((await cli([should.url, '--tokens-file', file, '--select', 'VER-4', '--strict'])).code).toBe(1);
    } finally {
      await should.close();
    }
  }, 60_000);

  it('lists cases, and refuses bad usage with exit 2', async () => {
    const { code, out } = await cli(['--list', '--select', 'SHUT']);
    expect(code).toBe(0);
    expect(out.trim().split('\n').map((l) => l.split(' ')[0])).toEqual(['shut.drain', 'shut.close-1012', 'shut.storm']);
    expect((await cli(['ws://127.0.0.1:1/ws'])).code).toBe(2);
    expect((await cli(['--bogus'])).code).toBe(2);
    const busy = await rawTarget();
    try {
      // --server-cmd starts the server itself: a port already taken is a usage error, not a run.
      expect((await cli([busy.url, '--token', busy.tokens[0]!, '--server-cmd', 'sleep 5'])).code).toBe(2);
    } finally {
      await busy.close();
    }
  });
});
