/**
 * fast-check arbitraries derived from the committed JSON Schema (`schemas/v1/messages.schema.json`),
 * never from hand-copied shapes: when a message type gains a field, a pattern or a bound, the fuzzer
 * generates it (and its violations) with no change here.
 *
 * - `validMessage(type)`: any message of a client type that passes the schema.
 * - `mutatedFrame(type)`: a frame built from a valid message by one mutation, with the verdict the
 *   spec asks for: still valid (extra properties, VER-7), `invalid_message` (ERR-2, SUB-1) or
 *   `invalid_json` (ERR-1). Every verdict follows from the mutation; `schema-arb.test.ts` checks each
 *   one against ajv.
 */
import fc from 'fast-check';
import schema from '../../schemas/v1/messages.schema.json' with { type: 'json' };

export type JsonSchema = {
  $ref?: string;
  type?: string | string[];
  const?: unknown;
  enum?: unknown[];
  anyOf?: JsonSchema[];
  oneOf?: JsonSchema[];
  properties?: Record<string, JsonSchema>;
  required?: string[];
  pattern?: string;
  minLength?: number;
  maxLength?: number;
  minimum?: number;
  maximum?: number;
  items?: JsonSchema;
};

const root = schema as unknown as { definitions: Record<string, JsonSchema> };

export function resolve(node: JsonSchema): JsonSchema {
  let n = node;
  for (let i = 0; n.$ref && i < 16; i++) {
    const name = n.$ref.replace('#/definitions/', '');
    const def = root.definitions[name];
    if (!def) throw new Error(`schema: unresolved $ref ${n.$ref}`);
    n = { ...def, ...Object.fromEntries(Object.entries(n).filter(([k]) => k !== '$ref')) };
  }
  return n;
}

/** Client message types and their definitions, read from the schema's `ClientMessage` union. */
export const CLIENT_TYPES: Record<string, JsonSchema> = Object.fromEntries(
  (root.definitions.ClientMessage?.anyOf ?? []).map((ref) => {
    const def = resolve(ref);
    const t = def.properties?.type?.const;
    if (typeof t !== 'string') throw new Error('schema: a client message without a const type');
    return [t, def];
  }),
);
export const SERVER_TYPES: string[] = (root.definitions.ServerMessage?.anyOf ?? []).map((ref) => String(resolve(ref).properties?.type?.const));
export const clientTypeNames = Object.keys(CLIENT_TYPES);

function types(n: JsonSchema): string[] {
  return n.type === undefined ? [] : Array.isArray(n.type) ? n.type : [n.type];
}

/** Any JSON value (for `Json` fields: no `type` in the schema). Small by default. */
export const jsonValue = fc.jsonValue({ maxDepth: 3, depthSize: 'small' });

/** An arbitrary of values the schema node accepts. */
export function arbitraryFor(node: JsonSchema): fc.Arbitrary<unknown> {
  const n = resolve(node);
  if (n.const !== undefined) return fc.constant(n.const);
  if (n.enum) return fc.constantFrom(...n.enum);
  const alts = n.anyOf ?? n.oneOf;
  if (alts) return fc.oneof(...alts.map(arbitraryFor));
  const ts = types(n);
  if (ts.length > 1) return fc.oneof(...ts.map((t) => arbitraryFor({ ...n, type: t })));
  switch (ts[0]) {
    case undefined: return jsonValue;
    case 'null': return fc.constant(null);
    case 'boolean': return fc.boolean();
    case 'integer': return fc.integer({ min: n.minimum ?? -1e6, max: n.maximum ?? Math.max((n.minimum ?? 0) + 1e6, 1e6) });
    case 'number': return fc.double({ min: n.minimum ?? -1e6, max: n.maximum ?? 1e6, noNaN: true, noDefaultInfinity: true });
    case 'string': {
      const max = n.maxLength;
      if (n.pattern) {
        const s = fc.stringMatching(new RegExp(n.pattern));
        return max === undefined ? s : s.filter((x) => x.length <= max && x.length >= (n.minLength ?? 0));
      }
      return fc.string({ minLength: n.minLength ?? 0, maxLength: Math.min(max ?? 32, 32) });
    }
    case 'array': return fc.array(n.items ? arbitraryFor(n.items) : jsonValue, { maxLength: 4 });
    case 'object': {
      const props = n.properties ?? {};
      const model = Object.fromEntries(Object.entries(props).map(([k, v]) => [k, arbitraryFor(v)]));
      return fc.record(model, { requiredKeys: (n.required ?? []).filter((k) => k in props) });
    }
    default: throw new Error(`schema: unsupported type ${String(ts[0])}`);
  }
}

/** A valid client message of `type` (every field drawn from its schema). */
export function validMessage(type: string): fc.Arbitrary<Record<string, unknown>> {
  const def = CLIENT_TYPES[type];
  if (!def) throw new Error(`schema: no client message type ${type}`);
  return arbitraryFor(def) as fc.Arbitrary<Record<string, unknown>>;
}

