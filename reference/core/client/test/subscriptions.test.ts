import { describe, expect, it } from 'vitest';
import { Harness } from './harness.js';

const push = (channel: string, epoch: string, offset: number, data: unknown = offset, replay = false) =>
  ({ type: 'push', channel, data, position: { epoch, offset }, ts: 1, ...(replay ? { replay: true } : {}) }) as const;

function subscribedSession(): Harness {
  const h = new Harness();
  h.do({ type: 'subscribe', channel: 'news' });
  h.connectAndAuth({ heartbeatIntervalMs: 600_000 });
  h.server({ type: 'subscribed', channel: 'news', position: { epoch: 'e1', offset: 0 } });
  return h;
}

describe('SUB-10: subscriptions survive reconnects', () => {
  it('SUB-10: a subscription made while disconnected is remembered and sent once authenticated', () => {
    const h = new Harness();
    h.do({ type: 'subscribe', channel: 'news' });
    h.do({ type: 'connect' });
    h.giveToken();
    h.open();
    expect(h.sent()).toEqual([{ type: 'auth', token: 'tok1' }]);
    h.authenticated();
    expect(h.sent().slice(1)).toEqual([{ type: 'subscribe', channel: 'news' }]);
  });

  it('SUB-10: several handlers of one channel make one server subscription; unsubscribe goes out with the last', () => {
    const h = new Harness();
    h.connectAndAuth();
    const m = h.mark();
    h.do({ type: 'subscribe', channel: 'news' });
    h.do({ type: 'subscribe', channel: 'news' });
    expect(h.sent(m)).toEqual([{ type: 'subscribe', channel: 'news' }]);
    h.do({ type: 'unsubscribe', channel: 'news' });
    expect(h.sent(m)).toHaveLength(1);
    h.do({ type: 'unsubscribe', channel: 'news' });
    expect(h.sent(m).at(-1)).toEqual({ type: 'unsubscribe', channel: 'news' });
    expect(h.core.diagnostics().subscriptions).toEqual([]);
  });

  it('SUB-10: after a reconnect each channel is re-subscribed once, after authenticated, with the last position seen', () => {
    const h = subscribedSession();
    h.do({ type: 'subscribe', channel: 'news' }); // second handler
    h.do({ type: 'subscribe', channel: 'other' });
    h.server({ type: 'subscribed', channel: 'other', position: { epoch: 'x', offset: 7 } });
    h.server(push('news', 'e1', 1));
    h.server(push('news', 'e1', 2));
    h.serverClose(1006);
    h.runToReconnect();
    const m = h.mark();
    h.giveToken();
    h.open();
    expect(h.sent(m)).toEqual([{ type: 'auth', token: 'tok2' }]);
    h.authenticated();
    expect(h.sent(m).slice(1)).toEqual([
      { type: 'subscribe', channel: 'news', since: { epoch: 'e1', offset: 2 } },
      { type: 'subscribe', channel: 'other', since: { epoch: 'x', offset: 7 } },
    ]);
  });

  it('SUB-10: replayed pushes are delivered in order with replay=true and duplicates (offset ≤ last seen) are dropped', () => {
    const h = subscribedSession();
    h.server(push('news', 'e1', 1));
    h.serverClose(1012, 'service_restart;retry=100');
    h.runToReconnect();
    h.completeConnect({ heartbeatIntervalMs: 600_000 });
    const m = h.mark();
    h.server({ type: 'subscribed', channel: 'news', position: { epoch: 'e1', offset: 3 }, resume: 'replayed', replayed: 2 });
    h.server(push('news', 'e1', 1, 1, true)); // duplicate of one already seen
    h.server(push('news', 'e1', 2, 2, true));
    h.server(push('news', 'e1', 3, 3, true));
    h.server(push('news', 'e1', 3, 3)); // duplicate
    h.server(push('news', 'e1', 4, 4));
    expect(h.all('push', m).map((p) => [p.data, p.meta.replay])).toEqual([[2, true], [3, true], [4, false]]);
    expect(h.all('gap', m)).toEqual([]);
    expect(h.core.diagnostics().subscriptions[0]!.position).toEqual({ epoch: 'e1', offset: 4 });
  });

  it('SUB-10: resume "unavailable" is reported to the handler as a gap and the position moves on', () => {
    const h = subscribedSession();
    h.server(push('news', 'e1', 5));
    h.serverClose(1006);
    h.runToReconnect();
    h.completeConnect();
    h.server({ type: 'subscribed', channel: 'news', position: { epoch: 'e2', offset: 0 }, resume: 'unavailable' });
    expect(h.last('gap')!.gap).toEqual({ channel: 'news', reason: 'unavailable', from: { epoch: 'e1', offset: 5 }, to: { epoch: 'e2', offset: 0 } });
    const m = h.mark();
    h.server(push('news', 'e2', 1));
    expect(h.all('push', m)).toHaveLength(1);
    expect(h.all('gap', m)).toEqual([]);
  });

  it('SUB-10: an epoch change in a push is a gap; the push is still delivered', () => {
    const h = subscribedSession();
    h.server(push('news', 'e1', 1));
    const m = h.mark();
    h.server(push('news', 'e9', 1));
    expect(h.all('gap', m).map((g) => g.gap.reason)).toEqual(['epoch_changed']);
    expect(h.all('push', m)).toHaveLength(1);
  });

  it('SUB-10: an offset gap within an epoch is a gap', () => {
    const h = subscribedSession();
    h.server(push('news', 'e1', 1));
    const m = h.mark();
    h.server(push('news', 'e1', 4));
    expect(h.all('gap', m)[0]!.gap).toMatchObject({ reason: 'offset_gap', from: { offset: 1 }, to: { offset: 4 } });
  });

  it('SUB-10: a subscription made during a session starts at the acknowledged position, so the next resume asks from there', () => {
    const h = new Harness();
    h.connectAndAuth({ heartbeatIntervalMs: 600_000 });
    h.do({ type: 'subscribe', channel: 'quiet' });
    h.server({ type: 'subscribed', channel: 'quiet', position: { epoch: 'q', offset: 41 } });
    h.serverClose(1006);
    h.runToReconnect();
    const m = h.mark();
    h.completeConnect();
    expect(h.sent(m)).toContainEqual({ type: 'subscribe', channel: 'quiet', since: { epoch: 'q', offset: 41 } });
  });

  it('SUB-10: pushes of a channel no longer subscribed are dropped', () => {
    const h = subscribedSession();
    h.do({ type: 'unsubscribe', channel: 'news' });
    const m = h.mark();
    h.server(push('news', 'e1', 1));
    expect(h.all('push', m)).toEqual([]);
  });

  it('SUB-10: unsubscribing while disconnected sends nothing, and the channel is not restored', () => {
    const h = subscribedSession();
    h.serverClose(1006);
    h.do({ type: 'unsubscribe', channel: 'news' });
    h.runToReconnect();
    const m = h.mark();
    h.completeConnect();
    expect(h.sent(m).filter((x) => x.type !== 'auth')).toEqual([]);
  });
});

