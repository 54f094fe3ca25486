/**
 * `mooring fuzz [URL]`: model-based, property-based fuzzing of a Mooring server (conformance/fuzz/).
 * Exit code: 0 when no property broke, 1 on a failure (shrunk, with a transcript, written to a JSON
 * file that `--replay` reads), 2 on a usage or set-up error (unreachable server, bad tokens).
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { startFuzzTarget } from '../conformance/fuzz/embedded.js';
import { PreflightError, preflight } from '../conformance/fuzz/preflight.js';
import { formatFailure, runFuzz, type FuzzReport } from '../conformance/fuzz/run.js';
import { SetupError, checkTcp, checkUrl } from '../conformance/preflight.js';
import { parseFlags, parseInteger, parsePositive, runCommand, UsageError } from './args.js';

export const HELP = `Usage: mooring fuzz [ws://host:port/path] [options]

Fuzzes a Mooring v1 server: random sequences of auth, subscribe, unsubscribe,
publish, echo and sleep requests, pings, re-auths, malformed and oversized frames,
disconnects and resumes over three connections and two users, each checked against
a model of the spec (one response per request, pushes only on subscribed channels,
once each, in order, every accepted publish delivered or reported as a gap, the
specified error or close code for every bad input, the advertised limits). A failure
is shrunk to the shortest sequence that still fails and printed as a transcript.
With no URL it fuzzes the reference server started in-process.

Options (default in brackets):
  --token T             token of a first test user (required with a URL)
  --token2 T            token of a second, different user (required with a URL)
  --runs N              stop after N runs [100, or unlimited with --time]
  --time S              stop searching after S seconds (shrinking has its own budget)
  --seed X              the random seed (integer) [random; printed]
  --replay FILE         replay the counterexample saved in FILE (its seed and paths)
  --out FILE            where a failure is saved [mooring-fuzz-failure.json]
  --json                print the JSON report on stdout (progress goes to stderr)
  --max-commands N      commands per run, at most [30]
  --size S              small, medium or large: how long runs tend to be [small]
  --settle-ms MS        how long owed answers may take [1000]
  --shrink-time S       time allowed for shrinking a failure [60]
  --quiet               no progress lines
  -h, --help            this help

Examples:
  mooring fuzz --time 600                                  # a long run against the reference server
  mooring fuzz ws://127.0.0.1:8080/ws --token "$T1" --token2 "$T2" --runs 500 --seed 42
  mooring fuzz ws://127.0.0.1:8080/ws --token "$T1" --token2 "$T2" --replay mooring-fuzz-failure.json
`;

interface SavedFailure {
  schemaVersion: 1;
  seed: number;
  path: string;
  commandsPath: string;
  /** generation settings: a replay must generate with the same ones */
  maxCommands?: number;
  size?: 'small' | 'medium' | 'large';
  report: FuzzReport;
}

const OPTIONS = {
  token: { type: 'string' }, token2: { type: 'string' }, runs: { type: 'string' }, time: { type: 'string' },
  seed: { type: 'string' }, replay: { type: 'string' }, out: { type: 'string' }, json: { type: 'boolean' },
  'max-commands': { type: 'string' }, size: { type: 'string' }, 'settle-ms': { type: 'string' }, 'shrink-time': { type: 'string' },
  quiet: { type: 'boolean' }, help: { type: 'boolean', short: 'h' },
} as const;

export function run(argv: string[]): Promise<number> {
  return runCommand('mooring fuzz', () => runFuzzCommand(argv));
}

