/**
 * The debug page (`/debug`, reference/client/debug.html) in real headless Chromium, served by the
 * reference server the way `mooring serve` serves it: state, URL, reconnects, subscriptions with
 * positions, pending requests, HTTP heartbeat, server version, the live log with filters, and the
 * force-reconnect, ping and copy-diagnostics buttons.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { buildBrowserBundle } from '../../../scripts/build-browser.js';
import { browserExampleFiles } from '../static-files.js';
import { start, useCleanup } from './helpers.js';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
useCleanup();

let dir: string;
let bundle: string;
let context: BrowserContext | undefined;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'mooring-debug-'));
  bundle = await buildBrowserBundle(join(dir, 'bundle', 'mooring-client.js'));
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: run scripts/setup.sh (installs Debian chromium)`);
  context = await chromium.launchPersistentContext(join(dir, 'profile'), {
    executablePath: CHROMIUM,
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
}, 60_000);

afterAll(async () => {
  await context?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const field = (page: Page, name: string) => page.textContent(`td[data-field="${name}"]`);
const until = (page: Page, fn: string, timeout = 10_000) => page.waitForFunction(fn, undefined, { timeout });

describe('the debug page in headless Chromium', () => {
  it('HB-6, HTTP-4, SUB-10: shows state, URL, server version, subscriptions with positions, pending requests, HTTP heartbeat and a filtered live log; its buttons work', async () => {
    const server = await start({ staticFiles: { ...browserExampleFiles(), '/mooring-client.js': bundle }, heartbeatIntervalMs: 5_000 });
    const token = await server.createToken('alice');
    const page = await context!.newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(`${server.httpUrl}/debug#token=${encodeURIComponent(token)}&channels=news&downAlertMs=800`);
    await until(page, `document.querySelector('#state').textContent === 'authenticated'`);
    expect(await field(page, 'url')).toBe(server.url);
    expect(await field(page, 'server')).toMatch(/mooring-reference \d+\.\d+\.\d+/);
    expect(await field(page, 'user / session')).toMatch(/^alice \//);
    await until(page, `document.querySelector('#subs tbody').textContent.includes('active')`);

    // A push moves the position shown for the channel.
    const pos = await server.publish('news', { n: 1 });
    await until(page, `document.querySelector('#subs tbody').textContent.includes(':${pos.offset}')`);

    // A pending request shows up while it runs.
    await page.evaluate(() => void (window as unknown as { mooringDebug: { client: { request(a: string, p: unknown): Promise<unknown> } } }).mooringDebug.client.request('sleep', { ms: 1_500 }).catch(() => {}));
    await until(page, `document.querySelector('#pending tbody').textContent.includes('sleep')`);

    // HTTP heartbeat status (HTTP-4): the page turns it on.
    await until(page, `(document.querySelector('td[data-field="HTTP heartbeat"]')?.textContent ?? '').startsWith('ok 204')`);

    // Ping (HB-6: a liveness check) appears in the live log; the kind filter hides it, the text filter finds it.
    await page.click('#ping');
    await until(page, `[...document.querySelectorAll('#log div')].some((d) => d.dataset.kind === 'ping' && d.textContent.includes('liveness check'))`);
    await page.click('input[data-kind="ping"]');
    await until(page, `![...document.querySelectorAll('#log div')].some((d) => d.dataset.kind === 'ping')`);
    await page.click('input[data-kind="ping"]');
    await page.fill('input[name=filter]', 'liveness');
    await until(page, `[...document.querySelectorAll('#log div')].length > 0 && [...document.querySelectorAll('#log div')].every((d) => d.textContent.includes('liveness'))`);
    await page.fill('input[name=filter]', '');

    // Force reconnect: a new session, the reconnect count goes up.
    await page.click('#reconnect');
    await until(page, `document.querySelector('td[data-field="reconnects"]').textContent === '1' && document.querySelector('#state').textContent === 'authenticated'`);

    // Copy diagnostics as JSON.
    await page.click('#copy');
    await until(page, `!!window.mooringDebug.copied`);
    const copied = JSON.parse(await page.evaluate(() => (window as unknown as { mooringDebug: { copied: string } }).mooringDebug.copied)) as { state: string; reconnects: number; subscriptions: { channel: string }[]; log: unknown[] };
    expect(copied).toMatchObject({ state: 'authenticated', reconnects: 1, subscriptions: [{ channel: 'news' }] });
    expect(JSON.stringify(copied)).not.toContain(token);

    // The down banner: shown once the client has had no session for longer than downAlertMs.
    await server.shutdown();
    await until(page, `getComputedStyle(document.querySelector('#down')).display === 'block'`);
    expect(await page.textContent('#state')).toMatch(/connecting|reconnecting/);
    await page.click('#close');
    await until(page, `document.querySelector('#state').textContent === 'closed'`);
    expect(errors).toEqual([]);
  }, 60_000);
});
