import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ChannelHistory } from './history.js';
import { ConnSubscriptions } from './subscriptions.js';

describe('ConnSubscriptions', () => {
  it('SUB-8, SUB-11: whatever the interleaving of live pushes and the history read, the client gets the ack, then every missed and later push once, in order (property)', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 30 }), // pushes before the client's last position
        fc.integer({ min: 0, max: 30 }), // pushes between `since` and the moment the server listens live
        fc.integer({ min: 0, max: 30 }), // pushes between listening and the history read
        fc.integer({ min: 0, max: 30 }), // pushes after the read
        fc.array(fc.integer({ min: 1, max: 120 }), { maxLength: 10 }), // duplicate live deliveries
        (s, gap, race, after, dups) => {
          const h = new ChannelHistory('c', 'e', 1_000);
          const subs = new ConnSubscriptions();
          for (let i = 0; i < s + gap; i++) h.append(i + 1, 0);
          subs.begin('c', 1, { epoch: 'e', offset: s });
          const out: { type: string; offset?: number; replay?: boolean }[] = [];
          const live = (p: ReturnType<ChannelHistory['append']>) => {
            if (subs.deliver(p)) out.push({ type: 'push', offset: p.position.offset });
          };
          for (let i = 0; i < race; i++) live(h.append(0, 0)); // buffered while pending
          const read = h.read({ epoch: 'e', offset: s });
          for (const m of subs.complete('c', 1, read)?.messages ?? []) {
            out.push(m.type === 'push' ? { type: 'push', offset: m.position.offset, replay: m.replay } : { type: m.type });
          }
          for (let i = 0; i < after; i++) live(h.append(0, 0));
          const head = h.head.offset;
          for (const d of dups) if (d <= head) live({ channel: 'c', data: 0, position: { epoch: 'e', offset: d }, ts: 0 });
          expect(out[0]).toEqual({ type: 'subscribed' });
          expect(out.slice(1).map((m) => m.offset)).toEqual(Array.from({ length: head - s }, (_, i) => s + 1 + i));
          // replayed ones are exactly those that were in history at read time
          expect(out.filter((m) => m.replay).map((m) => m.offset)).toEqual(Array.from({ length: gap + race }, (_, i) => s + 1 + i));
        },
      ),
    );
  });

  it('SUB-3: a re-subscribe of an active channel acks with the last delivered position', () => {
    const subs = new ConnSubscriptions();
    subs.begin('c', 1);
    subs.complete('c', 1, { head: { epoch: 'e', offset: 3 } });
    subs.deliver({ channel: 'c', data: 0, position: { epoch: 'e', offset: 4 }, ts: 0 });
    expect(subs.resubscribe('c')).toEqual({ type: 'subscribed', channel: 'c', position: { epoch: 'e', offset: 4 } });
    expect(subs.resubscribe('c', { epoch: 'e', offset: 4 })).toMatchObject({ resume: 'replayed', replayed: 0 });
    expect(subs.resubscribe('c', { epoch: 'e', offset: 1 })).toMatchObject({ resume: 'unavailable' });
  });

  it('SUB-2, SUB-3, SUB-7: subscribes and unsubscribes of a pending channel are handed back, in order, after its ack', () => {
    const subs = new ConnSubscriptions();
    subs.begin('c', 1);
    const later = [
      { type: 'subscribe', channel: 'c', since: { epoch: 'other', offset: 0 } },
      { type: 'unsubscribe', channel: 'c' },
      { type: 'subscribe', channel: 'c' },
    ] as const;
    for (const m of later) subs.defer(m);
    const done = subs.complete('c', 1, { head: { epoch: 'e', offset: 3 } });
    expect(done?.messages).toEqual([{ type: 'subscribed', channel: 'c', position: { epoch: 'e', offset: 3 } }]);
    expect(done?.deferred).toEqual(later);
    expect(subs.resubscribe('c', { epoch: 'other', offset: 0 })).toMatchObject({ resume: 'unavailable' }); // SUB-9
  });

  it('SUB-2: a failed read drops the pending subscription and hands back what was deferred', () => {
    const subs = new ConnSubscriptions();
    subs.begin('c', 1);
    subs.defer({ type: 'unsubscribe', channel: 'c' });
    expect(subs.fail('c', 2)).toBeNull(); // stale read
    expect(subs.fail('c', 1)).toEqual([{ type: 'unsubscribe', channel: 'c' }]);
    expect(subs.state('c')).toBeUndefined();
  });
});
