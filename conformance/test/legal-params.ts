/**
 * The worlds of the legal-parameter property (legal-params.test.ts): the reference server started with
 * given legal session parameters (in-process, plus its CLI as a child process with the same parameters
 * for the shutdown cases), reached directly or through the buffering TCP relay, and one whole suite run
 * against it.
 *
 * Replay one drawn world (the property prints this command on failure):
 *   npx tsx conformance/test/legal-params.ts '<params JSON>' [direct|proxy] [in-process|process]
 * Survey N draws without stopping at the first failure (lists every false fail):
 *   npx tsx conformance/test/legal-params.ts --survey N [SEED]
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import fc from 'fast-check';
import { runSuite } from '../runner.js';
import { FAILING_ACTION, mooringCli, packageRoot } from '../embedded.js';
import { processServer, type ServerControl } from '../server-control.js';
import { STORM_MAX } from '../cases/shutdown.js';
import type { Capabilities } from '../context.js';
import type { SuiteReport } from '../types.js';
import { startBufferingProxy, type BufferingProxy } from './buffering-proxy.js';
import { freePort } from './py-fixtures.js';

/** Session parameters of `startServer` (spec: Session parameters), all legal, drawn by the property. */
export interface LegalParams {
  heartbeatIntervalMs: number;
  heartbeatTimeoutMs: number;
  authTimeoutMs: number;
  requestTimeoutMs: number;
  rateLimit: { messages: number; windowMs: number };
  maxPayloadBytes: number;
  maxSubscriptions: number;
  maxBufferedBytes: number;
  historySize: number;
  maxPendingRequests: number;
  sessionPolicy: 'single' | 'multiple';
}

/**
 * Legal values, in ranges that keep one suite run short: timers of a few hundred ms to a few s, a rate
 * of at least 40 messages/s (the suite's own traffic is paced within it, so a slower limit only makes
 * the run longer, not different), limits from small to the recommended defaults.
 */
export const legalParams: fc.Arbitrary<LegalParams> = fc
  .record({
    heartbeatIntervalMs: fc.integer({ min: 300, max: 2500 }),
    heartbeatTimeoutMs: fc.integer({ min: 300, max: 2500 }),
    authTimeoutMs: fc.integer({ min: 300, max: 4000 }),
    requestTimeoutMs: fc.integer({ min: 1000, max: 5000 }),
    rateMessages: fc.integer({ min: 40, max: 400 }),
    rateWindowFactor: fc.double({ min: 0, max: 1, noNaN: true }),
    maxPayloadBytes: fc.integer({ min: 8 * 1024, max: 128 * 1024 }),
    maxSubscriptions: fc.integer({ min: 4, max: 100 }),
    maxBufferedBytes: fc.integer({ min: 16 * 1024, max: 1024 * 1024 }),
    historySize: fc.integer({ min: 5, max: 200 }),
    maxPendingRequests: fc.integer({ min: 4, max: 100 }),
    sessionPolicy: fc.constantFrom<'single' | 'multiple'>('single', 'multiple'),
  })
  .map(({ rateMessages, rateWindowFactor, ...p }) => {
    // windowMs in [500 ms, min(5 s, messages × 25 ms)]: at least 40 messages/s (slower only lengthens the run).
    const maxWindow = Math.min(5000, rateMessages * 25);
    return { ...p, rateLimit: { messages: rateMessages, windowMs: Math.round(500 + rateWindowFactor * (maxWindow - 500)) } };
  });

/** Operator settings that are not session parameters, fixed (the suite is told them or does not depend on them). */
const OPERATOR = { maxConnectionsPerIp: 48, tokenWarningMs: 800, shutdownSpreadMs: 500 };
/** The CLI process takes a storm of STORM_MAX clients from one IP. */
const PROCESS_MAX_CONNECTIONS_PER_IP = 256;

const q = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

function serveFlags(p: LegalParams): string[] {
  return [
    '--heartbeat-interval', `${p.heartbeatIntervalMs}ms`, '--heartbeat-timeout', `${p.heartbeatTimeoutMs}ms`,
    '--auth-timeout', `${p.authTimeoutMs}ms`, '--request-timeout', `${p.requestTimeoutMs}ms`,
    '--rate-limit', `${p.rateLimit.messages}/${p.rateLimit.windowMs}ms`, '--max-payload', String(p.maxPayloadBytes),
    '--max-subscriptions', String(p.maxSubscriptions), '--max-buffered', String(p.maxBufferedBytes),
    '--max-pending-requests', String(p.maxPendingRequests), '--history-size', String(p.historySize),
    '--session-policy', p.sessionPolicy, '--shutdown-spread', `${OPERATOR.shutdownSpreadMs}ms`,
    '--token-warning', `${OPERATOR.tokenWarningMs}ms`, '--max-connections-per-ip', String(PROCESS_MAX_CONNECTIONS_PER_IP),
  ];
}

