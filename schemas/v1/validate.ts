/**
 * Runtime validation of every Mooring v1 message against the generated JSON Schema (compiled once
 * with ajv). Used by the server on receive and on send, by the conformance suite on everything the
 * server under test sends, and by tests.
 */
import { Ajv, type ValidateFunction, type ErrorObject } from 'ajv';
import schema from './messages.schema.json' with { type: 'json' };
import type { ClientMessage, ServerMessage } from './messages.js';

const ajv = new Ajv({ allErrors: false, strict: false });
ajv.addSchema(schema as object, 'mooring-v1');

function compile(name: string): ValidateFunction {
  return ajv.getSchema(`mooring-v1#/definitions/${name}`) ?? fail(name);
}
function fail(name: string): never {
  throw new Error(`schema definition missing: ${name}`);
}

/** Definition name per message `type`. A `type` absent here is unknown (ERR-2). */
const CLIENT_DEFS: Record<ClientMessage['type'], string> = {
  auth: 'AuthMessage',
  request: 'RequestMessage',
  subscribe: 'SubscribeMessage',
  unsubscribe: 'UnsubscribeMessage',
  ping: 'PingMessage',
};
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

const clientValidators = new Map(Object.entries(CLIENT_DEFS).map(([t, d]) => [t, compile(d)]));
const serverValidators = new Map(
  Object.entries(SERVER_DEFS).map(([t, d]) => [t, d === 'ResponseMessage' ? compileResponse() : compile(d)]),
);
function compileResponse(): ValidateFunction {
  const ok = compile('SuccessResponse');
  const bad = compile('FailureResponse');
  const v = ((data: unknown) => {
    const isFailure = typeof data === 'object' && data !== null && (data as { success?: unknown }).success === false;
    const f = isFailure ? bad : ok;
    const r = f(data);
    v.errors = f.errors;
    return r;
  }) as ValidateFunction;
  return v;
}

export type Validation<T> = { ok: true; message: T } | { ok: false; error: string };

function describe(errors: ErrorObject[] | null | undefined): string {
  const e = errors?.[0];
  if (!e) return 'invalid message';
  const where = e.instancePath || '(message)';
  return `${where} ${e.message ?? 'is invalid'}`.slice(0, 300);
}

function validateWith<T>(table: Map<string, ValidateFunction>, value: unknown, side: string): Validation<T> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    return { ok: false, error: 'a message must be a JSON object' };
  }
  const type = (value as { type?: unknown }).type;
  if (typeof type !== 'string') return { ok: false, error: '/type must be a string' };
  const v = table.get(type);
  // LOG-2: an unknown type is named only when it looks like a type name; anything else (a token
  // pasted into the wrong field) is never echoed, only its length.
  if (!v) return { ok: false, error: `unknown ${side} message type ${/^[a-z][a-z_]{0,23}$/.test(type) ? `"${type}"` : `(${type.length} characters, not shown)`}` };
  return v(value) ? { ok: true, message: value as T } : { ok: false, error: describe(v.errors) };
}

/** ERR-2: validates a message a client sent. */
export function validateClientMessage(value: unknown): Validation<ClientMessage> {
  return validateWith<ClientMessage>(clientValidators, value, 'client');
}

/** Validates a message a server sent (the server checks its own output; the suite checks the server's). */
export function validateServerMessage(value: unknown): Validation<ServerMessage> {
  return validateWith<ServerMessage>(serverValidators, value, 'server');
}

/** SUB-1: whether a string is a valid channel name, by the schema (no second copy of the pattern). */
export function isChannelName(channel: unknown): channel is string {
  return validateClientMessage({ type: 'unsubscribe', channel }).ok;
}

export type ParsedFrame<T> =
  | { kind: 'message'; message: T }
  | { kind: 'invalid_json' }
  | { kind: 'invalid_message'; error: string };

/** ERR-1, ERR-2: parses one text frame into a valid client message or says why it is not one. */
export function parseClientFrame(text: string): ParsedFrame<ClientMessage> {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return { kind: 'invalid_json' };
  }
  const r = validateClientMessage(value);
  return r.ok ? { kind: 'message', message: r.message } : { kind: 'invalid_message', error: r.error };
}

/** Parses one text frame from a server. */
export function parseServerFrame(text: string): ParsedFrame<ServerMessage> {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return { kind: 'invalid_json' };
  }
  const r = validateServerMessage(value);
  return r.ok ? { kind: 'message', message: r.message } : { kind: 'invalid_message', error: r.error };
}