describe('SUB-10: property of the subscription table', () => {
  it('SUB-10: property: whatever the server sends (replays, duplicates, skips, new epochs), each position is delivered at most once, in increasing order per epoch, and every discontinuity is reported as a gap', async () => {
    const { SubscriptionTable } = await import('../subscriptions.js');
    const fc = (await import('fast-check')).default;
    // Epochs only move forward (a server never returns to an epoch it left); offsets go anywhere.
    const pushArb = fc.record({ epochStep: fc.integer({ min: 0, max: 9 }), offset: fc.integer({ min: 1, max: 12 }) });
    fc.assert(
      fc.property(fc.array(pushArb, { maxLength: 60, size: 'max' }), (seq) => {
        const t = new SubscriptionTable();
        t.add('c');
        t.subscribeMessage('c');
        t.onSubscribed({ type: 'subscribed', channel: 'c', position: { epoch: 'e1', offset: 0 } });
        let last = { epoch: 'e1', offset: 0 };
        const seen = new Set<string>();
        let epochNo = 1;
        for (const step of seq) {
          if (step.epochStep === 0) epochNo += 1; // one push in ten opens a new epoch
          const pos = { epoch: `e${epochNo}`, offset: step.offset };
          const d = t.onPush({ type: 'push', channel: 'c', data: null, position: pos, ts: 0 });
          const expectDeliver = pos.epoch !== last.epoch || pos.offset > last.offset;
          if (d.deliver !== expectDeliver) return false;
          if (!d.deliver) continue;
          const key = `${pos.epoch}:${pos.offset}`;
          if (pos.epoch === last.epoch && seen.has(key)) return false;
          seen.add(key);
          const continuous = pos.epoch === last.epoch && pos.offset === last.offset + 1;
          if (continuous === (d.gap !== undefined)) return false;
          last = pos;
        }
        return true;
      }),
    );
  });
});
