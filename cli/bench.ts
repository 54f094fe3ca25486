/** `mooring bench`: load benchmarks of the reference server side by side with raw ws and Socket.IO (bench/). */
import { parseArgs } from 'node:util';
import { runBench, SCENARIOS, type ScenarioName } from '../bench/run.js';

export const HELP = `Usage: mooring bench <scenario|all> [options]

Runs load benchmarks: the server under test and the load generator in separate processes pinned
to separate cores (taskset), compression off, warm-up, repeats, median and spread. Each scenario
prints a table (a progress bar on stderr while it runs) and writes JSON (and SVG plots) to
bench/results/; \`all\` also prints the issue-11 targets with the measured ratios and writes
bench/results/all.md for bench/RESULTS.md. See bench/README.md for what each figure means.

Scenarios:
  storm       reconnect storm: N clients, SIGTERM and SIGKILL restarts, backoff strategies, Socket.IO
  fanout      one channel to 1k/5k/10k subscribers and many small channels; raw ws, Socket.IO rooms
  reqres      request/response: closed loop (req/s, server CPU/request), open loop (p50/p99/p99.9)
  idle        idle density: RSS and heap per authenticated connection, idle CPU
  heartbeat   POST /heartbeat with autocannon, alone and during fan-out, vs bare node:http
  churn       connect/auth/subscribe/disconnect cycles: heap, timers, fds back to baseline
  all         every scenario in turn

Options:
  --quick               smaller sizes and shorter windows (bench all --quick: a few minutes)
  --tiny                smoke-test sizes (seconds; figures are not meaningful)
  --repeats N           measured repeats per figure [3; 2 with --quick; 1 with --tiny]
  --set KEY=VALUE       scenario parameter (repeatable), e.g. --set clients=5000 (storm),
                        --set sizes=1000,10000 (fanout), --set rates=5000,20000 (reqres),
                        --set connections=10000 (idle), --set cycles=20000 (churn),
                        --set redis=off (storm: skip the Redis runs), --set nodes=N (storm:
                        multi-node run on Redis [3]; 0 skips it), --set only=multi
  --results DIR         where JSON/SVG go [bench/results]
  --cpu-prof            run servers under test with --cpu-prof (profiles in the results dir)
  --quiet               no progress bar
  -h, --help            this help
`;

export async function run(argv: string[]): Promise<number> {
  let v: Record<string, string | boolean | string[] | undefined>;
  let positionals: string[];
  try {
    ({ values: v, positionals } = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        quick: { type: 'boolean' }, tiny: { type: 'boolean' }, repeats: { type: 'string' }, set: { type: 'string', multiple: true },
        results: { type: 'string' }, 'cpu-prof': { type: 'boolean' }, quiet: { type: 'boolean' }, help: { type: 'boolean', short: 'h' },
      },
    }));
  } catch (err) {
    process.stderr.write(`mooring bench: ${(err as Error).message}\n(see mooring bench --help)\n`);
    return 2;
  }
  if (v.help) {
    process.stdout.write(HELP);
    return 0;
  }
  const what = positionals[0];
  const names = what === 'all' ? (Object.keys(SCENARIOS) as ScenarioName[]) : what && what in SCENARIOS ? [what as ScenarioName] : null;
  if (!names || positionals.length > 1) {
    process.stderr.write(`mooring bench: ${what ? `unknown scenario "${positionals.join(' ')}"` : 'which scenario?'}\n${HELP}`);
    return 2;
  }
  const params: Record<string, string> = {};
  for (const kv of (v.set as string[] | undefined) ?? []) {
    const i = kv.indexOf('=');
    if (i < 1) {
      process.stderr.write(`mooring bench: --set KEY=VALUE, got "${kv}"\n`);
      return 2;
    }
    params[kv.slice(0, i)] = kv.slice(i + 1);
  }
  const tiny = v.tiny === true;
  const quick = v.quick === true;
  const repeats = v.repeats !== undefined ? Number(v.repeats) : tiny ? 1 : quick ? 2 : 3;
  if (!Number.isInteger(repeats) || repeats < 1) {
    process.stderr.write('mooring bench: --repeats: a positive integer\n');
    return 2;
  }
  const resultsDir = v.results as string | undefined;
  const serverFlags = v['cpu-prof'] ? ['--cpu-prof', `--cpu-prof-dir=${resultsDir ?? 'bench/results'}`] : undefined;
  await runBench(names, { quick, tiny, repeats, params, quiet: v.quiet === true, resultsDir, serverFlags, command: `mooring bench ${argv.join(' ')}` });
  return 0;
}
