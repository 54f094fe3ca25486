/**
 * The mutation run: each one-clause mutant of the independent Python server (its list:
 * conformance/test/py-server/mutants.json, written from spec/ alone, not from the cases) is started on
 * its own and the suite runs the cases citing the mutant's rule against it. The mutant is caught when
 * that rule is graded fail (or warn, for a SHOULD rule) under one of the server configurations of
 * CONFIGS (sessionPolicy single, then multiple).
 *
 *   npx tsx conformance/test/mutation.ts [--sample N] [--jobs N] [--write] [--json FILE] [mutant...]
 *   npx tsx conformance/test/mutation.ts --from-json FILE [--write]     (re-score a saved run)
 *
 * `--write` replaces the generated score section of conformance/README.md. Two mutants run at a time
 * by default (`--jobs`): the runs wait on server timers far more than they compute.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { runSuite, selectCases } from '../runner.js';
import { allCases } from '../cases/index.js';
import { areaOf, ruleInfo } from '../rules.js';
import { loadMutants, pyTarget, ROOT, type Mutant } from './py-fixtures.js';

export interface MutantResult {
  name: string;
  rule: string;
  clause: string;
  description: string;
  caught: boolean;
  /** Some rule was graded fail or warn (the run does not pass), though maybe not the mutant's rule. */
  detected: boolean;
  /** The mutant's rule's outcome in the run (or `error` when the server or the run broke). */
  outcome: string;
  /** Rules graded fail or warn in the run. */
  graded: string[];
  /** The non-passing cases, one line each. */
  details: string[];
  /** The server configuration of the reported run (`single`, `multiple`, `own` for the mutant's args). */
  config?: string;
  ms: number;
}

/**
 * The cases to run for a mutant: those citing its rule. A rule judged across the whole run by a meta
 * case (VER-5 frames, ERR-3 error codes, ERR-5 close codes, ERR-6 close reasons) is judged on what the
 * other cases make the server send, so its mutants run the whole suite (an empty selection).
 */
export function selectionForRule(rule: string): string[] {
  return META_RULES.has(rule) ? [] : [rule];
}
const META_RULES = new Set(allCases().filter((c) => c.phase === 'meta').flatMap((c) => c.rules));

/**
 * Server configurations a mutant is tried under, in order, until one catches it: the defaults
 * (sessionPolicy single), then sessionPolicy multiple (clauses about "every connection of a user" are
 * only observable when a user can hold two sessions), then the recommended buffer and payload sizes. A mutant with its own `args` gets only those.
 */
export const CONFIGS: { label: string; args: string[] }[] = [
  { label: 'single', args: [] },
  { label: 'multiple', args: ['--session-policy', 'multiple'] },
  // The spec's recommended buffer and payload sizes: the short-timing fixture's 64 KiB buffer leaves no
  // room between "some data waits" and "over maxBufferedBytes", where LIMIT-3's "others keep
  // receiving" is decided.
  { label: 'roomy', args: ['--max-buffered-bytes', '1048576', '--max-payload-bytes', '65536', '--history-size', '100'] },
];

export async function runMutant(m: Mutant, configs = CONFIGS): Promise<MutantResult> {
  const t0 = Date.now();
  let last: MutantResult | undefined;
  for (const cfg of m.args ? [{ label: 'own', args: m.args }] : configs) {
    const r = await runMutantOnce(m, cfg.args);
    r.ms = Date.now() - t0;
    if (configs.length > 1 || m.args) r.config = cfg.label;
    if (r.caught) return r;
    // Keep the first configuration's result for a miss (what the default setup shows), unless it errored.
    if (!last || last.outcome === 'error') last = r;
  }
  return last!;
}

