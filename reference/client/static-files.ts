/**
 * The static files of the browser example, for the server's `staticFiles` option (`mooring serve`
 * serves them): `/` → `examples/browser/index.html`, `/debug` → the debug page
 * (`reference/client/debug.html`), `/mooring-client.js` → the browser bundle.
 * Node only (not part of the browser bundle).
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The package root: the nearest folder above this file whose package.json is named "mooring". */
export function packageRoot(from: string = dirname(fileURLToPath(import.meta.url))): string {
  for (let dir = from; ; dir = dirname(dir)) {
    const pkg = join(dir, 'package.json');
    if (existsSync(pkg)) {
      try {
        if ((JSON.parse(readFileSync(pkg, 'utf8')) as { name?: string }).name === 'mooring') return dir;
      } catch {
        // keep looking
      }
    }
    if (dirname(dir) === dir) throw new Error('mooring package root not found');
  }
}

export function browserExampleFiles(root: string = packageRoot()): Record<string, string> {
  return {
    '/': join(root, 'examples/browser/index.html'),
    '/index.html': join(root, 'examples/browser/index.html'),
    '/debug': join(root, 'reference/client/debug.html'),
    '/mooring-client.js': join(root, 'dist/browser/mooring-client.js'),
    '/mooring-client.js.map': join(root, 'dist/browser/mooring-client.js.map'),
  };
}
