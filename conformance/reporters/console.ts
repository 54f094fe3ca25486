/** Console reporter: a line per case while running, then a summary grouped by spec area. */
import type { CaseDef, CaseResult, Outcome, SuiteReport } from '../types.js';
import { redact } from '../wire/redact.js';

/** One line, at most 220 characters (messages may quote a server's stack trace). */
const line1 = (s: string) => {
  const t = redact(s).replace(/\s*\n\s*/g, ' ⏎ ');
  return t.length > 220 ? `${t.slice(0, 219)}…` : t;
};

const MARK: Record<Outcome, string> = { pass: '✓', fail: '✗', warn: '!', info: 'i', inconclusive: '?', skip: '-' };
const COLOR: Record<Outcome, number> = { pass: 32, fail: 31, warn: 33, info: 36, inconclusive: 35, skip: 90 };

export interface ConsoleOptions {
  /** Where lines go. @default process.stdout.write */
  write?: (s: string) => void;
  /** ANSI colours. @default true when stdout is a TTY and NO_COLOR is unset */
  color?: boolean;
  /** A transient "running <case>" line. @default true when stdout is a TTY and CI is unset */
  live?: boolean;
}

export function consoleReporter(opts: ConsoleOptions = {}) {
  const write = opts.write ?? ((s: string) => void process.stdout.write(s));
  const color = opts.color ?? (!!process.stdout.isTTY && !process.env.NO_COLOR);
  const paint = (o: Outcome, s: string) => (color ? `\x1b[${COLOR[o]}m${s}\x1b[0m` : s);
  const dim = (s: string) => (color ? `\x1b[90m${s}\x1b[0m` : s);
  const live = opts.live ?? (!!process.stdout.isTTY && !process.env.CI);
  return {
    start(target: string, cases: number) {
      write(`mooring test: ${cases} cases against ${redact(target)}\n`);
    },
    /** On a terminal, a transient "running" line (cases adapted to a 25 s heartbeat take a while). */
    caseStart(c: CaseDef, i: number, n: number) {
      if (live) write(`\r\x1b[2K${dim(`[${i + 1}/${n}] running ${c.id} (${c.rules.join(',')})…`)}`);
    },
    caseEnd(r: CaseResult, i: number, n: number) {
      if (live) write('\r\x1b[2K');
      const idx = dim(`[${String(i + 1).padStart(String(n).length)}/${n}]`);
      const line = `${idx} ${paint(r.outcome, `${MARK[r.outcome]} ${r.outcome.padEnd(4)}`)} ${r.id.padEnd(24)} ${dim(r.rules.join(','))} ${dim(`${r.durationMs} ms`)}`;
      write(`${line}\n`);
      if (r.outcome !== 'pass') write(`       ${paint(r.outcome, line1(r.detail))}\n`);
    },
    summary(rep: SuiteReport) {
      write('\nSummary by area\n');
      const areas = new Map<string, CaseResult[]>();
      for (const c of rep.cases) areas.set(c.area, [...(areas.get(c.area) ?? []), c]);
      for (const [area, list] of areas) {
        const counts = (['pass', 'fail', 'warn', 'info', 'inconclusive', 'skip'] as Outcome[]).filter((o) => list.some((c) => c.outcome === o)).map((o) => paint(o, `${list.filter((c) => c.outcome === o).length} ${o}`));
        write(`  ${area.padEnd(6)} ${counts.join(', ')}\n`);
        for (const c of list.filter((x) => x.outcome !== 'pass')) write(`         ${paint(c.outcome, MARK[c.outcome])} ${c.id}: ${line1(c.detail)}\n`);
      }
      const untested = rep.rules.filter((r) => r.outcome === 'untested').map((r) => r.id);
      const failed = rep.rules.filter((r) => r.outcome === 'fail').map((r) => r.id);
      const warned = rep.rules.filter((r) => r.outcome === 'warn').map((r) => r.id);
      write(`\nRules: ${rep.rules.length - untested.length}/${rep.rules.length} checked`);
      if (failed.length) write(`, ${paint('fail', `failing ${failed.join(' ')}`)}`);
      if (warned.length) write(`, ${paint('warn', `warning ${warned.join(' ')}`)}`);
      if (untested.length) write(untested.length > 12 ? `, ${untested.length} not run` : `, not run ${untested.join(' ')}`);
      const t = rep.totals;
      write(`\nCases: ${t.cases} — ${paint('pass', `${t.pass} pass`)}, ${paint('fail', `${t.fail} fail`)}, ${paint('warn', `${t.warn} warn`)}, ${paint('info', `${t.info} info`)}, ${paint('inconclusive', `${t.inconclusive} inconclusive`)}, ${paint('skip', `${t.skip} skip`)} in ${(rep.durationMs / 1000).toFixed(1)} s\n`);
      write(rep.failed ? paint('fail', `FAILED${rep.strict && !t.fail ? ' (--strict: warnings are fatal)' : ''}\n`) : paint('pass', 'PASSED\n'));
    },
  };
}
