/**
 * `runFuzz`: model-based fuzzing of a live server. Runs go in rounds of fast-check `check` calls (round
 * r uses seed + r), each run a sequence of commands checked by the model of `world.ts`; the first
 * failure is shrunk (within `shrinkMs`) to the smallest command sequence that still fails, and reported
 * with its transcript and the seed and path that replay it.
 */
import { randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { commandArbitraries } from './commands.js';
import { preflight, type Preflight } from './preflight.js';
import { FuzzFailure, World, type FuzzEnv, type Params } from './world.js';

export interface FuzzOptions {
  url: string;
  tokens: [string, string];
  /** Stop after this many runs. @default 100 (unless timeMs is given) */
  runs?: number;
  /** Stop searching after this long (ms). */
  timeMs?: number;
  /** @default a random 31-bit integer */
  seed?: number;
  /** Replay exactly this counterexample (with its seed): fast-check's path. */
  path?: string;
  /** With `path`: which generated commands ran (fast-check's commands replayPath). */
  commandsPath?: string;
  /** Commands per run, at most. @default 30 */
  maxCommands?: number;
  /** How long generated runs are, below maxCommands (fast-check size): longer runs reach deeper states. @default 'small' */
  size?: 'small' | 'medium' | 'large';
  /** How long answers may take before the model calls them missing. @default 1_000 */
  settleMs?: number;
  /** Time allowed for shrinking the first failure. @default 60_000 */
  shrinkMs?: number;
  /** Fill commands (limits) run when they need at most this many messages. @default 40 */
  maxFill?: number;
  /** Called about once a second and at the end. */
  onProgress?: (p: FuzzProgress) => void;
  /** A preflight already done (tests); otherwise `preflight(url, tokens)`. */
  preflight?: Preflight;
}

export interface FuzzProgress {
  phase: 'searching' | 'shrinking' | 'done';
  runs: number;
  elapsedMs: number;
  exchanges: number;
  shrinks: number;
}

export interface FuzzFailureReport {
  rule: string;
  message: string;
  /** the seed, path and commands path that replay the shrunk counterexample */
  seed: number;
  path: string;
  commandsPath: string;
  shrinks: number;
  /** ms from the start until the first failing run */
  foundAfterMs: number;
  /** runs until the first failing run */
  foundAfterRuns: number;
  /** the shrunk counterexample's commands */
  commands: string[];
  /** its wire transcript (tokens redacted) */
  transcript: string[];
}

export interface FuzzReport {
  schemaVersion: 1;
  ok: boolean;
  url: string;
  seed: number;
  runs: number;
  elapsedMs: number;
  /** frames sent plus frames received */
  exchanges: number;
  exchangesPerSecond: number;
  params: Params;
  userIds: [string, string];
  failure?: FuzzFailureReport;
  /** set when a replay did not fail again (a failure that depends on timing) */
  note?: string;
}

const ROUND = 25;

export async function runFuzz(o: FuzzOptions): Promise<FuzzReport> {
  const pre = o.preflight ?? (await preflight(o.url, o.tokens));
  const env: FuzzEnv = {
    url: o.url, tokens: o.tokens, userIds: pre.userIds, userChannels: pre.userChannels, params: pre.params,
    settleMs: o.settleMs ?? 1_000, maxFill: o.maxFill ?? 40,
  };
  const seed = o.seed ?? randomBytes(4).readUInt32BE(0) >>> 1;
  const start = Date.now();
  const totalRuns = o.runs ?? (o.timeMs === undefined ? 100 : Number.MAX_SAFE_INTEGER);
  const searchUntil = o.timeMs === undefined ? Infinity : start + o.timeMs;
  const shrinkMs = o.shrinkMs ?? 60_000;
  const nonce = randomBytes(3).toString('hex');

  let runs = 0;
  let exchanges = 0;
  let shrinkUntil = Infinity;
  let firstFail: { at: number; runs: number } | null = null;
  let last: { world: World; error: FuzzFailure } | null = null;
  let lastProgress = 0;
  const progress = (phase: FuzzProgress['phase'], force = false) => {
    if (!o.onProgress || (!force && Date.now() - lastProgress < 1_000)) return;
    lastProgress = Date.now();
    o.onProgress({ phase, runs, elapsedMs: Date.now() - start, exchanges, shrinks: 0 });
  };

  const makeProperty = (replayPath?: string) => fc.asyncProperty(fc.commands(commandArbitraries(), { maxCommands: o.maxCommands ?? 30, size: o.size ?? 'small', ...(replayPath ? { replayPath } : {}) }), async (cmds) => {
    if (Date.now() > shrinkUntil) return true; // the shrink budget is spent: keep the smallest failure so far
    runs++;
    const world = new World(env, `fz${nonce}r${runs}`);
    try {
      // every run starts with one authenticated connection per user (slots 0 and 1)
      await world.setup();
      await fc.asyncModelRun(() => ({ model: world, real: world }), cmds);
      await world.finish();
    } catch (e) {
      const error = world.failure ?? (e instanceof FuzzFailure ? e : new FuzzFailure('FUZZER', `the fuzzer itself failed: ${(e as Error)?.stack ?? String(e)}`));
      last = { world, error };
      if (!firstFail) {
        firstFail = { at: Date.now() - start, runs };
        shrinkUntil = Date.now() + shrinkMs;
      }
      throw error;
    } finally {
      exchanges += world.sent + world.received;
      await world.abort();
      progress(firstFail ? 'shrinking' : 'searching');
    }
    return true;
  });

  let details: { failed: boolean; counterexamplePath?: string | null; numShrinks: number; errorInstance?: unknown; counterexample?: unknown[] | null } | undefined;
  let roundSeed = seed;
  if (o.path !== undefined) {
    details = await fc.check(makeProperty(o.commandsPath), { seed, path: o.path, numRuns: ROUND, endOnFailure: true });
  } else {
    for (let r = 0; runs < totalRuns && Date.now() < searchUntil; r++) {
      roundSeed = (seed + r) | 0;
      const n = Math.min(ROUND, totalRuns - runs);
      const d = await fc.check(makeProperty(), { seed: roundSeed, numRuns: n, maxSkipsPerRun: 1_000 });
      details = d;
      if (d.failed) break;
    }
  }
  progress('done', true);
  const elapsedMs = Date.now() - start;
  const report: FuzzReport = {
    schemaVersion: 1, ok: true, url: o.url, seed, runs, elapsedMs, exchanges,
    exchangesPerSecond: Math.round(exchanges / Math.max(0.001, elapsedMs / 1000)), params: pre.params, userIds: pre.userIds,
  };
  if (details?.failed) {
    const l = last as { world: World; error: FuzzFailure } | null;
    const error = l?.error ?? new FuzzFailure('FUZZER', String(details.errorInstance ?? 'unknown failure'));
    report.ok = false;
    report.failure = {
      rule: error.rule,
      message: error.message.replace(/^[A-Z]+-?\d*: /, ''),
      seed: o.path !== undefined ? seed : roundSeed,
      path: details.counterexamplePath ?? o.path ?? '',
      commandsPath: /replayPath="([^"]*)"/.exec(String(details.counterexample?.[0] ?? ''))?.[1] ?? o.commandsPath ?? '',
      shrinks: details.numShrinks,
      foundAfterMs: (firstFail as { at: number } | null)?.at ?? elapsedMs,
      foundAfterRuns: (firstFail as { runs: number } | null)?.runs ?? runs,
      commands: l?.world.executed ?? [],
      transcript: l ? l.world.transcript.render().split('\n') : [],
    };
  } else if (o.path !== undefined) {
    report.note = 'the replayed counterexample did not fail this time (the failure may depend on timing)';
  }
  return report;
}

/** A readable account of a failure: the rule, the shrunk commands, the transcript, how to replay. */
export function formatFailure(r: FuzzReport, replayHint = ''): string {
  const f = r.failure;
  if (!f) return '';
  return [
    `FAIL ${f.rule}: ${f.message}`,
    `found after ${f.foundAfterRuns} runs (${(f.foundAfterMs / 1000).toFixed(1)} s), shrunk ${f.shrinks} times to ${f.commands.length} commands:`,
    ...f.commands.map((c, i) => `  ${String(i + 1).padStart(2)}. ${c}`),
    'transcript (ms since the run started, connection, > sent / < received / * event):',
    ...f.transcript.map((l) => `  ${l}`),
    `replay: seed ${f.seed}, path ${f.path}, commands path ${f.commandsPath}${replayHint}`,
  ].join('\n');
}
