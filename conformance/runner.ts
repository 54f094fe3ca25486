/**
 * The runner: selects cases, probes the server for its advertised params, runs each case with fresh
 * connections and a time limit derived from those params, grades it and builds the report.
 */
import type { AuthenticatedMessage, SessionParams } from '../schemas/v1/index.js';
import { PreflightViolation, SetupError, checkDistinctUsers, checkProfile, checkTcp, checkToken, checkUrl, firstContact, type SourcedToken } from './preflight.js';
import { CaseContext, SkipCase, AbortCase, InconclusiveCase, type Capabilities, type RunState, type SuiteEnv } from './context.js';
import { RateGovernor } from './wire/governor.js';
import { ProfileError } from './wire/conn.js';
import { areaOf, ruleInfo, serverSuiteRules } from './rules.js';
import { allCases } from './cases/index.js';
import type { CaseDef, CaseResult, Finding, Level, Outcome, SuiteReport } from './types.js';
import { VERSION } from './version.js';
import { redact } from './wire/redact.js';

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
  /**
   * Where each token came from, for the preflight's messages (`--token`, `--token2`,
   * `--tokens-file line 3`); `tokenLabels` for `tokens`, `extraTokenLabels` for `caps.extraTokens`.
   */
  tokenLabels?: string[];
  extraTokenLabels?: string[];
  /**
   * Run the timer-bound cases concurrently, each on users of its own (minted with `caps.mintToken`,
   * else taken from `caps.extraTokens`). @default true
   */
  concurrent?: boolean;
  /** Called as each case starts and ends (console progress); `index` counts starts and ends. */
  onCaseStart?: (c: CaseDef, index: number, total: number) => void;
  onCaseEnd?: (r: CaseResult, index: number, total: number) => void;
  /** Called every `progressEveryMs` while a case runs longer than that: what it waits for, if known. */
  onCaseProgress?: (c: CaseDef, elapsedMs: number, waitingFor: string | undefined) => void;
  /** @default 10_000 */
  progressEveryMs?: number;
  /** The preflight's findings and decisions, one line each, as they are made. */
  onPreflight?: (line: string) => void;
  /** Certificate authorities (PEM) trusted for a wss:// URL, e.g. a self-signed server's certificate. @default Node's roots */
  ca?: string | Buffer;
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

/** Every area of the built-in rules and cases, for usage messages. */
function areasOf(cases: CaseDef[]): string[] {
  return [...new Set(cases.flatMap((c) => c.rules.map(areaOf)))];
}

/**
 * A usage problem of --select/--exclude: a selector that matches no case (a typo would otherwise
 * run nothing and pass), or a selection that leaves nothing to run. One line with what exists.
 */
export function selectionProblem(cases: CaseDef[], select: string[] = [], exclude: string[] = []): string | undefined {
  const known = `areas: ${areasOf(cases).join(' ')}; rule IDs like AUTH-2; case ids like ${cases.slice(0, 3).map((c) => c.id).join(', ')} (mooring test --list)`;
  for (const [flag, list] of [['--select', select], ['--exclude', exclude]] as const) {
    const none = list.filter((sel) => sel.trim() && !cases.some((c) => matches(c, sel)));
    if (none.length) return `${flag} ${none.map((x) => `"${x}"`).join(', ')} matches no case: ${known}`;
  }
  if (!selectCases(cases, select, exclude).length) return `--select ${select.join(',') || '(all)'} with --exclude ${exclude.join(',')} leaves no case to run: ${known}`;
  return undefined;
}

export function levelOf(rules: string[]): Level {
  const levels = rules.map((r) => ruleInfo(r)?.level ?? 'MUST');
  return levels.includes('MUST') ? 'MUST' : levels.includes('SHOULD') ? 'SHOULD' : 'MAY';
}

/** Authenticates with one token to learn the user and the advertised params (AUTH-5). */
export async function probe(url: string, token: string, timeoutMs: number, adapt: SuiteEnv['adapt'] = {}): Promise<AuthenticatedMessage> {
  return checkToken(url, adapt ?? {}, { token, label: 'the token' }, timeoutMs);
}

