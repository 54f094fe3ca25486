/** JUnit XML reporter: one testsuite per spec area, one testcase per case (warn fails only with --strict). */
import type { CaseResult, SuiteReport } from '../types.js';
import { redactDeep } from '../wire/redact.js';

export function xmlEscape(s: string): string {
  return s.replace(/[<>&"']/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', '"': '&quot;', "'": '&apos;' })[c]!).replace(/[\u0000-\u0008\u000b\u000c\u000e-\u001f]/g, '');
}

function testcase(c: CaseResult, strict: boolean): string {
  const name = xmlEscape(`${c.id} [${c.rules.join(', ')}] ${c.title}`);
  const head = `    <testcase classname="mooring.${xmlEscape(c.area)}" name="${name}" time="${(c.durationMs / 1000).toFixed(3)}"`;
  const out = [...c.findings.map((f) => `${f.grade.toUpperCase()} ${f.rule}: ${f.message}`), ...c.notes].join('\n');
  const sysout = out ? `\n      <system-out>${xmlEscape(out)}</system-out>` : '';
  if (c.outcome === 'fail' || (strict && c.outcome === 'warn')) {
    return `${head}>\n      <failure message="${xmlEscape(c.detail)}" type="${c.outcome}">${xmlEscape(out)}</failure>${sysout}\n    </testcase>`;
  }
  if (c.outcome === 'skip' || c.outcome === 'inconclusive') return `${head}>\n      <skipped message="${xmlEscape(`${c.outcome === 'inconclusive' ? 'inconclusive: ' : ''}${c.detail}`)}"/>\n    </testcase>`;
  return sysout ? `${head}>${sysout}\n    </testcase>` : `${head}/>`;
}

export function toJunit(original: SuiteReport): string {
  const report = redactDeep(original); // no token in a CI artifact (AUTH-6)
  const areas = new Map<string, CaseResult[]>();
  for (const c of report.cases) areas.set(c.area, [...(areas.get(c.area) ?? []), c]);
  const isFail = (c: CaseResult) => c.outcome === 'fail' || (report.strict && c.outcome === 'warn');
  const suites = [...areas].map(([area, list]) => {
    const time = list.reduce((s, c) => s + c.durationMs, 0) / 1000;
    return `  <testsuite name="${xmlEscape(area)}" tests="${list.length}" failures="${list.filter(isFail).length}" errors="0" skipped="${list.filter((c) => c.outcome === 'skip' || c.outcome === 'inconclusive').length}" time="${time.toFixed(3)}">\n${list.map((c) => testcase(c, report.strict)).join('\n')}\n  </testsuite>`;
  });
  const t = report.totals;
  return `<?xml version="1.0" encoding="UTF-8"?>\n<testsuites name="mooring test ${xmlEscape(report.target.url)}" tests="${t.cases}" failures="${report.cases.filter(isFail).length}" errors="0" skipped="${t.skip + t.inconclusive}" time="${(report.durationMs / 1000).toFixed(3)}">\n${suites.join('\n')}\n</testsuites>\n`;
}
