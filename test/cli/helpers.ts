/** Spawning the built CLI (dist/cli/mooring.js) with stdout and stderr captured, never printed. */
import { spawn, type ChildProcessByStdio } from 'node:child_process';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import type { Readable } from 'node:stream';

export const ROOT = resolve(import.meta.dirname, '../..');
export const CLI = join(ROOT, 'dist/cli/mooring.js');

export interface Ran {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `cmd args` to its end with both streams captured. */
export function runToEnd(cmd: string, args: string[], options: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): Promise<Ran> {
  const p = spawn(cmd, args, { cwd: options.cwd ?? ROOT, env: options.env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  p.stdout.on('data', (d) => (stdout += d));
  p.stderr.on('data', (d) => (stderr += d));
  return new Promise((resolve, reject) => {
    p.on('error', reject);
    p.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/** `mooring ...args` from dist/, captured. */
export function mooring(args: string[], cwd = ROOT): Promise<Ran> {
  return runToEnd(process.execPath, [CLI, ...args], { cwd });
}

/** Resolves with the first line of `stream` matching `re` (rejects when the stream ends first). */
export function lineMatching(stream: Readable, re: RegExp): Promise<RegExpExecArray> {
  return new Promise((resolve, reject) => {
    const rl = createInterface({ input: stream });
    rl.on('line', (l) => {
      const m = re.exec(l);
      if (m) {
        resolve(m); // before close(), which emits 'close' at once
        rl.close();
      }
    });
    rl.on('close', () => reject(new Error(`stream ended before a line matching ${re}`)));
  });
}

export type Child = ChildProcessByStdio<null, Readable, Readable>;
