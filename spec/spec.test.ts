/**
 * The spec document, the rule registry and the generated tables agree.
 *
 * - every registry rule appears exactly once in spec/mooring-v1.md as `- **ID** (LEVEL): sentence`,
 *   with the registry's level, under the heading of the registry's section;
 * - every rule-looking ID the document mentions exists in the registry;
 * - the registry is well-formed;
 * - the generated tables are current (`npm run gen:spec` would change nothing).
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { validateClientMessage, validateServerMessage } from '../schemas/v1/validate.js';
import { SPEC_PATH, RULES_PATH, regenerateSpec, loadSources, anchor, anchorRules, ruleAnchor, GENERATED_BLOCKS, type Rule, type RuleRegistry } from '../scripts/gen-spec.js';

const doc = readFileSync(SPEC_PATH, 'utf8');
const registry = JSON.parse(readFileSync(RULES_PATH, 'utf8')) as RuleRegistry;
const rules = registry.rules;
const byId = new Map(rules.map((r) => [r.id, r]));
const active = rules.filter((r) => r.status === 'active');

const LEVELS = ['MUST', 'SHOULD', 'MAY'] as const;
const PARTIES = ['server', 'client', 'both'] as const;
const CHECKED_BY = ['server-suite', 'client-tests', 'reference-tests', 'none'] as const;
const ID_FORMAT = /^[A-Z]+-[1-9]\d*$/;
/** The one rule format of the document. */
const RULE_LINE = /^- (?:<a id="rule-[A-Z]+-\d+"><\/a>)?\*\*([A-Z]+-\d+)\*\* \(([A-Z]+)\): (.+)$/;
/** Tokens that look like rule IDs but are not. */
const NOT_RULE_IDS = new Set(['UTF-8', 'SHA-256', 'ISO-8601']);
const KEYWORDS = /\b(MUST|SHALL|SHOULD|MAY|REQUIRED|RECOMMENDED|OPTIONAL)\b/;

interface Line { n: number; text: string; section: string; inCode: boolean; generated: boolean }

/** The document's lines with the `## ` section each belongs to and whether it is inside a code fence. */
function lines(): Line[] {
  let section = '';
  let inCode = false;
  let generated = false;
  return doc.split('\n').map((text, i) => {
    if (text.startsWith('<!-- BEGIN GENERATED ')) generated = true;
    if (text.startsWith('<!-- END GENERATED ')) generated = false;
    if (text.startsWith('```')) {
      inCode = !inCode;
      return { n: i + 1, text, section, inCode: true, generated };
    }
    if (!inCode && text.startsWith('## ')) section = text.slice(3).trim();
    return { n: i + 1, text, section, inCode, generated };
  });
}
const docLines = lines();
const ruleLines = docLines
  .filter((l) => !l.inCode)
  .map((l) => ({ ...l, m: RULE_LINE.exec(l.text) }))
  .filter((l): l is Line & { m: RegExpExecArray } => l.m !== null);
