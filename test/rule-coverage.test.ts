/**
 * Spec first: every active rule of the registry is proven somewhere, by the kind of check its
 * `checkedBy` names. A rule nobody tests fails here, so a new rule cannot land without its test.
 *  - `server-suite`: a conformance case cites it (the suite is what users run against their servers).
 *  - `client-tests`: a test of the reference client has a title starting with the rule ID.
 *  - `reference-tests`: a test of the reference server has a title starting with the rule ID.
 */
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import registry from '../spec/rules.json' with { type: 'json' };
import { allCases } from '../conformance/index.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));

function filesUnder(dir: string, accept: (name: string) => boolean): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const name of readdirSync(d)) {
      const p = join(d, name);
      if (statSync(p).isDirectory()) walk(p);
      else if (accept(name)) out.push(p);
    }
  };
  walk(join(ROOT, dir));
  return out;
}

/** Rule IDs at the start of test titles: it('AUTH-2: ...'), it("RECON-1, RECON-4: ..."), test(`SUB-8 ...`). */
function idsInTestTitles(dirs: string[]): Map<string, string[]> {
  const found = new Map<string, string[]>();
  const title = /\b(?:it|test)(?:\.each\([^)]*\))?\(\s*['"`]((?:[A-Z]+-\d+[,/ ]*(?:and )?)+)/g;
  for (const dir of dirs) {
    for (const file of filesUnder(dir, (n) => n.endsWith('.test.ts'))) {
      const text = readFileSync(file, 'utf8');
      for (const m of text.matchAll(title)) {
        for (const id of m[1]!.match(/[A-Z]+-\d+/g) ?? []) {
          found.set(id, [...(found.get(id) ?? []), relative(ROOT, file)]);
        }
      }
    }
  }
  return found;
}

const active = registry.rules.filter((r) => r.status === 'active');
const citedByCases = new Set(allCases().flatMap((c) => c.rules));
const clientTests = idsInTestTitles(['reference/client', 'reference/core/client']);
const referenceTests = idsInTestTitles(['reference/server', 'reference/core/server']);

describe('every active rule is proven', () => {
  it.each(active.filter((r) => r.checkedBy === 'server-suite').map((r) => [r.id, r.level]))(
    '%s (%s) is cited by a conformance case',
    (id) => expect(citedByCases.has(id), `no conformance case cites ${id}`).toBe(true),
  );
  it.each(active.filter((r) => r.checkedBy === 'client-tests').map((r) => [r.id, r.level]))(
    '%s (%s) has a client test named after it',
    (id) => expect(clientTests.has(id), `no client test title starts with ${id}`).toBe(true),
  );
  it.each(active.filter((r) => r.checkedBy === 'reference-tests').map((r) => [r.id, r.level]))(
    '%s (%s) has a reference-server test named after it',
    (id) => expect(referenceTests.has(id), `no reference test title starts with ${id}`).toBe(true),
  );
  it('conformance cases cite only rules of the registry', () => {
    const known = new Set(registry.rules.map((r) => r.id));
    expect([...citedByCases].filter((id) => !known.has(id))).toEqual([]);
  });
});
