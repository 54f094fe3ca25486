/**
 * `mooring test [URL]`: runs the server conformance suite against URL, or, with no URL, against the
 * reference server started in-process (plus its CLI as a child process for the shutdown cases).
 * Exit code: 0 when no case fails (with --strict: and none warns), 1 otherwise, 2 on a usage error.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { runSuite, type RunOptions } from '../conformance/runner.js';
import { allCases } from '../conformance/cases/index.js';
import { selectCases } from '../conformance/runner.js';
import { consoleReporter } from '../conformance/reporters/console.js';
import { toJson } from '../conformance/reporters/json.js';
import { toJunit } from '../conformance/reporters/junit.js';
import { toHtml } from '../conformance/reporters/html.js';
import { processServer, waitForPort } from '../conformance/server-control.js';
import type { SuiteReport } from '../conformance/types.js';

export const HELP = `Usage: mooring test [ws://host:port/path] [options]

Runs the Mooring v1 server conformance suite and grades every server rule of the
spec: pass, fail (a MUST broken), warn (a SHOULD broken), info, or skip (with the
reason). The suite reads the session params the server advertises and adapts
every timing to them. With no URL it starts the reference server in-process with
short timings and tests it (a quick self-check of the suite and the server).

Options (default in brackets):
  --token T               token of a first test user (required with a URL)
  --token2 T              token of a second, different user (cases needing two
                          users are skipped without it)
  --tokens-file FILE      tokens, one per line (or a JSON array), of distinct users:
                          the first two stand for --token/--token2 when those are
                          absent; the rest enlarge the shutdown and storm cases
  --server-cmd "CMD"      a shell command that starts the server at URL: the suite
                          starts it, and at the end SIGTERMs it (SHUT-1..3), SIGKILLs
                          and restarts it for a reconnect storm (SHUT-4) [those
                          cases are skipped]
  --select LIST           run only these rule IDs, areas or case ids (comma-
                          separated, repeatable), e.g. AUTH,SUB-8,hb.blackhole [all]
  --exclude LIST          leave these out, same syntax [none]
  --expiring-token T      a token that expires within 2 minutes, for AUTH-8 and
                          AUTH-11 [skipped; minted in embedded mode]
  --failing-action NAME   an action whose handler fails, for REQ-7 [skipped]
  --max-connections-per-ip N  the server's per-IP cap, for LIMIT-2 [probed up to
                          300 on 127.0.0.1, else skipped]
  --token-in-url-allowed  the server opted in to ?token= (AUTH-7 is skipped)
  --timeout-scale X       multiply every wait and time limit by X [1]
  --report-json FILE      write the JSON report (schemaVersion 1)
  --report-junit FILE     write a JUnit XML report
  --report-html FILE      write a self-contained HTML report
  --strict                warnings fail the run too
  --list                  list the cases (after --select/--exclude) and exit
  --quiet                 no per-case progress, summary only
  -h, --help              this help

Examples:
  mooring test
  mooring test ws://127.0.0.1:8080/ws --token "$T1" --token2 "$T2" --report-html report.html
  mooring test ws://127.0.0.1:9000/ws --tokens-file tokens.txt --server-cmd "./my-server --port 9000"
`;

function readTokens(file: string): string[] {
  const text = readFileSync(file, 'utf8').trim();
  if (text.startsWith('[')) {
    const v = JSON.parse(text) as unknown[];
    return v.map((x) => (typeof x === 'string' ? x : String((x as { token?: unknown }).token ?? ''))).filter(Boolean);
  }
  return text.split(/\r?\n/).map((l) => l.trim()).filter((l) => l && !l.startsWith('#'));
}

function write(file: string, text: string): void {
  mkdirSync(path.dirname(path.resolve(file)), { recursive: true });
  writeFileSync(file, text);
}

const list = (v: string[] | undefined) => (v ?? []).flatMap((s) => s.split(',')).map((s) => s.trim()).filter(Boolean);

export async function run(argv: string[]): Promise<number> {
  let v: Record<string, string | string[] | boolean | undefined>;
  let positionals: string[];
  try {
    ({ values: v, positionals } = parseArgs({
      args: argv,
      allowPositionals: true,
      strict: true,
      options: {
        token: { type: 'string' }, token2: { type: 'string' }, 'tokens-file': { type: 'string' }, 'server-cmd': { type: 'string' },
        select: { type: 'string', multiple: true }, exclude: { type: 'string', multiple: true },
        'expiring-token': { type: 'string' }, 'failing-action': { type: 'string' }, 'max-connections-per-ip': { type: 'string' },
        'token-in-url-allowed': { type: 'boolean' }, 'timeout-scale': { type: 'string' },
        'report-json': { type: 'string' }, 'report-junit': { type: 'string' }, 'report-html': { type: 'string' },
        strict: { type: 'boolean' }, list: { type: 'boolean' }, quiet: { type: 'boolean' }, help: { type: 'boolean', short: 'h' },
      },
    }));
  } catch (e) {
    process.stderr.write(`mooring test: ${(e as Error).message}\n\n${HELP}`);
    return 2;
  }
  if (v.help) {
    process.stdout.write(HELP);
    return 0;
  }
  const select = list(v.select as string[] | undefined);
  const exclude = list(v.exclude as string[] | undefined);
  if (v.list) {
    for (const c of selectCases(allCases(), select, exclude)) process.stdout.write(`${c.id.padEnd(24)} ${c.rules.join(',').padEnd(22)} ${c.title}${c.needs?.length ? `  [needs ${c.needs.join(', ')}]` : ''}\n`);
    return 0;
  }
  const url = positionals[0];
  if (positionals.length > 1) {
    process.stderr.write(`mooring test: one URL at most, got ${positionals.join(' ')}\n`);
    return 2;
  }
  const scale = v['timeout-scale'] === undefined ? 1 : Number(v['timeout-scale']);
  if (!(scale > 0)) {
    process.stderr.write('mooring test: --timeout-scale must be a positive number\n');
    return 2;
  }
  let fileTokens: string[] = [];
  if (v['tokens-file']) {
    try {
      fileTokens = readTokens(v['tokens-file'] as string);
    } catch (e) {
      process.stderr.write(`mooring test: cannot read --tokens-file: ${(e as Error).message}\n`);
      return 2;
    }
  }
  const cap = v['max-connections-per-ip'] === undefined ? undefined : Number(v['max-connections-per-ip']);
  if (cap !== undefined && !(Number.isInteger(cap) && cap > 0)) {
    process.stderr.write('mooring test: --max-connections-per-ip must be a positive integer\n');
    return 2;
  }
  const reporter = consoleReporter();
  const quiet = !!v.quiet;
  const base: Omit<RunOptions, 'url' | 'tokens'> = {
    select,
    exclude,
    timeoutScale: scale,
    strict: !!v.strict,
    onCaseStart: quiet ? undefined : (c, i, n) => reporter.caseStart(c, i, n),
    onCaseEnd: quiet ? undefined : (r, i, n) => reporter.caseEnd(r, i, n),
  };
  let report: SuiteReport;
  if (!url) {
    if (v.token || v['server-cmd']) {
      process.stderr.write('mooring test: --token and --server-cmd need a URL (with no URL the suite tests the reference server it starts)\n');
      return 2;
    }
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
    const tokens = [v.token as string | undefined, v.token2 as string | undefined].filter((t): t is string => !!t);
    const rest = fileTokens.filter((t) => !tokens.includes(t));
    while (tokens.length < 2 && rest.length) tokens.push(rest.shift()!);
    if (!tokens.length) {
      process.stderr.write('mooring test: a URL needs --token (and --token2 for the two-user cases), or --tokens-file\n');
      return 2;
    }
    const cmd = v['server-cmd'] as string | undefined;
    const control = cmd ? processServer({ command: cmd, url, tokens: [...tokens, ...rest] }) : undefined;
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
        mode: 'url',
        serverCmd: cmd,
        caps: {
          serverControl: control,
          expiringToken: v['expiring-token'] as string | undefined,
          failingAction: v['failing-action'] as string | undefined,
          maxConnectionsPerIp: cap,
          tokenInUrlAllowed: !!v['token-in-url-allowed'],
          extraTokens: rest,
        },
      });
    } finally {
      await control?.stop();
    }
  }
  reporter.summary(report);
  if (v['report-json']) write(v['report-json'] as string, toJson(report));
  if (v['report-junit']) write(v['report-junit'] as string, toJunit(report));
  if (v['report-html']) write(v['report-html'] as string, toHtml(report));
  for (const [flag, file] of [['JSON', v['report-json']], ['JUnit', v['report-junit']], ['HTML', v['report-html']]] as const) {
    if (file) process.stdout.write(`${flag} report: ${file}\n`);
  }
  return report.failed ? 1 : 0;
}
