/**
 * Shared flag parsing for every `mooring` subcommand, so that a user mistake reads the same
 * everywhere: one line on stderr, `<command>: <what is wrong> (<command> --help)`, exit code 2,
 * never a stack trace. E.g. `mooring test: unknown option --tokne; did you mean --token? (mooring test --help)`.
 *
 * A command parses with `parseFlags` (node:util parseArgs underneath, its errors rewritten), throws
 * `UsageError` for its own checks (bad numbers, missing flags, bad URLs), and wraps its body in
 * `runCommand`, which turns a UsageError into that line and exit code 2.
 * Also: durations like 90d, 30m, 45s, 250ms; rate limits like 60/10s; integers.
 */
import { parseArgs, type ParseArgsConfig } from 'node:util';

const UNITS: Record<string, number> = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** A user mistake: printed as one line with the command's name and a --help hint, exit code 2. */
export class UsageError extends Error {}

/** '250ms' | '45s' | '30m' | '12h' | '90d' | '1500' (ms) → ms. */
export function parseDuration(text: string, flag: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)?$/.exec(text.trim());
  if (!m) throw new UsageError(`${flag}: expected a duration like 250ms, 45s, 30m, 12h or 90d, got "${text}"`);
  return Math.round(Number(m[1]) * UNITS[m[2] ?? 'ms']!);
}

/** '60/10s' → { messages: 60, windowMs: 10000 }. */
export function parseRate(text: string, flag: string): { messages: number; windowMs: number } {
  const [n, w] = text.split('/');
  const messages = Number(n);
  if (!Number.isInteger(messages) || messages < 1 || w === undefined) {
    throw new UsageError(`${flag}: expected MESSAGES/WINDOW like 60/10s, got "${text}"`);
  }
  return { messages, windowMs: parseDuration(w, flag) };
}

export function parseInteger(text: string, flag: string, min = 0): number {
  const n = text.trim() === '' ? NaN : Number(text);
  if (!Number.isInteger(n) || n < min) throw new UsageError(`${flag}: expected an integer >= ${min}, got "${text}"`);
  return n;
}

/** A number > 0 (e.g. --timeout-scale 1.5). */
export function parsePositive(text: string, flag: string): number {
  const n = text.trim() === '' ? NaN : Number(text);
  if (!(Number.isFinite(n) && n > 0)) throw new UsageError(`${flag}: expected a positive number, got "${text}"`);
  return n;
}

/** The closest of `candidates` to `word` (edit distance at most 1/3 of its length, at least 2), or undefined. */
export function closest(word: string, candidates: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestD = Math.max(2, Math.floor(word.length / 3)) + 1;
  for (const c of candidates) {
    const d = editDistance(word, c);
    if (d < bestD) [best, bestD] = [c, d];
  }
  return best;
}

/** Damerau-Levenshtein (optimal string alignment): a swapped pair of letters (tokne/token) costs 1. */
function editDistance(a: string, b: string): number {
  const d = Array.from({ length: a.length + 1 }, (_, i) => [i, ...Array<number>(b.length).fill(0)]);
  for (let j = 1; j <= b.length; j++) d[0]![j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      d[i]![j] = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d[i]![j] = Math.min(d[i]![j]!, d[i - 2]![j - 2]! + 1);
    }
  }
  return d[a.length]![b.length]!;
}

/** `did you mean X?` for an unknown word among the known ones, or ''. */
export function didYouMean(word: string, known: readonly string[]): string {
  const c = closest(word, known);
  return c === undefined ? '' : `; did you mean ${c}?`;
}

type Options = NonNullable<ParseArgsConfig['options']>;
type Parsed<O extends Options> = ReturnType<typeof parseArgs<{ args: string[]; options: O; strict: true; allowPositionals: true }>>;

/**
 * node:util parseArgs (strict) with its errors rewritten as UsageErrors in the one style:
 * unknown options (with a suggestion), a missing value, a value given to a switch, and
 * positionals beyond `maxPositionals` (default: none allowed).
 */
export function parseFlags<O extends Options>(argv: string[], options: O, maxPositionals = 0): Parsed<O> {
  let parsed;
  try {
    parsed = parseArgs({ args: argv, options, strict: true, allowPositionals: true });
  } catch (err) {
    throw flagError(err as Error & { code?: string }, argv, options);
  }
  const extra = parsed.positionals.slice(maxPositionals);
  if (extra.length) {
    const first = extra[0]!;
    if (maxPositionals === 0) throw new UsageError(`unexpected argument "${first}": this command takes only options`);
    throw new UsageError(`unexpected argument "${first}": at most ${maxPositionals} argument${maxPositionals === 1 ? '' : 's'} besides the options`);
  }
  return parsed;
}

function flagError(err: Error & { code?: string }, argv: string[], options: Options): Error {
  const names = Object.keys(options).map((n) => `--${n}`);
  // parseArgs names the option as '--token', '-t, --token <value>' or '-x'.
  const quoted = /--[A-Za-z0-9][\w-]*/.exec(err.message)?.[0] ?? /'(-[^-' ,<])/.exec(err.message)?.[1];
  switch (err.code) {
    case 'ERR_PARSE_ARGS_UNKNOWN_OPTION': {
      const flag = quoted ?? argv.find((a) => a.startsWith('-')) ?? '?';
      return new UsageError(`unknown option ${flag}${didYouMean(flag.split('=')[0]!, names)}`);
    }
    case 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE': {
      const long = quoted;
      const spec = long ? options[long.slice(2)] : undefined;
      if (spec?.type === 'boolean') return new UsageError(`${long} takes no value`);
      return new UsageError(`${long ?? 'an option'} needs a value${/ambiguous/.test(err.message) ? `; to give one starting with "-", write ${long}=VALUE` : ''}`);
    }
    default:
      return new UsageError(err.message);
  }
}

/** The one usage-error line: `mooring test: unknown option --x (mooring test --help)`. */
export function usageLine(command: string, message: string): string {
  return `${command}: ${message} (${command} --help)\n`;
}

/** Prints the usage-error line on stderr; returns exit code 2. */
export function usageError(command: string, message: string): number {
  process.stderr.write(usageLine(command, message));
  return 2;
}

/**
 * Runs a command body: a UsageError becomes the usage-error line and exit code 2. Anything else
 * propagates (the top level prints one line for a user-facing error, a stack only for a bug).
 */
export async function runCommand(command: string, body: () => Promise<number> | number): Promise<number> {
  try {
    return await body();
  } catch (err) {
    if (err instanceof UsageError) return usageError(command, err.message);
    throw err;
  }
}
