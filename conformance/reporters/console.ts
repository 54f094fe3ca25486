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

/**
 * `Rules: N/M judged`: N counts only the rules with a verdict (pass or fail); the others are listed
 * by outcome (warn, info, inconclusive, skip, untested), so a run where cases were skipped never
 * looks complete.
 */
export function rulesLine(rep: SuiteReport, paint: (o: Outcome, s: string) => string = (_o, s) => s): string {
  const by = (o: Outcome | 'untested') => rep.rules.filter((r) => r.outcome === o).map((r) => r.id);
  const pass = by('pass');
  const fail = by('fail');
  let out = `Rules: ${pass.length + fail.length}/${rep.rules.length} judged (${paint('pass', `${pass.length} pass`)}, ${paint('fail', `${fail.length} fail${fail.length ? `: ${fail.join(' ')}` : ''}`)})`;
  for (const o of ['warn', 'info', 'inconclusive', 'skip', 'untested'] as const) {
    const ids = by(o);
    if (!ids.length) continue;
    const label = o === 'untested' ? 'not run' : o;
    out += `; ${o === 'untested' ? label : paint(o, label)} ${ids.length > 15 ? `${ids.length} rules` : ids.join(' ')}`;
  }
  return out;
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
    /** The preflight's findings and decisions (concurrency, adapted handshake). */
    preflight(line: string) {
      if (live) write('\r\x1b[2K');
      write(`${dim('preflight:')} ${redact(line)}\n`);
    },
    /** A case running longer than 10 s: a plain line, also when stdout is not a terminal (CI logs). */
    caseProgress(c: CaseDef, elapsedMs: number, waitingFor: string | undefined) {
      if (live) write('\r\x1b[2K');
      write(`${dim(`       … ${c.id} running for ${Math.round(elapsedMs / 1000)} s${waitingFor ? `, waiting for ${line1(waitingFor)}` : ''}`)}\n`);
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
      write(`\n${rulesLine(rep, paint)}`);
      const t = rep.totals;
      write(`\nCases: ${t.cases} — ${paint('pass', `${t.pass} pass`)}, ${paint('fail', `${t.fail} fail`)}, ${paint('warn', `${t.warn} warn`)}, ${paint('info', `${t.info} info`)}, ${paint('inconclusive', `${t.inconclusive} inconclusive`)}, ${paint('skip', `${t.skip} skip`)} in ${(rep.durationMs / 1000).toFixed(1)} s\n`);
      write(rep.failed ? paint('fail', `FAILED${rep.strict && !t.fail ? ' (--strict: warnings are fatal)' : ''}\n`) : paint('pass', 'PASSED\n'));
    },
  };
}