async function runMutantOnce(m: Mutant, args: string[]): Promise<MutantResult> {
  const t0 = Date.now();
  const select = selectionForRule(m.rule);
  const chosen = selectCases(allCases(), select);
  const base = { name: m.name, rule: m.rule, clause: m.clause, description: m.description };
  if (chosen.length === 0) return { ...base, caught: false, detected: false, outcome: 'untested', graded: [], details: [`no case cites ${m.rule}`], ms: 0 };
  const withProcess = chosen.some((c) => c.needs?.includes('server-cmd'));
  let t: Awaited<ReturnType<typeof pyTarget>> | undefined;
  try {
    t = await pyTarget({ mutant: m.name, withProcess, args });
    const r = await runSuite({ url: t.url, tokens: t.tokens, caps: t.caps, select });
    // A preflight refusal is not a verdict (exit 2): the mutant is not caught, whatever rule the message names.
    if (r.setupError) return { ...base, caught: false, detected: false, outcome: 'setup-error', graded: [], details: [`setup error: ${r.setupError}`], ms: Date.now() - t0 };
    const level = ruleInfo(m.rule)?.level ?? 'MUST';
    const outcome = r.rules.find((x) => x.id === m.rule)?.outcome ?? 'untested';
    const caught = outcome === 'fail' || (outcome === 'warn' && level !== 'MUST');
    const graded = r.rules.filter((x) => x.outcome === 'fail' || x.outcome === 'warn').map((x) => (x.outcome === 'warn' ? `${x.id}(warn)` : x.id));
    const details = r.cases.filter((c) => c.outcome !== 'pass').map((c) => `${c.id} ${c.outcome}: ${c.detail}`.slice(0, 300));
    return { ...base, caught, detected: graded.length > 0, outcome, graded, details, ms: Date.now() - t0 };
  } catch (e) {
    return { ...base, caught: false, detected: false, outcome: 'error', graded: [], details: [(e as Error).message.slice(0, 500)], ms: Date.now() - t0 };
  } finally {
    await t?.close();
  }
}

/** Runs `mutants` with at most `jobs` at a time, in order of the list; `onResult` as each ends. */
export async function runMutants(mutants: Mutant[], jobs = 2, onResult?: (r: MutantResult) => void): Promise<MutantResult[]> {
  const results: MutantResult[] = new Array(mutants.length);
  let next = 0;
  const worker = async () => {
    while (next < mutants.length) {
      const i = next++;
      results[i] = await runMutant(mutants[i]!);
      onResult?.(results[i]!);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, jobs) }, worker));
  return results;
}

/** A deterministic sample spread across areas: round-robin over the areas, in list order within each. */
export function sampleAcrossAreas(mutants: Mutant[], n: number): Mutant[] {
  const byArea = new Map<string, Mutant[]>();
  for (const m of mutants) byArea.set(areaOf(m.rule), [...(byArea.get(areaOf(m.rule)) ?? []), m]);
  const out: Mutant[] = [];
  for (let k = 0; out.length < Math.min(n, mutants.length); k++) for (const list of byArea.values()) if (list[k] && out.length < n) out.push(list[k]!);
  return out;
}

const pct = (a: number, b: number) => (b === 0 ? '-' : `${Math.round((100 * a) / b)} %`);

export function scoreTables(results: MutantResult[]): { areas: string; rules: string; misses: string; total: string; detected: string } {
  const caught = results.filter((r) => r.caught).length;
  const detected = results.filter((r) => r.caught || r.detected).length;
  const group = (key: (r: MutantResult) => string) => {
    const m = new Map<string, { caught: number; detected: number; total: number }>();
    for (const r of results) {
      const g = m.get(key(r)) ?? { caught: 0, detected: 0, total: 0 };
      g.total++;
      if (r.caught) g.caught++;
      if (r.caught || r.detected) g.detected++;
      m.set(key(r), g);
    }
    return [...m.entries()].sort(([a], [b]) => a.localeCompare(b, 'en', { numeric: true }));
  };
  const areas = [
    '| area | caught / planted | | run fails (any rule) |',
    '|---|---|---|---|',
    ...group((r) => areaOf(r.rule)).map(([a, g]) => `| ${a} | ${g.caught} / ${g.total} | ${pct(g.caught, g.total)} | ${g.detected} / ${g.total} |`),
  ].join('\n');
  const rules = ['| rule | caught / planted | run fails (any rule) |', '|---|---|---|', ...group((r) => r.rule).map(([a, g]) => `| ${a} | ${g.caught} / ${g.total} | ${g.detected} / ${g.total} |`)].join('\n');
  const missed = results.filter((r) => !r.caught);
  const cell = (t: string) => t.replace(/\|/g, '\\|').replace(/\n/g, ' ');
  const misses = missed.length
    ? [
        '| mutant | rule | clause | its rule | graded instead |',
        '|---|---|---|---|---|',
        ...missed.map((r) => `| \`${r.name}\` | ${r.rule} | ${cell(r.clause)} | ${r.outcome} | ${r.graded.join(', ') || '-'} |`),
      ].join('\n')
    : 'none';
  return { areas, rules, misses, total: `${caught} / ${results.length} (${pct(caught, results.length)})`, detected: `${detected} / ${results.length} (${pct(detected, results.length)})` };
}

