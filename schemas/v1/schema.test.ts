/**
 * The message schema and the code registries of protocol v1:
 * - the committed `messages.schema.json` is what `npm run gen:schemas` generates from `messages.ts`;
 * - valid and invalid client and server messages, as tables, through the validators (ERR-1, ERR-2,
 *   VER-5, VER-7, SUB-1 and the bounds of the message catalogue);
 * - the close-reason format (ERR-6, RECON-4);
 * - every rule the close-code and error-code registries cite exists in spec/rules.json.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { generateSchemaText, TARGET } from '../../scripts/gen-schemas.js';
import { parseClientFrame, parseServerFrame, validateClientMessage, validateServerMessage } from './validate.js';
import { CLOSE_CODES, closeClass, closeCodeInfo, formatCloseReason, parseCloseReason, type CloseCodeInfo } from './close-codes.js';
import { ERROR_CODES, type ErrorCodeInfo } from './error-codes.js';
import { DEFAULT_PARAMS } from './defaults.js';
import { SUBPROTOCOL } from './messages.js';

const rules = (JSON.parse(readFileSync(new URL('../../spec/rules.json', import.meta.url), 'utf8')) as {
  rules: { id: string; status: string }[];
}).rules;
const activeIds = new Set(rules.filter((r) => r.status === 'active').map((r) => r.id));

const s = (n: number, c = 'a') => c.repeat(n);
const pos = { epoch: 'k3v9', offset: 4 };
const params = { ...DEFAULT_PARAMS, tokenExpiresAt: null };

describe('messages.schema.json', () => {
  it('is current: equals a fresh generation from messages.ts (run `npm run gen:schemas` if this fails)', () => {
    expect(readFileSync(TARGET, 'utf8')).toBe(generateSchemaText());
  }, 60_000);
});

describe('client messages', () => {
  const valid: [string, unknown][] = [
    ['auth', { type: 'auth', token: 'pZ8w0Qe4' }],
    ['auth with a 512-character token', { type: 'auth', token: s(512) }],
    ['request with payload', { type: 'request', id: 'r1', action: 'echo', payload: { x: [1, 2] } }],
    ['request without payload', { type: 'request', id: 'r1', action: 'get_agents' }],
    ['request with null payload', { type: 'request', id: 'r1', action: 'echo', payload: null }],
    ['request with a 64-character id', { type: 'request', id: s(64), action: 'echo' }],
    ['request with action a.b:c-d_e', { type: 'request', id: '1', action: 'a.b:c-d_e' }],
    ['subscribe', { type: 'subscribe', channel: 'news' }],
    ['subscribe with since', { type: 'subscribe', channel: 'news', since: pos }],
    ['subscribe with since offset 0', { type: 'subscribe', channel: 'news', since: { epoch: 'e', offset: 0 } }],
    ['subscribe to user:alice', { type: 'subscribe', channel: 'user:alice' }],
    ['subscribe to a channel using every allowed character', { type: 'subscribe', channel: '_Az09.:/-x' }],
    ['subscribe to a 128-character channel', { type: 'subscribe', channel: s(128) }],
    ['subscribe to a 1-character channel', { type: 'subscribe', channel: 'x' }],
    ['unsubscribe', { type: 'unsubscribe', channel: 'news' }],
    ['ping', { type: 'ping' }],
    ['VER-7: ping with an unknown property', { type: 'ping', extra: true }],
    ['VER-7: auth with an unknown property', { type: 'auth', token: 't', client: { name: 'x' } }],
    ['VER-7: subscribe with unknown property in since', { type: 'subscribe', channel: 'c', since: { ...pos, node: 3 } }],
  ];

  it.each(valid)('accepts %s', (_name, msg) => {
    expect(validateClientMessage(msg)).toEqual({ ok: true, message: msg });
    expect(parseClientFrame(JSON.stringify(msg))).toEqual({ kind: 'message', message: msg });
  });

  const invalidJson: [string, string][] = [
    ['plain text', 'hello'],
    ['an empty frame', ''],
    ['truncated JSON', '{"type":"ping"'],
    ['single quotes', "{'type':'ping'}"],
  ];

  it.each(invalidJson)('ERR-1: reports invalid_json for %s', (_name, text) => {
    expect(parseClientFrame(text)).toEqual({ kind: 'invalid_json' });
  });

  const invalid: [string, unknown][] = [
    ['an array', [{ type: 'ping' }]],
    ['null', null],
    ['a number', 42],
    ['a string', 'auth'],
    ['an object without type', { token: 't' }],
    ['a non-string type', { type: 5 }],
    ['an unknown type', { type: 'bogus' }],
    ['a type in the wrong case', { type: 'Ping' }],
    ['a server message type', { type: 'pong' }],
    ['auth without token', { type: 'auth' }],
    ['auth with an empty token', { type: 'auth', token: '' }],
    ['auth with an over-long token (513)', { type: 'auth', token: s(513) }],
    ['auth with a numeric token', { type: 'auth', token: 12345 }],
    ['request without id', { type: 'request', action: 'echo' }],
    ['request with an empty id', { type: 'request', id: '', action: 'echo' }],
    ['request with a 65-character id', { type: 'request', id: s(65), action: 'echo' }],
    ['request with a numeric id', { type: 'request', id: 1, action: 'echo' }],
    ['request without action', { type: 'request', id: '1' }],
    ['request with an action starting with a digit', { type: 'request', id: '1', action: '1echo' }],
    ['request with an action containing a space', { type: 'request', id: '1', action: 'ec ho' }],
    ['request with a 65-character action', { type: 'request', id: '1', action: s(65) }],
    ['subscribe without channel', { type: 'subscribe' }],
    ['SUB-1: subscribe to an empty channel', { type: 'subscribe', channel: '' }],
    ['SUB-1: subscribe to a channel starting with -', { type: 'subscribe', channel: '-news' }],
    ['SUB-1: subscribe to a channel starting with .', { type: 'subscribe', channel: '.news' }],
    ['SUB-1: subscribe to a channel starting with :', { type: 'subscribe', channel: ':news' }],
    ['SUB-1: subscribe to a channel starting with /', { type: 'subscribe', channel: '/news' }],
    ['SUB-1: subscribe to a 129-character channel', { type: 'subscribe', channel: s(129) }],
    ['SUB-1: subscribe to a channel with a space', { type: 'subscribe', channel: 'my news' }],
    ['SUB-1: subscribe to a channel with #', { type: 'subscribe', channel: 'news#1' }],
    ['SUB-1: subscribe to a channel with a non-ASCII letter', { type: 'subscribe', channel: 'nachrichtenä' }],
    ['SUB-1: subscribe to a channel ending in a newline', { type: 'subscribe', channel: 'news\n' }],
    ['subscribe with a non-string channel', { type: 'subscribe', channel: 7 }],
    ['subscribe with since as a string', { type: 'subscribe', channel: 'c', since: 'k3v9:4' }],
    ['subscribe with since without offset', { type: 'subscribe', channel: 'c', since: { epoch: 'e' } }],
    ['subscribe with since without epoch', { type: 'subscribe', channel: 'c', since: { offset: 1 } }],
    ['subscribe with a negative offset', { type: 'subscribe', channel: 'c', since: { epoch: 'e', offset: -1 } }],
    ['subscribe with a fractional offset', { type: 'subscribe', channel: 'c', since: { epoch: 'e', offset: 1.5 } }],
    ['subscribe with an empty epoch', { type: 'subscribe', channel: 'c', since: { epoch: '', offset: 1 } }],
    ['subscribe with a 65-character epoch', { type: 'subscribe', channel: 'c', since: { epoch: s(65), offset: 1 } }],
    ['unsubscribe without channel', { type: 'unsubscribe' }],
    ['SUB-1: unsubscribe from an invalid channel', { type: 'unsubscribe', channel: 'a b' }],
  ];

  it.each(invalid)('ERR-2: rejects %s as invalid_message', (_name, msg) => {
    const r = validateClientMessage(msg);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.error.length).toBeLessThanOrEqual(300);
    expect(parseClientFrame(JSON.stringify(msg))).toMatchObject({ kind: 'invalid_message' });
  });

  it('ERR-3: the validation error does not echo an over-long unknown type', () => {
    const r = validateClientMessage({ type: s(1000, 'x') });
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.error.length).toBeLessThan(100);
  });
});

describe('server messages', () => {
  const authenticated = { type: 'authenticated', userId: 'alice', sessionId: 's1', protocol: SUBPROTOCOL, params };
  const valid: [string, unknown][] = [
    ['authenticated', authenticated],
    ['authenticated with server info and a token expiry', { ...authenticated, server: { name: 'ref', version: '0.1.0' }, params: { ...params, tokenExpiresAt: 1795000000000 } }],
    ['authenticated with sessionPolicy multiple', { ...authenticated, params: { ...params, sessionPolicy: 'multiple' } }],
    ['authenticated with historySize 0', { ...authenticated, params: { ...params, historySize: 0 } }],
    ['VER-7: authenticated with an unknown param', { ...authenticated, params: { ...params, futureParamMs: 5 } }],
    ['response success with data', { type: 'response', requestId: 'r1', success: true, data: { x: 1 } }],
    ['response success without data', { type: 'response', requestId: 'r1', success: true }],
    ['response failure', { type: 'response', requestId: 'r1', success: false, error: { code: 'unknown_action', message: 'no such action' } }],
    ['subscribed', { type: 'subscribed', channel: 'news', position: { epoch: 'e', offset: 0 } }],
    ['subscribed replayed', { type: 'subscribed', channel: 'news', position: pos, resume: 'replayed', replayed: 3 }],
    ['subscribed unavailable', { type: 'subscribed', channel: 'news', position: pos, resume: 'unavailable' }],
    ['unsubscribed', { type: 'unsubscribed', channel: 'news' }],
    ['push', { type: 'push', channel: 'news', data: { h: 1 }, position: { epoch: 'e', offset: 1 }, ts: 1794999990123 }],
    ['push with null data', { type: 'push', channel: 'news', data: null, position: pos, ts: 1 }],
    ['push flagged replay', { type: 'push', channel: 'news', data: 1, position: pos, ts: 1, replay: true }],
    ['pong', { type: 'pong' }],
    ['pong with ts', { type: 'pong', ts: 1794999990456 }],
    ['token_expiring', { type: 'token_expiring', expiresAt: 1795000000000 }],
    ['error', { type: 'error', code: 'invalid_json', message: 'not JSON' }],
    ['error with requestId', { type: 'error', code: 'duplicate_request_id', message: 'pending', requestId: 'r1' }],
    ['error with channel', { type: 'error', code: 'forbidden', message: 'no', channel: 'user:bob' }],
    ['VER-7: push with an unknown property', { type: 'push', channel: 'c', data: 1, position: pos, ts: 1, trace: 'x' }],
  ];

  it.each(valid)('accepts %s', (_name, msg) => {
    expect(validateServerMessage(msg)).toEqual({ ok: true, message: msg });
    expect(parseServerFrame(JSON.stringify(msg))).toEqual({ kind: 'message', message: msg });
  });

  const withoutParam = (k: keyof typeof params) => {
    const p: Record<string, unknown> = { ...params };
    delete p[k];
    return { ...authenticated, params: p };
  };
  const invalid: [string, unknown][] = [
    ['an unknown type', { type: 'welcome' }],
    ['a client message type', { type: 'ping' }],
    ['authenticated without params', { ...authenticated, params: undefined }],
    ['authenticated without sessionId', { type: 'authenticated', userId: 'a', protocol: SUBPROTOCOL, params }],
    ['authenticated with another protocol', { ...authenticated, protocol: 'mooring.v2' }],
    ['authenticated with a 257-character userId', { ...authenticated, userId: s(257) }],
    ['authenticated without heartbeatIntervalMs', withoutParam('heartbeatIntervalMs')],
    ['authenticated without tokenExpiresAt', withoutParam('tokenExpiresAt')],
    ['authenticated with heartbeatIntervalMs 0', { ...authenticated, params: { ...params, heartbeatIntervalMs: 0 } }],
    ['authenticated with a fractional maxPayloadBytes', { ...authenticated, params: { ...params, maxPayloadBytes: 1.5 } }],
    ['authenticated with an unknown sessionPolicy', { ...authenticated, params: { ...params, sessionPolicy: 'both' } }],
    ['authenticated with rateLimit missing windowMs', { ...authenticated, params: { ...params, rateLimit: { messages: 60 } } }],
    ['authenticated with a string tokenExpiresAt', { ...authenticated, params: { ...params, tokenExpiresAt: '2026-01-01' } }],
    ['response without requestId', { type: 'response', success: true }],
    ['response with success not boolean', { type: 'response', requestId: 'r', success: 'yes' }],
    ['response failure without error', { type: 'response', requestId: 'r', success: false }],
    ['response failure with an error string', { type: 'response', requestId: 'r', success: false, error: 'boom' }],
    ['response failure with an over-long message', { type: 'response', requestId: 'r', success: false, error: { code: 'internal_error', message: s(1025) } }],
    ['subscribed without position', { type: 'subscribed', channel: 'news' }],
    ['subscribed with an unknown resume', { type: 'subscribed', channel: 'news', position: pos, resume: 'partial' }],
    ['subscribed with a negative replayed', { type: 'subscribed', channel: 'news', position: pos, resume: 'replayed', replayed: -1 }],
    ['subscribed to an invalid channel', { type: 'subscribed', channel: '-x', position: pos }],
    ['push without ts', { type: 'push', channel: 'c', data: 1, position: pos }],
    ['push without data', { type: 'push', channel: 'c', position: pos, ts: 1 }],
    ['push with a fractional ts', { type: 'push', channel: 'c', data: 1, position: pos, ts: 1.5 }],
    ['push with a negative offset', { type: 'push', channel: 'c', data: 1, position: { epoch: 'e', offset: -1 }, ts: 1 }],
    ['push with a string replay flag', { type: 'push', channel: 'c', data: 1, position: pos, ts: 1, replay: 'yes' }],
    ['pong with a string ts', { type: 'pong', ts: 'now' }],
    ['token_expiring without expiresAt', { type: 'token_expiring' }],
    ['error without message', { type: 'error', code: 'forbidden' }],
    ['error with a numeric code', { type: 'error', code: 403, message: 'no' }],
    ['error with a 1025-character message', { type: 'error', code: 'forbidden', message: s(1025) }],
  ];

  it.each(invalid)('rejects %s', (_name, msg) => {
    expect(validateServerMessage(msg).ok).toBe(false);
  });
});

describe('close reasons (ERR-6, RECON-4)', () => {
  const formatted: [string, number | undefined, string][] = [
    ['rate_limited', 4200, 'rate_limited;retry=4200'],
    ['service_restart', 0, 'service_restart;retry=0'],
    ['service_restart', 1874.6, 'service_restart;retry=1875'],
    ['session_replaced', undefined, 'session_replaced'],
    ['rate_limited', -5, 'rate_limited;retry=0'],
  ];

  it.each(formatted)('formats %s with hint %s as %s', (name, ms, reason) => {
    expect(formatCloseReason(name, ms)).toBe(reason);
  });

  const parsed: [string, { name: string; retryAfterMs?: number }][] = [
    ['rate_limited;retry=4200', { name: 'rate_limited', retryAfterMs: 4200 }],
    ['service_restart;retry=0', { name: 'service_restart', retryAfterMs: 0 }],
    ['service_restart;retry=999999999', { name: 'service_restart', retryAfterMs: 999_999_999 }],
    ['session_replaced', { name: 'session_replaced' }],
    ['', { name: '' }],
    // Reasons that do not follow the grammar carry no hint: the whole text is the name.
    ['x;retry=abc', { name: 'x;retry=abc' }],
    ['x;retry=-1', { name: 'x;retry=-1' }],
    ['x;retry=1234567890', { name: 'x;retry=1234567890' }],
    ['x;retry=', { name: 'x;retry=' }],
    ['New session started elsewhere', { name: 'New session started elsewhere' }],
  ];

  it.each(parsed)('parses %j', (reason, expected) => {
    expect(parseCloseReason(reason)).toEqual(expected);
  });

  it.each((Object.values(CLOSE_CODES) as CloseCodeInfo[]).map((c) => [c.code, c.name] as const))(
    'ERR-6: %i %s with the largest hint round-trips and fits in 123 bytes',
    (_code, name) => {
      const reason = formatCloseReason(name, 999_999_999);
      expect(Buffer.byteLength(reason, 'utf8')).toBeLessThanOrEqual(123);
      expect(parseCloseReason(reason)).toEqual({ name, retryAfterMs: 999_999_999 });
      expect(parseCloseReason(formatCloseReason(name))).toEqual({ name });
    },
  );
});

describe('close-code registry', () => {
  const codes = Object.values(CLOSE_CODES) as CloseCodeInfo[];

  it('has unique codes and names', () => {
    expect(new Set(codes.map((c) => c.code)).size).toBe(codes.length);
    expect(new Set(codes.map((c) => c.name)).size).toBe(codes.length);
  });

  it.each(codes.map((c) => [c.code, c] as const))('%i is well-formed and cites existing rules', (_code, c) => {
    expect(c.name).toMatch(/^[a-z][a-z_]*$/);
    expect(['server', 'client', 'either', 'none']).toContain(c.sentBy);
    expect(['reconnect', 'reconnect_now', 'refresh_token', 'stop']).toContain(c.class);
    expect(c.code >= 1000 && c.code <= 1015 || c.code >= 4000 && c.code <= 4999).toBe(true);
    expect(c.rules.length).toBeGreaterThan(0);
    for (const id of c.rules) expect(activeIds.has(id), `${c.code} cites ${id}`).toBe(true);
    expect(closeCodeInfo(c.code)).toBe(c);
    expect(closeClass(c.code)).toBe(c.class);
  });

  it('never sends the codes RFC 6455 reserves for local use', () => {
    for (const code of [1005, 1006, 1015]) {
      const c = closeCodeInfo(code);
      if (c) expect(c.sentBy).toBe('none');
    }
  });

  it('SESS-2: session_replaced is a stop code; RECON-5: token_expired refreshes the token; service_restart reconnects now', () => {
    expect(closeClass(4002)).toBe('stop');
    expect(closeClass(4419)).toBe('refresh_token');
    expect(closeClass(1012)).toBe('reconnect_now');
    expect(closeClass(4001)).toBe('reconnect');
  });

  it('RECON-5: codes not in the registry reconnect with backoff', () => {
    for (const code of [1002, 1003, 1007, 1010, 1014, 4000, 4999]) expect(closeClass(code)).toBe('reconnect');
  });
});

describe('error-code registry', () => {
  const codes = Object.entries(ERROR_CODES) as [string, ErrorCodeInfo][];

  it.each(codes)('%s is well-formed and cites existing rules', (key, e) => {
    expect(e.code).toBe(key);
    expect(e.code).toMatch(/^[a-z][a-z_]*$/);
    expect(['error', 'response', 'error_or_response', 'client']).toContain(e.in);
    expect(e.meaning.length).toBeGreaterThan(0);
    expect(e.rules.length).toBeGreaterThan(0);
    for (const id of e.rules) expect(activeIds.has(id), `${key} cites ${id}`).toBe(true);
  });

  it('every code fits the error message schema', () => {
    for (const [code] of codes) expect(validateServerMessage({ type: 'error', code, message: 'm' }).ok).toBe(true);
  });
});

describe('defaults', () => {
  it('DEFAULT_PARAMS (with a token expiry) are valid session params', () => {
    expect(validateServerMessage({ type: 'authenticated', userId: 'u', sessionId: 's', protocol: SUBPROTOCOL, params }).ok).toBe(true);
  });
});
