/**
 * Every break is observable: for each entry of BREAKS, one probe runs against the broken server and
 * against the unbroken one with the same options, and the two observations must differ. The probe
 * table is typed by BreakName, so a new break without a probe does not compile.
 * Real sockets on 127.0.0.1 port 0; every wait is on an event (server ping frames serve as the clock
 * where a probe must see that something does NOT happen).
 */
import { afterEach, describe, expect, it } from 'vitest';
import { BREAKS, type BreakName, type RawServer, type RawServerOptions } from './server.js';
import { Client, closesWithin, describeMsg, firstEvent, handshakeOutcome, runCleanups, server, type Msg } from './test-client.js';

afterEach(runCleanups);

interface Probe {
  options?: RawServerOptions;
  /** Returns an observation; the broken and unbroken servers must give different ones. */
  run: (s: RawServer) => Promise<unknown>;
}

/** Messages up to and including the response to an echo sent now (a barrier). */
async function barrier(c: Client): Promise<Msg[]> {
  const id = `barrier-${Math.random()}`;
  c.send({ type: 'request', id, action: 'echo' });
  return c.until((m) => m.requestId === id);
}

async function subscribed(c: Client, channel: string): Promise<Msg> {
  c.send({ type: 'subscribe', channel });
  return c.next((m) => m.type === 'subscribed' && m.channel === channel);
}

const pushesBefore = async (c: Client) => (await barrier(c)).filter((m) => m.type === 'push').map((m) => m.data);

const httpStatus = async (s: RawServer, path: string, method: string, token: string) =>
  (await fetch(`${s.httpUrl}${path}`, { method, headers: { authorization: `Bearer ${token}` } })).status;

