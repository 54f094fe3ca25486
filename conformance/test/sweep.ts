/**
 * Regenerates the self-test's expectations (`expectations.json`): runs the suite, restricted to the
 * cases citing each break's rules, against the raw server with that break, and records which rules
 * fail. Run: `npx tsx conformance/test/sweep.ts [break ...]`; review the diff before committing.
 */
import { writeFileSync, readFileSync, existsSync } from 'node:fs';
import { BREAKS, type BreakName } from './raw-server/server.js';
import { runSuite, selectCases } from '../runner.js';
import { allCases } from '../cases/index.js';
import { rawTarget } from './fixtures.js';
import { selectionFor, serverOptionsFor, type Expectations } from './expectations.js';

const FILE = new URL('./expectations.json', import.meta.url);

export async function observe(brk: BreakName): Promise<{ fails: string[]; warns: string[]; ms: number; details: string[] }> {
  const select = selectionFor(brk);
  const shut = selectCases(allCases(), select).some((c) => c.needs?.includes('server-cmd'));
  const t = await rawTarget(brk, { withProcess: shut, server: serverOptionsFor(brk) });
  const t0 = Date.now();
  try {
    const r = await runSuite({ url: t.url, tokens: t.tokens, caps: t.caps, select });
    const fails = r.rules.filter((x) => x.outcome === 'fail').map((x) => x.id);
    const warns = r.rules.filter((x) => x.outcome === 'warn').map((x) => x.id);
    const details = r.cases.filter((c) => c.outcome === 'fail' || c.outcome === 'warn').map((c) => `${c.id}: ${c.detail}`);
    return { fails, warns, ms: Date.now() - t0, details };
  } finally {
    await t.close();
  }
}

if (process.argv[1] && import.meta.url.endsWith(process.argv[1].split('/').pop()!)) {
  const names = (process.argv.slice(2).length ? process.argv.slice(2) : Object.keys(BREAKS)) as BreakName[];
  const exp: Expectations = existsSync(FILE) ? JSON.parse(readFileSync(FILE, 'utf8')) : { breaks: {} };
  for (const b of names) {
    const o = await observe(b);
    exp.breaks[b] = { fails: [...o.fails, ...o.warns].sort() };
    process.stdout.write(`${b.padEnd(30)} ${BREAKS[b].rules.join(',').padEnd(12)} -> ${[...o.fails, ...o.warns.map((w) => `${w}(warn)`)].join(',') || 'NOT CAUGHT'} ${o.ms} ms\n`);
    for (const d of o.details) process.stdout.write(`    ${d.slice(0, 200)}\n`);
  }
  const sorted = Object.fromEntries(Object.entries(exp.breaks).sort(([a], [b]) => a.localeCompare(b)));
  writeFileSync(FILE, `${JSON.stringify({ breaks: sorted }, null, 2)}\n`);
  process.exit(0);
}
