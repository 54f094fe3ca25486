/**
 * `mooring test-client [--cmd "<command>"]`: grades a Mooring client. The harness starts the command
 * (a driver: spec/client-driver.md), plays the server on 127.0.0.1 and checks every client rule.
 * With no --cmd it grades the bundled reference client (Node); --browser grades the browser bundle in
 * headless Chromium. Exit code: 0 when no case fails (with --strict: and none warns), 1 otherwise,
 * 2 on a usage error.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { clientCases, driverCommand, runClientSuite, selectClientCases, HARNESS_PARAMS, HARNESS_SETTINGS } from '../conformance/client/index.js';
import { consoleReporter } from '../conformance/reporters/console.js';
import { toJson } from '../conformance/reporters/json.js';
import { toJunit } from '../conformance/reporters/junit.js';
import { toHtml } from '../conformance/reporters/html.js';
import { parseFlags, parsePositive, runCommand, UsageError } from './args.js';

export const HELP = `Usage: mooring test-client [--cmd "<command>"] [options]

Grades a Mooring v1 client, in any language, rule by rule: pass, fail (a MUST
broken), warn (a SHOULD broken), info, inconclusive or skip. The harness plays
the server on 127.0.0.1 (real sockets), misbehaving on purpose, and starts your
client program once per case; the program speaks the driver contract of
spec/client-driver.md (JSON lines on stdin and stdout). Timings come from the
session params the harness advertises (heartbeat ${HARNESS_PARAMS.heartbeatIntervalMs} ms / ${HARNESS_PARAMS.heartbeatTimeoutMs} ms, request timeout
${HARNESS_PARAMS.requestTimeoutMs} ms) and the client settings it asks for (backoff base ${HARNESS_SETTINGS.backoffBaseMs} ms, cap ${HARNESS_SETTINGS.backoffCapMs} ms,
stable after ${HARNESS_SETTINGS.stableAfterMs} ms), so a full run takes about a minute.

Options (default in brackets):
  --cmd "CMD"             the shell command that starts your driver [the
                          reference client's Node driver]
  --browser               grade the reference client's browser bundle in headless
                          Chromium (CHROMIUM_PATH or /usr/bin/chromium)
  --select LIST           run only these rule IDs, areas or case ids (comma-
                          separated, repeatable), e.g. RECON,REQ-5,hb.pong-timeout
  --exclude LIST          leave these out, same syntax [none]
  --timeout-scale X       multiply every wait, tolerance and time limit by X [1]
  --report-json FILE      write the JSON report (schemaVersion 1)
  --report-junit FILE     write a JUnit XML report
  --report-html FILE      write a self-contained HTML report
  --strict                warnings fail the run too
  --list                  list the cases (after --select/--exclude) and exit
  --quiet                 no per-case progress, summary only
  -h, --help              this help

Examples:
  mooring test-client
  mooring test-client --browser --report-html client-report.html
  mooring test-client --cmd "python3 my_driver.py" --select RECON,HB
`;

function write(file: string, text: string): void {
  mkdirSync(path.dirname(path.resolve(file)), { recursive: true });
  writeFileSync(file, text);
}

const list = (v: readonly string[] | undefined) => (v ?? []).flatMap((s) => s.split(',')).map((s) => s.trim()).filter(Boolean);

const OPTIONS = {
  cmd: { type: 'string' }, browser: { type: 'boolean' },
  select: { type: 'string', multiple: true }, exclude: { type: 'string', multiple: true },
  'timeout-scale': { type: 'string' },
  'report-json': { type: 'string' }, 'report-junit': { type: 'string' }, 'report-html': { type: 'string' },
  strict: { type: 'boolean' }, list: { type: 'boolean' }, quiet: { type: 'boolean' }, help: { type: 'boolean', short: 'h' },
} as const;

export function run(argv: string[]): Promise<number> {
  return runCommand('mooring test-client', () => runTestClient(argv));
}

async function runTestClient(argv: string[]): Promise<number> {
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(HELP);
    return 0;
  }
  const { values: v } = parseFlags(argv, OPTIONS);
  const select = list(v.select);
  const exclude = list(v.exclude);
  if (v.list) {
    for (const c of selectClientCases(clientCases(), select, exclude)) process.stdout.write(`${c.id.padEnd(28)} ${c.rules.join(',').padEnd(22)} ${c.title}\n`);
    return 0;
  }
  if (v.cmd && v.browser) throw new UsageError('--cmd and --browser exclude each other');
  const scale = v['timeout-scale'] === undefined ? 1 : parsePositive(v['timeout-scale'], '--timeout-scale');
  const cmd = (v.cmd as string | undefined) ?? driverCommand(v.browser ? 'chromium' : 'node');
  const label = v.cmd ? (v.cmd as string) : v.browser ? 'reference client, browser bundle in headless Chromium' : 'reference client (Node)';
  const reporter = consoleReporter();
  const quiet = !!v.quiet;
  const n = selectClientCases(clientCases(), select, exclude).length;
  process.stdout.write(`mooring test-client: ${n} cases against ${label}\n`);
  // --browser: one Chromium for the whole run; each case's driver opens its own context in it.
  let shared: { endpoint: string; close(): Promise<void> } | undefined;
  if (v.browser) {
    const { startSharedChromium } = await import('../conformance/client/drivers/chromium.js');
    try {
      shared = await startSharedChromium();
    } catch (e) {
      process.stderr.write(`mooring test-client: cannot start Chromium: ${(e as Error).message}\n`);
      return 2;
    }
    process.env.MOORING_CHROMIUM_ENDPOINT = shared.endpoint;
  }
  const report = await runClientSuite({
    cmd,
    label,
    select,
    exclude,
    timeoutScale: scale,
    strict: !!v.strict,
    onCaseStart: quiet ? undefined : (c, i, total) => reporter.caseStart(c, i, total),
    onCaseEnd: quiet ? undefined : (r, i, total) => reporter.caseEnd(r, i, total),
  });
  await shared?.close();
  reporter.summary(report);
  if (v['report-json']) write(v['report-json'] as string, toJson(report));
  if (v['report-junit']) write(v['report-junit'] as string, toJunit(report));
  if (v['report-html']) write(v['report-html'] as string, toHtml(report));
  for (const [flag, file] of [['JSON', v['report-json']], ['JUnit', v['report-junit']], ['HTML', v['report-html']]] as const) {
    if (file) process.stdout.write(`${flag} report: ${file}\n`);
  }
  return report.failed ? 1 : 0;
}
