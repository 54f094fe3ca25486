/**
 * The runner: selects cases, probes the server for its advertised params, runs each case with fresh
 * connections and a time limit derived from those params, grades it and builds the report.
 */
import WebSocket from 'ws';
import { SUBPROTOCOL, type AuthenticatedMessage, type SessionParams } from '../schemas/v1/index.js';
import { CaseContext, SkipCase, AbortCase, InconclusiveCase, type Capabilities, type RunState, type SuiteEnv } from './context.js';
import { RateGovernor } from './wire/governor.js';
import { ProfileError } from './wire/conn.js';
import { areaOf, ruleInfo, serverSuiteRules } from './rules.js';
import { allCases } from './cases/index.js';
import type { CaseDef, CaseResult, Level, Outcome, SuiteReport } from './types.js';
import { VERSION } from './version.js';

export interface RunOptions {
  /** The WebSocket URL of the server under test (ws://host:port/path). */
  url: string;
  /** Tokens of two different users (the second is needed by the cases marked `tokens:2`). */
  tokens: string[];
  /** Rule IDs, area prefixes (`AUTH`) or case ids to run; all when empty. @default [] */
  select?: string[];
  /** Rule IDs, area prefixes or case ids to leave out. @default [] */
  exclude?: string[];
  /** Multiplies every wait and time limit (slow networks, CI). @default 1 */
  timeoutScale?: number;
  /** What the target can do beyond a URL and two tokens. */
  caps?: Partial<Capabilities>;
  /** Mode shown in the report. @default 'url' */
  mode?: 'url' | 'embedded';
  serverCmd?: string;
  /** Treat warn as failing. @default false */
  strict?: boolean;
  /** Called as each case starts and ends (console progress). */
  onCaseStart?: (c: CaseDef, index: number, total: number) => void;
  onCaseEnd?: (r: CaseResult, index: number, total: number) => void;
  /** Cases to run instead of the built-in ones (tests). */
  cases?: CaseDef[];
}

const PHASES = ['normal', 'rate', 'shutdown', 'meta'] as const;

/** A case matches a selector when the selector is its id, one of its rules, or the area of one. */
export function matches(c: CaseDef, sel: string): boolean {
  const s = sel.trim();
  if (!s) return false;
  if (c.id === s || c.id.startsWith(`${s}.`)) return true;
  return c.rules.some((r) => r === s.toUpperCase() || areaOf(r) === s.toUpperCase());
}

export function selectCases(cases: CaseDef[], select: string[] = [], exclude: string[] = []): CaseDef[] {
  const chosen = cases.filter((c) => (select.length === 0 || select.some((s) => matches(c, s))) && !exclude.some((s) => matches(c, s)));
  return [...chosen].sort((a, b) => PHASES.indexOf(a.phase ?? 'normal') - PHASES.indexOf(b.phase ?? 'normal'));
}

export function levelOf(rules: string[]): Level {
  const levels = rules.map((r) => ruleInfo(r)?.level ?? 'MUST');
  return levels.includes('MUST') ? 'MUST' : levels.includes('SHOULD') ? 'SHOULD' : 'MAY';
}

/** Authenticates with one token to learn the user and the advertised params (AUTH-5). */
export async function probe(url: string, token: string, timeoutMs: number, adapt: SuiteEnv['adapt'] = {}): Promise<AuthenticatedMessage> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, adapt.noSubprotocol ? [] : [SUBPROTOCOL], { perMessageDeflate: false, handshakeTimeout: timeoutMs, origin: adapt.origin });
    const timer = setTimeout(() => done(new Error(`no "authenticated" within ${timeoutMs} ms`)), timeoutMs);
    const done = (err: Error | null, m?: AuthenticatedMessage) => {
      clearTimeout(timer);
      ws.removeAllListeners();
      ws.on('error', () => {});
      ws.close();
      if (err) reject(err);
      else resolve(m!);
    };
    ws.on('unexpected-response', (_req, res) => done(new Error(`handshake refused with HTTP ${res.statusCode}`)));
    ws.on('error', (e) => done(e));
    ws.on('open', () => ws.send(JSON.stringify({ type: 'auth', token })));
    ws.on('message', (d) => {
      try {
        const m = JSON.parse(d.toString()) as AuthenticatedMessage;
        if (m.type === 'authenticated') done(null, m);
      } catch {
        /* judged by the cases */
      }
    });
    ws.on('close', (code, reason) => done(new Error(`closed with ${code} ${reason.toString()} before "authenticated"`)));
  });
}

/**
 * A server that refuses the suite's default handshake (no subprotocol selected, VER-2; a handshake
 * without Origin refused, SEC-1) would fail every case; the run adapts its connections instead, and
 * the cases of those rules (which set their handshake explicitly) report the violation.
 */
