/**
 * Reports are CI artifacts: tokens never appear in them (AUTH-6, LOG-1) — not in an auth message, a
 * URL query, URL credentials or a Bearer header, whoever wrote the text (the suite, a case, or a
 * server under test echoing a request back). Idempotent, so reporters can run it again over text the
 * wire toolkit already redacted.
 */
export function redact(text: string): string {
  return text
    // "token":"..." in a JSON text (escaped quotes inside the value included)
    .replace(/("token"\s*:\s*")(?!<redacted)((?:[^"\\]|\\.)*)(")/g, (_, a: string, t: string, b: string) => `${a}<redacted ${t.length} chars>${b}`)
    // ?token=..., &access_token=..., ?api_key=... in a URL query
    .replace(/([?&][^=&\s#"'<>]*(?:token|secret|password|passwd|key|auth)[^=&\s#"'<>]*=)(?!<redacted>)[^&\s#"'<>]*/gi, '$1<redacted>')
    // scheme://user:password@host
    .replace(/(\b[a-z][a-z0-9+.-]*:\/\/)(?!<redacted>@)[^/\s@"'<>]+@/gi, '$1<redacted>@')
    // Authorization: Bearer <token>
    .replace(/(\bBearer\s+)(?!<redacted>)[A-Za-z0-9._~+/=-]{8,}/gi, '$1<redacted>');
}

/** `value` with `redact` applied to every string in it (a deep copy; the report itself is not changed). */
export function redactDeep<T>(value: T): T {
  return JSON.parse(JSON.stringify(value, (_k, v: unknown) => (typeof v === 'string' ? redact(v) : v))) as T;
}
