#!/usr/bin/env node
/** The `mooring` command: dispatches to the subcommands (each exports `run(argv)`: the exit code). */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { packageRoot } from '../reference/client/static-files.js';
import { didYouMean, usageError } from './args.js';

const HELP = `Usage: mooring <command> [options]

Commands:
  serve           run the reference server            (mooring serve --help)
  token           create, list, revoke, rotate tokens (mooring token --help)
  test [URL]      run the conformance suite           (mooring test --help)
  fuzz [URL]      model-based fuzzing of a server     (mooring fuzz --help)
  test-client     grade a client program              (mooring test-client --help)
  bench           load benchmarks vs ws and Socket.IO (mooring bench --help)

Options:
  -v, --version   print the package version and the spec revision
  -h, --help      this help

Exit codes: 0 success; 1 a failure (a broken rule, a failed run); 2 a usage or
setup error (bad flags or values, nothing listening, an unreadable file).
`;

const COMMANDS: Record<string, () => Promise<{ run(argv: string[]): Promise<number> }>> = {
  serve: () => import('./serve.js'),
  token: () => import('./token.js'),
  test: () => import('./test.js'),
  fuzz: () => import('./fuzz.js'),
  'test-client': () => import('./test-client.js'),
  bench: () => import('./bench.js'),
};

/** `mooring 0.1.0 (protocol mooring.v1, spec revision 1.2)`: from the package.json and spec/rules.json shipped with it. */
export function versionLine(root = packageRoot()): string {
  const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version: string };
  const spec = JSON.parse(readFileSync(join(root, 'spec/rules.json'), 'utf8')) as { version: string };
  return `mooring ${pkg.version} (protocol mooring.v1, spec revision ${spec.version})`;
}

async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  if (cmd === '--help' || cmd === '-h' || cmd === 'help') {
    process.stdout.write(HELP);
    return 0;
  }
  if (cmd === '--version' || cmd === '-v' || cmd === 'version') {
    process.stdout.write(`${versionLine()}\n`);
    return 0;
  }
  if (cmd === undefined) {
    process.stderr.write(HELP);
    return 2;
  }
  const load = COMMANDS[cmd];
  if (!load) {
    const known = [...Object.keys(COMMANDS), '--version', '--help'];
    const what = cmd.startsWith('-') ? `unknown option ${cmd}` : `unknown command "${cmd}"`;
    return usageError('mooring', `${what}${didYouMean(cmd, known)}`);
  }
  return (await load()).run(rest);
}

/** Errors from the system (a missing file, a port in use, a refused connection): the user's to fix, not a bug. */
function isSystemError(err: unknown): err is NodeJS.ErrnoException {
  return typeof (err as NodeJS.ErrnoException)?.code === 'string' && /^E[A-Z0-9_]+$/.test((err as NodeJS.ErrnoException).code!);
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    // A user-facing error is one line; a stack trace only for a bug (or with MOORING_DEBUG=1).
    if (isSystemError(err) && !process.env.MOORING_DEBUG) {
      process.stderr.write(`mooring: ${err.message}\n`);
      process.exit(2);
    }
    process.stderr.write(`mooring: internal error (please report it): ${(err as Error)?.stack ?? String(err)}\n`);
    process.exit(1);
  },
);