export const anyValidMessage = fc.constantFrom(...clientTypeNames).chain((t) => validMessage(t));

// --- mutations ----------------------------------------------------------------------------------

export type Verdict = 'valid' | 'invalid_message' | 'invalid_json';

export interface MutatedFrame {
  /** The text frame to send. */
  text: string;
  verdict: Verdict;
  /** For the transcript: which mutation. */
  how: string;
  /** With verdict `valid`: the message the server must treat it as (extra properties ignored, VER-7). */
  base?: Record<string, unknown>;
}

/** A JSON value of a type the node does not accept (wrong type). */
function wrongTypeValue(node: JsonSchema): fc.Arbitrary<unknown> | null {
  const n = resolve(node);
  const ts = types(n);
  if (ts.length === 0 && !n.const && !n.enum && !n.anyOf) return null; // Json: anything goes
  const accepts = (v: unknown): boolean => {
    if (n.const !== undefined) return v === n.const;
    if (n.enum) return n.enum.includes(v);
    const t = v === null ? 'null' : Array.isArray(v) ? 'array' : typeof v;
    return ts.some((x) => x === t || (x === 'integer' && typeof v === 'number' && Number.isInteger(v)) || (x === 'number' && typeof v === 'number'));
  };
  const candidates: unknown[] = [null, true, 0, 1.5, -1, '', 'x', [], {}, ['x'], { a: 1 }];
  const wrong = candidates.filter((v) => !accepts(v) && !(n.const === undefined && !n.enum && ts.includes('string') && typeof v === 'string'));
  return wrong.length ? fc.constantFrom(...wrong) : null;
}

/** Values at and beyond the node's bounds: [value, valid?]. */
function boundaryValues(node: JsonSchema): Array<[unknown, boolean]> {
  const n = resolve(node);
  const out: Array<[unknown, boolean]> = [];
  const ts = types(n);
  if (ts.includes('string') && n.const === undefined && !n.enum) {
    const min = n.minLength ?? 0;
    const patternOk = n.pattern ? new RegExp(n.pattern) : null;
    const fill = (len: number) => 'a'.repeat(len);
    const okByPattern = (s: string) => !patternOk || patternOk.test(s);
    if (n.maxLength !== undefined) {
      out.push([fill(n.maxLength), okByPattern(fill(n.maxLength))], [fill(n.maxLength + 1), false]);
    }
    if (min > 0) out.push([fill(min - 1), false]);
    if (n.pattern) {
      // the longest string the pattern allows, and one more; a leading separator; a space; non-ASCII
      const m = /\{0,(\d+)\}\$$/.exec(n.pattern);
      if (m) {
        const longest = 1 + Number(m[1]);
        out.push([fill(longest), true], [fill(longest + 1), false]);
      }
      for (const s of ['-a', '.a', 'a b', 'é', 'a\u0000', '']) out.push([s, okByPattern(s) && s.length >= min && (n.maxLength === undefined || s.length <= n.maxLength)]);
    }
  }
  if (ts.includes('integer') || ts.includes('number')) {
    const min = n.minimum;
    if (min !== undefined) out.push([min, true], [min - 1, false]);
    if (ts.includes('integer') && !ts.includes('number')) out.push([0.5 + (min ?? 0), false]);
    out.push([Number.MAX_SAFE_INTEGER, true], [1e300, true]);
  }
  return out;
}

/** `{"type":...}` text with extra raw `"key":value` pairs spliced in (keeps `__proto__` as a plain key). */
function withExtra(m: Record<string, unknown>, extra: Array<[string, unknown]>): string {
  const body = JSON.stringify(m);
  const pairs = extra.map(([k, v]) => `${JSON.stringify(k)}:${JSON.stringify(v)}`).join(',');
  return body === '{}' ? `{${pairs}}` : `{${pairs},${body.slice(1)}`;
}

const extraKey = fc.oneof(
  fc.constantFrom('__proto__', 'constructor', 'prototype', 'toString', 'hasOwnProperty', 'then', 'x-extra'),
  fc.string({ minLength: 1, maxLength: 12 }),
);

