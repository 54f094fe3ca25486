/**
 * The browser bundle in real headless Chromium (Debian `chromium`, driven by playwright-core): the
 * example page, served by the reference server, connects, receives a push, survives a server restart
 * on the same port and receives the next push.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { buildBrowserBundle } from '../../../scripts/build-browser.js';
import { browserExampleFiles } from '../static-files.js';
import { restart, start, useCleanup } from './helpers.js';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

useCleanup();

let dir: string;
let bundle: string;
let context: BrowserContext | undefined;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'mooring-chromium-'));
  bundle = await buildBrowserBundle(join(dir, 'bundle', 'mooring-client.js'));
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: run scripts/setup.sh (installs Debian chromium)`);
  context = await chromium.launchPersistentContext(join(dir, 'profile'), {
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync',
    ],
  });
}, 60_000);

afterAll(async () => {
  await context?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

interface DemoWindow {
  mooringDemo?: {
    client: { state: string; diagnostics(): { subscriptions: { status: string }[] } } | null;
    pushes: { data: unknown; meta: { replay: boolean; position: { offset: number } } }[];
    gaps: unknown[];
    states: { type: string; code?: number; willRetry?: boolean }[];
  };
}

const sessions = (page: Page, n: number) =>
  page.waitForFunction(
    (n) => {
      const d = (window as DemoWindow).mooringDemo;
      const c = d?.client;
      return !!c && c.state === 'authenticated'
        && d!.states.filter((s) => s.type === 'authenticated').length >= n
        && c.diagnostics().subscriptions.every((s) => s.status === 'active');
    },
    n,
    { timeout: 15_000 },
  );

const pushes = (page: Page, n: number) =>
  page.waitForFunction((n) => ((window as DemoWindow).mooringDemo?.pushes.length ?? 0) >= n, n, { timeout: 15_000 });

describe('browser client in headless Chromium', () => {
  it('HB-3, SUB-10, RECON-4: the page loads the bundle, connects, gets a push, survives a server restart and gets the next push', async () => {
    const files = { ...browserExampleFiles(), '/mooring-client.js': bundle, '/mooring-client.js.map': `${bundle}.map` };
    let server = await start({ staticFiles: files });
    const token = await server.createToken('alice');
    const page = await context!.newPage();
    const pageErrors: string[] = [];
    page.on('pageerror', (e) => pageErrors.push(e.message));

    await page.goto(`${server.httpUrl}/#token=${encodeURIComponent(token)}&channel=news`);
    await sessions(page, 1);
    expect(await page.textContent('#state')).toBe('authenticated');

    await server.publish('news', { n: 1 });
    await pushes(page, 1);

    server = await restart(server, true, { staticFiles: files });
    await sessions(page, 2);
    await server.publish('news', { n: 2 });
    await pushes(page, 2);

    const demo = await page.evaluate(() => {
      const d = (window as DemoWindow).mooringDemo!;
      return { pushes: d.pushes, gaps: d.gaps, states: d.states.map((s) => s.type), closed: d.states.find((s) => s.type === 'closed') };
    });
    expect(demo.pushes.map((p) => p.data)).toEqual([{ n: 1 }, { n: 2 }]);
    expect(demo.pushes.map((p) => p.meta.position.offset)).toEqual([1, 2]);
    expect(demo.gaps).toEqual([]);
    expect(demo.closed).toMatchObject({ code: 1012, willRetry: true });
    expect(demo.states.filter((s) => s === 'authenticated')).toHaveLength(2);
    expect(await page.textContent('#state')).toBe('authenticated');
    expect(pageErrors).toEqual([]);
    await page.close();
  }, 60_000);

  it('HB-6: when the hidden page becomes visible again the client pings at once', async () => {
    const files = { ...browserExampleFiles(), '/mooring-client.js': bundle };
    const server = await start({ staticFiles: files, heartbeatIntervalMs: 60_000 });
    const token = await server.createToken('bob');
    const page = await context!.newPage();
    await page.goto(`${server.httpUrl}/#token=${encodeURIComponent(token)}&channel=news`);
    await sessions(page, 1);
    const pings = () => page.evaluate(() => {
      const c = (window as DemoWindow).mooringDemo!.client as unknown as { diagnostics(): { log: { kind: string; detail: string }[] } };
      return c.diagnostics().log.filter((e) => e.kind === 'ping').map((e) => e.detail);
    });
    expect(await pings()).toEqual([]);
    await page.evaluate(() => {
      // Headless pages are always visible: simulate the hidden → visible transition of a real tab.
      Object.defineProperty(document, 'visibilityState', { configurable: true, get: () => 'visible' });
      document.dispatchEvent(new Event('visibilitychange'));
    });
    expect(await pings()).toEqual(['liveness check']);
    await page.waitForFunction(() => {
      const c = (window as DemoWindow).mooringDemo!.client as unknown as { diagnostics(): { lastPongAt?: number } };
      return c.diagnostics().lastPongAt !== undefined;
    }, undefined, { timeout: 5_000 });
    await page.close();
  }, 30_000);
});
