/**
 * The suite's own rate pacing never makes a correct server look wrong: the spec counts only frames
 * after authentication ("Rate limiting"), so a fresh connection's first auth is never held — a held
 * auth would sit past the server's auth deadline and be closed 4408 (AUTH-2), rightly.
 *
 * Reproduces the false fail of issue 7: default rate (60 per 10 s) and an 8 s auth deadline, with
 * the governor's window for the user full (as after a run's earlier cases): ERR-6 (err.close-reasons),
 * ERR-5 (meta.close-codes) and SHUT-1 (shut.drain) failed the reference server.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { runSuite } from '../runner.js';
import { allCases } from '../cases/index.js';
import { mooringCli, packageRoot } from '../embedded.js';
import { processServer } from '../server-control.js';
import { RateGovernor } from '../wire/governor.js';
import type { CaseDef } from '../types.js';

const dir = mkdtempSync(path.join(os.tmpdir(), 'mooring-governor-test-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

/** Fills the governor's window of user 0, as the earlier cases of a long run do. */
const fullWindow: CaseDef = {
  id: 'test.full-window',
  title: 'the suite has used user 0\'s whole rate budget',
  rules: ['RATE-2'],
  async run(ctx) {
    ctx.env.governor.note(ctx.users[0]!, ctx.params.rateLimit.messages);
    ctx.check('RATE-2', ctx.env.governor.clearInMs(ctx.users[0]!) > 8_000, 'the window is not full');
  },
};

describe('rate governor and the auth deadline', () => {
  it('a full window holds the next counted frame (a first auth bypasses the governor: next test)', async () => {
    const g = new RateGovernor({ messages: 4, windowMs: 200 });
    g.note('u', 4);
    expect(g.clearInMs('u')).toBeGreaterThan(200);
    const t0 = Date.now();
    await g.acquire('u');
    expect(Date.now() - t0).toBeGreaterThanOrEqual(200);
  });

  it('default 60/10 s rate, 8 s auth deadline: ERR-6, ERR-5 and SHUT-1 do not fail the reference server', async () => {
    const cli = mooringCli();
    expect(cli).toBeDefined();
    const file = path.join(dir, 'tokens.json');
    const { stdout } = await promisify(execFile)(cli!.cmd[0]!, [...cli!.cmd.slice(1), 'token', 'create', '--user', 'gov', '--count', '3', '--tokens-file', file], { cwd: packageRoot() });
    const tokens = stdout.trim().split('\n');
    const port = await freePort();
    const url = `ws://127.0.0.1:${port}/ws`;
    const q = (s: string) => `'${s}'`;
    const command = [...cli!.cmd, 'serve', '--port', String(port), '--tokens-file', file, '--quiet', '--auth-timeout', '8s', '--shutdown-spread', '1s'].map(q).join(' ');
    const control = processServer({ command, url, tokens, cwd: packageRoot() });
    await control.start();
    try {
      const pick = (id: string) => allCases().find((c) => c.id === id)!;
      const cases = [fullWindow, pick('err.close-reasons'), pick('shut.drain'), pick('meta.close-codes'), pick('meta.close-reasons')];
      const r = await runSuite({ url, tokens: tokens.slice(0, 2), caps: { serverControl: control, extraTokens: tokens.slice(2) }, cases, concurrent: false });
      expect(r.setupError).toBeUndefined();
      expect(r.params?.authTimeoutMs).toBe(8000);
      expect(r.params?.rateLimit).toEqual({ messages: 60, windowMs: 10_000 });
      const bad = r.cases.filter((c) => c.outcome !== 'pass').map((c) => `${c.id}: ${c.outcome} ${c.detail}`);
      expect(bad).toEqual([]);
      const closes = r.cases.flatMap((c) => c.closes.seen.map((s) => s.code));
      expect(closes).not.toContain(4408);
    } finally {
      await control.stop();
    }
  }, 60_000);
});