async function adaptHandshake(url: string, token: string, timeoutMs: number): Promise<NonNullable<SuiteEnv['adapt']>> {
  const tries: NonNullable<SuiteEnv['adapt']>[] = [{}, { noSubprotocol: true }, { origin: new URL(httpUrlOf(url)).origin }, { noSubprotocol: true, origin: new URL(httpUrlOf(url)).origin }];
  for (const a of tries) {
    try {
      await probe(url, token, timeoutMs, a);
      return a;
    } catch (e) {
      const m = (e as Error).message;
      if (!/no subprotocol|HTTP 403/i.test(m)) return {};
    }
  }
  return {};
}

export function httpUrlOf(wsUrl: string): string {
  const u = new URL(wsUrl);
  return `${u.protocol === 'wss:' ? 'https:' : 'http:'}//${u.host}`;
}

function isLoopback(url: string): boolean {
  const h = new URL(url).hostname;
  return h === '127.0.0.1' || h === 'localhost' || h === '[::1]' || h === '::1';
}

function grade(c: CaseDef, ctx: CaseContext, skip: string | undefined, started: number, startedAt: string, inconclusive?: string): CaseResult {
  const f = ctx.findings;
  let outcome: Outcome = 'pass';
  if (skip !== undefined) outcome = 'skip';
  else if (f.some((x) => x.grade === 'fail')) outcome = 'fail';
  else if (inconclusive !== undefined) outcome = 'inconclusive';
  else if (f.some((x) => x.grade === 'warn')) outcome = 'warn';
  else if (f.some((x) => x.grade === 'info')) outcome = 'info';
  const first = f.find((x) => x.grade === outcome && c.rules.includes(x.rule)) ?? f.find((x) => x.grade === outcome) ?? f[0];
  const detail =
    outcome === 'skip' ? skip! : outcome === 'inconclusive' ? inconclusive! : outcome === 'pass' ? (ctx.notes[0] ?? 'ok') : `${first!.rule}: ${first!.message}${f.length > 1 ? ` (+${f.length - 1} more)` : ''}`;
  return {
    id: c.id,
    title: c.title,
    area: areaOf(c.rules[0] ?? 'MISC'),
    rules: c.rules,
    level: levelOf(c.rules),
    outcome,
    detail,
    findings: f,
    notes: ctx.notes,
    closes: { expected: ctx.expectedCloses.length ? [...new Set(ctx.expectedCloses)] : undefined, seen: ctx.closes.slice(0, 50) },
    startedAt,
    durationMs: Date.now() - started,
    transcript: ctx.transcript,
  };
}

function missingNeed(c: CaseDef, env: SuiteEnv): string | undefined {
  for (const n of c.needs ?? []) {
    if (n === 'tokens:2' && env.tokens.length < 2) return 'needs a second token of another user (--token2)';
    if (n === 'server-cmd' && !env.caps.serverControl) return 'needs control of the server process (--server-cmd "<command that starts the server>")';
    if (n === 'expiring-token' && !env.caps.mintToken && !env.caps.expiringToken) return 'needs a token that expires soon (--expiring-token T), or embedded mode where the suite mints one';
    if (n === 'failing-action' && !env.caps.failingAction) return 'no black-box trigger for a failing handler: pass --failing-action NAME (an action of the server under test that fails), or run embedded mode';
    if (n === 'loopback' && !env.caps.loopback) return 'runs only against a server on this machine (127.0.0.1)';
  }
  return undefined;
}

