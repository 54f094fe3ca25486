/** The browser bundle: one ESM file, no Node modules, the client API exported. */
import { describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildBrowserBundle } from '../../../scripts/build-browser.js';

describe('browser bundle', () => {
  it('VER-1: bundles the browser entry to one ESM file without ws, ajv or node: imports', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mooring-bundle-'));
    try {
      const out = await buildBrowserBundle(join(dir, 'mooring-client.js'));
      const code = readFileSync(out, 'utf8');
      expect(code).toMatch(/export\s*\{[^}]*MooringClient/);
      expect(code).not.toMatch(/\bimport\s*(?:[^'"]*from\s*)?["'][^"'.][^"']*["']/); // no bare imports left
      expect(code).not.toMatch(/require\(|node:|from ["']ws["']|new Ajv/);
      expect(code).toContain('mooring.v1');
      // Loads as a module in Node too (no DOM needed at import time).
      const mod = (await import(out)) as { MooringClient: unknown; backoffDelay: (n: number, r: () => number) => number };
      expect(typeof mod.MooringClient).toBe('function');
      expect(mod.backoffDelay(0, () => 0)).toBe(500);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