export function httpUrlOf(wsUrl: string): string {
  const u = new URL(wsUrl);
  return `${u.protocol === 'wss:' ? 'https:' : 'http:'}//${u.host}`;
}

function isLoopback(url: string): boolean {
  const h = new URL(url).hostname;
  return h === '127.0.0.1' || h === 'localhost' || h === '[::1]' || h === '::1';
}

/**
 * A case's outcome and one-line verdict from its findings: a broken MUST fails, even when the case
 * was also inconclusive; skip and inconclusive carry their reason. Shared by the server suite and
 * the client harness.
 */
export function outcomeOf(rules: string[], f: Finding[], notes: string[], skip?: string, inconclusive?: string): { outcome: Outcome; detail: string } {
  let outcome: Outcome = 'pass';
  if (skip !== undefined) outcome = 'skip';
  else if (f.some((x) => x.grade === 'fail')) outcome = 'fail';
  else if (inconclusive !== undefined) outcome = 'inconclusive';
  else if (f.some((x) => x.grade === 'warn')) outcome = 'warn';
  else if (f.some((x) => x.grade === 'info')) outcome = 'info';
  const first = f.find((x) => x.grade === outcome && rules.includes(x.rule)) ?? f.find((x) => x.grade === outcome) ?? f[0];
  const detail =
    outcome === 'skip' ? skip! : outcome === 'inconclusive' ? inconclusive! : outcome === 'pass' ? (notes[0] ?? 'ok') : `${first!.rule}: ${first!.message}${f.length > 1 ? ` (+${f.length - 1} more)` : ''}`;
  return { outcome, detail };
}