const BEGIN = '<!-- BEGIN GENERATED mutation-score -->';
const END = '<!-- END GENERATED mutation-score -->';

export function scoreSection(results: MutantResult[], date: string): string {
  const t = scoreTables(results);
  return [
    BEGIN,
    '<!-- Generated by `npx tsx conformance/test/mutation.ts --write`; do not edit by hand. -->',
    '',
    `Mutants of the independent Python server caught (their own rule graded fail, or warn for a SHOULD): **${t.total}**; runs that fail on some rule: ${t.detected} (run ${date}).`,
    '',
    t.areas,
    '',
    '<details><summary>Per rule</summary>',
    '',
    t.rules,
    '',
    '</details>',
    '',
    'Not caught:',
    '',
    t.misses,
    END,
  ].join('\n');
}

export function writeReadme(section: string): void {
  const file = path.join(ROOT, 'conformance/README.md');
  const text = readFileSync(file, 'utf8');
  const i = text.indexOf(BEGIN);
  const j = text.indexOf(END);
  const next =
    i >= 0 && j > i
      ? text.slice(0, i) + section + text.slice(j + END.length)
      : `${text.trimEnd()}\n\n## Mutation score\n\nOne-clause mutants of an independent server written from \`spec/\` alone (Python, \`conformance/test/py-server/\`, mutants listed in its \`mutants.json\`), each run against the cases citing the mutated rule, with the default settings and, if not caught, with \`sessionPolicy: multiple\`, then with the recommended 1 MiB buffer and 64 KiB payloads; caught when that rule is graded fail (warn for a SHOULD). Full run: \`npx tsx conformance/test/mutation.ts --write\`; CI runs a fixed sample (\`conformance/test/mutation.test.ts\`).\n\n${section}\n`;
  writeFileSync(file, next);
}

if (process.argv[1] && import.meta.url.endsWith(process.argv[1].split('/').pop()!)) {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: { sample: { type: 'string' }, jobs: { type: 'string' }, write: { type: 'boolean' }, json: { type: 'string' }, 'from-json': { type: 'string' } },
  });
  if (values['from-json']) {
    // Re-score a saved run (--json FILE) without running it again.
    const saved = (JSON.parse(readFileSync(values['from-json'], 'utf8')) as MutantResult[]).map((r) => ({ ...r, detected: r.detected ?? r.graded.length > 0 }));
    const t = scoreTables(saved);
    process.stdout.write(`Score: ${t.total} caught; ${t.detected} fail some rule\n\n${t.areas}\n\nNot caught:\n${t.misses}\n`);
    if (values.write) writeReadme(scoreSection(saved, new Date().toISOString().slice(0, 10)));
    process.exit(0);
  }
  let mutants = loadMutants();
  if (positionals.length) {
    const unknown = positionals.filter((p) => !mutants.some((m) => m.name === p));
    if (unknown.length) {
      process.stderr.write(`unknown mutant(s): ${unknown.join(', ')}\n`);
      process.exit(2);
    }
    mutants = mutants.filter((m) => positionals.includes(m.name));
  }
  if (values.sample) mutants = sampleAcrossAreas(mutants, Number(values.sample));
  const t0 = Date.now();
  process.stdout.write(`${mutants.length} mutants, ${values.jobs ?? 2} at a time\n`);
  const results = await runMutants(mutants, Number(values.jobs ?? 2), (r) => {
    process.stdout.write(`${r.caught ? 'caught' : 'MISSED'} ${r.name.padEnd(36)} ${r.rule.padEnd(9)} ${(r.config ?? '').padEnd(8)} ${r.outcome.padEnd(12)} -> ${r.graded.join(',') || '-'} ${r.ms} ms\n`);
    if (!r.caught) for (const d of r.details.slice(0, 6)) process.stdout.write(`    ${d}\n`);
  });
  const t = scoreTables(results);
  process.stdout.write(`\nScore: ${t.total} caught; ${t.detected} fail some rule; in ${Math.round((Date.now() - t0) / 1000)} s\n\n${t.areas}\n\n${t.rules}\n\nNot caught:\n${t.misses}\n`);
  if (values.json) writeFileSync(values.json, JSON.stringify(results, null, 2));
  if (values.write) {
    if (positionals.length || values.sample) process.stderr.write('--write with a subset of mutants: the README gets the subset score\n');
    writeReadme(scoreSection(results, new Date().toISOString().slice(0, 10)));
    process.stdout.write('conformance/README.md updated\n');
  }
  process.exit(0);
}
