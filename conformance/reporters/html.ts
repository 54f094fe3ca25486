/** Self-contained HTML report: summary, rules, and per case what was sent and received. */
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import type { CaseResult, SuiteReport } from '../types.js';
import { redactDeep } from '../wire/redact.js';
import { packageRoot } from '../embedded.js';

export interface HtmlOptions {
  /**
   * Where rule IDs link to: the spec document, each rule at its stable anchor `#rule-<ID>`
   * (`npm run gen:spec`). @default the spec/mooring-v1.md shipped with this package (file URL)
   */
  specUrl?: string;
}

/** The spec this package ships, as a file URL. */
export function defaultSpecUrl(): string {
  return pathToFileURL(path.join(packageRoot(), 'spec', 'mooring-v1.md')).href;
}

const esc = (s: unknown) => String(s).replace(/[<>&"]/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', '"': '&quot;' })[c]!);

const CSS = `body{font:14px/1.45 system-ui,sans-serif;margin:2em;color:#222;max-width:1200px}
h1{font-size:1.5em}table{border-collapse:collapse;width:100%;margin:.5em 0}td,th{border:1px solid #ddd;padding:3px 6px;text-align:left;vertical-align:top}td:first-child{white-space:nowrap}
.o{font-weight:600;padding:1px 6px;border-radius:3px;color:#fff}.pass{background:#2a7d2a}.fail{background:#c0392b}.warn{background:#d68910}.info{background:#2e86c1}.inconclusive{background:#8e44ad}.skip{background:#888}.untested{background:#bbb}
details{border:1px solid #ddd;border-radius:4px;margin:.4em 0;padding:.3em .6em}summary{cursor:pointer}
.tr td{font:12px/1.3 ui-monospace,monospace;white-space:pre-wrap;word-break:break-all}.out{color:#1a5276}.in{color:#186a3b}.event{color:#7b241c}
.muted{color:#777}`;

/** A rule ID linked to its anchor in the spec. */
const ruleLink = (spec: string, id: string) => `<a class="rule" href="${esc(spec)}#rule-${esc(id)}">${esc(id)}</a>`;

function caseHtml(c: CaseResult, spec: string): string {
  const closes = c.closes.seen.length || c.closes.expected
    ? `<p><b>Close codes</b> expected: ${esc(c.closes.expected?.join(', ') ?? '—')}; seen: ${c.closes.seen.map((s) => `${esc(s.conn)} ${s.code}${s.reason ? ` "${esc(s.reason)}"` : ''}${s.frame ? '' : ' (no close frame)'}${s.byClient ? ' (closed by the suite)' : ''} at ${s.atMs} ms`).join('; ') || '—'}</p>`
    : '';
  const findings = c.findings.length ? `<ul>${c.findings.map((f) => `<li><span class="o ${f.grade}">${f.grade}</span> <b>${ruleLink(spec, f.rule)}</b> ${esc(f.message)}</li>`).join('')}</ul>` : '';
  const extra = c.notes.filter((n) => n !== c.detail);
  const notes = extra.length ? `<p class="muted">${extra.map(esc).join('<br>')}</p>` : '';
  const rows = c.transcript.map((t) => `<tr class="${t.dir}"><td>${t.t}</td><td>${esc(t.conn)}</td><td>${t.dir === 'out' ? '→' : t.dir === 'in' ? '←' : '·'} ${esc(t.kind)}</td><td>${esc(t.data ?? '')}</td></tr>`).join('');
  return `<details id="${esc(c.id)}"${c.outcome === 'fail' ? ' open' : ''}><summary><span class="o ${c.outcome}">${c.outcome}</span> <b>${esc(c.id)}</b> ${esc(c.title)} <span class="muted">[${c.rules.map((r) => ruleLink(spec, r)).join(', ')}] ${c.level} · ${c.durationMs} ms</span></summary>
<p>${esc(c.detail)}</p>${findings}${notes}${closes}
${rows ? `<details><summary>Transcript (${c.transcript.length} entries; ms since the case started)</summary><table class="tr"><tr><th>ms</th><th>conn</th><th>frame</th><th>data</th></tr>${rows}</table></details>` : ''}</details>`;
}

export function toHtml(report: SuiteReport, opts: HtmlOptions = {}): string {
  const spec = opts.specUrl ?? defaultSpecUrl();
  const r = redactDeep(report); // no token in a CI artifact (AUTH-6)
  const t = r.totals;
  const areas = [...new Set(r.cases.map((c) => c.area))];
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>mooring test — ${esc(r.target.url)}</title><style>${CSS}</style></head><body>
<h1>Mooring conformance: <span class="o ${r.failed ? 'fail' : 'pass'}">${r.failed ? 'FAILED' : 'PASSED'}</span></h1>
<p>Target <code>${esc(r.target.url)}</code> (${esc(r.target.mode)}${r.target.serverCmd ? `, server command <code>${esc(r.target.serverCmd)}</code>` : ''}) · ${esc(r.startedAt)} · ${(r.durationMs / 1000).toFixed(1)} s · ${esc(r.tool.name)} ${esc(r.tool.version)}${r.strict ? ' · strict' : ''}</p>
<p>${t.cases} cases: <span class="o pass">${t.pass} pass</span> <span class="o fail">${t.fail} fail</span> <span class="o warn">${t.warn} warn</span> <span class="o info">${t.info} info</span> <span class="o inconclusive">${t.inconclusive} inconclusive</span> <span class="o skip">${t.skip} skip</span></p>
<details><summary>Advertised session params</summary><pre>${esc(JSON.stringify(r.params, null, 2))}</pre></details>
<h2>Rules</h2><table><tr><th>rule</th><th>level</th><th>outcome</th><th>title</th><th>cases</th></tr>
${r.rules.map((x) => `<tr><td>${ruleLink(spec, x.id)}</td><td>${x.level}</td><td><span class="o ${x.outcome}">${x.outcome}</span></td><td>${esc(x.title)}</td><td>${x.cases.map((id) => `<a href="#${esc(id)}">${esc(id)}</a>`).join(' ')}</td></tr>`).join('\n')}</table>
<h2>Cases</h2>${areas.map((a) => `<h3>${esc(a)}</h3>${r.cases.filter((c) => c.area === a).map((c) => caseHtml(c, spec)).join('\n')}`).join('\n')}
</body></html>
`;
}