const headings = new Set(docLines.filter((l) => !l.inCode && /^#{2,3} /.test(l.text)).map((l) => l.text.replace(/^#+ /, '').trim()));

describe('rule registry (spec/rules.json)', () => {
  it('has a version and at least one rule', () => {
    expect(registry.version).toMatch(/^\d+\.\d+$/);
    expect(rules.length).toBeGreaterThan(0);
  });

  it('has unique IDs', () => {
    const seen = new Set<string>();
    const dupes = rules.map((r) => r.id).filter((id) => (seen.has(id) ? true : (seen.add(id), false)));
    expect(dupes).toEqual([]);
  });

  it.each(rules.map((r) => [r.id, r] as const))('%s is well-formed', (_id, r: Rule) => {
    expect(r.id).toMatch(ID_FORMAT);
    expect(LEVELS).toContain(r.level);
    expect(PARTIES).toContain(r.party);
    expect(CHECKED_BY).toContain(r.checkedBy);
    expect(['active', 'retired']).toContain(r.status);
    expect(r.section.length).toBeGreaterThan(0);
    expect(r.title).toMatch(/^\S.*\.$/);
    expect(Object.keys(r).filter((k) => k !== 'clauses').sort()).toEqual(['checkedBy', 'id', 'level', 'party', 'section', 'status', 'title']);
  });

  it('numbers each area 1..n without gaps (IDs are never removed, only retired)', () => {
    const areas = new Map<string, number[]>();
    for (const r of rules) {
      const [area, n] = r.id.split('-') as [string, string];
      areas.set(area, [...(areas.get(area) ?? []), Number(n)]);
    }
    for (const [area, ns] of areas) {
      const sorted = [...ns].sort((a, b) => a - b);
      expect(sorted, area).toEqual(sorted.map((_, i) => i + 1));
    }
  });

  it('keeps the rules of one area in one section', () => {
    const sectionOf = new Map<string, string>();
    for (const r of rules) {
      const area = r.id.split('-')[0]!;
      expect(sectionOf.get(area) ?? r.section, r.id).toBe(r.section);
      sectionOf.set(area, r.section);
    }
  });

  it('names only sections that exist as headings of the document', () => {
    const missing = [...new Set(rules.map((r) => r.section))].filter((s) => !headings.has(s));
    expect(missing).toEqual([]);
  });
});

describe('spec document (spec/mooring-v1.md)', () => {
  it.each(active.map((r) => [r.id, r] as const))('%s appears exactly once, in the rule format, with its level and section', (id, r: Rule) => {
    const found = ruleLines.filter((l) => l.m[1] === id);
    expect(found.map((l) => l.n), `${id} rule lines`).toHaveLength(1);
    const line = found[0]!;
    expect(line.m[2], `${id} level`).toBe(r.level);
    expect(line.section, `${id} section`).toBe(r.section);
    // The sentence states its level with the RFC 2119 key word itself, and no stronger one.
    expect(line.m[3], `${id} sentence`).toContain(r.level);
    const stronger = LEVELS.slice(0, LEVELS.indexOf(r.level));
    for (const k of stronger) expect(line.m[3], `${id} sentence uses ${k}`).not.toMatch(new RegExp(`\\b${k}\\b`));
  });

  it('has no rule line for an ID that is not an active registry rule', () => {
    const unknown = ruleLines.filter((l) => byId.get(l.m[1]!)?.status !== 'active').map((l) => `${l.n}: ${l.m[1]}`);
    expect(unknown).toEqual([]);
  });

  it('uses one rule format: every line that starts like a rule matches it exactly', () => {
    const loose = docLines
      .filter((l) => !l.inCode && /^\s*[-*]\s+\**[A-Z]+-\d+\**\s*[(:]/.test(l.text) && !RULE_LINE.test(l.text))
      .map((l) => `${l.n}: ${l.text}`);
    expect(loose).toEqual([]);
    for (const l of ruleLines) expect(LEVELS, `line ${l.n}`).toContain(l.m[2]);
  });

  it('mentions only rule IDs that exist in the registry', () => {
    const mentioned = [...doc.matchAll(/\b[A-Z][A-Z0-9]*-\d+\b/g)].map((m) => m[0]).filter((t) => !NOT_RULE_IDS.has(t));
    const unknown = [...new Set(mentioned)].filter((id) => !byId.has(id));
    expect(unknown).toEqual([]);
  });

  it('mentions rule ranges (AUTH-1..5) only within existing IDs', () => {
    for (const m of doc.matchAll(/\b([A-Z]+)-(\d+)\.\.(\d+)\b/g)) {
      const [, area, from, to] = m;
      for (let n = Number(from); n <= Number(to); n++) expect(byId.has(`${area}-${n}`), `${m[0]} includes ${area}-${n}`).toBe(true);
    }
  });

  it('uses RFC 2119 key words in capitals only in rule lines (outside Conventions and generated tables)', () => {
    const stray = docLines
      .filter((l) => !l.inCode && !l.generated && l.section !== 'Conventions' && KEYWORDS.test(l.text) && !RULE_LINE.test(l.text))
      .map((l) => `${l.n}: ${l.text}`);
    expect(stray).toEqual([]);
  });

  it('links only to headings that exist', () => {
    const anchors = new Set([...headings].map(anchor));
    const broken = [...doc.matchAll(/\]\(#([^)]+)\)/g)].map((m) => m[1]!).filter((a) => !anchors.has(a));
    expect(broken).toEqual([]);
  });

  it.each(GENERATED_BLOCKS.map((b) => [b]))('contains the generated block %s once', (name) => {
    expect(doc.split(`<!-- BEGIN GENERATED ${name} -->`)).toHaveLength(2);
    expect(doc.split(`<!-- END GENERATED ${name} -->`)).toHaveLength(2);
  });

  it('has current generated tables (run `npm run gen:spec` if this fails)', () => {
    expect(regenerateSpec(doc, loadSources())).toBe(doc);
  });
});

describe('gen-spec', () => {
  it('is idempotent and only touches the generated blocks', () => {
    const once = regenerateSpec(doc);
    expect(regenerateSpec(once)).toBe(once);
    const strip = (s: string) => s.replace(/<!-- BEGIN GENERATED ([a-z-]+) -->[\s\S]*?<!-- END GENERATED \1 -->/g, '<$1>');
    expect(strip(once)).toBe(strip(doc));
  });

  it('replaces a stale table', () => {
    const stale = doc.replace('| `4509` |', '| `4599` |');
    expect(stale).not.toBe(doc);
    expect(regenerateSpec(stale)).toBe(doc);
  });

  it('refuses a document whose generated block was deleted', () => {
    const broken = doc.replace('<!-- BEGIN GENERATED close-codes -->', '');
    expect(() => regenerateSpec(broken)).toThrow(/close-codes/);
  });

  it('gives every rule line a stable anchor <a id="rule-ID"></a>, once (run `npm run gen:spec` if this fails)', () => {
    for (const r of rules) {
      const tag = `<a id="${ruleAnchor(r.id)}"></a>`;
      expect(doc.split(tag), r.id).toHaveLength(2);
      expect(ruleLines.find((l) => l.m[1] === r.id)?.text.startsWith(`- ${tag}**${r.id}** (`), r.id).toBe(true);
    }
    const bare = doc.replace('- <a id="rule-HB-1"></a>**HB-1** (', '- **HB-1** (');
    expect(bare).not.toBe(doc);
    expect(anchorRules(bare)).toBe(doc);
    expect(anchorRules(doc.replace('<a id="rule-HB-1"></a>', '<a id="rule-HB-9"></a>'))).toBe(doc);
  });

  it('lists every registry rule in the rule index', () => {
    const index = doc.slice(doc.indexOf('<!-- BEGIN GENERATED rule-index -->'), doc.indexOf('<!-- END GENERATED rule-index -->'));
    for (const r of rules) expect(index, r.id).toContain(`| **${r.id}** |`);
  });
});

describe('examples in the document', () => {
  /** JSON examples of the message catalogue, with the direction of the heading they sit under. */
  function catalogueExamples(): { direction: 'client' | 'server'; heading: string; value: unknown }[] {
    const out: { direction: 'client' | 'server'; heading: string; value: unknown }[] = [];
    const text = doc.slice(doc.indexOf('## Message catalogue'), doc.indexOf('## Session parameters'));
    let direction: 'client' | 'server' | null = null;
    let heading = '';
    let block: string[] | null = null;
    for (const line of text.split('\n')) {
      if (line.startsWith('### Client → server')) direction = 'client';
      if (line.startsWith('### Server → client')) direction = 'server';
      if (line.startsWith('#### ')) heading = line.slice(5);
      if (line === '```json') block = [];
      else if (line === '```' && block) {
        const body = block.join('\n');
        let values: unknown[];
        try {
          values = [JSON.parse(body)];
        } catch {
          values = block.filter((l) => l.trim()).map((l) => JSON.parse(l) as unknown);
        }
        for (const value of values) out.push({ direction: direction!, heading, value });
        block = null;
      } else if (block) block.push(line);
    }
    return out;
  }
  const examples = catalogueExamples();

  it('has an example for every message type', () => {
    const types = new Set(examples.map((e) => (e.value as { type: string }).type));
    for (const t of ['auth', 'request', 'subscribe', 'unsubscribe', 'ping', 'authenticated', 'response', 'subscribed', 'unsubscribed', 'push', 'pong', 'token_expiring', 'error']) {
      expect(types, t).toContain(t);
    }
  });

  it.each(examples.map((e) => [e.heading, e.direction, e]))('catalogue example %s (%s) is valid', (_h, direction, e) => {
    const r = direction === 'client' ? validateClientMessage(e.value) : validateServerMessage(e.value);
    expect(r, JSON.stringify(e.value)).toMatchObject({ ok: true });
  });

  it('every complete message of the example flows is valid', () => {
    let checked = 0;
    for (const line of doc.slice(doc.indexOf('## Example flows')).split('\n')) {
      const m = /^(C→S|S→C) (\{.*\})$/.exec(line);
      if (!m) continue;
      let value: unknown;
      try {
        value = JSON.parse(m[2]!);
      } catch {
        continue; // abbreviated with "..."
      }
      const r = m[1] === 'C→S' ? validateClientMessage(value) : validateServerMessage(value);
      expect(r, line).toMatchObject({ ok: true });
      checked++;
    }
    expect(checked).toBeGreaterThan(15);
  });
});
