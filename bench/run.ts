/**
 * Runs scenarios, prints their tables and the targets, writes bench/results/<scenario>.json (+ .svg)
 * and, for `all`, bench/results/all.json and a RESULTS.md-ready Markdown report (results/all.md).
 */
import { writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { formatMachine, machineFacts, type MachineFacts } from './lib/machine.js';
import { Progress, resultsDir, table, writeResults } from './lib/output.js';
import { BENCH_LIMITS, formatLimits } from './servers/limits.js';
import type { RunOptions, ScenarioResult, TargetCheck } from './scenarios/common.js';

export const SCENARIOS = {
  storm: () => import('./scenarios/storm.js'),
  fanout: () => import('./scenarios/fanout.js'),
  reqres: () => import('./scenarios/reqres.js'),
  idle: () => import('./scenarios/idle.js'),
  heartbeat: () => import('./scenarios/heartbeat.js'),
  churn: () => import('./scenarios/churn.js'),
} as const;
export type ScenarioName = keyof typeof SCENARIOS;

/** Progress steps each scenario reports (for the bar), by repeats. */
function steps(name: ScenarioName, repeats: number, o: Pick<RunOptions, 'quick' | 'tiny' | 'params'>): number {
  const sizes = o.params.sizes ? o.params.sizes.split(',').length : o.tiny ? 1 : o.quick ? 2 : 3;
  const rates = o.params.rates ? o.params.rates.split(',').length : o.tiny || o.quick ? 1 : 2;
  switch (name) {
    case 'storm': {
      const sig = o.params.signals?.split(',').length ?? 2;
      // + the Redis runs (one per signal, then the multi-node run) when redis-server is not turned off.
      const redis = o.params.redis === 'off' ? 0 : sig + (o.params.nodes === '0' ? 0 : 1);
      if (o.params.only === 'multi') return 1;
      return sig * ((o.params.strategies?.split(',').length ?? 5) + 1) + redis;
    }
    case 'fanout': return 4 * (sizes + 1) * repeats;
    case 'reqres': return 3 * (repeats + rates);
    case 'idle': return 3 * repeats;
    case 'heartbeat': return 3 * repeats;
    case 'churn': return 2 * repeats;
  }
}

export function targetsTable(targets: TargetCheck[], markdown = false): string {
  const fmt = (v: number) => (Number.isFinite(v) ? String(+v.toPrecision(3)) : 'not measured');
  return table(['target', 'measured', 'goal', 'met', 'note'], targets.map((t) => [t.text, fmt(t.measured), `${t.cmp === 'le' ? '≤' : '≥'} ${t.goal}`, Number.isFinite(t.measured) ? (t.met ? 'yes' : 'NO') : '–', t.note ?? '']), markdown);
}

export interface BenchRun {
  command: string;
  machine: MachineFacts;
  options: { quick: boolean; tiny: boolean; repeats: number; params: Record<string, string> };
  limits: typeof BENCH_LIMITS;
  results: ScenarioResult[];
  targets: TargetCheck[];
  wallSeconds: number;
}

export async function runBench(names: ScenarioName[], opts: Omit<RunOptions, 'machine'> & { command: string; out?: (s: string) => void }): Promise<BenchRun> {
  const out = opts.out ?? ((s: string) => process.stdout.write(s));
  const machine = machineFacts();
  const o: RunOptions = { ...opts, machine };
  const dir = opts.resultsDir ?? resultsDir();
  out(`mooring bench ${names.join(' ')}: ${formatMachine(machine)}\n`);
  out(`server limits raised for load: ${formatLimits()}; compression off everywhere\n\n`);
  if (machine.loadavg1m > 0.5) out(`note: load average ${machine.loadavg1m} at start: other work shares this machine, figures are noisier\n\n`);
  const progress = new Progress(names.reduce((s, n) => s + steps(n, o.repeats, o), 0), opts.quiet);
  const results: ScenarioResult[] = [];
  const t0 = performance.now();
  for (const name of names) {
    const mod = await SCENARIOS[name]();
    const r = await mod.run(o, progress);
    results.push(r);
    progress.end();
    writeResults(name, { scenario: name, machine, options: { quick: o.quick, tiny: o.tiny, repeats: o.repeats, params: o.params }, limits: BENCH_LIMITS, ...r.json, targets: r.targets }, r.svg, dir);
    for (const [file, svg] of Object.entries(r.extraSvg ?? {})) writeFileSync(join(dir, `${file}.svg`), svg);
    out(`## ${r.title}\n\n${r.text}\n`);
  }
  const targets = results.flatMap((r) => r.targets);
  if (targets.length) out(`## Targets (issue 11), from this run\n\n${targetsTable(targets)}\n`);
  const run: BenchRun = { command: opts.command, machine, options: { quick: o.quick, tiny: o.tiny, repeats: o.repeats, params: o.params }, limits: BENCH_LIMITS, results, targets, wallSeconds: (performance.now() - t0) / 1000 };
  if (names.length > 1) {
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'all.json'), JSON.stringify({ ...run, results: results.map((r) => ({ scenario: r.scenario, ...r.json })) }, null, 2) + '\n');
    writeFileSync(join(dir, 'all.md'), markdownReport(run));
  }
  out(`results in ${dir} (${run.wallSeconds.toFixed(0)} s)\n`);
  return run;
}

/** The Markdown that goes into bench/RESULTS.md. */
export function markdownReport(run: BenchRun): string {
  const m = run.machine;
  return [
    `Command: \`${run.command}\` (${run.options.quick ? 'quick' : 'full'}, ${run.options.repeats} repeats, ${run.wallSeconds.toFixed(0)} s)\n`,
    `Machine: ${formatMachine(m)}; ${m.memGiB} GiB; kernel ${m.kernel}; ${m.at}\n`,
    `Server limits raised for load: ${formatLimits(run.limits)}; compression off everywhere.\n`,
    ...run.results.map((r) => `### ${r.title}\n\n${r.markdown}\n`),
    `### Targets (issue 11), from this run\n\n${targetsTable(run.targets, true)}`,
  ].join('\n');
}
