/**
 * `mooring test [URL]`: runs the server conformance suite against URL, or, with no URL, against the
 * reference server started in-process (plus its CLI as a child process for the shutdown cases).
 * Exit code: 0 when no case fails (with --strict: and none warns), 1 on a conformance failure, 2 on a
 * usage or setup error (found before any case runs: no verdict).
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { exitCodeOf, runSuite, selectCases, selectionProblem, type RunOptions } from '../conformance/runner.js';
import { allCases } from '../conformance/cases/index.js';
import { SetupError, checkUrl } from '../conformance/preflight.js';
import { consoleReporter } from '../conformance/reporters/console.js';
import { toJson } from '../conformance/reporters/json.js';
import { toJunit } from '../conformance/reporters/junit.js';
import { toHtml } from '../conformance/reporters/html.js';
import { processServer, waitForPort } from '../conformance/server-control.js';
import type { SuiteReport } from '../conformance/types.js';
import { parseFlags, parseInteger, parsePositive, runCommand, UsageError } from './args.js';

export const HELP = `Usage: mooring test [ws://host:port/path] [options]

Runs the Mooring v1 server conformance suite and grades every server rule of the
spec: pass, fail (a MUST broken), warn (a SHOULD broken), info, inconclusive (the
case ran but could not decide, with the reason) or skip (with the reason). The
suite reads the session params the server advertises and adapts every timing to
them. With no URL it starts the reference server in-process with short timings
and tests it (a quick self-check of the suite and the server; about 30 s).

Before any case a preflight checks the setup: something listens, the upgrade
succeeds at the path, the server speaks mooring.v1, each token authenticates and
belongs to a user of its own, and the conformance actions (echo, publish, sleep)
exist. A failure prints one line with the cause and the fix, and exits 2.

Cases that mostly wait on server timers (heartbeat, auth deadline, rate windows)
run concurrently, each on users of its own: give their tokens with --tokens-file
(the preflight says how many it needs; with too few they share lanes). Against a
server on production timings (25 s heartbeat) a run takes about 2 minutes with
enough tokens, 6 or more without. A case running longer than 10 s prints a
progress line.

Exit codes: 0 passed; 1 a conformance failure (a fail; with --strict also a
warn); 2 a usage or setup error (bad flags, a --select/--exclude matching no
case, nothing listening, wrong path, not a Mooring server, a refused token).

Options (default in brackets):
  --token T               token of a first test user (required with a URL)
  --token2 T              token of a second, different user (cases needing two
                          users are skipped without it)
  --tokens-file FILE      tokens, one per line (or a JSON array), of distinct users:
                          the first two stand for --token/--token2 when those are
                          absent; the rest give the timer-bound cases users of
                          their own (about 25) and enlarge the shutdown and storm
                          cases
  --server-cmd "CMD"      a shell command that starts the server at URL: the suite
                          starts it, and at the end SIGTERMs it (SHUT-1..3), SIGKILLs
                          and restarts it for a reconnect storm (SHUT-4) [those
                          cases are skipped]
  --select LIST           run only these rule IDs, areas or case ids (comma-
                          separated, repeatable), e.g. AUTH,SUB-8,hb.blackhole [all];
                          one that matches no case is a usage error (exit 2)
  --exclude LIST          leave these out, same syntax [none]
  --sequential            run every case in turn (no concurrent cases)
  --expiring-token T      a token that expires within 2 minutes, for AUTH-8 and
                          AUTH-11 [skipped; minted in embedded mode]
  --failing-action NAME   an action whose handler fails, for REQ-7 [skipped]
  --max-connections-per-ip N  the server's per-IP cap, for LIMIT-2 [probed up to
                          300 on 127.0.0.1, else skipped]
  --token-in-url-allowed  the server opted in to ?token= (AUTH-7 is skipped)
  --timeout-scale X       multiply every wait and time limit by X [1]
  --ca FILE               PEM certificate(s) to trust for a wss:// URL (a self-
                          signed or private-CA server) [Node's bundled roots]
  --report-json FILE      write the JSON report (schemaVersion 1)
  --report-junit FILE     write a JUnit XML report
  --report-html FILE      write a self-contained HTML report; its rule IDs link to
                          the spec (each rule's anchor #rule-<ID>)
  --spec-url URL          where those links point [the spec/mooring-v1.md of this
                          package, as a file URL]
  --strict                warnings fail the run too
  --list                  list the cases (after --select/--exclude) and exit
  --quiet                 no per-case progress, summary only
  -h, --help              this help

Examples:
  mooring test
  mooring test ws://127.0.0.1:8080/ws --token "$T1" --token2 "$T2" --report-html report.html
  mooring test ws://127.0.0.1:9000/ws --tokens-file tokens.txt --server-cmd "./my-server --port 9000"
`;

/** The tokens of a --tokens-file, each with where it came from (`--tokens-file line 3`). */
function readTokens(file: string): { token: string; label: string }[] {
  const text = readFileSync(file, 'utf8').trim();
  if (text.startsWith('[')) {
    const v = JSON.parse(text) as unknown[];
    return v
      .map((x, i) => ({ token: typeof x === 'string' ? x : String((x as { token?: unknown }).token ?? ''), label: `--tokens-file entry ${i + 1}` }))
      .filter((x) => x.token);
  }
  return text
    .split(/\r?\n/)
    .map((l, i) => ({ token: l.trim(), label: `--tokens-file line ${i + 1}` }))
    .filter((x) => x.token && !x.token.startsWith('#'));
}