async function runFuzzCommand(argv: string[]): Promise<number> {
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(HELP);
    return 0;
  }
  const { values: v, positionals } = parseFlags(argv, OPTIONS, 1);
  const url = positionals[0];
  if (url) {
    try {
      checkUrl(url);
    } catch (e) {
      if (e instanceof SetupError) throw new UsageError(e.message);
      throw e;
    }
  }
  const num = (k: 'runs' | 'time' | 'max-commands' | 'settle-ms' | 'shrink-time') => (v[k] === undefined ? undefined : parsePositive(v[k], `--${k}`));
  const nums = { runs: v.runs === undefined ? undefined : parseInteger(v.runs, '--runs', 1), time: num('time'), 'max-commands': num('max-commands'), 'settle-ms': num('settle-ms'), 'shrink-time': num('shrink-time') };
  const size = v.size;
  if (size !== undefined && !['small', 'medium', 'large'].includes(size)) throw new UsageError(`--size: expected small, medium or large, got "${size}"`);
  let seed: number | undefined;
  if (v.seed !== undefined) {
    seed = Number(v.seed);
    if (!Number.isInteger(seed)) throw new UsageError(`--seed: expected an integer, got "${v.seed}"`);
  }
  let replay: SavedFailure | undefined;
  if (v.replay) {
    try {
      replay = JSON.parse(readFileSync(v.replay, 'utf8')) as SavedFailure;
      if (typeof replay.seed !== 'number' || typeof replay.path !== 'string') throw new Error('no seed and path in it');
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      throw new UsageError(`cannot read --replay ${v.replay}: ${code === 'ENOENT' ? 'no such file' : (e as Error).message}`);
    }
  }
  if (url && (!v.token || !v.token2)) throw new UsageError('a URL needs --token and --token2 (two different users)');
  if (!url && (v.token || v.token2)) throw new UsageError('--token and --token2 need a URL (with no URL the fuzzer starts the reference server itself)');

  const out = (v.out as string | undefined) ?? 'mooring-fuzz-failure.json';
  const log = (s: string) => (v.json ? process.stderr : process.stdout).write(`${s}\n`);
  let target: { url: string; tokens: [string, string]; close(): Promise<void> };
  if (url) target = { url, tokens: [v.token as string, v.token2 as string], close: async () => undefined };
  else {
    target = await startFuzzTarget();
    log(`mooring fuzz: no URL given: fuzzing the reference server started in-process at ${target.url}`);
  }
  try {
    let pre;
    try {
      if (url) await checkTcp(url, 5_000); // the suite's wording: "nothing listens at host:port ..."
      pre = await preflight(target.url, target.tokens);
    } catch (e) {
      if (e instanceof PreflightError || e instanceof SetupError) {
        process.stderr.write(`mooring fuzz: ${e.message}\n`);
        return 2;
      }
      throw e;
    }
    const report = await runFuzz({
      url: target.url, tokens: target.tokens, preflight: pre,
      runs: nums.runs, timeMs: nums.time === undefined ? undefined : nums.time * 1000,
      seed: replay?.seed ?? seed, path: replay?.path, commandsPath: replay?.commandsPath,
      maxCommands: replay ? replay.maxCommands : nums['max-commands'], settleMs: nums['settle-ms'],
      size: replay ? replay.size : (size as 'small' | 'medium' | 'large' | undefined),
      shrinkMs: nums['shrink-time'] === undefined ? undefined : nums['shrink-time'] * 1000,
      onProgress: v.quiet ? undefined : (p) => process.stderr.write(`mooring fuzz: ${p.phase} — ${p.runs} runs, ${p.exchanges} exchanges, ${(p.elapsedMs / 1000).toFixed(1)} s\n`),
    });
    if (v.json) process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
    const replayHint = url ? `\nreplay with: mooring fuzz ${url} --token … --token2 … --replay ${out}` : `\nreplay with: mooring fuzz --replay ${out}`;
    if (report.failure) {
      const saved: SavedFailure = {
        schemaVersion: 1, seed: report.failure.seed, path: report.failure.path, commandsPath: report.failure.commandsPath,
        maxCommands: nums['max-commands'], size: size as SavedFailure['size'], report,
      };
      mkdirSync(path.dirname(path.resolve(out)), { recursive: true });
      writeFileSync(out, `${JSON.stringify(saved, null, 2)}\n`);
      log(formatFailure(report, replayHint));
      log(`counterexample saved to ${out}`);
      return 1;
    }
    if (report.note) log(`mooring fuzz: ${report.note}`);
    log(`mooring fuzz: passed — ${report.runs} runs, ${report.exchanges} exchanges in ${(report.elapsedMs / 1000).toFixed(1)} s (${report.exchangesPerSecond}/s), seed ${report.seed}`);
    return 0;
  } finally {
    await target.close();
  }
}
