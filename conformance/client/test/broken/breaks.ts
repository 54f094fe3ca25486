/**
 * Broken clients for the harness's self-test: the reference client with exactly one rule broken, run
 * through the same Node driver (`driver.ts <break>`); each break names the rule the
 * harness must catch (BREAKS below). The patches reach into the client core at runtime (its private
 * fields are plain properties in JS), the way a buggy client would behave, without touching the
 * reference client itself.
 */
import type { ClientLike, DriverHooks } from '../../drivers/driver-core.js';
import type { CoreAction, CoreInput } from '../../../../reference/core/client/types.js';

type Core = {
  handle(i: CoreInput, now: number): CoreAction[];
  request(action: string, payload: unknown, opts: { timeoutMs?: number }, now: number): { id: string; actions: CoreAction[] };
  attempt: number;
  pongDeadline: number | undefined;
  conn: number;
};

/** Wraps the core's `handle`: `before` may rewrite the input, `after` the actions. */
function patchCore(before: (i: CoreInput, core: Core) => CoreInput, after: (a: CoreAction[], i: CoreInput, core: Core) => CoreAction[] = (a) => a): DriverHooks['onClient'] {
  return (client: ClientLike) => {
    const core = (client as unknown as { core: Core }).core;
    const handle = core.handle.bind(core);
    core.handle = (i, now) => {
      const input = before(i, core);
      return after(handle(input, now), input, core);
    };
  };
}

const sentRequests: { conn: number; message: CoreAction & { type: 'send' } }[] = [];

/** Break name → the rule it breaks and how. */
export const BREAKS: Record<string, { rule: string; hooks: DriverHooks; /** The case that must catch it (default: every case citing the rule). */ case?: string }> = {
  // RECON-1: always waits d (random() = 1): no jitter, clients come back together.
  'no-jitter': { rule: 'RECON-1', hooks: { clientOptions: { random: () => 1 } } },
  // RECON-1: no cap: the delay keeps doubling.
  'no-cap': { rule: 'RECON-1', hooks: { clientOptions: { backoffCapMs: 1e9 } } },
  // RECON-2: resets the attempt counter when the socket opens.
  'counter-reset-on-open': {
    rule: 'RECON-2', case: 'recon.stable-reset',
    hooks: { onClient: patchCore((i, core) => { if (i.type === 'socket_open') core.attempt = 0; return i; }) },
  },
  // SESS-2: treats 4002 session_replaced like any reconnect-class close.
  'reconnects-after-4002': {
    rule: 'SESS-2', case: 'recon.stop',
    hooks: { onClient: patchCore((i) => (i.type === 'socket_closed' && i.code === 4002 ? { ...i, code: 1011, reason: 'internal_error' } : i)) },
  },
  // SUB-10: forgets its subscriptions after a reconnect.
  'forgets-subscriptions': {
    rule: 'SUB-10', case: 'sub.resubscribe',
    hooks: { onClient: patchCore((i) => i, (a) => a.filter((x) => !(x.type === 'send' && x.message.type === 'subscribe' && x.conn > 1))) },
  },
  // SUB-10: re-subscribes without the last position (no since).
  'resubscribes-without-positions': {
    rule: 'SUB-10', case: 'sub.resubscribe',
    hooks: {
      onClient: patchCore((i) => i, (a) => a.map((x) => (x.type === 'send' && x.message.type === 'subscribe' ? { ...x, message: { type: 'subscribe', channel: x.message.channel } } : x))),
    },
  },
  // AUTH-1 / RECON-6: pings before auth.
  'sends-before-auth': {
    rule: 'AUTH-1', case: 'auth.first-frame',
    hooks: {
      onClient: patchCore((i) => i, (a, i) => (i.type === 'socket_open' ? [{ type: 'send', conn: i.conn, message: { type: 'ping' } } as CoreAction, ...a] : a)),
    },
  },
  // REQ-6: re-sends the requests of an earlier connection after the next authenticated.
  'resends-in-flight-requests': {
    rule: 'REQ-6', case: 'req.disconnect',
    hooks: {
      onClient: (client) => {
        const core = (client as unknown as { core: Core }).core;
        const record = (a: CoreAction[]) => {
          for (const x of a) if (x.type === 'send' && x.message.type === 'request') sentRequests.push({ conn: x.conn, message: x });
          return a;
        };
        const request = core.request.bind(core);
        core.request = (action, payload, opts, now) => {
          const r = request(action, payload, opts, now);
          return { ...r, actions: record(r.actions) };
        };
        patchCore((i) => i, (a) => {
          const out = [...record(a)];
          for (const x of a) {
            if (x.type === 'emit' && x.event.type === 'authenticated' && !x.event.reauth) {
              for (const r of sentRequests.filter((s) => s.conn !== core.conn)) out.push({ ...r.message, conn: core.conn });
            }
          }
          return out;
        })!(client);
      },
    },
  },
  // REQ-5: never times out a request.
  'never-times-out-requests': {
    rule: 'REQ-5', case: 'req.timeout',
    hooks: {
      onClient: (client) => {
        const core = (client as unknown as { core: Core }).core;
        const request = core.request.bind(core);
        core.request = (action, payload, opts, now) => request(action, payload, { ...opts, timeoutMs: 1e9 }, now);
      },
    },
  },
  // HB-3: ignores a pong timeout (never declares the connection dead).
  'ignores-pong-timeout': {
    rule: 'HB-3', case: 'hb.pong-timeout',
    hooks: { onClient: patchCore((i, core) => { core.pongDeadline = undefined; return i; }) },
  },
  // RECON-4: ignores retry hints.
  'ignores-retry-hints': {
    rule: 'RECON-4', case: 'recon.retry-hint',
    hooks: { onClient: patchCore((i) => (i.type === 'socket_closed' ? { ...i, reason: i.reason.replace(/;retry=\d+/, '') } : i)) },
  },
  // ERR-6: free-form close reasons.
  'free-form-close-reasons': {
    rule: 'ERR-6', case: 'err.client-close',
    hooks: { onClient: patchCore((i) => i, (a) => a.map((x) => (x.type === 'close_socket' ? { ...x, reason: 'client says goodbye' } : x))) },
  },
};

