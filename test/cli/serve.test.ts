/**
 * `mooring serve` in a newcomer's first hour: it says which tokens file it uses (absolute path) and how
 * many tokens it holds, warns loudly when there are none (with the command that makes one), and prints
 * the example page and debug page URLs.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CLI, lineMatching, mooring } from './helpers.js';

/** Starts `mooring serve` in `cwd`, collects its output until the tokens line, then SIGTERMs it. */
async function serveOnce(cwd: string, args: string[] = []): Promise<{ stdout: string; stderr: string; code: number | null }> {
  const p = spawn(process.execPath, [CLI, 'serve', '--port', '0', '--quiet', ...args], { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  p.stdout.on('data', (d) => (stdout += d));
  p.stderr.on('data', (d) => (stderr += d));
  const exited = new Promise<number | null>((r) => p.on('close', r));
  await lineMatching(p.stdout, /^mooring: tokens /);
  p.kill('SIGTERM');
  return { code: await exited, stdout, stderr };
}

describe('mooring serve: the first hour', () => {
  it('with no tokens file: names its absolute path, warns loudly on stderr with the command that creates a token, prints the page URLs', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mooring-serve-'));
    const r = await serveOnce(dir);
    expect(r.code).toBe(0);
    const [listening, example, debug, tokens] = r.stdout.trim().split('\n');
    const http = /^mooring: listening on ws:\/\/(127\.0\.0\.1:\d+)\/ws$/.exec(listening!)![1];
    expect(example).toBe(`mooring: example page http://${http}/#token=<TOKEN>&channel=news`);
    expect(debug).toBe(`mooring: debug page   http://${http}/debug#token=<TOKEN>&channels=news`);
    expect(tokens).toBe(`mooring: tokens file ${join(dir, 'mooring-tokens.json')}: not there yet`);
    expect(r.stderr).toContain(`WARNING: the tokens file ${join(dir, 'mooring-tokens.json')} does not exist: every client will be refused with 4401`);
    expect(r.stderr).toContain('create one with: mooring token create --user alice\n');
  });

  it('with tokens: says how many, for how many users, and does not warn; a file elsewhere is named in the hint', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mooring-serve-'));
    for (const user of ['alice', 'bob']) expect((await mooring(['token', 'create', '--user', user], dir)).code).toBe(0);
    const r = await serveOnce(dir);
    expect(r.stdout).toContain(`mooring: tokens file ${join(dir, 'mooring-tokens.json')}: 2 token(s) for 2 user(s)\n`);
    expect(r.stderr).toBe('');
    const empty = await serveOnce(dir, ['--tokens-file', 'other.json']);
    expect(empty.stderr).toContain(`create one with: mooring token create --user alice --tokens-file ${join(dir, 'other.json')}\n`);
  });
});
