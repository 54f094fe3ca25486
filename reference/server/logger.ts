/**
 * LOG-1: JSON lines `{ts, level, event, ...fields}` on stderr. Callers never pass a token or a URL
 * query string (AUTH-6); `redact` is a last line of defence for fields named like secrets.
 */
import type { LogLevel } from '../core/server/index.js';

export interface LogEntry {
  ts: string;
  level: LogLevel;
  event: string;
  [field: string]: unknown;
}

/** Receives every log entry. */
export type LogSink = (entry: LogEntry) => void;

const SECRET = /token|authorization|secret|password/i;

export function makeEntry(level: LogLevel, event: string, fields: Record<string, unknown>, now = Date.now()): LogEntry {
  const entry: LogEntry = { ts: new Date(now).toISOString(), level, event };
  for (const [k, v] of Object.entries(fields)) {
    if (v === undefined) continue;
    entry[k] = SECRET.test(k) && !/^tokenExpiresAt$|^expiresAt$/.test(k) ? '[redacted]' : v;
  }
  return entry;
}

/** The default sink: one JSON line per entry on stderr. */
export function stderrSink(entry: LogEntry): void {
  process.stderr.write(JSON.stringify(entry) + '\n');
}