const PROBES: { [K in BreakName]: Probe } = {
  // Transport and versioning
  'no-subprotocol-selected': { run: (s) => handshakeOutcome(s.url) },
  'no-subprotocol-check': { run: (s) => handshakeOutcome(s.url, { protocols: ['other.v9'] }) },
  'rejects-no-subprotocol': { run: (s) => handshakeOutcome(s.url, { protocols: [] }) },
  'binary-frame-out': {
    run: async (s) => {
      const c = await Client.authed(s.url);
      c.send({ type: 'ping' });
      await c.next((m) => m.type === 'pong');
      return c.binaryFrames;
    },
  },
  'binary-closes': {
    run: async (s) => {
      const c = await Client.authed(s.url);
      c.ws.send(Buffer.from('{"type":"ping"}'), { binary: true });
      return firstEvent(c);
    },
  },
  'rejects-unknown-props': {
    run: async (s) => {
      const c = await Client.authed(s.url);
      c.send({ type: 'ping', future: true });
      return firstEvent(c);
    },
  },
  // Authentication
  'wrong-auth-timeout-code': { options: { authTimeoutMs: 50 }, run: async (s) => (await (await Client.connect(s.url)).closed).code },
  'no-auth-deadline': {
    options: { authTimeoutMs: 50, heartbeatIntervalMs: 30 },
    run: async (s) => closesWithin(await Client.connect(s.url), 6),
  },
  'accepts-before-auth': {
    run: async (s) => {
      const c = await Client.connect(s.url);
      c.send({ type: 'request', id: 'early', action: 'echo' });
      return firstEvent(c);
    },
  },
  'wrong-before-auth-code': {
    run: async (s) => {
      const c = await Client.connect(s.url);
      c.send({ type: 'ping' });
      return firstEvent(c);
    },
  },
  'accepts-bad-token': {
    run: async (s) => {
      const c = await Client.connect(s.url);
      c.send({ type: 'auth', token: 'not-a-token' });
      return firstEvent(c);
    },
  },
  'wrong-bad-token-code': {
    run: async (s) => {
      const c = await Client.connect(s.url);
      c.send({ type: 'auth', token: 'not-a-token' });
      return firstEvent(c);
    },
  },
  'no-session-id': {
    run: async (s) => {
      const c = await Client.connect(s.url);
      c.send({ type: 'auth', token: 'T1' });
      return typeof (await c.next()).sessionId;
    },
  },
  'token-in-url-accepted': { run: (s) => handshakeOutcome(`${s.url}?token=T1`) },
  'no-token-expiry': {
    options: { tokenWarningMs: 100, heartbeatIntervalMs: 50 },
    run: async (s) => {
      const c = await Client.authed(s.url, s.createToken('alice', { ttlMs: 200 }));
      const events: string[] = [];
      c.ws.on('message', (d) => events.push(describeMsg(JSON.parse(d.toString()))));
      events.push(await closesWithin(c, 10));
      return events.join(', ');
    },
  },
  'reauth-switches-user': {
    run: async (s) => {
      const c = await Client.authed(s.url, 'T1');
      c.send({ type: 'auth', token: 'T2' });
      const m = await c.next();
      return `${describeMsg(m)} ${m.userId ?? ''}`;
    },
  },
  'reauth-drops-subscriptions': {
    run: async (s) => {
      const c = await Client.authed(s.url, 'T1');
      await subscribed(c, 'room');
      c.send({ type: 'auth', token: 'T1' });
      await c.next((m) => m.type === 'authenticated');
      s.publish('room', 'after re-auth');
      return pushesBefore(c);
    },
  },
  'reauth-new-session-id': {
    run: async (s) => {
      const c = await Client.connect(s.url);
      c.send({ type: 'auth', token: 'T1' });
      const first = await c.next((m) => m.type === 'authenticated');
      c.send({ type: 'auth', token: 'T1' });
      const again = await c.next((m) => m.type === 'authenticated');
      return again.sessionId === first.sessionId ? 'same sessionId' : 'new sessionId';
    },
  },
  'accepts-expired-token': {
    run: async (s) => {
      const c = await Client.connect(s.url);
      c.send({ type: 'auth', token: s.createToken('carol', { expiresAt: Date.now() - 1_000 }) });
      return firstEvent(c);
    },
  },
  // Requests and responses
  'duplicate-response': {
    run: async (s) => {
      const c = await Client.authed(s.url);
      c.send({ type: 'request', id: 'once', action: 'echo', payload: 1 });
      return (await barrier(c)).filter((m) => m.requestId === 'once').length;
    },
  },
  'unknown-action-wrong-code': { run: async (s) => (await (await Client.authed(s.url)).request('no.such.action')).error.code },
  'serial-requests': {
    run: async (s) => {
      const c = await Client.authed(s.url);
      c.send({ type: 'request', id: 'slow', action: 'sleep', payload: { ms: 200 } });
      c.send({ type: 'request', id: 'fast', action: 'echo' });
      return (await c.next((m) => m.type === 'response')).requestId;
    },
  },
  'executes-duplicate-request': {
    run: async (s) => {
      const c = await Client.authed(s.url);
      c.send({ type: 'request', id: 'dup', action: 'sleep', payload: { ms: 100 } });
      c.send({ type: 'request', id: 'dup', action: 'echo' });
      return describeMsg(await c.next());
    },
  },
  'no-invalid-payload': { run: async (s) => (await (await Client.authed(s.url)).request('sleep', { ms: 'soon' })).error.code },
  // Publish and subscribe
  'no-channel-check': {
    run: async (s) => {
      const c = await Client.authed(s.url);
      c.send({ type: 'subscribe', channel: 'no spaces allowed' });
      return describeMsg(await c.next());
    },
  },
  'no-subscribe-ack': {
    run: async (s) => {
      const c = await Client.authed(s.url);
      c.send({ type: 'subscribe', channel: 'a' });
      return (await barrier(c)).map((m) => m.type);
    },
  },
  'no-idempotent-subscribe': {
    run: async (s) => {
      const c = await Client.authed(s.url);
      await subscribed(c, 'x');
      await subscribed(c, 'x');
      s.publish('x', 1);
      return pushesBefore(c);
    },
  },
  'no-channel-auth': {
    run: async (s) => {
      const c = await Client.authed(s.url, 'T1');
      c.send({ type: 'subscribe', channel: 'user:bob' });
      return describeMsg(await c.next());
    },
  },
  'offset-skips': {
    run: async (s) => {
      const c = await Client.authed(s.url);
      await subscribed(c, 'x');
      s.publish('x', 1);
      s.publish('x', 2);
      s.publish('x', 3);
      return (await barrier(c)).filter((m) => m.type === 'push').map((m) => m.position.offset);
    },
  },
  'duplicate-push': {
    run: async (s) => {
      const c = await Client.authed(s.url);
      await subscribed(c, 'x');
      for (let i = 1; i <= 4; i++) s.publish('x', i);
      return pushesBefore(c);
    },
  },
  'leaks-subscription': {
    run: async (s) => {
      const c = await Client.authed(s.url);
      await subscribed(c, 'x');
      c.send({ type: 'unsubscribe', channel: 'x' });
      await c.next((m) => m.type === 'unsubscribed');
      s.publish('x', 'late');
      return pushesBefore(c);
    },
  },
  'no-resume': {
    run: async (s) => {
      const since = s.publish('feed', 1);
      s.publish('feed', 2);
      const c = await Client.authed(s.url);
      c.send({ type: 'subscribe', channel: 'feed', since });
      return (await c.next()).resume;
    },
  },
  'replay-skips-one': {
    run: async (s) => {
      const since = s.publish('feed', 1);
      s.publish('feed', 2);
      s.publish('feed', 3);
      const c = await Client.authed(s.url);
      c.send({ type: 'subscribe', channel: 'feed', since });
      return pushesBefore(c);
    },
  },
  'sends-last-value-first': {
    run: async (s) => {
      s.publish('prices', 'old');
      const c = await Client.authed(s.url);
      c.send({ type: 'subscribe', channel: 'prices' });
      return (await barrier(c)).map((m) => m.type);
    },
  },
  'resume-always-replayed': {
    run: async (s) => {
      s.publish('feed', 1);
      const c = await Client.authed(s.url);
      c.send({ type: 'subscribe', channel: 'feed', since: { epoch: 'some-other-epoch', offset: 1 } });
      return (await c.next()).resume;
    },
  },
  // Heartbeat
  'no-ws-ping': {
    // Unauthenticated on purpose: the auth deadline is the clock.
    options: { heartbeatIntervalMs: 20, authTimeoutMs: 300 },
    run: async (s) => {
      const c = await Client.connect(s.url);
      return Promise.race([c.closed.then(({ code }) => `closed ${code}`), new Promise((resolve) => c.ws.once('ping', () => resolve('ping')))]);
    },
  },
  'keeps-half-open': {
    options: { heartbeatIntervalMs: 20, heartbeatTimeoutMs: 40 },
    run: async (s) => {
      const c = await Client.connect(s.url, { autoPong: false });
      c.send({ type: 'auth', token: 'T1' });
      await c.next();
      return (await closesWithin(c, 10)).startsWith('closed') ? 'closed' : 'open';
    },
  },
  'heartbeat-no-close-frame': {
    options: { heartbeatIntervalMs: 20, heartbeatTimeoutMs: 40 },
    run: async (s) => {
      const c = await Client.connect(s.url, { autoPong: false });
      c.send({ type: 'auth', token: 'T1' });
      await c.next();
      return closesWithin(c, 50);
    },
  },
  'no-pong': {
    run: async (s) => {
      const c = await Client.authed(s.url);
      c.send({ type: 'ping' });
      return describeMsg((await barrier(c))[0]!).split(' ')[0];
    },
  },
  'requires-app-ping': {
    options: { heartbeatIntervalMs: 20, heartbeatTimeoutMs: 20 },
    run: async (s) => closesWithin(await Client.authed(s.url), 10),
  },
  // Rate limiting
  'no-rate-limit': {
    options: { rateLimit: { messages: 3, windowMs: 60_000 } },
    run: async (s) => {
      const c = await Client.authed(s.url);
      for (let i = 0; i < 4; i++) c.send({ type: 'ping' });
      c.send({ type: 'request', id: 'end', action: 'echo' });
      return firstEvent(c, (m) => m.requestId === 'end');
    },
  },
  'rate-limit-one-connection': {
    options: { rateLimit: { messages: 3, windowMs: 60_000 }, sessionPolicy: 'multiple', heartbeatIntervalMs: 20 },
    run: async (s) => {
      const a = await Client.authed(s.url);
      const b = await Client.authed(s.url);
      for (let i = 0; i < 4; i++) a.send({ type: 'ping' });
      await a.closed;
      return closesWithin(b, 5);
    },
  },
  'rate-limit-no-retry-hint': {
    options: { rateLimit: { messages: 3, windowMs: 60_000 } },
    run: async (s) => {
      const c = await Client.authed(s.url);
      for (let i = 0; i < 4; i++) c.send({ type: 'ping' });
      return (await c.closed).reason.replace(/\d+/, 'N');
    },
  },
  'rate-limit-off-by-one': {
    options: { rateLimit: { messages: 3, windowMs: 60_000 } },
    run: async (s) => {
      const c = await Client.authed(s.url);
      for (let i = 0; i < 3; i++) c.send({ type: 'ping' });
      await firstEvent(c, (m) => m.type === 'pong');
      await firstEvent(c, (m) => m.type === 'pong');
      return firstEvent(c, (m) => m.type === 'pong');
    },
  },
  'rate-limit-per-connection': {
    options: { rateLimit: { messages: 3, windowMs: 60_000 } },
    run: async (s) => {
      const a = await Client.authed(s.url);
      for (let i = 0; i < 4; i++) a.send({ type: 'ping' });
      await a.closed;
      const b = await Client.authed(s.url);
      b.send({ type: 'ping' });
      return firstEvent(b);
    },
  },
  'rate-limit-fixed-window': {
    options: { rateLimit: { messages: 4, windowMs: 300 }, heartbeatIntervalMs: 50 },
    run: async (s) => {
      // One frame, 3 more 200 ms later, then 2 more 120 ms after those: 5 within 300 ms.
      const a = await Client.authed(s.url);
      a.send({ type: 'ping' });
      await new Promise((r) => setTimeout(r, 200));
      for (let i = 0; i < 3; i++) a.send({ type: 'ping' });
      await new Promise((r) => setTimeout(r, 120));
      for (let i = 0; i < 2; i++) a.send({ type: 'ping' });
      return closesWithin(a, 3);
    },
  },
  // Sessions
  'no-session-replace': {
    options: { heartbeatIntervalMs: 20 },
    run: async (s) => {
      const first = await Client.authed(s.url);
      await Client.authed(s.url);
      return closesWithin(first, 5);
    },
  },
  'session-replace-wrong-code': {
    run: async (s) => {
      const first = await Client.authed(s.url);
      await Client.authed(s.url);
      return (await first.closed).code;
    },
  },
  // Limits
  'no-payload-limit': {
    options: { maxPayloadBytes: 1_000 },
    run: async (s) => {
      const c = await Client.authed(s.url);
      c.send({ type: 'request', id: 'big', action: 'echo', payload: 'x'.repeat(2_000) });
      return firstEvent(c);
    },
  },
  'no-ip-limit': {
    options: { maxConnectionsPerIp: 1 },
    run: async (s) => {
      await Client.connect(s.url);
      return handshakeOutcome(s.url);
    },
  },
  'no-slow-consumer-limit': {
    options: { maxBufferedBytes: 64 * 1024, slowConsumerGraceMs: 10_000 },
    run: async (s) => {
      const slow = await Client.authed(s.url, 'T1');
      const fast = await Client.authed(s.url, 'T2');
      await subscribed(slow, 'firehose');
      await subscribed(fast, 'firehose');
      // Stop reading on the slow client, then publish more than any socket buffer holds.
      (slow.ws as unknown as { _socket: { pause(): void; resume(): void } })._socket.pause();
      const chunk = 'x'.repeat(64 * 1024);
      // Yield between publishes so that the fast client (in this same process) keeps reading.
      for (let i = 0; i < 400; i++) {
        s.publish('firehose', chunk);
        await new Promise((resolve) => setImmediate(resolve));
      }
      const fastGot = (await barrier(fast)).filter((m) => m.type === 'push').length;
      (slow.ws as unknown as { _socket: { resume(): void } })._socket.resume();
      slow.send({ type: 'request', id: 'drained', action: 'echo' });
      const slowEnd = await firstEvent(slow, (m) => m.requestId === 'drained');
      return `${slowEnd} fast=${fastGot}`;
    },
  },
  'no-subscription-limit': {
    options: { maxSubscriptions: 1 },
    run: async (s) => {
      const c = await Client.authed(s.url);
      await subscribed(c, 'a');
      c.send({ type: 'subscribe', channel: 'b' });
      return describeMsg(await c.next());
    },
  },
  'no-pending-limit': {
    options: { maxPendingRequests: 1 },
    run: async (s) => {
      const c = await Client.authed(s.url);
      c.send({ type: 'request', id: 'held', action: 'sleep', payload: { ms: 200 } });
      c.send({ type: 'request', id: 'over', action: 'echo' });
      return describeMsg(await c.next());
    },
  },
  // Errors
  'closes-on-bad-json': {
    run: async (s) => {
      const c = await Client.authed(s.url);
      c.send('{"type":');
      return firstEvent(c);
    },
  },
  'crash-on-bad-json': {
    run: async (s) => {
      const bystander = await Client.authed(s.url, 'T2');
      const c = await Client.authed(s.url, 'T1');
      c.send('{"type":');
      await firstEvent(c);
      bystander.send({ type: 'request', id: 'still-there', action: 'echo' });
      return firstEvent(bystander);
    },
  },
  'ignores-invalid-message': {
    run: async (s) => {
      const c = await Client.authed(s.url);
      c.send({ type: 'frobnicate' });
      return describeMsg((await barrier(c))[0]!);
    },
  },
  'closes-on-invalid-message': {
    run: async (s) => {
      const c = await Client.authed(s.url);
      c.send({ type: 'frobnicate' });
      return firstEvent(c);
    },
  },
  'free-form-close-reason': {
    run: async (s) => {
      const first = await Client.authed(s.url);
      await Client.authed(s.url);
      return (await first.closed).reason;
    },
  },
  'leaks-internal-details': {
    run: async (s) => {
      const c = await Client.authed(s.url);
      c.send('{"type":');
      return /\n\s+at /.test((await c.next()).message);
    },
  },
  // Graceful shutdown
  'shutdown-accepts-upgrades': {
    run: async (s) => {
      const c = await Client.authed(s.url);
      const done = s.shutdown();
      const outcome = await handshakeOutcome(s.url);
      await c.closed;
      await done;
      return outcome === '503' ? '503' : 'not refused';
    },
  },
  'shutdown-1001': {
    run: async (s) => {
      const c = await Client.authed(s.url);
      void s.shutdown();
      return (await c.closed).code;
    },
  },
  'shutdown-no-retry-hint': {
    run: async (s) => {
      const c = await Client.authed(s.url);
      void s.shutdown();
      return /;retry=\d+$/.test((await c.closed).reason);
    },
  },
  'shutdown-abrupt': {
    run: async (s) => {
      const c = await Client.authed(s.url);
      void s.shutdown();
      return (await c.closed).code;
    },
  },
  'shutdown-same-retry': {
    options: { sessionPolicy: 'multiple' },
    run: async (s) => {
      const clients = await Promise.all([1, 2, 3, 4].map(() => Client.authed(s.url)));
      void s.shutdown();
      const hints = await Promise.all(clients.map(async (c) => (await c.closed).reason));
      return new Set(hints).size === 1 ? 'all the same' : 'spread';
    },
  },
  'fails-reconnect-storm': {
    options: { sessionPolicy: 'multiple' },
    run: async (s) => {
      const outcomes = await Promise.all(
        Array.from({ length: 80 }, async () => {
          const c = await Client.connect(s.url);
          c.send({ type: 'auth', token: 'T1' });
          return firstEvent(c);
        }),
      );
      return outcomes.filter((o) => o !== 'authenticated').length;
    },
  },
  // Conformance profile
  'echo-wrong-data': { run: async (s) => (await (await Client.authed(s.url)).request('echo', { a: [1] })).data },
  'publish-no-position': {
    run: async (s) => {
      const c = await Client.authed(s.url);
      return Object.keys((await c.request('publish', { channel: 'p', data: 1 })).data);
    },
  },
  'sleep-returns-early': {
    run: async (s) => {
      const c = await Client.authed(s.url);
      c.send({ type: 'request', id: 'sleep', action: 'sleep', payload: { ms: 100 } });
      c.send({ type: 'request', id: 'echo', action: 'echo' });
      return (await c.next((m) => m.type === 'response')).requestId;
    },
  },
  // Security
  'origin-not-checked': { run: (s) => handshakeOutcome(s.url, { headers: { Origin: 'https://evil.example' } }) },
  'rejects-no-origin': { run: (s) => handshakeOutcome(s.url) },
  // HTTP heartbeat channel
  'no-heartbeat-endpoint': { run: (s) => httpStatus(s, '/heartbeat', 'POST', 'T1') },
  'heartbeat-accepts-bad-token': { run: (s) => httpStatus(s, '/heartbeat', 'POST', 'bad') },
  'healthz-ignores-shutdown': {
    run: async (s) => {
      const c = await Client.authed(s.url);
      const done = s.shutdown();
      const status = (await fetch(`${s.httpUrl}/healthz`)).status;
      await c.closed;
      await done;
      return status;
    },
  },
  'no-presence': { run: (s) => httpStatus(s, '/presence', 'GET', 'T1') },
};

describe('every break changes what a client observes', () => {
  for (const [name, b] of Object.entries(BREAKS) as [BreakName, (typeof BREAKS)[BreakName]][]) {
    it(`${b.rules.join(', ')}: ${name} differs from the unbroken server`, async () => {
      const probe = PROBES[name];
      const good = await probe.run(await server(probe.options));
      await runCleanups();
      const bad = await probe.run(await server({ ...probe.options, break: name }));
      if (process.env.RAW_SERVER_PROBE_LOG) console.log(`${name}: unbroken ${JSON.stringify(good)} / broken ${JSON.stringify(bad)}`);
      expect(bad, `unbroken observation: ${JSON.stringify(good)}`).not.toEqual(good);
    });
  }
});
