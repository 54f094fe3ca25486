/**
 * Request actions (REQ-1..8) and the conformance profile (CONF-1..3): `echo`, `publish`, `sleep`.
 * A handler returns the response data (or a promise of it); throwing `ActionError` fails the request
 * with that code, throwing anything else fails it with `internal_error` and no details (REQ-7).
 */
import { isChannelName } from '../../schemas/v1/index.js';
import { RawJson, type ActionOutcome, type Authorize } from '../core/server/index.js';

export interface ActionContext {
  userId: string;
  /** The connection id (as in the logs). */
  conn: number;
}

export type ActionHandler = (payload: unknown, ctx: ActionContext) => unknown;

/** A failure with a registry code (e.g. `invalid_payload`, REQ-8) and a message safe to show. */
export class ActionError extends Error {
  constructor(readonly code: string, message: string) {
    super(message);
    this.name = 'ActionError';
  }
}

/**
 * REQ-1, REQ-8, CONF-1, CONF-2: payloads nested deeper than this are refused with invalid_payload.
 * JSON.parse accepts a 64 KiB frame nested ~32 000 levels deep, but JSON.stringify recurses and
 * overflows the stack a few thousand levels down: such an echo was never answered, and such a publish
 * got a position and was then never delivered, breaking the resume replay after it (found by
 * `mooring fuzz`; regression: conformance/test/fuzz/regressions.test.ts).
 */
export const MAX_PAYLOAD_DEPTH = 1_000;

/** Nesting depth of a JSON value, without recursion; stops counting past `limit`. */
export function jsonDepth(value: unknown, limit = MAX_PAYLOAD_DEPTH): number {
  let max = 0;
  const stack: Array<[unknown, number]> = [[value, 0]];
  while (stack.length) {
    const [v, d] = stack.pop()!;
    if (typeof v !== 'object' || v === null) continue;
    const depth = d + 1;
    if (depth > max) max = depth;
    if (max > limit) return max;
    for (const child of Array.isArray(v) ? v : Object.values(v)) if (typeof child === 'object' && child !== null) stack.push([child, depth]);
  }
  return max;
}

function refuseDeep(payload: unknown): void {
  if (jsonDepth(payload) > MAX_PAYLOAD_DEPTH) throw new ActionError('invalid_payload', `payloads are nested at most ${MAX_PAYLOAD_DEPTH} levels`);
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export interface TestActionDeps {
  authorize: Authorize;
  publish(channel: string, data: unknown): Promise<{ epoch: string; offset: number }>;
}

/** CONF-1..3: the actions every server under test offers. */
export function testActions(deps: TestActionDeps): Record<string, ActionHandler> {
  return {
    // CONF-1
    echo: (payload) => {
      refuseDeep(payload);
      return payload;
    },
    // CONF-2
    publish: async (payload, ctx) => {
      if (!isObject(payload) || !isChannelName(payload.channel) || !('data' in payload)) {
        throw new ActionError('invalid_payload', 'expected {channel, data} with a valid channel name');
      }
      refuseDeep(payload.data);
      if (!deps.authorize(ctx.userId, payload.channel, 'publish')) {
        throw new ActionError('forbidden', 'not allowed to publish to this channel');
      }
      return { position: await deps.publish(payload.channel, payload.data) };
    },
    // CONF-3
    sleep: (payload) => {
      const ms = isObject(payload) ? payload.ms : undefined;
      if (typeof ms !== 'number' || !Number.isInteger(ms) || ms < 0 || ms > 60_000) {
        throw new ActionError('invalid_payload', 'expected {ms} with an integer 0..60000');
      }
      return new Promise((resolve) => setTimeout(() => resolve({ slept: ms }), ms).unref());
    },
  };
}

/**
 * REQ-2, REQ-7, REQ-8: runs one request; never throws nor rejects. The outcome is synchronous when the
 * handler is (no promise hop per request), and its data is the result serialized once (`RawJson`):
 * the serialization both proves the result can go on the wire and is the text the driver sends.
 * `onFailure` sees internal errors (for the log).
 */
export function runAction(
  handlers: ReadonlyMap<string, ActionHandler>,
  action: string,
  payload: unknown,
  ctx: ActionContext,
  onFailure: (err: unknown) => void,
): ActionOutcome | Promise<ActionOutcome> {
  const handler = handlers.get(action);
  // LOG-2: a long "action" may be a token pasted into the wrong field: named only when short.
  if (!handler) return { ok: false, code: 'unknown_action', message: action.length <= 24 ? `no action named "${action}"` : `no such action (${action.length} characters, not shown)` };
  let result: unknown;
  try {
    result = handler(payload, ctx);
  } catch (err) {
    return failure(err, onFailure);
  }
  if (result instanceof Promise) return result.then((data) => success(data, onFailure), (err: unknown) => failure(err, onFailure));
  return success(result, onFailure);
}

function success(data: unknown, onFailure: (err: unknown) => void): ActionOutcome {
  if (data === undefined) return { ok: true };
  try {
    // a result that cannot go on the wire (BigInt, cycles, nested too deep to serialize) is the handler's failure
    if (typeof data === 'object' && data !== null && jsonDepth(data) > MAX_PAYLOAD_DEPTH) throw new Error('the action result is nested too deep');
    const json = JSON.stringify(data);
    // undefined from toJSON or a function: as JSON.stringify inside an object would, the field is left out
    return json === undefined ? { ok: true } : { ok: true, data: new RawJson(json) };
  } catch (err) {
    return failure(err, onFailure);
  }
}

function failure(err: unknown, onFailure: (err: unknown) => void): ActionOutcome {
  // ErrorBody.message is at most 1024 characters on the wire.
  if (err instanceof ActionError) return { ok: false, code: err.code, message: err.message.slice(0, 1024) };
  onFailure(err);
  return { ok: false, code: 'internal_error', message: 'the action failed' };
}
