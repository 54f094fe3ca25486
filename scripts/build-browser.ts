/**
 * Bundles the browser entry of the client (`reference/client/browser.ts`) into
 * `dist/browser/mooring-client.js`: one ESM file a page loads with `<script type="module">`.
 * Run by `npm run build` (after tsc); tests call `buildBrowserBundle()` directly.
 */
import { build } from 'esbuild';
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import path from 'node:path';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

export const BROWSER_BUNDLE = path.join(root, 'dist/browser/mooring-client.js');

export async function buildBrowserBundle(outfile: string = BROWSER_BUNDLE): Promise<string> {
  await build({
    entryPoints: [path.join(root, 'reference/client/browser.ts')],
    outfile,
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2020',
    sourcemap: true,
    legalComments: 'none',
    logLevel: 'warning',
    // The browser entry must never pull Node modules (ws, ajv): fail the build if it does.
    external: [],
  });
  if (outfile === BROWSER_BUNDLE) {
    // Types next to the bundle: the declarations tsc emitted for the browser entry.
    writeFileSync(outfile.replace(/\.js$/, '.d.ts'), "export * from '../reference/client/browser.js';\n");
  }
  return outfile;
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const out = await buildBrowserBundle();
  process.stdout.write(`browser bundle: ${path.relative(root, out)}\n`);
}
