import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { connect, useHarness, type Msg } from '../helpers.js';
import { childServer, killChildren } from '../security/harness.js';
import { RedisProcess, startNodes } from './harness.js';

let redis: RedisProcess;
let dir: string;
beforeAll(async () => {
  redis = await RedisProcess.start();
  dir = mkdtempSync(join(tmpdir(), 'mooring-node-kill-'));
});
afterAll(async () => {
  await redis?.stop();
  rmSync(dir, { recursive: true, force: true });
});
afterEach(() => killChildren());
useHarness();

describe('a node killed', () => {
  it('NODE-13: its clients reconnect to the other nodes and resume with zero loss while a stream is being published', async () => {
    const tokensFile = join(dir, 'tokens.json');
    const prefix = `kill${Date.now()}:`;
    // Node A in its own process (SIGKILL-able); nodes B and C in this one; one tokens file, one Redis.
    const a = await childServer({ redis: { url: redis.url, keyPrefix: prefix }, tokensFile, historySize: 1_000, tokenUsers: ['r0', 'r1', 'r2', 'r3'] });
    const [b, c] = await startNodes(2, redis.url, { tokensFile, historySize: 1_000 }, prefix);
    const readers = await Promise.all(a.tokens.map(async (token) => {
      const cl = await connect(a);
      cl.send({ type: 'auth', token });
      await cl.next('authenticated');
      await cl.subscribe('stream');
      return { cl, token, got: [] as Msg[] };
    }));
    const TOTAL = 300;
    let published = 0;
    const publisher = (async () => {
      for (; published < TOTAL; published++) {
        await [b, c][published % 2]!.publish('stream', { n: published + 1 });
        if (published % 10 === 0) await new Promise((r) => setTimeout(r, 1));
      }
    })();
    // Kill A once every reader has something, mid-stream.
    await Promise.all(readers.map(async (r) => r.got.push(await r.cl.next('push'))));
    a.kill();
    expect(published).toBeLessThan(TOTAL); // killed mid-stream
    await Promise.all(readers.map(async (r, i) => {
      for (;;) {
        const m = await Promise.race([r.cl.next('push', undefined, 10_000), r.cl.closed.then(() => null)]);
        if (m === null) break;
        r.got.push(m);
      }
      expect((await r.cl.closed).code).toBe(1006); // killed: no close frame
      // Reconnect to a surviving node (alternating, as a load balancer would) and resume.
      const node = [b, c][i % 2]!;
      const again = await connect(node);
      again.send({ type: 'auth', token: r.token });
      const au = await again.next(undefined, undefined, 5_000);
      expect(au.type, JSON.stringify(au)).toBe('authenticated');
      const s = await again.subscribe('stream', r.got.at(-1)!.position);
      expect(s.resume).toBe('replayed');
      while (r.got.length < TOTAL) r.got.push(await again.next('push'));
    }));
    await publisher;
    for (const r of readers) {
      expect(r.got.map((m) => m.data.n)).toEqual([...Array(TOTAL).keys()].map((i) => i + 1));
      expect(r.got.map((m) => m.position.offset)).toEqual([...Array(TOTAL).keys()].map((i) => i + 1));
    }
  }, 30_000);
});
