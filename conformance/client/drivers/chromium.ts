/**
 * The client driver of the reference client's browser bundle (spec/client-driver.md): the same JSON
 * lines as the Node driver, but the client runs in a page of headless Chromium (Debian
 * `/usr/bin/chromium` or CHROMIUM_PATH, driven by playwright-core), loaded from
 * `dist/browser/mooring-client.js` (or `--bundle FILE`). The page runs `driver-core` on the bundle's
 * `MooringClient`; this process only bridges stdin/stdout to it. `visibility` fakes the page's
 * visibility state and fires `visibilitychange`, which the client watches (HB-6).
 *
 *   node dist/conformance/client/drivers/chromium.js [--bundle FILE]
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { packageRoot } from '../../../reference/client/static-files.js';
import { VERSION } from '../../version.js';
import type { DriverCommand, DriverEvent } from '../contract.js';

const here = dirname(fileURLToPath(import.meta.url));

/** driver-core as browser JS: the compiled file next to this one, or the TS source transformed. */
async function driverCoreJs(): Promise<string> {
  const js = join(here, 'driver-core.js');
  if (existsSync(js)) return readFileSync(js, 'utf8');
  const { transform } = await import('esbuild');
  const out = await transform(readFileSync(join(here, 'driver-core.ts'), 'utf8'), { loader: 'ts', format: 'esm', target: 'es2020' });
  return out.code;
}

const PAGE = `<!doctype html><meta charset="utf-8"><title>mooring client driver</title>
<script type="module">
import { MooringClient } from '/mooring-client.js';
import { createDriver } from '/driver-core.js';
let visibility = 'visible';
Object.defineProperty(document, 'visibilityState', { configurable: true, get: () => visibility });
Object.defineProperty(document, 'hidden', { configurable: true, get: () => visibility === 'hidden' });
const driver = createDriver(MooringClient, (e) => window.__emit(JSON.stringify(e)));
window.__handle = async (cmd) => {
  try {
    if (cmd.cmd === 'visibility') {
      visibility = cmd.state;
      document.dispatchEvent(new Event('visibilitychange'));
    } else await driver.handle(cmd);
    return null;
  } catch (e) { return String(e && e.message || e); }
};
window.__ready = true;
</script>`;

const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

function chromiumPath(): string {
  const p = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
  if (!existsSync(p)) throw new Error(`${p} is missing: run scripts/setup.sh (installs Debian chromium) or set CHROMIUM_PATH`);
  return p;
}

/**
 * Starts one headless Chromium for a whole run and returns the endpoint the drivers connect to (put
 * it in MOORING_CHROMIUM_ENDPOINT before the run). Listens on 127.0.0.1 only.
 */
export async function startSharedChromium(): Promise<{ endpoint: string; close(): Promise<void> }> {
  const { chromium } = await import('playwright-core');
  const server = await chromium.launchServer({ executablePath: chromiumPath(), headless: true, args: CHROMIUM_ARGS, host: '127.0.0.1' });
  return { endpoint: server.wsEndpoint(), close: () => server.close() };
}

export async function runChromiumDriver(argv: string[]): Promise<void> {
  const emit = (e: DriverEvent) => process.stdout.write(`${JSON.stringify(e)}\n`);
  const bi = argv.indexOf('--bundle');
  const bundle = bi >= 0 ? argv[bi + 1]! : join(packageRoot(), 'dist/browser/mooring-client.js');
  if (!existsSync(bundle)) throw new Error(`browser bundle ${bundle} is missing: run npm run build (or pass --bundle FILE)`);
  const files: Record<string, [string, string]> = {
    '/': ['text/html', PAGE],
    '/mooring-client.js': ['text/javascript', readFileSync(bundle, 'utf8')],
    '/driver-core.js': ['text/javascript', await driverCoreJs()],
  };
  const http = createServer((req, res) => {
    const f = files[(req.url ?? '/').split('?')[0]!];
    if (!f) return void res.writeHead(404).end();
    res.writeHead(200, { 'content-type': f[0], 'cache-control': 'no-store' }).end(f[1]);
  });
  await new Promise<void>((r) => http.listen(0, '127.0.0.1', r));
  const port = (http.address() as { port: number }).port;

  const { chromium } = await import('playwright-core');
  // A browser shared by every driver of a run (MOORING_CHROMIUM_ENDPOINT, see startSharedChromium)
  // saves a browser start per case; each driver still gets its own fresh context.
  const endpoint = process.env.MOORING_CHROMIUM_ENDPOINT;
  const profile = endpoint ? undefined : mkdtempSync(join(tmpdir(), 'mooring-driver-'));
  const shared = endpoint ? await chromium.connect(endpoint) : undefined;
  const context = shared ? await shared.newContext() : await chromium.launchPersistentContext(profile!, { executablePath: chromiumPath(), headless: true, args: CHROMIUM_ARGS });
  let closing: Promise<void> | undefined;
  const shutdown = (code: number) =>
    (closing ??= (async () => {
      await context.close().catch(() => {});
      await shared?.close().catch(() => {});
      http.close();
      if (profile) rmSync(profile, { recursive: true, force: true });
      process.exit(code);
    })());
  process.on('SIGTERM', () => void shutdown(0));
  const page = context.pages()[0] ?? (await context.newPage());
  await page.exposeFunction('__emit', (line: string) => process.stdout.write(`${line}\n`));
  page.on('pageerror', (e) => emit({ event: 'log', message: `page error: ${e.message}` }));
  await page.goto(`http://127.0.0.1:${port}/`);
  await page.waitForFunction(() => (window as unknown as { __ready?: boolean }).__ready === true, undefined, { timeout: 15_000 });

  let queue = Promise.resolve();
  const rl = createInterface({ input: process.stdin });
  rl.on('line', (line) => {
    if (!line.trim()) return;
    let cmd: DriverCommand;
    try {
      cmd = JSON.parse(line) as DriverCommand;
    } catch {
      emit({ event: 'log', message: `not JSON: ${line.slice(0, 80)}` });
      return;
    }
    // In order, like the Node driver: a command is performed before the next one starts.
    queue = queue.then(async () => {
      const error = await page
        .evaluate((c) => (window as unknown as { __handle(c: unknown): Promise<string | null> }).__handle(c), cmd)
        .catch((e: Error) => e.message);
      emit(error ? { event: 'ack', id: cmd.id, error } : { event: 'ack', id: cmd.id });
      if (cmd.cmd === 'exit') await shutdown(0);
    });
  });
  rl.on('close', () => void queue.then(() => shutdown(0)));
  emit({ event: 'ready', name: 'mooring-reference-client (browser bundle, headless Chromium)', version: VERSION, features: ['liveness', 'visibility'] });
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  runChromiumDriver(process.argv.slice(2)).catch((e: Error) => {
    process.stderr.write(`chromium driver: ${e.message}\n`);
    process.exit(1);
  });
}