function write(file: string, text: string): void {
  mkdirSync(path.dirname(path.resolve(file)), { recursive: true });
  writeFileSync(file, text);
}

const list = (v: readonly string[] | undefined) => (v ?? []).flatMap((s) => s.split(',')).map((s) => s.trim()).filter(Boolean);

const OPTIONS = {
  token: { type: 'string' }, token2: { type: 'string' }, 'tokens-file': { type: 'string' }, 'server-cmd': { type: 'string' },
  select: { type: 'string', multiple: true }, exclude: { type: 'string', multiple: true },
  'expiring-token': { type: 'string' }, 'failing-action': { type: 'string' }, 'max-connections-per-ip': { type: 'string' },
  'token-in-url-allowed': { type: 'boolean' }, 'timeout-scale': { type: 'string' },
  'report-json': { type: 'string' }, 'report-junit': { type: 'string' }, 'report-html': { type: 'string' },
  strict: { type: 'boolean' }, list: { type: 'boolean' }, quiet: { type: 'boolean' }, help: { type: 'boolean', short: 'h' },
  sequential: { type: 'boolean' }, 'spec-url': { type: 'string' }, ca: { type: 'string' },
} as const;

export function run(argv: string[]): Promise<number> {
  return runCommand('mooring test', () => runTest(argv));
}

