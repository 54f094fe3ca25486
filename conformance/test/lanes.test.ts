/**
 * Concurrency: timer-bound cases run beside the rest on users of their own (minted, or from
 * --tokens-file), so the single-session policy and the per-user rate limit of one case never touch
 * another; with too few tokens they run in turn and the preflight says so. Progress lines for long
 * cases; the honest `Rules: N/M` line.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer } from '../../reference/server/index.js';
import { runSuite } from '../runner.js';
import { consoleReporter, rulesLine } from '../reporters/console.js';
import type { CaseDef, SuiteReport } from '../types.js';

type Ref = Awaited<ReturnType<typeof startServer>>;
let ref: Ref;
let tokens: string[];

beforeAll(async () => {
  ref = await startServer({ port: 0, tokensFile: ':memory:', logger: false, sessionPolicy: 'single' });
  tokens = await Promise.all(['l-a', 'l-b', 'l-c', 'l-d', 'l-e'].map((u) => ref.createToken(u)));
});
afterAll(async () => {
  await ref.shutdown();
});

/** A case that holds a session of user 0 for `ms` and records who it was and when. */
function holder(id: string, ms: number, lane: 'own' | undefined, seen: Map<string, { users: string[]; from: number; to: number; closed?: number }>): CaseDef {
  return {
    id,
    title: `holds a session of user 0 for ${ms} ms`,
    rules: ['SESS-1'],
    needs: ['tokens:2'],
    lane,
    async run(ctx) {
      const from = Date.now();
      const c = await ctx.session(0);
      await ctx.sleep(ms);
      seen.set(id, { users: [...ctx.users], from, to: Date.now(), closed: c.closed?.code });
      ctx.check('SESS-1', c.isOpen, `the session of ${ctx.users[0]} was closed (${c.closed?.code}) by another case's session`);
    },
  };
}

describe('lanes', () => {
  it('minted users: own-lane cases run at the same time as the rest, each on users no other case uses', async () => {
    const seen = new Map<string, { users: string[]; from: number; to: number; closed?: number }>();
    const cases = [holder('t.main-1', 300, undefined, seen), holder('t.main-2', 300, undefined, seen), holder('t.lane-1', 600, 'own', seen), holder('t.lane-2', 600, 'own', seen)];
    const lines: string[] = [];
    const r = await runSuite({ url: ref.url, tokens: tokens.slice(0, 2), cases, caps: { mintToken: (u, ttl) => ref.createToken(u, { ttlMs: ttl }) }, onPreflight: (l) => lines.push(l) });
    expect(r.setupError).toBeUndefined();
    expect(r.cases.map((c) => `${c.id}:${c.outcome}`)).toEqual(['t.main-1:pass', 't.main-2:pass', 't.lane-1:pass', 't.lane-2:pass']);
    const u = (id: string) => seen.get(id)!.users;
    expect(u('t.main-1')).toEqual(['l-a', 'l-b']);
    expect(u('t.main-2')).toEqual(['l-a', 'l-b']);
    const laneUsers = [...u('t.lane-1'), ...u('t.lane-2')];
    expect(new Set(laneUsers).size).toBe(4);
    expect(laneUsers.some((x) => x === 'l-a' || x === 'l-b')).toBe(false);
    // Overlap: the lanes ran while the main cases did.
    expect(seen.get('t.lane-1')!.from).toBeLessThan(seen.get('t.main-2')!.to);
    expect(lines[0]).toMatch(/^ws:\/\/127\.0\.0\.1:\d+\/ws speaks mooring\.v1; users "l-a" and "l-b"; heartbeat 25000 \+ 10000 ms, auth deadline 30000 ms, rate 60 per 10000 ms, session policy single$/);
    expect(lines[1]).toBe('2 timer-bound cases run concurrently, each on users of its own (4 minted users)');
  });

  it('--tokens-file users: with too few tokens the timer-bound cases share lanes (in turn on each), and the preflight says how many more', async () => {
    const seen = new Map<string, { users: string[]; from: number; to: number; closed?: number }>();
    const cases = [holder('t.main', 100, undefined, seen), holder('t.long', 400, 'own', seen), holder('t.short', 200, 'own', seen)];
    const lines: string[] = [];
    const r = await runSuite({ url: ref.url, tokens: tokens.slice(0, 2), cases, caps: { extraTokens: tokens.slice(2, 5) }, onPreflight: (l) => lines.push(l) });
    expect(r.cases.every((c) => c.outcome === 'pass')).toBe(true);
    // 3 extra tokens: a lane of two users (both cases need two: in turn, longest first) and one of one.
    expect(seen.get('t.long')!.users).toEqual(['l-c', 'l-d']);
    expect(seen.get('t.short')!.users).toEqual(['l-c', 'l-d']);
    expect(seen.get('t.short')!.from).toBeGreaterThanOrEqual(seen.get('t.long')!.to);
    expect(lines.slice(1)).toEqual([
      '2 timer-bound cases run on 1 concurrent lane (2 users of --tokens-file), in turn on each lane. For the fastest run (each on users of its own) add 1 token of distinct users to --tokens-file (it gave 3 beyond --token/--token2; e.g. mooring token create --count 6)',
    ]);
    // No extra token: they run in turn with the others, on users 0 and 1.
    const none: string[] = [];
    const r2 = await runSuite({ url: ref.url, tokens: tokens.slice(0, 2), cases, onPreflight: (l) => none.push(l) });
    expect(r2.cases.every((c) => c.outcome === 'pass')).toBe(true);
    expect(seen.get('t.short')!.users).toEqual(['l-a', 'l-b']);
    expect(none.slice(1)).toEqual([
      '2 timer-bound cases run in turn with the other cases (t.long, t.short). For the fastest run (each on users of its own) add 4 tokens of distinct users to --tokens-file (lines beyond the two users of --token/--token2; e.g. mooring token create --count 6)',
    ]);
  });

  it('concurrent: false runs every case in turn', async () => {
    const seen = new Map<string, { users: string[]; from: number; to: number; closed?: number }>();
    const r = await runSuite({ url: ref.url, tokens: tokens.slice(0, 2), cases: [holder('t.a', 50, 'own', seen), holder('t.b', 50, undefined, seen)], caps: { extraTokens: tokens.slice(2) }, concurrent: false });
    expect(r.cases.every((c) => c.outcome === 'pass')).toBe(true);
    expect(seen.get('t.a')!.users).toEqual(['l-a', 'l-b']);
  });
});