function grade(c: CaseDef, ctx: CaseContext, skip: string | undefined, started: number, startedAt: string, inconclusive?: string): CaseResult {
  const f = ctx.findings;
  const { outcome, detail } = outcomeOf(c.rules, f, ctx.notes, skip, inconclusive);
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

/**
 * Which cases run on users of their own, concurrently with the rest: those that mostly wait on a
 * server timer (heartbeat, auth deadline, token expiry) or on a user's rate window (many messages
 * under the default 60/10 s), measured against `mooring serve` on its defaults. `exclusive`: the
 * case counts the server's connections, so nothing else runs meanwhile. A case's own `lane` wins.
 */
export const LANES: Readonly<Record<string, 'own' | 'exclusive'>> = {
  'auth.deadline': 'own', // authTimeoutMs (30 s)
  'auth.expiring': 'own', // a minted token's expiry
  'auth.expired': 'own',
  'sub.order': 'own', // many publishes: rate window (8 s)
  'sub.resume-unavailable': 'own', // > historySize publishes: rate windows (21 s)
  'sub.ack-before-push': 'own',
  'hb.idle-client': 'own', // 2.5 intervals + timeout (77 s)
  'hb.dropped-pongs': 'own', // interval + timeout (35 s)
  'hb.blackhole': 'own', // (35 s)
  'hb.delayed-pongs': 'own', // 2 intervals + timeout (60 s)
  'limit.slow-consumer': 'exclusive', // floods a stalled reader: under CPU contention the heartbeat closes it first
  'limit.subscriptions': 'own', // maxSubscriptions subscribes: rate windows (11 s)
  'limit.pending': 'own',
  'err.invalid-message': 'own',
  'err.isolation': 'own',
  'rate.within-limit': 'own', // rate windows, and they poison the user's window
  'rate.flood': 'own',
  'rate.reconnect': 'own',
  'limit.per-ip': 'exclusive', // counts connections from this IP
};

const plural = (n: number, what: string) => `${n} ${what}${n === 1 ? '' : 's'}`;
const redactUrl = (url: string) => redact(url);

const laneOf = (c: CaseDef) => c.lane ?? LANES[c.id];
/** Users a case of its own lane needs. */
const usersFor = (c: CaseDef) => (c.needs?.includes('tokens:2') ? 2 : 1);

/** A setup or usage error as a report: no case ran, so no verdict (exit code 2). */
function setupReport(opts: RunOptions, startedAt: Date, message: string, params: SessionParams | null = null, preflight: string[] = []): SuiteReport {
  return { ...buildReport(opts, params, startedAt, []), failed: true, setupError: message, preflight };
}

/** A rule broken in the preflight (AUTH-5 without usable params): one failed case, exit code 1. */
function violationReport(opts: RunOptions, startedAt: Date, v: PreflightViolation, preflight: string[]): SuiteReport {
  const c: CaseResult = {
    id: 'preflight.authenticated', title: 'answers auth with authenticated carrying the session params the suite adapts to', area: areaOf(v.rule), rules: [v.rule], level: levelOf([v.rule]),
    outcome: 'fail', detail: `${v.rule}: ${v.message}`, findings: [{ rule: v.rule, grade: 'fail', message: v.message }], notes: [],
    closes: { seen: [] }, startedAt: startedAt.toISOString(), durationMs: Date.now() - startedAt.getTime(), transcript: [],
  };
  return { ...buildReport(opts, null, startedAt, [c]), preflight };
}

/** The exit code of `mooring test`: 0 pass, 1 conformance failure, 2 usage or setup error. */
export function exitCodeOf(r: SuiteReport): 0 | 1 | 2 {
  return r.setupError !== undefined ? 2 : r.failed ? 1 : 0;
}

/**
 * Runs the suite. Never throws for a misbehaving server (that is a fail in the report); a setup or
 * usage error (nothing listens, wrong path, refused token, a selection matching nothing) ends the
 * run before any case and comes back as `report.setupError`.
 */
export async function runSuite(opts: RunOptions): Promise<SuiteReport> {
  const startedAt = new Date();
  const scale = opts.timeoutScale ?? 1;
  const all = opts.cases ?? allCases();
  const log: string[] = [];
  const say = (line: string) => {
    log.push(line);
    opts.onPreflight?.(line);
  };
  const problem = selectionProblem(all, opts.select, opts.exclude);
  if (problem) return setupReport(opts, startedAt, problem);
  const cases = selectCases(all, opts.select, opts.exclude);
  const runId = Math.random().toString(36).slice(2, 8);
  const t = Math.round(5000 * scale);
  const labels = opts.tokenLabels ?? ['--token', '--token2'];
  const main: SourcedToken[] = opts.tokens.slice(0, 2).map((token, i) => ({ token, label: labels[i] ?? `token ${i + 1}` }));
  const users: string[] = [];
  const userOfToken = new Map<string, string>();
  let params: SessionParams;
  let adapt: NonNullable<SuiteEnv['adapt']>;
  const caps: Capabilities = { loopback: false, extraTokens: [], ...opts.caps };
  try {
    // TCP, the upgrade and the subprotocol, then each token's auth, then the profile's actions.
    checkUrl(opts.url);
    caps.loopback = opts.caps?.loopback ?? isLoopback(opts.url);
    await checkTcp(opts.url, t);
    if (!main.length) throw new SetupError('no token: give --token (and --token2), or --tokens-file', 'usage');
    const first = await firstContact(opts.url, main[0]!, t, opts.ca === undefined ? {} : { ca: opts.ca });
    adapt = first.adapt;
    params = { ...first.msg.params };
    users.push(first.msg.userId);
    userOfToken.set(main[0]!.token, first.msg.userId);
    if (adapt.noSubprotocol) say('the server selects no subprotocol for a client offering mooring.v1: connecting without an offer (ver.select grades VER-2)');
    if (adapt.origin) say(`the server refuses a handshake without Origin: connecting with Origin ${adapt.origin} (sec.origin grades SEC-1)`);
    for (const tk of main.slice(1)) {
      const m = await checkToken(opts.url, adapt, tk, t);
      users.push(m.userId);
      userOfToken.set(tk.token, m.userId);
    }
    checkDistinctUsers(main.map((tk, i) => ({ label: tk.label, userId: users[i]! })));
    const p = params;
    say(
      `${redactUrl(opts.url)} speaks mooring.v1; ${users.length === 1 ? 'user' : 'users'} ${users.map((u) => `"${u}"`).join(' and ')}; ` +
        `heartbeat ${p.heartbeatIntervalMs} + ${p.heartbeatTimeoutMs} ms, auth deadline ${p.authTimeoutMs} ms, rate ${p.rateLimit.messages} per ${p.rateLimit.windowMs} ms, session policy ${p.sessionPolicy}`,
    );
  } catch (e) {
    if (e instanceof SetupError) return setupReport(opts, startedAt, e.message, null, log);
    if (e instanceof PreflightViolation) return violationReport(opts, startedAt, e, log);
    throw e;
  }
  const state: RunState = { frames: 0, closes: [], errorCodes: new Map(), violations: [] };
  const env: SuiteEnv = {
    url: opts.url,
    httpUrl: httpUrlOf(opts.url),
    params,
    tokens: main.map((x) => x.token),
    users,
    scale,
    runId,
    governor: new RateGovernor(params.rateLimit),
    state,
    caps,
    userOfToken,
    adapt,
  };

  // Lanes: the timer-bound cases run concurrently with the rest, each on users of its own, so the
  // single-session policy and the per-user rate limit of one case never touch another.
  const runnable = (c: CaseDef) => !missingNeed(c, env);
  const ownLane = (c: CaseDef) =>
    laneOf(c) === 'own' && (c.phase ?? 'normal') !== 'shutdown' && runnable(c) && (!c.needs?.includes('expiring-token') || !!caps.mintToken);
  const wanted = opts.concurrent === false ? [] : cases.filter(ownLane);
  const est = (c: CaseDef) => c.timeoutMs?.(params) ?? 10_000;
  wanted.sort((a, b) => est(b) - est(a));
  const lanes: { cases: CaseDef[]; tokens: string[]; users: string[] }[] = [];
  try {
    const need = wanted.reduce((n, c) => n + usersFor(c), 0);
    let pool: SourcedToken[] = [];
    if (need && caps.mintToken) {
      pool = await Promise.all(Array.from({ length: need }, async (_, i) => ({ token: await caps.mintToken!(`conf-${runId}-u${i + 1}`, 3_600_000), label: `minted user conf-${runId}-u${i + 1}` })));
    } else if (need) {
      const extraLabels = opts.extraTokenLabels ?? [];
      pool = caps.extraTokens
        .map((token, i) => ({ token, label: extraLabels[i] ?? `extra token ${i + 1}` }))
        .filter((x) => !main.some((m) => m.token === x.token))
        .slice(0, need);
    }
    // Authenticate the pool (a few at a time): each token must work and be a user of its own.
    const pooled: { token: string; label: string; userId: string }[] = [];
    for (let i = 0; i < pool.length; i += 8) {
      const batch = await Promise.all(pool.slice(i, i + 8).map(async (tk) => ({ ...tk, userId: (await checkToken(opts.url, adapt, tk, t)).userId })));
      pooled.push(...batch);
    }
    checkDistinctUsers([...main.map((tk, i) => ({ label: tk.label, userId: users[i]! })), ...pooled]);
    for (const p of pooled) userOfToken.set(p.token, p.userId);
    const sequential: CaseDef[] = [];
    const user = (x: { token: string; userId: string }[]) => ({ tokens: x.map((y) => y.token), users: x.map((y) => y.userId) });
    if (pooled.length >= need) {
      // Enough users: every timer-bound case on a lane of its own.
      let k = 0;
      for (const c of wanted) {
        const mine = pooled.slice(k, (k += usersFor(c)));
        lanes.push({ cases: [c], ...user(mine) });
      }
    } else {
      // Too few: lanes of two users (and one of one), each running its cases in turn, longest first
      // onto the least loaded lane; on each lane the rate cases last (they use up the window).
      const workers: { cases: CaseDef[]; load: number; of: typeof pooled }[] = [];
      for (let i = 0; i + 1 < pooled.length; i += 2) workers.push({ cases: [], load: 0, of: pooled.slice(i, i + 2) });
      if (pooled.length % 2) workers.push({ cases: [], load: 0, of: pooled.slice(-1) });
      for (const c of wanted) {
        const fit = workers.filter((w) => w.of.length >= usersFor(c)).sort((x, y) => x.load - y.load)[0];
        if (!fit) sequential.push(c);
        else {
          fit.cases.push(c);
          fit.load += est(c);
        }
      }
      const last = (c: CaseDef) => (c.phase === 'rate' ? 1 : 0);
      for (const w of workers) if (w.cases.length) lanes.push({ cases: [...w.cases].sort((x, y) => last(x) - last(y)), ...user(w.of) });
    }
    if (wanted.length) {
      const used = lanes.reduce((n, l) => n + l.users.length, 0);
      const from = caps.mintToken ? `${used} minted users` : `${used} users of --tokens-file`;
      const inLanes = lanes.reduce((n, l) => n + l.cases.length, 0);
      if (pooled.length >= need) say(`${plural(inLanes, 'timer-bound case')} ${inLanes === 1 ? 'runs' : 'run'} concurrently, each on users of its own (${from})`);
      else {
        const more = need - pooled.length;
        const shared = lanes.length ? `${plural(inLanes, 'timer-bound case')} ${inLanes === 1 ? 'runs' : 'run'} on ${plural(lanes.length, 'concurrent lane')} (${from}), in turn on each lane` : '';
        const alone = sequential.length ? `${lanes.length ? `${sequential.length} more` : plural(sequential.length, 'timer-bound case')} ${sequential.length === 1 ? 'runs' : 'run'} in turn with the other cases (${sequential.map((c) => c.id).join(', ')})` : '';
        say(
          `${[shared, alone].filter(Boolean).join('; ')}. For the fastest run (each on users of its own) add ${plural(more, 'token')} of distinct users to --tokens-file ` +
            `(${pooled.length ? `it gave ${pooled.length} beyond --token/--token2` : 'lines beyond the two users of --token/--token2'}; e.g. mooring token create --count ${need + 2})`,
        );
      }
    } else if (opts.concurrent === false) say('concurrency off: every case runs in turn');
    // The preflight's last step: the conformance profile answers (CONF-1..3; unknown_action is setup).
    const frames = await checkProfile(opts.url, adapt, main[0]!, `conf.${runId}.preflight`, Math.max(t, Math.round(params.requestTimeoutMs * scale)));
    // Frames after authentication count toward the user's window (RATE-1).
    env.governor.note(users[0]!, frames);
  } catch (e) {
    if (e instanceof SetupError) return setupReport(opts, startedAt, e.message, params, log);
    throw e;
  }

  const inLane = new Set(lanes.flatMap((l) => l.cases));
  const shutdown = cases.filter((c) => c.phase === 'shutdown');
  const meta = cases.filter((c) => c.phase === 'meta');
  const exclusive = cases.filter((c) => laneOf(c) === 'exclusive' && (c.phase ?? 'normal') === 'normal' && !inLane.has(c));
  const rest = cases.filter((c) => !inLane.has(c) && !exclusive.includes(c) && !shutdown.includes(c) && !meta.includes(c));
  const results = new Map<CaseDef, CaseResult>();
  let started = 0;
  let ended = 0;
  const total = cases.length;
  const runOne = async (c: CaseDef, laneEnv: SuiteEnv) => {
    opts.onCaseStart?.(c, started++, total);
    const r = await runCase(c, laneEnv, opts);
    results.set(c, r);
    opts.onCaseEnd?.(r, ended++, total);
  };
  const runSeq = async (list: CaseDef[], laneEnv: SuiteEnv) => {
    for (const c of list) await runOne(c, laneEnv);
  };
  // Exclusive cases first, alone; then the main lane and every other lane at once; then the
  // shutdown cases, alone (they stop a server and storm it: load that would skew other cases'
  // timings), and the judgements across the run.
  await runSeq(exclusive, env);
  await Promise.all([runSeq(rest, env), ...lanes.map((l) => runSeq(l.cases, { ...env, tokens: l.tokens, users: l.users }))]);
  await runSeq(shutdown, env);
  await runSeq(meta, env);
  const ordered = cases.map((c) => results.get(c)!).filter(Boolean);
  return { ...buildReport(opts, params, startedAt, ordered), preflight: log };
}

/** Runs one case with its time limit and progress reports, and grades it. */
async function runCase(c: CaseDef, env: SuiteEnv, opts: RunOptions): Promise<CaseResult> {
  const started = Date.now();
  const iso = new Date(started).toISOString();
  const ctx = new CaseContext(env, c.id, c.rules);
  const need = missingNeed(c, env);
  let skip: string | undefined = need;
  let inconclusive: string | undefined;
  if (!need) {
    // Plus room for the rate governor, which may hold the case's messages for up to two windows.
    const limit = Math.round(((c.timeoutMs?.(env.params) ?? 10_000) + 2.5 * env.params.rateLimit.windowMs) * env.scale);
    let timer: NodeJS.Timeout | undefined;
    const every = opts.progressEveryMs ?? 10_000;
    const progress = opts.onCaseProgress ? setInterval(() => opts.onCaseProgress!(c, Date.now() - started, ctx.waitingFor), every) : undefined;
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
      clearInterval(progress);
      await ctx.cleanup();
    }
  }
  return grade(c, ctx, skip, started, iso, inconclusive);
}