async function runTest(argv: string[]): Promise<number> {
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(HELP);
    return 0;
  }
  const { values: v, positionals } = parseFlags(argv, OPTIONS, 1);
  const select = list(v.select);
  const exclude = list(v.exclude);
  const badSelection = selectionProblem(allCases(), select, exclude);
  if (badSelection) throw new UsageError(badSelection);
  if (v.list) {
    for (const c of selectCases(allCases(), select, exclude)) process.stdout.write(`${c.id.padEnd(24)} ${c.rules.join(',').padEnd(22)} ${c.title}${c.needs?.length ? `  [needs ${c.needs.join(', ')}]` : ''}\n`);
    return 0;
  }
  const url = positionals[0];
  if (url) {
    try {
      checkUrl(url);
    } catch (e) {
      if (e instanceof SetupError) throw new UsageError(e.message);
      throw e;
    }
  }
  const scale = v['timeout-scale'] === undefined ? 1 : parsePositive(v['timeout-scale'], '--timeout-scale');
  const cap = v['max-connections-per-ip'] === undefined ? undefined : parseInteger(v['max-connections-per-ip'], '--max-connections-per-ip', 1);
  if (!url && (v.token || v.token2 || v['server-cmd'])) {
    throw new UsageError('--token, --token2 and --server-cmd need a URL (with no URL the suite tests the reference server it starts)');
  }
  let fileTokens: { token: string; label: string }[] = [];
  if (v['tokens-file']) {
    try {
      fileTokens = readTokens(v['tokens-file']);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      throw new UsageError(`cannot read --tokens-file ${v['tokens-file']}: ${code === 'ENOENT' ? 'no such file' : (e as Error).message}`);
    }
    if (!fileTokens.length) throw new UsageError(`--tokens-file ${v['tokens-file']} holds no token`);
  }
  let ca: Buffer | undefined;
  if (v.ca !== undefined) {
    try {
      ca = readFileSync(v.ca as string);
    } catch (e) {
      throw new UsageError(`cannot read --ca ${v.ca as string}: ${(e as Error).message}`);
    }
  }
  const reporter = consoleReporter();
  const quiet = !!v.quiet;
  const base: Omit<RunOptions, 'url' | 'tokens'> = {
    select,
    exclude,
    timeoutScale: scale,
    strict: !!v.strict,
    concurrent: !v.sequential,
    ca,
    onCaseStart: quiet ? undefined : (c, i, n) => reporter.caseStart(c, i, n),
    onCaseEnd: quiet ? undefined : (r, i, n) => reporter.caseEnd(r, i, n),
    onCaseProgress: quiet ? undefined : (c, ms, what) => reporter.caseProgress(c, ms, what),
    onPreflight: quiet ? undefined : (line) => reporter.preflight(line),
  };
  let report: SuiteReport;
  if (!url) {
    const { startEmbedded } = await import('../conformance/embedded.js');
    const wantsProcess = selectCases(allCases(), select, exclude).some((c) => c.needs?.includes('server-cmd'));
    const emb = await startEmbedded({ serverProcess: wantsProcess });
    process.stdout.write(`mooring test: no URL given: testing the reference server started in-process at ${emb.url}\n`);
    if (emb.processNote) process.stdout.write(`mooring test: shutdown cases will be skipped: ${emb.processNote}\n`);
    try {
      report = await runSuite({ ...base, url: emb.url, tokens: emb.tokens, caps: emb.caps, mode: 'embedded', serverCmd: emb.caps.serverControl?.describe });
    } finally {
      await emb.close();
    }
  } else {
    const given = [
      { token: v.token as string | undefined, label: '--token' },
      { token: v.token2 as string | undefined, label: '--token2' },
    ].filter((t): t is { token: string; label: string } => !!t.token);
    const rest = fileTokens.filter((t) => !given.some((g) => g.token === t.token));
    while (given.length < 2 && rest.length) given.push(rest.shift()!);
    if (!given.length) throw new UsageError('a URL needs --token (and --token2 for the two-user cases), or --tokens-file');
    const tokens = given.map((t) => t.token);
    const cmd = v['server-cmd'];
    const control = cmd ? processServer({ command: cmd, url, tokens: [...tokens, ...rest.map((t) => t.token)] }) : undefined;
    if (control) {
      const u = new URL(url);
      if (await waitForPort(u.hostname, Number(u.port || 80), 200).then(() => true, () => false)) {
        process.stderr.write(`mooring test: something already listens at ${u.host}; with --server-cmd the suite starts (and kills) the server itself\n`);
        return 2;
      }
      try {
        await control.start();
      } catch (e) {
        process.stderr.write(`mooring test: --server-cmd did not start a server at ${url}: ${(e as Error).message}\n`);
        await control.stop();
        return 2;
      }
    }
    try {
      report = await runSuite({
        ...base,
        url,
        tokens,
        tokenLabels: given.map((t) => t.label),
        extraTokenLabels: rest.map((t) => t.label),
        mode: 'url',
        serverCmd: cmd,
        caps: {
          serverControl: control,
          expiringToken: v['expiring-token'] as string | undefined,
          failingAction: v['failing-action'] as string | undefined,
          maxConnectionsPerIp: cap,
          tokenInUrlAllowed: !!v['token-in-url-allowed'],
          extraTokens: rest.map((t) => t.token),
        },
      });
    } finally {
      await control?.stop();
    }
  }
  if (report.setupError !== undefined) process.stderr.write(`mooring test: ${report.setupError}\n`);
  else reporter.summary(report);
  if (v['report-json']) write(v['report-json'] as string, toJson(report));
  // A setup error has no verdict: only the JSON report (which records it) is written.
  const junit = report.setupError === undefined ? v['report-junit'] : undefined;
  const html = report.setupError === undefined ? v['report-html'] : undefined;
  if (junit) write(junit as string, toJunit(report));
  if (html) write(html as string, toHtml(report, { specUrl: v['spec-url'] as string | undefined }));
  for (const [flag, file] of [['JSON', v['report-json']], ['JUnit', junit], ['HTML', html]] as const) {
    if (file) process.stdout.write(`${flag} report: ${file}\n`);
  }
  return exitCodeOf(report);
}