describe('progress', () => {
  it('a case running past the progress period reports what it waits for; the console prints it without a TTY', async () => {
    const slow: CaseDef = {
      id: 't.slow',
      title: 'waits',
      rules: ['HB-1'],
      async run(ctx) {
        await ctx.session(0);
        await ctx.sleep(350);
      },
    };
    const got: string[] = [];
    const out: string[] = [];
    const rep = consoleReporter({ write: (s) => out.push(s), color: false, live: false });
    const r = await runSuite({
      url: ref.url,
      tokens: tokens.slice(0, 1),
      cases: [slow],
      progressEveryMs: 100,
      onCaseProgress: (c, ms, what) => {
        got.push(`${c.id} ${what}`);
        rep.caseProgress(c, ms, what);
      },
    });
    expect(r.cases[0]!.outcome).toBe('pass');
    expect(got.length).toBeGreaterThanOrEqual(2);
    expect(got[0]).toBe('t.slow a pause of 350 ms');
    expect(out[0]).toMatch(/^ {7}… t\.slow running for 0 s, waiting for a pause of 350 ms\n$/);
  });
});

describe('Rules: N/M', () => {
  it('counts only rules with a pass or fail verdict and lists the others by outcome', () => {
    const rule = (id: string, outcome: SuiteReport['rules'][number]['outcome']) => ({ id, level: 'MUST' as const, title: id, outcome, cases: [] });
    const rep = { rules: [rule('A-1', 'pass'), rule('A-2', 'fail'), rule('A-3', 'skip'), rule('A-4', 'inconclusive'), rule('A-5', 'untested'), rule('A-6', 'info'), rule('A-7', 'warn')] } as unknown as SuiteReport;
    expect(rulesLine(rep)).toBe('Rules: 2/7 judged (1 pass, 1 fail: A-2); warn A-7; info A-6; inconclusive A-4; skip A-3; not run A-5');
    const allSkipped = { rules: [rule('A-1', 'skip'), rule('A-2', 'skip')] } as unknown as SuiteReport;
    expect(rulesLine(allSkipped)).toBe('Rules: 0/2 judged (0 pass, 0 fail); skip A-1 A-2');
  });
});
