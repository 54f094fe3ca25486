/**
 * `mooring test-client`: grades a client program through the driver contract. The harness plays the
 * server; each case starts the program afresh, scripts the server, and charges what it sees to the
 * rules it cites (or, for the checks that hold on every connection, to those rules wherever they
 * break). Outcomes and the report shape are the server suite's (`SuiteReport`), so its reporters
 * (console, JSON, JUnit, HTML) print client reports too.
 */
import { DEFAULT_PARAMS } from '../../schemas/v1/defaults.js';
import type { SessionParams } from '../../schemas/v1/messages.js';
import { areaOf, RULES } from '../rules.js';
import { levelOf, matches, outcomeOf, ruleVerdicts } from '../runner.js';
import type { CaseDef, CaseResult, SuiteReport } from '../types.js';
import { VERSION } from '../version.js';
import { clientCases } from './cases/index.js';
import type { DriverSettings } from './contract.js';
import { ClientCaseContext, ClientInconclusive, ClientSkip, type ClientCaseDef, type ClientEnv } from './context.js';

/** The session params the harness advertises: short, so that a full run takes a minute or two. */
export const HARNESS_PARAMS: SessionParams = {
  ...DEFAULT_PARAMS,
  heartbeatIntervalMs: 2_000,
  heartbeatTimeoutMs: 1_000,
  authTimeoutMs: 5_000,
  requestTimeoutMs: 1_500,
  tokenExpiresAt: null,
};

/** The client settings the harness asks for (not session params; RECON-1, RECON-2). */
export const HARNESS_SETTINGS: DriverSettings = { backoffBaseMs: 100, backoffCapMs: 600, stableAfterMs: 1_500 };

export interface ClientRunOptions {
  /** The command line that starts the client's driver (run with a shell). */
  cmd: string;
  /** Rule IDs, areas or case ids to run; all when empty. @default [] */
  select?: string[];
  /** Rule IDs, areas or case ids to leave out. @default [] */
  exclude?: string[];
  /** Multiplies every wait, tolerance and time limit. @default 1 */
  timeoutScale?: number;
  /** Treat warn as failing. @default false */
  strict?: boolean;
  /** Shown as the target in reports. @default the command */
  label?: string;
  onCaseStart?: (c: CaseDef, index: number, total: number) => void;
  onCaseEnd?: (r: CaseResult, index: number, total: number) => void;
  /** Cases to run instead of the built-in ones (tests). */
  cases?: ClientCaseDef[];
}

/** Rules a client conformance run grades: party client or both, active. */
export function clientRules() {
  return RULES.filter((r) => (r.party === 'client' || r.party === 'both') && r.status !== 'retired');
}

const asCaseDef = (c: ClientCaseDef): CaseDef => ({ id: c.id, title: c.title, rules: c.rules, run: async () => {} });

export function selectClientCases(cases: ClientCaseDef[], select: string[] = [], exclude: string[] = []): ClientCaseDef[] {
  const chosen = cases.filter((c) => (select.length === 0 || select.some((s) => matches(asCaseDef(c), s))) && !exclude.some((s) => matches(asCaseDef(c), s)));
  // The meta cases read what every other case observed: they run last.
  return [...chosen.filter((c) => !c.id.startsWith('meta.')), ...chosen.filter((c) => c.id.startsWith('meta.'))];
}

function grade(c: ClientCaseDef, ctx: ClientCaseContext, skip: string | undefined, inconclusive: string | undefined, startedAt: string): CaseResult {
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
    closes: {
      seen: ctx.server.conns.flatMap((k) => (k.clientClose ? [{ conn: `c${k.n}`, code: k.clientClose.code, reason: k.clientClose.reason, frame: k.clientClose.code !== 1006, atMs: k.clientClose.at - ctx.started, byClient: true }] : [])).slice(0, 50),
    },
    startedAt,
    durationMs: Date.now() - ctx.started,
    transcript: ctx.transcript,
  };
}

/** Runs the client cases against the program `opts.cmd`; never throws for a misbehaving client. */
export async function runClientSuite(opts: ClientRunOptions): Promise<SuiteReport> {
  const startedAt = new Date();
  const scale = opts.timeoutScale ?? 1;
  const cases = selectClientCases(opts.cases ?? clientCases(), opts.select, opts.exclude);
  const env: ClientEnv = { cmd: opts.cmd, params: HARNESS_PARAMS, settings: HARNESS_SETTINGS, scale, observed: [] };
  const results: CaseResult[] = [];
  for (const [i, c] of cases.entries()) {
    opts.onCaseStart?.(asCaseDef(c), i, cases.length);
    const ctx = new ClientCaseContext(env, c.id, c.rules, c.params);
    const iso = new Date().toISOString();
    let skip: string | undefined;
    let inconclusive: string | undefined;
    let timer: NodeJS.Timeout | undefined;
    try {
      await ctx.server.start();
      const limit = Math.round((c.timeoutMs ?? 15_000) * scale);
      await Promise.race([c.run(ctx), new Promise((_, reject) => (timer = setTimeout(() => reject(new Error(`case timed out after ${limit} ms`)), limit)))]);
    } catch (e) {
      if (e instanceof ClientSkip) skip = e.message;
      else if (e instanceof ClientInconclusive) inconclusive = e.message;
      else ctx.finding(c.rules[0]!, (e as Error).message);
    } finally {
      clearTimeout(timer);
      await ctx.cleanup().catch(() => {});
    }
    const r = grade(c, ctx, skip, inconclusive, iso);
    results.push(r);
    opts.onCaseEnd?.(r, i, cases.length);
  }
  const totals = { pass: 0, fail: 0, warn: 0, info: 0, inconclusive: 0, skip: 0, cases: results.length } as SuiteReport['totals'];
  for (const c of results) totals[c.outcome]++;
  const rules = ruleVerdicts(clientRules(), results);
  const strict = opts.strict ?? false;
  return {
    schemaVersion: 1,
    tool: { name: 'mooring test-client' as never, version: VERSION },
    target: { url: opts.label ?? opts.cmd, mode: 'url' },
    params: HARNESS_PARAMS,
    startedAt: startedAt.toISOString(),
    durationMs: Date.now() - startedAt.getTime(),
    totals,
    rules,
    cases: results,
    failed: totals.fail > 0 || (strict && totals.warn > 0),
    strict,
  };
}
