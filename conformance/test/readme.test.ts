/** conformance/README.md cannot drift: its case table is generated from the case list. */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { README_PATH, regenerateReadme, renderCaseTable } from '../../scripts/gen-cases.js';
import { allCases } from '../cases/index.js';
import { buildReport } from '../runner.js';
import { toHtml, defaultSpecUrl } from '../reporters/html.js';
import { SPEC_PATH } from '../../scripts/gen-spec.js';

const doc = readFileSync(README_PATH, 'utf8');

describe('conformance/README.md case table', () => {
  it('is current (run `npm run gen:cases` if this fails)', () => {
    expect(regenerateReadme(doc)).toBe(doc);
  });

  it('lists every case once, with its rules linked to their spec anchors', () => {
    for (const c of allCases()) {
      expect(doc.split(`| \`${c.id}\` |`), c.id).toHaveLength(2);
      for (const r of c.rules) expect(doc, `${c.id} ${r}`).toContain(`[${r}](../spec/mooring-v1.md#rule-${r})`);
    }
  });

  it('replaces a stale table, and refuses a README whose markers were deleted', () => {
    const fewer = regenerateReadme(doc, allCases().slice(0, 3));
    expect(fewer).not.toBe(doc);
    expect(regenerateReadme(fewer)).toBe(doc);
    expect(renderCaseTable(allCases().slice(0, 1)).split('\n')).toHaveLength(3);
    expect(() => regenerateReadme(doc.replace('<!-- BEGIN GENERATED case-table -->', ''))).toThrow(/markers/);
  });
});

describe('HTML report', () => {
  it('links every rule ID to its anchor in the spec, and every anchor exists', () => {
    const spec = readFileSync(SPEC_PATH, 'utf8');
    const report = buildReport({ url: 'ws://127.0.0.1:1/ws', tokens: [] }, null, new Date(), []);
    const html = toHtml(report, { specUrl: 'https://example.org/spec.md' });
    for (const r of report.rules) {
      expect(html, r.id).toContain(`<a class="rule" href="https://example.org/spec.md#rule-${r.id}">${r.id}</a>`);
      expect(spec, r.id).toContain(`<a id="rule-${r.id}"></a>`);
    }
    expect(defaultSpecUrl()).toMatch(/^file:\/\/.*\/spec\/mooring-v1\.md$/);
    expect(toHtml(report)).toContain(`href="${defaultSpecUrl()}#rule-AUTH-2"`);
  });
});
