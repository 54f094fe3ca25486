/**
 * A min-heap of (time, key) with lazy deletion: entries may be stale (the key's real deadline moved
 * later); the core re-checks a key when its entry comes due. Keeps `nextDeadline()` O(1) with
 * thousands of connections.
 */
export class DeadlineHeap<K> {
  private readonly heap: { at: number; key: K }[] = [];

  push(at: number, key: K): void {
    const h = this.heap;
    h.push({ at, key });
    let i = h.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (h[p]!.at <= h[i]!.at) break;
      [h[p], h[i]] = [h[i]!, h[p]!];
      i = p;
    }
  }

  peek(): number | undefined {
    return this.heap[0]?.at;
  }

  /** Removes and returns every key whose entry is due at `now` (duplicates possible). */
  popDue(now: number): K[] {
    const out: K[] = [];
    while (this.heap.length && this.heap[0]!.at <= now) out.push(this.pop());
    return out;
  }

  get size(): number {
    return this.heap.length;
  }

  private pop(): K {
    const h = this.heap;
    const top = h[0]!;
    const last = h.pop()!;
    if (h.length) {
      h[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < h.length && h[l]!.at < h[m]!.at) m = l;
        if (r < h.length && h[r]!.at < h[m]!.at) m = r;
        if (m === i) break;
        [h[m], h[i]] = [h[i]!, h[m]!];
        i = m;
      }
    }
    return top.key;
  }
}
