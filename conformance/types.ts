/**
 * Types shared by the conformance runner, its cases and its reporters.
 *
 * Outcomes are graded like Autobahn|Testsuite and graphql-http audits: a broken MUST fails, a broken
 * SHOULD warns, `info` reports what could only be observed, `inconclusive` says why a case that ran
 * could not decide, `skip` says why a case could not run.
 */
import type { SessionParams } from '../schemas/v1/index.js';
import type { CaseContext } from './context.js';

/**
 * `inconclusive`: the case ran but could not decide (another rule's legitimate close pre-empted its
 * trigger, or an intermediary absorbed the load); never a pass and never a fail.
 */
export type Outcome = 'pass' | 'fail' | 'warn' | 'info' | 'inconclusive' | 'skip';
export type Level = 'MUST' | 'SHOULD' | 'MAY';

/** A capability a case needs; the runner skips the case with the reason when it is missing. */
export type Need =
  | 'tokens:2' // two tokens of two different users
  | 'server-cmd' // the suite controls the server process (SIGTERM, SIGKILL, restart)
  | 'expiring-token' // a token that expires soon (minted in embedded mode or --expiring-token)
  | 'failing-action' // an action whose handler fails (embedded mode or --failing-action)
  | 'loopback'; // the server runs on this machine (load-ish cases)

export interface CaseDef {
  /** Stable case id, e.g. `auth.deadline`. */
  id: string;
  title: string;
  /** The rule IDs the case checks; the first is charged with unexpected errors and timeouts. */
  rules: string[];
  needs?: Need[];
  /** Case time limit from the advertised params (before --timeout-scale); default 10 s. */
  timeoutMs?: (p: SessionParams) => number;
  /** Cases that poison per-user state (rate limit) or kill the server run last, in this order. */
  phase?: 'normal' | 'rate' | 'shutdown' | 'meta';
  /**
   * How the case may share the run with others (the runner has a default table for the built-in
   * cases, `LANES` in runner.ts): `own` — it mostly waits on server timers or a rate window, so it
   * runs concurrently with the rest on users of its own (its `ctx.tokens`/`ctx.users` are then those
   * users); `exclusive` — nothing else may run meanwhile (it counts the server's connections).
   */
  lane?: 'own' | 'exclusive';
  run(ctx: CaseContext): Promise<void>;
}

/** A rule the case found broken (or only observed). */
export interface Finding {
  rule: string;
  /** fail for a MUST, warn for a SHOULD (derived from the registry), info for observations. */
  grade: 'fail' | 'warn' | 'info';
  message: string;
}

export type TranscriptEntry = {
  /** ms since the case started */
  t: number;
  /** connection label, e.g. `c1` or `proxy` */
  conn: string;
  dir: 'out' | 'in' | 'event';
  kind: string;
  data?: string;
};

export interface CloseSeen {
  conn: string;
  code: number;
  reason: string;
  /** true when a close frame arrived (code 1006 means none did) */
  frame: boolean;
  atMs: number;
  /** true when the suite started the close (its own cleanup) */
  byClient?: boolean;
}

export interface CaseResult {
  id: string;
  title: string;
  area: string;
  rules: string[];
  level: Level;
  outcome: Outcome;
  /** One-line verdict. */
  detail: string;
  findings: Finding[];
  /** Notes of what was observed (timings, counts). */
  notes: string[];
  /** Close codes expected by the case and seen on its connections. */
  closes: { expected?: number[]; seen: CloseSeen[] };
  startedAt: string;
  durationMs: number;
  transcript: TranscriptEntry[];
}

export interface SuiteReport {
  schemaVersion: 1;
  tool: { name: 'mooring test'; version: string };
  target: { url: string; mode: 'url' | 'embedded'; serverCmd?: string };
  params: SessionParams | null;
  startedAt: string;
  durationMs: number;
  totals: Record<Outcome, number> & { cases: number };
  /** Per rule of the registry checked by the server suite: the worst outcome of the cases citing it. */
  rules: { id: string; level: Level; title: string; outcome: Outcome | 'untested'; cases: string[] }[];
  cases: CaseResult[];
  /** True when the exit code is non-zero (a fail, or a warn with strict, or a setup error). */
  failed: boolean;
  strict: boolean;
  /**
   * Set when the run stopped before any case: a usage error (a selection that matches nothing) or a
   * setup error found by the preflight (nothing listens, wrong path, not Mooring, a refused token).
   * One line: the cause and the fix. `mooring test` exits 2. No case ran, so there is no verdict.
   */
  setupError?: string;
  /** What the preflight found and decided (users, concurrency), one line each. */
  preflight?: string[];
}