/** The reference CLI with these params as a controlled process, with STORM_MAX users' tokens. */
async function referenceProcessWith(p: LegalParams): Promise<{ control: ServerControl; cleanup: () => void }> {
  const cli = mooringCli();
  if (!cli) throw new Error('the reference CLI is not runnable');
  const dir = mkdtempSync(path.join(os.tmpdir(), 'mooring-prop-'));
  const file = path.join(dir, 'tokens.json');
  const root = packageRoot();
  const { stdout } = await promisify(execFile)(cli.cmd[0]!, [...cli.cmd.slice(1), 'token', 'create', '--user', 'storm', '--count', String(STORM_MAX), '--tokens-file', file], { cwd: root, timeout: 60_000 });
  const tokens = stdout.trim().split('\n').map((l) => l.trim()).filter(Boolean);
  const port = await freePort();
  const command = [...cli.cmd, 'serve', '--port', String(port), '--tokens-file', file, '--quiet', ...serveFlags(p)].map(q).join(' ');
  const control = processServer({ command, url: `ws://127.0.0.1:${port}/ws`, tokens, cwd: root, readyTimeoutMs: 30_000 });
  return { control, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** A ServerControl whose clients go through `proxy` (the process itself is the same). */
function behind(ctl: ServerControl, proxy: BufferingProxy): ServerControl {
  return { ...ctl, url: proxy.urlFor(ctl.url), describe: `${ctl.describe} (through a buffering TCP relay)` };
}

export interface WorldRun {
  params: LegalParams;
  via: 'direct' | 'proxy';
  target: Target;
  report: SuiteReport;
  /** The relay's largest queue (one direction of one connection), when through the relay. */
  relayPeakBytes?: number;
}

/** Starts the reference server with `p`, runs the whole suite against it (directly or through the relay), stops everything. */
/**
 * Where the suite meets the server: `in-process` is `mooring test` with no URL (the reference server
 * in-process, tokens minted, a failing action; its CLI with the same params as a process for SHUT-*);
 * `process` is `mooring test URL --tokens-file F --server-cmd CMD` (everything against the CLI
 * process, the main users among the storm users, so the rate governor sees the shutdown cases' traffic;
 * no failing action and no expiring token: REQ-7, AUTH-8 and AUTH-11 skip).
 */
export type Target = 'in-process' | 'process';
export const targets = fc.constantFrom<Target>('in-process', 'process');

/** Starts the reference server with `p`, runs the whole suite against it (directly or through the relay), stops everything. */
export async function runWorld(p: LegalParams, via: 'direct' | 'proxy', target: Target = 'in-process', relayBufferBytes = 4 * 1024 * 1024): Promise<WorldRun> {
  const { startServer } = await import('../../reference/server/index.js');
  const server =
    target === 'in-process'
      ? await startServer({
          port: 0,
          tokensFile: ':memory:',
          logger: false,
          ...p,
          ...OPERATOR,
          actions: {
            [FAILING_ACTION]: () => {
              throw new Error('SECRET conformance-failure at handler (/srv/app/handlers.js:12:7)');
            },
          },
        })
      : undefined;
  const proxies: BufferingProxy[] = [];
  let proc: Awaited<ReturnType<typeof referenceProcessWith>> | undefined;
  try {
    proc = await referenceProcessWith(p);
    let control = proc.control;
    let url = server?.url ?? control.url;
    let tokens = server ? [await server.createToken('conf-alice'), await server.createToken('conf-bob')] : control.tokens.slice(0, 2);
    if (!server) await control.start();
    if (via === 'proxy') {
      const b = await startBufferingProxy({ targetPort: Number(new URL(proc.control.url).port), bufferBytes: relayBufferBytes });
      const a = server ? await startBufferingProxy({ targetPort: Number(new URL(server.url).port), bufferBytes: relayBufferBytes }) : b;
      proxies.push(...new Set([a, b]));
      url = a.urlFor(url);
      control = behind(proc.control, b);
    }
    const caps: Partial<Capabilities> = server
      ? {
          mintToken: (user, ttlMs) => server.createToken(user, { ttlMs }),
          failingAction: FAILING_ACTION,
          maxConnectionsPerIp: OPERATOR.maxConnectionsPerIp,
          serverControl: control,
        }
      : { maxConnectionsPerIp: PROCESS_MAX_CONNECTIONS_PER_IP, serverControl: control, extraTokens: control.tokens.slice(2) };
    const report = await runSuite({ url, tokens, caps, mode: server ? 'embedded' : 'url', serverCmd: server ? undefined : control.describe });
    return { params: p, via, target, report, relayPeakBytes: via === 'proxy' ? proxies[0]!.peakQueuedBytes() : undefined };
  } finally {
    await proc?.control.stop();
    proc?.cleanup();
    for (const x of proxies) await x.close();
    await server?.shutdown();
  }
}

/** The cases a correct server must not get: fail always; warn too unless listed as justified. */
export function badCases(r: SuiteReport, allowWarn: (id: string) => boolean = () => false) {
  return r.cases.filter((c) => c.outcome === 'fail' || (c.outcome === 'warn' && !allowWarn(c.id)));
}

/** A failure report that lets the run be replayed and diagnosed. */
export function describeFailure(w: WorldRun, bad: SuiteReport['cases']): string {
  const lines = [
    `reference server (${w.target}) ${w.via === 'proxy' ? 'through the buffering relay' : 'directly'} with legal params ${JSON.stringify(w.params)}`,
    `replay: npx tsx conformance/test/legal-params.ts '${JSON.stringify(w.params)}' ${w.via} ${w.target}`,
  ];
  for (const c of bad) {
    lines.push(`  ${c.id} ${c.outcome} (${c.durationMs} ms): ${c.detail}`);
    for (const f of c.findings) lines.push(`    ${f.grade} ${f.rule}: ${f.message}`);
    for (const n of c.notes.slice(0, 5)) lines.push(`    note: ${n}`);
    lines.push(`    closes: ${c.closes.seen.map((s) => `${s.conn} ${s.code}${s.frame ? '' : '(no frame)'}${s.byClient ? ' by client' : ''} "${s.reason}" @${s.atMs}`).join('; ')}`);
    for (const t of c.transcript.slice(-12)) lines.push(`    ${t.t} ${t.conn} ${t.dir} ${t.kind} ${(t.data ?? '').slice(0, 120)}`);
  }
  return lines.join('\n');
}

if (process.argv[1] && import.meta.url.endsWith(process.argv[1].split('/').pop()!)) {
  if (process.argv[2] === '--survey') {
    // Every draw, no stop at the first failure: npx tsx conformance/test/legal-params.ts --survey N [SEED]
    const n = Number(process.argv[3] ?? 5);
    const seed = Number(process.argv[4] ?? 7007);
    const draws = fc.sample(fc.tuple(legalParams, targets), { seed, numRuns: n });
    let failing = 0;
    for (const [i, [p, target]] of draws.entries()) {
      const worlds = await Promise.all([runWorld(p, 'direct', target), runWorld(p, 'proxy', target)]);
      for (const w of worlds) {
        const bad = badCases(w.report);
        const inc = w.report.cases.filter((c) => c.outcome === 'inconclusive');
        process.stdout.write(`draw ${i} ${target} ${w.via} ${JSON.stringify(p)}: ${JSON.stringify(w.report.totals)} ${Math.round(w.report.durationMs / 1000)} s${w.relayPeakBytes !== undefined ? ` relay peak ${w.relayPeakBytes} B` : ''}\n`);
        for (const c of inc) process.stdout.write(`  inconclusive ${c.id}: ${c.detail}\n`);
        if (bad.length) {
          failing++;
          process.stdout.write(`${describeFailure(w, bad)}\n`);
        }
      }
    }
    process.exit(failing ? 1 : 0);
  }
  const p = JSON.parse(process.argv[2] ?? '') as LegalParams;
  const via = (process.argv[3] ?? 'direct') as 'direct' | 'proxy';
  const w = await runWorld(p, via, (process.argv[4] ?? 'in-process') as Target);
  const bad = w.report.cases.filter((c) => c.outcome !== 'pass' && c.outcome !== 'skip');
  process.stdout.write(`${JSON.stringify(w.report.totals)} in ${w.report.durationMs} ms${w.relayPeakBytes !== undefined ? `, relay peak queue ${w.relayPeakBytes} B` : ''}\n`);
  process.stdout.write(`${describeFailure(w, bad)}\n`);
  process.exit(badCases(w.report).length ? 1 : 0);
}
