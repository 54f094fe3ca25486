/**
 * `mooring fuzz` exit codes: 1 with a saved counterexample that `--replay` reproduces, 2 on usage and
 * set-up errors.
 */
import { mkdtempSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { run } from '../../../cli/fuzz.js';
import { startPlanted, type Planted } from './planted.js';

describe('mooring fuzz (CLI)', () => {
  let p: Planted;
  const dir = mkdtempSync(path.join(os.tmpdir(), 'mooring-fuzz-'));
  beforeAll(async () => {
    p = await startPlanted('wrong-error-code');
    vi.spyOn(process.stdout, 'write').mockImplementation(() => true);
    vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
  });
  afterAll(async () => {
    vi.restoreAllMocks();
    await p.close();
  });

  it('exits 1 on a failure, saves the shrunk counterexample as JSON, and --replay reproduces it', async () => {
    const out = path.join(dir, 'failure.json');
    const args = [p.url, '--token', p.tokens[0], '--token2', p.tokens[1], '--quiet'];
    expect(await run([...args, '--seed', '1', '--runs', '200', '--shrink-time', '10', '--out', out])).toBe(1);
    const saved = JSON.parse(readFileSync(out, 'utf8')) as { seed: number; path: string; report: { failure: { rule: string; commands: string[]; transcript: string[] } } };
    expect(saved.report.failure.rule).toBe('ERR-1');
    expect(saved.report.failure.transcript.join('\n')).not.toContain(p.tokens[0]);
    const out2 = path.join(dir, 'again.json');
    expect(await run([...args, '--replay', out, '--out', out2])).toBe(1);
    const again = JSON.parse(readFileSync(out2, 'utf8')) as typeof saved;
    expect(again.report.failure.commands).toEqual(saved.report.failure.commands);
  }, 60_000);

  it('exits 2 on usage errors and when the server cannot be reached', async () => {
    expect(await run(['--runs', 'x'])).toBe(2);
    expect(await run(['ws://127.0.0.1:9/ws'])).toBe(2);
    expect(await run(['ws://127.0.0.1:9/ws', '--token', 'a', '--token2', 'b'])).toBe(2);
    expect(await run([p.url, '--token', p.tokens[0], '--token2', p.tokens[0]])).toBe(2);
    expect(await run(['--replay', path.join(dir, 'missing.json')])).toBe(2);
  });
});