/** Runs the suite; never throws for a misbehaving server (that is a fail in the report). */
export async function runSuite(opts: RunOptions): Promise<SuiteReport> {
  const startedAt = new Date();
  const scale = opts.timeoutScale ?? 1;
  const cases = selectCases(opts.cases ?? allCases(), opts.select, opts.exclude);
  const results: CaseResult[] = [];
  let params: SessionParams | null = null;
  const users: string[] = [];
  const userOfToken = new Map<string, string>();
  let setupError: string | undefined;
  const adapt = await adaptHandshake(opts.url, opts.tokens[0] ?? '', Math.round(5000 * scale));
  try {
    for (const [i, t] of opts.tokens.slice(0, 2).entries()) {
      const m = await probe(opts.url, t, Math.round(5000 * scale), adapt);
      users.push(m.userId);
      userOfToken.set(t, m.userId);
      if (i === 0) params = { ...m.params };
    }
    if (users.length === 2 && users[0] === users[1]) setupError = `--token and --token2 belong to the same user "${users[0]}"; two users are needed`;
  } catch (e) {
    setupError = `could not authenticate with --token at ${opts.url}: ${(e as Error).message}`;
  }
  const state: RunState = { frames: 0, closes: [], errorCodes: new Map(), violations: [] };
  const caps: Capabilities = { loopback: isLoopback(opts.url), extraTokens: [], ...opts.caps };
  const env: SuiteEnv | undefined = params
    ? {
        url: opts.url,
        httpUrl: httpUrlOf(opts.url),
        params,
        tokens: setupError ? [] : opts.tokens.slice(0, users.length),
        users,
        scale,
        runId: Math.random().toString(36).slice(2, 8),
        governor: new RateGovernor(params.rateLimit),
        state,
        caps,
        userOfToken,
        adapt,
      }
    : undefined;
  // The probe's auth messages count against the users' windows (RATE-2).
  if (env) for (const u of users) env.governor.note(u, 1);

  for (const [i, c] of cases.entries()) {
    opts.onCaseStart?.(c, i, cases.length);
    const started = Date.now();
    const iso = new Date(started).toISOString();
    let r: CaseResult;
    if (!env || setupError) {
      const ctx = new CaseContext(env ?? ({ params: { requestTimeoutMs: 1000 }, scale, state } as unknown as SuiteEnv), c.id, c.rules);
      r = grade(c, ctx, `setup failed: ${setupError}`, started, iso);
    } else {
      const ctx = new CaseContext(env, c.id, c.rules);
      const need = missingNeed(c, env);
      let skip: string | undefined = need;
      let inconclusive: string | undefined;
      if (!need) {
        // Plus room for the rate governor, which may hold the case's messages for up to two windows.
        const limit = Math.round(((c.timeoutMs?.(env.params) ?? 10_000) + 2.5 * env.params.rateLimit.windowMs) * scale);
        let timer: NodeJS.Timeout | undefined;
        try {
          await Promise.race([
            c.run(ctx),
            new Promise((_, reject) => (timer = setTimeout(() => reject(new Error(`case timed out after ${limit} ms`)), limit))),
          ]);
        } catch (e) {
          if (e instanceof SkipCase) skip = e.message;
          else if (e instanceof InconclusiveCase) inconclusive = e.message;
          else if (e instanceof ProfileError) ctx.finding(e.rule, e.message);
          else if (!(e instanceof AbortCase)) ctx.finding(ctx.currentRule, (e as Error).message);
        } finally {
          clearTimeout(timer);
          await ctx.cleanup();
        }
      }
      r = grade(c, ctx, skip, started, iso, inconclusive);
    }
    results.push(r);
    opts.onCaseEnd?.(r, i, cases.length);
  }
  if (setupError) {
    // The probe is the first check of all (AUTH-5): without it nothing else can run.
    results.unshift({
      id: 'setup.probe', title: 'authenticates with the given tokens and reads the advertised params', area: 'AUTH', rules: ['AUTH-5'], level: 'MUST',
      outcome: 'fail', detail: setupError, findings: [{ rule: 'AUTH-5', grade: 'fail', message: setupError }], notes: [],
      closes: { seen: [] }, startedAt: startedAt.toISOString(), durationMs: 0, transcript: [],
    });
  }
  return buildReport(opts, params, startedAt, results);
}

export function buildReport(opts: RunOptions, params: SessionParams | null, startedAt: Date, cases: CaseResult[]): SuiteReport {
  const totals = { cases: cases.length, pass: 0, fail: 0, warn: 0, info: 0, inconclusive: 0, skip: 0 } as SuiteReport['totals'];
  for (const c of cases) totals[c.outcome]++;
  const order: (Outcome | 'untested')[] = ['untested', 'skip', 'pass', 'info', 'inconclusive', 'warn', 'fail'];
  const rules = serverSuiteRules().map((r) => {
    const citing = cases.filter((c) => c.rules.includes(r.id));
    let outcome: Outcome | 'untested' = 'untested';
    // A case that does not cite the rule can still observe it broken (e.g. a bad close reason, ERR-6).
    const elsewhere = cases.filter((c) => !c.rules.includes(r.id) && c.outcome !== 'skip').flatMap((c) => c.findings.filter((f) => f.rule === r.id && f.grade !== 'info'));
    if (elsewhere.length) outcome = elsewhere.some((f) => f.grade === 'fail') ? 'fail' : 'warn';
    for (const c of citing) {
      // A case's finding is charged to the rule it names; other rules of a failing case still passed.
      const mine = c.findings.filter((f) => f.rule === r.id);
      const o: Outcome = c.outcome === 'skip' ? 'skip' : c.outcome === 'inconclusive' && !mine.some((f) => f.grade === 'fail') ? 'inconclusive' : mine.some((f) => f.grade === 'fail') ? 'fail' : mine.some((f) => f.grade === 'warn') ? 'warn' : mine.some((f) => f.grade === 'info') ? 'info' : 'pass';
      if (order.indexOf(o) > order.indexOf(outcome)) outcome = o;
    }
    return { id: r.id, level: r.level, title: r.title, outcome, cases: citing.map((c) => c.id) };
  });
  const strict = opts.strict ?? false;
  return {
    schemaVersion: 1,
    tool: { name: 'mooring test', version: VERSION },
    target: { url: opts.url, mode: opts.mode ?? 'url', ...(opts.serverCmd ? { serverCmd: opts.serverCmd } : {}) },
    params,
    startedAt: startedAt.toISOString(),
    durationMs: Date.now() - startedAt.getTime(),
    totals,
    rules,
    cases,
    failed: totals.fail > 0 || (strict && totals.warn > 0),
    strict,
  };
}
