/**
 * Pure helpers for the revision 1.2 limits: nesting depth (LIMIT-6), the user channel name (SUB-12)
 * and UTF-8 byte counts (LIMIT-7). Deterministic, no I/O.
 */
import { createHash } from 'node:crypto';

/**
 * LIMIT-6: whether a JSON text nests arrays and objects deeper than `max` (the outermost value
 * counting 1). Scans the text without parsing it, so a deep message costs no more than its length.
 */
export function depthExceeds(text: string, max: number): boolean {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c) i++; // backslash: skip the escaped character
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x7b || c === 0x5b) {
      if (++depth > max) return true;
    } else if (c === 0x7d || c === 0x5d) depth--;
  }
  return false;
}

/** SUB-1 grammar for the suffix of `user:` (the whole name at most 128 characters). */
const DIRECT_USER_ID = /^[A-Za-z0-9_.:/-]{1,123}$/;

/**
 * SUB-12: the user's own channel. `user:<userId>` when that is a valid channel name (SUB-1);
 * otherwise `uid:` and the unpadded base64url SHA-256 of the UTF-8 user id. The two forms cannot
 * collide: one starts with `user:`, the other with `uid:`.
 */
export function userChannelName(userId: string): string {
  if (DIRECT_USER_ID.test(userId)) return `user:${userId}`;
  return `uid:${createHash('sha256').update(userId, 'utf8').digest('base64url')}`;
}

/** LIMIT-7: the UTF-8 length of a string, without encoding it. */
export function utf8Length(s: string): number {
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) n += 1;
    else if (c < 0x800) n += 2;
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length) {
      const d = s.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) {
        n += 4;
        i++;
      } else n += 3;
    } else n += 3;
  }
  return n;
}
