/**
 * Real bugs `mooring fuzz` found in the reference server, each kept as its shrunk case.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { startFuzzTarget, type EmbeddedFuzzTarget } from '../../fuzz/embedded.js';

/** A raw client: send text, wait for the next message matching a predicate. */
async function client(url: string, token: string) {
  const ws = new WebSocket(url, 'mooring.v1');
  const inbox: Array<Record<string, unknown>> = [];
  const waiters: Array<() => void> = [];
  ws.on('message', (d) => {
    inbox.push(JSON.parse(String(d)) as Record<string, unknown>);
    waiters.splice(0).forEach((f) => f());
  });
  await new Promise((r) => ws.once('open', r));
  const next = async (pred: (m: Record<string, unknown>) => boolean, ms = 2_000) => {
    const until = Date.now() + ms;
    for (;;) {
      const i = inbox.findIndex(pred);
      if (i >= 0) return inbox.splice(i, 1)[0]!;
      if (Date.now() > until) throw new Error(`timed out; inbox: ${JSON.stringify(inbox).slice(0, 300)}`);
      await new Promise<void>((r) => {
        waiters.push(r);
        setTimeout(r, 50);
      });
    }
  };
  ws.send(JSON.stringify({ type: 'auth', token }));
  await next((m) => m.type === 'authenticated');
  return { ws, next, send: (t: string) => ws.send(t), inbox };
}

const deep = (n: number) => `${'['.repeat(n)}${']'.repeat(n)}`;

describe('regressions found by mooring fuzz', () => {
  let t: EmbeddedFuzzTarget;
  beforeAll(async () => {
    t = await startFuzzTarget();
  });
  afterAll(async () => {
    await t.close();
  });

  // Shrunk case (seed 1, path 3:2:1:3:2:6:3:2): `echo <array nested 4112 deep>`, then settle: no answer
  // ever came. Under revision 1.1 the fix answered it invalid_payload; revision 1.2 (LIMIT-6) refuses it
  // before parsing with error too_deep, which carries no requestId: the request gets no response.
  it('REQ-1, LIMIT-6: an echo of a payload nested 4112 levels deep is answered (error too_deep, no response), not dropped, and the connection serves the next request', async () => {
    const c = await client(t.url, t.tokens[0]);
    c.send(`{"type":"request","id":"Y~1","action":"echo","payload":${deep(4112)}}`);
    const e = await c.next((m) => m.type === 'error');
    expect(e).toMatchObject({ code: 'too_deep' });
    expect(e).not.toHaveProperty('requestId');
    c.send('{"type":"request","id":"Y~2","action":"echo","payload":1}');
    expect(await c.next((m) => m.type === 'response')).toMatchObject({ requestId: 'Y~2', success: true, data: 1 });
    expect(c.inbox.filter((m) => m.requestId === 'Y~1')).toEqual([]);
    c.ws.close();
  });

  it('LIMIT-6: a message nested exactly maxDepth deep (the message object counting 1) is served; one level more is too_deep', async () => {
    const c = await client(t.url, t.tokens[0]);
    // {"type":…,"payload": <array nested 31>} nests 32 deep
    c.send(`{"type":"request","id":"D~1","action":"echo","payload":${deep(31)}}`);
    expect(await c.next((m) => m.type === 'response' || m.type === 'error')).toMatchObject({ type: 'response', requestId: 'D~1', success: true });
    c.send(`{"type":"request","id":"D~2","action":"echo","payload":${deep(32)}}`);
    expect(await c.next((m) => m.type === 'response' || m.type === 'error')).toMatchObject({ type: 'error', code: 'too_deep' });
    c.ws.close();
  });

  it('CONF-2, SUB-8, LIMIT-6: a publish nested a few thousand levels deep gets no position (too_deep) and reaches no channel, and the resume across it replays every accepted push', async () => {
    const sub = await client(t.url, t.tokens[0]);
    const pub = await client(t.url, t.tokens[1]);
    sub.send('{"type":"subscribe","channel":"regress-deep"}');
    const ack = await sub.next((m) => m.type === 'subscribed');
    const since = ack.position as { epoch: string; offset: number };
    pub.send('{"type":"request","id":"p1","action":"publish","payload":{"channel":"regress-deep","data":1}}');
    expect(await pub.next((m) => m.requestId === 'p1')).toMatchObject({ success: true });
    pub.send(`{"type":"request","id":"p2","action":"publish","payload":{"channel":"regress-deep","data":${deep(5000)}}}`);
    expect(await pub.next((m) => m.type === 'error')).toMatchObject({ code: 'too_deep' });
    pub.send('{"type":"request","id":"p3","action":"publish","payload":{"channel":"regress-deep","data":3}}');
    expect(await pub.next((m) => m.requestId === 'p3')).toMatchObject({ success: true });
    // live delivery: both accepted pushes, offsets since+1 and since+2
    const live = [await sub.next((m) => m.type === 'push'), await sub.next((m) => m.type === 'push')];
    expect(live.map((p) => [(p.position as { offset: number }).offset, p.data])).toEqual([[since.offset + 1, 1], [since.offset + 2, 3]]);
    // resume from before both on a new connection: everything replayed, in order
    const again = await client(t.url, t.tokens[0]);
    again.send(JSON.stringify({ type: 'subscribe', channel: 'regress-deep', since }));
    expect(await again.next((m) => m.type === 'subscribed')).toMatchObject({ resume: 'replayed', replayed: 2 });
    const replayed = [await again.next((m) => m.type === 'push'), await again.next((m) => m.type === 'push')];
    expect(replayed.map((p) => p.data)).toEqual([1, 3]);
    expect(pub.inbox.filter((m) => m.requestId === 'p2')).toEqual([]);
    expect([...sub.inbox, ...again.inbox].filter((m) => m.type === 'push')).toEqual([]);
    for (const c of [sub, pub, again]) c.ws.close();
  });

  // Shrunk case (seed 105, path 16:7:4:5:5:5:5, commands path CABAT:V): two re-auths with the user's own
  // token sent back to back; only the second got its authenticated (the first verification was dropped).
  it('AUTH-9: two pipelined re-auths of the same user get two authenticated, same sessionId', async () => {
    const c = await client(t.url, t.tokens[1]);
    c.send(JSON.stringify({ type: 'auth', token: t.tokens[1] }));
    c.send(JSON.stringify({ type: 'auth', token: t.tokens[1] }));
    c.send('{"type":"ping"}');
    const a = await c.next((m) => m.type === 'authenticated');
    const b = await c.next((m) => m.type === 'authenticated');
    expect(a.sessionId).toBe(b.sessionId);
    await c.next((m) => m.type === 'pong');
    c.ws.close();
  });
});