/** A mutated frame of a message of `type`. */
export function mutatedFrame(type: string): fc.Arbitrary<MutatedFrame> {
  const def = CLIENT_TYPES[type]!;
  const props = Object.keys(def.properties ?? {});
  const required = (def.required ?? []).filter((k) => k !== 'type');
  const base = validMessage(type);
  const options: Array<fc.Arbitrary<MutatedFrame>> = [];

  // VER-7: unknown properties are ignored (including names that are special in JavaScript).
  options.push(fc.tuple(base, fc.array(fc.tuple(extraKey, jsonValue), { minLength: 1, maxLength: 3 })).map(([m, extra]) => {
    const clean = extra.filter(([k]) => !props.includes(k));
    return { text: withExtra(m, clean), verdict: clean.some(([k]) => k === 'type') ? 'invalid_message' as const : 'valid' as const, how: `extra properties ${clean.map(([k]) => k).join(',')}`, base: m };
  }).map((f) => {
    // a duplicate "type" key would change the message: drop that case to a plain extra property
    return f.text.includes('"type":') && (f.text.match(/"type":/g) ?? []).length > 1 ? { ...f, text: JSON.stringify(f.base), how: 'no extra', verdict: 'valid' as const } : f;
  }));
  // ERR-2: a required field missing.
  for (const k of [...required, 'type']) {
    options.push(base.map((m) => {
      const c = { ...m };
      delete c[k];
      return { text: JSON.stringify(c), verdict: 'invalid_message' as const, how: `missing ${k}` };
    }));
  }
  // ERR-2: a field of the wrong type.
  for (const k of props) {
    const w = wrongTypeValue(def.properties![k]!);
    if (!w) continue;
    options.push(fc.tuple(base, w).map(([m, v]) => ({ text: JSON.stringify({ ...m, [k]: v }), verdict: 'invalid_message' as const, how: `${k} of the wrong type` })));
  }
  // Boundaries: strings at and beyond their length and pattern, numbers at and below their minimum.
  for (const k of props) {
    const node = resolve(def.properties![k]!);
    const direct = boundaryValues(node).map(([v, ok]) => ({ path: [k], v, ok }));
    const nested = Object.entries(node.properties ?? {}).flatMap(([k2, n2]) => boundaryValues(n2).map(([v, ok]) => ({ path: [k, k2], v, ok })));
    const all = [...direct, ...nested];
    if (!all.length) continue;
    options.push(fc.tuple(base, fc.constantFrom(...all), arbitraryFor(node)).map(([m, b, whole]) => {
      const c: Record<string, unknown> = { ...m };
      if (b.path.length === 1) c[k] = b.v;
      else c[k] = { ...(whole as Record<string, unknown>), [b.path[1]!]: b.v };
      const text = JSON.stringify(c);
      return { text, verdict: b.ok ? 'valid' as const : 'invalid_message' as const, how: `${b.path.join('.')} = ${JSON.stringify(b.v).slice(0, 20)}${String(b.v).length > 20 ? '…' : ''}`, base: c };
    }));
  }
  return fc.oneof(...options);
}

/** ERR-2: valid JSON that is not a message (not an object, an unknown or non-string type). */
export const notAMessage: fc.Arbitrary<MutatedFrame> = fc.oneof(
  fc.oneof(fc.constantFrom('null', '[]', '1', '"ping"', 'true', '[{"type":"ping"}]'), jsonValue.filter((v) => typeof v !== 'object' || v === null || Array.isArray(v)).map((v) => JSON.stringify(v)))
    .map((text) => ({ text, verdict: 'invalid_message' as const, how: 'not an object' })),
  fc.oneof(fc.string({ maxLength: 12 }), fc.constantFrom(...SERVER_TYPES, 'Ping', 'PING', ' ping', '__proto__', 'constructor', 'toString'))
    .filter((t) => !(t in CLIENT_TYPES) || !Object.prototype.hasOwnProperty.call(CLIENT_TYPES, t))
    .map((t) => ({ text: JSON.stringify({ type: t }), verdict: 'invalid_message' as const, how: `unknown type ${JSON.stringify(t).slice(0, 20)}` })),
  fc.constantFrom(null, 1, true, ['ping'], { t: 'ping' }).map((t) => ({ text: JSON.stringify({ type: t }), verdict: 'invalid_message' as const, how: 'type not a string' })),
  // LOG-2: a token pasted into the type field (never echoed)
  fc.stringMatching(/^[A-Za-z0-9_-]{17,48}$/).map((t) => ({ text: JSON.stringify({ type: t }), verdict: 'invalid_message' as const, how: `a token-like type of ${t.length} characters` })),
);

function isJson(text: string): boolean {
  try {
    JSON.parse(text);
    return true;
  } catch {
    return false;
  }
}

/** ERR-1: text that is not JSON. */
export const notJson: fc.Arbitrary<MutatedFrame> = fc.oneof(
  fc.constantFrom('', '{', '{"type":"ping"', "{'type':'ping'}", '{"type":"ping"}}', 'undefined', 'NaN', '{"type":"ping",}', '\u0000', '\ufeff{"type":"ping"}'),
  fc.string({ maxLength: 20 }),
  anyValidMessage.chain((m) => {
    const t = JSON.stringify(m);
    return fc.integer({ min: 1, max: Math.max(1, t.length - 1) }).map((cut) => t.slice(0, cut));
  }),
).filter((t) => !isJson(t)).map((text) => ({ text, verdict: 'invalid_json' as const, how: 'not JSON' }));
