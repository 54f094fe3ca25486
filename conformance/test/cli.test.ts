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
    expect(await cli(['ws://127.0.0.1:1/ws'])).toMatchObject({ code: 2, err: 'mooring test: a URL needs --token (and --token2 for the two-user cases), or --tokens-file (mooring test --help)\n' });
    expect((await cli(['--bogus'])).code).toBe(2);
    // A typo in a selection runs nothing: a usage error, not a green run.
    const typo = await cli(['--select', 'NOPE']);
    expect(typo.code).toBe(2);
    expect(typo.err).toMatch(/^mooring test: --select "NOPE" matches no case: areas: CONF VER AUTH .*\n$/);
    expect(typo.out).toBe('');
    expect((await cli(['--list', '--exclude', 'AUTH-99'])).code).toBe(2);
    // No scheme: a usage error naming the URL meant, not a stack trace.
    expect(await cli(['127.0.0.1:8080', '--token', 'x'])).toMatchObject({ code: 2, err: 'mooring test: "127.0.0.1:8080" is not a ws:// or wss:// URL: did you mean ws://127.0.0.1:8080/ws? (mooring test --help)\n', out: '' });
    const busy = await rawTarget();
    try {
      // --server-cmd starts the server itself: a port already taken is a usage error, not a run.
      expect((await cli([busy.url, '--token', busy.tokens[0]!, '--server-cmd', 'sleep 5'])).code).toBe(2);
    } finally {
      await busy.close();
    }
  });

  it('a setup error is one line on stderr and exit 2: no case list, no synthetic failure; the JSON report records it', async () => {
    const f = path.join(dir, 'setup.json');
    const down = await cli(['ws://127.0.0.1:9/ws', '--token', 't1', '--token2', 't2', '--report-json', f]);
    expect(down.code).toBe(2);
    expect(down.err).toBe('mooring test: nothing listens at 127.0.0.1:9 (connection refused): is the server running?\n');
    expect(down.out).not.toMatch(/skip|AUTH-5|PASSED|FAILED/);
    const r = JSON.parse(readFileSync(f, 'utf8')) as SuiteReport;
    expect(r.setupError).toContain('nothing listens');
    expect(r.cases).toEqual([]);
    const t = await rawTarget();
    try {
      const wrong = await cli([t.url, '--token', t.tokens[0]!, '--token2', 'wrong-token', '--select', 'CONF-1']);
      expect(wrong).toMatchObject({ code: 2, err: 'mooring test: --token2 was refused (4401 unauthorized): is it a token of this server (e.g. from its tokens file)?\n' });
      const file = path.join(dir, 'bad-tokens.txt');
      writeFileSync(file, `${t.tokens[0]}\n${t.tokens[1]}\nno-such-token\n`);
      const line = await cli([t.url, '--tokens-file', file, '--select', 'hb.blackhole']);
      expect(line.code).toBe(2);
      expect(line.err).toMatch(/^mooring test: --tokens-file line 3 was refused \(4401 unauthorized\)/);
      const path404 = await cli([t.url.replace(/\/ws$/, '/wss'), '--token', t.tokens[0]!, '--select', 'CONF-1']);
      expect(path404).toMatchObject({ code: 2, err: 'mooring test: HTTP 404 at /wss: is the path /ws?\n' });
    } finally {
      await t.close();
    }
  });

  it('--help documents the exit codes', async () => {
    const { code, out } = await cli(['--help']);
    expect(code).toBe(0);
    expect(out).toContain('Exit codes: 0 passed; 1 a conformance failure');
    expect(out).toContain('2 a usage or setup error');
  });
});