/**
 * Per rule: the worst outcome of the cases citing it, plus what other cases observed broken (e.g. a
 * bad close reason, ERR-6). A case's finding is charged to the rule it names; other rules of a failing
 * case still passed. Shared by the server suite and the client harness.
 */
export function ruleVerdicts(registry: { id: string; level: Level; title: string }[], cases: CaseResult[]): SuiteReport['rules'] {
  const order: (Outcome | 'untested')[] = ['untested', 'skip', 'pass', 'info', 'inconclusive', 'warn', 'fail'];
  return registry.map((r) => {
    const citing = cases.filter((c) => c.rules.includes(r.id));
    let outcome: Outcome | 'untested' = 'untested';
    const elsewhere = cases.filter((c) => !c.rules.includes(r.id) && c.outcome !== 'skip').flatMap((c) => c.findings.filter((f) => f.rule === r.id && f.grade !== 'info'));
    if (elsewhere.length) outcome = elsewhere.some((f) => f.grade === 'fail') ? 'fail' : 'warn';
    for (const c of citing) {
      const mine = c.findings.filter((f) => f.rule === r.id);
      const o: Outcome = c.outcome === 'skip' ? 'skip' : c.outcome === 'inconclusive' && !mine.some((f) => f.grade === 'fail') ? 'inconclusive' : mine.some((f) => f.grade === 'fail') ? 'fail' : mine.some((f) => f.grade === 'warn') ? 'warn' : mine.some((f) => f.grade === 'info') ? 'info' : 'pass';
      if (order.indexOf(o) > order.indexOf(outcome)) outcome = o;
    }
    return { id: r.id, level: r.level, title: r.title, outcome, cases: citing.map((c) => c.id) };
  });
}

export function buildReport(opts: RunOptions, params: SessionParams | null, startedAt: Date, cases: CaseResult[]): SuiteReport {
  const totals = { cases: cases.length, pass: 0, fail: 0, warn: 0, info: 0, inconclusive: 0, skip: 0 } as SuiteReport['totals'];
  for (const c of cases) totals[c.outcome]++;
  const rules = ruleVerdicts(serverSuiteRules(), cases);
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
