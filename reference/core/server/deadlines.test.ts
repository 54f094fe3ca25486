import fc from 'fast-check';
import { expect, it } from 'vitest';
import { DeadlineHeap } from './deadlines.js';

it('DeadlineHeap pops due keys in time order and peeks the earliest (property)', () => {
  fc.assert(
    fc.property(fc.array(fc.integer({ min: 0, max: 1_000 })), fc.integer({ min: 0, max: 1_000 }), (ats, now) => {
      const h = new DeadlineHeap<number>();
      ats.forEach((at, i) => h.push(at, i));
      expect(h.peek()).toBe(ats.length ? Math.min(...ats) : undefined);
      const due = h.popDue(now).map((i) => ats[i]!);
      expect(due).toEqual(ats.filter((a) => a <= now).sort((a, b) => a - b));
      expect(h.size).toBe(ats.filter((a) => a > now).length);
    }),
  );
});
