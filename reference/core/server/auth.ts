/** AUTH-4, AUTH-8, AUTH-11: what a token verification means at `now`, and when to warn. */
import type { TokenRecord } from './types.js';

export type TokenVerdict = { ok: true; record: TokenRecord } | { ok: false; reason: 'unknown_token' | 'token_expired' };

export function judgeToken(record: TokenRecord | null, now: number): TokenVerdict {
  if (!record) return { ok: false, reason: 'unknown_token' }; // AUTH-4
  if (record.expiresAt !== null && record.expiresAt <= now) return { ok: false, reason: 'token_expired' }; // AUTH-11
  return { ok: true, record };
}

/** AUTH-8: token_expiring goes out `warningMs` before expiry (at once when already inside that window). */
export function warnAt(expiresAt: number, warningMs: number): number {
  return expiresAt - warningMs;
}

const ID_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';

/** A session id from the injected random source. */
export function randomId(random: () => number, length = 16): string {
  let s = '';
  for (let i = 0; i < length; i++) s += ID_ALPHABET[Math.floor(random() * ID_ALPHABET.length) % ID_ALPHABET.length];
  return s;
}
