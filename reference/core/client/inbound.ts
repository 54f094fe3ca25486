/**
 * ROBUST-1, ROBUST-2: validation of what a server sends, against the generated JSON Schema
 * (`schemas/v1/messages.schema.json`, the one source of every message shape). The server side uses
 * ajv (`schemas/v1/validate.ts`); the client core must run in browsers without ajv (no `new
 * Function`, a small bundle), so it interprets the schema itself. The generated schema uses only
 * these keywords: `$ref`, `anyOf`, `const`, `enum`, `type`, `properties`, `required`, `pattern`,
 * `minLength`, `maxLength`, `minimum` (a test fails when a new one appears, and a property-based test
 * checks this validator agrees with ajv).
 */
import schema from '../../../schemas/v1/messages.schema.json' with { type: 'json' };
import type { ServerMessage } from '../../../schemas/v1/messages.js';

type Schema = {
  $ref?: string;
  anyOf?: Schema[];
  const?: unknown;
  enum?: unknown[];
  type?: string | string[];
  properties?: Record<string, Schema>;
  required?: string[];
  pattern?: string;
  minLength?: number;
  maxLength?: number;
  minimum?: number;
};

const DEFS = (schema as unknown as { definitions: Record<string, Schema> }).definitions;

/** The keywords this validator understands; anything else in the schema is a bug here. */
export const SUPPORTED_KEYWORDS = ['$ref', 'anyOf', 'const', 'enum', 'type', 'properties', 'required', 'pattern', 'minLength', 'maxLength', 'minimum', 'description', 'title', '$id', '$schema', 'definitions'];

/** Definition name per server message `type` (the same table as `schemas/v1/validate.ts`). */
const SERVER_DEFS: Record<ServerMessage['type'], string> = {
  authenticated: 'AuthenticatedMessage',
  response: 'ResponseMessage',
  subscribed: 'SubscribedMessage',
  unsubscribed: 'UnsubscribedMessage',
  push: 'PushMessage',
  pong: 'PongMessage',
  token_expiring: 'TokenExpiringMessage',
  error: 'ErrorMessage',
};

const patterns = new Map<string, RegExp>();
const own = (o: object, k: string) => Object.prototype.hasOwnProperty.call(o, k);

function typeOk(t: string, v: unknown): boolean {
  switch (t) {
    case 'object': return typeof v === 'object' && v !== null && !Array.isArray(v);
    case 'array': return Array.isArray(v);
    case 'string': return typeof v === 'string';
    case 'integer': return typeof v === 'number' && Number.isInteger(v);
    case 'number': return typeof v === 'number' && Number.isFinite(v);
    case 'boolean': return typeof v === 'boolean';
    case 'null': return v === null;
    default: return false;
  }
}

/** Returns why `v` fails `s` (a JSON-pointer-ish path and a reason), or undefined when it fits. */
function check(s: Schema, v: unknown, path: string, depth = 0): string | undefined {
  if (depth > 32) return `${path} nests too deep`;
  if (s.$ref !== undefined) {
    const def = DEFS[s.$ref.replace('#/definitions/', '')];
    if (!def) return `${path}: unknown schema ${s.$ref}`;
    const e = check(def, v, path, depth + 1);
    if (e) return e;
  }
  if (s.anyOf) {
    let first: string | undefined;
    for (const alt of s.anyOf) {
      const e = check(alt, v, path, depth + 1);
      if (e === undefined) { first = undefined; break; }
      first ??= e;
    }
    if (first !== undefined) return first;
  }
  if (own(s, 'const') && v !== s.const) return `${path} must be ${JSON.stringify(s.const)}`;
  if (s.enum && !s.enum.includes(v)) return `${path} must be one of ${JSON.stringify(s.enum)}`;
  if (s.type !== undefined) {
    const types = Array.isArray(s.type) ? s.type : [s.type];
    if (!types.some((t) => typeOk(t, v))) return `${path} must be ${types.join(' or ')}`;
  }
  if (typeof v === 'string') {
    const len = s.minLength !== undefined || s.maxLength !== undefined ? [...v].length : 0;
    if (s.minLength !== undefined && len < s.minLength) return `${path} is shorter than ${s.minLength}`;
    if (s.maxLength !== undefined && len > s.maxLength) return `${path} is longer than ${s.maxLength}`;
    if (s.pattern !== undefined) {
      let re = patterns.get(s.pattern);
      if (!re) patterns.set(s.pattern, (re = new RegExp(s.pattern, 'u')));
      if (!re.test(v)) return `${path} must match ${s.pattern}`;
    }
  }
  if (typeof v === 'number' && s.minimum !== undefined && v < s.minimum) return `${path} must be >= ${s.minimum}`;
  if (typeof v === 'object' && v !== null && !Array.isArray(v)) {
    for (const k of s.required ?? []) if (!own(v, k)) return `${path || '(message)'} must have property '${k}'`;
    for (const [k, sub] of Object.entries(s.properties ?? {})) {
      if (own(v, k)) {
        const e = check(sub, (v as Record<string, unknown>)[k], `${path}/${k}`, depth + 1);
        if (e) return e;
      }
    }
  }
  return undefined;
}

export type InboundFrame =
  | { kind: 'message'; message: ServerMessage }
  /** Not JSON, or not an object with a string `type`. */
  | { kind: 'not_a_message'; error: string }
  /** An object with a string `type` that fails the schema (or of an unknown type). */
  | { kind: 'invalid'; type: string; error: string };

/** Parses and validates one text frame from the server. Never throws. */
export function parseInbound(text: string): InboundFrame {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    return { kind: 'not_a_message', error: 'not JSON' };
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return { kind: 'not_a_message', error: 'not a JSON object' };
  const type = (v as { type?: unknown }).type;
  if (typeof type !== 'string') return { kind: 'not_a_message', error: '/type must be a string' };
  if (!own(SERVER_DEFS, type)) return { kind: 'invalid', type, error: `unknown server message type "${type.slice(0, 40)}"` };
  let def = SERVER_DEFS[type as ServerMessage['type']];
  if (def === 'ResponseMessage') def = (v as { success?: unknown }).success === false ? 'FailureResponse' : 'SuccessResponse';
  const error = check(DEFS[def]!, v, '');
  return error === undefined ? { kind: 'message', message: v as ServerMessage } : { kind: 'invalid', type, error: error.slice(0, 200) };
}
