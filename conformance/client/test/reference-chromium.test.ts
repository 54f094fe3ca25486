/**
 * The client harness grades the reference client's browser bundle in real headless Chromium (Debian
 * `chromium`, driven by playwright-core) through the same driver contract: every case passes.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildBrowserBundle } from '../../../scripts/build-browser.js';
import { startSharedChromium } from '../drivers/chromium.js';
import { driverCommand, runClientSuite } from '../index.js';

let dir: string;
let bundle: string;
let shared: { endpoint: string; close(): Promise<void> } | undefined;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'mooring-client-harness-'));
  bundle = await buildBrowserBundle(join(dir, 'mooring-client.js'));
  shared = await startSharedChromium();
}, 60_000);

afterAll(async () => {
  await shared?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('mooring test-client --browser', () => {
  it('HB-6, RECON-1, ROBUST-1: grades the browser bundle in headless Chromium green in every case', async () => {
    const prev = process.env.MOORING_CHROMIUM_ENDPOINT;
    process.env.MOORING_CHROMIUM_ENDPOINT = shared!.endpoint;
    try {
      const report = await runClientSuite({ cmd: driverCommand('chromium', `--bundle '${bundle}'`), label: 'browser bundle in headless Chromium' });
      // A page cannot see WebSocket ping frames (HB-4's control-frame clause): only observed, as info.
      const bad = report.cases.filter((c) => c.outcome !== 'pass' && !(c.id === 'hb.any-traffic' && c.outcome === 'info')).map((c) => `${c.id}: ${c.outcome} ${c.detail}`);
      expect(bad).toEqual([]);
      // The visibility path, not only the liveness command, was exercised (HB-6).
      expect(report.cases.find((c) => c.id === 'hb.liveness-check')?.notes.join(' ')).toContain('visibilitychange');
    } finally {
      if (prev === undefined) delete process.env.MOORING_CHROMIUM_ENDPOINT;
      else process.env.MOORING_CHROMIUM_ENDPOINT = prev;
    }
  }, 240_000);
});
