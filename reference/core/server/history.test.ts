import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ChannelHistory } from './history.js';

describe('ChannelHistory', () => {
  it('SUB-5: offsets start at 1 and grow by exactly 1 per push', () => {
    const h = new ChannelHistory('c', 'e1', 2);
    expect(h.head).toEqual({ epoch: 'e1', offset: 0 });
    expect([1, 2, 3].map((d) => h.append(d, 10).position.offset)).toEqual([1, 2, 3]);
    expect(h.head.offset).toBe(3);
  });

  it('SUB-8, SUB-9: replay returns exactly the missed offsets when retained, else unavailable (property)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 20 }), fc.integer({ min: 0, max: 60 }), fc.integer({ min: -5, max: 70 }), (size, pushes, since) => {
        const h = new ChannelHistory('c', 'e', size);
        for (let i = 0; i < pushes; i++) h.append(i + 1, i);
        const read = h.read({ epoch: 'e', offset: since });
        const oldestKept = Math.max(1, pushes - size + 1);
        const replayable = since >= oldestKept - 1 && since <= pushes && since >= 0;
        if (!replayable) return read.missed === 'unavailable';
        const missed = read.missed as { position: { offset: number }; data: unknown }[];
        const want = Array.from({ length: pushes - since }, (_, i) => since + 1 + i);
        return JSON.stringify(missed.map((p) => p.position.offset)) === JSON.stringify(want) && missed.every((p) => p.data === p.position.offset);
      }),
    );
  });

  it('SUB-9: another epoch is unavailable; no since reads just the head', () => {
    const h = new ChannelHistory('c', 'e', 5);
    h.append('x', 1);
    expect(h.read({ epoch: 'other', offset: 1 }).missed).toBe('unavailable');
    expect(h.read()).toEqual({ head: { epoch: 'e', offset: 1 } });
  });
});

describe('ChannelHistory: bytes (LIMIT-7)', () => {
  it('LIMIT-7: keeps the retained bytes within maxBytes, dropping the oldest; a push above it is not kept', () => {
    const h = new ChannelHistory('c', 'e', 100, 10);
    h.append(undefined, 1, 4, '"ab"');
    h.append(undefined, 2, 4, '"cd"');
    expect(h.retainedBytes).toBe(8);
    h.append(undefined, 3, 4, '"ef"');
    expect(h.retainedBytes).toBe(8);
    expect(h.read({ epoch: 'e', offset: 0 }).missed).toBe('unavailable');
    expect(h.read({ epoch: 'e', offset: 1 }).missed).toEqual([
      { channel: 'c', json: '"cd"', position: { epoch: 'e', offset: 2 }, ts: 2 },
      { channel: 'c', json: '"ef"', position: { epoch: 'e', offset: 3 }, ts: 3 },
    ]);
    h.append(undefined, 4, 11, '"too big"');
    expect(h.retainedCount).toBe(0);
    expect(h.read({ epoch: 'e', offset: 4 })).toEqual({ head: { epoch: 'e', offset: 4 }, missed: [] });
    expect(h.read({ epoch: 'e', offset: 3 }).missed).toBe('unavailable');
  });
});
