/**
 * The packed package works where a user installs it: `npm pack` (files of package.json), `npm install
 * <tarball>` in an empty project (deps from the local npm cache, the registry only for what it lacks),
 * then its `mooring --version`, `mooring test` (embedded, with the CLI's own server for the shutdown
 * case), and `npx mooring serve`: it serves the example page, the debug page and the browser bundle,
 * and shuts down gracefully when the npx wrapper alone gets SIGTERM (a process manager's stop,
 * `kill <pid>`) though npm's `sh -c` does not pass it on, and on Ctrl-C (SIGINT to the process group).
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { lineMatching, ROOT, runToEnd, type Child } from './helpers.js';

const dir = mkdtempSync(join(tmpdir(), 'mooring-pack-'));
const app = join(dir, 'app');
const bin = join(app, 'node_modules/.bin/mooring');
afterAll(() => rmSync(dir, { recursive: true, force: true }));

beforeAll(async () => {
  // --ignore-scripts: dist/ is what npm ci built; `prepare` would rebuild it under the other tests' feet.
  const pack = await runToEnd('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', dir]);
  expect(pack.code, pack.stderr).toBe(0);
  const tarball = join(dir, (JSON.parse(pack.stdout) as { filename: string }[])[0]!.filename);
  rmSync(app, { recursive: true, force: true });
  await runToEnd('mkdir', [app]);
  writeFileSync(join(app, 'package.json'), '{ "name": "app", "private": true }\n');
  const install = await runToEnd('npm', ['install', tarball, '--prefer-offline', '--no-audit', '--no-fund', '--ignore-scripts'], { cwd: app });
  expect(install.code, install.stderr).toBe(0);
}, 60_000);

describe('the packed tarball', () => {
  it('installs in an empty project; `mooring --version` prints the package version and spec revision', async () => {
    const v = await runToEnd(bin, ['--version'], { cwd: app });
    expect(v).toMatchObject({ code: 0, stderr: '' });
    expect(v.stdout).toMatch(/^mooring 0\.1\.0 \(protocol mooring\.v1, spec revision \d+\.\d+\)\n$/);
  });

  it('runs `mooring test` against its embedded server, the shutdown case through its own `mooring serve`', async () => {
    const r = await runToEnd(bin, ['test', '--select', 'CONF,VER-6,shut.close-1012', '--quiet'], { cwd: app });
    expect(r.stderr).toBe('');
    expect(r.stdout).toContain('testing the reference server started in-process');
    expect(r.stdout).not.toContain('shutdown cases will be skipped');
    expect(r.stdout).toMatch(/Cases: \d+ — \d+ pass, 0 fail.* 0 skip/);
    expect(r.code).toBe(0);
  }, 30_000);

  const stops = [
    { signal: 'SIGTERM', title: 'SIGTERM to the npx wrapper alone (a process manager, `kill <pid>`)', group: false },
    { signal: 'SIGINT', title: 'Ctrl-C (SIGINT to the process group, as a terminal sends it)', group: true },
  ] as const;
  for (const { signal, title, group } of stops) {
    it(`SHUT-2: \`npx mooring serve\` serves the example, debug and bundle files; ${title} shuts the server down (1012) and ends it`, async () => {
      const tokens = join(app, `tokens-${signal}.json`);
      const made = await runToEnd(bin, ['token', 'create', '--user', 'alice', '--tokens-file', tokens], { cwd: app });
      const token = made.stdout.trim();
      // npx → sh -c → node: the tree a user (or a process manager) gets from `npx mooring serve`.
      const npx: Child = spawn('npx', ['mooring', 'serve', '--port', '0', '--quiet', '--tokens-file', tokens, '--shutdown-spread', '1s'], {
        cwd: app, stdio: ['ignore', 'pipe', 'pipe'], detached: group,
      });
      let stderr = '';
      npx.stderr.on('data', (d) => (stderr += d));
      const ended = new Promise<void>((r) => npx.stdout.once('end', r)); // every holder of the pipe, node included, has exited
      const url = (await lineMatching(npx.stdout, /^mooring: listening on (ws:\/\/\S+)$/))[1]!;
      npx.stdout.resume();
      const http = url.replace(/^ws/, 'http').replace(/\/ws$/, '');
      for (const [p, type] of [['/', 'text/html'], ['/debug', 'text/html'], ['/mooring-client.js', 'javascript']] as const) {
        const res = await fetch(http + p);
        expect(res.status, p).toBe(200);
        expect(res.headers.get('content-type'), p).toContain(type);
      }
      const ws = new WebSocket(url, 'mooring.v1');
      const closed = new Promise<number>((r) => ws.once('close', (code) => r(code)));
      await new Promise((r) => ws.once('open', r));
      ws.send(JSON.stringify({ type: 'auth', token }));
      await new Promise<void>((r) => ws.on('message', (m) => JSON.parse(String(m)).type === 'authenticated' && r()));
      if (group) process.kill(-npx.pid!, signal);
      else npx.kill(signal); // npm forwards it to its `sh -c`, which dies without passing it on: the server sees its parent go
      expect(await closed).toBe(1012);
      await ended;
      expect(stderr).not.toMatch(/Error|\n\s+at /);
      if (!group) expect(stderr).toContain('mooring serve: the npm/npx process that started this server is gone: shutting down');
    }, 30_000);
  }
});
