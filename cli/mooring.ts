#!/usr/bin/env node
/** The `mooring` command: dispatches to serve, token and test. */

const HELP = `Usage: mooring <command> [options]

Commands:
  serve           run the reference server            (mooring serve --help)
  token create    create a bearer token for a user    (mooring token --help)
  test [URL]      run the conformance suite           (mooring test --help)
  fuzz [URL]      model-based fuzzing of a server     (mooring fuzz --help)
  test-client     grade a client program              (mooring test-client --help)
  bench           load benchmarks vs ws and Socket.IO (mooring bench --help)
`;

const COMMANDS: Record<string, () => Promise<{ run(argv: string[]): Promise<number> }>> = {
  serve: () => import('./serve.js'),
  token: () => import('./token.js'),
  test: () => import('./test.js'),
  fuzz: () => import('./fuzz.js'),
  'test-client': () => import('./test-client.js'),
  bench: () => import('./bench.js'),
};

async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  if (cmd === undefined || cmd === '--help' || cmd === '-h' || cmd === 'help') {
    process.stdout.write(HELP);
    return cmd === undefined ? 2 : 0;
  }
  const load = COMMANDS[cmd];
  if (!load) {
    process.stderr.write(`mooring: unknown command "${cmd}"\n${HELP}`);
    return 2;
  }
  return (await load()).run(rest);
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`mooring: ${(err as Error)?.stack ?? String(err)}\n`);
    process.exit(1);
  },
);
