/**
 * One style for user mistakes across every `mooring` subcommand: one line on stderr,
 * `<command>: <what is wrong> (<command> --help)`, exit code 2, nothing on stdout, no stack trace.
 * Setup errors (nothing listening, an unreadable tokens file) are one line and exit 2 too, without the
 * --help hint (the flags were right). Runs the built CLI (dist/) as a user does.
 */
import { mkdtempSync, mkdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { closest } from '../../cli/args.js';
import { mooring } from './helpers.js';

const dir = mkdtempSync(join(tmpdir(), 'mooring-usage-'));
writeFileSync(join(dir, 'broken.json'), '{ not json');
mkdirSync(join(dir, 'a-directory'));

const USAGE: [args: string[], stderr: string][] = [
  [['--verison'], 'mooring: unknown option --verison; did you mean --version? (mooring --help)'],
  [['serv'], 'mooring: unknown command "serv"; did you mean serve? (mooring --help)'],
  [['frobnicate'], 'mooring: unknown command "frobnicate" (mooring --help)'],
  [['test', '--tokne', 'x'], 'mooring test: unknown option --tokne; did you mean --token? (mooring test --help)'],
  [['test', '127.0.0.1:8080'], 'mooring test: "127.0.0.1:8080" is not a ws:// or wss:// URL: did you mean ws://127.0.0.1:8080/ws? (mooring test --help)'],
  [['test', '--token'], 'mooring test: --token needs a value (mooring test --help)'],
  [['test', '--timeout-scale', 'fast'], 'mooring test: --timeout-scale: expected a positive number, got "fast" (mooring test --help)'],
  [['test', '--max-connections-per-ip', '0'], 'mooring test: --max-connections-per-ip: expected an integer >= 1, got "0" (mooring test --help)'],
  [['test', 'ws://a/ws', 'ws://b/ws'], 'mooring test: unexpected argument "ws://b/ws": at most 1 argument besides the options (mooring test --help)'],
  [['test', '--tokens-file', join(dir, 'missing.txt')], `mooring test: cannot read --tokens-file ${join(dir, 'missing.txt')}: no such file (mooring test --help)`],
  [['test', '--select', 'NOPE', '--list'], 'mooring test: --select "NOPE" matches no case'],
  [['serve', '--prot', '8080'], 'mooring serve: unknown option --prot; did you mean --port? (mooring serve --help)'],
  [['serve', '--port', 'eighty'], 'mooring serve: --port: expected an integer >= 0, got "eighty" (mooring serve --help)'],
  [['serve', '--heartbeat-interval', 'soon'], 'mooring serve: --heartbeat-interval: expected a duration like 250ms, 45s, 30m, 12h or 90d, got "soon" (mooring serve --help)'],
  [['serve', '--quiet=yes'], 'mooring serve: --quiet takes no value (mooring serve --help)'],
  [['serve', 'extra'], 'mooring serve: unexpected argument "extra": this command takes only options (mooring serve --help)'],
  [['token'], 'mooring token: a subcommand is needed: create, list, revoke, rotate (mooring token --help)'],
  [['token', 'crate'], 'mooring token: unknown subcommand "crate"; did you mean create? (mooring token --help)'],
  [['token', 'create', '--usr', 'alice'], 'mooring token create: unknown option --usr; did you mean --user? (mooring token create --help)'],
  [['token', 'create'], 'mooring token create: --user NAME is required (mooring token create --help)'],
  [['token', 'create', '--user', 'a', '--ttl', 'forever'], 'mooring token create: --ttl: expected a duration like 250ms, 45s, 30m, 12h or 90d, got "forever" (mooring token create --help)'],
  [['fuzz', '--runs', 'many'], 'mooring fuzz: --runs: expected an integer >= 1, got "many" (mooring fuzz --help)'],
  [['fuzz', '--sede', '1'], 'mooring fuzz: unknown option --sede; did you mean --seed? (mooring fuzz --help)'],
  [['fuzz', '127.0.0.1:8080', '--token', 'a', '--token2', 'b'], 'mooring fuzz: "127.0.0.1:8080" is not a ws:// or wss:// URL: did you mean ws://127.0.0.1:8080/ws? (mooring fuzz --help)'],
  [['fuzz', '--replay', join(dir, 'missing.json')], `mooring fuzz: cannot read --replay ${join(dir, 'missing.json')}: no such file (mooring fuzz --help)`],
  [['test-client', '--brwoser'], 'mooring test-client: unknown option --brwoser; did you mean --browser? (mooring test-client --help)'],
  [['test-client', '--cmd', 'x', '--browser'], 'mooring test-client: --cmd and --browser exclude each other (mooring test-client --help)'],
];

const SETUP: [args: string[], stderr: string][] = [
  [['test', 'ws://127.0.0.1:9/ws', '--token', 'a'], 'mooring test: nothing listens at 127.0.0.1:9 (connection refused): is the server running?'],
  [['fuzz', 'ws://127.0.0.1:9/ws', '--token', 'a', '--token2', 'b'], 'mooring fuzz: nothing listens at 127.0.0.1:9'],
  [['serve', '--port', '0', '--tokens-file', join(dir, 'broken.json')], `mooring serve: the tokens file ${join(dir, 'broken.json')} is not valid JSON`],
  [['serve', '--port', '0', '--tokens-file', join(dir, 'a-directory')], `mooring serve: cannot read the tokens file ${join(dir, 'a-directory')} (EISDIR)`],
  [['token', 'create', '--user', 'alice', '--tokens-file', join(dir, 'broken.json')], `mooring token create: cannot update the tokens file ${join(dir, 'broken.json')}`],
];

describe('usage errors: one style in every subcommand', () => {
  it.each(USAGE)('mooring %j', async (args, expected) => {
    const r = await mooring(args, dir);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr.split('\n')).toHaveLength(2); // one line
    expect(r.stderr.startsWith(expected), r.stderr).toBe(true);
    expect(r.stderr).toMatch(/\(mooring( [a-z-]+)* --help\)\n$/);
  });

  it.each(SETUP)('setup error: mooring %j', async (args, expected) => {
    const r = await mooring(args, dir);
    expect(r.code).toBe(2);
    expect(r.stderr.startsWith(expected), r.stderr).toBe(true);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).not.toMatch(/\n\s+at |--help\)/);
  });

  it('--version and -v print the package version and the spec revision; --help exits 0', async () => {
    for (const flag of ['--version', '-v']) {
      const r = await mooring([flag]);
      expect(r).toMatchObject({ code: 0, stderr: '' });
      expect(r.stdout).toMatch(/^mooring \d+\.\d+\.\d+ \(protocol mooring\.v1, spec revision \d+\.\d+\)\n$/);
    }
    expect(await mooring(['--help'])).toMatchObject({ code: 0, stderr: '' });
  });

  it('suggestions: a swapped pair or one letter off, nothing for an unrelated word', () => {
    expect(closest('--tokne', ['--token', '--token2', '--tokens-file'])).toBe('--token');
    expect(closest('--prot', ['--port', '--path'])).toBe('--port');
    expect(closest('--xyz', ['--port', '--path'])).toBeUndefined();
  });
});
