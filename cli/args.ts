/** Small shared flag parsers for the CLI (durations like 90d, 30m, 45s, 250ms; rate limits like 60/10s). */

const UNITS: Record<string, number> = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 };

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
  const n = Number(text);
  if (!Number.isInteger(n) || n < min) throw new UsageError(`${flag}: expected an integer >= ${min}, got "${text}"`);
  return n;
}

export class UsageError extends Error {}
